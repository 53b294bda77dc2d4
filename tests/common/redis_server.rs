//! A real `redis-server` for the tests that share a site: started on a free loopback port with
//! a temporary directory (append-only file, fsync on every write), stopped when dropped.
//!
//! `.ci/run` installs Debian's `redis-server` and sets `VC_REQUIRE_REDIS=1`, under which a
//! machine without it fails these tests. Elsewhere (`cargo test` on a fresh machine) a test
//! that needs the server says so on stderr and returns early: [`Server::available`].
//!
//! Besides the plain server, the topologies a site may be counted on:
//!
//! - TLS only ([`Server::start_tls`]): a `rediss://` URL and a CA made by `openssl`. Our library
//!   checks the server's certificate against the system's trust store, so a test must point
//!   `SSL_CERT_FILE` at the CA: in a child process, see [`run_test_in_child`].
//! - ACL users ([`Server::add_user`]): a URL with a user name and password.
//! - Sentinel ([`SentinelGroup`]): a primary, a replica and a `redis-sentinel`, to fail over.
//! - Cluster ([`Cluster`]): three primaries, and a slot moved from one to another while clients
//!   keep working ([`Cluster::move_slot`]).
//!
//! Every process is a child of the test, on loopback ports, in temporary directories; dropping
//! its value kills it with SIGKILL (also when the test panics) and removes the directory.
//!
//! Included with `#[path = "common/redis_server.rs"] mod redis_server;`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Server {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    config: Vec<String>,
    /// For a TLS-only server: the port above is its TLS port.
    tls: Option<TlsFiles>,
}

/// What `openssl` made for a TLS server, in its directory.
struct TlsFiles {
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    /// Another CA, which signed nothing the server has.
    other_ca: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// An empty temporary directory for `name`, told apart from other test processes' by our pid.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vc-redis-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether every program of `tools` (`(program, Debian package)`) runs here, as
/// [`Server::available`] asks: without one, a test prints why it does nothing and returns;
/// with `VC_REQUIRE_REDIS` set (as CI does), it fails instead.
pub fn tools_available(tools: &[(&str, &str)]) -> bool {
    for &(program, package) in tools {
        let flag = if program == "openssl" {
            "version"
        } else {
            "--version"
        };
        let found = Command::new(program)
            .arg(flag)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                std::env::var_os("VC_REQUIRE_REDIS").is_none(),
                "{program} is not installed (apt-get install -y {package}) and \
                 VC_REQUIRE_REDIS is set"
            );
            eprintln!(
                "note: {program} is not installed (apt-get install -y {package}): this test \
                 does nothing here; .ci/run installs it and runs it"
            );
            return false;
        }
    }
    true
}

/// Runs one test of this test binary again, alone, in a child process whose environment has
/// `env` in it (`None` removes a variable), and panics unless it passed. Returns what it
/// printed, which the caller should pass on (`eprint!`) for `--nocapture`.
///
/// This is how a test sets `SSL_CERT_FILE` (or any variable the code under test reads): the
/// variable is in the child's environment from its start, before any thread, and nothing
/// mutates the environment of a process in which other tests run (`std::env::set_var` there
/// races with every other thread that reads the environment, in Rust or in C, and is
/// `unsafe` from edition 2024 for that reason). The child test is marked
/// `#[ignore = "..."]`, so that only this runs it (with `--ignored --exact`); it should return
/// early with a note when its variables are absent (`cargo test -- --include-ignored`).
pub fn run_test_in_child(test: &str, env: &[(&str, Option<&OsStr>)]) -> String {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for &(name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let output = command.output().expect("the test binary runs again");
    let printed = format!(
        "--- {test} in a child process:\n{}{}--- end of {test}\n",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{test} failed in a child process:\n{printed}"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("test result: ok. 1 passed"),
        "{test} did not run in the child process (is it the full path of an ignored \
         test?):\n{printed}"
    );
    printed
}

/// Runs `program` with `args` and panics with its output unless it succeeds; returns stdout.
fn run_tool<S: AsRef<OsStr> + std::fmt::Debug>(program: &str, args: &[S], dir: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e})"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `openssl` configuration of the test certificates: a CA, and a server certificate for
/// `127.0.0.1` and `localhost` that it signs.
const OPENSSL_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = visitor-counter test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
";

