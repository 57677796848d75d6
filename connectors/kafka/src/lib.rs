//! Kafka side of seaf-backup: the `RepoUpdate` event, its Avro codec for
//! `schemas/repo_update.avsc`, the schema registry call, producer and consumer set-up, and
//! consumer lag.
//!
//! - [`event`]: the event as plain Rust values and the rules between its fields.
//! - [`codec`]: Avro single-object encoding and Confluent wire format (no rdkafka in sight);
//!   [`canonical`]: the schema fingerprint, per the Avro spec.
//! - [`registry`]: registering the schema with a Confluent Schema Registry.
//! - [`settings`]: the `[kafka]` section, its defaults and its reference documentation.
//! - [`client`]: producer/consumer configuration with the non-negotiable guarantees;
//!   [`topic`]: creating the topic.
//! - [`producer`], [`consumer`]: publishing an event and waiting for it to be safe; the
//!   subscribed consumer.
//! - [`lag`]: per-partition consumer lag from librdkafka's statistics.
//!
//! The seafile connector never sees any of this, and the roles see rdkafka only where they drive
//! the consumer themselves (reading and committing).

pub mod canonical;
pub mod client;
pub mod codec;
pub mod consumer;
pub mod event;
pub mod lag;
pub mod producer;
pub mod registry;
pub mod settings;
pub mod topic;

pub use client::ClientError;
pub use codec::{Codec, DecodeError, EncodeError, WireFormat};
pub use consumer::{decode_message, subscribe, EventConsumer};
pub use event::{ContractError, DetectionSource, RepoUpdate, RepoUpdateKind};
pub use lag::{parse_consumer_lag, LagContext, PartitionLag};
pub use producer::{EventProducer, PublishError, Published};
pub use registry::{value_subject, RegistryError, SchemaRegistry};
pub use settings::KafkaSettings;
pub use topic::{ensure_topic, topic_partitions, TopicStatus};

/// rdkafka, re-exported so the roles use exactly the version this crate was built with.
pub use rdkafka;
