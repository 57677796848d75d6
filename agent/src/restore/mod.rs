//! Reading one library out of a Seafile data directory and database — the backup's or any
//! other — without a Seafile server: its history ([`history`]) and its tree as of any commit
//! or time ([`tree`]), and a folder or file of it written out as plain files ([`export`]).
//! What users lose is one file or folder; this gets it back.

pub mod crypt;
pub mod export;
pub mod history;
pub mod password;
pub mod tree;

use std::path::PathBuf;

use anyhow::Context;
use seaf_seafile::{ObjectId, ObjectStore, RepoId, RepoStores, SeafileDb};

/// A library as the store holds it: where its objects are and its newest commit.
#[derive(Debug, Clone)]
pub struct Library {
    pub store: ObjectStore,
    pub stores: RepoStores,
    pub head: ObjectId,
    /// In the trash (`RepoTrash`) rather than live (`Branch`).
    pub in_trash: bool,
}

/// A library, a folder or file in it, and a point of its history (`--at`): what `ls` and
/// `export` are asked for.
pub struct Point {
    pub library: String,
    pub path: String,
    /// A commit id or prefix, or an RFC 3339 time; `None` for the head.
    pub at: Option<String>,
}

impl Point {
    /// `--at` parsed.
    pub fn at(&self) -> anyhow::Result<tree::At> {
        Ok(self
            .at
            .as_deref()
            .map(tree::At::parse)
            .transpose()?
            .unwrap_or(tree::At::Head))
    }
}

/// Where to read: a configuration file's storage side, or a data directory and database.
pub struct Source {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

impl Source {
    /// The data directory and database URL it names.
    pub fn resolve(self) -> anyhow::Result<(PathBuf, String)> {
        match self {
            Source {
                data_dir: Some(dir),
                database_url: Some(url),
                ..
            } => Ok((dir, url)),
            Source { config: Some(path), .. } => crate::config::Config::load(&path)?.storage_side(),
            _ => anyhow::bail!("give either -c FILE or both --data-dir and --database-url"),
        }
    }
}

/// Opens `repo` (a library id): its live head, or its head in the trash.
pub async fn open(source: Source, repo: &str) -> anyhow::Result<Library> {
    let repo = RepoId::parse(repo).with_context(|| format!("{repo:?} is not a library id"))?;
    let (data_dir, url) = source.resolve()?;
    anyhow::ensure!(
        data_dir.join("storage").is_dir(),
        "{} has no storage/ folder: point at the seafile-data directory",
        data_dir.display()
    );
    let db = SeafileDb::connect(&url).await?;
    let live = db.head(&repo).await?;
    let trashed = match live {
        Some(_) => None,
        None => db.trashed_repos().await?.into_iter().find(|t| t.repo_id == repo),
    };
    let origin = db.virtual_origins().await?.get(&repo).copied();
    db.close().await;
    let (head, in_trash) = match (live, trashed.and_then(|t| t.head_id)) {
        (Some(h), _) => (h, false),
        (None, Some(h)) => (h, true),
        (None, None) => anyhow::bail!("library {repo} has no head in the database, live or in the trash"),
    };
    Ok(Library {
        store: ObjectStore::new(data_dir),
        stores: RepoStores::new(repo, origin),
        head,
        in_trash,
    })
}

#[cfg(test)]
mod encrypted_tests;

#[cfg(test)]
mod tests {
    use seaf_testgen::{Generator, LibrarySpec};

    use seaf_seafile::ObjectKind;

    use super::history::history;
    use super::tree::{lookup, resolve, At, Found};
    use super::*;

    fn library(gen: &Generator, lib: &seaf_testgen::GeneratedLibrary) -> Library {
        Library {
            store: gen.store().clone(),
            stores: lib.stores,
            head: lib.head,
            in_trash: false,
        }
    }

    #[test]
    fn a_merge_history_is_listed_whole_newest_first_with_merges_marked() {
        let dir = tempfile::tempdir().unwrap();
        let mut gen = Generator::new(dir.path(), 3);
        let lib = gen.create_library(LibrarySpec::rich("Merged")).unwrap();
        let l = library(&gen, &lib);
        let all = history(&l, None).unwrap();
        assert_eq!(all.len(), lib.commits.len());
        assert_eq!(all[0].id, lib.head);
        assert!(all.windows(2).all(|w| w[0].ctime >= w[1].ctime), "newest first");
        let merges: Vec<ObjectId> = all.iter().filter(|e| e.is_merge()).map(|e| e.id).collect();
        assert_eq!(merges.len(), lib.merge_commits.len());
        assert_eq!(history(&l, Some(3)).unwrap().len(), 3);
    }

