//! Reading and writing a library's carried rows ([`crate::library_rows`]) with whatever columns
//! the database has, on MySQL/MariaDB, PostgreSQL and SQLite.
//!
//! Columns are found in the database's catalogue, never listed in the code. Each is selected
//! through a cast to what sqlx's Any driver can decode on every server: integers as 64-bit
//! signed (MySQL's `BIGINT UNSIGNED` and `TINYINT` are not decodable as they are), everything else
//! as text (PostgreSQL's `CHAR` is `bpchar`, which the Any driver refuses, and its cast to text
//! drops the padding). Identifiers are quoted: a future column may be a reserved word.

use sqlx::any::AnyRow;
use sqlx::Row as _;

use crate::db::{bind_all, get_i64, q, Bind, DbError, DbKind, DbTransaction, SeafileDb, MASTER};
use crate::id::RepoId;
use crate::library_rows::{
    find_table, is_carried_column, Catalogue, Column, ColumnKind, LibraryRows, MissingColumn, Row, Scope, TableRows,
    TableWrite, Value, CARRIED_TABLES, DEFAULT_REPO_KEY,
};

/// `name` quoted for `kind`.
fn quote(kind: DbKind, name: &str) -> String {
    match kind {
        DbKind::MySql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// The select expression for `column`, aliased to its own name.
fn select_expr(kind: DbKind, column: &Column) -> String {
    let name = quote(kind, &column.name);
    let cast = match (kind, column.kind) {
        (DbKind::MySql, ColumnKind::Integer) => format!("CAST({name} AS SIGNED)"),
        (DbKind::MySql, ColumnKind::Text) => format!("CAST({name} AS CHAR)"),
        (DbKind::Postgres, ColumnKind::Integer) => format!("CAST({name} AS BIGINT)"),
        (_, ColumnKind::Text) => format!("CAST({name} AS TEXT)"),
        (DbKind::Sqlite, ColumnKind::Integer) => name.clone(),
    };
    format!("{cast} AS {name}")
}

/// The `WHERE` clause selecting a library's rows under `scope`, with its binds. `replaced`
/// widens the default-library scope to every `default_repo_id` row: there is one template,
/// whichever library it names.
fn filter(scope: Scope, repo: &str, replaced: bool) -> (&'static str, Vec<String>) {
    match (scope, replaced) {
        (Scope::Repo, _) => ("repo_id = ?", vec![repo.to_string()]),
        (Scope::MasterBranch, _) => ("repo_id = ? AND name = ?", vec![repo.to_string(), MASTER.to_string()]),
        (Scope::DefaultLibrary, false) => (
            "info_key = ? AND info_value = ?",
            vec![DEFAULT_REPO_KEY.to_string(), repo.to_string()],
        ),
        (Scope::DefaultLibrary, true) => ("info_key = ?", vec![DEFAULT_REPO_KEY.to_string()]),
    }
}

/// Text as stored, without trimming (MySQL and PostgreSQL already drop `CHAR` padding).
fn raw_text(row: &AnyRow, col: &str) -> Result<Option<String>, sqlx::Error> {
    match row.try_get::<Option<String>, _>(col) {
        Ok(v) => Ok(v),
        // MySQL reports TEXT with a binary collation as BLOB.
        Err(_) => Ok(row
            .try_get::<Option<Vec<u8>>, _>(col)?
            .map(|b| String::from_utf8_lossy(&b).into_owned())),
    }
}

fn decode(row: &AnyRow, column: &Column) -> Result<Value, sqlx::Error> {
    if column.kind == ColumnKind::Integer {
        if let Ok(v) = get_i64(row, &column.name) {
            return Ok(v.map_or(Value::Null, Value::Int));
        }
    }
    Ok(raw_text(row, &column.name)?.map_or(Value::Null, Value::Text))
}

/// The SQL type a column added for a newer primary gets: nullable, wide enough for anything.
fn added_type(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Integer => "BIGINT",
        ColumnKind::Text => "TEXT",
    }
}

impl SeafileDb {
    /// Every table of this database with its columns and their kinds.
    pub async fn catalogue(&self) -> Result<Catalogue, DbError> {
        let query = match self.kind() {
            DbKind::MySql => {
                "SELECT table_name AS tbl, column_name AS col, data_type AS typ FROM information_schema.columns \
                 WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position"
            }
            DbKind::Postgres => {
                "SELECT table_name::text AS tbl, column_name::text AS col, data_type::text AS typ \
                 FROM information_schema.columns WHERE table_schema = current_schema() \
                 ORDER BY table_name, ordinal_position"
            }
            DbKind::Sqlite => {
                "SELECT m.name AS tbl, p.name AS col, p.type AS typ FROM sqlite_master AS m \
                 JOIN pragma_table_info(m.name) AS p WHERE m.type = 'table' ORDER BY m.name, p.cid"
            }
        };
        let rows = self
            .fetch_rows("reading the database's columns", query, &[], &["tbl", "col", "typ"])
            .await?;
        let mut out = Catalogue::new();
        for row in rows {
            if let [Some(table), Some(name), typ] = &row[..] {
                out.entry(table.clone()).or_default().push(Column {
                    name: name.clone(),
                    kind: ColumnKind::of_declared(typ.as_deref().unwrap_or("")),
                });
            }
        }
        Ok(out)
    }

    /// Every carried row of `repo`, with every column this database has but the surrogate
    /// `id`. Tables this database does not have are left out.
    pub async fn library_rows(&self, repo: &RepoId) -> Result<LibraryRows, DbError> {
        self.library_rows_in(repo, &self.catalogue().await?).await
    }

    /// [`Self::library_rows`] with the columns of a catalogue read before (reading it is the
    /// costliest statement of the lot on MySQL).
    pub async fn library_rows_in(&self, repo: &RepoId, catalogue: &Catalogue) -> Result<LibraryRows, DbError> {
        let mut out = LibraryRows::new(*repo);
        for table in CARRIED_TABLES {
            let Some((db_table, columns)) = find_table(catalogue, table.name) else {
                continue;
            };
            let columns: Vec<Column> = columns.iter().filter(|c| is_carried_column(&c.name)).cloned().collect();
            let (clause, binds) = filter(table.scope, repo.as_str(), false);
            let rows = self.select_rows(db_table, &columns, clause, &binds).await?;
            out.tables.insert(table.name.to_string(), TableRows { columns, rows });
        }
        Ok(out)
    }

    /// What this database holds now in the tables `writes` would replace, read with the same
    /// columns: compared with the writes, it tells whether anything needs writing at all.
    pub async fn current_rows(&self, repo: &RepoId, writes: &[TableWrite]) -> Result<LibraryRows, DbError> {
        let mut out = LibraryRows::new(*repo);
        for w in writes {
            let (clause, binds) = filter(w.table.scope, repo.as_str(), true);
            let rows = self.select_rows(&w.db_table, &w.columns, clause, &binds).await?;
            out.tables.insert(
                w.table.name.to_string(),
                TableRows {
                    columns: w.columns.clone(),
                    rows,
                },
            );
        }
        Ok(out)
    }

    async fn select_rows(
        &self,
        db_table: &str,
        columns: &[Column],
        clause: &str,
        binds: &[String],
    ) -> Result<Vec<Row>, DbError> {
        if columns.is_empty() {
            return Ok(Vec::new());
        }
        let kind = self.kind();
        let list: Vec<String> = columns.iter().map(|c| select_expr(kind, c)).collect();
        let query = format!(
            "SELECT {} FROM {} WHERE {clause}",
            list.join(", "),
            quote(kind, db_table)
        );
        let sql = self.sql(&query);
        let binds: Vec<Bind> = binds.iter().map(|b| Bind::Text(b)).collect();
        let rows = bind_all(sqlx::query(&sql), &binds)
            .fetch_all(self.pool())
            .await
            .map_err(q("reading a library's rows"))?;
        rows.iter()
            .map(|row| {
                columns
                    .iter()
                    .map(|c| Ok((c.name.clone(), decode(row, c)?)))
                    .collect::<Result<Row, sqlx::Error>>()
                    .map_err(q("reading a library's rows"))
            })
            .collect()
    }

    /// Adds columns a newer primary has (nullable, `BIGINT` or `TEXT`). Outside any
    /// transaction: MySQL commits the open transaction at every `ALTER TABLE`.
    pub async fn add_columns(&self, missing: &[MissingColumn]) -> Result<(), DbError> {
        let kind = self.kind();
        for m in missing {
            let sql = format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                quote(kind, &m.table),
                quote(kind, &m.column.name),
                added_type(m.column.kind)
            );
            self.add_column(&sql, &m.table, &m.column.name).await?;
            tracing::info!(table = %m.table, column = %m.column.name, "added a column the primary's Seafile has");
        }
        Ok(())
    }
}

