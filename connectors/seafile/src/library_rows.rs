//! The rows that describe one library, carried generically: every table of Seafile's database
//! that is about one library, with every column the primary's database has.
//!
//! A fixed column list would freeze the backup at one Seafile release: Seafile 12 added
//! `RepoInfo.type` (`'wiki'`), 13 added `archive_status`, and the next release will add something
//! else. So the primary reads the columns its database reports and sends them as they are
//! (table → rows, row = column → [`Value`]), and the backup adds the columns its tables lack
//! before it writes. This module is the part of that which needs no database: which tables, how a
//! library's rows are selected in each, what they say about the library (live, in the trash,
//! gone), and what the backup has to change to hold them. The SQL is in [`crate::library_db`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::db::{RepoRecord, MASTER};
use crate::id::{ObjectId, RepoId};

/// One column value, typed just enough to write it back as it was read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl Value {
    /// The text of a text value (an integer is not text: ids are never numbers).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a column of `kind` holds it: integers given as text become integers when
    /// they parse (SQLite stores what it is given), integers become text in a text column.
    pub fn coerce(&self, kind: ColumnKind) -> Value {
        match (self, kind) {
            (Value::Text(s), ColumnKind::Integer) => s.trim().parse().map(Value::Int).unwrap_or_else(|_| self.clone()),
            (Value::Int(i), ColumnKind::Text) => Value::Text(i.to_string()),
            _ => self.clone(),
        }
    }
}

/// How a column's values are read and written: integer types as integers, everything else as
/// text (which every database converts back on insert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Integer,
    Text,
}

impl ColumnKind {
    /// The kind of a column declared as `declared` (`BIGINT UNSIGNED`, `character varying`,
    /// `VARCHAR(36)`): SQLite's own rule for integer affinity, a type name containing "INT".
    pub fn of_declared(declared: &str) -> ColumnKind {
        if declared.to_ascii_uppercase().contains("INT") {
            ColumnKind::Integer
        } else {
            ColumnKind::Text
        }
    }
}

/// One column as a database reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

/// A row: column name → value.
pub type Row = BTreeMap<String, Value>;

/// One table's rows of one library, with the columns they were read with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// Which rows of a table belong to a library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `repo_id = <library>`.
    Repo,
    /// `repo_id = <library> AND name = 'master'`: Seafile keeps a library's head in `master`,
    /// and only that branch's commits are synced, so no other branch may point at the backup.
    MasterBranch,
    /// `SystemInfo`'s `info_key = 'default_repo_id'` row, when it names this library: the
    /// template "My Library" is copied from. Without it every seaf-server start creates a new
    /// template. It is replaced only by the library it names, never removed by another.
    DefaultLibrary,
}

/// A table that describes a library, and how its rows are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CarriedTable {
    /// The name as Seafile's schema writes it.
    pub name: &'static str,
    pub scope: Scope,
}

/// The key `SystemInfo` stores the template library's id under.
pub const DEFAULT_REPO_KEY: &str = "default_repo_id";

/// Every table carried live, in the head's transaction. Sharing, permissions, tokens, quotas
/// and users are not here: they describe people, not a library, and are the operator's dump.
pub const CARRIED_TABLES: [CarriedTable; 13] = [
    CarriedTable::repo("Repo"),
    CarriedTable {
        name: "Branch",
        scope: Scope::MasterBranch,
    },
    CarriedTable::repo("RepoHead"),
    CarriedTable::repo("RepoInfo"),
    CarriedTable::repo("RepoOwner"),
    CarriedTable::repo("VirtualRepo"),
    CarriedTable::repo("RepoStorageId"),
    CarriedTable::repo("RepoSize"),
    CarriedTable::repo("RepoFileCount"),
    CarriedTable::repo("RepoHistoryLimit"),
    CarriedTable::repo("RepoValidSince"),
    CarriedTable::repo("RepoTrash"),
    CarriedTable {
        name: "SystemInfo",
        scope: Scope::DefaultLibrary,
    },
];

impl CarriedTable {
    const fn repo(name: &'static str) -> CarriedTable {
        CarriedTable {
            name,
            scope: Scope::Repo,
        }
    }

