//! Kafka side of seaf-backup: the `RepoUpdate` event, its Avro codec for
//! `schemas/repo_update.avsc`, the schema registry call, producer and consumer set-up, the
//! backup's intake with its consumer lag, and replay.
//!
//! - [`event`]: the event as plain Rust values and the rules between its fields.
//! - [`codec`]: Avro single-object encoding and Confluent wire format (no rdkafka in sight);
//!   [`canonical`]: the schema fingerprint, per the Avro spec.
//! - [`registry`]: registering the schema with a Confluent Schema Registry.
//! - [`settings`]: the `[kafka]` section, its defaults and its reference documentation.
//! - [`client`]: producer/consumer configuration with the non-negotiable guarantees;
//!   [`topic`]: creating the topic.
//! - [`producer`]: publishing an event and waiting for it to be safe.
//! - [`intake`]: the backup's whole consumer loop (subscribe, read, decode, hand batches to an
//!   [`EventSink`], store offsets of what it accepted, commit, close within a bound);
//!   [`consumer`]: the subscribed consumer it drives; [`lag`]: the lag of every assigned
//!   partition.
//! - [`replay`]: moving the group's committed offsets for `seaf-backup replay`.
//!
//! The seafile connector never sees any of this, and the roles never see rdkafka: the agent
//! talks to Kafka through this crate's types only.

pub mod canonical;
pub mod client;
pub mod codec;
pub mod consumer;
mod detached;
pub mod event;
pub mod identity;
pub mod intake;
pub mod lag;
pub mod producer;
pub mod registry;
pub mod replay;
pub mod settings;
pub mod topic;

pub use client::ClientError;
pub use codec::{Codec, DecodeError, EncodeError, WireFormat};
pub use consumer::{decode_message, subscribe, EventConsumer, IntakeContext};
pub use event::{ContractError, DetectionSource, RepoUpdate, RepoUpdateKind};
pub use identity::{topic_identity, TopicIdentity};
pub use intake::{Batch, BrokerError, EventSink, Intake, Received, Undecodable};
pub use lag::PartitionLag;
pub use producer::{EventProducer, PublishError, Published};
pub use registry::{value_subject, RegistryError, SchemaRegistry};
pub use replay::{Position, ReplayError, ReplayFrom};
pub use settings::KafkaSettings;
pub use topic::{ensure_topic, topic_partitions, TopicStatus};

/// rdkafka, re-exported so tests and the benchmark drive raw clients with exactly the version
/// this crate was built with.
pub use rdkafka;