impl DbTransaction {
    /// Replaces `repo`'s rows of every table in `writes` (delete, then insert: it works on
    /// every schema variant, with or without the unique keys an upsert would need).
    pub async fn write_library(&mut self, repo: &RepoId, writes: &[TableWrite]) -> Result<(), DbError> {
        let kind = self.kind();
        for w in writes {
            let table = quote(kind, &w.db_table);
            let (clause, binds) = filter(w.table.scope, repo.as_str(), true);
            let binds: Vec<Bind> = binds.iter().map(|b| Bind::Text(b)).collect();
            self.exec(
                "replacing a library's rows",
                &format!("DELETE FROM {table} WHERE {clause}"),
                &binds,
            )
            .await?;
            if w.columns.is_empty() {
                continue;
            }
            let names: Vec<String> = w.columns.iter().map(|c| quote(kind, &c.name)).collect();
            let marks = vec!["?"; names.len()].join(", ");
            let insert = format!("INSERT INTO {table} ({}) VALUES ({marks})", names.join(", "));
            for row in &w.rows {
                let binds: Vec<Bind> = row.iter().zip(&w.columns).map(|(v, c)| bind(v, c.kind)).collect();
                self.exec("writing a library's rows", &insert, &binds).await?;
            }
        }
        Ok(())
    }
}

