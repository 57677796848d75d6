//! Real Apache Kafka for one test: its own KRaft node (or three-node cluster) on free 127.0.0.1
//! ports with storage in a temp dir, so tests run in parallel and leave nothing behind.
//!
//! Every node is run by `scripts/broker.sh`, the one place that knows how to configure, format
//! and start Kafka (the demo and the benchmarks use it too); this module only picks ports and
//! folders, and kills what it started when the test ends. `stop`/`restart` keep the ports and the
//! data, which is how the tests check that events and committed offsets survive a restart.

use std::path::PathBuf;
use std::process::Command;

use crate::agent::free_port;

/// `scripts/broker.sh`.
fn script() -> PathBuf {
    crate::repo_root().join("scripts/broker.sh")
}

/// Whether `scripts/broker.sh install` has put Kafka's jars in its cache.
pub fn kafka_installed() -> bool {
    Command::new(script())
        .arg("libs")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs `scripts/broker.sh VERB DIR` with `env`; panics with its output when it fails.
fn broker_sh(verb: &str, args: &[&str], env: &[(&str, String)]) {
    let mut cmd = Command::new(script());
    cmd.arg(verb).args(args);
    // A smaller heap than the script's default: a test runs several nodes beside the build.
    cmd.env("KAFKA_HEAP_OPTS", "-Xms128m -Xmx512m");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run scripts/broker.sh");
    if !out.status.success() {
        panic!(
            "scripts/broker.sh {verb} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// One KRaft node (broker and controller) in its own folder.
struct Node {
    id: u32,
    port: u16,
    controller_port: u16,
    dir: PathBuf,
}

impl Node {
    fn dir_arg(&self) -> &str {
        self.dir.to_str().expect("utf-8 temp path")
    }

    fn env(&self, voters: &str, cluster_id: &str, wait: bool) -> Vec<(&'static str, String)> {
        vec![
            ("KAFKA_NODE_ID", self.id.to_string()),
            ("KAFKA_CONTROLLER_PORT", self.controller_port.to_string()),
            ("KAFKA_VOTERS", voters.to_string()),
            ("KAFKA_CLUSTER_ID", cluster_id.to_string()),
            ("KAFKA_NO_WAIT", if wait { "0" } else { "1" }.to_string()),
        ]
    }

    fn start(&self, voters: &str, cluster_id: &str, wait: bool) {
        let port = self.port.to_string();
        broker_sh("start", &[&port, self.dir_arg()], &self.env(voters, cluster_id, wait));
    }

    fn wait(&self) {
        broker_sh("wait", &[self.dir_arg()], &[]);
    }

    fn stop(&self) {
        broker_sh("stop", &[self.dir_arg()], &[]);
    }

    fn kill(&self) {
        broker_sh("kill", &[self.dir_arg()], &[]);
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// Nodes that form one cluster, all in one temp dir; killed when dropped.
struct Nodes {
    nodes: Vec<Node>,
    voters: String,
    cluster_id: String,
    // Last field: removed after `Drop::drop` has killed the processes.
    _dir: tempfile::TempDir,
}

impl Nodes {
    /// `count` nodes that are all voters; returns `None` (skip, or a CI failure) without Kafka.
    fn start(count: u32) -> Option<Nodes> {
        if !kafka_installed() {
            return crate::missing("Apache Kafka (run scripts/broker.sh install)");
        }
        let dir = tempfile::Builder::new()
            .prefix("seaf-kafka-")
            .tempdir()
            .expect("temp dir for Kafka");
        let nodes: Vec<Node> = (1..=count)
            .map(|id| Node {
                id,
                port: free_port(),
                controller_port: free_port(),
                dir: dir.path().join(format!("node{id}")),
            })
            .collect();
        let voters = nodes
            .iter()
            .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port))
            .collect::<Vec<_>>()
            .join(",");
        let cluster = Nodes {
            nodes,
            voters,
            cluster_id: random_cluster_id(),
            _dir: dir,
        };
        // A node of a multi-node quorum finishes starting only once a majority is up.
        let wait_each = count == 1;
        for node in &cluster.nodes {
            node.start(&cluster.voters, &cluster.cluster_id, wait_each);
        }
        if !wait_each {
            cluster.nodes.iter().for_each(Node::wait);
        }
        Some(cluster)
    }

    fn node(&self, id: u32) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no Kafka node {id}"))
    }

    fn bootstrap(&self) -> String {
        self.nodes.iter().map(Node::bootstrap).collect::<Vec<_>>().join(",")
    }

    fn restart(&self, id: u32) {
        let node = self.node(id);
        node.stop();
        node.start(&self.voters, &self.cluster_id, true);
    }

    fn log_tail(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- Kafka node {} ({}) ---\n{}", n.id, n.bootstrap(), n.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for node in &self.nodes {
            if let Some(pid) = std::fs::read_to_string(node.dir.join("kafka.pid"))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
            {
                let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            }
        }
    }
}

/// What a deployment under test needs to know of its Kafka.
pub trait Kafka {
    /// `bootstrap.servers`.
    fn bootstrap(&self) -> String;
    /// The replication factor topics should have on it.
    fn replication_factor(&self) -> i32;
}

impl Kafka for Broker {
    fn bootstrap(&self) -> String {
        Broker::bootstrap(self)
    }
    fn replication_factor(&self) -> i32 {
        1
    }
}

impl Kafka for Cluster {
    fn bootstrap(&self) -> String {
        Cluster::bootstrap(self)
    }
    fn replication_factor(&self) -> i32 {
        3
    }
}

/// A single-node Apache Kafka (broker and controller in one process). Killed when dropped.
pub struct Broker {
    nodes: Nodes,
}

impl Broker {
    /// Starts a node, or returns `None` (skipping, with a message) when Kafka is not installed;
    /// under `CI=true` a missing Kafka fails the test.
    pub fn start() -> Option<Broker> {
        Nodes::start(1).map(|nodes| Broker { nodes })
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.nodes.bootstrap()
    }

    /// Stops the broker gracefully (SIGTERM; SIGKILL if it hangs). Data stays.
    pub fn stop(&mut self) {
        self.nodes.node(1).stop();
    }

    /// Kills the broker at once (SIGKILL), like a crash or power cut of the process.
    pub fn kill(&mut self) {
        self.nodes.node(1).kill();
    }

    /// Starts the broker again (stopping it first if it runs) on the same port with the same data.
    pub fn restart(&mut self) {
        self.nodes.restart(1);
    }

    /// The last lines of the broker's log, for failure messages.
    pub fn log_tail(&self) -> String {
        self.nodes.log_tail()
    }
}

/// A three-node KRaft cluster: every node a broker and a controller voter. Killed when dropped.
pub struct Cluster {
    nodes: Nodes,
}

impl Cluster {
    /// Starts three nodes, or `None` (skip, or a CI failure) when Kafka is not installed.
    pub fn start() -> Option<Cluster> {
        Nodes::start(3).map(|nodes| Cluster { nodes })
    }

    /// Every node's `127.0.0.1:PORT`, comma-separated.
    pub fn bootstrap(&self) -> String {
        self.nodes.bootstrap()
    }

    /// Node ids, 1 to 3 (also their broker ids in metadata).
    pub fn ids(&self) -> Vec<u32> {
        self.nodes.nodes.iter().map(|n| n.id).collect()
    }

    /// Kills node `id` at once (SIGKILL).
    pub fn kill(&self, id: u32) {
        self.nodes.node(id).kill();
    }

    /// Starts node `id` again with its data and waits until it serves.
    pub fn restart(&self, id: u32) {
        self.nodes.restart(id);
    }

    pub fn log_tail(&self) -> String {
        self.nodes.log_tail()
    }
}

/// A fresh cluster id from `scripts/broker.sh cluster-id`.
fn random_cluster_id() -> String {
    let out = Command::new(script())
        .arg("cluster-id")
        .output()
        .expect("run scripts/broker.sh");
    assert!(out.status.success(), "scripts/broker.sh cluster-id failed");
    String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
}
