//! Generated libraries pass the same checks as real ones: `verify` is clean on all three
//! databases, and names the damage when an object of a generated library goes missing.

use seaf_seafile::{DbKind, ObjectKind};
use seaf_testgen::{write_database, Generator, LibrarySpec};
use support::db::{TestDb, ALL_KINDS};
use support::run_cli;

fn verify(data_dir: &std::path::Path, url: &str) -> (i32, String) {
    let (code, out, err) = run_cli(&[
        "verify",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--database-url",
        url,
    ]);
    assert!(code == 0 || code == 1, "verify failed to run (exit {code}): {err}");
    (code, out)
}

#[tokio::test]
async fn generated_libraries_verify_clean_on_every_database_kind() {
    for kind in ALL_KINDS {
        let Some(test_db) = TestDb::create(kind).await else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("seafile-data");
        let mut gen = Generator::new(&data_dir, 7);
        let mut rich = gen.create_library(LibrarySpec::rich("Rich — 文件")).unwrap();
        let enc = gen
            .create_library(LibrarySpec {
                encrypted: true,
                ..LibrarySpec::rich("Secret")
            })
            .unwrap();
        let mut smalls: Vec<_> = (0..5)
            .map(|i| gen.create_library(LibrarySpec::small(&format!("lib {i}"))).unwrap())
            .collect();
        for (i, lib) in smalls.iter_mut().enumerate() {
            gen.update_library(lib, 1 + i).unwrap();
        }
        gen.update_library(&mut rich, 3).unwrap();
        let virt = gen.create_virtual_library(&rich, "/docs").unwrap();

        let mut all = vec![&rich, &enc, &virt];
        all.extend(smalls.iter());
        write_database(&test_db.connect().await, &all).await.unwrap();

        let (code, out) = verify(&data_dir, &test_db.url);
        assert_eq!(code, 0, "{kind:?}: {out}");
        assert!(
            out.contains(&format!("verified {} libraries", all.len())),
            "{kind:?}: {out}"
        );
        assert!(out.contains("clean"), "{kind:?}: {out}");

        if kind == DbKind::Sqlite {
            // Damage under the virtual library is reported for the virtual library too, found in
            // the origin's store.
            let (_, file) = rich
                .files
                .iter()
                .find(|(p, f)| p.starts_with("/docs/") && !f.file_id.is_zero())
                .unwrap();
            let path = gen.store().path(ObjectKind::Fs, &rich.repo_id, &file.file_id);
            std::fs::remove_file(path).unwrap();
            let (code, out) = verify(&data_dir, &test_db.url);
            assert_eq!(code, 1, "{out}");
            assert!(
                out.contains(&format!("MISSING fs {} in library {}", file.file_id, virt.repo_id)),
                "{out}"
            );
            assert!(
                out.contains(&format!("MISSING fs {} in library {}", file.file_id, rich.repo_id)),
                "{out}"
            );
        }
    }
}
