//! Binlog change capture: the fast path of change detection on MySQL/MariaDB.
//!
//! The primary connects to the database server as a replica and reads its binary log, as
//! Debezium does: each committed change of Seafile's `Branch` table reaches the publisher
//! within milliseconds, and the server does no extra work (no table reads). Rolled-back
//! transactions are never written to the binary log, so they never produce an event.
//!
//! Pure parts, tested without a server: [`decode`] (rows to library changes), [`position`]
//! (which position may be saved), [`requirements`] (what the server must provide). The
//! adapter is [`stream`]; the position file is [`store`].

pub mod decode;
pub mod position;
pub mod requirements;
pub mod store;
pub mod stream;

pub use position::{BinlogPosition, PositionTracker};
pub use store::PositionStore;
pub use stream::{BinlogSource, StreamMsg};
