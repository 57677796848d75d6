//! `history`, `ls` and `export` as an administrator runs them, on the data a real Seafile
//! server wrote: every library exported at head equals what was uploaded, byte for byte.

use std::collections::BTreeMap;

use seaf_seafile::ObjectId;
use support::{run_cli, Fixture};

const DOCUMENTS: &str = "300ca0c9-310b-4344-8289-441bcd1e031c";
const ENCRYPTED: &str = "93db6fa3-9640-4451-b106-e53ed56de966";

fn store_args(fx: &Fixture) -> Vec<String> {
    vec![
        "--data-dir".into(),
        fx.data_dir().to_string_lossy().into_owned(),
        "--database-url".into(),
        fx.database_url(),
    ]
}

fn cli(command: &str, fx: &Fixture, rest: &[&str]) -> (i32, String, String) {
    let mut args: Vec<String> = vec![command.into()];
    args.extend(store_args(fx));
    args.extend(rest.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_cli(&args)
}

/// Every file under `root` by its path in the library, with its bytes' sha1 and size.
fn files_under(root: &std::path::Path) -> BTreeMap<String, (String, u64)> {
    support::files_under(root)
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            let rel = format!("/{}", path.strip_prefix(root).unwrap().to_string_lossy());
            (rel, (ObjectId::hash_of(&bytes).to_hex(), bytes.len() as u64))
        })
        .collect()
}

/// expected.json's files of one library: path → (sha1, size).
fn want_files(files: &serde_json::Value) -> BTreeMap<String, (String, u64)> {
    files
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, s)| {
            (
                p.clone(),
                (s["sha1"].as_str().unwrap().to_string(), s["size"].as_u64().unwrap()),
            )
        })
        .collect()
}

#[test]
fn every_library_exported_at_head_is_what_was_uploaded() {
    let Some(fx) = Fixture::unpack() else { return };
    let expected = fx.expected();
    let mut checked = 0;
    let password = tempfile::tempdir().unwrap();
    let password_file = password.path().join("secret.pw");
    let secret = expected["encrypted_repo_password"].as_str().unwrap();
    std::fs::write(&password_file, format!("{secret}\n")).unwrap();
    for (repo, files) in expected["expected"].as_object().unwrap() {
        let out = tempfile::tempdir().unwrap();
        let to = out.path().join("restore");
        let mut args = vec![repo.as_str(), "--to", to.to_str().unwrap()];
        if repo == ENCRYPTED {
            args.extend(["--password-file", password_file.to_str().unwrap()]);
        }
        let (code, stdout, stderr) = cli("export", &fx, &args);
        assert_eq!(code, 0, "{repo}: {stdout}{stderr}");
        assert!(stdout.contains("every block verified"), "{stdout}");
        assert_eq!(stdout.contains("decrypted"), repo == ENCRYPTED, "{stdout}");
        let want = want_files(files);
        assert_eq!(files_under(&to), want, "{repo}");
        checked += want.len();
        let (code, _, stderr) = cli("export", &fx, &args);
        assert_eq!(code, 2, "a second export into the same folder is refused");
        assert!(stderr.contains("--overwrite"), "{stderr}");
    }
    assert_eq!(checked, 16);
}

