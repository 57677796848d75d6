//! Exporting encrypted libraries of every enc_version and password check, built here with the
//! test encryptor (`crypt::seal`) the way Seafile lays them out: plain fs objects with plaintext
//! sizes, blocks of ciphertext named by its SHA-1, encryption fields in every commit.

use std::collections::BTreeMap;
use std::path::Path;

use seaf_seafile::{
    Commit, Dirent, FsObject, ObjectId, ObjectKind, ObjectStore, RepoId, RepoStores, SeafDir, SeafFile,
};

use super::crypt::pwd_hash::{ARGON2ID, PBKDF2_SHA256};
use super::crypt::seal::{self, Check};
use super::crypt::{BlockKey, EncInfo};
use super::export::{export, Options};
use super::history::history;
use super::password::library_key;
use super::tree::{lookup, resolve, At};
use super::Library;

const REPO: &str = "5b0e3c1a-7d2f-4e8a-9b6c-1f2e3d4c5b6a";
const PASSWORD: &str = "s3cret, with spaces";
const BLOCK: usize = 1000;

fn secret() -> [u8; 32] {
    std::array::from_fn(|i| 7 * i as u8 + 3)
}

fn salt() -> [u8; 32] {
    std::array::from_fn(|i| 255 - i as u8)
}

/// What the library holds, by path.
fn files() -> BTreeMap<&'static str, Vec<u8>> {
    let big: Vec<u8> = (0..2 * BLOCK + 37).map(|i| (i * 31 % 251) as u8).collect();
    BTreeMap::from([
        ("notes.txt", b"an encrypted note\n".to_vec()),
        ("empty.txt", Vec::new()),
        ("exact.bin", vec![0x5a; 16]),
        ("sub/big.bin", big),
    ])
}

/// Writes one encrypted library into `dir`: one commit.
fn library(dir: &Path, enc_version: i64, check: Check<'_>) -> Library {
    library_with(dir, enc_version, &[(PASSWORD, check)], 0)
}

