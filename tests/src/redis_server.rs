//! `RedisServer`: a private `redis-server` a test starts, kills (as a crash would), freezes
//! (as a hang would) and restarts on the same port and directory, with AOF on so its data
//! survives the restart.
#![expect(
    clippy::expect_used,
    reason = "test kit: a server that cannot start must fail the test at once, with the reason"
)]

use crate::temp_dir::TempDir;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a start or restart may take before the test fails.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A `redis-server` child process on `127.0.0.1:<port>`, data in a temporary directory.
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    binary: PathBuf,
    child: Option<Child>,
}

/// `redis-server` on `PATH`, else Debian's.
fn find_binary() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/bin/redis-server"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

impl RedisServer {
    /// Starts a fresh server with AOF (`appendfsync always`) and no RDB snapshots, and waits
    /// until it answers PING.
    pub async fn start() -> RedisServer {
        let binary = find_binary();
        let mut last_error = String::new();
        // The free port may be taken by someone else between probing and binding.
        for _ in 0..3 {
            let mut server = RedisServer {
                port: free_port(),
                dir: TempDir::new("aig-redis"),
                binary: binary.clone(),
                child: None,
            };
            match server.launch().await {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!(
            "redis-server ({}) did not start: {last_error}",
            binary.display()
        );
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory (`appendonlydir/`, `redis.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server with SIGKILL, as a crash would, and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL works on a paused (stopped) process too.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server with SIGSTOP: connections stay open but nothing answers, as with
    /// a hung server or a network partition.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT); it answers what it was sent meanwhile.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the server is running").id();
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}: {status}");
    }

    /// Starts the server again on the same port and directory; its data comes back from
    /// the AOF.
    pub async fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.launch().await {
            panic!("redis-server did not restart on port {}: {e}", self.port);
        }
    }

    async fn launch(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        let child = Command::new(&self.binary)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
                    return Err(format!("exited with {status}: {log}"));
                }
            }
            if self.pong().await {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!("no PONG within {READY_WITHIN:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// True once the server answers PING with PONG (not `-LOADING` while it reads the AOF).
    async fn pong(&self) -> bool {
        let attempt = async {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .ok()?;
            stream.write_all(b"PING\r\n").await.ok()?;
            let mut reply = [0u8; 7];
            stream.read_exact(&mut reply).await.ok()?;
            Some(&reply == b"+PONG\r\n")
        };
        tokio::time::timeout(Duration::from_millis(500), attempt)
            .await
            .ok()
            .flatten()
            .unwrap_or(false)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
