//! A real `redis-server` for the tests that share a site: started on a free loopback port with
//! a temporary directory (append-only file, fsync on every write), stopped when dropped.
//! `.ci/run` installs Debian's `redis-server`; a machine without it fails these tests with a
//! message saying so.
//!
//! Included with `#[path = "common/redis_server.rs"] mod redis_server;`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Server {
    /// Starts a server; `name` tells the temporary directories of concurrent tests apart.
    pub fn start(name: &str) -> Server {
        let dir = std::env::temp_dir().join(format!("vc-redis-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = Server {
            port: free_port(),
            dir,
            child: None,
        };
        s.run();
        s
    }

    /// A server that is not running yet, on a port nobody listens on: `url` works, `run`
    /// starts it.
    pub fn stopped(name: &str) -> Server {
        let dir = std::env::temp_dir().join(format!("vc-redis-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Server {
            port: free_port(),
            dir,
            child: None,
        }
    }

    /// Starts the server (again), from its append-only file if it has one, and waits until it
    /// answers.
    pub fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--protected-mode", "no", "--daemonize", "no"])
            .args(["--enable-debug-command", "local"])
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): install it (apt-get install -y \
                     redis-server); .ci/run does"
                )
            });
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Ok(mut c) = self
                .client()
                .get_connection_with_timeout(Duration::from_secs(1))
            {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "redis-server on port {} did not answer within 20 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).unwrap()
    }

    /// A connection for the test to look at or damage the site's keys.
    pub fn connection(&self) -> redis::Connection {
        self.client()
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
