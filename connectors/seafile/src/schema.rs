//! Seafile's whole seafile database, as a Seafile server expects to find it.
//!
//! The tables are every table of Seafile's own `scripts/sql/{mysql,sqlite}/seafile.sql` with the
//! columns of releases 11, 12 and 13 (a superset: an older server ignores what it does not know),
//! written per kind of database in `connectors/seafile/sql/` (each file says where it comes
//! from). [`SeafileDb::ensure_seafile_schema`] makes a database hold them:
//!
//! 1. every table is created where missing (`CREATE TABLE IF NOT EXISTS`);
//! 2. an existing table gets the columns it lacks (`ALTER TABLE … ADD COLUMN`), found by comparing
//!    the schema file with what the database reports (`information_schema.columns`, or
//!    `pragma_table_info` on SQLite); a table's key columns are never retrofitted, and a column
//!    added later is nullable unless it has a default (a `NOT NULL` column without one cannot be
//!    added to a table with rows on PostgreSQL or SQLite);
//! 3. the indexes kept as separate statements (PostgreSQL, SQLite) are created where missing.
//!
//! Nothing is ever dropped: columns and tables the schema does not know are left as they are.
//! Running it again changes nothing. The parsing of the schema files and the "which columns are
//! missing" comparison are plain functions, tested without a database.

use std::collections::BTreeMap;

use crate::db::{split_statements, DbError, DbKind, SeafileDb};

/// The columns of each table of a database, as the database names them, in column order.
pub type TableColumns = BTreeMap<String, Vec<String>>;

/// One column of a table in a schema file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    /// The column's name, unquoted.
    pub name: String,
    /// The name as written in the file (quoted where it is a reserved word).
    ident: String,
    /// Everything after the name: type, default, constraints.
    definition: String,
}

/// One `CREATE TABLE` of a schema file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// The table's name as Seafile writes it (`RepoInfo`).
    pub name: String,
    pub columns: Vec<ColumnDef>,
    create: String,
}

/// Seafile's schema for one kind of database.
#[derive(Debug, Clone)]
pub struct Schema {
    pub tables: Vec<TableDef>,
    /// `CREATE INDEX IF NOT EXISTS` statements, run after the columns they cover exist.
    indexes: Vec<String>,
}

/// What [`SeafileDb::ensure_seafile_schema`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaReport {
    /// Tables that did not exist and were created.
    pub created_tables: Vec<String>,
    /// `(table, column)` pairs added to existing tables.
    pub added_columns: Vec<(String, String)>,
    /// Missing key columns, which cannot be added to an existing table (left as they are).
    pub missing_key_columns: Vec<(String, String)>,
}

impl SchemaReport {
    pub fn is_empty(&self) -> bool {
        self.created_tables.is_empty() && self.added_columns.is_empty() && self.missing_key_columns.is_empty()
    }
}

/// Words that open a key or index clause inside `CREATE TABLE (…)` rather than a column.
const CLAUSE_WORDS: [&str; 7] = ["PRIMARY", "UNIQUE", "INDEX", "KEY", "CONSTRAINT", "FOREIGN", "CHECK"];

impl Schema {
    /// Seafile's schema for `kind` (the file in `connectors/seafile/sql/`).
    pub fn for_kind(kind: DbKind) -> Schema {
        // The files are part of this crate and parsed by its unit tests.
        Schema::parse(kind.seafile_schema()).expect("connectors/seafile/sql/*/seafile.sql parses")
    }

