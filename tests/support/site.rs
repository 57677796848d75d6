//! A whole deployment in one value: a primary process over some Seafile data, one backup
//! process on a fresh database, and the helpers the end-to-end and fault tests check them with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use seaf_seafile::{DbKind, ObjectId, RepoId, SeafileDb};
use seaf_testgen::{GeneratedLibrary, Generator, LibrarySpec};

use crate::agent::{wait_until, Agent};
use crate::broker::{Broker, Kafka};
use crate::db::TestDb;
use crate::e2e::Deployment;
use crate::primary_run::generate_libraries;
use crate::proxy::Proxy;
use crate::run_cli;

/// How long the primary takes at most to detect a change in the tests' deployments (they poll
/// `Branch` every 200 ms; the binlog is faster), with a margin for a loaded machine.
pub const DETECTION_BOUND: Duration = Duration::from_secs(1);

/// The backup's watermark: every change the primary detected before it is applied.
const CONSISTENT_AS_OF: &str = "seaf_backup_consistent_as_of_seconds";

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
}

/// How to start a [`Site`].
pub struct SiteOptions<'a> {
    /// The backup database's kind.
    pub kind: DbKind,
    /// The backup's full-scan period (`sync_poll_interval`).
    pub scan: &'a str,
    /// Put a [`Proxy`] between the backup and the primary's object API.
    pub proxy: bool,
    /// The backup's `seafile-data` (default: inside the site's temp dir).
    pub backup_data: Option<PathBuf>,
}

impl SiteOptions<'_> {
    pub fn new(kind: DbKind) -> Self {
        SiteOptions {
            kind,
            scan: "1h",
            proxy: false,
            backup_data: None,
        }
    }
}

/// A primary and one backup, both running.
pub struct Site {
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    pub dep: Deployment,
    pub primary_db: SeafileDb,
    pub primary_data: PathBuf,
    pub primary: Agent,
    pub backup_test_db: TestDb,
    pub backup_db: SeafileDb,
    pub backup_data: PathBuf,
    pub backup: Agent,
    /// Between the backup and the primary's API, when asked for.
    pub proxy: Option<Proxy>,
}

impl Site {
    /// The backup's sync queue (the state of every library).
    pub fn queue(&self) -> seaf_backup::backup::queue::Queue {
        seaf_backup::backup::queue::Queue::new(self.backup_db.clone())
    }

    /// Starts the primary over `primary_data` + `primary_url`, and a backup on a new `kind`
    /// database with full scans every `scan`.
    pub fn start(
        broker: &impl Kafka,
        primary_data: &Path,
        primary_url: &str,
        kind: DbKind,
        scan: &str,
    ) -> Option<Site> {
        Site::start_with(
            broker,
            primary_data,
            primary_url,
            SiteOptions {
                scan,
                ..SiteOptions::new(kind)
            },
        )
    }

