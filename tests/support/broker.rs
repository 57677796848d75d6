//! A real Kafka-protocol broker for one test: its own Tansu process on a free 127.0.0.1 port,
//! with SQLite storage in a temp dir, so tests run in parallel and leave nothing behind.
//!
//! `stop`/`restart` keep the port and the data, which is how the tests check that events and
//! committed offsets survive a broker restart.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use seaf_kafka::rdkafka::producer::{BaseProducer, Producer};
use seaf_kafka::rdkafka::ClientConfig;

/// How long start-up may take before the test fails (a loaded CI machine is slow).
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a SIGTERM may take before the broker is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The tansu binary: `$SEAF_TANSU_BIN`, `$CARGO_HOME/bin/tansu` (where scripts/broker.sh
/// installs it), or the first on `PATH`.
pub fn tansu_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("SEAF_TANSU_BIN") {
        return Some(PathBuf::from(bin)).filter(|p| p.is_file());
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let candidates = cargo_home.map(|c| c.join("bin/tansu")).into_iter().chain(
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).map(|d| d.join("tansu")).collect::<Vec<_>>()),
    );
    candidates.into_iter().find(|p| p.is_file())
}

/// A running Tansu broker. Killed when dropped.
pub struct Broker {
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
    /// Length of tansu.log when the current process started: what follows is its own log.
    log_start: u64,
    // Last field: dropped after `Drop::drop` has killed the process.
    dir: tempfile::TempDir,
}

impl Broker {
    /// Starts a broker, or returns `None` (skipping, with a message) when tansu is not
    /// installed; under `CI=true` a missing tansu fails the test.
    pub fn start() -> Option<Broker> {
        let Some(bin) = tansu_bin() else {
            return crate::missing("the tansu Kafka broker (run scripts/broker.sh install)");
        };
        let mut dir = tempfile::Builder::new()
            .prefix("seaf-tansu-")
            .tempdir()
            .expect("temp dir for tansu");
        // A port can be taken between choosing and binding it: try a few.
        let mut last_failure = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut broker = Broker {
                bin: bin.clone(),
                port,
                child: None,
                log_start: 0,
                dir,
            };
            match broker.spawn_and_wait() {
                Ok(()) => return Some(broker),
                Err(failure) => {
                    last_failure = failure;
                    broker.kill_now();
                    dir = take_dir(broker);
                }
            }
        }
        panic!("tansu broker did not start: {last_failure}");
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's working directory (tansu.db, tansu.log).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the broker gracefully (SIGTERM; SIGKILL if it hangs). Data stays.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("tansu ignored SIGTERM for {STOP_TIMEOUT:?}; killing it");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Kills the broker at once (SIGKILL), like a crash or power cut of the process.
    pub fn kill(&mut self) {
        self.kill_now();
    }

    /// Starts the broker again on the same port with the same data.
    pub fn restart(&mut self) {
        for attempt in 1..=3 {
            self.stop();
            if let Err(failure) = self.spawn_and_wait() {
                panic!("tansu did not come back on {}: {failure}", self.bootstrap());
            }
            // Tansu 0.6.0 sometimes answers the first metadata request after a restart and then
            // loses its storage task (every request fails with `Storage(UnableToSend)`). That is
            // the broker's fault, not the code under test: detect it and restart it again.
            if self.storage_answers_for(Duration::from_secs(3)) {
                return;
            }
            eprintln!(
                "!!! tansu's storage failed after restart {attempt} (a Tansu 0.6.0 problem); restarting it again"
            );
        }
        panic!(
            "tansu's storage keeps failing after restarts; its log:\n{}",
            self.log_tail()
        );
    }

    /// Whether the running tansu lost its storage task (see [`Broker::restart`]).
    pub fn storage_failed(&self) -> bool {
        let text = std::fs::read(self.dir.path().join("tansu.log")).unwrap_or_default();
        let own = &text[(self.log_start as usize).min(text.len())..];
        String::from_utf8_lossy(own).contains("UnableToSend")
    }

    /// Restarts tansu if it lost its storage task; returns whether it did.
    pub fn heal(&mut self) -> bool {
        if !self.storage_failed() {
            return false;
        }
        eprintln!("!!! tansu lost its storage task (a Tansu 0.6.0 problem); restarting it");
        self.restart();
        true
    }

    /// Metadata requests keep succeeding for `window`.
    fn storage_answers_for(&self, window: Duration) -> bool {
        let Ok(client) = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("log_level", "3")
            .create::<BaseProducer>()
        else {
            return false;
        };
        let until = Instant::now() + window;
        while Instant::now() < until {
            if client.client().fetch_metadata(None, Duration::from_secs(2)).is_err() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        !self.storage_failed()
    }

    /// The last lines of the broker's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn kill_now(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tansu.log"))
            .map_err(|e| format!("cannot open tansu.log: {e}"))?;
        self.log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let err_log = log.try_clone().map_err(|e| e.to_string())?;
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&self.bin)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            // Relative: tansu resolves it against its working directory and mangles absolute paths.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            // tansu reads these from the environment as defaults; keep the test's own.
            .env_remove("SCHEMA_REGISTRY")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Until the port accepts connections and the broker answers a metadata request.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr = (Ipv4Addr::LOCALHOST, self.port);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(format!(
                    "tansu exited with {status} during start-up; its log:\n{}",
                    self.log_tail()
                ));
            }
            if TcpStream::connect_timeout(&addr.into(), Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "tansu did not accept connections on {} within {READY_TIMEOUT:?}; its log:\n{}",
                    self.bootstrap(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let client: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("log_level", "3")
            .create()
            .map_err(|e| format!("rdkafka client: {e}"))?;
        let mut last = String::new();
        while Instant::now() < deadline {
            match client.client().fetch_metadata(None, Duration::from_secs(5)) {
                Ok(m) if !m.brokers().is_empty() => return Ok(()),
                Ok(_) => last = "metadata lists no brokers".into(),
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!(
            "tansu on {} accepts connections but did not answer metadata within {READY_TIMEOUT:?} \
             ({last}); its log:\n{}",
            self.bootstrap(),
            self.log_tail()
        ))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill_now();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Moves the temp dir out of a broker that failed to start (its process is already gone).
fn take_dir(mut broker: Broker) -> tempfile::TempDir {
    broker.kill_now();
    let placeholder = tempfile::tempdir().expect("temp dir");
    std::mem::replace(&mut broker.dir, placeholder)
}
