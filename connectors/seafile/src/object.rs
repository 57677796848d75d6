//! What all stored objects share: their kinds and the ways a stored object can be wrong.

use std::fmt;

use crate::id::ObjectId;

/// The three kinds of object in a Seafile object store, named as their storage folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    Commit,
    Fs,
    Block,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 3] = [ObjectKind::Commit, ObjectKind::Fs, ObjectKind::Block];

    /// The folder under `seafile-data/storage/`.
    pub fn dir_name(self) -> &'static str {
        match self {
            ObjectKind::Commit => "commits",
            ObjectKind::Fs => "fs",
            ObjectKind::Block => "blocks",
        }
    }

    /// Singular name for messages.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Commit => "commit",
            ObjectKind::Fs => "fs",
            ObjectKind::Block => "block",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a stored object cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    #[error("content hashes to {actual}, not to its id {expected}")]
    IdMismatch { expected: ObjectId, actual: ObjectId },
    #[error("not zlib-compressed data ({0}); the object is truncated or corrupt, or belongs to a version-0 library")]
    BadCompression(String),
    #[error("not the JSON Seafile writes: {0}")]
    BadJson(String),
    #[error("object format version {0} is not supported (only repo version 1 libraries, written by Seafile 2.x and later, can be backed up)")]
    UnsupportedVersion(i64),
    #[error("uncompressed size exceeds {0} bytes; refusing to inflate further")]
    TooLarge(u64),
}
