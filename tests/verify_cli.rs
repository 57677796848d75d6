//! `seaf-backup verify` on the real fixture: clean as shipped, on all three databases, and
//! naming exactly the problem after one block is deleted, one fs object truncated, or one byte
//! of a commit changed.

use std::path::Path;

use seaf_seafile::{Commit, ObjectId, ObjectKind, RepoId, RepoStores, SeafileDb};
use support::db::{copy_core_rows, move_to_trash, TestDb, ALL_KINDS};
use support::{files_at, run_cli, Fixture};

const DOCUMENTS: &str = "300ca0c9-310b-4344-8289-441bcd1e031c";

fn problem_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| {
            ["MISSING ", "CORRUPT ", "UNREADABLE ", "WARNING "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect()
}

fn verify(fx: &Fixture, url: &str, extra: &[&str]) -> (i32, String) {
    let data_dir = fx.data_dir();
    let mut args = vec![
        "verify",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--database-url",
        url,
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run_cli(&args);
    assert!(code == 0 || code == 1, "verify failed to run (exit {code}): {stderr}");
    (code, stdout)
}

/// The head tree of the Documents library.
fn documents_head(fx: &Fixture) -> (RepoId, Commit) {
    let repo = RepoId::parse(DOCUMENTS).unwrap();
    let head = ObjectId::parse("ffa520c929912c8b6a5e63d93b9481a2dffa303e").unwrap();
    let bytes = fx.store().read(ObjectKind::Commit, &repo, &head).unwrap();
    (repo, Commit::parse_verified(&head, &bytes).unwrap().0)
}

#[tokio::test]
async fn fixture_is_clean_on_every_database_kind() {
    let Some(fx) = Fixture::unpack() else { return };
    let (code, out) = verify(&fx, &fx.database_url(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verified 4 libraries: 44 commits"), "{out}");
    assert!(out.contains("clean"), "{out}");
    assert!(problem_lines(&out).is_empty(), "{out}");

    let source = SeafileDb::connect(&fx.database_url()).await.unwrap();
    for kind in ALL_KINDS {
        let Some(db) = TestDb::create(kind).await else { continue };
        copy_core_rows(&source, &db.connect().await).await;
        let (code, out) = verify(&fx, &db.url, &[]);
        assert_eq!(code, 0, "{kind:?}: {out}");
        assert!(out.contains("verified 4 libraries"), "{kind:?}: {out}");
    }
}

#[test]
fn deleted_block_is_named_with_its_path() {
    let Some(fx) = Fixture::unpack() else { return };
    let (repo, head) = documents_head(&fx);
    let files = files_at(&fx.store(), RepoStores::new(repo, None), head.root_id);
    let large = files["/big/large-20MiB.txt"].1.as_ref().unwrap();
    let block = large.block_ids[1];
    std::fs::remove_file(fx.store().path(ObjectKind::Block, &repo, &block)).unwrap();

    let (code, out) = verify(&fx, &fx.database_url(), &[]);
    assert_eq!(code, 1, "{out}");
    let problems = problem_lines(&out);
    assert_eq!(problems.len(), 1, "{out}");
    assert!(
        problems[0].starts_with(&format!("MISSING block {block} in library {DOCUMENTS}")),
        "{out}"
    );
    assert!(problems[0].contains("\"/big/large-20MiB.txt\""), "{out}");
    assert!(out.contains("NOT CLEAN: 1 problems"), "{out}");
}

#[test]
fn truncated_fs_object_is_named() {
    let Some(fx) = Fixture::unpack() else { return };
    let (repo, head) = documents_head(&fx);
    let files = files_at(&fx.store(), RepoStores::new(repo, None), head.root_id);
    let readme = files["/readme.md"].0;
    let path = fx.store().path(ObjectKind::Fs, &repo, &readme);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

    let (code, out) = verify(&fx, &fx.database_url(), &[]);
    assert_eq!(code, 1, "{out}");
    let problems = problem_lines(&out);
    assert_eq!(problems.len(), 1, "{out}");
    assert!(
        problems[0].starts_with(&format!("CORRUPT fs {readme} in library {DOCUMENTS} at \"/readme.md\"")),
        "{out}"
    );
    assert!(problems[0].contains("zlib"), "{out}");
}

/// Flips one character of `field`'s value in the stored commit.
fn change_commit_byte(path: &Path, field: &str) {
    let mut text = std::fs::read_to_string(path).unwrap();
    let key = format!("\"{field}\": \"");
    let at = text.find(&key).unwrap() + key.len() + 3;
    let old = text.as_bytes()[at];
    let new = if old == b'a' { "b" } else { "a" };
    text.replace_range(at..at + 1, new);
    std::fs::write(path, text).unwrap();
}

#[test]
fn changed_commit_byte_is_named() {
    let Some(fx) = Fixture::unpack() else { return };
    let repo = RepoId::parse(DOCUMENTS).unwrap();
    // "Modified readme.md", in the middle of the history; its child is "Renamed report.txt".
    let commit = ObjectId::parse("5e6a73c8d3c3fcac13a562aa871081753a1e4b7c").unwrap();
    let child = "658fc48bbf9f8f86b33253b02fd87905349978e2";
    change_commit_byte(&fx.store().path(ObjectKind::Commit, &repo, &commit), "commit_id");

    let (code, out) = verify(&fx, &fx.database_url(), &[DOCUMENTS]);
    assert_eq!(code, 1, "{out}");
    let problems = problem_lines(&out);
    assert_eq!(problems.len(), 1, "{out}");
    assert!(
        problems[0].starts_with(&format!(
            "CORRUPT commit {commit} in library {DOCUMENTS} (parent of commit {child})"
        )),
        "{out}"
    );
}

#[test]
fn changed_commit_description_is_a_warning_and_fails_strict() {
    let Some(fx) = Fixture::unpack() else { return };
    let repo = RepoId::parse(DOCUMENTS).unwrap();
    let commit = ObjectId::parse("5e6a73c8d3c3fcac13a562aa871081753a1e4b7c").unwrap();
    change_commit_byte(&fx.store().path(ObjectKind::Commit, &repo, &commit), "description");

    let (code, out) = verify(&fx, &fx.database_url(), &[DOCUMENTS]);
    assert_eq!(
        code, 0,
        "the JSON id still matches the name: a warning, not a failure\n{out}"
    );
    let problems = problem_lines(&out);
    assert_eq!(problems.len(), 1, "{out}");
    assert!(
        problems[0].starts_with(&format!("WARNING commit {commit} in library {DOCUMENTS}")),
        "{out}"
    );
    assert!(problems[0].contains("neither the C nor the Go"), "{out}");

    let (code, out) = verify(&fx, &fx.database_url(), &["--strict", DOCUMENTS]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn bad_arguments_get_a_clear_error() {
    let Some(fx) = Fixture::unpack() else { return };
    let data_dir = fx.data_dir();
    let url = fx.database_url();
    let (code, _, err) = run_cli(&[
        "verify",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--database-url",
        &url,
        "../etc",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("library id"), "{err}");

    let (code, _, err) = run_cli(&["verify", "--data-dir", "/nonexistent", "--database-url", &url]);
    assert_eq!(code, 2);
    assert!(err.contains("seafile-data"), "{err}");

    let (code, _, err) = run_cli(&[
        "verify",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--database-url",
        "oracle://x",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("unsupported database URL"), "{err}");
}

#[test]
fn config_file_form_reads_the_backup_section() {
    let Some(fx) = Fixture::unpack() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("seaf-backup.toml");
    std::fs::write(
        &config,
        format!(
            "sync_token = \"t\"\n[backup]\nseafile_data_dir = {:?}\ndatabase_url = {:?}\nworkers = 2\n",
            fx.data_dir(),
            fx.database_url()
        ),
    )
    .unwrap();
    let (code, out, err) = run_cli(&["verify", "-c", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verified 4 libraries"), "{out}");

    std::fs::write(&config, "[backup]\nseafile_data_dir = \"/x\"\n").unwrap();
    let (code, _, err) = run_cli(&["verify", "-c", config.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("seaf-backup.toml") && err.contains("`backup`") && err.contains("database_url"),
        "{err}"
    );
}

/// A library in the trash is checked from its trash head: its history must be there for a
/// restore from the trash, and a missing block in it is named like any other.
#[tokio::test]
async fn libraries_in_the_trash_are_verified_too() {
    let Some(fx) = Fixture::unpack() else { return };
    let Some(db) = TestDb::create(seaf_seafile::DbKind::Sqlite).await else {
        return;
    };
    let backup = db.connect().await;
    copy_core_rows(&SeafileDb::connect(&fx.database_url()).await.unwrap(), &backup).await;
    let (repo, head) = documents_head(&fx);
    let head_id = ObjectId::parse("ffa520c929912c8b6a5e63d93b9481a2dffa303e").unwrap();
    move_to_trash(
        &backup,
        &seaf_seafile::TrashedRepo {
            repo_id: repo,
            repo_name: Some("Documents".into()),
            head_id: Some(head_id),
            owner_id: Some("a@example.com".into()),
            size: Some(0),
            org_id: Some(-1),
            del_time: Some(0),
        },
    )
    .await;

    let (code, out) = verify(&fx, &db.url, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verified 4 libraries: 44 commits"), "{out}");
    assert!(out.contains("1 of the libraries are in the trash"), "{out}");

    let files = files_at(&fx.store(), RepoStores::new(repo, None), head.root_id);
    let block = files["/big/large-20MiB.txt"].1.as_ref().unwrap().block_ids[0];
    std::fs::remove_file(fx.store().path(ObjectKind::Block, &repo, &block)).unwrap();
    let (code, out) = verify(&fx, &db.url, &[DOCUMENTS]);
    assert_eq!(code, 1, "{out}");
    let problems = problem_lines(&out);
    assert!(
        problems.len() == 1 && problems[0].starts_with("MISSING ") && problems[0].contains("large-20MiB.txt"),
        "{out}"
    );
}
