//! `RedisCluster`: a private Redis Cluster a test starts — `n` `redis-server` processes in
//! cluster mode on free local ports, joined by `redis-cli --cluster create` with no replicas
//! — and kills (removing their directories) when dropped.
#![expect(
    clippy::expect_used,
    reason = "test kit: a cluster that cannot start must fail the test at once, with the reason"
)]

use crate::temp_dir::TempDir;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long starting the servers, creating the cluster and its agreeing on `cluster_state:ok`
/// may take before the test fails.
const READY_WITHIN: Duration = Duration::from_secs(15);

/// One node: its client port, cluster bus port, directory and process.
struct Node {
    port: u16,
    dir: TempDir,
    child: Child,
}

/// A running Redis Cluster on `127.0.0.1`, every node a primary.
pub struct RedisCluster {
    nodes: Vec<Node>,
}

/// `name` on `PATH`, else Debian's `/usr/bin/<name>`.
fn find_binary(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/bin").join(name))
}

/// `count` distinct free local ports, held open together while they are picked.
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free local port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// What `redis-cli -p <port> <args>` printed, if it ran and succeeded.
fn cli(port: u16, args: &[&str]) -> Option<String> {
    let output = Command::new(find_binary("redis-cli"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

impl RedisCluster {
    /// Starts `n` (at least 3) cluster-mode servers without persistence, creates the cluster
    /// over them (slots split evenly, no replicas) and waits until every node reports
    /// `cluster_state:ok`.
    pub async fn start(n: usize) -> RedisCluster {
        assert!(n >= 3, "a Redis Cluster needs at least three primaries");
        let server = find_binary("redis-server");
        // A client port and a cluster bus port per node (the bus defaults to port + 10000,
        // which may be taken or out of range).
        let ports = free_ports(2 * n);
        let mut cluster = RedisCluster { nodes: Vec::new() };
        for pair in ports.chunks(2) {
            let (port, bus_port) = (pair[0], pair[1]);
            let dir = TempDir::new("aig-redis-cluster");
            let child = Command::new(&server)
                .arg("--port")
                .arg(port.to_string())
                .arg("--cluster-port")
                .arg(bus_port.to_string())
                .args(["--bind", "127.0.0.1", "--cluster-enabled", "yes"])
                .arg("--cluster-config-file")
                .arg(dir.path().join("nodes.conf"))
                .args(["--appendonly", "no", "--save", ""])
                .arg("--dir")
                .arg(dir.path())
                .arg("--logfile")
                .arg(dir.path().join("redis.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", server.display()));
            cluster.nodes.push(Node { port, dir, child });
        }

        let deadline = Instant::now() + READY_WITHIN;
        for port in cluster.ports() {
            while cli(port, &["PING"]).as_deref().map(str::trim) != Some("PONG") {
                cluster.check_alive();
                assert!(
                    Instant::now() < deadline,
                    "redis-server on port {port} did not answer PING within {READY_WITHIN:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }

        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let created = Command::new(find_binary("redis-cli"))
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );

        for port in cluster.ports() {
            loop {
                let info = cli(port, &["CLUSTER", "INFO"]).unwrap_or_default();
                if info.lines().any(|line| line.trim() == "cluster_state:ok") {
                    break;
                }
                cluster.check_alive();
                assert!(
                    Instant::now() < deadline,
                    "node {port} did not reach cluster_state:ok within {READY_WITHIN:?}: {info}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        cluster
    }

    /// Fails the test with the node's log when a server has exited.
    fn check_alive(&mut self) {
        for node in &mut self.nodes {
            if let Ok(Some(status)) = node.child.try_wait() {
                let log =
                    std::fs::read_to_string(node.dir.path().join("redis.log")).unwrap_or_default();
                panic!(
                    "redis-server on port {} exited with {status}: {log}",
                    node.port
                );
            }
        }
    }

    /// Every node as `redis://127.0.0.1:<port>`, comma-separated: a `REDIS_URL` for the
    /// data plane's cluster mode.
    pub fn urls(&self) -> String {
        self.node_urls().join(",")
    }

    /// Each node's `redis://127.0.0.1:<port>`.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("redis://127.0.0.1:{}", node.port))
            .collect()
    }

    /// The client ports of the nodes.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|node| node.port).collect()
    }

    /// The hash slot of `key` (`CLUSTER KEYSLOT`, honouring a `{hash tag}`).
    pub fn slot(&self, key: &str) -> u16 {
        let port = self.nodes[0].port;
        cli(port, &["CLUSTER", "KEYSLOT", key])
            .and_then(|out| out.trim().parse().ok())
            .expect("CLUSTER KEYSLOT")
    }

    /// The client port of the node that serves `key`: the only node that answers a read of
    /// it rather than redirecting with `MOVED`.
    pub fn owner(&self, key: &str) -> u16 {
        let owners: Vec<u16> = self
            .nodes
            .iter()
            .filter(|node| {
                cli(node.port, &["EXISTS", key])
                    .is_some_and(|out| !out.contains("MOVED") && !out.contains("ASK"))
            })
            .map(|node| node.port)
            .collect();
        assert_eq!(owners.len(), 1, "exactly one node serves {key}: {owners:?}");
        owners[0]
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
        // Each node's TempDir removes its directory as it drops.
    }
}