    /// Reads a schema file: `CREATE TABLE IF NOT EXISTS` and `CREATE [UNIQUE] INDEX` statements.
    pub fn parse(sql: &str) -> Result<Schema, String> {
        let mut schema = Schema {
            tables: Vec::new(),
            indexes: Vec::new(),
        };
        for stmt in split_statements(sql) {
            let upper = stmt.to_ascii_uppercase();
            if upper.starts_with("CREATE TABLE IF NOT EXISTS") {
                schema.tables.push(parse_table(stmt)?);
            } else if upper.starts_with("CREATE INDEX IF NOT EXISTS")
                || upper.starts_with("CREATE UNIQUE INDEX IF NOT EXISTS")
            {
                schema.indexes.push(stmt.to_string());
            } else {
                return Err(format!("not a CREATE … IF NOT EXISTS statement: {stmt}"));
            }
        }
        Ok(schema)
    }

    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// The schema's tables that `present` lacks.
    pub fn missing_tables<'a>(&'a self, present: &TableColumns) -> Vec<&'a TableDef> {
        self.tables
            .iter()
            .filter(|t| find_table(present, &t.name).is_none())
            .collect()
    }

    /// The columns that tables in `present` lack, with the table's name as the database has it.
    /// Tables absent from `present` are not listed (they are created whole).
    pub fn missing_columns<'a>(&'a self, present: &TableColumns) -> Vec<(String, &'a ColumnDef)> {
        let mut out = Vec::new();
        for table in &self.tables {
            let Some((db_name, columns)) = find_table(present, &table.name) else {
                continue;
            };
            for column in &table.columns {
                if !columns.iter().any(|c| c.eq_ignore_ascii_case(&column.name)) {
                    out.push((db_name.clone(), column));
                }
            }
        }
        out
    }
}

/// The entry of `present` for `table`: the exact name, else any case (PostgreSQL folds unquoted
/// names to lower case; MySQL does with `lower_case_table_names`; SQLite ignores case).
fn find_table<'a>(present: &'a TableColumns, table: &str) -> Option<(&'a String, &'a Vec<String>)> {
    present
        .get_key_value(table)
        .or_else(|| present.iter().find(|(name, _)| name.eq_ignore_ascii_case(table)))
}

fn parse_table(stmt: &str) -> Result<TableDef, String> {
    let rest = stmt["CREATE TABLE IF NOT EXISTS".len()..].trim_start();
    let open = rest.find('(').ok_or_else(|| format!("no column list: {stmt}"))?;
    let close = matching_paren(rest, open).ok_or_else(|| format!("unbalanced parentheses: {stmt}"))?;
    let name = unquote(rest[..open].trim()).to_string();
    if name.is_empty() {
        return Err(format!("no table name: {stmt}"));
    }
    let columns = split_top_level(&rest[open + 1..close])
        .into_iter()
        .filter_map(parse_column)
        .collect::<Vec<_>>();
    if columns.is_empty() {
        return Err(format!("no columns: {stmt}"));
    }
    Ok(TableDef {
        name,
        columns,
        create: stmt.to_string(),
    })
}

/// A column of a `CREATE TABLE` body item, or `None` for a key or index clause.
fn parse_column(item: &str) -> Option<ColumnDef> {
    let item = item.trim();
    let end = item.find(|c: char| c.is_whitespace() || c == '(').unwrap_or(item.len());
    let ident = &item[..end];
    if ident.is_empty() || CLAUSE_WORDS.iter().any(|w| ident.eq_ignore_ascii_case(w)) {
        return None;
    }
    Some(ColumnDef {
        name: unquote(ident).to_string(),
        ident: ident.to_string(),
        definition: item[end..].trim().to_string(),
    })
}

