//! Lease owners are named `host:pid:nonce`, so a backup process can tell which leases belong to
//! earlier processes on this host that are gone (killed, crashed, a restarted container that got
//! the same pid) and hand them back at start instead of waiting for them to expire.

use seaf_seafile::DbError;

use super::Queue;

/// A fresh owner name for this process.
pub fn owner_name() -> String {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    format!("{}:{}:{}", host_name(), std::process::id(), &nonce[..8])
}

/// Releases the leases of earlier processes on this host that are gone; returns how many
/// libraries were released.
pub async fn release_dead_leases(queue: &Queue, me: &str) -> Result<u64, DbError> {
    let host = host_name();
    let mut released = 0;
    for owner in queue.lock_owners().await? {
        if owner != me && is_dead_here(&owner, &host) {
            let n = queue.release_owner(&owner).await?;
            tracing::info!(%owner, libraries = n, "released the leases of a backup process that is gone");
            released += n;
        }
    }
    Ok(released)
}

/// Whether `owner` was a process on `host` that no longer runs (or whose pid is now ours).
fn is_dead_here(owner: &str, host: &str) -> bool {
    // The host name itself may contain colons.
    let mut parts = owner.rsplitn(3, ':');
    let (Some(_nonce), Some(pid), Some(owner_host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    let gone = pid == std::process::id() || !std::path::Path::new(&format!("/proc/{pid}")).exists();
    owner_host == host && gone
}

/// This machine's name, as leases record it.
fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gone_processes_of_this_host_are_dead() {
        let me = owner_name();
        let host = host_name();
        // Our own pid counts as gone: a restarted container reuses pids.
        assert!(is_dead_here(&me, &host));
        assert!(!is_dead_here(&format!("{host}:1:abcd"), &host), "pid 1 runs");
        assert!(is_dead_here(&format!("{host}:999999999:abcd"), &host));
        assert!(!is_dead_here("other-host:999999999:abcd", &host));
        assert!(!is_dead_here("garbage", &host));
        assert!(is_dead_here(
            &format!("a:b:{host}:999999999:abcd").replacen("a:b:", "", 1),
            &host
        ));
    }
}
