//! fs objects (repo version 1): zlib-compressed JSON describing a file or a directory.
//!
//! The id is the SHA-1 of the *uncompressed* JSON, which is jansson's sorted-key output. Stored
//! bytes are never re-encoded when copied: re-encoding is only for objects this crate creates.

use std::io::{Read, Write};

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};

use crate::id::ObjectId;
use crate::object::ObjectError;

/// Largest uncompressed fs object accepted: a directory of about a million entries. Protects
/// against zlib bombs from a corrupt or hostile store.
pub const MAX_FS_OBJECT_SIZE: u64 = 256 << 20;

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;

const TYPE_FILE: u32 = 1;
const TYPE_DIR: u32 = 3;

/// A file: its content as a list of blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeafFile {
    pub block_ids: Vec<ObjectId>,
    pub size: u64,
}

/// A directory entry. Directories have no `modifier` or `size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dirent {
    pub id: ObjectId,
    pub mode: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifier: Option<String>,
    pub mtime: i64,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

impl Dirent {
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
}

/// A directory. Seafile keeps entries sorted by name, descending (byte order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeafDir {
    pub dirents: Vec<Dirent>,
}

/// A parsed fs object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsObject {
    File(SeafFile),
    Dir(SeafDir),
}

/// The JSON shapes, fields in sorted order as jansson writes them with `JSON_SORT_KEYS`.
#[derive(Serialize, Deserialize)]
struct FileJson {
    block_ids: Vec<ObjectId>,
    size: u64,
    #[serde(rename = "type")]
    kind: u32,
    version: i64,
}

#[derive(Serialize, Deserialize)]
struct DirJson {
    dirents: Vec<Dirent>,
    #[serde(rename = "type")]
    kind: u32,
    version: i64,
}

#[derive(Deserialize)]
struct Header {
    #[serde(rename = "type")]
    kind: u32,
    #[serde(default)]
    version: i64,
}

/// Inflates a stored fs object, refusing more than [`MAX_FS_OBJECT_SIZE`] bytes.
pub fn inflate(stored: &[u8]) -> Result<Vec<u8>, ObjectError> {
    let mut out = Vec::with_capacity(stored.len() * 4);
    let mut decoder = ZlibDecoder::new(stored).take(MAX_FS_OBJECT_SIZE + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| ObjectError::BadCompression(e.to_string()))?;
    if out.len() as u64 > MAX_FS_OBJECT_SIZE {
        return Err(ObjectError::TooLarge(MAX_FS_OBJECT_SIZE));
    }
    Ok(out)
}

impl FsObject {
    /// Parses uncompressed JSON.
    pub fn parse_json(json: &[u8]) -> Result<FsObject, ObjectError> {
        let bad = |e: serde_json::Error| ObjectError::BadJson(e.to_string());
        let header: Header = serde_json::from_slice(json).map_err(bad)?;
        if header.version < 1 {
            return Err(ObjectError::UnsupportedVersion(header.version));
        }
        match header.kind {
            TYPE_FILE => {
                let f: FileJson = serde_json::from_slice(json).map_err(bad)?;
                Ok(FsObject::File(SeafFile {
                    block_ids: f.block_ids,
                    size: f.size,
                }))
            }
            TYPE_DIR => {
                let d: DirJson = serde_json::from_slice(json).map_err(bad)?;
                Ok(FsObject::Dir(SeafDir { dirents: d.dirents }))
            }
            other => Err(ObjectError::BadJson(format!(
                "unknown fs object type {other} (1 = file, 3 = dir)"
            ))),
        }
    }

    /// Inflates, checks the id and parses a stored object named `name`.
    pub fn parse_verified(name: &ObjectId, stored: &[u8]) -> Result<FsObject, ObjectError> {
        let json = inflate(stored)?;
        let actual = ObjectId::hash_of(&json);
        if actual != *name {
            return Err(ObjectError::IdMismatch {
                expected: *name,
                actual,
            });
        }
        FsObject::parse_json(&json)
    }