/// Writes an encrypted library into `dir`: the same tree in one commit per password (the
/// password changed between them), its folders listing each file `listed_extra` bytes bigger
/// than it is.
fn library_with(dir: &Path, enc_version: i64, passwords: &[(&str, Check<'_>)], listed_extra: u64) -> Library {
    let store = ObjectStore::new(dir);
    store.prepare_data_dir().unwrap();
    let repo = RepoId::parse(REPO).unwrap();
    let root = write_tree(
        &store,
        &repo,
        &seal::block_key(enc_version, &secret(), &salt()),
        listed_extra,
    );
    let mut head = None;
    for (i, (password, check)) in passwords.iter().enumerate() {
        let enc = seal::enc_info(enc_version, REPO, password, &secret(), &salt(), *check);
        head = Some(write_commit(&store, repo, root, head, 1000 + i as i64, enc));
    }
    Library {
        store,
        stores: RepoStores::new(repo, None),
        head: head.expect("at least one password"),
        in_trash: false,
    }
}

/// [`files`] as ciphertext blocks, plain file objects and folders; returns the root's id.
fn write_tree(store: &ObjectStore, repo: &RepoId, key: &BlockKey, listed_extra: u64) -> ObjectId {
    let mut top = Vec::new();
    let mut sub = Vec::new();
    for (path, plain) in files() {
        let mut block_ids = Vec::new();
        for chunk in plain.chunks(BLOCK) {
            let cipher = seal::encrypt(key, chunk);
            let id = ObjectId::hash_of(&cipher);
            store.write(ObjectKind::Block, repo, &id, &cipher).unwrap();
            block_ids.push(id);
        }
        let size = plain.len() as u64;
        let id = match plain.is_empty() {
            true => ObjectId::ZERO,
            false => write_fs(store, repo, FsObject::File(SeafFile { block_ids, size })),
        };
        let (dir, name) = match path.split_once('/') {
            Some((_, name)) => (&mut sub, name),
            None => (&mut top, path),
        };
        dir.push(dirent(id, 0o100644, name, Some(size + listed_extra)));
    }
    let sub_id = write_fs(store, repo, FsObject::Dir(SeafDir { dirents: sub }));
    top.push(dirent(sub_id, 0o040000, "sub", None));
    write_fs(store, repo, FsObject::Dir(SeafDir { dirents: top }))
}

fn dirent(id: ObjectId, mode: u32, name: &str, size: Option<u64>) -> Dirent {
    Dirent {
        id,
        mode,
        modifier: size.map(|_| "a@example.com".into()),
        mtime: 1_700_000_000,
        name: name.into(),
        size,
    }
}

fn write_fs(store: &ObjectStore, repo: &RepoId, mut object: FsObject) -> ObjectId {
    if let FsObject::Dir(d) = &mut object {
        d.sort_entries();
    }
    let (id, stored) = object.encode();
    store.write(ObjectKind::Fs, repo, &id, &stored).unwrap();
    id
}

/// A commit as Seafile writes one for an encrypted library: the usual fields plus the
/// encryption fields.
fn write_commit(
    store: &ObjectStore,
    repo: RepoId,
    root: ObjectId,
    parent: Option<ObjectId>,
    ctime: i64,
    enc: EncInfo,
) -> ObjectId {
    let mut commit = Commit {
        commit_id: ObjectId::ZERO,
        root_id: root,
        repo_id: repo,
        creator_name: Some("a@example.com".into()),
        creator: "0".repeat(40),
        description: "Added files".into(),
        ctime,
        parent_id: parent,
        second_parent_id: None,
        repo_name: "Vault".into(),
        repo_desc: String::new(),
        repo_category: None,
        encrypted: Some("true".into()),
        enc_version: None,
        magic: None,
        key: None,
        no_local_history: 1,
        version: 1,
        new_merge: None,
    };
    commit.commit_id = commit.compute_id_c();
    let mut json = serde_json::to_value(&commit).unwrap();
    let fields = serde_json::to_value(&enc).unwrap();
    json.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    let stored = serde_json::to_vec(&json).unwrap();
    store
        .write(ObjectKind::Commit, &repo, &commit.commit_id, &stored)
        .unwrap();
    commit.commit_id
}

fn export_all(lib: &Library, password: Option<&str>, to: &Path) -> anyhow::Result<u64> {
    export_at(lib, &At::Head, password, to)
}

fn export_at(lib: &Library, at: &At, password: Option<&str>, to: &Path) -> anyhow::Result<u64> {
    let commit = resolve(lib, at)?;
    let key = library_key(lib, &commit.id, password)?;
    let found = lookup(lib, commit.root, "/")?;
    let options = Options {
        key: key.as_ref(),
        ..Default::default()
    };
    Ok(export(lib, &found, "", to, options, &|_| {})?.bytes)
}

const VARIANTS: [(i64, Check<'static>); 8] = [
    (2, Check::Magic),
    (3, Check::Magic),
    (4, Check::Magic),
    (2, Check::PwdHash(PBKDF2_SHA256, "1000")),
    (3, Check::PwdHash(PBKDF2_SHA256, "2000")),
    (4, Check::PwdHash(PBKDF2_SHA256, "1000")),
    (3, Check::PwdHash(ARGON2ID, "2,64,2")),
    (4, Check::PwdHash(ARGON2ID, "2,64,1")),
];

#[test]
fn every_enc_version_and_password_check_exports_the_plaintext() {
    for (v, check) in VARIANTS {
        let dir = tempfile::tempdir().unwrap();
        let lib = library(dir.path(), v, check);
        let out = tempfile::tempdir().unwrap();
        let bytes = export_all(&lib, Some(PASSWORD), out.path()).unwrap_or_else(|e| panic!("v{v} {check:?}: {e:#}"));
        let want = files();
        assert_eq!(bytes, want.values().map(|f| f.len() as u64).sum::<u64>());
        for (path, plain) in want {
            assert_eq!(
                std::fs::read(out.path().join(path)).unwrap(),
                plain,
                "{path}, v{v} {check:?}"
            );
        }
    }
}

#[test]
fn a_wrong_or_missing_password_is_refused_before_anything_is_written() {
    for (v, check) in [VARIANTS[1], VARIANTS[7]] {
        let dir = tempfile::tempdir().unwrap();
        let lib = library(dir.path(), v, check);
        let to = dir.path().join("restore");
        let err = export_all(&lib, Some("not it"), &to).unwrap_err();
        assert!(err.to_string().contains("wrong password"), "{err:#}");
        let err = export_all(&lib, None, &to).unwrap_err();
        assert!(err.to_string().contains("--password-file"), "{err:#}");
        assert!(!to.exists(), "nothing is written");
    }
}

#[test]
fn a_damaged_ciphertext_block_is_caught_by_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let lib = library(dir.path(), 4, Check::Magic);
    let block = lib.store.list(ObjectKind::Block, &lib.stores.objects).unwrap()[0];
    let path = lib.store.path(ObjectKind::Block, &lib.stores.objects, &block);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let err = export_all(&lib, Some(PASSWORD), &dir.path().join("restore")).unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err:#}");
}

#[test]
fn after_a_password_change_an_old_commit_opens_with_either_password() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = [
        ("old password", Check::Magic),
        ("new password", Check::PwdHash(ARGON2ID, "2,64,1")),
    ];
    let lib = library_with(dir.path(), 4, &passwords, 0);
    let first = At::Commit(history(&lib, None).unwrap().last().unwrap().id.to_hex());
    for password in ["old password", "new password"] {
        let out = tempfile::tempdir().unwrap();
        export_at(&lib, &first, Some(password), out.path()).unwrap_or_else(|e| panic!("{password}: {e:#}"));
        assert_eq!(
            std::fs::read(out.path().join("notes.txt")).unwrap(),
            files()["notes.txt"]
        );
    }
    let err = export_all(&lib, Some("old password"), &dir.path().join("restore")).unwrap_err();
    assert!(err.to_string().contains("wrong password"), "{err:#}");
}

#[test]
fn a_folder_listing_another_size_than_the_decrypted_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lib = library_with(dir.path(), 3, &[(PASSWORD, Check::Magic)], 1);
    let err = export_all(&lib, Some(PASSWORD), &dir.path().join("restore")).unwrap_err();
    assert!(err.to_string().contains("inconsistent"), "{err:#}");
}

