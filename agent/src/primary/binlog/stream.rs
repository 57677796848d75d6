//! The adapter to the server: connects as a replica with `mysql_async`, checks the
//! requirements, and follows the binary log, sending what it finds to the publisher.
//!
//! It owns no decisions: the rows of `Branch` go through [`BranchColumns::decode`], and every
//! transaction end is reported so the publisher can tell which position is safe to save.
//! Connection losses reconnect from the last transaction end it reported (with backoff); a
//! position the server no longer has (its log purged) is reported as lost, and the stream
//! starts again from the server's current position, which it takes *before* asking for the
//! full read that covers the gap.

use std::time::Duration;

use anyhow::{anyhow, Context};
use futures_util::StreamExt;
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::binlog::row::BinlogRow;
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn, Opts, Value};
use tokio::sync::mpsc::UnboundedSender;

use super::decode::{coalesce, BranchColumns, LibraryChange, RowChange, RowImage};
use super::position::BinlogPosition;
use super::requirements::{self, ServerFacts};

/// The server's error "could not find the first log file name / position" (purged or reset).
const ER_MASTER_FATAL_ERROR_READING_BINLOG: u16 = 1236;
/// The server sends a heartbeat this often while its log is quiet, so a dead link shows.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Silence longer than this means the link is gone.
const SILENCE: Duration = Duration::from_secs(20);

/// What the stream tells the publisher.
#[derive(Debug)]
pub enum StreamMsg {
    /// The stream starts at `at`, not where it stood before (first start, or `lost` is gone
    /// from the server): a full read of `Branch` must cover what came before.
    Resync {
        at: BinlogPosition,
        lost: Option<BinlogPosition>,
    },
    /// Library changes of one committed transaction, in commit order.
    Changes(Vec<LibraryChange>),
    /// A transaction (or statement) ended here.
    TransactionEnd(BinlogPosition),
    /// The stream (re)connected: its first event arrived.
    Streaming,
    /// The stream broke; it reconnects by itself.
    Interrupted(String),
}

/// How to reach the server's binary log for one Seafile database.
#[derive(Debug, Clone)]
pub struct BinlogSource {
    opts: Opts,
    schema: String,
    server_id: u32,
}