    /// The carried table called `name` (any letter case).
    pub fn named(name: &str) -> Option<CarriedTable> {
        CARRIED_TABLES
            .iter()
            .copied()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// Whether an empty row set replaces what the backup holds. Not for the default-library
    /// row: a library that is not the template must not remove the template's row.
    pub fn empty_replaces(&self) -> bool {
        self.scope != Scope::DefaultLibrary
    }
}

/// Columns never carried: the surrogate `id` of every MySQL/PostgreSQL table is the database's
/// own counter, and two databases' counters have nothing to do with each other.
pub fn is_carried_column(name: &str) -> bool {
    !name.eq_ignore_ascii_case("id")
}

/// Everything the primary's database holds about one library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryRows {
    pub repo_id: RepoId,
    /// Carried table (Seafile's name) → its rows of this library. A table the primary's
    /// database does not have is absent, and the backup leaves its own rows of it alone.
    pub tables: BTreeMap<String, TableRows>,
}

/// What the primary's rows say about a library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibraryState {
    /// In use, at this head.
    Live { head: ObjectId },
    /// In the primary's trash (`RepoTrash`), restorable from this head.
    Trashed { head: ObjectId },
    /// Neither: purged from the trash, or deleted without one.
    Gone,
}

/// The primary sent rows that cannot be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the primary's {table}.{column} of library {repo} holds {value:?}, which is not a valid id")]
pub struct BadRow {
    pub repo: RepoId,
    pub table: String,
    pub column: String,
    pub value: String,
}

impl LibraryRows {
    pub fn new(repo_id: RepoId) -> Self {
        LibraryRows {
            repo_id,
            tables: BTreeMap::new(),
        }
    }

    /// The rows of `table`, if the primary has that table.
    pub fn table(&self, table: &str) -> Option<&TableRows> {
        self.tables.get(table)
    }

