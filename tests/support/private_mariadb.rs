//! A MariaDB server of a test's own (Debian's `mariadbd`, as `scripts/setup.sh` installs it), on
//! a free loopback port with its own data directory and binary log: for tests that restart the
//! database, which the shared server on 3306 must never be.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::agent::free_port;

pub struct PrivateMariaDb {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl PrivateMariaDb {
    /// A fresh server with root allowed over TCP without a password and a `seafile` database.
    pub fn start() -> PrivateMariaDb {
        let dir = tempfile::tempdir().unwrap();
        let install = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
            ])
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .stdout(Stdio::null())
            .output()
            .expect("mariadb-install-db (scripts/setup.sh installs MariaDB)");
        assert!(
            install.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&install.stderr)
        );
        let mut db = PrivateMariaDb {
            dir,
            port: free_port(),
            child: None,
        };
        db.spawn();
        db.client(
            "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; \
                   GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; CREATE DATABASE seafile;",
        );
        db
    }

    /// `mysql://` URL of its `seafile` database.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/seafile", self.port)
    }

    /// Stops the server (SIGTERM, as a service restart does) and starts it again on the same data
    /// and port; returns once it answers.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("mariadbd.log")).unwrap();
        let child = Command::new("mariadbd")
            .args([
                "--no-defaults",
                "--user=root",
                "--bind-address=127.0.0.1",
                "--server-id=1",
            ])
            .args(["--log-bin=mysql-bin", "--binlog-format=ROW", "--binlog-row-image=FULL"])
            .args(["--skip-name-resolve", "--innodb-buffer-pool-size=16M"])
            .arg(format!("--datadir={}", self.dir.path().join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!("--pid-file={}", self.dir.path().join("mysqld.pid").display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mariadbd (scripts/setup.sh installs MariaDB)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "the private MariaDB did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: MariaDB shuts down cleanly, as `service mariadb restart` makes it.
            terminate(child.id());
            let _ = child.wait();
        }
    }

    fn answers(&self) -> bool {
        Command::new("mariadb-admin")
            .args(["--no-defaults", "-uroot"])
            .arg(format!("--socket={}", self.socket().display()))
            .arg("ping")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn client(&self, sql: &str) {
        let out = Command::new("mariadb")
            .args(["--no-defaults", "-uroot"])
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-e", sql])
            .output()
            .expect("the mariadb client");
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mariadbd.log")).unwrap_or_default()
    }
}

/// SIGTERM through the `kill` command (no libc binding in the tests).
fn terminate(pid: u32) {
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
