//! Commit objects: plain JSON, stored uncompressed under `storage/commits/<repo>/`.
//!
//! A commit's id is not a hash of its stored bytes. Seafile's C server hashes the root id, the
//! creator id, the creator name and the description (each followed by a NUL) and the ctime as a
//! big-endian i64; the Go fileserver hashes the same fields without the NULs. Real data is accepted
//! when its JSON `commit_id` equals the name it is stored under; the formulas are a further check.

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::id::{ObjectId, RepoId};
use crate::object::ObjectError;

/// The fields of a commit that backup and verification need, plus what Seafile writes so that
/// generated commits look exactly like real ones.
///
/// Field order is Seafile's write order (jansson keeps insertion order for commits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub commit_id: ObjectId,
    pub root_id: ObjectId,
    pub repo_id: RepoId,
    #[serde(default)]
    pub creator_name: Option<String>,
    pub creator: String,
    pub description: String,
    pub ctime: i64,
    #[serde(default)]
    pub parent_id: Option<ObjectId>,
    #[serde(default)]
    pub second_parent_id: Option<ObjectId>,
    #[serde(default)]
    pub repo_name: String,
    #[serde(default)]
    pub repo_desc: String,
    #[serde(default)]
    pub repo_category: Option<String>,
    /// Seafile writes the string `"true"` here for encrypted libraries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enc_version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub magic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default)]
    pub no_local_history: i64,
    #[serde(default)]
    pub version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_merge: Option<i64>,
}

/// Which id formula a commit's id matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdFormula {
    /// seaf-server (C): fields joined with NULs.
    C,
    /// The Go fileserver: the same fields without NULs.
    Go,
    /// Neither: the JSON id matches the name, but the content cannot be checked against it.
    Unverified,
}

impl Commit {
    /// Parses a stored commit. Rejects version-0 libraries, whose fs objects this tool cannot read.
    pub fn parse(stored: &[u8]) -> Result<Commit, ObjectError> {
        let commit: Commit = serde_json::from_slice(stored).map_err(|e| ObjectError::BadJson(e.to_string()))?;
        if commit.version < 1 {
            return Err(ObjectError::UnsupportedVersion(commit.version));
        }
        Ok(commit)
    }

    /// Parses and checks a commit stored under `name`: its JSON `commit_id` must equal the name.
    pub fn parse_verified(name: &ObjectId, stored: &[u8]) -> Result<(Commit, IdFormula), ObjectError> {
        let commit = Commit::parse(stored)?;
        if commit.commit_id != *name {
            return Err(ObjectError::IdMismatch {
                expected: *name,
                actual: commit.commit_id,
            });
        }
        let formula = commit.id_formula();
        Ok((commit, formula))
    }

    /// The parents: `parent_id`, then `second_parent_id` for merges.
    pub fn parents(&self) -> impl Iterator<Item = ObjectId> + '_ {
        self.parent_id.into_iter().chain(self.second_parent_id)
    }

    /// The id seaf-server (C) computes for these fields.
    pub fn compute_id_c(&self) -> ObjectId {
        self.compute_id(true)
    }

    /// The id the Go fileserver computes for these fields.
    pub fn compute_id_go(&self) -> ObjectId {
        self.compute_id(false)
    }

    fn compute_id(&self, with_nul: bool) -> ObjectId {
        let mut h = Sha1::new();
        let creator_name = self.creator_name.as_deref().unwrap_or("");
        for field in [
            self.root_id.to_hex().as_str(),
            self.creator.as_str(),
            creator_name,
            self.description.as_str(),
        ] {
            h.update(field.as_bytes());
            if with_nul {
                h.update([0u8]);
            }
        }
        h.update(self.ctime.to_be_bytes());
        ObjectId::from_digest(h.finalize().into())
    }

    /// Which formula reproduces `commit_id`, if any.
    pub fn id_formula(&self) -> IdFormula {
        if self.compute_id_c() == self.commit_id {
            IdFormula::C
        } else if self.compute_id_go() == self.commit_id {
            IdFormula::Go
        } else {
            IdFormula::Unverified
        }
    }

    /// The stored form, as seaf-server writes it.
    pub fn to_stored(&self) -> Vec<u8> {
        crate::json::to_jansson(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MERGE: &str = r#"{"commit_id": "ffa520c929912c8b6a5e63d93b9481a2dffa303e", "root_id": "ce674d5679aa14351a8f9e29d4dba58fa416917d", "repo_id": "300ca0c9-310b-4344-8289-441bcd1e031c", "creator_name": "a@example.com", "creator": "0000000000000000000000000000000000000000", "description": "Auto merge by system", "ctime": 1795311124, "parent_id": "26c9ee0c97f68c1797afd7d37dedfd511ece8434", "second_parent_id": "f0764838964361402d7aa17cc0528704b3e50c92", "repo_name": "Documents", "repo_desc": "plain library with history and a merge commit", "repo_category": null, "no_local_history": 1, "version": 1, "new_merge": 1}"#;

    #[test]
    fn real_merge_commit_parses_verifies_and_round_trips() {
        let name = ObjectId::parse("ffa520c929912c8b6a5e63d93b9481a2dffa303e").unwrap();
        let (c, formula) = Commit::parse_verified(&name, MERGE.as_bytes()).unwrap();
        assert_eq!(formula, IdFormula::C);
        assert_eq!(c.parents().count(), 2);
        assert_eq!(String::from_utf8(c.to_stored()).unwrap(), MERGE);
    }

    #[test]
    fn wrong_name_is_an_id_mismatch() {
        let other = ObjectId::parse("26c9ee0c97f68c1797afd7d37dedfd511ece8434").unwrap();
        let err = Commit::parse_verified(&other, MERGE.as_bytes()).unwrap_err();
        assert!(matches!(err, ObjectError::IdMismatch { .. }), "{err}");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"{",
            b"[]",
            b"{\"commit_id\": 5}",
            b"\xff\xfe",
            br#"{"commit_id": "../../etc/passwd", "root_id": "x"}"#,
        ] {
            assert!(Commit::parse(bad).is_err());
        }
        let v0 = MERGE.replace("\"version\": 1", "\"version\": 0");
        assert!(matches!(
            Commit::parse(v0.as_bytes()),
            Err(ObjectError::UnsupportedVersion(0))
        ));
    }
}