    pub fn start_with(broker: &impl Kafka, primary_data: &Path, primary_url: &str, opts: SiteOptions) -> Option<Site> {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let backup_test_db = rt.block_on(TestDb::create(opts.kind))?;
        let backup_db = rt.block_on(backup_test_db.connect());
        let primary_db = rt.block_on(SeafileDb::connect(primary_url)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dep = Deployment::new(&broker.bootstrap()).with_replication(broker.replication_factor());
        let primary = Agent::start(
            "primary",
            dir.path(),
            &dep.primary_config(primary_data, primary_url, &dir.path().join("state")),
            &dep.primary_metrics,
        );
        let proxy = opts.proxy.then(|| Proxy::start(&dep.api));
        let mut backup_dep = dep.clone();
        if let Some(p) = &proxy {
            backup_dep.api = p.addr().to_string();
        }
        let backup_data = opts
            .backup_data
            .unwrap_or_else(|| dir.path().join("backup/seafile-data"));
        let backup = Agent::start(
            "backup",
            dir.path(),
            &backup_dep.backup_config(&backup_data, &backup_test_db.url, &dep.backup_metrics, opts.scan),
            &dep.backup_metrics,
        );
        Some(Site {
            rt,
            dir,
            dep,
            primary_db,
            primary_data: primary_data.to_path_buf(),
            primary,
            backup_test_db,
            backup_db,
            backup_data,
            backup,
            proxy,
        })
    }

    pub fn primary_heads(&self) -> BTreeMap<RepoId, ObjectId> {
        self.rt.block_on(self.primary_db.heads()).unwrap().into_iter().collect()
    }

    pub fn backup_heads(&self) -> BTreeMap<RepoId, ObjectId> {
        self.rt
            .block_on(self.backup_db.heads())
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    /// Libraries whose backup head differs from the primary's.
    pub fn differing(&self) -> Vec<RepoId> {
        let (p, b) = (self.primary_heads(), self.backup_heads());
        p.iter().filter(|(r, h)| b.get(r) != Some(h)).map(|(r, _)| *r).collect()
    }

    /// Waits until the backup's heads equal the primary's, the backup has nothing left to do (no
    /// library waiting or syncing), and it is consistent as of [`DETECTION_BOUND`] after this call
    /// (`seaf_backup_consistent_as_of_seconds`): every change the test made before calling has
    /// been detected by the primary, read from the topic and applied. Without the last part an
    /// event still on its way (the scan, or an earlier event, synced the head first) would make
    /// its library pass once more just when the test looks at the status.
    pub fn wait_converged(&self, timeout: Duration) {
        let asked = unix_now() + DETECTION_BOUND.as_secs_f64();
        wait_until(
            timeout,
            "the backup's heads to equal the primary's, with no library waiting or syncing, and consistent as of 1 s after the wait began",
            || {
                self.backup.metric(CONSISTENT_AS_OF, &[]) >= asked
                    && self.primary_heads() == self.backup_heads()
                    && self.queue_idle()
            },
            || format!("{}\n{}", self.backup.log_tail(), self.status_text()),
        );
    }

    /// Waits until the backup's heads equal the primary's and no library is waiting or syncing,
    /// without the watermark: where several backup processes share the topic's partitions,
    /// none of them alone is consistent as of anything for every library.
    pub fn wait_heads_converged(&self, timeout: Duration) {
        wait_until(
            timeout,
            "the backup's heads to equal the primary's, with no library waiting or syncing",
            || self.primary_heads() == self.backup_heads() && self.queue_idle(),
            || format!("{}\n{}", self.backup.log_tail(), self.status_text()),
        );
    }

    /// No library is waiting or syncing.
    pub fn queue_idle(&self) -> bool {
        use seaf_backup::backup::queue::SyncState;
        let states = self.rt.block_on(self.queue().states()).unwrap_or_default();
        states
            .iter()
            .all(|s| !matches!(s.state, SyncState::Waiting | SyncState::Syncing))
    }

    pub fn status_text(&self) -> String {
        run_cli(&["status", "-c", self.backup.config_path().to_str().unwrap()]).1
    }

    /// `seaf-backup verify` of the backup: exit code and output.
    pub fn verify_backup(&self) -> (i32, String) {
        let (code, out, err) = run_cli(&[
            "verify",
            "--data-dir",
            self.backup_data.to_str().unwrap(),
            "--database-url",
            &self.backup_test_db.url,
        ]);
        (code, format!("{out}{err}"))
    }

    /// Writes `lib`'s current rows (after [`Generator::update_library`]) into the primary's database.
    pub fn publish(&self, lib: &GeneratedLibrary) {
        self.rt.block_on(self.primary_db.write_repo(&lib.record)).unwrap();
    }
}

/// A primary of generated libraries on a fresh `kind` database.
pub struct Generated {
    pub gen: Generator,
    pub libs: Vec<GeneratedLibrary>,
    pub data: PathBuf,
    pub test_db: TestDb,
    pub _dir: tempfile::TempDir,
}

/// The opening most end-to-end and fault tests share: a broker, `n` libraries made from
/// `spec(name)` on a fresh `primary` database, and a [`Site`] backing them up onto a fresh
/// `backup` database (full scans hourly, so that events do the work). `None` (with the reason
/// said) when a service is missing outside CI.
///
/// Bind the four in this order (`let Some((broker, rt, g, site))`): variables drop in reverse,
/// so the backup and the primary stop while the broker still runs.
pub fn generated_site(
    primary: DbKind,
    n: usize,
    spec: impl Fn(&str) -> LibrarySpec,
    backup: DbKind,
) -> Option<(Broker, tokio::runtime::Runtime, Generated, Site)> {
    let broker = Broker::start()?;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let g = generated_primary_with(&rt, primary, n, spec)?;
    let site = Site::start(&broker, &g.data, &g.test_db.url, backup, "1h")?;
    Some((broker, rt, g, site))
}

/// `n` small generated libraries (seed 5) on a fresh `kind` database.
pub fn generated_primary(rt: &tokio::runtime::Runtime, kind: DbKind, n: usize) -> Option<Generated> {
    generated_primary_with(rt, kind, n, LibrarySpec::small)
}

/// `n` generated libraries made from `spec(name)` (seed 5) on a fresh `kind` database.
pub fn generated_primary_with(
    rt: &tokio::runtime::Runtime,
    kind: DbKind,
    n: usize,
    spec: impl Fn(&str) -> LibrarySpec,
) -> Option<Generated> {
    let test_db = rt.block_on(TestDb::create(kind))?;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("seafile-data");
    let db = rt.block_on(test_db.connect());
    let (gen, libs) = generate_libraries(rt, &db, &data, 5, n, spec);
    Some(Generated {
        gen,
        libs,
        data,
        test_db,
        _dir: dir,
    })
}
