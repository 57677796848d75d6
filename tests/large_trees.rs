//! Trees whose levels do not fit one batch answer: the primary defers what passes 16 MiB, and
//! the backup must ask again for deferred fs objects (they are not blocks: `/blocks/{id}`
//! would answer 404, and the library would be failed as "missing on the primary").

use std::time::Duration;

use rand::distributions::Alphanumeric;
use rand::{Rng, SeedableRng};
use seaf_seafile::{Commit, DbKind, Dirent, FsObject, ObjectId, ObjectKind, ObjectStore, SeafDir};
use support::broker::Broker;
use support::site::{generated_primary, Site};

const DIRS: usize = 120;
const ENTRIES: usize = 4_000;

/// One folder of `ENTRIES` empty files with long random names (so it compresses poorly).
fn big_dir(rng: &mut impl Rng) -> (ObjectId, Vec<u8>) {
    let dirents = (0..ENTRIES)
        .map(|_| Dirent {
            id: ObjectId::ZERO,
            mode: 0o100644,
            modifier: Some("a@example.com".into()),
            mtime: 1_700_000_000,
            name: rng.sample_iter(&Alphanumeric).take(100).map(char::from).collect(),
            size: Some(0),
        })
        .collect();
    let mut dir = SeafDir { dirents };
    dir.sort_entries();
    FsObject::Dir(dir).encode()
}

#[test]
fn a_tree_level_of_more_than_32_mib_of_folders_backs_up_completely() {
    let Some(broker) = Broker::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(mut g) = generated_primary(&rt, DbKind::MySql, 1) else {
        return;
    };
    let lib = &mut g.libs[0];
    let store = ObjectStore::new(&g.data);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let (mut level_bytes, mut dirents) = (0usize, Vec::new());
    for i in 0..DIRS {
        let (id, stored) = big_dir(&mut rng);
        level_bytes += stored.len();
        store.write(ObjectKind::Fs, &lib.stores.objects, &id, &stored).unwrap();
        let name = format!("dir{i:04}");
        dirents.push(Dirent {
            id,
            mode: 0o040000,
            modifier: None,
            mtime: 1_700_000_000,
            name,
            size: None,
        });
    }
    assert!(level_bytes > 32 << 20, "the level holds only {level_bytes} bytes");
    let mut root = SeafDir { dirents };
    root.sort_entries();
    let (root_id, stored) = FsObject::Dir(root).encode();
    store
        .write(ObjectKind::Fs, &lib.stores.objects, &root_id, &stored)
        .unwrap();
    let parent = store.read(ObjectKind::Commit, &lib.repo_id, &lib.head).unwrap();
    let mut commit = Commit::parse(&parent).unwrap();
    (commit.root_id, commit.parent_id, commit.second_parent_id) = (root_id, Some(lib.head), None);
    commit.description = "Added 120 large folders".into();
    commit.ctime += 1;
    commit.commit_id = commit.compute_id_c();
    store
        .write(ObjectKind::Commit, &lib.repo_id, &commit.commit_id, &commit.to_stored())
        .unwrap();
    lib.head = commit.commit_id;
    lib.record.head = commit.commit_id;
    let db = rt.block_on(g.test_db.connect());
    rt.block_on(db.write_repo(&lib.record)).unwrap();

    let Some(site) = Site::start(&broker, &g.data, &g.test_db.url, DbKind::MySql, "1h") else {
        return;
    };
    site.wait_converged(Duration::from_secs(300));
    assert_eq!(site.backup_heads().get(&g.libs[0].repo_id), Some(&commit.commit_id));
    let (code, out) = site.verify_backup();
    assert_eq!(code, 0, "{out}");
}