#[test]
fn a_virtual_library_of_an_encrypted_one_reads_its_origins_blocks() {
    // Seafile gives a virtual library its own magic (over its own id) and the origin's key.
    const VIRTUAL: &str = "9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStore::new(dir.path());
    store.prepare_data_dir().unwrap();
    let (origin, repo) = (RepoId::parse(REPO).unwrap(), RepoId::parse(VIRTUAL).unwrap());
    let root = write_tree(&store, &origin, &seal::block_key(3, &secret(), &salt()), 0);
    let enc = seal::enc_info(3, VIRTUAL, PASSWORD, &secret(), &salt(), Check::Magic);
    let head = write_commit(&store, repo, root, None, 1000, enc);
    let lib = Library {
        store,
        stores: RepoStores::new(repo, Some(origin)),
        head,
        in_trash: false,
    };
    let out = tempfile::tempdir().unwrap();
    export_all(&lib, Some(PASSWORD), out.path()).unwrap();
    assert_eq!(
        std::fs::read(out.path().join("sub/big.bin")).unwrap(),
        files()["sub/big.bin"]
    );
}

#[test]
fn enc_version_1_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStore::new(dir.path());
    store.prepare_data_dir().unwrap();
    let repo = RepoId::parse(REPO).unwrap();
    let root = write_fs(&store, &repo, FsObject::Dir(SeafDir { dirents: Vec::new() }));
    let mut enc = seal::enc_info(2, REPO, PASSWORD, &secret(), &salt(), Check::Magic);
    enc.enc_version = 1;
    let head = write_commit(&store, repo, root, None, 1000, enc);
    let lib = Library {
        store,
        stores: RepoStores::new(repo, None),
        head,
        in_trash: false,
    };
    let err = export_all(&lib, Some(PASSWORD), &dir.path().join("restore")).unwrap_err();
    assert!(err.to_string().contains("enc_version 1 is not supported"), "{err:#}");
    assert!(err.to_string().contains("Seafile server"), "{err:#}");
}
