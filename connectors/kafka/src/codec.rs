//! Avro bytes for [`RepoUpdate`], in the two framings Kafka users meet.
//!
//! - **Single-object encoding** (the Avro spec's own, the default): `C3 01`, the 8-byte
//!   little-endian CRC-64-AVRO (Rabin) fingerprint of the schema's parsing canonical form, the
//!   datum. Needs no service: the fingerprint names the schema.
//! - **Confluent wire format** (when a schema registry is configured): `00`, the 4-byte
//!   big-endian id the registry gave the schema, the datum. What Kafka Connect, ksqlDB and
//!   Confluent's deserializers expect.
//!
//! Decoding accepts both, told apart by the first byte, so a backup keeps working while its
//! primary is switched between them. Bytes come from a shared topic and are trusted for
//! nothing: every failure is a typed [`DecodeError`] whose message says what was wrong, and no
//! input makes decoding panic.
//!
//! Nothing here knows rdkafka: the codec turns events into bytes and back.

use std::fmt;
use std::io::ErrorKind;
use std::sync::OnceLock;

use apache_avro::types::Value;
use apache_avro::Schema;
use seaf_seafile::{ObjectId, RepoId};
use uuid::Uuid;

use crate::canonical::{crc64_avro, parsing_canonical_form};
use crate::event::{
    millis_to_system_time, system_time_to_millis, ContractError, DetectionSource, RepoUpdate, RepoUpdateKind,
};

/// The schema, exactly as in `schemas/repo_update.avsc` (what gets registered).
pub const SCHEMA_JSON: &str = include_str!("../../../schemas/repo_update.avsc");

/// The schema's first version (before `DetectionSource` gained `BINLOG`). Its datums decode
/// with today's schema byte for byte (the only change is an enum symbol added at the end), so
/// messages written by older primaries are read as they are.
pub const SCHEMA_V1_JSON: &str = include_str!("../../../schemas/repo_update.v1.avsc");

/// First two bytes of an Avro single-object encoded message.
pub const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
/// First byte of a Confluent wire-format message.
pub const CONFLUENT_MAGIC: u8 = 0x00;

const SINGLE_OBJECT_HEADER_LEN: usize = 2 + 8;
const CONFLUENT_HEADER_LEN: usize = 1 + 4;

struct ParsedSchema {
    schema: Schema,
    canonical_form: String,
    /// CRC-64-AVRO of the spec's canonical form, little-endian: what we write.
    fingerprint: [u8; 8],
    /// The fingerprint apache-avro and Python's avro compute for the same schema (they keep
    /// `{"type":"long"}` for the timestamp): same schema, so accepted when reading.
    lenient_fingerprint: [u8; 8],
    /// Both fingerprints of [`SCHEMA_V1_JSON`]: accepted when reading.
    older: [[u8; 8]; 2],
}

fn parsed() -> &'static ParsedSchema {
    static PARSED: OnceLock<ParsedSchema> = OnceLock::new();
    PARSED.get_or_init(|| {
        // A constant checked by the unit tests, not input: failing here is a build defect.
        let schema = Schema::parse_str(SCHEMA_JSON).expect("schemas/repo_update.avsc is valid Avro");
        let canonical_form = parsing_canonical_form(SCHEMA_JSON).expect("schemas/repo_update.avsc is valid Avro");
        let fingerprint = crc64_avro(canonical_form.as_bytes()).to_le_bytes();
        let lenient_fingerprint = crc64_avro(schema.canonical_form().as_bytes()).to_le_bytes();
        let v1 = Schema::parse_str(SCHEMA_V1_JSON).expect("schemas/repo_update.v1.avsc is valid Avro");
        let v1_canonical = parsing_canonical_form(SCHEMA_V1_JSON).expect("schemas/repo_update.v1.avsc is valid Avro");
        let older = [
            crc64_avro(v1_canonical.as_bytes()).to_le_bytes(),
            crc64_avro(v1.canonical_form().as_bytes()).to_le_bytes(),
        ];
        ParsedSchema {
            schema,
            canonical_form,
            fingerprint,
            lenient_fingerprint,
            older,
        }
    })
}

/// Which framing [`Codec::encode`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// Avro single-object encoding.
    SingleObject,
    /// Confluent wire format with the registry's id for this schema.
    Confluent { schema_id: u32 },
}

/// Encodes and decodes [`RepoUpdate`]s. Cheap to clone; one per process is enough.
#[derive(Debug, Clone)]
pub struct Codec {
    format: WireFormat,
}

impl Default for Codec {
    fn default() -> Self {
        Codec::single_object()
    }
}