    /// The text of `column` in the first row of `table`.
    fn first_text(&self, table: &str, column: &str) -> Option<&str> {
        self.table(table)?
            .rows
            .first()?
            .get(column)
            .and_then(Value::as_text)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    fn object_id(&self, table: &str, column: &str) -> Result<Option<ObjectId>, BadRow> {
        self.first_text(table, column)
            .map(|s| ObjectId::parse(s).map_err(|_| self.bad(table, column, s)))
            .transpose()
    }

    fn bad(&self, table: &str, column: &str, value: &str) -> BadRow {
        BadRow {
            repo: self.repo_id,
            table: table.to_string(),
            column: column.to_string(),
            value: value.to_string(),
        }
    }

    /// Live when `master` has a head, else trashed when `RepoTrash` has one, else gone.
    pub fn state(&self) -> Result<LibraryState, BadRow> {
        if let Some(head) = self.object_id("Branch", "commit_id")? {
            return Ok(LibraryState::Live { head });
        }
        match self.object_id("RepoTrash", "head_id")? {
            Some(head) => Ok(LibraryState::Trashed { head }),
            None => Ok(LibraryState::Gone),
        }
    }

    /// The library whose store holds this (virtual) library's fs objects and blocks.
    pub fn origin(&self) -> Result<Option<RepoId>, BadRow> {
        self.first_text("VirtualRepo", "origin_repo")
            .map(|s| RepoId::parse(s).map_err(|_| self.bad("VirtualRepo", "origin_repo", s)))
            .transpose()
    }

    /// The rows a primary without the generic endpoint sends, in its fixed record: the tables
    /// that record covers, so the others are left as the backup has them.
    pub fn from_record(r: &RepoRecord) -> LibraryRows {
        let id = || Value::Text(r.repo_id.to_string());
        let text = |s: Option<&str>| s.map_or(Value::Null, |s| Value::Text(s.to_string()));
        let int = |i: Option<i64>| i.map_or(Value::Null, Value::Int);
        let mut out = LibraryRows::new(r.repo_id);
        out.put("Repo", &[("repo_id", id())]);
        out.put(
            "Branch",
            &[
                ("name", Value::Text(MASTER.into())),
                ("repo_id", id()),
                ("commit_id", Value::Text(r.head.to_hex())),
            ],
        );
        out.put(
            "RepoHead",
            &[("repo_id", id()), ("branch_name", Value::Text(MASTER.into()))],
        );
        out.put_optional(
            "RepoInfo",
            r.info.as_ref().map(|i| {
                vec![
                    ("repo_id", id()),
                    ("name", Value::Text(i.name.clone())),
                    ("update_time", int(i.update_time)),
                    ("version", int(i.version)),
                    ("is_encrypted", int(i.is_encrypted)),
                    ("last_modifier", text(i.last_modifier.as_deref())),
                    ("status", int(i.status)),
                ]
            }),
        );
        out.put_optional(
            "RepoOwner",
            r.owner
                .as_ref()
                .map(|o| vec![("repo_id", id()), ("owner_id", text(Some(o.as_str())))]),
        );
        out.put_optional(
            "VirtualRepo",
            r.virtual_repo.as_ref().map(|v| {
                vec![
                    ("repo_id", id()),
                    ("origin_repo", Value::Text(v.origin_repo.to_string())),
                    ("path", Value::Text(v.path.clone())),
                    ("base_commit", text(v.base_commit.map(|b| b.to_hex()).as_deref())),
                ]
            }),
        );
        out.put_optional(
            "RepoStorageId",
            r.storage_id
                .as_ref()
                .map(|s| vec![("repo_id", id()), ("storage_id", text(Some(s.as_str())))]),
        );
        out
    }

    /// Sets `table` to one row of `values` (integers by their value, the rest as text).
    fn put(&mut self, table: &str, values: &[(&str, Value)]) {
        self.put_optional(table, Some(values.to_vec()));
    }

    /// Sets `table` to one row, or to no rows.
    fn put_optional(&mut self, table: &str, values: Option<Vec<(&str, Value)>>) {
        let columns = match &values {
            Some(v) => v
                .iter()
                .map(|(name, value)| Column {
                    name: name.to_string(),
                    kind: if matches!(value, Value::Int(_)) {
                        ColumnKind::Integer
                    } else {
                        ColumnKind::Text
                    },
                })
                .collect(),
            None => Vec::new(),
        };
        let rows = values
            .into_iter()
            .map(|v| v.into_iter().map(|(c, val)| (c.to_string(), val)).collect())
            .collect();
        self.tables.insert(table.to_string(), TableRows { columns, rows });
    }
}

/// The columns of each table of a database (as it names them, with their kinds).
pub type Catalogue = BTreeMap<String, Vec<Column>>;

/// `table`'s entry in `catalogue`: the exact name, else any letter case (PostgreSQL folds).
pub fn find_table<'a>(catalogue: &'a Catalogue, table: &str) -> Option<(&'a String, &'a Vec<Column>)> {
    catalogue
        .get_key_value(table)
        .or_else(|| catalogue.iter().find(|(name, _)| name.eq_ignore_ascii_case(table)))
}

/// A column the backup's table lacks and must get before the rows are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingColumn {
    /// The table's name in the backup's database.
    pub table: String,
    pub column: Column,
}

/// The backup cannot hold what the primary sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the backup database has no table {0} (it is made a complete Seafile database at start; was it changed since?)"
    )]
    MissingTable(String),
    #[error("the backup's {table} has no column {column} for library {repo}, even after adding the missing columns")]
    MissingColumn {
        repo: RepoId,
        table: String,
        column: String,
    },
    #[error("the primary sent rows of {0}, which is not a table seaf-backup carries")]
    NotCarried(String),
}

