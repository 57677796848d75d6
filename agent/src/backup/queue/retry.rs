//! Repeating a transaction the database refused for a reason that passes: a deadlock (MySQL's
//! gap locks between transactions on different libraries) or a busy SQLite file. Both the
//! head's transaction and a lease's finish are safe to repeat: each checks the lease first.

use std::future::Future;
use std::time::Duration;

/// Tries in all.
pub const ATTEMPTS: u32 = 8;

/// Runs `transaction` until it succeeds, fails for another reason, or has been tried
/// [`ATTEMPTS`] times; waits 20 ms more before each repeat.
pub async fn retry_transaction<T, E, Fut>(
    what: &str,
    mut transaction: impl FnMut() -> Fut,
    retryable: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut attempt = 0;
    loop {
        match transaction().await {
            Err(e) if attempt + 1 < ATTEMPTS && retryable(&e) => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "retrying {what}");
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test]
    async fn repeats_only_what_passes_and_only_so_often() {
        let tries = Cell::new(0);
        let result: Result<(), String> = retry_transaction(
            "a test",
            || {
                tries.set(tries.get() + 1);
                async { Err("deadlock".to_string()) }
            },
            |e| e == "deadlock",
        )
        .await;
        assert!(result.is_err());
        assert_eq!(tries.get(), ATTEMPTS);
        tries.set(0);
        let result: Result<(), String> = retry_transaction(
            "a test",
            || {
                tries.set(tries.get() + 1);
                async { Err("no such table".to_string()) }
            },
            |e| e == "deadlock",
        )
        .await;
        assert!(result.is_err());
        assert_eq!(tries.get(), 1);
    }
}