impl Codec {
    /// Writes single-object encoding. Reads it, and rejects Confluent-framed messages because
    /// there is no registered id to check them against.
    pub fn single_object() -> Self {
        Codec {
            format: WireFormat::SingleObject,
        }
    }

    /// Writes the Confluent wire format with `schema_id` (from
    /// [`crate::registry::SchemaRegistry::register`]). Reads it (for that id only) and
    /// single-object encoding.
    pub fn confluent(schema_id: u32) -> Self {
        Codec {
            format: WireFormat::Confluent { schema_id },
        }
    }

    pub fn format(&self) -> WireFormat {
        self.format
    }

    /// The CRC-64-AVRO fingerprint of the schema's parsing canonical form, as the unsigned
    /// number the header's 8 little-endian bytes spell (Java's `parsingFingerprint64`).
    pub fn fingerprint() -> u64 {
        u64::from_le_bytes(parsed().fingerprint)
    }

    /// The other fingerprint decoding accepts: what apache-avro and Python's avro compute for
    /// this schema (see [`crate::canonical`]).
    pub fn lenient_fingerprint() -> u64 {
        u64::from_le_bytes(parsed().lenient_fingerprint)
    }

    /// The schema's parsing canonical form per the Avro spec (what the fingerprint covers).
    pub fn canonical_form() -> &'static str {
        &parsed().canonical_form
    }

    /// The event's bytes, in this codec's framing. Refuses events that break the contract, so a
    /// consumer never sees one from us.
    pub fn encode(&self, event: &RepoUpdate) -> Result<Vec<u8>, EncodeError> {
        event.check()?;
        let p = parsed();
        let datum =
            apache_avro::to_avro_datum(&p.schema, to_value(event)).map_err(|e| EncodeError::Avro(e.to_string()))?;
        let mut out = Vec::with_capacity(SINGLE_OBJECT_HEADER_LEN + datum.len());
        match self.format {
            WireFormat::SingleObject => {
                out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
                out.extend_from_slice(&p.fingerprint);
            }
            WireFormat::Confluent { schema_id } => {
                out.push(CONFLUENT_MAGIC);
                out.extend_from_slice(&schema_id.to_be_bytes());
            }
        }
        out.extend_from_slice(&datum);
        Ok(out)
    }

    /// The event in `bytes` (either framing). Never panics.
    pub fn decode(&self, bytes: &[u8]) -> Result<RepoUpdate, DecodeError> {
        let p = parsed();
        let datum = match bytes {
            [] => return Err(DecodeError::Empty),
            [0xC3, 0x01, ..] | [0xC3] => {
                let header = bytes
                    .get(..SINGLE_OBJECT_HEADER_LEN)
                    .ok_or(DecodeError::TruncatedHeader {
                        format: "Avro single-object",
                        len: bytes.len(),
                        needed: SINGLE_OBJECT_HEADER_LEN,
                    })?;
                if header[2..] != p.fingerprint
                    && header[2..] != p.lenient_fingerprint
                    && !p.older.iter().any(|f| header[2..] == f[..])
                {
                    let mut found = [0u8; 8];
                    found.copy_from_slice(&header[2..]);
                    return Err(DecodeError::UnknownFingerprint {
                        found: u64::from_le_bytes(found),
                        expected: Codec::fingerprint(),
                    });
                }
                &bytes[SINGLE_OBJECT_HEADER_LEN..]
            }
            [CONFLUENT_MAGIC, ..] => {
                let header = bytes.get(..CONFLUENT_HEADER_LEN).ok_or(DecodeError::TruncatedHeader {
                    format: "Confluent wire-format",
                    len: bytes.len(),
                    needed: CONFLUENT_HEADER_LEN,
                })?;
                let found = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
                match self.format {
                    WireFormat::Confluent { schema_id } if schema_id == found => {}
                    WireFormat::Confluent { schema_id } => {
                        return Err(DecodeError::SchemaIdMismatch {
                            found,
                            expected: schema_id,
                        })
                    }
                    WireFormat::SingleObject => return Err(DecodeError::NoRegisteredSchemaId { found }),
                }
                &bytes[CONFLUENT_HEADER_LEN..]
            }
            _ => {
                return Err(DecodeError::NotAnEvent {
                    len: bytes.len(),
                    head: Head(bytes).to_string(),
                })
            }
        };
        if datum.is_empty() {
            return Err(DecodeError::Truncated("the header is followed by no datum".into()));
        }
        let mut rest = datum;
        let value = apache_avro::from_avro_datum(&p.schema, &mut rest, None).map_err(|e| {
            if ends_early(&e) {
                DecodeError::Truncated(e.to_string())
            } else {
                DecodeError::Malformed(e.to_string())
            }
        })?;
        // apache-avro reads a string or union cut short as null instead of failing: a value of
        // the wrong shape with nothing left to read is a truncated datum.
        let event = from_value(value).map_err(|e| match e {
            FromValueError::Contract(c) => DecodeError::OutOfContract(c),
            FromValueError::Shape(problem) if rest.is_empty() => DecodeError::Truncated(problem),
            FromValueError::Shape(problem) => DecodeError::Malformed(problem),
        })?;
        if !rest.is_empty() {
            return Err(DecodeError::TrailingBytes { count: rest.len() });
        }
        event.check()?;
        Ok(event)
    }
}

