//! Objects written to the backup's object store.

use seaf_seafile::ObjectKind;

use super::catalogue::*;
use super::InternalEvent;

/// One durable batch of `count` fetched and verified objects of one kind, `bytes` in all.
/// (The bytes received are counted by [`BytesFetched`].)
pub struct ObjectsWritten {
    pub kind: ObjectKind,
    pub count: u64,
    pub bytes: u64,
}

impl InternalEvent for ObjectsWritten {
    fn emit(self) {
        metrics::counter!(BACKUP_OBJECTS_FETCHED, "kind" => self.kind.name()).increment(self.count);
        metrics::counter!(BACKUP_BYTES_WRITTEN).increment(self.bytes);
    }
}

/// Bytes received from the primary: objects and the framing that carries them.
pub struct BytesFetched {
    pub bytes: u64,
}

impl InternalEvent for BytesFetched {
    fn emit(self) {
        metrics::counter!(BACKUP_BYTES_FETCHED).increment(self.bytes);
    }
}