    #[test]
    fn a_tree_at_head_and_at_an_older_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut gen = Generator::new(dir.path(), 4);
        let mut lib = gen.create_library(LibrarySpec::small("Tree")).unwrap();
        let old = library(&gen, &lib);
        let old_files = lib.files.clone();
        gen.update_library(&mut lib, 3).unwrap();
        let l = library(&gen, &lib);
        for (at, files) in [
            (At::Head, &lib.files),
            (At::Commit(old.head.to_hex()[..8].into()), &old_files),
        ] {
            let commit = resolve(&l, &at).unwrap();
            for (path, want) in files {
                let Found::File(item) = lookup(&l, commit.root, path).unwrap() else {
                    panic!("{path} is not a file")
                };
                assert_eq!((item.size, item.id), (want.size, want.file_id), "{path} at {at:?}");
            }
            let Found::Dir { items, .. } = lookup(&l, commit.root, "/").unwrap() else {
                panic!("the root is a folder")
            };
            let top: std::collections::BTreeSet<&str> = files
                .keys()
                .map(|p| p.trim_start_matches('/').split('/').next().unwrap())
                .collect();
            for name in top {
                assert!(items.iter().any(|i| i.name == name), "{name} at {at:?}");
            }
        }
        let first = history(&l, None).unwrap().pop().unwrap();
        assert_eq!(resolve(&l, &At::Time(first.ctime)).unwrap().id, first.id);
        assert!(
            resolve(&l, &At::Time(first.ctime - 1)).is_err(),
            "before the first commit"
        );
        assert!(lookup(&l, first.root, "/no/such/file").is_err());
    }

    fn sha1_of(path: &std::path::Path) -> ObjectId {
        ObjectId::hash_of(&std::fs::read(path).unwrap())
    }

    #[test]
    fn export_writes_what_seafile_would_serve_at_head_and_as_of_before() {
        let dir = tempfile::tempdir().unwrap();
        let mut gen = Generator::new(dir.path(), 5);
        let mut lib = gen.create_library(LibrarySpec::rich("Export")).unwrap();
        let old_head = lib.head;
        let old_files = lib.files.clone();
        gen.update_library(&mut lib, 6).unwrap();
        let l = library(&gen, &lib);
        let quiet = |_: u64| {};
        for (at, files) in [(At::Head, &lib.files), (At::Commit(old_head.to_hex()), &old_files)] {
            let out = tempfile::tempdir().unwrap();
            let commit = resolve(&l, &at).unwrap();
            let found = lookup(&l, commit.root, "/").unwrap();
            let done = export::export(&l, &found, "", out.path(), export::Options::default(), &quiet).unwrap();
            assert_eq!(done.files as usize, files.len());
            for (path, want) in files {
                let got = out.path().join(path.trim_start_matches('/'));
                assert_eq!(std::fs::metadata(&got).unwrap().len(), want.size, "{path}");
                assert_eq!(sha1_of(&got), want.sha1, "{path} at {at:?}");
            }
            // Again: refused, unless asked.
            let again = export::export(&l, &found, "", out.path(), export::Options::default(), &quiet);
            assert!(again.unwrap_err().to_string().contains("--overwrite"));
            let options = export::Options {
                overwrite: true,
                ..Default::default()
            };
            export::export(&l, &found, "", out.path(), options, &quiet).unwrap();
        }
        // One file, into a folder.
        let (path, want) = lib.files.iter().find(|(_, f)| f.size > 0).unwrap();
        let out = tempfile::tempdir().unwrap();
        let found = lookup(&l, resolve(&l, &At::Head).unwrap().root, path).unwrap();
        let name = path.rsplit('/').next().unwrap();
        export::export(&l, &found, name, out.path(), export::Options::default(), &quiet).unwrap();
        assert_eq!(sha1_of(&out.path().join(name)), want.sha1);
    }

    /// A library written by hand: `a.txt` edited twice, `b.txt` deleted and then back.
    struct Hand {
        store: ObjectStore,
        repo: RepoId,
    }

    impl Hand {
        fn file(&self, content: &[u8]) -> (ObjectId, u64) {
            let block = ObjectId::hash_of(content);
            self.store
                .write(ObjectKind::Block, &self.repo, &block, content)
                .unwrap();
            let file = seaf_seafile::FsObject::File(seaf_seafile::SeafFile {
                block_ids: vec![block],
                size: content.len() as u64,
            });
            let (id, bytes) = file.encode();
            self.store.write(ObjectKind::Fs, &self.repo, &id, &bytes).unwrap();
            (id, content.len() as u64)
        }

