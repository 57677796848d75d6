//! The one path every object takes from the primary: asked for in batches, the answer checked
//! against the question, each id verified against the bytes, and what fails skipped (with
//! `--force`) or turned into the error that stops the sync.

use std::collections::HashMap;

use seaf_seafile::{Commit, FsObject, ObjectError, ObjectId, ObjectKind};

use super::remote::{Fetched, Remote, RemoteError};
use super::report::{ReplicateError, SyncOptions, SyncReport};

/// Ids asked for per request.
pub const BATCH: usize = 500;

/// An object to fetch, with where it was found (for messages).
#[derive(Debug, Clone)]
pub struct Wanted {
    pub id: ObjectId,
    pub path: Option<String>,
}

/// An object whose bytes match its id.
pub struct Verified {
    pub id: ObjectId,
    pub bytes: Vec<u8>,
    pub object: Parsed,
    pub path: Option<String>,
}

/// What a verified object turned out to be.
pub enum Parsed {
    Commit(Box<Commit>),
    Fs(FsObject),
    Block,
}

/// Fetches and verifies `wanted` (`kind` objects), `BATCH` ids a request. With `force`,
/// missing and corrupt objects are left out and recorded in `report`.
pub async fn fetch_verified<R: Remote>(
    remote: &R,
    kind: ObjectKind,
    wanted: &[Wanted],
    options: SyncOptions,
    report: &mut SyncReport,
) -> Result<Vec<Verified>, ReplicateError> {
    let mut out = Vec::with_capacity(wanted.len());
    for chunk in wanted.chunks(BATCH) {
        let ids: Vec<ObjectId> = chunk.iter().map(|w| w.id).collect();
        let answer = in_request_order(kind, &ids, remote.fetch(kind, &ids).await?)?;
        for (w, bytes) in chunk.iter().zip(answer) {
            match verify(kind, w, bytes) {
                Ok(v) => out.push(v),
                Err(e) => report.skip_or_fail(options, e)?,
            }
        }
    }
    Ok(out)
}

/// The answer as one entry per id asked, in the order asked. An id not asked for, answered
/// twice, or left out breaks the protocol: accepting a short answer would let the head move
/// over a hole.
fn in_request_order(
    kind: ObjectKind,
    ids: &[ObjectId],
    answer: Vec<Fetched>,
) -> Result<Vec<Option<Vec<u8>>>, RemoteError> {
    let asked = ids.len();
    let mut by_id: HashMap<ObjectId, Option<Vec<u8>>> = HashMap::with_capacity(asked);
    for (id, bytes) in answer {
        if !ids.contains(&id) {
            return Err(protocol(format!("it sent {kind} object {id}, which was not asked for")));
        }
        if by_id.insert(id, bytes).is_some() {
            return Err(protocol(format!("it sent {kind} object {id} twice")));
        }
    }
    ids.iter()
        .map(|id| {
            by_id
                .remove(id)
                .ok_or_else(|| protocol(format!("its answer for {asked} {kind} objects left out {id}")))
        })
        .collect()
}

fn protocol(detail: String) -> RemoteError {
    RemoteError::Protocol { detail }
}

/// Checks one object's bytes against its id.
fn verify(kind: ObjectKind, wanted: &Wanted, bytes: Option<Vec<u8>>) -> Result<Verified, ReplicateError> {
    let (id, path) = (wanted.id, wanted.path.clone());
    let Some(bytes) = bytes else {
        return Err(ReplicateError::MissingOnPrimary { kind, id, path });
    };
    let parsed = match kind {
        ObjectKind::Commit => Commit::parse_verified(&id, &bytes).map(|(c, _formula)| Parsed::Commit(Box::new(c))),
        ObjectKind::Fs => FsObject::parse_verified(&id, &bytes).map(Parsed::Fs),
        ObjectKind::Block => match ObjectId::hash_of(&bytes) {
            actual if actual == id => Ok(Parsed::Block),
            actual => Err(ObjectError::IdMismatch { expected: id, actual }),
        },
    };
    match parsed {
        Ok(object) => Ok(Verified {
            id,
            bytes,
            object,
            path,
        }),
        Err(error) => Err(ReplicateError::Corrupt { kind, id, path, error }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::hash_of(&[n])
    }

    #[test]
    fn answers_must_match_the_question() {
        let ids = [id(1), id(2)];
        let ok = in_request_order(ObjectKind::Block, &ids, vec![(id(2), None), (id(1), Some(vec![1]))]).unwrap();
        assert_eq!(ok, vec![Some(vec![1]), None], "reordered to the question's order");
        let short = in_request_order(ObjectKind::Block, &ids, vec![(id(1), Some(vec![1]))]).unwrap_err();
        assert!(short.to_string().contains("left out"), "{short}");
        let extra = in_request_order(ObjectKind::Fs, &ids[..1], vec![(id(1), None), (id(3), None)]).unwrap_err();
        assert!(extra.to_string().contains("not asked for"), "{extra}");
        let twice = in_request_order(ObjectKind::Commit, &ids, vec![(id(1), None), (id(1), None)]).unwrap_err();
        assert!(twice.to_string().contains("twice"), "{twice}");
    }

    #[test]
    fn blocks_are_checked_against_their_hash() {
        let good = Wanted {
            id: ObjectId::hash_of(b"data"),
            path: Some("/a".into()),
        };
        assert!(matches!(
            verify(ObjectKind::Block, &good, Some(b"data".to_vec())).unwrap().object,
            Parsed::Block
        ));
        let bad = verify(ObjectKind::Block, &good, Some(b"date".to_vec())).err().unwrap();
        assert!(matches!(bad, ReplicateError::Corrupt { .. }), "{bad}");
        let gone = verify(ObjectKind::Block, &good, None).err().unwrap();
        assert!(
            gone.to_string().contains("missing on the primary (at \"/a\")"),
            "{gone}"
        );
    }
}