/// Makes `<ca>.crt` and `<ca>.key` in `dir`: a self-signed CA with a P-256 key, for two days.
fn make_ca(dir: &Path, ca: &str, subject: &str) {
    let (key, crt) = (format!("{ca}.key"), format!("{ca}.crt"));
    let args = [
        "req",
        "-x509",
        "-new",
        "-nodes",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-keyout",
        &key,
        "-out",
        &crt,
        "-days",
        "2",
        "-config",
        "openssl.cnf",
        "-extensions",
        "ca",
        "-subj",
        subject,
    ];
    run_tool("openssl", &args, dir);
}

/// Makes in `dir`: `ca.crt` (with `ca.key`), `server.crt` and `server.key` signed by it, and
/// `other-ca.crt`, a CA that signed nothing of ours.
fn make_certificates(dir: &Path) -> TlsFiles {
    std::fs::write(dir.join("openssl.cnf"), OPENSSL_CONFIG).unwrap();
    make_ca(dir, "ca", "/CN=visitor-counter test CA");
    make_ca(dir, "other-ca", "/CN=visitor-counter other test CA");
    let steps: [&[&str]; 2] = [
        &[
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-config",
            "openssl.cnf",
            "-subj",
            "/CN=localhost",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            "server",
        ],
    ];
    for args in steps {
        run_tool("openssl", args, dir);
    }
    TlsFiles {
        ca: dir.join("ca.crt"),
        other_ca: dir.join("other-ca.crt"),
    }
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

    /// [`Server::available`], and `openssl` too, for [`Server::start_tls`].
    pub fn tls_available() -> bool {
        Server::available() && tools_available(&[("openssl", "openssl")])
    }

    /// Starts a server; `name` tells the temporary directories of concurrent tests apart.
    pub fn start(name: &str) -> Server {
        Server::start_with(name, &[])
    }

    /// Starts a server with more configuration (`["--appendfsync", "everysec"]`, say), which
    /// goes after the defaults and so overrides them.
    pub fn start_with(name: &str, config: &[&str]) -> Server {
        let mut s = Server {
            port: free_port(),
            dir: fresh_dir(name),
            child: None,
            config: config.iter().map(|c| c.to_string()).collect(),
            tls: None,
        };
        s.run();
        s
    }

    /// Starts a server that speaks only TLS (`--port 0 --tls-port <free port>`), with a
    /// certificate for `127.0.0.1` and `localhost` signed by a CA that `openssl` makes in its
    /// directory ([`Server::ca_file`]); clients need no certificate of their own.
    ///
    /// [`Server::url`] is then `rediss://127.0.0.1:<port>/`, which our library checks against
    /// the system's trust store: a test points `SSL_CERT_FILE` at [`Server::ca_file`] in a
    /// child process ([`run_test_in_child`]). [`Server::client`] and [`Server::connection`]
    /// trust the CA by themselves, for the test to look at the keys.
    pub fn start_tls(name: &str) -> Server {
        let dir = fresh_dir(name);
        let tls = make_certificates(&dir);
        let port = free_port();
        let path = |file: &str| dir.join(file).to_str().expect("a UTF-8 path").to_owned();
        let config = vec![
            "--port".to_owned(),
            "0".to_owned(),
            "--tls-port".to_owned(),
            port.to_string(),
            "--tls-cert-file".to_owned(),
            path("server.crt"),
            "--tls-key-file".to_owned(),
            path("server.key"),
            "--tls-ca-cert-file".to_owned(),
            path("ca.crt"),
            "--tls-auth-clients".to_owned(),
            "no".to_owned(),
        ];
        let mut s = Server {
            port,
            dir,
            child: None,
            config,
            tls: Some(tls),
        };
        s.run();
        s
    }

    /// A server that is not running yet, on a port nobody listens on: `url` works, `run`
    /// starts it.
    pub fn stopped(name: &str) -> Server {
        Server {
            port: free_port(),
            dir: fresh_dir(name),
            child: None,
            config: Vec::new(),
            tls: None,
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
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "redis-server on port {} exited ({status}) instead of answering; its log:\n{}",
                    self.port,
                    std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
                );
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

    /// `redis://127.0.0.1:<port>/`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on (its TLS port, for a TLS server).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A client of the server; for a TLS server, one that trusts [`Server::ca_file`] without
    /// `SSL_CERT_FILE`.
    pub fn client(&self) -> redis::Client {
        match &self.tls {
            None => redis::Client::open(self.url()).unwrap(),
            Some(tls) => redis::Client::build_with_tls(
                self.url(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(std::fs::read(&tls.ca).unwrap()),
                },
            )
            .unwrap(),
        }
    }

    /// A connection for the test to look at or damage the site's keys.
    pub fn connection(&self) -> redis::Connection {
        self.client()
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap()
    }

    /// The CA (PEM) that signed the certificate of a server from [`Server::start_tls`].
    pub fn ca_file(&self) -> &Path {
        &self
            .tls
            .as_ref()
            .expect("a server from Server::start_tls")
            .ca
    }

    /// A second CA (PEM), which signed nothing of this server's: trusting only it, a client
    /// must refuse the server.
    pub fn other_ca_file(&self) -> &Path {
        &self
            .tls
            .as_ref()
            .expect("a server from Server::start_tls")
            .other_ca
    }

    /// Creates (or replaces) the ACL user `name` with
    /// `ACL SETUSER <name> reset on ><password> <rules...>`: it may do only what `rules` allow
    /// (say `~vc:*` and `+@read`). Returns [`Server::url_as`] for the user. Keep `name` and
    /// `password` to letters and digits (they go into the URL as they are).
    pub fn add_user(&self, name: &str, password: &str, rules: &[&str]) -> String {
        let mut c = self.connection();
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(name)
            .arg("reset")
            .arg("on")
            .arg(format!(">{password}"))
            .arg(rules)
            .exec(&mut c)
            .unwrap_or_else(|e| panic!("ACL SETUSER {name} ... {rules:?}: {e}"));
        self.url_as(name, password)
    }

    /// The server's URL with a user name and password: `redis://name:password@127.0.0.1:port/`.
    pub fn url_as(&self, name: &str, password: &str) -> String {
        self.url()
            .replacen("://", &format!("://{name}:{password}@"), 1)
    }

    /// The value of `field` in `INFO <section>`, if the server gives it.
    pub fn info(&self, section: &str, field: &str) -> Option<String> {
        let mut c = self
            .client()
            .get_connection_with_timeout(Duration::from_secs(2))
            .ok()?;
        let info: String = redis::cmd("INFO").arg(section).query(&mut c).ok()?;
        info_field(&info, field)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

/// Polls `check` every 20 ms until it gives a value, or panics after `timeout` with `what`.
fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(t) = check() {
            return t;
        }
        assert!(
            started.elapsed() < timeout,
            "{what}: not within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A primary, one replica of it (`--replicaof`) and one `redis-sentinel` that watches them as
/// [`SentinelGroup::master_name`], with a quorum of 1, `down-after-milliseconds` 500 and
/// `failover-timeout` 2000: a failover completes about a second after the primary dies. The two
/// servers are [`Server`]s (append-only file, fsync always); the sentinel keeps its state in
/// its configuration file, which it rewrites. Dropping it kills the three.
pub struct SentinelGroup {
    /// The primary it started with, then the replica.
    servers: Vec<Server>,
    sentinel: SentinelProcess,
    master_name: String,
}

/// A running `redis-sentinel`.
struct SentinelProcess {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl SentinelGroup {
    /// Whether `redis-server` and `redis-sentinel` are here (see [`Server::available`]).
    pub fn available() -> bool {
        Server::available() && tools_available(&[("redis-sentinel", "redis-sentinel")])
    }

    /// Starts the primary, the replica and the sentinel, and returns once the replica is in
    /// sync and the sentinel knows both.
    pub fn start(name: &str) -> SentinelGroup {
        let master_name = "vc-primary".to_owned();
        let primary = Server::start(&format!("{name}-primary"));
        let replica = Server::start_with(
            &format!("{name}-replica"),
            &["--replicaof", "127.0.0.1", &primary.port.to_string()],
        );
        let dir = fresh_dir(&format!("{name}-sentinel"));
        let port = free_port();
        let config = format!(
            "port {port}\n\
             bind 127.0.0.1\n\
             protected-mode no\n\
             daemonize no\n\
             dir \"{dir}\"\n\
             logfile \"{dir}/sentinel.log\"\n\
             sentinel monitor {master_name} 127.0.0.1 {primary} 1\n\
             sentinel down-after-milliseconds {master_name} 500\n\
             sentinel failover-timeout {master_name} 2000\n\
             sentinel parallel-syncs {master_name} 1\n",
            dir = dir.display(),
            primary = primary.port,
        );
        let config_file = dir.join("sentinel.conf");
        std::fs::write(&config_file, config).unwrap();
        let child = Command::new("redis-sentinel")
            .arg(&config_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-sentinel ({e}): install it (apt-get install -y \
                     redis-sentinel)"
                )
            });
        let group = SentinelGroup {
            servers: vec![primary, replica],
            sentinel: SentinelProcess {
                port,
                dir,
                child: Some(child),
            },
            master_name,
        };
        wait_for("the replica in sync", Duration::from_secs(20), || {
            (group.servers[1]
                .info("replication", "master_link_status")
                .as_deref()
                == Some("up"))
            .then_some(())
        });
        wait_for(
            "the sentinel watching the primary and its replica",
            Duration::from_secs(20),
            || {
                let mut c = group.sentinel_connection().ok()?;
                let master: HashMap<String, String> = redis::cmd("SENTINEL")
                    .arg("MASTER")
                    .arg(&group.master_name)
                    .query(&mut c)
                    .ok()?;
                let replicas: Vec<HashMap<String, String>> = redis::cmd("SENTINEL")
                    .arg("REPLICAS")
                    .arg(&group.master_name)
                    .query(&mut c)
                    .ok()?;
                let ok = master.get("flags").map(String::as_str) == Some("master")
                    && replicas.iter().any(|r| {
                        r.get("flags").map(String::as_str) == Some("slave")
                            && r.get("master-link-status").map(String::as_str) == Some("ok")
                    });
                ok.then_some(())
            },
        );
        group
    }

    /// The name the sentinel knows the primary by.
    pub fn master_name(&self) -> &str {
        &self.master_name
    }

    /// `redis://127.0.0.1:<port>/` of each sentinel (there is one).
    pub fn sentinel_urls(&self) -> Vec<String> {
        vec![format!("redis://127.0.0.1:{}/", self.sentinel.port)]
    }

    fn sentinel_connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.sentinel_urls()[0].as_str())?
            .get_connection_with_timeout(Duration::from_secs(1))
    }

    /// The port of the primary, as the sentinel reports it now
    /// (`SENTINEL GET-MASTER-ADDR-BY-NAME`).
    pub fn primary_port(&self) -> u16 {
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(&self.master_name)
            .query(&mut self.sentinel_connection().unwrap())
            .unwrap();
        port
    }

    /// `redis://127.0.0.1:<port>/` of the primary, as the sentinel reports it now.
    pub fn primary_url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.primary_port())
    }

    /// The server on `port` (the primary or the replica), for connections to it.
    pub fn server(&self, port: u16) -> &Server {
        self.servers
            .iter()
            .find(|s| s.port == port)
            .expect("one of the group's servers")
    }

    /// Kills the current primary with SIGKILL, as a crash would; returns its port. The
    /// sentinel notices within `down-after-milliseconds` and promotes the replica:
    /// [`SentinelGroup::wait_for_new_primary`].
    pub fn kill_primary(&mut self) -> u16 {
        let port = self.primary_port();
        self.servers
            .iter_mut()
            .find(|s| s.port == port)
            .expect("the primary is one of the group's servers")
            .kill();
        port
    }

    /// Waits until the sentinel reports a primary other than the one on `old_port` and that
    /// server says it is a primary (`ROLE`); returns its URL, or an error after `timeout`.
    pub fn wait_for_new_primary(&self, old_port: u16, timeout: Duration) -> Result<String, String> {
        let started = Instant::now();
        loop {
            let port = self.sentinel_connection().ok().and_then(|mut c| {
                redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(&self.master_name)
                    .query::<(String, u16)>(&mut c)
                    .ok()
            });
            if let Some((_, port)) = port.filter(|&(_, p)| p != old_port) {
                let url = format!("redis://127.0.0.1:{port}/");
                let role = redis::Client::open(url.as_str())
                    .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
                    .and_then(|mut c| redis::cmd("ROLE").query::<Vec<redis::Value>>(&mut c));
                if let Ok(role) = role {
                    if matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master") {
                        return Ok(url);
                    }
                }
            }
            if started.elapsed() >= timeout {
                return Err(format!(
                    "the sentinel reported no new primary within {timeout:?}; its log:\n{}",
                    std::fs::read_to_string(self.sentinel.dir.join("sentinel.log"))
                        .unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Three primaries with `--cluster-enabled yes` (a `nodes.conf` each, `cluster-node-timeout`
/// 2000, append-only file, fsync always), joined by `redis-cli --cluster create ...
/// --cluster-replicas 0 --cluster-yes`: node 0 holds slots 0-5460, node 1 5461-10922, node 2
/// 10923-16383. Dropping it kills the three.
pub struct Cluster {
    nodes: Vec<Server>,
    mover: SlotMover,
}

/// How [`Cluster::move_slot`] moves a slot.
#[derive(Clone, Copy, Debug)]
pub enum SlotMove {
    /// `redis-cli --cluster reshard --cluster-slots 1`, from the slot's owner to the node:
    /// redis-cli moves the lowest slot of the owner, so this moves only a slot that is the
    /// lowest of its owner ([`Cluster::lowest_slot`], [`Cluster::site_in_slot`]). It migrates
    /// keys `pipeline` at a time (`--cluster-pipeline`), without pausing.
    Reshard { pipeline: usize },
    /// By hand, any slot: `CLUSTER SETSLOT IMPORTING` on the node, `MIGRATING` on the owner,
    /// then `MIGRATE ... KEYS` of `batch` keys at a time with `pause` after each batch (so that
    /// clients meet the slot half moved: `ASK` and `TRYAGAIN`), then `SETSLOT NODE` on the
    /// node, the owner and the others.
    ByHand { batch: usize, pause: Duration },
}

/// What a move of a slot did.
#[derive(Clone, Debug)]
pub struct SlotMoved {
    pub slot: u16,
    pub from: usize,
    pub to: usize,
    /// Keys migrated, and in how many `MIGRATE` calls (unknown, 0, for `Reshard`).
    pub keys: usize,
    pub batches: usize,
    /// From the first command of the move to the moment every node agrees on the new owner.
    pub took: Duration,
}

/// What it takes to move slots of a [`Cluster`], for a thread of its own
/// ([`Cluster::move_slot_in_background`]).
#[derive(Clone, Debug)]
pub struct SlotMover {
    ports: Vec<u16>,
    ids: Vec<String>,
}

impl Cluster {
    /// Whether `redis-server` and `redis-cli` are here (see [`Server::available`]).
    pub fn available() -> bool {
        Server::available() && tools_available(&[("redis-cli", "redis-tools")])
    }

    /// Starts the three nodes, creates the cluster, and returns once every node says
    /// `cluster_state:ok` and sees the same owner for every slot.
    pub fn start(name: &str) -> Cluster {
        let nodes: Vec<Server> = (0..3)
            .map(|i| {
                let bus = free_port().to_string();
                Server::start_with(
                    &format!("{name}-node{i}"),
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                        "--cluster-port",
                        &bus,
                    ],
                )
            })
            .collect();
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(String::from));
        run_tool("redis-cli", &args, &nodes[0].dir);
        let ids = nodes
            .iter()
            .map(|n| {
                redis::cmd("CLUSTER")
                    .arg("MYID")
                    .query(&mut n.connection())
                    .unwrap()
            })
            .collect();
        let mover = SlotMover {
            ports: nodes.iter().map(|n| n.port).collect(),
            ids,
        };
        let cluster = Cluster { nodes, mover };
        wait_for("the cluster ready", Duration::from_secs(30), || {
            let ok = cluster.nodes.iter().all(|n| {
                n.info("cluster", "cluster_enabled").as_deref() == Some("1")
                    && cluster_info(n.port, "cluster_state").as_deref() == Some("ok")
                    && cluster_info(n.port, "cluster_known_nodes").as_deref() == Some("3")
            });
            (ok && cluster.mover.agreed_owners().is_some()).then_some(())
        });
        cluster
    }

    /// `redis://127.0.0.1:<port>/` of each node, to give a cluster client.
    pub fn seed_urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }

    /// A cluster client with the seed URLs and the redis crate's defaults.
    pub fn client(&self) -> redis::cluster::ClusterClient {
        redis::cluster::ClusterClient::new(self.seed_urls()).unwrap()
    }

    /// Node `i` (0, 1 or 2), for plain connections to it.
    pub fn node(&self, i: usize) -> &Server {
        &self.nodes[i]
    }

    /// The slot of `key` (`CLUSTER KEYSLOT`, asked of node 0).
    pub fn key_slot(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.nodes[0].connection())
            .unwrap()
    }

    /// The node (0, 1 or 2) that owns `slot`, once every node agrees on it (they do but for a
    /// moment after a move, which this waits out).
    pub fn slot_owner(&self, slot: u16) -> usize {
        self.mover.owner(slot)
    }

    /// The lowest slot that node `i` owns.
    pub fn lowest_slot(&self, i: usize) -> u16 {
        self.mover.lowest_slot(i)
    }

    /// A site name whose keys, `vc:{<site>}:...`, hash to `slot`: `<prefix><n>` for the first
    /// `n` that does (computed here, checked with `CLUSTER KEYSLOT`).
    pub fn site_in_slot(&self, prefix: &str, slot: u16) -> String {
        let site = (0u64..)
            .map(|n| format!("{prefix}{n}"))
            .find(|s| crc16(s.as_bytes()) % 16384 == slot)
            .unwrap();
        assert_eq!(self.key_slot(&format!("vc:{{{site}}}:total")), slot);
        site
    }

    /// What moving slots takes, for a thread of one's own.
    pub fn mover(&self) -> SlotMover {
        self.mover.clone()
    }

    /// Moves `slot` to node `to` (see [`SlotMove`]) while clients keep working, and returns
    /// once every node agrees that `to` owns it.
    pub fn move_slot(&self, slot: u16, to: usize, how: SlotMove) -> SlotMoved {
        self.mover.move_slot(slot, to, how)
    }

    /// Starts moving `slot` to node `to` by hand, step by step, for a test to see what clients
    /// meet at each: [`SlotMigration`].
    pub fn begin_move(&self, slot: u16, to: usize) -> SlotMigration {
        self.mover.begin_move(slot, to)
    }

    /// [`Cluster::move_slot`] on a thread of its own, for the test to keep calling the site
    /// meanwhile; `join` it before the cluster is dropped.
    pub fn move_slot_in_background(
        &self,
        slot: u16,
        to: usize,
        how: SlotMove,
    ) -> JoinHandle<SlotMoved> {
        let mover = self.mover();
        std::thread::spawn(move || mover.move_slot(slot, to, how))
    }

    /// `INFO errorstats` of node `i`: `{"MOVED": 3, "ASK": 5, "TRYAGAIN": 1, ...}` (the errors
    /// it answered since it started, redirections included).
    pub fn error_stats(&self, i: usize) -> HashMap<String, u64> {
        let info: String = redis::cmd("INFO")
            .arg("errorstats")
            .query(&mut self.nodes[i].connection())
            .unwrap();
        info.lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("errorstat_")?.split_once(":count=")?;
                Some((name.to_owned(), rest.trim().parse().ok()?))
            })
            .collect()
    }
}

