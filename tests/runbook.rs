//! docs/operations.md's dump job and restore runbook, run as written, on MySQL/MariaDB and SQLite.
//!
//! The shell blocks whose first line is `# runbook: NAME` are read out of the document itself
//! and run with `sh` (only the paths, the database names and `STAMP` replaced by this test's), so
//! the document and the test cannot drift apart. A Seafile-13-shaped primary (a wiki, sizes,
//! file counts, limits, the template row, an encrypted library, one in the trash) with rows in
//! the tables seaf-backup does not carry (shares, group shares, quotas, tokens) and in ccnet /
//! seahub is backed up by a running site; while it runs, the primary's dump is made with the
//! document's job; then the backup is stopped, the dump loaded into the backup's database as the
//! runbook says, and Seafile's own SQL (from haiwen/seafile-server, quoted below) must give the
//! same answer on the restored database as on the primary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use seaf_seafile::{DbKind, SeafileDb, TrashedRepo};
use seaf_testgen::{GeneratedLibrary, LibrarySpec};
use support::agent::wait_until;
use support::broker::Broker;
use support::db::{move_to_trash, TestDb};
use support::runbook::run_block;
use support::seafile13::{self, both_sides};
use support::site::{generated_primary_with, Site};
use support::{missing, run_cli};

// ---- Seafile's SQL, copied from haiwen/seafile-server (master of 2026-08-08, 746546ad) ----

/// server/repo-mgr.c, `seaf_repo_manager_get_repo_list` (start = limit = -1, MySQL and SQLite,
/// `ret_virt_repo` false, default order): the system admin's library list.
const REPO_LIST: &str = "SELECT i.repo_id, s.size, b.commit_id, i.name, i.update_time, \
    i.version, i.is_encrypted, i.last_modifier, i.status, i.type, f.file_count FROM \
    RepoInfo i LEFT JOIN RepoSize s ON i.repo_id = s.repo_id \
    LEFT JOIN Branch b ON i.repo_id = b.repo_id \
    LEFT JOIN RepoFileCount f ON i.repo_id = f.repo_id \
    LEFT JOIN Repo r ON i.repo_id = r.repo_id \
    LEFT JOIN VirtualRepo v ON i.repo_id = v.repo_id \
    WHERE r.repo_id IS NOT NULL AND v.repo_id IS NULL ORDER BY i.update_time DESC, i.repo_id";

/// server/repo-mgr.c, `seaf_repo_manager_get_repos_by_owner` (start = limit = -1, not
/// PostgreSQL): "My Libraries".
const REPOS_BY_OWNER: &str = "SELECT o.repo_id, s.size, b.commit_id, i.name, i.update_time, \
    i.version, i.is_encrypted, i.last_modifier, i.status, i.type FROM \
    RepoOwner o LEFT JOIN RepoSize s ON o.repo_id = s.repo_id \
    LEFT JOIN Branch b ON o.repo_id = b.repo_id \
    LEFT JOIN RepoInfo i ON o.repo_id = i.repo_id \
    LEFT JOIN VirtualRepo v ON o.repo_id = v.repo_id \
    WHERE owner_id=? AND \
    v.repo_id IS NULL \
    ORDER BY i.update_time DESC, o.repo_id";

/// server/repo-mgr.c, `seaf_repo_manager_get_repo_owner`.
const REPO_OWNER: &str = "SELECT owner_id FROM RepoOwner WHERE repo_id=?";

/// server/repo-mgr.c, `seaf_repo_manager_get_trash_repo_list` (start = limit = -1).
const TRASH_LIST: &str = "SELECT repo_id, repo_name, head_id, owner_id, \
    size, del_time FROM RepoTrash ORDER BY del_time DESC";