/// Why an event could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("refusing to publish: {0}")]
    Contract(#[from] ContractError),
    #[error("Avro encoding failed (a bug: the event does not fit schemas/repo_update.avsc): {0}")]
    Avro(String),
}

/// Why bytes from the topic are not a [`RepoUpdate`]. Each message says what was found and,
/// where there is one, what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty message: nothing to decode (a tombstone on the compacted topic, or a producer bug)")]
    Empty,
    #[error(
        "not a RepoUpdate message: {len} bytes starting {head}; expected Avro single-object \
         encoding (C3 01 ...) or the Confluent wire format (00 ...). Is something else writing \
         to this topic?"
    )]
    NotAnEvent { len: usize, head: String },
    #[error("truncated {format} header: {len} bytes, at least {needed} needed")]
    TruncatedHeader {
        format: &'static str,
        len: usize,
        needed: usize,
    },
    #[error(
        "written with an unknown schema: fingerprint {found:#018x}, this build reads \
         {expected:#018x} (schemas/repo_update.avsc). Upgrade seaf-backup here, or check what \
         else writes to the topic"
    )]
    UnknownFingerprint { found: u64, expected: u64 },
    #[error(
        "Confluent schema id {found} is not ours: the registry gave schemas/repo_update.avsc id \
         {expected}. Was the subject re-registered or the topic shared with another producer?"
    )]
    SchemaIdMismatch { found: u32, expected: u32 },
    #[error(
        "message is in the Confluent wire format (schema id {found}) but no schema registry is \
         configured here to check the id: set kafka.schema_registry_url as on the primary"
    )]
    NoRegisteredSchemaId { found: u32 },
    #[error("truncated Avro datum (the message ends early): {0}")]
    Truncated(String),
    #[error("malformed Avro datum: {0}")]
    Malformed(String),
    #[error("{count} unexpected bytes after the Avro datum")]
    TrailingBytes { count: usize },
    #[error("{0}")]
    OutOfContract(#[from] ContractError),
}

/// Whether apache-avro failed because the input ran out.
fn ends_early(e: &apache_avro::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == ErrorKind::UnexpectedEof {
                return true;
            }
        }
        source = s.source();
    }
    false
}

/// Up to the first 8 bytes in hex, for error messages about foreign data.
struct Head<'a>(&'a [u8]);

impl fmt::Display for Head<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().take(8).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02X}")?;
        }
        if self.0.len() > 8 {
            f.write_str(" ...")?;
        }
        Ok(())
    }
}

fn optional(s: Option<String>) -> Value {
    match s {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(s) => Value::Union(1, Box::new(Value::String(s))),
    }
}

fn to_value(e: &RepoUpdate) -> Value {
    Value::Record(vec![
        ("event_id".into(), Value::String(e.event_id.hyphenated().to_string())),
        (
            "kind".into(),
            Value::Enum(e.kind.index() as u32, e.kind.symbol().into()),
        ),
        ("repo_id".into(), optional(e.repo_id.map(|r| r.to_string()))),
        ("head_commit_id".into(), optional(e.head_commit_id.map(|c| c.to_hex()))),
        (
            "previous_head_id".into(),
            optional(e.previous_head_id.map(|c| c.to_hex())),
        ),
        ("origin_node".into(), Value::String(e.origin_node.clone())),
        ("detected_at".into(), Value::TimestampMillis(e.detected_at_millis())),
        (
            "detection_source".into(),
            Value::Enum(e.detection_source.index() as u32, e.detection_source.symbol().into()),
        ),
    ])
}

enum FromValueError {
    /// The decoded value does not have the schema's shape (apache-avro reads a cut-off string
    /// as null, for one).
    Shape(String),
    /// The shape is right but a value is not (an id that does not parse, ...).
    Contract(ContractError),
}

