//! Blocking librdkafka calls off the async runtime, on a thread nobody waits for.
//!
//! Metadata, watermark, committed-offset requests, the final commit and closing a consumer block
//! until the broker answers or their timeout passes, and with a broker that was killed some
//! (the commit, the close) may not return for a long time. `tokio::task::spawn_blocking` would
//! keep the runtime, and so the process, from ending until they do; a plain thread does not:
//! the caller awaits the answer with whatever bound it needs and may simply stop waiting.

use tokio::sync::oneshot;

/// Runs `work` on a new thread; resolves to its result, or `None` when the thread could not be
/// started or panicked.
pub(crate) async fn run<T, F>(name: &str, work: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(format!("seaf-kafka-{name}"))
        .spawn(move || {
            let _ = tx.send(work());
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start a thread for a Kafka request");
        return None;
    }
    rx.await.ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn returns_the_result_and_can_be_abandoned() {
        assert_eq!(super::run("test", || 6 * 7).await, Some(42));
        assert_eq!(super::run("test", || -> u8 { panic!("boom") }).await, None);
        let slow = super::run("test", || std::thread::sleep(Duration::from_secs(30)));
        assert!(tokio::time::timeout(Duration::from_millis(50), slow).await.is_err());
    }
}
