//! Object ids and repo ids.
//!
//! Both are validated on construction, so a value of these types is always safe to put into a
//! storage path or a URL: no `..`, no `/`, no upper case, nothing but the canonical form Seafile
//! writes.

use std::fmt;
use std::str::FromStr;

use sha1::{Digest, Sha1};

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("not an object id (40 lowercase hex characters expected): {0:?}")]
    Object(String),
    #[error("not a library id (a lowercase UUID like 300ca0c9-310b-4344-8289-441bcd1e031c expected): {0:?}")]
    Repo(String),
}

/// Keep error messages short even when the input is huge or hostile.
fn excerpt(s: &str) -> String {
    s.chars().take(80).collect()
}

/// A 20-byte SHA-1 object id, written as 40 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 20]);

impl ObjectId {
    /// The all-zero id: an empty file or an empty directory, with no object on disk.
    pub const ZERO: ObjectId = ObjectId([0; 20]);

    /// Parses the canonical 40-character lowercase hex form.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bytes = s.as_bytes();
        if bytes.len() != 40 || !bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(IdError::Object(excerpt(s)));
        }
        let mut out = [0u8; 20];
        hex::decode_to_slice(bytes, &mut out).map_err(|_| IdError::Object(excerpt(s)))?;
        Ok(ObjectId(out))
    }

    /// The SHA-1 of `data`: the id of a block, or of an fs object's uncompressed JSON.
    pub fn hash_of(data: &[u8]) -> Self {
        Self::from_digest(Sha1::digest(data).into())
    }

    pub fn from_digest(digest: [u8; 20]) -> Self {
        ObjectId(digest)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 20]
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 hex characters, for log lines.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

impl FromStr for ObjectId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for ObjectId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ObjectId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A library (repo) id: a 36-character lowercase UUID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoId([u8; 36]);

impl RepoId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bytes = s.as_bytes();
        let well_formed = bytes.len() == 36
            && bytes.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => matches!(b, b'0'..=b'9' | b'a'..=b'f'),
            });
        if !well_formed {
            return Err(IdError::Repo(excerpt(s)));
        }
        let mut out = [0u8; 36];
        out.copy_from_slice(bytes);
        Ok(RepoId(out))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex and dashes get in through `parse`.
        std::str::from_utf8(&self.0).expect("repo ids are ASCII")
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoId({})", self.as_str())
    }
}

impl FromStr for RepoId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for RepoId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for RepoId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        RepoId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_accept_only_canonical_hex() {
        let id = "ffa520c929912c8b6a5e63d93b9481a2dffa303e";
        assert_eq!(ObjectId::parse(id).unwrap().to_hex(), id);
        for bad in [
            "",
            "../../../../etc/passwd",
            "FFA520C929912C8B6A5E63D93B9481A2DFFA303E",
            "ffa520c929912c8b6a5e63d93b9481a2dffa303",
            "ffa520c929912c8b6a5e63d93b9481a2dffa303e0",
            "ffa520c929912c8b6a5e63d93b9481a2dffa30/e",
            "gfa520c929912c8b6a5e63d93b9481a2dffa303e",
        ] {
            assert!(ObjectId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn repo_ids_accept_only_lowercase_uuids() {
        let id = "300ca0c9-310b-4344-8289-441bcd1e031c";
        assert_eq!(RepoId::parse(id).unwrap().as_str(), id);
        for bad in [
            "300ca0c9-310b-4344-8289-441bcd1e031",
            "300ca0c9/310b-4344-8289-441bcd1e031c",
            "../ca0c9-310b-4344-8289-441bcd1e031c",
            "300CA0C9-310B-4344-8289-441BCD1E031C",
            "300ca0c9310b43448289441bcd1e031c",
        ] {
            assert!(RepoId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn hash_of_empty_is_sha1_of_nothing() {
        assert_eq!(
            ObjectId::hash_of(b"").to_hex(),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }
}
