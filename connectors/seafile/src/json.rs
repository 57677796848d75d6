//! JSON output byte-compatible with jansson's `json_dumps`, which Seafile uses for every object.
//!
//! The id of an fs object is the SHA-1 of this exact text, so the separators (`", "` and `": "`),
//! the raw UTF-8 and the escapes must match jansson, not serde_json's compact form.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};

/// serde_json formatter with jansson's separators and escapes.
struct JanssonFormatter;

impl Formatter for JanssonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_char_escape<W: ?Sized + io::Write>(&mut self, w: &mut W, escape: CharEscape) -> io::Result<()> {
        let s: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"\\/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            // jansson writes upper-case hex: "\u001F".
            CharEscape::AsciiControl(byte) => return write!(w, "\\u{:04X}", byte),
        };
        w.write_all(s)
    }
}

/// Serializes `value` as jansson would. Struct fields come out in declaration order, so callers
/// declare them in the order Seafile writes (sorted for fs objects, insertion order for commits).
pub fn to_jansson<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut ser = Serializer::with_formatter(&mut out, JanssonFormatter);
    value
        .serialize(&mut ser)
        .expect("serializing plain data structures into memory cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_jansson_layout() {
        #[derive(Serialize)]
        struct S<'a> {
            a: Vec<u32>,
            b: &'a str,
            c: Option<u32>,
        }
        let out = to_jansson(&S {
            a: vec![1, 2],
            b: "Ü\"\u{1}",
            c: None,
        });
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"a\": [1, 2], \"b\": \"Ü\\\"\\u0001\", \"c\": null}"
        );
    }
}
