//! Seafile's storage, as seaf-backup reads and writes it.
//!
//! - [`id`]: validated object and library ids (safe in paths and URLs).
//! - [`commit`], [`fs`], [`object`]: the object formats of repo version 1 and their id rules.
//! - [`store`]: the `storage/{commits,fs,blocks}` layout with atomic, durable writes, and the
//!   rest of a data directory a Seafile server expects (`tmpfiles/`, `httptemp/`).
//! - [`closure`]: the walk over a head's whole history, used to verify a backup.
//! - [`db`]: the library rows of Seafile's database on MySQL/MariaDB, PostgreSQL and SQLite.
//! - [`library_rows`], [`library_db`]: the rows that describe one library, with every column the
//!   database has, as the primary reads and the backup writes them (the decisions without a
//!   database, the SQL beside them).
//! - [`schema`]: the whole seafile database (every table of Seafile's `seafile.sql`, releases
//!   11–13), created where missing and upgraded by adding columns, never dropping any.
//!
//! Everything here is usable without Kafka or HTTP, and all of it but [`db`], [`library_db`],
//! [`schema`] without a database. seaf-backup's own sync queue lives in the agent; it uses
//! [`db`]'s statement API ([`SeafileDb::execute`], [`Bind`]) on the same database.

mod change_marker;
pub mod closure;
pub mod commit;
pub mod db;
pub mod fs;
pub mod id;
mod json;
pub mod library_db;
pub mod library_rows;
pub mod object;
pub mod schema;
pub mod store;

pub use change_marker::ChangeMarker;
pub use closure::{walk_closure, ClosureStats, ClosureVisitor, Defect, Problem, WalkOptions};
pub use commit::{Commit, IdFormula};
pub use db::{Bind, DbError, DbKind, DbTransaction, RepoInfo, RepoRecord, SeafileDb, TrashedRepo, VirtualRepo};
pub use fs::{Dirent, FsObject, SeafDir, SeafFile};
pub use id::{IdError, ObjectId, RepoId};
pub use library_rows::{LibraryRows, LibraryState};
pub use object::{ObjectError, ObjectKind};
pub use schema::{SchemaReport, TableColumns};
pub use store::{NewObject, ObjectStore, RepoStores, StoreError};