/// The columns of the primary's rows that the backup's tables lack. Never a column to drop:
/// what the backup has beyond the primary stays (and gets its default in new rows).
pub fn missing_columns(rows: &LibraryRows, backup: &Catalogue) -> Result<Vec<MissingColumn>, PlanError> {
    let mut out = Vec::new();
    for (table, sent) in &rows.tables {
        let (name, have) = find_table(backup, table).ok_or_else(|| PlanError::MissingTable(table.clone()))?;
        for column in &sent.columns {
            if is_carried_column(&column.name) && !have.iter().any(|c| c.name.eq_ignore_ascii_case(&column.name)) {
                out.push(MissingColumn {
                    table: name.clone(),
                    column: column.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// What to write into one backup table: its rows of the library replaced by `rows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableWrite {
    pub table: CarriedTable,
    /// The table's name in the backup's database.
    pub db_table: String,
    /// The columns written, as the backup names them, with the backup's kinds.
    pub columns: Vec<Column>,
    /// Values in `columns` order, coerced to the backup's kinds.
    pub rows: Vec<Vec<Value>>,
}

/// The writes that make the backup hold `rows`, for a backup whose tables are `backup` (after
/// [`missing_columns`] were added). Tables absent from `rows` are not written; an empty
/// default-library row set is not either (see [`CarriedTable::empty_replaces`]).
pub fn plan_writes(rows: &LibraryRows, backup: &Catalogue) -> Result<Vec<TableWrite>, PlanError> {
    let mut out = Vec::new();
    for (table, sent) in &rows.tables {
        let carried = CarriedTable::named(table).ok_or_else(|| PlanError::NotCarried(table.clone()))?;
        if sent.rows.is_empty() && !carried.empty_replaces() {
            continue;
        }
        let (db_table, have) = find_table(backup, table).ok_or_else(|| PlanError::MissingTable(table.clone()))?;
        let mut columns = Vec::new();
        let mut sources = Vec::new();
        for column in sent.columns.iter().filter(|c| is_carried_column(&c.name)) {
            let local = have
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(&column.name))
                .ok_or_else(|| PlanError::MissingColumn {
                    repo: rows.repo_id,
                    table: db_table.clone(),
                    column: column.name.clone(),
                })?;
            columns.push(local.clone());
            sources.push(column.name.as_str());
        }
        let values = sent
            .rows
            .iter()
            .map(|row| {
                columns
                    .iter()
                    .zip(&sources)
                    .map(|(c, source)| row.get(*source).unwrap_or(&Value::Null).coerce(c.kind))
                    .collect()
            })
            .collect();
        out.push(TableWrite {
            table: carried,
            db_table: db_table.clone(),
            columns,
            rows: values,
        });
    }
    Ok(out)
}

/// Whether the backup's rows (`current`, read with the planned writes' columns) differ from
/// what the writes would put there. Row order does not matter.
pub fn differs(writes: &[TableWrite], current: &LibraryRows) -> bool {
    writes.iter().any(|w| {
        let mut want = w.rows.clone();
        let mut have: Vec<Vec<Value>> = current
            .table(w.table.name)
            .map(|t| {
                t.rows
                    .iter()
                    .map(|row| {
                        w.columns
                            .iter()
                            .map(|c| row.get(&c.name).cloned().unwrap_or(Value::Null).coerce(c.kind))
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default();
        want.sort();
        have.sort();
        want != have
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{RepoInfo, VirtualRepo};

    fn repo(n: u8) -> RepoId {
        RepoId::parse(&format!("{n:08x}-0000-4000-8000-000000000000")).unwrap()
    }

    fn col(name: &str, kind: ColumnKind) -> Column {
        Column {
            name: name.into(),
            kind,
        }
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn table(columns: &[(&str, ColumnKind)], rows: Vec<Vec<Value>>) -> TableRows {
        TableRows {
            columns: columns.iter().map(|(n, k)| col(n, *k)).collect(),
            rows: rows
                .into_iter()
                .map(|r| columns.iter().map(|(n, _)| n.to_string()).zip(r).collect())
                .collect(),
        }
    }

    /// A Seafile 13 library: a wiki, archived, with a column no release has yet.
    fn wiki(r: RepoId, head: ObjectId) -> LibraryRows {
        use ColumnKind::*;
        let mut rows = LibraryRows::new(r);
        let id = text(r.as_str());
        rows.tables.insert(
            "Branch".into(),
            table(
                &[("id", Integer), ("name", Text), ("repo_id", Text), ("commit_id", Text)],
                vec![vec![Value::Int(7), text("master"), id.clone(), text(&head.to_hex())]],
            ),
        );
        rows.tables.insert(
            "RepoInfo".into(),
            table(
                &[
                    ("repo_id", Text),
                    ("name", Text),
                    ("status", Integer),
                    ("type", Text),
                    ("archive_status", Text),
                    ("tomorrow", Integer),
                ],
                vec![vec![
                    id.clone(),
                    text("Wiki"),
                    Value::Int(0),
                    text("wiki"),
                    text("archived"),
                    Value::Null,
                ]],
            ),
        );
        rows.tables.insert("RepoTrash".into(), TableRows::default());
        rows.tables.insert("SystemInfo".into(), TableRows::default());
        rows
    }

    fn backup_catalogue() -> Catalogue {
        use ColumnKind::*;
        let mut c = Catalogue::new();
        c.insert(
            "branch".into(),
            vec![
                col("id", Integer),
                col("name", Text),
                col("repo_id", Text),
                col("commit_id", Text),
            ],
        );
        c.insert(
            "RepoInfo".into(),
            vec![
                col("id", Integer),
                col("repo_id", Text),
                col("name", Text),
                col("status", Integer),
                col("type", Text),
                col("archive_status", Text),
                col("enc_version", Integer),
            ],
        );
        c.insert("RepoTrash".into(), vec![col("repo_id", Text), col("head_id", Text)]);
        c.insert(
            "SystemInfo".into(),
            vec![col("info_key", Text), col("info_value", Text)],
        );
        c
    }

    #[test]
    fn values_round_trip_through_json_as_text_integer_or_null() {
        let row: Row = [
            ("a".to_string(), text("5")),
            ("b".to_string(), Value::Int(5)),
            ("c".to_string(), Value::Null),
            ("d".to_string(), Value::Int(i64::MAX)),
        ]
        .into_iter()
        .collect();
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(json, r#"{"a":"5","b":5,"c":null,"d":9223372036854775807}"#);
        assert_eq!(serde_json::from_str::<Row>(&json).unwrap(), row);
        assert_eq!(text(" 12").coerce(ColumnKind::Integer), Value::Int(12));
        assert_eq!(text("wiki").coerce(ColumnKind::Integer), text("wiki"));
        assert_eq!(Value::Int(3).coerce(ColumnKind::Text), text("3"));
        assert_eq!(Value::Null.coerce(ColumnKind::Integer), Value::Null);
    }

    #[test]
    fn declared_types_map_to_kinds_by_sqlites_rule() {
        for t in ["BIGINT UNSIGNED", "int", "INTEGER", "smallint", "bigint(20)", "tinyint"] {
            assert_eq!(ColumnKind::of_declared(t), ColumnKind::Integer, "{t}");
        }
        for t in [
            "VARCHAR(255)",
            "character varying",
            "character",
            "text",
            "CHAR(40)",
            "",
            "datetime",
        ] {
            assert_eq!(ColumnKind::of_declared(t), ColumnKind::Text, "{t}");
        }
    }

    #[test]
    fn branch_says_live_trash_says_trashed_neither_says_gone() {
        let (r, h) = (repo(1), ObjectId::hash_of(b"h"));
        assert_eq!(wiki(r, h).state().unwrap(), LibraryState::Live { head: h });

        let mut trashed = LibraryRows::new(r);
        trashed.tables.insert("Branch".into(), TableRows::default());
        trashed.tables.insert(
            "RepoTrash".into(),
            table(
                &[("repo_id", ColumnKind::Text), ("head_id", ColumnKind::Text)],
                vec![vec![text(r.as_str()), text(&h.to_hex())]],
            ),
        );
        assert_eq!(trashed.state().unwrap(), LibraryState::Trashed { head: h });

        trashed.tables.insert("RepoTrash".into(), TableRows::default());
        assert_eq!(trashed.state().unwrap(), LibraryState::Gone);
        assert_eq!(LibraryRows::new(r).state().unwrap(), LibraryState::Gone);

        let mut bad = wiki(r, h);
        bad.tables.get_mut("Branch").unwrap().rows[0].insert("commit_id".into(), text("../x"));
        let err = bad.state().unwrap_err().to_string();
        assert!(err.contains("Branch.commit_id") && err.contains("../x"), "{err}");
    }

    #[test]
    fn missing_columns_are_found_and_extra_backup_columns_left_alone() {
        let rows = wiki(repo(1), ObjectId::hash_of(b"h"));
        let missing = missing_columns(&rows, &backup_catalogue()).unwrap();
        assert_eq!(
            missing,
            [MissingColumn {
                table: "RepoInfo".into(),
                column: col("tomorrow", ColumnKind::Integer)
            }]
        );
        let mut no_table = backup_catalogue();
        no_table.remove("RepoTrash");
        assert_eq!(
            missing_columns(&rows, &no_table),
            Err(PlanError::MissingTable("RepoTrash".into()))
        );
    }

    #[test]
    fn writes_use_the_backups_names_and_kinds_and_skip_the_surrogate_id() {
        let (r, h) = (repo(1), ObjectId::hash_of(b"h"));
        let rows = wiki(r, h);
        let mut backup = backup_catalogue();
        assert!(matches!(
            plan_writes(&rows, &backup),
            Err(PlanError::MissingColumn { column, .. }) if column == "tomorrow"
        ));
        backup
            .get_mut("RepoInfo")
            .unwrap()
            .push(col("tomorrow", ColumnKind::Integer));
        let writes = plan_writes(&rows, &backup).unwrap();
        let names: Vec<(&str, &str)> = writes.iter().map(|w| (w.table.name, w.db_table.as_str())).collect();
        // SystemInfo's empty set is no write: this library is not the template.
        assert_eq!(
            names,
            [
                ("Branch", "branch"),
                ("RepoInfo", "RepoInfo"),
                ("RepoTrash", "RepoTrash")
            ]
        );
        let branch = &writes[0];
        assert_eq!(
            branch.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["name", "repo_id", "commit_id"]
        );
        assert_eq!(branch.rows, [vec![text("master"), text(r.as_str()), text(&h.to_hex())]]);
        assert_eq!(writes[1].rows[0][3], text("wiki"));
        assert!(
            writes[2].rows.is_empty(),
            "an empty trash set clears the backup's trash row"
        );

        let mut foreign = rows.clone();
        foreign.tables.insert("SharedRepo".into(), TableRows::default());
        assert_eq!(
            plan_writes(&foreign, &backup),
            Err(PlanError::NotCarried("SharedRepo".into()))
        );
    }

    #[test]
    fn differences_are_seen_in_values_and_rows_but_not_in_order_or_kinds() {
        let (r, h) = (repo(1), ObjectId::hash_of(b"h"));
        let mut backup = backup_catalogue();
        backup
            .get_mut("RepoInfo")
            .unwrap()
            .push(col("tomorrow", ColumnKind::Integer));
        let rows = wiki(r, h);
        let writes = plan_writes(&rows, &backup).unwrap();
        let mut current = rows.clone();
        assert!(!differs(&writes, &current));
        // The same integer read back as text from a text-typed SQLite column is the same value.
        current.tables.get_mut("RepoInfo").unwrap().rows[0].insert("status".into(), text("0"));
        assert!(!differs(&writes, &current));
        current.tables.get_mut("RepoInfo").unwrap().rows[0].insert("type".into(), Value::Null);
        assert!(differs(&writes, &current));
        let mut extra = rows.clone();
        extra.tables.get_mut("RepoTrash").unwrap().rows.push(Row::new());
        assert!(differs(&writes, &extra));
    }

    #[test]
    fn a_fixed_record_becomes_the_tables_it_covers() {
        let (r, h) = (repo(1), ObjectId::hash_of(b"h"));
        let record = RepoRecord {
            repo_id: r,
            head: h,
            info: Some(RepoInfo {
                name: "Docs".into(),
                update_time: Some(5),
                version: Some(1),
                is_encrypted: Some(0),
                last_modifier: None,
                status: Some(0),
            }),
            owner: Some("a@example.com".into()),
            virtual_repo: Some(VirtualRepo {
                origin_repo: repo(2),
                path: "/a".into(),
                base_commit: None,
            }),
            storage_id: None,
        };
        let rows = LibraryRows::from_record(&record);
        assert_eq!(rows.state().unwrap(), LibraryState::Live { head: h });
        assert_eq!(rows.origin().unwrap(), Some(repo(2)));
        assert_eq!(
            rows.tables.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "Branch",
                "Repo",
                "RepoHead",
                "RepoInfo",
                "RepoOwner",
                "RepoStorageId",
                "VirtualRepo"
            ]
        );
        assert!(rows.table("RepoStorageId").unwrap().rows.is_empty());
        let info = &rows.table("RepoInfo").unwrap().rows[0];
        assert_eq!(info["update_time"], Value::Int(5));
        assert_eq!(info["last_modifier"], Value::Null);
        assert_eq!(
            rows.table("RepoInfo")
                .unwrap()
                .columns
                .iter()
                .find(|c| c.name == "last_modifier")
                .unwrap()
                .kind,
            ColumnKind::Text
        );
    }
}