/// server/share-mgr.c, `seaf_share_manager_list_share_repos` (type "to_email", start = limit =
/// -1): libraries shared with a user, a carried and a dumped table joined.
const SHARED_WITH: &str = "SELECT sh.repo_id, v.repo_id, \
    from_email, permission, commit_id, s.size, \
    v.origin_repo, v.path, i.name, \
    i.update_time, i.version, i.is_encrypted, i.last_modifier, i.status, i.type, \
    i2.name FROM \
    SharedRepo sh LEFT JOIN VirtualRepo v ON \
    sh.repo_id=v.repo_id \
    LEFT JOIN RepoSize s ON sh.repo_id = s.repo_id \
    LEFT JOIN RepoInfo i ON sh.repo_id = i.repo_id \
    LEFT JOIN RepoInfo i2 ON v.origin_repo = i2.repo_id, Branch b \
    WHERE to_email=? AND \
    sh.repo_id = b.repo_id AND \
    b.name = 'master' \
    ORDER BY i.update_time DESC, sh.repo_id";

/// server/repo-mgr.c, `seaf_repo_manager_get_repos_by_group`.
const REPOS_BY_GROUP: &str = "SELECT RepoGroup.repo_id, v.repo_id, \
    group_id, user_name, permission, commit_id, s.size, \
    v.origin_repo, v.path, i.name, \
    i.update_time, i.version, i.is_encrypted, i.last_modifier, i.status, i.type, i2.name \
    FROM RepoGroup LEFT JOIN VirtualRepo v ON \
    RepoGroup.repo_id = v.repo_id \
    LEFT JOIN RepoInfo i ON RepoGroup.repo_id = i.repo_id \
    LEFT JOIN RepoInfo i2 ON v.origin_repo = i2.repo_id \
    LEFT JOIN RepoSize s ON RepoGroup.repo_id = s.repo_id, \
    Branch WHERE group_id = ? AND \
    RepoGroup.repo_id = Branch.repo_id AND \
    Branch.name = 'master'";

/// server/seafile-session.c, `get_system_default_repo_id`.
const DEFAULT_REPO: &str = "SELECT info_value FROM SystemInfo WHERE info_key='default_repo_id'";

/// Rows of tables seaf-backup does not carry, written on the primary as seahub would.
const OTHER_TABLES: [&str; 4] = [
    "SELECT repo_id, from_email, to_email, permission FROM SharedRepo ORDER BY repo_id, to_email",
    "SELECT repo_id, group_id, user_name, permission FROM RepoGroup ORDER BY repo_id, group_id",
    "SELECT user, quota FROM UserQuota ORDER BY user",
    "SELECT repo_id, email, token FROM RepoUserToken ORDER BY token",
];

const OWNERS: [&str; 2] = ["alice@example.com", "bob@example.com"];
const GROUP: &str = "7";

// ---- the document's blocks ----

/// The `STAMP` of the one dump set in `dir`.
fn dump_stamp(dir: &Path) -> String {
    let stamps: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            Some(
                name.strip_prefix("seafile-other.sql.")?
                    .strip_suffix(".gz")?
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(stamps.len(), 1, "one dump set in {}: {stamps:?}", dir.display());
    stamps[0].clone()
}

/// True when `tool` runs; otherwise fails under CI, or skips with a message.
fn have_tool(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok || missing::<()>(&format!("the `{tool}` command (scripts/setup.sh installs it)")).is_some()
}

// ---- running SQL with the databases' own command-line clients ----

/// Where a query goes: a MySQL database through `mysql` with a defaults file, or a SQLite file.
#[derive(Clone)]
enum Target {
    MySql { cnf: PathBuf, db: String },
    Sqlite(PathBuf),
}

/// `sql` with each `?` bound to the next of `args`, quoted.
fn bind(sql: &str, args: &[&str]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    for c in sql.chars() {
        if c == '?' {
            out.push_str(&format!(
                "'{}'",
                args.next().expect("an argument per ?").replace('\'', "''")
            ));
        } else {
            out.push(c);
        }
    }
    assert!(args.next().is_none(), "more arguments than ? in {sql}");
    out
}

impl Target {
    /// The rows of `sql`, tab-separated as the client prints them.
    fn query(&self, sql: &str) -> Vec<String> {
        let out = match self {
            Target::MySql { cnf, db } => Command::new("mysql")
                .arg(format!("--defaults-extra-file={}", cnf.display()))
                .args(["--batch", "--skip-column-names", "-e", sql, db])
                .output(),
            Target::Sqlite(file) => Command::new("sqlite3")
                .args(["-bail", "-separator", "\t", "-nullvalue", "NULL"])
                .arg(file)
                .arg(sql)
                .output(),
        }
        .expect("run the database client");
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn exec(&self, sql: &str) {
        self.query(sql);
    }
}

/// The MySQL server's `[client]` options, from the test server's URL.
fn mysql_cnf(dir: &Path, url: &str) -> PathBuf {
    let rest = url.strip_prefix("mysql://").expect("a mysql:// URL");
    let (auth, host_port) = rest.split_once('@').unwrap_or(("root", rest));
    let host_port = host_port.split('/').next().unwrap();
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "3306"));
    let mut text = format!("[client]\nhost={host}\nport={port}\nuser={user}\n");
    if !password.is_empty() {
        text.push_str(&format!("password={password}\n"));
    }
    let path = dir.join("client.cnf");
    std::fs::write(&path, text).unwrap();
    path
}