/// The index of the `)` closing the `(` at `open`.
fn matching_paren(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices().skip_while(|(i, _)| *i < open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits at the commas outside parentheses (`VARCHAR(10), UNIQUE INDEX(a, b)` → two items).
fn split_top_level(body: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in body.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&body[start..]);
    items
}

fn unquote(ident: &str) -> &str {
    ident.trim_matches(|c| c == '"' || c == '`')
}

/// The definition to add `column` to an existing table with, or `None` for a key column (a
/// primary key or auto-increment id cannot be added to a table that has rows and maybe a key).
/// `NOT NULL` is kept only with a default, so existing rows get a value.
fn added_definition(column: &ColumnDef) -> Option<String> {
    let upper = column.definition.to_ascii_uppercase();
    let words: Vec<&str> = upper.split_whitespace().collect();
    let is_key = upper.contains("PRIMARY KEY") || words.iter().any(|w| *w == "AUTO_INCREMENT" || w.ends_with("SERIAL"));
    if is_key {
        return None;
    }
    let has_default = words.contains(&"DEFAULT");
    let original: Vec<&str> = column.definition.split_whitespace().collect();
    let mut kept = Vec::with_capacity(original.len());
    let mut i = 0;
    while i < original.len() {
        let not_null = original[i].eq_ignore_ascii_case("NOT")
            && original.get(i + 1).is_some_and(|w| w.eq_ignore_ascii_case("NULL"));
        if not_null && !has_default {
            i += 2;
            continue;
        }
        kept.push(original[i]);
        i += 1;
    }
    Some(kept.join(" "))
}

/// `ALTER TABLE … ADD COLUMN …` for a missing column, or `None` for a key column.
fn add_column_sql(db_table: &str, column: &ColumnDef) -> Option<String> {
    let definition = added_definition(column)?;
    Some(
        format!("ALTER TABLE {db_table} ADD COLUMN {} {definition}", column.ident)
            .trim_end()
            .to_string(),
    )
}

impl SeafileDb {
    /// Every table of this database and its columns, as the database names them.
    pub async fn table_columns(&self) -> Result<TableColumns, DbError> {
        let query = match self.kind() {
            DbKind::MySql => {
                "SELECT table_name AS tbl, column_name AS col FROM information_schema.columns \
                 WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position"
            }
            DbKind::Postgres => {
                "SELECT table_name::text AS tbl, column_name::text AS col FROM information_schema.columns \
                 WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
            }
            DbKind::Sqlite => {
                "SELECT m.name AS tbl, p.name AS col FROM sqlite_master AS m \
                 JOIN pragma_table_info(m.name) AS p WHERE m.type = 'table' ORDER BY m.name, p.cid"
            }
        };
        let rows = self
            .fetch_rows("reading the database's columns", query, &[], &["tbl", "col"])
            .await?;
        let mut out = TableColumns::new();
        for row in rows {
            if let [Some(table), Some(column)] = &row[..] {
                out.entry(table.clone()).or_default().push(column.clone());
            }
        }
        Ok(out)
    }

    /// Makes this a complete Seafile database (see the [module](self) doc): creates the missing
    /// tables, adds the missing columns, never drops anything. Idempotent.
    pub async fn ensure_seafile_schema(&self) -> Result<SchemaReport, DbError> {
        let schema = Schema::for_kind(self.kind());
        let before = self.table_columns().await?;
        let mut report = SchemaReport {
            created_tables: schema.missing_tables(&before).iter().map(|t| t.name.clone()).collect(),
            ..SchemaReport::default()
        };
        for table in &schema.tables {
            self.execute("creating Seafile's tables", &table.create, &[]).await?;
        }
        let present = self.table_columns().await?;
        for (db_table, column) in schema.missing_columns(&present) {
            match add_column_sql(&db_table, column) {
                Some(sql) => {
                    self.add_column(&sql, &db_table, &column.name).await?;
                    report.added_columns.push((db_table, column.name.clone()));
                }
                None => report.missing_key_columns.push((db_table, column.name.clone())),
            }
        }
        for index in &schema.indexes {
            self.execute("creating Seafile's indexes", index, &[]).await?;
        }
        Ok(report)
    }

    /// Runs one `ADD COLUMN`; a failure is fine when the column is there after all (another
    /// backup process starting at the same time added it).
    pub(crate) async fn add_column(&self, sql: &str, table: &str, column: &str) -> Result<(), DbError> {
        let Err(e) = self.execute("adding a column to a Seafile table", sql, &[]).await else {
            return Ok(());
        };
        let present = self.table_columns().await?;
        let added =
            find_table(&present, table).is_some_and(|(_, cols)| cols.iter().any(|c| c.eq_ignore_ascii_case(column)));
        if added {
            Ok(())
        } else {
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [DbKind; 3] = [DbKind::MySql, DbKind::Postgres, DbKind::Sqlite];

    /// Tables of Seafile 13's MySQL schema that its SQLite schema does not have.
    const NOT_ON_SQLITE: [&str; 9] = [
        "GCID",
        "LastGCID",
        "OrgDownloadRateLimit",
        "OrgUploadRateLimit",
        "OrgUserDefaultQuota",
        "RoleDownloadRateLimit",
        "RoleUploadRateLimit",
        "UserDownloadRateLimit",
        "UserUploadRateLimit",
    ];

    fn columns(schema: &Schema, table: &str) -> Vec<String> {
        schema
            .table(table)
            .unwrap()
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    fn present(tables: &[(&str, &[&str])]) -> TableColumns {
        tables
            .iter()
            .map(|(t, cols)| (t.to_string(), cols.iter().map(|c| c.to_string()).collect()))
            .collect()
    }

    #[test]
    fn every_schema_file_parses_into_tables_and_indexes() {
        for kind in KINDS {
            let schema = Schema::for_kind(kind);
            assert!(schema.tables.len() >= 37, "{kind:?}: {}", schema.tables.len());
            for t in &schema.tables {
                assert!(
                    t.columns.iter().all(|c| !c.name.is_empty() && !c.definition.is_empty()),
                    "{kind:?} {t:?}"
                );
            }
        }
        assert!(
            Schema::for_kind(DbKind::MySql).indexes.is_empty(),
            "MySQL keeps its indexes inline"
        );
        assert!(Schema::parse("DROP TABLE Repo;\n").is_err());
    }

    #[test]
    fn the_kinds_agree_on_tables_and_columns() {
        let mysql = Schema::for_kind(DbKind::MySql);
        let pgsql = Schema::for_kind(DbKind::Postgres);
        let sqlite = Schema::for_kind(DbKind::Sqlite);
        assert_eq!(mysql.tables.len(), 46);
        assert_eq!(pgsql.tables.len(), 46);
        assert_eq!(sqlite.tables.len(), 37);
        for table in &mysql.tables {
            assert_eq!(
                columns(&pgsql, &table.name),
                columns(&mysql, &table.name),
                "{}",
                table.name
            );
            if NOT_ON_SQLITE.contains(&table.name.as_str()) {
                assert!(sqlite.table(&table.name).is_none(), "{}", table.name);
                continue;
            }
            // SQLite's tables have no surrogate id.
            let without_id: Vec<String> = columns(&mysql, &table.name).into_iter().filter(|c| c != "id").collect();
            assert_eq!(columns(&sqlite, &table.name), without_id, "{}", table.name);
        }
    }

    #[test]
    fn repo_info_has_the_columns_of_seafile_12_and_13_and_nothing_invented() {
        for kind in KINDS {
            let cols = columns(&Schema::for_kind(kind), "RepoInfo");
            assert!(
                cols.contains(&"type".to_string()) && cols.contains(&"archive_status".to_string()),
                "{kind:?}"
            );
            assert!(
                !cols.iter().any(|c| c == "enc_version" || c == "salt"),
                "{kind:?}: {cols:?}"
            );
        }
    }

    #[test]
    fn quoted_names_and_clauses_are_told_apart() {
        let schema = Schema::parse(
            "CREATE TABLE IF NOT EXISTS OrgRepo (\n id BIGSERIAL PRIMARY KEY,\n \"user\" VARCHAR(255),\n size DECIMAL(10, 2) NOT NULL,\n UNIQUE INDEX(repo_id, \"user\"),\n KEY(org_id),\n PRIMARY KEY (id)) ENGINE=INNODB;\n",
        )
        .unwrap();
        let t = &schema.tables[0];
        assert_eq!(t.name, "OrgRepo");
        let names: Vec<_> = t
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.ident.as_str(), c.definition.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("id", "id", "BIGSERIAL PRIMARY KEY"),
                ("user", "\"user\"", "VARCHAR(255)"),
                ("size", "size", "DECIMAL(10, 2) NOT NULL"),
            ]
        );
        let sqlite =
            Schema::parse("CREATE TABLE IF NOT EXISTS SystemInfo( info_key VARCHAR(256), info_value VARCHAR(1024));\n")
                .unwrap();
        assert_eq!(sqlite.tables[0].name, "SystemInfo");
        assert_eq!(sqlite.tables[0].columns.len(), 2);
    }

    #[test]
    fn missing_columns_are_found_in_any_letter_case_and_extra_ones_ignored() {
        let schema = Schema::for_kind(DbKind::MySql);
        // seaf-backup's old MySQL RepoInfo: no type/archive_status, two columns of its own.
        let old = present(&[
            (
                "RepoInfo",
                &[
                    "id",
                    "repo_id",
                    "name",
                    "update_time",
                    "version",
                    "is_encrypted",
                    "last_modifier",
                    "status",
                    "enc_version",
                    "salt",
                ],
            ),
            ("branch", &["ID", "NAME", "REPO_ID", "COMMIT_ID"]),
        ]);
        let missing: Vec<(String, String)> = schema
            .missing_columns(&old)
            .into_iter()
            .map(|(t, c)| (t, c.name.clone()))
            .collect();
        assert_eq!(
            missing,
            [
                ("RepoInfo".to_string(), "type".to_string()),
                ("RepoInfo".to_string(), "archive_status".to_string())
            ]
        );
        let missing_tables: Vec<&str> = schema.missing_tables(&old).iter().map(|t| t.name.as_str()).collect();
        assert_eq!(missing_tables.len(), 44);
        assert!(!missing_tables.contains(&"Branch") && !missing_tables.contains(&"RepoInfo"));

        let pg = Schema::for_kind(DbKind::Postgres);
        let folded = present(&[(
            "repoinfo",
            &[
                "id",
                "repo_id",
                "name",
                "update_time",
                "version",
                "is_encrypted",
                "last_modifier",
                "status",
                "type",
            ],
        )]);
        let missing: Vec<_> = pg
            .missing_columns(&folded)
            .into_iter()
            .map(|(t, c)| format!("{t}.{}", c.name))
            .collect();
        assert_eq!(missing, ["repoinfo.archive_status"]);
    }

    #[test]
    fn a_complete_database_needs_nothing() {
        for kind in KINDS {
            let schema = Schema::for_kind(kind);
            let full: TableColumns = schema
                .tables
                .iter()
                .map(|t| {
                    (
                        t.name.to_lowercase(),
                        t.columns.iter().map(|c| c.name.to_uppercase()).collect(),
                    )
                })
                .collect();
            assert!(schema.missing_tables(&full).is_empty(), "{kind:?}");
            assert!(schema.missing_columns(&full).is_empty(), "{kind:?}");
        }
    }

    #[test]
    fn added_columns_are_nullable_or_defaulted_and_never_keys() {
        let col = |ident: &str, definition: &str| ColumnDef {
            name: unquote(ident).to_string(),
            ident: ident.to_string(),
            definition: definition.to_string(),
        };
        let sql = |c: &ColumnDef| add_column_sql("RepoInfo", c);
        assert_eq!(
            sql(&col("archive_status", "VARCHAR(32) NULL")).as_deref(),
            Some("ALTER TABLE RepoInfo ADD COLUMN archive_status VARCHAR(32) NULL")
        );
        assert_eq!(
            sql(&col("status", "INTEGER DEFAULT 0")).as_deref(),
            Some("ALTER TABLE RepoInfo ADD COLUMN status INTEGER DEFAULT 0")
        );
        assert_eq!(
            sql(&col("name", "VARCHAR(255) NOT NULL")).as_deref(),
            Some("ALTER TABLE RepoInfo ADD COLUMN name VARCHAR(255)")
        );
        assert_eq!(
            sql(&col("flag", "INTEGER NOT NULL DEFAULT 1")).as_deref(),
            Some("ALTER TABLE RepoInfo ADD COLUMN flag INTEGER NOT NULL DEFAULT 1")
        );
        assert_eq!(
            sql(&col("\"user\"", "VARCHAR(255) NOT NULL")).as_deref(),
            Some("ALTER TABLE RepoInfo ADD COLUMN \"user\" VARCHAR(255)")
        );
        for key in [
            "BIGINT NOT NULL PRIMARY KEY AUTO_INCREMENT",
            "BIGSERIAL PRIMARY KEY",
            "SERIAL PRIMARY KEY",
            "CHAR(37) PRIMARY KEY",
        ] {
            assert_eq!(sql(&col("id", key)), None, "{key}");
        }
    }
}
