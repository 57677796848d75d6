//! One module per subcommand that is not a role: each `run` loads what it needs and returns the
//! process's exit code.

pub mod export;
pub mod history;
pub mod ls;
pub mod replay;
pub mod scan;
pub mod status;
pub mod sync;
pub mod verify;
