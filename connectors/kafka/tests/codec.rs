//! The codec against the Avro spec (canonical form, fingerprint, framing), its error cases, and
//! hostile input: no input may make it panic.

use std::time::{Duration, UNIX_EPOCH};

use apache_avro::types::Value;
use apache_avro::Schema;
use seaf_kafka::codec::{SCHEMA_JSON, SINGLE_OBJECT_MAGIC};
use seaf_kafka::{Codec, DecodeError, DetectionSource, RepoUpdate, RepoUpdateKind, WireFormat};
use seaf_seafile::{ObjectId, RepoId};

const REPO: &str = "300ca0c9-310b-4344-8289-441bcd1e031c";
const HEAD: &str = "ffa520c929912c8b6a5e63d93b9481a2dffa303e";
const PREV: &str = "0b7ab5bd57eb9e3d3c1d0e5f71c6bcd00a4bd4e2";

fn update() -> RepoUpdate {
    RepoUpdate::update(
        RepoId::parse(REPO).unwrap(),
        ObjectId::parse(HEAD).unwrap(),
        Some(ObjectId::parse(PREV).unwrap()),
        "primary-1",
        DetectionSource::Inotify,
    )
}

fn samples() -> Vec<RepoUpdate> {
    vec![
        update(),
        RepoUpdate::delete(RepoId::parse(REPO).unwrap(), None, "primary-1", DetectionSource::Manual),
        RepoUpdate::heartbeat("primary-1"),
    ]
}

/// CRC-64-AVRO written from the spec's reference code, independent of apache-avro.
fn rabin(data: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    let mut table = [0u64; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        let mut fp = i as u64;
        for _ in 0..8 {
            fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
        }
        *slot = fp;
    }
    let mut fp = EMPTY;
    for &b in data {
        fp = (fp >> 8) ^ table[((fp ^ b as u64) & 0xff) as usize];
    }
    fp
}