/// A value bound with the type of the column it goes into (PostgreSQL refuses a text-typed
/// NULL for an integer column).
fn bind(value: &Value, kind: ColumnKind) -> Bind<'_> {
    match (value, kind) {
        (Value::Int(i), _) => Bind::Int(*i),
        (Value::Text(s), _) => Bind::Text(s),
        (Value::Null, ColumnKind::Integer) => Bind::OptInt(None),
        (Value::Null, ColumnKind::Text) => Bind::OptText(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_cast_to_decodable_types_and_quote_names() {
        let int = Column {
            name: "size".into(),
            kind: ColumnKind::Integer,
        };
        let text = Column {
            name: "type".into(),
            kind: ColumnKind::Text,
        };
        assert_eq!(select_expr(DbKind::MySql, &int), "CAST(`size` AS SIGNED) AS `size`");
        assert_eq!(select_expr(DbKind::MySql, &text), "CAST(`type` AS CHAR) AS `type`");
        assert_eq!(
            select_expr(DbKind::Postgres, &int),
            "CAST(\"size\" AS BIGINT) AS \"size\""
        );
        assert_eq!(
            select_expr(DbKind::Postgres, &text),
            "CAST(\"type\" AS TEXT) AS \"type\""
        );
        assert_eq!(select_expr(DbKind::Sqlite, &int), "\"size\" AS \"size\"");
        assert_eq!(quote(DbKind::MySql, "a`b"), "`a``b`");
    }

    #[test]
    fn the_template_row_is_read_for_its_library_and_replaced_whole() {
        let r = "11111111-2222-4333-8444-555555555555";
        assert_eq!(filter(Scope::DefaultLibrary, r, false).1, [DEFAULT_REPO_KEY, r]);
        assert_eq!(
            filter(Scope::DefaultLibrary, r, true),
            ("info_key = ?", vec![DEFAULT_REPO_KEY.to_string()])
        );
        assert_eq!(filter(Scope::MasterBranch, r, true).1, [r, MASTER]);
    }
}