        fn root(&self, files: &[(&str, &[u8])]) -> ObjectId {
            let mut dirents: Vec<seaf_seafile::Dirent> = files
                .iter()
                .map(|(name, content)| {
                    let (id, size) = self.file(content);
                    seaf_seafile::Dirent {
                        id,
                        mode: 0o100644,
                        modifier: Some("owner@example.com".into()),
                        mtime: 1_700_000_000,
                        name: name.to_string(),
                        size: Some(size),
                    }
                })
                .collect();
            dirents.sort_by(|a, b| b.name.cmp(&a.name));
            let (id, bytes) = seaf_seafile::FsObject::Dir(seaf_seafile::SeafDir { dirents }).encode();
            self.store.write(ObjectKind::Fs, &self.repo, &id, &bytes).unwrap();
            id
        }

        fn commit(&self, files: &[(&str, &[u8])], parent: Option<ObjectId>, ctime: i64) -> ObjectId {
            let root = self.root(files);
            let id = ObjectId::hash_of(&ctime.to_be_bytes());
            let parent = parent.map_or("null".to_string(), |p| format!("\"{p}\""));
            let json = format!(
                r#"{{"commit_id": "{id}", "root_id": "{root}", "repo_id": "{}", "creator": "x", "creator_name": "owner@example.com", "description": "edit", "ctime": {ctime}, "parent_id": {parent}, "version": 1}}"#,
                self.repo
            );
            self.store
                .write(ObjectKind::Commit, &self.repo, &id, json.as_bytes())
                .unwrap();
            id
        }
    }

    /// What `export` writes of the whole library as of `at`: name → content.
    fn exported_at(l: &Library, at: At) -> std::collections::BTreeMap<String, Vec<u8>> {
        let out = tempfile::tempdir().unwrap();
        let commit = resolve(l, &at).unwrap();
        let found = lookup(l, commit.root, "/").unwrap();
        export::export(l, &found, "", out.path(), export::Options::default(), &|_| {}).unwrap();
        std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn export_at_a_time_gives_that_times_content() {
        let dir = tempfile::tempdir().unwrap();
        let hand = Hand {
            store: ObjectStore::new(dir.path()),
            repo: RepoId::parse("300ca0c9-310b-4344-8289-441bcd1e031c").unwrap(),
        };
        let c1 = hand.commit(&[("a.txt", b"v1"), ("b.txt", b"here")], None, 1000);
        let c2 = hand.commit(&[("a.txt", b"v2")], Some(c1), 2000);
        let c3 = hand.commit(&[("a.txt", b"v3"), ("b.txt", b"here")], Some(c2), 3000);
        let l = Library {
            store: hand.store.clone(),
            stores: RepoStores::new(hand.repo, None),
            head: c3,
            in_trash: false,
        };
        let files = |pairs: &[(&str, &[u8])]| {
            pairs
                .iter()
                .map(|(n, c)| (n.to_string(), c.to_vec()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        assert_eq!(
            exported_at(&l, At::Time(1500)),
            files(&[("a.txt", b"v1"), ("b.txt", b"here")])
        );
        assert_eq!(
            exported_at(&l, At::Time(2500)),
            files(&[("a.txt", b"v2")]),
            "b.txt deleted"
        );
        assert_eq!(
            exported_at(&l, At::Head),
            files(&[("a.txt", b"v3"), ("b.txt", b"here")]),
            "b.txt back"
        );
        assert_eq!(
            exported_at(&l, At::Time(2000)),
            exported_at(&l, At::Commit(c2.to_hex()))
        );
    }

    #[test]
    fn export_refuses_a_damaged_block() {
        let dir = tempfile::tempdir().unwrap();
        let mut gen = Generator::new(dir.path(), 6);
        let lib = gen.create_library(LibrarySpec::small("Rot")).unwrap();
        let l = library(&gen, &lib);
        let block = gen.store().list(ObjectKind::Block, &lib.stores.objects).unwrap()[0];
        std::fs::write(gen.store().path(ObjectKind::Block, &lib.stores.objects, &block), b"rot").unwrap();
        let out = tempfile::tempdir().unwrap();
        let found = lookup(&l, resolve(&l, &At::Head).unwrap().root, "/").unwrap();
        let err = export::export(&l, &found, "", out.path(), export::Options::default(), &|_| {}).unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
    }

    #[test]
    fn at_reads_commits_and_times() {
        assert_eq!(At::parse("4F1A2B3C").unwrap(), At::Commit("4f1a2b3c".into()));
        assert_eq!(At::parse("1970-01-01T00:01:00Z").unwrap(), At::Time(60));
        assert!(At::parse("yesterday").is_err());
    }
}
