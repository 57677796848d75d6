//! Where a library's unfinished sync got to, kept across restarts: the newest commit whose
//! batch is durable, in `<data_dir>/seaf-backup/resume/<repo>`.
//!
//! A first copy of a large library is many batches. Without this, a backup killed halfway
//! would ask again from its database head and receive again everything it had already made
//! durable (writing none of it twice, but pulling all of it). With it, the next sync names
//! that commit as a have, and the primary sends only what is newer.
//!
//! It is only a hint, so it is written without a flush: the file names a commit only after
//! that commit's batch is durable, and it is used only when the commit is in the store, which
//! by the closure invariant means its whole history and trees are. A lost or stale file costs
//! a larger pack, never a wrong one.

use std::path::{Path, PathBuf};

use seaf_seafile::{ObjectId, ObjectKind, ObjectStore, RepoId};

/// The newest durable commit of one sync, and where it is remembered.
pub struct Durable {
    newest: Option<ObjectId>,
    file: PathBuf,
}

impl Durable {
    /// The point an earlier, unfinished sync of `repo` reached, if its commit is in the store.
    /// Blocking (a stat and a read of a few bytes).
    pub fn load(store: &ObjectStore, repo: RepoId) -> Durable {
        let file = store.data_dir().join("seaf-backup/resume").join(repo.to_string());
        let newest = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| ObjectId::parse(text.trim()).ok())
            .filter(|id| store.exists(ObjectKind::Commit, &repo, id).unwrap_or(false));
        Durable { newest, file }
    }

    pub fn newest(&self) -> Option<ObjectId> {
        self.newest
    }

    /// `commit`'s batch is durable: it is the point to resume from (the file is written on
    /// the blocking pool, off the runtime).
    pub async fn advance(&mut self, commit: ObjectId) {
        self.newest = Some(commit);
        let file = self.file.clone();
        let saved = tokio::task::spawn_blocking(move || save(&file, commit)).await;
        if let Ok(Err(e)) = saved {
            tracing::debug!(file = %self.file.display(), error = %e, "cannot remember where the sync got to; a restart would ask for more");
        }
    }

    /// The sync is complete: nothing to resume.
    pub async fn finished(self) {
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(&self.file)).await;
    }
}

fn save(file: &Path, commit: ObjectId) -> std::io::Result<()> {
    let dir = file.parent().expect("the file is in a folder");
    std::fs::create_dir_all(dir)?;
    let temp = file.with_extension("tmp");
    std::fs::write(&temp, format!("{commit}\n"))?;
    std::fs::rename(&temp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoId {
        RepoId::parse("300ca0c9-310b-4344-8289-441bcd1e031c").unwrap()
    }

    #[tokio::test]
    async fn a_point_is_used_only_while_its_commit_is_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::new(dir.path());
        let commit = ObjectId::hash_of(b"commit");
        let mut durable = Durable::load(&store, repo());
        assert_eq!(durable.newest(), None);
        durable.advance(commit).await;
        assert_eq!(durable.newest(), Some(commit));
        assert_eq!(
            Durable::load(&store, repo()).newest(),
            None,
            "not in the store: the file alone proves nothing"
        );
        store.write(ObjectKind::Commit, &repo(), &commit, b"{}").unwrap();
        let again = Durable::load(&store, repo());
        assert_eq!(again.newest(), Some(commit), "a restart resumes from it");
        again.finished().await;
        assert_eq!(
            Durable::load(&store, repo()).newest(),
            None,
            "finished: nothing to resume"
        );
    }
}
