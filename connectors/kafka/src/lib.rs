//! Kafka side of seaf-backup: the Avro codec for `schemas/repo_update.avsc`, producer and
//! consumer set-up, and consumer lag.
//!
//! Empty until the primary role lands (issue "Primary role"); the crate exists so the workspace
//! has its final shape and the seafile connector never grows Kafka types.
