//! A real `redis-server` for the tests that share a site: started on a free loopback port with
//! a temporary directory (append-only file, fsync on every write), stopped when dropped.
//!
//! `.ci/run` installs Debian's `redis-server` and sets `VC_REQUIRE_REDIS=1`, under which a
//! machine without it fails these tests. Elsewhere (`cargo test` on a fresh machine) a test
//! that needs the server says so on stderr and returns early: [`Server::available`].
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
    config: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Server {
    /// Whether `redis-server` can be started here. Without it, a test prints why it does
    /// nothing and returns; with `VC_REQUIRE_REDIS` set (as CI does), it fails instead.
    pub fn available() -> bool {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                std::env::var_os("VC_REQUIRE_REDIS").is_none(),
                "redis-server is not installed (apt-get install -y redis-server) and \
                 VC_REQUIRE_REDIS is set"
            );
            eprintln!(
                "note: redis-server is not installed (apt-get install -y redis-server): this \
                 shared-site test does nothing here; .ci/run installs it and runs it"
            );
        }
        found
    }

    /// Starts a server; `name` tells the temporary directories of concurrent tests apart.
    pub fn start(name: &str) -> Server {
        Server::start_with(name, &[])
    }

    /// Starts a server with more configuration (`["--appendfsync", "everysec"]`, say), which
    /// goes after the defaults and so overrides them.
    pub fn start_with(name: &str, config: &[&str]) -> Server {
        let dir = std::env::temp_dir().join(format!("vc-redis-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = Server {
            port: free_port(),
            dir,
            child: None,
            config: config.iter().map(|c| c.to_string()).collect(),
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
            config: Vec::new(),
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
            .args(&self.config)
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
