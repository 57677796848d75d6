//! A primary process alone (no backup) over generated libraries: what the tests of the primary
//! role (`e2e_primary`, `e2e_binlog`) start, update and read the topic of.

use std::path::Path;

use seaf_seafile::{ObjectId, SeafileDb};
use seaf_testgen::{write_database, GeneratedLibrary, Generator, LibrarySpec};

use crate::agent::Agent;
use crate::db::TestDb;
use crate::e2e::Deployment;

/// The generated data, its Seafile database and the running primary.
pub struct PrimaryRun {
    pub rt: tokio::runtime::Runtime,
    pub db: SeafileDb,
    pub dir: tempfile::TempDir,
    pub gen: Generator,
    pub libs: Vec<GeneratedLibrary>,
    pub dep: Deployment,
    pub agent: Agent,
    /// The database on a shared server, dropped after the agent (`None`: a server of the
    /// test's own).
    pub test_db: Option<TestDb>,
}

impl PrimaryRun {
    /// `libraries` small libraries (generator seed `seed`) written to the Seafile database at
    /// `url` (`test_db`'s, when given), and a primary on them publishing to `brokers`; `config`
    /// adjusts the test deployment's primary configuration (a poll interval, the capture mode).
    pub fn start(
        rt: tokio::runtime::Runtime,
        brokers: &str,
        (url, test_db): (&str, Option<TestDb>),
        (libraries, seed): (usize, u64),
        config: impl FnOnce(String) -> String,
    ) -> PrimaryRun {
        let db = rt.block_on(SeafileDb::connect(url)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("seafile-data");
        let (gen, libs) = generate_libraries(&rt, &db, &data, seed, libraries, LibrarySpec::small);
        let dep = Deployment::new(brokers);
        let config = config(dep.primary_config(&data, url, &dir.path().join("state")));
        let agent = Agent::start("primary", dir.path(), &config, &dep.primary_metrics);
        PrimaryRun {
            rt,
            db,
            dir,
            gen,
            libs,
            dep,
            agent,
            test_db,
        }
    }

    /// Library `i` gets a new commit (2 changes) and its head moves in the database.
    pub fn update(&mut self, i: usize) -> ObjectId {
        let head = self.gen.update_library(&mut self.libs[i], 2).unwrap();
        self.rt.block_on(self.db.write_repo(&self.libs[i].record)).unwrap();
        head
    }
}

/// `n` libraries made from `spec("lib {i}")` by a generator of `seed` under `data`, their rows
/// written to `db`.
pub fn generate_libraries(
    rt: &tokio::runtime::Runtime,
    db: &SeafileDb,
    data: &Path,
    seed: u64,
    n: usize,
    spec: impl Fn(&str) -> LibrarySpec,
) -> (Generator, Vec<GeneratedLibrary>) {
    let mut gen = Generator::new(data, seed);
    let libs: Vec<_> = (0..n)
        .map(|i| gen.create_library(spec(&format!("lib {i}"))).unwrap())
        .collect();
    rt.block_on(write_database(db, &libs.iter().collect::<Vec<_>>()))
        .unwrap();
    (gen, libs)
}