impl From<String> for FromValueError {
    fn from(problem: String) -> Self {
        FromValueError::Shape(problem)
    }
}

/// Builds the event from a decoded record.
fn from_value(value: Value) -> Result<RepoUpdate, FromValueError> {
    let Value::Record(fields) = value else {
        return Err("the datum is not a record".to_owned().into());
    };
    let mut event_id = None;
    let mut kind = None;
    let mut repo_id = None;
    let mut head_commit_id = None;
    let mut previous_head_id = None;
    let mut origin_node = None;
    let mut detected_at = None;
    let mut detection_source = None;
    for (name, v) in fields {
        match name.as_str() {
            "event_id" => event_id = Some(string("event_id", v)?),
            "kind" => {
                let symbol = symbol("kind", v)?;
                kind = Some(
                    RepoUpdateKind::from_symbol(&symbol)
                        // Unknown symbols from a newer writer read as UPDATE (the enum's default).
                        .unwrap_or(RepoUpdateKind::Update),
                );
            }
            "repo_id" => repo_id = Some(optional_string("repo_id", v)?),
            "head_commit_id" => head_commit_id = Some(optional_string("head_commit_id", v)?),
            "previous_head_id" => previous_head_id = Some(optional_string("previous_head_id", v)?),
            "origin_node" => origin_node = Some(string("origin_node", v)?),
            "detected_at" => match v {
                Value::TimestampMillis(ms) | Value::Long(ms) => detected_at = Some(ms),
                other => return Err(shape("detected_at", "a timestamp-millis long", &other).into()),
            },
            "detection_source" => {
                let symbol = symbol("detection_source", v)?;
                detection_source = Some(DetectionSource::from_symbol(&symbol).unwrap_or(DetectionSource::Poll));
            }
            _ => {}
        }
    }
    let missing = |field: &str| format!("the record has no field {field}");
    let event_id_text = event_id.ok_or_else(|| missing("event_id"))?;
    let kind = kind.ok_or_else(|| missing("kind"))?;
    let contract =
        |field: &'static str, problem: String| FromValueError::Contract(ContractError { kind, field, problem });
    let event_id = Uuid::try_parse(&event_id_text)
        .map_err(|_| contract("event_id", format!("is not a UUID: {:?}", excerpt(&event_id_text))))?;
    let repo_id = repo_id
        .ok_or_else(|| missing("repo_id"))?
        .map(|s| RepoId::parse(&s))
        .transpose()
        .map_err(|e| contract("repo_id", e.to_string()))?;
    let object = |field: &'static str, s: Option<Option<String>>| -> Result<Option<ObjectId>, FromValueError> {
        s.ok_or_else(|| missing(field))?
            .map(|s| ObjectId::parse(&s))
            .transpose()
            .map_err(|e| contract(field, e.to_string()))
    };
    let head_commit_id = object("head_commit_id", head_commit_id)?;
    let previous_head_id = object("previous_head_id", previous_head_id)?;
    let detected_at_ms = detected_at.ok_or_else(|| missing("detected_at"))?;
    let detected_at = millis_to_system_time(detected_at_ms)
        .filter(|t| system_time_to_millis(*t) == detected_at_ms)
        .ok_or_else(|| contract("detected_at", format!("is out of range: {detected_at_ms} ms")))?;
    Ok(RepoUpdate {
        event_id,
        kind,
        repo_id,
        head_commit_id,
        previous_head_id,
        origin_node: origin_node.ok_or_else(|| missing("origin_node"))?,
        detected_at,
        detection_source: detection_source.ok_or_else(|| missing("detection_source"))?,
    })
}

fn excerpt(s: &str) -> String {
    s.chars().take(80).collect()
}

fn shape(field: &str, expected: &str, found: &Value) -> String {
    let found = match found {
        Value::Null => "nothing (the datum ended)".to_owned(),
        other => format!("{:.80}", format!("{other:?}")),
    };
    format!("field {field}: expected {expected}, found {found}")
}

fn string(field: &str, v: Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(shape(field, "a string", &other)),
    }
}

fn optional_string(field: &str, v: Value) -> Result<Option<String>, String> {
    match v {
        Value::Union(0, inner) if matches!(*inner, Value::Null) => Ok(None),
        Value::Union(1, inner) => string(field, *inner).map(Some),
        other => Err(shape(field, "null or a string", &other)),
    }
}

fn symbol(field: &str, v: Value) -> Result<String, String> {
    match v {
        Value::Enum(_, s) => Ok(s),
        other => Err(shape(field, "an enum symbol", &other)),
    }
}