/// A field of `CLUSTER INFO` of the node on `port`.
fn cluster_info(port: u16, field: &str) -> Option<String> {
    let mut c = node_connection(port).ok()?;
    let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut c).ok()?;
    info_field(&info, field)
}

fn node_connection(port: u16) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))?
        .get_connection_with_timeout(Duration::from_secs(2))
}

/// The slot ranges of `CLUSTER SLOTS` as the node on `port` sees them: `(first, last, port of
/// the owner)`.
fn slot_ranges(port: u16) -> Option<Vec<(u16, u16, u16)>> {
    let mut c = node_connection(port).ok()?;
    let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER").arg("SLOTS").query(&mut c).ok()?;
    ranges
        .into_iter()
        .map(|r| {
            let first = redis::from_redis_value_ref(r.first()?).ok()?;
            let last = redis::from_redis_value_ref(r.get(1)?).ok()?;
            let owner: Vec<redis::Value> = redis::from_redis_value_ref(r.get(2)?).ok()?;
            let port = redis::from_redis_value_ref(owner.get(1)?).ok()?;
            Some((first, last, port))
        })
        .collect()
}

/// The CRC16 (XMODEM) of Redis Cluster, over the hash tag of `key` if it has one.
fn crc16(key: &[u8]) -> u16 {
    let key = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    let mut crc: u16 = 0;
    for &b in key {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

impl SlotMover {
    /// The owner (node index) of every slot, if all nodes see the same owners for all 16384.
    fn agreed_owners(&self) -> Option<Vec<usize>> {
        let mut agreed: Option<Vec<usize>> = None;
        for &port in &self.ports {
            let mut owners = vec![usize::MAX; 16384];
            for (first, last, owner) in slot_ranges(port)? {
                let node = self.ports.iter().position(|&p| p == owner)?;
                owners[usize::from(first)..=usize::from(last)].fill(node);
            }
            if owners.contains(&usize::MAX) || agreed.as_ref().is_some_and(|a| *a != owners) {
                return None;
            }
            agreed = Some(owners);
        }
        agreed
    }

    fn owners(&self) -> Vec<usize> {
        wait_for(
            "every node seeing the same owner of every slot",
            Duration::from_secs(20),
            || self.agreed_owners(),
        )
    }

    /// See [`Cluster::slot_owner`].
    pub fn owner(&self, slot: u16) -> usize {
        self.owners()[usize::from(slot)]
    }

    /// See [`Cluster::lowest_slot`].
    pub fn lowest_slot(&self, node: usize) -> u16 {
        let slot = self.owners().iter().position(|&n| n == node);
        slot.expect("the node owns a slot") as u16
    }

    /// See [`Cluster::move_slot`].
    pub fn move_slot(&self, slot: u16, to: usize, how: SlotMove) -> SlotMoved {
        let from = self.owner(slot);
        assert_ne!(from, to, "slot {slot} is already on node {to}");
        let started = Instant::now();
        let (keys, batches) = match how {
            SlotMove::Reshard { pipeline } => {
                let lowest = self.lowest_slot(from);
                assert_eq!(
                    lowest, slot,
                    "redis-cli --cluster reshard moves the lowest slot of node {from}, \
                     {lowest}, not {slot}: use SlotMove::ByHand, or a site in a lowest slot"
                );
                let args = [
                    "--cluster".to_owned(),
                    "reshard".to_owned(),
                    format!("127.0.0.1:{}", self.ports[from]),
                    "--cluster-from".to_owned(),
                    self.ids[from].clone(),
                    "--cluster-to".to_owned(),
                    self.ids[to].clone(),
                    "--cluster-slots".to_owned(),
                    "1".to_owned(),
                    "--cluster-pipeline".to_owned(),
                    pipeline.to_string(),
                    "--cluster-yes".to_owned(),
                ];
                run_tool("redis-cli", &args, &std::env::temp_dir());
                (0, 0)
            }
            SlotMove::ByHand { batch, pause } => self.move_by_hand(slot, to, batch, pause),
        };
        wait_for(
            "every node seeing the slot's new owner",
            Duration::from_secs(20),
            || self.agreed_owners().filter(|o| o[usize::from(slot)] == to),
        );
        SlotMoved {
            slot,
            from,
            to,
            keys,
            batches,
            took: started.elapsed(),
        }
    }

    fn move_by_hand(&self, slot: u16, to: usize, batch: usize, pause: Duration) -> (usize, usize) {
        let migration = self.begin_move(slot, to);
        let (mut keys, mut batches) = (0, 0);
        loop {
            let batch_keys = migration.keys_left(batch);
            if batch_keys.is_empty() {
                break;
            }
            migration.migrate(&batch_keys).unwrap_or_else(|e| {
                let names: Vec<String> = batch_keys
                    .iter()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .collect();
                panic!(
                    "MIGRATE of slot {slot} ({names:?}): {e}{}",
                    if e.to_string().contains("BUSYKEY") {
                        "; a client wrote the key on the importing node meanwhile (a \
                         script's undeclared key, run there after ASK?)"
                    } else {
                        ""
                    }
                )
            });
            keys += batch_keys.len();
            batches += 1;
            std::thread::sleep(pause);
        }
        migration.finish();
        (keys, batches)
    }

    /// See [`Cluster::begin_move`].
    pub fn begin_move(&self, slot: u16, to: usize) -> SlotMigration {
        let from = self.owner(slot);
        assert_ne!(from, to, "slot {slot} is already on node {to}");
        let migration = SlotMigration {
            mover: self.clone(),
            slot,
            from,
            to,
        };
        migration.setslot(to, "IMPORTING", from);
        migration.setslot(from, "MIGRATING", to);
        migration
    }
}

/// A slot half moved ([`Cluster::begin_move`]): `IMPORTING` on the node it goes to,
/// `MIGRATING` on its owner, which still owns it. A key of the slot is on one node or the
/// other as [`SlotMigration::migrate`] moves it; clients meet `ASK` (a key they ask the owner
/// for is on the other node) and `TRYAGAIN` (a command's keys are on both). Dropping it without
/// [`SlotMigration::finish`] leaves the slot so.
pub struct SlotMigration {
    mover: SlotMover,
    pub slot: u16,
    pub from: usize,
    pub to: usize,
}

impl SlotMigration {
    fn setslot(&self, node: usize, state: &str, other: usize) {
        let mut c = node_connection(self.mover.ports[node]).unwrap();
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(self.slot)
            .arg(state)
            .arg(&self.mover.ids[other])
            .exec(&mut c)
            .unwrap_or_else(|e| panic!("CLUSTER SETSLOT {} {state}: {e}", self.slot));
    }

    /// Up to `count` keys of the slot still on its owner (`CLUSTER GETKEYSINSLOT`), as bytes
    /// (a key need not be UTF-8).
    pub fn keys_left(&self, count: usize) -> Vec<Vec<u8>> {
        let mut c = node_connection(self.mover.ports[self.from]).unwrap();
        redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(self.slot)
            .arg(count)
            .query(&mut c)
            .unwrap()
    }

    /// Moves `keys` to the node, at once (`MIGRATE ... KEYS`): an error if one of them is
    /// there already (`BUSYKEY`).
    pub fn migrate<K: redis::ToRedisArgs>(&self, keys: &[K]) -> redis::RedisResult<()> {
        self.migrate_command(keys, false)
    }

    /// [`SlotMigration::migrate`] with `REPLACE`: the node's value of a key that is on both
    /// nodes is lost.
    pub fn migrate_replacing<K: redis::ToRedisArgs>(&self, keys: &[K]) -> redis::RedisResult<()> {
        self.migrate_command(keys, true)
    }

    fn migrate_command<K: redis::ToRedisArgs>(
        &self,
        keys: &[K],
        replace: bool,
    ) -> redis::RedisResult<()> {
        let mut c = node_connection(self.mover.ports[self.from])?;
        let mut migrate = redis::cmd("MIGRATE");
        migrate
            .arg("127.0.0.1")
            .arg(self.mover.ports[self.to])
            .arg("")
            .arg(0)
            .arg(5000);
        if replace {
            migrate.arg("REPLACE");
        }
        let answer: String = migrate.arg("KEYS").arg(keys).query(&mut c)?;
        assert!(answer == "OK" || answer == "NOKEY", "MIGRATE: {answer}");
        Ok(())
    }

    /// Gives the slot to the node (`CLUSTER SETSLOT <slot> NODE` on it, on the owner, then on
    /// the others; the node's bumped epoch makes its claim win) and waits until every node
    /// agrees. Keys still on the owner stay there, unreachable: migrate them first.
    pub fn finish(self) {
        let (from, to) = (self.from, self.to);
        self.setslot(to, "NODE", to);
        self.setslot(from, "NODE", to);
        for i in 0..self.mover.ports.len() {
            if i != from && i != to {
                self.setslot(i, "NODE", to);
            }
        }
        wait_for(
            "every node seeing the slot's new owner",
            Duration::from_secs(20),
            || {
                self.mover
                    .agreed_owners()
                    .filter(|o| o[usize::from(self.slot)] == to)
            },
        );
    }
}
