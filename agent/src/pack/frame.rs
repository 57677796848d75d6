//! The pack's wire format: a magic line, then frames of `type:u8 len:u32be body[len]`.
//!
//! Commits and fs objects carry no id: the receiver computes it (an fs object is named by the
//! hash of its content, a commit carries its id), so the framing costs 5 bytes an object.
//! Blocks carry the id the primary has them under (20 bytes more, next to kilobytes of data),
//! so a block damaged on the primary is reported by its name instead of as a stranger. Free of
//! HTTP types; the decoder is fed whatever chunks arrive.

use std::collections::VecDeque;

use bytes::Bytes;
use seaf_seafile::{ObjectId, ObjectKind};

/// First bytes of every pack: a version the receiver checks before anything else.
pub const MAGIC: &[u8] = b"SEAFPACK1\n";
/// Largest frame body accepted: Seafile's blocks are 8 MiB by default; anything past this is a
/// broken or hostile primary, refused before it is buffered.
pub const MAX_FRAME: u32 = 256 << 20;
/// Frame header: type and length.
pub const HEADER: usize = 5;

const COMMIT: u8 = b'c';
const FS: u8 = b'f';
const BLOCK: u8 = b'b';
const MISSING: u8 = b'm';
const END: u8 = b'e';
const FAILED: u8 = b'x';

/// One frame of a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A commit's or fs object's stored bytes.
    Object(ObjectKind, Vec<u8>),
    /// A block under the id the primary stores it as (the receiver checks the bytes against it).
    Block { id: ObjectId, bytes: Vec<u8> },
    /// The primary lacks an object the walk needs (`path` for messages).
    Missing {
        kind: ObjectKind,
        id: ObjectId,
        path: String,
    },
    /// The pack is complete: `objects` object and missing frames came before it.
    End { objects: u64 },
    /// The primary could not go on (its store failed); the message says why.
    Failed(String),
}

/// The header of a block frame of `len` bytes of data (the data follows, streamed).
pub fn block_header(id: &ObjectId, len: u32) -> [u8; HEADER + 20] {
    let mut h = [0u8; HEADER + 20];
    h[..HEADER].copy_from_slice(&object_header(ObjectKind::Block, len + 20));
    h[HEADER..].copy_from_slice(id.as_bytes());
    h
}

/// The header of a commit or fs object frame of `len` bytes (the body follows as is).
pub fn object_header(kind: ObjectKind, len: u32) -> [u8; HEADER] {
    let t = match kind {
        ObjectKind::Commit => COMMIT,
        ObjectKind::Fs => FS,
        ObjectKind::Block => BLOCK,
    };
    let l = len.to_be_bytes();
    [t, l[0], l[1], l[2], l[3]]
}

/// Appends `frame` to `out`.
pub fn encode(out: &mut Vec<u8>, frame: &Frame) {
    let (t, body): (u8, Vec<u8>) = match frame {
        Frame::Object(kind, bytes) => {
            debug_assert!(*kind != ObjectKind::Block, "blocks travel as Frame::Block");
            out.extend_from_slice(&object_header(*kind, bytes.len() as u32));
            out.extend_from_slice(bytes);
            return;
        }
        Frame::Block { id, bytes } => {
            out.extend_from_slice(&block_header(id, bytes.len() as u32));
            out.extend_from_slice(bytes);
            return;
        }
        Frame::Missing { kind, id, path } => {
            let mut b = vec![kind_byte(*kind)];
            b.extend_from_slice(id.as_bytes());
            b.extend_from_slice(path.as_bytes());
            (MISSING, b)
        }
        Frame::End { objects } => (END, objects.to_be_bytes().to_vec()),
        Frame::Failed(message) => (FAILED, message.as_bytes().to_vec()),
    };
    out.push(t);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
}

fn kind_byte(kind: ObjectKind) -> u8 {
    object_header(kind, 0)[0]
}