#[test]
fn the_encrypted_library_needs_its_password_and_refuses_a_wrong_one() {
    let Some(fx) = Fixture::unpack() else { return };
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("restore");
    let (code, stdout, stderr) = cli("export", &fx, &[ENCRYPTED, "--to", to.to_str().unwrap()]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("encrypted") && stderr.contains("--password-file"),
        "{stderr}"
    );
    let wrong = out.path().join("wrong.pw");
    std::fs::write(&wrong, "fixture-secret-PW\n").unwrap();
    let (code, stdout, stderr) = cli(
        "export",
        &fx,
        &[
            ENCRYPTED,
            "--to",
            to.to_str().unwrap(),
            "--password-file",
            wrong.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("wrong password"), "{stderr}");
    assert!(!to.exists(), "nothing is written with a wrong password");
    // One file, at an older commit, with a password file that ends in CRLF.
    let right = out.path().join("right.pw");
    let secret = fx.expected()["encrypted_repo_password"].as_str().unwrap().to_string();
    std::fs::write(&right, format!("{secret}\r\nignored second line\n")).unwrap();
    // Commit 49cb518e, the last before "Modified \"secret.txt\"" (the fixture's MANIFEST.txt).
    let at = humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_311_146));
    std::fs::create_dir(&to).unwrap();
    let (code, stdout, stderr) = cli(
        "export",
        &fx,
        &[
            ENCRYPTED,
            "/secret.txt",
            "--at",
            &at.to_string(),
            "--to",
            to.to_str().unwrap(),
            "--password-file",
            right.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    // The version uploaded first, decrypted (its sha1 computed from the fixture with Python's
    // `cryptography`, independently of this tool).
    let old = std::fs::read(to.join("secret.txt")).unwrap();
    assert_eq!(old, b"top secret v1\n");
    assert_eq!(
        ObjectId::hash_of(&old).to_hex(),
        "c3948fd318c136810b1b741f5f7c6ea015ea7d10"
    );
}

#[test]
fn history_marks_the_merge_and_ls_lists_the_head() {
    let Some(fx) = Fixture::unpack() else { return };
    let merge = fx.expected()["merge_head"].as_str().unwrap().to_string();
    let (code, out, err) = cli("history", &fx, &[DOCUMENTS, "--json"]);
    assert_eq!(code, 0, "{err}");
    let entries: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(entries.len(), 18);
    let merge_entry = entries.iter().find(|e| e["id"] == merge).expect("the merge is listed");
    assert_eq!(merge_entry["parents"].as_array().unwrap().len(), 2);
    let (code, out, _) = cli("history", &fx, &[DOCUMENTS, "--limit", "3"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(!out.contains("[merge]") || out.contains(&merge[..8]), "{out}");
    let (code, out, err) = cli("ls", &fx, &[DOCUMENTS, "/", "--json"]);
    assert_eq!(code, 0, "{err}");
    let listing: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    let expected = fx.expected();
    for path in expected["expected"][DOCUMENTS].as_object().unwrap().keys() {
        let top = path.trim_start_matches('/').split('/').next().unwrap();
        assert!(names.contains(&top), "{top} not in {names:?}");
    }
    let (code, _, err) = cli("ls", &fx, &[DOCUMENTS, "/", "--at", "1971-01-01T00:00:00Z"]);
    assert_eq!(code, 2);
    assert!(err.contains("no commit that old"), "{err}");
}

#[test]
fn the_restore_one_file_runbook_works_as_written() {
    let Some(fx) = Fixture::unpack() else { return };
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("restore");
    let store = store_args(&fx).join(" ");
    support::runbook::run_block(
        "restore-one-file",
        &[
            ("-c /etc/seaf-backup/backup.toml", store),
            ("seaf-backup ", format!("{} ", support::seaf_backup_bin().display())),
            ("2026-11-30T12:00:00Z", "2100-01-01T00:00:00Z".into()),
            ("/tmp/restore", to.to_string_lossy().into_owned()),
        ],
        out.path(),
    );
    let want = fx.expected()["expected"][DOCUMENTS].as_object().unwrap().len();
    assert_eq!(files_under(&to).len(), want);
}

#[test]
fn the_restore_encrypted_runbook_works_as_written() {
    let Some(fx) = Fixture::unpack() else { return };
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("restore");
    let password_file = out.path().join("library.pw");
    let secret = fx.expected()["encrypted_repo_password"].as_str().unwrap().to_string();
    support::runbook::run_block(
        "restore-encrypted",
        &[
            // The one interactive step: typing the password.
            ("stty -echo; IFS= read -r PW; stty echo", format!("PW='{secret}'")),
            ("/root/library.pw", password_file.to_string_lossy().into_owned()),
            ("-c /etc/seaf-backup/backup.toml", store_args(&fx).join(" ")),
            ("seaf-backup ", format!("{} ", support::seaf_backup_bin().display())),
            ("/tmp/restore", to.to_string_lossy().into_owned()),
        ],
        out.path(),
    );
    let want = want_files(&fx.expected()["expected"][ENCRYPTED]);
    assert_eq!(files_under(&to), want);
    assert!(!password_file.exists(), "the runbook removes the password file");
}

/// A library moved to the trash (as Seafile does it: its `Branch` row gone, a `RepoTrash` row
/// with its head) is still listed, browsed and exported from its head in the trash.
#[test]
fn history_ls_and_export_read_a_library_in_the_trash() {
    let Some(fx) = Fixture::unpack() else { return };
    let head = fx.expected()["merge_head"].as_str().unwrap().to_string();
    let db = fx.data_dir().join("seafile.db");
    let trash = format!(
        "DELETE FROM Branch WHERE repo_id = '{DOCUMENTS}'; \
         INSERT INTO RepoTrash (repo_id, repo_name, head_id, owner_id, size, org_id, del_time) \
         VALUES ('{DOCUMENTS}', 'Documents', '{head}', 'owner@example.com', 0, -1, 1764590000);"
    );
    let status = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(&trash)
        .status()
        .expect("sqlite3 (scripts/setup.sh installs it)");
    assert!(status.success());

    let (code, out, err) = cli("history", &fx, &[DOCUMENTS, "--json"]);
    assert_eq!(code, 0, "{err}");
    let entries: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(entries.len(), 18, "the whole history, from the head in the trash");
    assert_eq!(entries[0]["id"], head);
    let (code, out, err) = cli("ls", &fx, &[DOCUMENTS, "/", "--json"]);
    assert_eq!(code, 0, "{err}");
    let listing: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listing["commit"], head);
    let out_dir = tempfile::tempdir().unwrap();
    let to = out_dir.path().to_str().unwrap();
    let (code, _, err) = cli("export", &fx, &[DOCUMENTS, "--to", to]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        files_under(out_dir.path()),
        want_files(&fx.expected()["expected"][DOCUMENTS])
    );
}
