//! A real schema registry for one test: its own Apicurio Registry process on a free 127.0.0.1
//! port, run by `scripts/registry.sh` (the one place that knows how to start it), with its
//! folder in a temp dir. Killed when dropped.
//!
//! The registry keeps schemas in memory: `stop` then `start_again` gives an empty registry on
//! the same port, which is how a test takes the registry away and brings it back.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::agent::free_port;

/// The Confluent-compatible API's path under the registry's root (Apicurio's `ccompat`).
pub const API_PATH: &str = "/apis/ccompat/v6";

/// `scripts/registry.sh`.
fn script() -> PathBuf {
    crate::repo_root().join("scripts/registry.sh")
}

/// Whether `scripts/registry.sh install` has built the registry into its cache.
pub fn registry_installed() -> bool {
    Command::new(script())
        .arg("jar")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs `scripts/registry.sh VERB ARGS`; its output, or `Err` with it when it fails.
fn registry_sh(verb: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(script())
        .arg(verb)
        .args(args)
        // A smaller heap than the script's default: a test runs it beside Kafka and the build.
        .env("REGISTRY_HEAP_OPTS", "-Xms32m -Xmx256m")
        .output()
        .expect("run scripts/registry.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// A running Apicurio Registry. Killed when dropped.
pub struct Registry {
    port: u16,
    dir: PathBuf,
    // Last field: removed after `Drop::drop` has killed the process.
    _temp: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry, or returns `None` (skipping, with a message) when it is not
    /// installed; under `CI=true` a missing registry fails the test.
    pub fn start() -> Option<Registry> {
        if !registry_installed() {
            return crate::missing("the Apicurio schema registry (run scripts/registry.sh install)");
        }
        let temp = tempfile::Builder::new()
            .prefix("seaf-registry-")
            .tempdir()
            .expect("temp dir for the registry");
        let mut registry = Registry {
            port: 0,
            dir: temp.path().join("registry"),
            _temp: temp,
        };
        // A port can be taken between choosing and binding it: try a few.
        let mut last_failure = String::new();
        for _ in 0..3 {
            registry.port = free_port();
            match registry.try_start() {
                Ok(()) => return Some(registry),
                Err(failure) => last_failure = failure,
            }
        }
        panic!("the schema registry did not start: {last_failure}");
    }

    fn try_start(&self) -> Result<(), String> {
        let port = self.port.to_string();
        registry_sh("start", &[&port, self.dir_arg()]).map(drop)
    }

    fn dir_arg(&self) -> &str {
        self.dir.to_str().expect("utf-8 temp path")
    }

    /// `http://127.0.0.1:PORT/apis/ccompat/v6`: the value for `kafka.schema_registry_url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{API_PATH}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The registry's folder (registry.log, registry.pid).
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the registry (SIGTERM; SIGKILL if it hangs). Its schemas go with it.
    pub fn stop(&mut self) {
        if let Err(failure) = registry_sh("stop", &[self.dir_arg()]) {
            panic!("scripts/registry.sh stop failed: {failure}");
        }
    }

    /// Starts the registry again on the same port (empty: storage is in memory).
    pub fn start_again(&mut self) {
        if let Err(failure) = self.try_start() {
            panic!("the schema registry did not come back on {}: {failure}", self.url());
        }
    }

    /// The last lines of the registry's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(pid) = std::fs::read_to_string(self.dir.join("registry.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
    }
}
