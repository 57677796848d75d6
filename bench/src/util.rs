//! Small helpers: the machine, file trees, timing external commands, formatting.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One line naming the machine the figures come from.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<u64>().ok()))
        })
        .map(|kib| format!("{} GiB RAM", kib / (1 << 20)))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("machine: {cores} cores ({model}), {mem}, Linux {}", kernel.trim())
}

/// Every file under `root` with its size, by path relative to `root`.
pub fn files(root: &Path) -> HashMap<PathBuf, u64> {
    let mut out = HashMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if let Ok(m) = e.metadata() {
                out.insert(e.path().strip_prefix(root).unwrap().to_path_buf(), m.len());
            }
        }
    }
    out
}

/// Runs a shell-free command and returns how long it took; fails on a non-zero exit. Its
/// stdout goes to stderr: stdout is the table's.
pub fn timed(program: &str, args: &[&str]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let status = Command::new(program).args(args).stdout(std::io::stderr()).status()?;
    let took = started.elapsed();
    anyhow::ensure!(status.success(), "{program} {args:?} failed: {status}");
    Ok(took)
}

/// The `p`-th percentile (0..=100) of sorted values, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

pub fn secs(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

pub fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1u64 << 20) as f64)
}

/// Polls `check` until it is true or `timeout` passes; returns whether it became true.
///
/// The first polls are `every` apart; later ones a 500th of the time waited so far when that
/// is longer. A check can be costly (comparing 10,000 heads in two databases), and the 2 cores
/// it takes from are the measured processes'. Growing with the wait, the polls cost little in a
/// long wait and their error stays within 0.2% of what they time.
pub fn wait_for(timeout: Duration, every: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(every.max(started.elapsed() / 500));
    }
}

/// A random 40-hex object id.
pub fn random_hex40() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{}", &b[..8])
}

/// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`: given in kB there).
pub fn proc_status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Samples a process's `VmRSS` on a thread of its own, keeping the peak.
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(u64, usize)>,
}

impl RssSampler {
    /// Reads `VmRSS` of `pid` every `every` until [`RssSampler::stop`] (or the process ends).
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut peak, mut samples) = (0u64, 0usize);
            while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
                let Some(rss) = proc_status_bytes(pid, "VmRSS") else {
                    break;
                };
                peak = peak.max(rss);
                samples += 1;
                std::thread::sleep(every);
            }
            (peak, samples)
        });
        RssSampler { stop, thread }
    }

    /// The peak `VmRSS` in bytes and the number of samples.
    pub fn stop(self) -> (u64, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap_or((0, 0))
    }
}

/// Bytes free for an unprivileged user on the file system holding `path` (`df`).
pub fn free_bytes(path: &Path) -> anyhow::Result<u64> {
    let out = Command::new("df").args(["-B1", "--output=avail"]).arg(path).output()?;
    anyhow::ensure!(out.status.success(), "df {} failed", path.display());
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("cannot read df's output: {text:?}"))
}

pub fn gib(bytes: f64) -> String {
    format!("{:.2} GiB", bytes / (1u64 << 30) as f64)
}