    /// The uncompressed JSON Seafile would write for this object.
    pub fn to_json(&self) -> Vec<u8> {
        match self {
            FsObject::File(f) => crate::json::to_jansson(&FileJson {
                block_ids: f.block_ids.clone(),
                size: f.size,
                kind: TYPE_FILE,
                version: 1,
            }),
            FsObject::Dir(d) => crate::json::to_jansson(&DirJson {
                dirents: d.dirents.clone(),
                kind: TYPE_DIR,
                version: 1,
            }),
        }
    }

    /// The id and the stored (compressed) bytes of this object.
    pub fn encode(&self) -> (ObjectId, Vec<u8>) {
        let json = self.to_json();
        let id = ObjectId::hash_of(&json);
        let mut enc = ZlibEncoder::new(Vec::with_capacity(json.len() / 2 + 16), Compression::default());
        enc.write_all(&json).expect("writing into memory cannot fail");
        (id, enc.finish().expect("writing into memory cannot fail"))
    }
}

impl SeafDir {
    /// Sorts entries the way Seafile stores them: by name, descending byte order.
    pub fn sort_entries(&mut self) {
        self.dirents.sort_by(|a, b| b.name.as_bytes().cmp(a.name.as_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = r#"{"dirents": [{"id": "080d7bf4f919a459ece7063249889d6dba534aa9", "mode": 33188, "modifier": "a@example.com", "mtime": 1795311113, "name": "Ünïcödé 文件 — résumé.txt", "size": 30}, {"id": "da96a37697d7ff01a13c7712badd83ed0eea2f26", "mode": 33188, "modifier": "a@example.com", "mtime": 1795311123, "name": "readme.md", "size": 23}, {"id": "0000000000000000000000000000000000000000", "mode": 33188, "modifier": "a@example.com", "mtime": 1795311108, "name": "empty.txt", "size": 0}, {"id": "b3f4359e71671abd429d6171f13c9ea0dfc9e6c9", "mode": 16384, "mtime": 1795311124, "name": "docs"}, {"id": "c8e9f5f89ca9be5ffd4f41b21ada4271c8ffe7f1", "mode": 16384, "mtime": 1795311122, "name": "big"}], "type": 3, "version": 1}"#;

    #[test]
    fn real_dir_round_trips_to_the_same_id() {
        let obj = FsObject::parse_json(ROOT.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(obj.to_json()).unwrap(), ROOT);
        let (id, stored) = obj.encode();
        assert_eq!(id.to_hex(), "ce674d5679aa14351a8f9e29d4dba58fa416917d");
        assert_eq!(FsObject::parse_verified(&id, &stored).unwrap(), obj);
        let FsObject::Dir(mut d) = obj else { panic!("not a dir") };
        let before = d.clone();
        d.sort_entries();
        assert_eq!(d, before, "Seafile's order is descending by name");
        assert!(d.dirents[3].is_dir() && !d.dirents[0].is_dir());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let obj = FsObject::parse_json(ROOT.as_bytes()).unwrap();
        let (id, stored) = obj.encode();
        let truncated = &stored[..stored.len() / 2];
        assert!(matches!(
            FsObject::parse_verified(&id, truncated),
            Err(ObjectError::BadCompression(_))
        ));
        assert!(matches!(
            FsObject::parse_verified(&id, b"\x00\x00\x00\x03binary v0"),
            Err(ObjectError::BadCompression(_))
        ));
        for json in [
            &br#"{"type": "3", "version": 1}"#[..],
            br#"{"type": 3, "version": 1, "dirents": {"id": 1}}"#,
            br#"{"type": 1, "version": 1, "block_ids": ["../x"], "size": 1}"#,
            br#"{"type": 7, "version": 1}"#,
            b"[1, 2]",
        ] {
            assert!(matches!(FsObject::parse_json(json), Err(ObjectError::BadJson(_))));
        }
        assert!(matches!(
            FsObject::parse_json(br#"{"type": 1, "version": 0, "block_ids": [], "size": 0}"#),
            Err(ObjectError::UnsupportedVersion(0))
        ));
    }
}