fn kind_of(byte: u8) -> Option<ObjectKind> {
    match byte {
        COMMIT => Some(ObjectKind::Commit),
        FS => Some(ObjectKind::Fs),
        BLOCK => Some(ObjectKind::Block),
        _ => None,
    }
}

/// Why a pack cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed pack from the primary at byte {offset}: {what}")]
pub struct PackError {
    pub offset: u64,
    pub what: String,
}

/// Turns the chunks of a pack, as they arrive, into frames. Holds at most one frame's body,
/// except a large block's data, which it holds not at all: chunks of it that arrive after its
/// header was consumed are kept as they came ([`Decoder::feed_bytes`]) and handed out without a
/// copy ([`Decoder::body_part`]).
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf` (compacted at the next `feed`, so each byte moves
    /// at most once).
    pos: usize,
    /// Bytes consumed before `buf[pos..]`.
    offset: u64,
    /// Chunks of the large block's data, uncopied. They come before `buf[pos..]`: a chunk goes
    /// here only while nothing is unread in `buf`, and `buf` takes only what follows the data.
    direct: VecDeque<Bytes>,
    direct_len: u64,
    /// The large block's data not yet taken with `body_part`.
    body_left: u64,
    magic_seen: bool,
    ended: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a chunk (copied into the frame buffer).
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.drain(..self.pos);
        self.pos = 0;
        self.buf.extend_from_slice(chunk);
    }

    /// Adds a chunk as received: the part that is a large block's data is kept without a copy.
    pub fn feed_bytes(&mut self, mut chunk: Bytes) {
        let awaited = self.body_left - self.direct_len;
        if awaited > 0 && self.unread().is_empty() {
            let n = (chunk.len() as u64).min(awaited) as usize;
            self.direct.push_back(chunk.split_to(n));
            self.direct_len += n as u64;
        }
        if !chunk.is_empty() {
            self.feed(&chunk);
        }
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.offset + self.unread().len() as u64 + self.direct_len
    }

    /// Whether the `End` frame was read.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// If the next frame is a block of at least `threshold` bytes of data and its header and id
    /// have arrived: consumes them and returns the block's id and length. Its data is then taken
    /// with [`Decoder::body_part`] as it arrives, never held whole.
    pub fn start_large_block(&mut self, threshold: u32) -> Result<Option<(ObjectId, u32)>, PackError> {
        if !self.magic()? {
            return Ok(None);
        }
        let unread = self.unread();
        if self.ended || unread.len() < HEADER + 20 || unread[0] != BLOCK {
            return Ok(None);
        }
        let len = u32::from_be_bytes(unread[1..HEADER].try_into().expect("4 bytes"));
        if len > MAX_FRAME {
            return Err(self.error(&format!("a frame of {len} bytes (at most {MAX_FRAME})")));
        }
        let Some(data) = len.checked_sub(20).filter(|d| *d >= threshold) else {
            return Ok(None);
        };
        let id = ObjectId::from_digest(unread[HEADER..HEADER + 20].try_into().expect("20 bytes"));
        self.consume(HEADER + 20);
        self.body_left = data.into();
        Ok(Some((id, data)))
    }

    /// How much of the large block's data is still to be taken with [`Decoder::body_part`].
    pub fn body_left(&self) -> u64 {
        self.body_left
    }

    /// The next part of what has arrived of the large block's data, consumed: call until it is
    /// empty. Chunks fed with [`Decoder::feed_bytes`] after its header come out one at a time,
    /// as they went in.
    pub fn body_part(&mut self) -> Bytes {
        let part = match self.direct.pop_front() {
            Some(chunk) => {
                self.direct_len -= chunk.len() as u64;
                self.offset += chunk.len() as u64;
                chunk
            }
            None => {
                let n = (self.unread().len() as u64).min(self.body_left) as usize;
                let part = Bytes::copy_from_slice(&self.unread()[..n]);
                self.consume(n);
                part
            }
        };
        self.body_left -= part.len() as u64;
        part
    }

    /// The next complete frame, `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, PackError> {
        if !self.magic()? {
            return Ok(None);
        }
        let unread = self.unread();
        if unread.len() < HEADER {
            return Ok(None);
        }
        if self.ended {
            return Err(self.error("bytes after the end of the pack"));
        }
        let t = unread[0];
        let len = u32::from_be_bytes(unread[1..HEADER].try_into().expect("4 bytes"));
        if len > MAX_FRAME {
            return Err(self.error(&format!("a frame of {len} bytes (at most {MAX_FRAME})")));
        }
        let total = HEADER + len as usize;
        if unread.len() < total {
            self.buf.reserve(total - unread.len());
            return Ok(None);
        }
        let frame = self.parse(t, &self.unread()[HEADER..total])?;
        self.consume(total);
        self.ended = matches!(frame, Frame::End { .. });
        Ok(Some(frame))
    }

    /// Consumes the magic once it has arrived; `false` until then.
    fn magic(&mut self) -> Result<bool, PackError> {
        if self.magic_seen {
            return Ok(true);
        }
        let unread = self.unread();
        if unread.len() < MAGIC.len() {
            return match MAGIC.starts_with(unread) {
                true => Ok(false),
                false => Err(self.error("not a pack (wrong magic); is the primary the same release?")),
            };
        }
        if &unread[..MAGIC.len()] != MAGIC {
            return Err(self.error("not a pack (wrong magic); is the primary the same release?"));
        }
        self.consume(MAGIC.len());
        self.magic_seen = true;
        Ok(true)
    }

    fn parse(&self, t: u8, body: &[u8]) -> Result<Frame, PackError> {
        match t {
            BLOCK if body.len() >= 20 => Ok(Frame::Block {
                id: ObjectId::from_digest(body[..20].try_into().expect("20 bytes")),
                bytes: body[20..].to_vec(),
            }),
            COMMIT | FS => Ok(Frame::Object(kind_of(t).expect("an object type"), body.to_vec())),
            MISSING if body.len() >= 21 => {
                let kind = kind_of(body[0]).ok_or_else(|| self.error("a missing frame of no kind"))?;
                let id = ObjectId::from_digest(body[1..21].try_into().expect("20 bytes"));
                let path = String::from_utf8_lossy(&body[21..]).into_owned();
                Ok(Frame::Missing { kind, id, path })
            }
            END if body.len() == 8 => Ok(Frame::End {
                objects: u64::from_be_bytes(body.try_into().expect("8 bytes")),
            }),
            FAILED => Ok(Frame::Failed(String::from_utf8_lossy(body).chars().take(500).collect())),
            _ => Err(self.error(&format!("an unknown frame (type {t:#04x}, {} bytes)", body.len()))),
        }
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }

    fn error(&self, what: &str) -> PackError {
        PackError {
            offset: self.offset,
            what: what.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(frames: &[Frame]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for f in frames {
            encode(&mut out, f);
        }
        out
    }

    fn decode_in_chunks(bytes: &[u8], chunk: usize) -> Result<Vec<Frame>, PackError> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for c in bytes.chunks(chunk) {
            d.feed(c);
            while let Some(f) = d.next_frame()? {
                out.push(f);
            }
        }
        Ok(out)
    }

    #[test]
    fn frames_survive_any_chunking() {
        let frames = vec![
            Frame::Block {
                id: ObjectId::hash_of(&[7; 1000]),
                bytes: vec![7; 1000],
            },
            Frame::Object(ObjectKind::Fs, vec![]),
            Frame::Missing {
                kind: ObjectKind::Block,
                id: ObjectId::hash_of(b"x"),
                path: "/a/b".into(),
            },
            Frame::Object(ObjectKind::Commit, b"{}".to_vec()),
            Frame::Failed("disk on fire".into()),
            Frame::End { objects: 4 },
        ];
        let bytes = pack(&frames);
        for chunk in [1, 2, 5, 7, 64, bytes.len()] {
            assert_eq!(decode_in_chunks(&bytes, chunk).unwrap(), frames, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_large_block_is_taken_as_it_arrives() {
        let data = vec![9u8; 5000];
        let id = ObjectId::hash_of(&data);
        let frames = vec![
            Frame::Block {
                id,
                bytes: data.clone(),
            },
            Frame::End { objects: 1 },
        ];
        let bytes = pack(&frames);
        let mut d = Decoder::new();
        let mut got = Vec::new();
        let mut large = None;
        for c in bytes.chunks(777) {
            d.feed(c);
            if large.is_none() {
                large = d.start_large_block(4096).unwrap();
                if large.is_none() {
                    continue;
                }
            }
            got.extend_from_slice(&d.body_part());
        }
        assert_eq!(large.map(|l| l.0), Some(id));
        assert_eq!(got, data);
        assert_eq!(d.next_frame().unwrap(), Some(Frame::End { objects: 1 }));
    }

    /// Chunks fed as `Bytes` after a large block's header are its data as they came (the same
    /// allocation, no copy), and the frame after it still decodes, whatever the chunking.
    #[test]
    fn a_large_blocks_data_fed_as_bytes_is_handed_out_uncopied() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let id = ObjectId::hash_of(&data);
        let frames = vec![
            Frame::Block {
                id,
                bytes: data.clone(),
            },
            Frame::Object(ObjectKind::Commit, b"{}".to_vec()),
            Frame::End { objects: 2 },
        ];
        let bytes = Bytes::from(pack(&frames));
        for chunk in [1, 3, 777, 4096, bytes.len()] {
            let mut d = Decoder::new();
            let (mut got, mut uncopied, mut large, mut rest) = (Vec::new(), 0, None, Vec::new());
            for start in (0..bytes.len()).step_by(chunk) {
                let c = bytes.slice(start..(start + chunk).min(bytes.len()));
                d.feed_bytes(c);
                if large.is_none() && got.is_empty() {
                    large = d.start_large_block(4096).unwrap();
                }
                if large.is_some() && got.len() < data.len() {
                    loop {
                        let part = d.body_part();
                        if part.is_empty() {
                            break;
                        }
                        let within = bytes.as_ptr_range();
                        if within.contains(&part.as_ptr()) {
                            uncopied += part.len();
                        }
                        got.extend_from_slice(&part);
                    }
                }
                if got.len() == data.len() {
                    while let Some(f) = d.next_frame().unwrap() {
                        rest.push(f);
                    }
                }
            }
            assert_eq!(large.map(|l| l.0), Some(id), "chunks of {chunk}");
            assert_eq!(got, data, "chunks of {chunk}");
            assert_eq!(rest, frames[1..], "chunks of {chunk}");
            assert_eq!(d.received(), bytes.len() as u64);
            if chunk < 4096 {
                assert!(
                    uncopied >= data.len() - chunk,
                    "chunks of {chunk}: {uncopied} bytes uncopied"
                );
            }
        }
    }

    #[test]
    fn garbage_is_refused_with_where() {
        let err = decode_in_chunks(b"HTTP/1.1 200 OK\r\n", 4).unwrap_err();
        assert!(err.what.contains("magic"), "{err}");
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[b'q', 0, 0, 0, 1, 0]);
        let err = decode_in_chunks(&bytes, 3).unwrap_err();
        assert!(err.to_string().contains("unknown frame") && err.offset == 10, "{err}");
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&object_header(ObjectKind::Block, MAX_FRAME + 1));
        assert!(decode_in_chunks(&huge, 100).unwrap_err().what.contains("at most"));
        let mut after = pack(&[Frame::End { objects: 0 }]);
        after.extend_from_slice(&pack(&[Frame::End { objects: 0 }])[MAGIC.len()..]);
        assert!(decode_in_chunks(&after, 100)
            .unwrap_err()
            .what
            .contains("after the end"));
    }
}