impl BinlogSource {
    /// From the primary's `database_url` (`mysql://user:pass@host:port/seafile_db`); its query
    /// parameters are for sqlx and are not passed on.
    pub fn new(database_url: &str, server_id: u32) -> anyhow::Result<BinlogSource> {
        let base = database_url.split('?').next().unwrap_or(database_url);
        let opts = Opts::from_url(base).map_err(|e| anyhow!("[primary] database_url: {e}"))?;
        let schema = opts
            .db_name()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| anyhow!("[primary] database_url names no database (mysql://…/seafile_db)"))?
            .to_string();
        Ok(BinlogSource {
            opts,
            schema,
            server_id,
        })
    }

    /// Names the database whose log this is (`host:port/schema`), to tie a saved position to it.
    pub fn identity(&self) -> String {
        format!(
            "{}:{}/{}",
            self.opts.ip_or_hostname(),
            self.opts.tcp_port(),
            self.schema
        )
    }

    /// `Ok(Err(message))` when the server lacks a requirement; `Err` when it cannot be asked.
    pub async fn check(&self) -> anyhow::Result<Result<(), String>> {
        let mut conn = self.connect().await?;
        let row: Option<(String, String, String, String)> = conn
            .query_first("SELECT CONCAT(@@log_bin), @@binlog_format, @@binlog_row_image, CURRENT_USER()")
            .await?;
        let (log_bin, binlog_format, binlog_row_image, user) = row.context("the server answered no row")?;
        let grants: Vec<String> = conn.query("SHOW GRANTS").await?;
        let user = match user.rsplit_once('@') {
            Some((name, host)) => format!("'{name}'@'{host}'"),
            None => format!("'{user}'"),
        };
        let _ = conn.disconnect().await;
        Ok(requirements::check(&ServerFacts {
            log_bin,
            binlog_format,
            binlog_row_image,
            grants,
            user,
        }))
    }

    /// Follows the log forever from `resume` (or from now, after a resync), reconnecting.
    pub async fn follow(self, resume: Option<BinlogPosition>, tx: UnboundedSender<StreamMsg>) {
        let mut next = resume;
        let mut lost = None;
        let mut delay = Duration::from_millis(200);
        while !tx.is_closed() {
            match self.follow_once(&mut next, &mut lost, &tx).await {
                Ok(()) => delay = Duration::from_millis(200),
                Err(e) => {
                    let _ = tx.send(StreamMsg::Interrupted(format!("{e:#}")));
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// One connection's worth of streaming; returns to reconnect.
    async fn follow_once(
        &self,
        next: &mut Option<BinlogPosition>,
        lost: &mut Option<BinlogPosition>,
        tx: &UnboundedSender<StreamMsg>,
    ) -> anyhow::Result<()> {
        let mut conn = self.connect().await?;
        let columns = self.branch_columns(&mut conn).await?;
        let start = match next.take() {
            Some(p) if has_position(&mut conn, &p).await? => p,
            gone => {
                let at = current_position(&mut conn).await?;
                let lost = lost.take().or(gone);
                let _ = tx.send(StreamMsg::Resync { at: at.clone(), lost });
                at
            }
        };
        *next = Some(start.clone());
        conn.query_drop(format!("SET @master_heartbeat_period = {}", HEARTBEAT.as_nanos()))
            .await?;
        let request = BinlogStreamRequest::new(self.server_id)
            .with_filename(start.file.as_bytes())
            .with_pos(start.offset);
        let stream = conn.get_binlog_stream(request).await?;
        let result = Follower {
            schema: &self.schema,
            columns,
            file: start.file.clone(),
            changes: Vec::new(),
            tx,
        }
        .run(stream, next)
        .await;
        if let Err(e) = &result {
            if let Some(mysql_async::Error::Server(s)) = e.downcast_ref::<mysql_async::Error>() {
                if s.code == ER_MASTER_FATAL_ERROR_READING_BINLOG {
                    *lost = next.take();
                }
            }
        }
        result
    }

    async fn connect(&self) -> anyhow::Result<Conn> {
        Conn::new(self.opts.clone())
            .await
            .with_context(|| format!("cannot connect to {} for its binary log", self.opts.ip_or_hostname()))
    }

    /// Where `name`, `repo_id` and `commit_id` sit in this server's `Branch` rows.
    async fn branch_columns(&self, conn: &mut Conn) -> anyhow::Result<BranchColumns> {
        let rows: Vec<(String, u64)> = conn
            .exec(
                "SELECT COLUMN_NAME, ORDINAL_POSITION FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'Branch'",
                (&self.schema,),
            )
            .await?;
        BranchColumns::from_ordinals(rows.iter().map(|(n, o)| (n.as_str(), *o as usize))).ok_or_else(|| {
            anyhow!(
                "database {} has no Seafile Branch table (name, repo_id, commit_id)",
                self.schema
            )
        })
    }
}

/// The server's current end of log (`SHOW BINARY LOG STATUS`, or `SHOW MASTER STATUS` on
/// servers that predate the new name).
async fn current_position(conn: &mut Conn) -> anyhow::Result<BinlogPosition> {
    let mut last_error = None;
    for statement in ["SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"] {
        match conn.query_first::<mysql_async::Row, _>(statement).await {
            Ok(Some(row)) => {
                let file: String = row.get(0).context("no log file name")?;
                let offset: u64 = row.get(1).context("no log position")?;
                return Ok(BinlogPosition { file, offset });
            }
            Ok(None) => anyhow::bail!("{statement} is empty: the server writes no binary log (set log_bin)"),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error
        .map(anyhow::Error::from)
        .unwrap_or_else(|| anyhow!("no binlog status")))
}

/// Whether the server still holds the log at `p` (`SHOW BINARY LOGS`).
async fn has_position(conn: &mut Conn, p: &BinlogPosition) -> anyhow::Result<bool> {
    let logs: Vec<mysql_async::Row> = conn.query("SHOW BINARY LOGS").await?;
    Ok(logs.iter().any(|row| {
        let name: Option<String> = row.get(0);
        let size: Option<u64> = row.get(1);
        name.as_deref() == Some(p.file.as_str()) && size.is_some_and(|s| p.offset <= s)
    }))
}

/// Reads one stream's events.
struct Follower<'a> {
    schema: &'a str,
    columns: BranchColumns,
    /// The log file being read (rotate events move it).
    file: String,
    /// Library changes of the open transaction.
    changes: Vec<LibraryChange>,
    tx: &'a UnboundedSender<StreamMsg>,
}

impl Follower<'_> {
    async fn run(mut self, mut stream: BinlogStream, next: &mut Option<BinlogPosition>) -> anyhow::Result<()> {
        let mut first = true;
        loop {
            let event = match tokio::time::timeout(SILENCE, stream.next()).await {
                Err(_) => anyhow::bail!("no binlog event nor heartbeat for {SILENCE:?}"),
                Ok(None) => anyhow::bail!("the server ended the binlog stream"),
                Ok(Some(event)) => event?,
            };
            if std::mem::take(&mut first) {
                let _ = self.tx.send(StreamMsg::Streaming);
            }
            let Some(data) = event.read_data()? else { continue };
            let ended = match data {
                // The fake rotate the server sends first (log_pos 0) comes before the format
                // description, so its name may carry the checksum's bytes: the stream's file is
                // known already then. Real rotates name the next file.
                EventData::RotateEvent(r) if event.header().log_pos() != 0 => {
                    self.file = r.name().into_owned();
                    false
                }
                EventData::RowsEvent(rows) => {
                    self.rows(&stream, &rows)?;
                    false
                }
                EventData::XidEvent(_) => true,
                EventData::QueryEvent(q) => {
                    let query = q.query();
                    if is_branch_ddl(&query) {
                        // The columns may have moved: read them again on a new connection.
                        self.end(event.header().log_pos(), next);
                        return Ok(());
                    }
                    ends_transaction(&query)
                }
                _ => false,
            };
            if ended {
                self.end(event.header().log_pos(), next);
            }
        }
    }

    /// Decodes a rows event if it belongs to this database's `Branch`.
    fn rows(&mut self, stream: &BinlogStream, rows: &RowsEventData<'_>) -> anyhow::Result<()> {
        let Some(table) = stream.get_tme(rows.table_id()) else {
            return Ok(());
        };
        if table.database_name() != self.schema || table.table_name() != "Branch" {
            return Ok(());
        }
        for row in rows.rows(table) {
            let (before, after) = row.context("cannot decode a Branch row of the binary log")?;
            let change = RowChange {
                before: before.map(image),
                after: after.map(image),
            };
            self.changes.extend(self.columns.decode(&change));
        }
        Ok(())
    }

    fn end(&mut self, log_pos: u32, next: &mut Option<BinlogPosition>) {
        if !self.changes.is_empty() {
            let _ = self
                .tx
                .send(StreamMsg::Changes(coalesce(std::mem::take(&mut self.changes))));
        }
        let position = BinlogPosition {
            file: self.file.clone(),
            offset: log_pos as u64,
        };
        *next = Some(position.clone());
        let _ = self.tx.send(StreamMsg::TransactionEnd(position));
    }
}

/// Whether a query event closes the transaction (COMMIT, DDL) rather than opening it or sitting
/// inside it: `BEGIN` (MariaDB also sends it for its GTID events), `SAVEPOINT`, XA's first
/// phases, and MariaDB's "# Dummy event replacing event type …" comments, which stand in for
/// events a replica without MariaDB capabilities cannot read (annotate-rows, one per
/// statement, mid-transaction).
fn ends_transaction(query: &str) -> bool {
    let q = query.trim_start().to_ascii_uppercase();
    let inside = [
        "BEGIN",
        "#",
        "SAVEPOINT",
        "ROLLBACK TO",
        "XA START",
        "XA END",
        "XA PREPARE",
    ];
    !inside.iter().any(|p| q.starts_with(p))
}

/// A statement that changes `Branch` itself (so its column positions may have changed).
fn is_branch_ddl(query: &str) -> bool {
    let q = query.trim_start().to_ascii_lowercase();
    ["alter", "create", "drop", "rename", "truncate"]
        .iter()
        .any(|verb| q.starts_with(verb))
        && q.contains("branch")
}

/// A row as plain bytes per column (text columns are all the decoder reads).
fn image(row: BinlogRow) -> RowImage {
    (0..row.len())
        .map(|i| match row.as_ref(i) {
            Some(BinlogValue::Value(Value::Bytes(b))) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commits_and_ddl_end_a_transaction() {
        for inside in [
            "BEGIN",
            "# Dummy event replacing event type 160 that slave cannot handle.",
            "SAVEPOINT `a`",
            "ROLLBACK TO `a`",
            "XA START 'x'",
        ] {
            assert!(!ends_transaction(inside), "{inside}");
        }
        for end in ["COMMIT", "ALTER TABLE Unrelated ADD COLUMN note INT", "XA COMMIT 'x'"] {
            assert!(ends_transaction(end), "{end}");
        }
        assert!(is_branch_ddl("ALTER TABLE Branch ADD COLUMN x INT FIRST"));
        assert!(!is_branch_ddl("ALTER TABLE Unrelated ADD COLUMN x INT"));
    }
}
