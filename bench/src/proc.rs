//! One `seaf-backup` process (release build), its metrics and its memory.
//!
//! Like the test harness's `support::agent::Agent`, but it runs a binary given by path (the
//! harness looks for the binary beside a test executable in `target/<profile>/deps`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::agent::{http_get, metric_sum};

pub struct Proc {
    bin: PathBuf,
    child: Option<Child>,
    role: String,
    config: PathBuf,
    log: PathBuf,
    pub metrics_addr: String,
}

impl Proc {
    /// Writes `config_text` to `dir/<role>.toml`, starts `seaf-backup <role> -c` on it and
    /// waits for `/healthz`.
    pub fn start(bin: &Path, role: &str, dir: &Path, config_text: &str, metrics_addr: &str) -> Proc {
        let config = dir.join(format!("{role}.toml"));
        std::fs::write(&config, config_text).expect("write config");
        let mut p = Proc {
            bin: bin.to_path_buf(),
            child: None,
            role: role.to_string(),
            config,
            log: dir.join(format!("{role}.log")),
            metrics_addr: metrics_addr.to_string(),
        };
        p.spawn();
        p
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(&self.bin)
            .args([self.role.as_str(), "-c", self.config.to_str().expect("utf-8 path")])
            .env("SEAF_BACKUP_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_get(&self.metrics_addr, "/healthz").is_none() {
            if Instant::now() > deadline || !self.alive() {
                panic!("the {} process did not come up\n{}", self.role, self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait (SIGKILL after 30 s).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops, rewrites the configuration, starts again.
    pub fn restart_with(&mut self, config_text: &str) {
        self.stop();
        std::fs::write(&self.config, config_text).expect("write config");
        self.spawn();
    }

    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The sum of the samples of `name` with all `labels`.
    pub fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        metric_sum(
            &http_get(&self.metrics_addr, "/metrics").unwrap_or_default(),
            name,
            labels,
        )
    }

    /// Peak resident set size (VmHWM) in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- last lines of {} ---\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
