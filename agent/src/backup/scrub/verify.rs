//! Whether a stored object still is what its id says: the check every sync applied when it
//! wrote the object, applied again to the bytes on the backup's disk.

use seaf_seafile::{Commit, FsObject, ObjectError, ObjectId, ObjectKind};

/// Checks `bytes`, read from the store, against `id`: a block hashes to its id, an fs object
/// inflates to JSON that hashes to it, a commit is JSON naming itself.
pub fn check(kind: ObjectKind, id: &ObjectId, bytes: &[u8]) -> Result<(), ObjectError> {
    match kind {
        ObjectKind::Commit => Commit::parse_verified(id, bytes).map(|_| ()),
        ObjectKind::Fs => FsObject::parse_verified(id, bytes).map(|_| ()),
        ObjectKind::Block => match ObjectId::hash_of(bytes) {
            actual if actual == *id => Ok(()),
            actual => Err(ObjectError::IdMismatch { expected: *id, actual }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_with_one_bit_flipped_is_damaged() {
        let mut block = b"some file content".to_vec();
        let id = ObjectId::hash_of(&block);
        assert!(check(ObjectKind::Block, &id, &block).is_ok());
        block[3] ^= 0x10;
        let err = check(ObjectKind::Block, &id, &block).unwrap_err();
        assert!(matches!(err, ObjectError::IdMismatch { .. }), "{err}");
    }

    #[test]
    fn a_truncated_fs_object_is_damaged() {
        let id = ObjectId::hash_of(b"{}");
        assert!(check(ObjectKind::Fs, &id, b"\x78\x9c\x01").is_err());
        assert!(check(ObjectKind::Commit, &id, b"{\"commit_id\"").is_err());
    }
}