fn db_name(db: &TestDb) -> String {
    db.url.rsplit('/').next().unwrap().to_string()
}

fn sqlite_file(url: &str) -> PathBuf {
    let path = url.strip_prefix("sqlite://").expect("a sqlite:// URL");
    PathBuf::from(path.split('?').next().unwrap())
}

// ---- the primary ----

fn spec(name: &str) -> LibrarySpec {
    let i: usize = name.trim_start_matches("lib ").parse().unwrap();
    LibrarySpec {
        owner: OWNERS[i % 2].to_string(),
        encrypted: i == 3,
        ..LibrarySpec::small(name)
    }
}

/// Moves `lib` to the primary's trash as seaf-server's `seaf_repo_manager_del_repo` does.
async fn trash(db: &SeafileDb, lib: &GeneratedLibrary) {
    move_to_trash(
        db,
        &TrashedRepo {
            repo_id: lib.repo_id,
            repo_name: Some(lib.spec.name.clone()),
            head_id: Some(lib.head),
            owner_id: Some(lib.spec.owner.clone()),
            size: Some(8192),
            org_id: Some(-1),
            del_time: Some(1_795_500_000),
        },
    )
    .await;
}

/// The rows seahub writes into tables seaf-backup does not carry.
fn other_rows(libs: &[GeneratedLibrary]) -> Vec<String> {
    let (a, b) = (OWNERS[0], OWNERS[1]);
    vec![
        format!(
            "INSERT INTO SharedRepo (repo_id, from_email, to_email, permission) VALUES ('{}', '{a}', '{b}', 'rw')",
            libs[0].repo_id
        ),
        format!(
            "INSERT INTO SharedRepo (repo_id, from_email, to_email, permission) VALUES ('{}', '{b}', '{a}', 'r')",
            libs[1].repo_id
        ),
        format!(
            "INSERT INTO RepoGroup (repo_id, group_id, user_name, permission) VALUES ('{}', {GROUP}, '{a}', 'rw')",
            libs[3].repo_id
        ),
        format!("INSERT INTO UserQuota (user, quota) VALUES ('{a}', 5000000000)"),
        format!(
            "INSERT INTO RepoUserToken (repo_id, email, token) VALUES ('{}', '{b}', '{}')",
            libs[1].repo_id,
            "7".repeat(40)
        ),
    ]
}

/// Everything the comparison looks at, as Seafile would ask for it.
fn seafile_view(t: &Target, libs: &[GeneratedLibrary]) -> Vec<(String, Vec<String>)> {
    let mut view = vec![
        ("get_repo_list".to_string(), t.query(REPO_LIST)),
        ("get_trash_repo_list".to_string(), t.query(TRASH_LIST)),
        ("default_repo_id".to_string(), t.query(DEFAULT_REPO)),
        (
            "get_repos_by_group".to_string(),
            t.query(&bind(REPOS_BY_GROUP, &[GROUP])),
        ),
    ];
    for owner in OWNERS {
        view.push((
            format!("get_repos_by_owner {owner}"),
            t.query(&bind(REPOS_BY_OWNER, &[owner])),
        ));
        view.push((
            format!("list_share_repos to {owner}"),
            t.query(&bind(SHARED_WITH, &[owner])),
        ));
    }
    for lib in libs {
        view.push((
            format!("get_repo_owner {}", lib.repo_id),
            t.query(&bind(REPO_OWNER, &[lib.repo_id.as_str()])),
        ));
    }
    for sql in OTHER_TABLES {
        view.push((sql.to_string(), t.query(sql)));
    }
    view
}

