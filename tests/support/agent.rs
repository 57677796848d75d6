//! Running the real `seaf-backup` binary as a primary or backup process: the tests run the build
//! under test, the bench (`bench/`) a release build it is given.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Polls `check` until it is true; panics with `what` and `context()` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + timeout;
    while !check() {
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}\n{}", context());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Which executable an [`Agent`] runs, and how much it logs.
#[derive(Debug, Clone)]
pub struct Binary {
    pub path: PathBuf,
    /// `SEAF_BACKUP_LOG`.
    pub log_filter: &'static str,
}

impl Binary {
    /// The build beside the test executable, with its debug lines: tests read them.
    pub fn under_test() -> Binary {
        Binary {
            path: crate::seaf_backup_bin(),
            log_filter: "info,seaf_backup=debug",
        }
    }

    /// `path` at `info`: the bench times a release build, and a debug line per published
    /// event would add to what it measures.
    pub fn at(path: &Path) -> Binary {
        Binary {
            path: path.to_path_buf(),
            log_filter: "info",
        }
    }
}

/// One agent process.
pub struct Agent {
    bin: Binary,
    child: Option<Child>,
    role: String,
    config: PathBuf,
    log: PathBuf,
    /// Extra environment of the process (`FAILPOINTS`, for the crash-point tests).
    env: Vec<(String, String)>,
    pub metrics_addr: String,
}

impl Agent {
    /// Writes `config_text` to `dir/<role>.toml`, starts `seaf-backup <role> -c` on it (the
    /// build under test) and waits for its `/healthz`.
    pub fn start(role: &str, dir: &Path, config_text: &str, metrics_addr: &str) -> Agent {
        Agent::start_binary(&Binary::under_test(), role, dir, config_text, metrics_addr)
    }

    /// [`Agent::start`] with another executable.
    pub fn start_binary(bin: &Binary, role: &str, dir: &Path, config_text: &str, metrics_addr: &str) -> Agent {
        let config = dir.join(format!("{role}.toml"));
        std::fs::write(&config, config_text).expect("write config");
        let mut agent = Agent {
            bin: bin.clone(),
            child: None,
            role: role.to_string(),
            config,
            log: dir.join(format!("{role}.log")),
            env: Vec::new(),
            metrics_addr: metrics_addr.to_string(),
        };
        agent.spawn();
        agent
    }

    /// Sets (`Some`) or removes (`None`) a variable of the process's environment, from its
    /// next start on.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(v) = value {
            self.env.push((key.to_string(), v.to_string()));
        }
    }

    /// Starts the process without waiting for anything (one that may exit at once).
    pub fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(&self.bin.path)
            .args([self.role.as_str(), "-c", self.config.to_str().expect("utf-8 path")])
            .env("SEAF_BACKUP_LOG", self.bin.log_filter)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.path.display()));
        self.child = Some(child);
    }

    /// Waits up to `timeout` for the process to exit by itself: its status, or `None` when it
    /// still runs (it is left running).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut()?;
            if let Some(status) = child.try_wait().ok().flatten() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the process (again, after [`Agent::stop`] or [`Agent::kill`]) and waits for its
    /// `/healthz`.
    pub fn spawn(&mut self) {
        self.launch();
        // A process that exits (a bad configuration, a port in use) fails at once, not after
        // the whole timeout.
        let timeout = Duration::from_secs(60);
        let deadline = Instant::now() + timeout;
        while http_get(&self.metrics_addr, "/healthz").is_none() {
            if !self.alive() {
                panic!(
                    "the {} agent exited before /healthz answered\n{}",
                    self.role,
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for the {} agent's /healthz to answer\n{}",
                    self.role,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait.
    pub fn stop(&mut self) {
        self.terminate(Duration::from_secs(30));
    }

    /// SIGTERM, then waits up to `limit` for the process to exit by itself: how long it took,
    /// or `None` when it had to be killed.
    pub fn terminate(&mut self, limit: Duration) -> Option<Duration> {
        let mut child = self.child.take()?;
        let started = Instant::now();
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        while child.try_wait().ok().flatten().is_none() {
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(started.elapsed())
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Stops, rewrites the configuration, starts again.
    pub fn restart_with(&mut self, config_text: &str) {
        self.stop();
        std::fs::write(&self.config, config_text).expect("write config");
        self.spawn();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Peak resident set size (VmHWM) in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// The Prometheus text.
    pub fn metrics(&self) -> String {
        http_get(&self.metrics_addr, "/metrics").unwrap_or_default()
    }

    /// The sum of every sample of `name` whose labels contain all of `labels` (`k="v"` pairs).
    pub fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        metric_sum(&self.metrics(), name, labels)
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- last lines of {} ---\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }

    /// Every log line containing `needle`.
    pub fn log_lines(&self, needle: &str) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains(needle))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The sum of the samples of metric `name` with all `labels`.
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && (l[name.len()..].starts_with('{') || l[name.len()..].starts_with(' ')))
        .filter(|l| labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// A plain HTTP GET; the body on 200/503, `None` when nothing answers.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

/// The CPU time (user + system, in clock ticks) a process has used.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
    let stime: u64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    utime + stime
}
