//! A primary database shaped like Seafile 13's: `RepoInfo.type` (a wiki) and `archive_status`,
//! the per-library rows seaf-server keeps beside the head (`RepoSize`, `RepoFileCount`,
//! `RepoHistoryLimit`, `RepoValidSince`, `RepoStorageId`), the template library's `SystemInfo`
//! row, and a column no Seafile release has yet (`RepoInfo.tomorrow`), written with plain SQL as
//! seaf-server and seahub would, so the code under test is not the writer.

use seaf_seafile::{LibraryRows, RepoId, SeafileDb};
use seaf_testgen::GeneratedLibrary;
use sqlx::any::AnyPoolOptions;
use sqlx::Executor;

/// The column a future Seafile adds: carried without the backup knowing it.
pub const FUTURE_COLUMN: &str = "tomorrow";

/// Runs `statements` on the database at `url`, one by one.
pub async fn run(url: &str, statements: &[String]) {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new().max_connections(1).connect(url).await.unwrap();
    for s in statements {
        pool.execute(s.as_str()).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    pool.close().await;
}

/// Adds the future column to the primary's `RepoInfo`.
pub async fn add_future_column(url: &str) {
    run(
        url,
        &[format!("ALTER TABLE RepoInfo ADD COLUMN {FUTURE_COLUMN} VARCHAR(32)")],
    )
    .await;
}

/// Writes Seafile 13's rows of `lib` (after its core rows): `library_type` in `RepoInfo.type`
/// (`None` for an ordinary library), sizes and limits derived from `n`.
pub async fn write_rows(url: &str, lib: &GeneratedLibrary, library_type: Option<&str>, n: i64) {
    let id = lib.repo_id.as_str();
    let head = lib.head.to_hex();
    let quoted = |v: Option<&str>| v.map_or("NULL".to_string(), |v| format!("'{v}'"));
    let mut sql = vec![format!(
        "UPDATE RepoInfo SET type = {}, archive_status = {}, {FUTURE_COLUMN} = 'v{n}' WHERE repo_id = '{id}'",
        quoted(library_type),
        quoted(library_type.map(|_| "archived")),
    )];
    for table in [
        "RepoSize",
        "RepoFileCount",
        "RepoHistoryLimit",
        "RepoValidSince",
        "RepoStorageId",
    ] {
        sql.push(format!("DELETE FROM {table} WHERE repo_id = '{id}'"));
    }
    sql.extend([
        format!(
            "INSERT INTO RepoSize (repo_id, size, head_id) VALUES ('{id}', {}, '{head}')",
            1_000_000 * n + 7
        ),
        format!(
            "INSERT INTO RepoFileCount (repo_id, file_count) VALUES ('{id}', {})",
            n + 3
        ),
        format!(
            "INSERT INTO RepoHistoryLimit (repo_id, days) VALUES ('{id}', {})",
            30 + n
        ),
        format!(
            "INSERT INTO RepoValidSince (repo_id, timestamp) VALUES ('{id}', {})",
            1_795_000_000 + n
        ),
        format!("INSERT INTO RepoStorageId (repo_id, storage_id) VALUES ('{id}', 'hot-{n}')"),
    ]);
    run(url, &sql).await;
}

/// Makes `lib` the template library ("My Library Template").
pub async fn set_default_library(url: &str, lib: &GeneratedLibrary) {
    run(
        url,
        &[
            "DELETE FROM SystemInfo WHERE info_key = 'default_repo_id'".to_string(),
            format!(
                "INSERT INTO SystemInfo (info_key, info_value) VALUES ('default_repo_id', '{}')",
                lib.repo_id
            ),
        ],
    )
    .await;
}

/// What must be equal on both sides: every carried table's rows (columns the backup has
/// beyond the primary's, such as `RepoInfo.archive_status` before Seafile 13, are not compared).
pub fn comparable(rows: &LibraryRows, primary: &LibraryRows) -> Vec<(String, Vec<Vec<String>>)> {
    primary
        .tables
        .iter()
        .map(|(table, sent)| {
            let mine = rows.table(table).cloned().unwrap_or_default();
            let mut values: Vec<Vec<String>> = mine
                .rows
                .iter()
                .map(|row| {
                    sent.columns
                        .iter()
                        .map(|c| format!("{}={:?}", c.name, row.get(&c.name)))
                        .collect()
                })
                .collect();
            values.sort();
            (table.clone(), values)
        })
        .collect()
}

/// The carried rows of `lib` on both sides, for comparing.
pub async fn both_sides(
    primary: &SeafileDb,
    backup: &SeafileDb,
    lib: &RepoId,
) -> (Vec<(String, Vec<Vec<String>>)>, Vec<(String, Vec<Vec<String>>)>) {
    let p = primary.library_rows(lib).await.unwrap();
    let b = backup.library_rows(lib).await.unwrap();
    (comparable(&p, &p), comparable(&b, &p))
}
