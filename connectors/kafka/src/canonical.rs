//! The schema's parsing canonical form and its CRC-64-AVRO fingerprint, written from the Avro
//! specification instead of taken from apache-avro.
//!
//! Why: for a logical type such as `{"type": "long", "logicalType": "timestamp-millis"}` the spec
//! (strip every attribute but type/name/fields/symbols/items/values/size, then write a primitive
//! in its simple form) gives `"long"`, as the Java reference implementation does. apache-avro
//! (0.21 up to at least 0.23.0-rc0) and the Python `avro` package (1.12) give `{"type":"long"}`
//! instead, hence another fingerprint. Single-object headers must carry the spec's fingerprint
//! for Java consumers to accept them; the other one is still accepted when reading (see
//! [`crate::codec`]).

use serde_json::{Map, Value};

const PRIMITIVES: [&str; 8] = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

/// The parsing canonical form of the schema in `schema_json`, or why it is not a schema.
pub fn parsing_canonical_form(schema_json: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(schema_json).map_err(|e| format!("not JSON: {e}"))?;
    let mut out = String::new();
    write(&value, None, &mut out)?;
    Ok(out)
}

fn quote(s: &str) -> String {
    // serde_json escapes only what JSON requires and keeps UTF-8 as is ([STRINGS]).
    Value::String(s.to_owned()).to_string()
}

/// The full name of `name` in namespace `ns` ([FULLNAMES]).
fn full_name(name: &str, ns: Option<&str>) -> String {
    match ns {
        Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_owned(),
    }
}

fn write(v: &Value, ns: Option<&str>, out: &mut String) -> Result<(), String> {
    match v {
        Value::String(s) if PRIMITIVES.contains(&s.as_str()) => out.push_str(&quote(s)),
        // A reference to a named type.
        Value::String(s) => out.push_str(&quote(&full_name(s, ns))),
        // A union.
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, ns, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map, ns, out)?,
        other => return Err(format!("{other} is not a schema")),
    }
    Ok(())
}

fn write_object(map: &Map<String, Value>, ns: Option<&str>, out: &mut String) -> Result<(), String> {
    let ty = map.get("type").ok_or("a schema object without \"type\"")?;
    let Some(ty) = ty.as_str() else {
        // {"type": {...}} or {"type": [...]}: the attributes around it do not matter for parsing.
        return write(ty, ns, out);
    };
    match ty {
        // [PRIMITIVES], after [STRIP] removed logicalType and friends.
        p if PRIMITIVES.contains(&p) => out.push_str(&quote(p)),
        "record" | "error" | "enum" | "fixed" => {
            let name = map
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("a {ty} without a name"))?;
            let own_ns = map.get("namespace").and_then(Value::as_str).or(ns);
            let full = full_name(name, own_ns);
            // Names inside take the namespace of this type's full name.
            let inner_ns = full.rsplit_once('.').map(|(n, _)| n.to_owned());
            out.push_str(&format!("{{\"name\":{},\"type\":{}", quote(&full), quote(ty)));
            match ty {
                "enum" => {
                    let symbols = map.get("symbols").ok_or("an enum without symbols")?;
                    out.push_str(&format!(",\"symbols\":{symbols}"));
                }
                "fixed" => {
                    // [INTEGERS]: a plain number, no quotes, no leading zeros.
                    let size = map
                        .get("size")
                        .and_then(|s| s.as_u64().or_else(|| s.as_str().and_then(|s| s.parse().ok())))
                        .ok_or("a fixed without a numeric size")?;
                    out.push_str(&format!(",\"size\":{size}"));
                }
                _ => {
                    let fields = map
                        .get("fields")
                        .and_then(Value::as_array)
                        .ok_or("a record without fields")?;
                    out.push_str(",\"fields\":[");
                    for (i, field) in fields.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let name = field
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or("a field without a name")?;
                        let field_type = field.get("type").ok_or("a field without a type")?;
                        out.push_str(&format!("{{\"name\":{},\"type\":", quote(name)));
                        write(field_type, inner_ns.as_deref(), out)?;
                        out.push('}');
                    }
                    out.push(']');
                }
            }
            out.push('}');
        }
        "array" => {
            out.push_str("{\"type\":\"array\",\"items\":");
            write(map.get("items").ok_or("an array without items")?, ns, out)?;
            out.push('}');
        }
        "map" => {
            out.push_str("{\"type\":\"map\",\"values\":");
            write(map.get("values").ok_or("a map without values")?, ns, out)?;
            out.push('}');
        }
        // A named type referenced as {"type": "Name"}.
        name => out.push_str(&quote(&full_name(name, ns))),
    }
    Ok(())
}

/// CRC-64-AVRO (the spec's "Rabin" fingerprint) of `data`.
pub fn crc64_avro(data: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    const TABLE: [u64; 256] = {
        let mut table = [0u64; 256];
        let mut i = 0;
        while i < 256 {
            let mut fp = i as u64;
            let mut j = 0;
            while j < 8 {
                fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
                j += 1;
            }
            table[i] = fp;
            i += 1;
        }
        table
    };
    let mut fp = EMPTY;
    for &b in data {
        fp = (fp >> 8) ^ TABLE[((fp ^ b as u64) & 0xff) as usize];
    }
    fp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From share/test/data/schema-tests.txt in apache/avro (fingerprints as signed longs).
    #[test]
    fn spec_vectors() {
        let cases: &[(&str, &str, Option<i64>)] = &[
            (r#""null""#, r#""null""#, Some(7195948357588979594)),
            (r#"{"type":"null"}"#, r#""null""#, Some(7195948357588979594)),
            (r#""int""#, r#""int""#, Some(8247732601305521295)),
            (
                r#"{"type":"fixed","name":"foo","size":15}"#,
                r#"{"name":"foo","type":"fixed","size":15}"#,
                Some(1756455273707447556),
            ),
            (
                r#"{"type":"record","name":"foo","fields":[{"name":"f1","type":"boolean"}]}"#,
                r#"{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}"#,
                Some(7843277075252814651),
            ),
            (
                r#"{"type":"fixed","name":"foo","namespace":"x.y","size":"015"}"#,
                r#"{"name":"x.y.foo","type":"fixed","size":15}"#,
                None,
            ),
            (
                r#"{"type":"record","name":"a.b.c","namespace":"ignored","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"],"doc":"d"}},{"name":"r","type":"E"},{"name":"m","type":{"type":"map","values":{"type":"array","items":"long"}}}]}"#,
                r#"{"name":"a.b.c","type":"record","fields":[{"name":"e","type":{"name":"a.b.E","type":"enum","symbols":["A","B"]}},{"name":"r","type":"a.b.E"},{"name":"m","type":{"type":"map","values":{"type":"array","items":"long"}}}]}"#,
                None,
            ),
            (r#"{"type":"long","logicalType":"timestamp-millis"}"#, r#""long""#, None),
        ];
        for (schema, canonical, fingerprint) in cases {
            assert_eq!(parsing_canonical_form(schema).unwrap(), *canonical, "{schema}");
            if let Some(fp) = fingerprint {
                assert_eq!(crc64_avro(canonical.as_bytes()) as i64, *fp, "{canonical}");
            }
        }
    }
}