#[test]
fn independent_rabin_matches_the_spec_vectors() {
    // share/test/data/schema-tests.txt in apache/avro.
    assert_eq!(rabin(br#""null""#) as i64, 7195948357588979594);
    assert_eq!(rabin(br#""int""#) as i64, 8247732601305521295);
    assert_eq!(
        rabin(br#"{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}"#) as i64,
        7843277075252814651
    );
}

#[test]
fn canonical_form_and_fingerprint_follow_the_spec() {
    // Written by hand from the spec's rules: full names, no namespace/doc/default/logicalType,
    // attributes in the order name, type, fields, symbols.
    let expected = concat!(
        r#"{"name":"org.seafbackup.RepoUpdate","type":"record","fields":["#,
        r#"{"name":"event_id","type":"string"},"#,
        r#"{"name":"kind","type":{"name":"org.seafbackup.RepoUpdateKind","type":"enum","symbols":["UPDATE","DELETE","HEARTBEAT"]}},"#,
        r#"{"name":"repo_id","type":["null","string"]},"#,
        r#"{"name":"head_commit_id","type":["null","string"]},"#,
        r#"{"name":"previous_head_id","type":["null","string"]},"#,
        r#"{"name":"origin_node","type":"string"},"#,
        r#"{"name":"detected_at","type":"long"},"#,
        r#"{"name":"detection_source","type":{"name":"org.seafbackup.DetectionSource","type":"enum","symbols":["SNAPSHOT","POLL","INOTIFY","REDIS","HEARTBEAT","MANUAL","BINLOG"]}}"#,
        r#"]}"#
    );
    assert_eq!(Codec::canonical_form(), expected);
    assert_eq!(Codec::fingerprint(), rabin(expected.as_bytes()));
    // The same numbers from other implementations, run once on schemas/repo_update.avsc:
    // Java's SchemaNormalization.parsingFingerprint64 (avro 1.8.2, the reference
    // implementation) gives the spec's; Python's avro 1.12.0 and apache-avro keep
    // {"type":"long"} for the timestamp and get another, which decoding also accepts.
    assert_eq!(
        Codec::fingerprint(),
        0xc838_3227_3a17_2957,
        "update the README if the schema changed"
    );
    assert_eq!(Codec::lenient_fingerprint(), 0x67ac_db67_a881_9d53);

    let bytes = Codec::single_object().encode(&update()).unwrap();
    assert_eq!(bytes[..2], SINGLE_OBJECT_MAGIC);
    assert_eq!(bytes[2..10], rabin(expected.as_bytes()).to_le_bytes());
}

#[test]
fn binlog_is_the_last_detection_source_and_round_trips() {
    let event = RepoUpdate {
        detection_source: DetectionSource::Binlog,
        ..update()
    };
    let codec = Codec::single_object();
    assert_eq!(codec.decode(&codec.encode(&event).unwrap()).unwrap(), event);
    let schema: serde_json::Value = serde_json::from_str(SCHEMA_JSON).unwrap();
    let source = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "detection_source")
        .unwrap();
    let symbols = source["type"]["symbols"].as_array().unwrap();
    assert_eq!(symbols.last().unwrap(), "BINLOG", "new symbols go at the end");
    assert_eq!(source["type"]["default"], "POLL", "old readers read BINLOG as POLL");
}

#[test]
fn messages_of_the_first_schema_version_are_still_read() {
    // The first version's fingerprints (before BINLOG): the spec's and apache-avro's.
    let codec = Codec::single_object();
    let event = update();
    for v1 in [0x3d41_116e_6a79_26a4u64, 0xa8bf_8a6f_96a1_d373] {
        let mut bytes = codec.encode(&event).unwrap();
        bytes[2..10].copy_from_slice(&v1.to_le_bytes());
        assert_eq!(codec.decode(&bytes).unwrap(), event, "{v1:#x}");
    }
}

#[test]
fn every_field_of_the_schema_has_a_doc() {
    let schema: serde_json::Value = serde_json::from_str(SCHEMA_JSON).unwrap();
    for field in schema["fields"].as_array().unwrap() {
        assert!(
            field["doc"].as_str().is_some_and(|d| !d.is_empty()),
            "{} has no doc",
            field["name"]
        );
    }
}

#[test]
fn reads_what_apache_avros_single_object_writer_writes() {
    let schema = Schema::parse_str(SCHEMA_JSON).unwrap();
    let event = update();
    let ours = Codec::single_object().encode(&event).unwrap();
    // Re-encode our datum's value with apache-avro's own single-object writer.
    let value = apache_avro::from_avro_datum(&schema, &mut &ours[10..], None).unwrap();
    let mut writer = apache_avro::GenericSingleObjectWriter::new_with_capacity(&schema, 1024).unwrap();
    let mut theirs = Vec::new();
    writer.write_value(value, &mut theirs).unwrap();
    // Same magic and datum; the fingerprint is apache-avro's own.
    assert_eq!(theirs[..2], ours[..2]);
    assert_eq!(theirs[10..], ours[10..]);
    assert_eq!(theirs[2..10], Codec::lenient_fingerprint().to_le_bytes());
    assert_eq!(Codec::single_object().decode(&theirs).unwrap(), event);
}

#[test]
fn round_trips_in_both_formats() {
    for codec in [Codec::single_object(), Codec::confluent(42)] {
        for event in samples() {
            let bytes = codec.encode(&event).unwrap();
            assert_eq!(codec.decode(&bytes).unwrap(), event, "{:?}", codec.format());
        }
    }
    let bytes = Codec::confluent(42).encode(&update()).unwrap();
    assert_eq!(bytes[..5], [0, 0, 0, 0, 42]);
    assert_eq!(Codec::confluent(42).format(), WireFormat::Confluent { schema_id: 42 });
}

#[test]
fn a_confluent_codec_also_reads_single_object_messages() {
    let event = update();
    let bytes = Codec::single_object().encode(&event).unwrap();
    assert_eq!(Codec::confluent(7).decode(&bytes).unwrap(), event);
}

#[test]
fn timestamps_keep_milliseconds_before_and_after_the_epoch() {
    let codec = Codec::single_object();
    for ms in [0u64, 1, 1_700_000_000_123] {
        let mut e = update();
        e.detected_at = UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(
            codec.decode(&codec.encode(&e).unwrap()).unwrap().detected_at,
            e.detected_at
        );
    }
    let mut e = update();
    e.detected_at = UNIX_EPOCH - Duration::from_millis(1500);
    assert_eq!(
        codec.decode(&codec.encode(&e).unwrap()).unwrap().detected_at_millis(),
        -1500
    );
    // Absurd timestamps from the wire: decoded or refused, never a panic.
    for ms in [i64::MAX, i64::MIN, i64::MIN + 1] {
        let bytes = raw_message(|f| set(f, "detected_at", Value::TimestampMillis(ms)));
        if let Ok(e) = codec.decode(&bytes) {
            assert_eq!(e.detected_at_millis(), ms);
        }
    }
}

#[test]
fn refuses_to_encode_out_of_contract_events() {
    let mut e = update();
    e.head_commit_id = None;
    let err = Codec::single_object().encode(&e).unwrap_err();
    assert!(err.to_string().contains("head_commit_id is missing"), "{err}");
}

fn expect_err(bytes: &[u8], codec: &Codec) -> DecodeError {
    match codec.decode(bytes) {
        Ok(e) => panic!("decoded {e:?} from {bytes:02x?}"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

#[test]
fn framing_errors_say_what_was_found() {
    let so = Codec::single_object();
    assert_eq!(expect_err(b"", &so), DecodeError::Empty);

    let err = expect_err(br#"{"repo_id": "x"}"#, &so);
    assert!(matches!(err, DecodeError::NotAnEvent { len: 16, .. }), "{err:?}");
    assert!(err.to_string().contains("7B 22 72 65 70 6F 5F 69 ..."), "{err}");

    let err = expect_err(&[0xC3], &so);
    assert!(
        matches!(err, DecodeError::TruncatedHeader { len: 1, needed: 10, .. }),
        "{err:?}"
    );
    let err = expect_err(&[0xC3, 0x01, 1, 2, 3], &so);
    assert!(matches!(err, DecodeError::TruncatedHeader { len: 5, .. }), "{err:?}");
    let err = expect_err(&[0x00, 0, 0], &Codec::confluent(1));
    assert!(
        matches!(err, DecodeError::TruncatedHeader { len: 3, needed: 5, .. }),
        "{err:?}"
    );

    let mut foreign = so.encode(&update()).unwrap();
    foreign[2] ^= 0xff;
    let err = expect_err(&foreign, &so);
    assert!(matches!(err, DecodeError::UnknownFingerprint { expected, .. } if expected == Codec::fingerprint()));
    assert!(err.to_string().contains("unknown schema"), "{err}");

    let confluent = Codec::confluent(3).encode(&update()).unwrap();
    let err = expect_err(&confluent, &Codec::confluent(4));
    assert_eq!(err, DecodeError::SchemaIdMismatch { found: 3, expected: 4 });
    assert!(err.to_string().contains("Confluent schema id 3"), "{err}");
    let err = expect_err(&confluent, &so);
    assert_eq!(err, DecodeError::NoRegisteredSchemaId { found: 3 });
    assert!(err.to_string().contains("kafka.schema_registry_url"), "{err}");
}

#[test]
fn every_truncation_of_a_valid_message_is_an_error() {
    for codec in [Codec::single_object(), Codec::confluent(9)] {
        for event in samples() {
            let bytes = codec.encode(&event).unwrap();
            let header = if codec.format() == WireFormat::SingleObject {
                10
            } else {
                5
            };
            for len in 0..bytes.len() {
                let err = expect_err(&bytes[..len], &codec);
                match len {
                    0 => assert_eq!(err, DecodeError::Empty),
                    l if l < header => assert!(matches!(err, DecodeError::TruncatedHeader { .. }), "{err:?}"),
                    _ => assert!(matches!(err, DecodeError::Truncated(_)), "cut at {len}: {err:?}"),
                }
            }
            let mut longer = bytes.clone();
            longer.extend_from_slice(b"xyz");
            assert_eq!(expect_err(&longer, &codec), DecodeError::TrailingBytes { count: 3 });
        }
    }
}

/// A single-object message with the fields given (as Avro values), bypassing the codec's own
/// checks, the way a buggy or hostile producer would write it.
fn raw_message(edit: impl FnOnce(&mut Vec<(String, Value)>)) -> Vec<u8> {
    let schema = Schema::parse_str(SCHEMA_JSON).unwrap();
    let good = Codec::single_object().encode(&update()).unwrap();
    let Value::Record(mut fields) = apache_avro::from_avro_datum(&schema, &mut &good[10..], None).unwrap() else {
        unreachable!()
    };
    edit(&mut fields);
    let mut out = good[..10].to_vec();
    out.extend(apache_avro::to_avro_datum(&schema, Value::Record(fields)).unwrap());
    out
}

fn set(fields: &mut [(String, Value)], name: &str, value: Value) {
    fields.iter_mut().find(|(n, _)| n == name).unwrap().1 = value;
}

fn some(s: &str) -> Value {
    Value::Union(1, Box::new(Value::String(s.into())))
}

#[test]
fn values_out_of_contract_are_rejected_with_the_field_named() {
    let so = Codec::single_object();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("repo_id", raw_message(|f| set(f, "repo_id", some("../../etc/passwd")))),
        (
            "repo_id",
            raw_message(|f| set(f, "repo_id", some(&REPO.to_uppercase()))),
        ),
        ("head_commit_id", raw_message(|f| set(f, "head_commit_id", some("abc")))),
        (
            "previous_head_id",
            raw_message(|f| set(f, "previous_head_id", some(&"g".repeat(40)))),
        ),
        (
            "event_id",
            raw_message(|f| set(f, "event_id", Value::String("not a uuid".into()))),
        ),
        (
            "head_commit_id",
            raw_message(|f| set(f, "head_commit_id", Value::Union(0, Box::new(Value::Null)))),
        ),
        (
            "origin_node",
            raw_message(|f| set(f, "origin_node", Value::String(String::new()))),
        ),
        (
            "repo_id",
            raw_message(|f| {
                set(f, "kind", Value::Enum(2, "HEARTBEAT".into()));
                set(f, "head_commit_id", Value::Union(0, Box::new(Value::Null)));
                set(f, "previous_head_id", Value::Union(0, Box::new(Value::Null)));
            }),
        ),
    ];
    for (field, bytes) in cases {
        let err = expect_err(&bytes, &so);
        match &err {
            DecodeError::OutOfContract(c) => assert_eq!(c.field, field, "{err}"),
            other => panic!("{field}: expected OutOfContract, got {other:?}"),
        }
        assert!(err.to_string().contains(field), "{err}");
    }
    // A heartbeat carries its kind through.
    let hb = Codec::single_object().encode(&RepoUpdate::heartbeat("n")).unwrap();
    assert_eq!(so.decode(&hb).unwrap().kind, RepoUpdateKind::Heartbeat);
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn never_panics_on_random_or_mangled_input() {
    // SEAF_FUZZ_ITERATIONS=2000000 (and SEAF_FUZZ_SEED) for a longer hunt.
    let iterations: usize = std::env::var("SEAF_FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(30_000);
    let seed: u64 = std::env::var("SEAF_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x5eaf_bac0_0000_0001);
    let mut rng = Rng(seed | 1);
    let codecs = [Codec::single_object(), Codec::confluent(1)];
    let valid: Vec<Vec<u8>> = samples()
        .iter()
        .flat_map(|e| codecs.iter().map(|c| c.encode(e).unwrap()))
        .collect();
    let mut decoded = 0;
    for i in 0..iterations {
        let codec = &codecs[i % 2];
        let bytes = match i % 4 {
            // Pure noise.
            0 => {
                let n = rng.below(64);
                rng.bytes(n)
            }
            // A right header followed by noise: exercises the Avro decoder itself.
            1 => {
                let mut b = valid[rng.below(valid.len())][..10].to_vec();
                if b[0] == 0 {
                    b.truncate(5);
                }
                let n = rng.below(96);
                b.extend(rng.bytes(n));
                b
            }
            // A valid message with a few bytes flipped.
            2 => {
                let mut b = valid[rng.below(valid.len())].clone();
                for _ in 0..=rng.below(3) {
                    let at = rng.below(b.len());
                    b[at] = rng.next() as u8;
                }
                b
            }
            // A valid message cut anywhere, plus noise.
            _ => {
                let v = &valid[rng.below(valid.len())];
                let mut b = v[..rng.below(v.len())].to_vec();
                let n = rng.below(8);
                b.extend(rng.bytes(n));
                b
            }
        };
        if let Ok(event) = codec.decode(&bytes) {
            // Whatever decodes must keep the contract and re-encode.
            event.check().unwrap();
            codec.encode(&event).unwrap();
            decoded += 1;
        }
    }
    eprintln!("{decoded} of {iterations} mangled inputs (seed {seed}) still decoded (flipped bytes inside strings)");
}

#[test]
fn ten_megabyte_messages() {
    let so = Codec::single_object();
    // Noise, with and without a valid header.
    let mut rng = Rng(42);
    let noise = rng.bytes(10 << 20);
    expect_err(&noise, &so);
    let mut framed = so.encode(&update()).unwrap()[..10].to_vec();
    framed.extend_from_slice(&noise);
    expect_err(&framed, &so);
    // A length prefix that claims far more than is there.
    let mut huge_claim = so.encode(&update()).unwrap()[..10].to_vec();
    huge_claim.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0x0f]);
    assert!(matches!(
        expect_err(&huge_claim, &so),
        DecodeError::Malformed(_) | DecodeError::Truncated(_)
    ));

    // A valid 10 MB event round-trips.
    let mut big = update();
    big.origin_node = "n".repeat(10 << 20);
    let bytes = so.encode(&big).unwrap();
    assert!(bytes.len() > 10 << 20);
    assert_eq!(so.decode(&bytes).unwrap(), big);
}