/// Waits until every carried row of `lib` is the same on both sides.
fn wait_rows_equal(site: &Site, lib: &GeneratedLibrary) {
    let rows = || {
        site.rt
            .block_on(both_sides(&site.primary_db, &site.backup_db, &lib.repo_id))
    };
    wait_until(
        Duration::from_secs(60),
        "every carried row on the backup",
        || {
            let (p, b) = rows();
            p == b
        },
        || format!("{:#?}\n{}", rows(), site.backup.log_tail()),
    );
}

fn restore_follows_the_runbook(kind: DbKind) {
    let tools: &[&str] = match kind {
        DbKind::MySql => &["mysqldump", "mysql"],
        _ => &["sqlite3"],
    };
    if !tools.iter().all(|t| have_tool(t)) {
        return;
    }
    let Some(broker) = Broker::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(mut g) = generated_primary_with(&rt, kind, 5, spec) else {
        return;
    };
    let url = g.test_db.url.clone();
    let db = rt.block_on(g.test_db.connect());
    rt.block_on(async {
        seafile13::add_future_column(&url).await;
        seafile13::write_rows(&url, &g.libs[0], Some("wiki"), 0).await;
        for (n, lib) in g.libs.iter().enumerate().take(4).skip(1) {
            seafile13::write_rows(&url, lib, None, n as i64).await;
        }
        seafile13::set_default_library(&url, &g.libs[2]).await;
        trash(&db, &g.libs[4]).await;
        seafile13::run(&url, &other_rows(&g.libs)).await;
    });

    let work = tempfile::tempdir().unwrap();
    let dumps = work.path().join("databases");
    // The primary's side and the backup's side of ccnet_db / seahub_db.
    let (primary, primary_extra, restored_extra) = match kind {
        DbKind::MySql => {
            let cnf = mysql_cnf(work.path(), &url);
            let mut extra = Vec::new();
            for _ in 0..4 {
                let Some(d) = rt.block_on(TestDb::create(DbKind::MySql)) else {
                    return;
                };
                extra.push(d);
            }
            let primary = Target::MySql {
                cnf: cnf.clone(),
                db: db_name(&g.test_db),
            };
            (primary, extra.drain(..2).collect::<Vec<_>>(), extra)
        }
        _ => (Target::Sqlite(sqlite_file(&url)), Vec::new(), Vec::new()),
    };
    let primary_top = work.path().join("primary-seafile");
    let restored_top = work.path().join("restored-seafile");
    // ccnet's users and seahub's sessions, on the primary.
    let ccnet_rows =
        "INSERT INTO EmailUser (id, email, is_active) VALUES (1, 'alice@example.com', 1), (2, 'bob@example.com', 1)";
    let extra_targets: Vec<Target> = match kind {
        DbKind::MySql => primary_extra
            .iter()
            .map(|d| Target::MySql {
                cnf: mysql_cnf(work.path(), &url),
                db: db_name(d),
            })
            .collect(),
        _ => {
            for d in ["ccnet/PeerMgr", "ccnet/GroupMgr"] {
                std::fs::create_dir_all(primary_top.join(d)).unwrap();
            }
            ["ccnet/PeerMgr/usermgr.db", "seahub.db", "ccnet/GroupMgr/groupmgr.db"]
                .iter()
                .map(|f| Target::Sqlite(primary_top.join(f)))
                .collect()
        }
    };
    extra_targets[0].exec("CREATE TABLE EmailUser (id INTEGER PRIMARY KEY, email VARCHAR(255), is_active INTEGER)");
    extra_targets[0].exec(ccnet_rows);
    extra_targets[1].exec("CREATE TABLE django_session (session_key VARCHAR(40) PRIMARY KEY, expire_date BIGINT)");
    extra_targets[1].exec("INSERT INTO django_session VALUES ('s1', 1795600000)");
    if let Some(groups) = extra_targets.get(2) {
        groups.exec("CREATE TABLE `Group` (group_id INTEGER PRIMARY KEY, group_name VARCHAR(255))");
        groups.exec(&format!("INSERT INTO `Group` VALUES ({GROUP}, 'team')"));
    }

    // A running site, converged: every head, every carried row, the trash.
    let Some(mut site) = Site::start(&broker, &g.data, &url, kind, "1h") else {
        return;
    };
    site.wait_converged(Duration::from_secs(60));
    for lib in &g.libs[..4] {
        wait_rows_equal(&site, lib);
    }
    let trashed = |d: &SeafileDb| site.rt.block_on(d.trashed_repos()).unwrap();
    wait_until(
        Duration::from_secs(60),
        "the trashed library in the backup's trash",
        || trashed(&site.backup_db) == trashed(&site.primary_db),
        || site.backup.log_tail(),
    );

    // The operator's dump job, as the document writes it, while Seafile (the primary) runs.
    match kind {
        DbKind::MySql => run_block(
            "mysql-dump",
            &[
                (
                    "/etc/seaf-backup/dump.cnf",
                    mysql_cnf(work.path(), &url).display().to_string(),
                ),
                ("/backup/databases", dumps.display().to_string()),
                ("seafile_db", db_name(&g.test_db)),
                ("ccnet_db", db_name(&primary_extra[0])),
                ("seahub_db", db_name(&primary_extra[1])),
            ],
            work.path(),
        ),
        _ => run_block(
            "sqlite-dump",
            &[
                (
                    "/opt/seafile/seafile-data/seafile.db",
                    sqlite_file(&url).display().to_string(),
                ),
                ("/opt/seafile", primary_top.display().to_string()),
                ("/backup/databases", dumps.display().to_string()),
            ],
            work.path(),
        ),
    }
    let stamp = dump_stamp(&dumps);

    // Seafile goes on after the dump: a new head with new sizes, a new library. The dump is now
    // older than the backup's carried rows; loading it must not take them back in time.
    g.gen.update_library(&mut g.libs[1], 2).unwrap();
    site.publish(&g.libs[1]);
    rt.block_on(seafile13::write_rows(&url, &g.libs[1], None, 9));
    let new = g.gen.create_library(spec("lib 5")).unwrap();
    site.publish(&new);
    rt.block_on(seafile13::write_rows(&url, &new, None, 10));
    g.libs.push(new);
    site.wait_converged(Duration::from_secs(60));
    let config = site.backup.config_path().to_str().unwrap().to_string();
    for lib in [&g.libs[1], &g.libs[5]] {
        // Sizes written after the head: a sync of the same head rewrites the rows.
        let (code, out, err) = run_cli(&["sync", "-c", &config, lib.repo_id.as_str()]);
        assert_eq!(code, 0, "{out}{err}");
        wait_rows_equal(&site, lib);
    }

    // The runbook: stop the backup (and the primary role), restore the other tables into the
    // backup's database.
    site.backup.stop();
    site.primary.stop();
    let state_sql = "SELECT repo_id, state FROM SeafBackupRepoState ORDER BY repo_id";
    let backup_before = match kind {
        DbKind::MySql => Target::MySql {
            cnf: mysql_cnf(work.path(), &url),
            db: db_name(&site.backup_test_db),
        },
        _ => Target::Sqlite(sqlite_file(&site.backup_test_db.url)),
    };
    let state_before = backup_before.query(state_sql);
    assert!(!state_before.is_empty());
    let backup_name = db_name(&site.backup_test_db);
    let restored = match kind {
        DbKind::MySql => {
            run_block(
                "mysql-restore",
                &[
                    ("STAMP", stamp.clone()),
                    ("/backup/databases", dumps.display().to_string()),
                    (
                        "/etc/seaf-backup/restore.cnf",
                        mysql_cnf(work.path(), &url).display().to_string(),
                    ),
                    ("ccnet_db", db_name(&restored_extra[0])),
                    ("seahub_db", db_name(&restored_extra[1])),
                    ("seafile_db", backup_name.clone()),
                ],
                work.path(),
            );
            Target::MySql {
                cnf: mysql_cnf(work.path(), &url),
                db: backup_name,
            }
        }
        _ => {
            let file = sqlite_file(&site.backup_test_db.url);
            run_block(
                "sqlite-restore",
                &[
                    ("STAMP", stamp.clone()),
                    ("/backup/databases", dumps.display().to_string()),
                    ("/backup/seafile-data/seafile.db", file.display().to_string()),
                    ("/opt/seafile", restored_top.display().to_string()),
                ],
                work.path(),
            );
            Target::Sqlite(file)
        }
    };

    // Seafile's answers on the restored database are the primary's.
    let want = seafile_view(&primary, &g.libs);
    let got = seafile_view(&restored, &g.libs);
    for ((what, p), (_, r)) in want.iter().zip(&got) {
        assert_eq!(r, p, "{kind:?}: {what} on the restored database");
    }
    let listed = &want[0].1;
    let live: Vec<&GeneratedLibrary> = g.libs.iter().filter(|l| l.repo_id != g.libs[4].repo_id).collect();
    assert_eq!(
        listed.len(),
        live.len(),
        "{kind:?}: every live library listed: {listed:#?}"
    );
    for lib in live {
        assert!(
            listed
                .iter()
                .any(|l| l.starts_with(lib.repo_id.as_str()) && l.contains(&lib.head.to_hex())),
            "{kind:?}: {} at its head in {listed:#?}",
            lib.repo_id
        );
    }
    assert!(
        listed.iter().any(|l| l.contains("\twiki\t")),
        "{kind:?}: the wiki: {listed:#?}"
    );
    assert_eq!(want[1].1.len(), 1, "{kind:?}: the trashed library: {:?}", want[1].1);
    assert_eq!(want[2].1, vec![g.libs[2].repo_id.to_string()], "{kind:?}: the template");
    for (what, rows) in &want {
        if what.starts_with("list_share_repos") || what.starts_with("get_repos_by_group") {
            assert_eq!(rows.len(), 1, "{kind:?}: {what}: {rows:?}");
        }
    }
    // seaf-backup's own table is untouched.
    assert_eq!(restored.query(state_sql), state_before, "{kind:?}");

    // ccnet and seahub came back too.
    let restored_extra_targets: Vec<Target> = match kind {
        DbKind::MySql => restored_extra
            .iter()
            .map(|d| Target::MySql {
                cnf: mysql_cnf(work.path(), &url),
                db: db_name(d),
            })
            .collect(),
        _ => ["ccnet/PeerMgr/usermgr.db", "seahub.db", "ccnet/GroupMgr/groupmgr.db"]
            .iter()
            .map(|f| Target::Sqlite(restored_top.join(f)))
            .collect(),
    };
    for (sql, p, r) in [
        (
            "SELECT id, email FROM EmailUser ORDER BY id",
            &extra_targets[0],
            &restored_extra_targets[0],
        ),
        (
            "SELECT * FROM django_session",
            &extra_targets[1],
            &restored_extra_targets[1],
        ),
    ] {
        let rows = p.query(sql);
        assert!(!rows.is_empty());
        assert_eq!(r.query(sql), rows, "{kind:?}: {sql}");
    }
    if let (Some(p), Some(r)) = (extra_targets.get(2), restored_extra_targets.get(2)) {
        let sql = "SELECT * FROM `Group`";
        assert_eq!(r.query(sql), p.query(sql), "{kind:?}: {sql}");
    }
}

#[test]
fn restore_runbook_mariadb() {
    restore_follows_the_runbook(DbKind::MySql);
}

#[test]
fn restore_runbook_sqlite() {
    restore_follows_the_runbook(DbKind::Sqlite);
}
