//! Smoke tests of the topologies in `common/redis_server.rs` (TLS, ACL users, Sentinel,
//! Cluster), written against the `redis` crate directly: what a site's connection can expect
//! of each. Every test starts its own servers, on loopback, and stops them when it ends; on a
//! machine without the programs, it says so and returns (see `Server::available`).

#[path = "common/redis_server.rs"]
mod redis_server;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::time::{Duration, Instant};

use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{Commands, RedisResult, Script};
use redis_server::{run_test_in_child, Cluster, SentinelGroup, Server, SlotMove};

/// TLS: a `rediss://` URL works when `SSL_CERT_FILE` holds the server's CA, and is refused
/// when it holds another CA. Each case runs in a child process ([`tls_in_child`]) with the
/// variable set from its start.
#[test]
fn tls_checks_the_server_against_ssl_cert_file() {
    if !Server::tls_available() {
        return;
    }
    let started = Instant::now();
    let server = Server::start_tls("topo-tls");
    eprintln!(
        "TLS server with its certificates up in {:?}",
        started.elapsed()
    );
    assert!(server.url().starts_with("rediss://127.0.0.1:"));
    // The helper's own client trusts the CA without the environment.
    let pong: String = redis::cmd("PING").query(&mut server.connection()).unwrap();
    assert_eq!(pong, "PONG");
    // A plain connection to the TLS port gets nowhere.
    let plain = format!("redis://127.0.0.1:{}/", server.port());
    let plain = redis::Client::open(plain).unwrap();
    assert!(plain
        .get_connection_with_timeout(Duration::from_secs(2))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_err());

    let url = server.url();
    for (expect, ca) in [
        ("trusted", server.ca_file()),
        ("refused", server.other_ca_file()),
    ] {
        let printed = run_test_in_child(
            "tls_in_child",
            &[
                ("VC_TLS_URL", Some(OsStr::new(&url))),
                ("VC_TLS_EXPECT", Some(OsStr::new(expect))),
                ("SSL_CERT_FILE", Some(ca.as_os_str())),
                // Else rustls-native-certs would add a directory's certificates to the file's.
                ("SSL_CERT_DIR", None),
            ],
        );
        eprint!("{printed}");
    }
    let written: Option<String> = server.connection().get("vc:{tls}:greeting").unwrap();
    assert_eq!(written.as_deref(), Some("hello over TLS"));
}

/// Run by [`tls_checks_the_server_against_ssl_cert_file`] in a child process whose
/// `SSL_CERT_FILE` is the CA to trust.
#[test]
#[ignore = "run by tls_checks_the_server_against_ssl_cert_file in a child process with \
            SSL_CERT_FILE set"]
fn tls_in_child() {
    let (Ok(url), Ok(expect)) = (std::env::var("VC_TLS_URL"), std::env::var("VC_TLS_EXPECT"))
    else {
        eprintln!("note: tls_in_child runs in the child process of another test only");
        return;
    };
    // No process-wide crypto provider is installed: rustls takes the one its features enable
    // (ring, the only one in the dependency tree). Were aws-lc-rs ever enabled too, the
    // connection would panic unless the test first called
    // `rustls::crypto::ring::default_provider().install_default()` (deprecated since rustls
    // 0.23.48: "no support for post-quantum algorithms").
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    let client = redis::Client::open(url.as_str()).unwrap();
    let connected = client.get_connection_with_timeout(Duration::from_secs(5));
    match expect.as_str() {
        "trusted" => {
            let mut c = connected.expect("a TLS connection trusting SSL_CERT_FILE");
            let pong: String = redis::cmd("PING").query(&mut c).unwrap();
            assert_eq!(pong, "PONG");
            let () = c.set("vc:{tls}:greeting", "hello over TLS").unwrap();
            let got: String = c.get("vc:{tls}:greeting").unwrap();
            assert_eq!(got, "hello over TLS");
            eprintln!("trusted CA: PING, SET and GET over {url}");
        }
        "refused" => {
            let err = connected
                .err()
                .expect("no connection when SSL_CERT_FILE holds another CA");
            eprintln!("other CA: {err} (kind {:?})", err.kind());
            assert!(
                err.to_string().contains("UnknownIssuer"),
                "not a certificate error: {err}"
            );
        }
        other => panic!("VC_TLS_EXPECT={other}"),
    }
}

/// What a site's script does, on keys `vc:{s}:*`.
const SITE_SCRIPT: &str = r"
redis.call('SET', KEYS[1], ARGV[1])
local got = redis.call('GET', KEYS[1])
local views = redis.call('HINCRBY', KEYS[2], 'views', 1)
redis.call('ZADD', KEYS[3], views, 'article-1')
redis.call('PFADD', KEYS[4], ARGV[2])
return {got, views, redis.call('PFCOUNT', KEYS[4])}
";

fn run_site_script(c: &mut redis::Connection) -> RedisResult<(String, i64, i64)> {
    Script::new(SITE_SCRIPT)
        .key("vc:{s}:day")
        .key("vc:{s}:hash")
        .key("vc:{s}:top")
        .key("vc:{s}:visitors")
        .arg("2026-01-29")
        .arg("visitor-1")
        .invoke(c)
}

/// `TIME`, which is in none of the user's categories (only `@fast`).
const TIME_SCRIPT: &str = "return redis.call('TIME')";

fn time_script(c: &mut redis::Connection) -> RedisResult<(i64, i64)> {
    Script::new(TIME_SCRIPT).invoke(c)
}

fn connect(url: &str) -> RedisResult<redis::Connection> {
    redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(5))
}

/// The denials the server logged since the last `ACL LOG RESET`: `(reason, object)`.
fn acl_denials(server: &Server) -> Vec<(String, String)> {
    let mut c = server.connection();
    let log: Vec<std::collections::HashMap<String, redis::Value>> =
        redis::cmd("ACL").arg("LOG").query(&mut c).unwrap();
    let () = redis::cmd("ACL")
        .arg("LOG")
        .arg("RESET")
        .query(&mut c)
        .unwrap();
    let text = |e: &std::collections::HashMap<String, redis::Value>, f: &str| {
        e.get(f)
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
            .unwrap_or_default()
    };
    log.iter()
        .map(|e| (text(e, "reason"), text(e, "object")))
        .collect()
}

/// ACL: the user a site needs can run its script, but not `TIME` in it until `+time`; what the
/// redis crate's connection setup asks of the user.
#[test]
fn acl_user_runs_the_site_script() {
    if !Server::available() {
        return;
    }
    let server = Server::start("topo-acl");
    let rules = [
        "resetkeys",
        "~vc:*",
        "resetchannels",
        "-@all",
        "+@read",
        "+@write",
        "+@scripting",
        "+@connection",
    ];
    let url = server.add_user("vc", "pw", &rules);
    assert_eq!(url, format!("redis://vc:pw@127.0.0.1:{}/", server.port()));
    let listed: Vec<String> = redis::cmd("ACL")
        .arg("LIST")
        .query(&mut server.connection())
        .unwrap();
    eprintln!("ACL LIST: {listed:?}");
    let _ = acl_denials(&server);

    let mut c = connect(&url).expect("the user connects");
    assert_eq!(
        run_site_script(&mut c).unwrap(),
        ("2026-01-29".to_owned(), 1, 1)
    );
    assert_eq!(
        run_site_script(&mut c).unwrap(),
        ("2026-01-29".to_owned(), 2, 1)
    );
    // Outside `vc:*`, nothing.
    let err = c.set::<_, _, ()>("other", 1).unwrap_err();
    eprintln!("SET other: {err}");
    assert_eq!(err.code(), Some("NOPERM"));

    let err = time_script(&mut c).unwrap_err();
    eprintln!(
        "TIME in a script without +time: {err}\n  code {:?}, detail {:?}",
        err.code(),
        err.detail()
    );
    assert_eq!(err.code(), Some("ERR"));
    assert_eq!(
        err.detail(),
        Some(
            format!(
                "The user executing the script can't run this command or subcommand script: \
                 {}, on @user_script:1.",
                Script::new(TIME_SCRIPT).get_hash()
            )
            .as_str()
        )
    );
    eprintln!("denials so far: {:?}", acl_denials(&server));

    // The smallest addition: the one command.
    let () = redis::cmd("ACL")
        .arg(&["SETUSER", "vc", "+time"])
        .query(&mut server.connection())
        .unwrap();
    let (seconds, _) = time_script(&mut c).expect("TIME in a script with +time");
    assert!(seconds > 1_700_000_000);

    // The connection setup: AUTH is always allowed; `CLIENT SETINFO` (7.2 and later; 7.0
    // answers "unknown subcommand") has its answer ignored; `SELECT` goes only for a /db other
    // than 0; `HELLO` only with `?protocol=resp3`.
    let bare = server.add_user(
        "bare",
        "pw",
        &["~vc:*", "-@all", "+@read", "+@write", "+@scripting"],
    );
    let mut b = connect(&bare).expect("a user without +@connection connects");
    assert_eq!(run_site_script(&mut b).unwrap().1, 3);
    let ping = redis::cmd("PING").query::<String>(&mut b);
    eprintln!("PING without +@connection: {ping:?}");
    assert!(ping.is_err());
    let db1 = connect(&format!("{bare}1")).map(|_| ());
    eprintln!("{bare}1 without +@connection (SELECT): {db1:?}");
    assert!(db1.is_err());
    let resp3 =
        connect(&format!("{bare}?protocol=resp3")).and_then(|mut c| run_site_script(&mut c));
    eprintln!("{bare}?protocol=resp3 without +@connection (HELLO): {resp3:?}");
    assert!(resp3.is_ok());
    eprintln!("denials of 'bare': {:?}", acl_denials(&server));
    let db1 = connect(&format!("{url}1")).and_then(|mut c| run_site_script(&mut c));
    eprintln!("{url}1 with +@connection: {db1:?}");
    assert!(db1.is_ok());
}

/// The port of the server at the other end (`CONFIG GET port`).
fn port_of(c: &mut redis::Connection) -> u16 {
    let (_, port): (String, u16) = redis::cmd("CONFIG")
        .arg("GET")
        .arg("port")
        .query(c)
        .unwrap();
    port
}

/// Sentinel: a `SentinelClient` finds the primary; after the primary is killed, a new
/// connection from the same client reaches the replica it promoted, with the data.
#[test]
fn sentinel_client_follows_a_failover() {
    if !SentinelGroup::available() {
        return;
    }
    let mut group = SentinelGroup::start("topo-sentinel");
    let mut client = SentinelClient::build(
        group.sentinel_urls(),
        group.master_name(),
        None,
        SentinelServerType::Master,
    )
    .unwrap();
    let first = group.primary_port();
    let mut c = client.get_connection().unwrap();
    assert_eq!(port_of(&mut c), first);
    let () = c.set("vc:{s}:before", "written").unwrap();
    let _: i64 = c.incr("vc:{s}:count", 5).unwrap();
    let replicas: i64 = redis::cmd("WAIT").arg(1).arg(2000).query(&mut c).unwrap();
    assert_eq!(replicas, 1, "the replica acknowledged the writes");
    // Written just before the crash, without waiting for the replica.
    let () = c.set("vc:{s}:unwaited", "written").unwrap();

    let killed = group.kill_primary();
    assert_eq!(killed, first);
    let crash = Instant::now();
    let mut failures: BTreeMap<String, u32> = BTreeMap::new();
    let mut c = loop {
        let attempt = client.get_connection().and_then(|mut c| {
            c.incr::<_, _, i64>("vc:{s}:count", 1)?;
            Ok(c)
        });
        match attempt {
            Ok(c) => break c,
            Err(e) => *failures.entry(format!("{:?}: {e}", e.kind())).or_default() += 1,
        }
        assert!(
            crash.elapsed() < Duration::from_secs(30),
            "no write within 30 s of the crash: {failures:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let first_write = crash.elapsed();
    let new = group
        .wait_for_new_primary(killed, Duration::from_secs(10))
        .unwrap();
    eprintln!(
        "failover: first write {first_write:?} after the kill; new primary {new} (was port \
         {killed}); failed attempts meanwhile: {failures:#?}"
    );
    assert_ne!(group.primary_port(), killed);
    assert_eq!(port_of(&mut c), group.primary_port());
    let before: String = c.get("vc:{s}:before").unwrap();
    assert_eq!(before, "written");
    let count: i64 = c.get("vc:{s}:count").unwrap();
    assert_eq!(count, 6);
    let unwaited: Option<String> = c.get("vc:{s}:unwaited").unwrap();
    eprintln!(
        "the write not waited for (WAIT) survived: {}",
        unwaited.is_some()
    );
}

/// Client-side outcomes of the calls made while a slot moved.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    /// By error code (MOVED, ASK, TRYAGAIN, ...), with the first message of each.
    errors: BTreeMap<String, (u64, String)>,
    slowest: Duration,
}

impl Tally {
    fn count<T>(&mut self, started: Instant, result: &RedisResult<T>) {
        self.slowest = self.slowest.max(started.elapsed());
        match result {
            Ok(_) => self.ok += 1,
            Err(e) => {
                let code = e.code().unwrap_or("(none)").to_owned();
                self.errors.entry(code).or_insert((0, e.to_string())).0 += 1;
            }
        }
    }

    fn errors(&self) -> u64 {
        self.errors.values().map(|(n, _)| n).sum()
    }
}

/// The redirections and refusals the cluster's nodes answered since they started (`INFO
/// errorstats`, summed): MOVED, ASK, TRYAGAIN, CLUSTERDOWN. (Not ERR: redis 7.0 answers
/// every new connection's `CLIENT SETINFO` with one.)
fn redirections(cluster: &Cluster) -> BTreeMap<String, u64> {
    let mut sum = BTreeMap::new();
    for i in 0..3 {
        for (name, n) in cluster.error_stats(i) {
            if ["MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN"].contains(&name.as_str()) {
                *sum.entry(name).or_default() += n;
            }
        }
    }
    sum
}

/// The redirections answered since `before` ([`redirections`]).
fn redirections_since(
    cluster: &Cluster,
    before: &mut BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    let now = redirections(cluster);
    let delta = now
        .iter()
        .map(|(k, &n)| (k.clone(), n - before.get(k).copied().unwrap_or(0)))
        .filter(|&(_, n)| n > 0)
        .collect();
    *before = now;
    delta
}

/// The value of `key` on node `node`, whether or not it owns the key's slot (`ASKING`, then
/// `GET`); `None` if the key is not there.
fn value_on(cluster: &Cluster, node: usize, key: &str) -> Option<i64> {
    let got: RedisResult<(Option<i64>,)> = redis::pipe()
        .cmd("ASKING")
        .ignore()
        .cmd("GET")
        .arg(key)
        .query(&mut cluster.node(node).connection());
    match got {
        Ok((v,)) => v,
        Err(e) if matches!(e.code(), Some("ASK" | "MOVED")) => None,
        Err(e) => panic!("GET {key} on node {node}: {e}"),
    }
}

/// A cluster client that waits 10 to 100 ms before it retries after TRYAGAIN, and retries
/// `retries` times (the redis crate's defaults: 16 times, waiting at least 1.28 s).
fn quick_client(cluster: &Cluster, retries: u32) -> redis::cluster::ClusterClient {
    redis::cluster::ClusterClient::builder(cluster.seed_urls())
        .retries(retries)
        .min_retry_wait(10)
        .max_retry_wait(100)
        .build()
        .unwrap()
}

/// Increments every key it is given: all of them declared, as a cluster wants.
const DECLARED: &str = "for _, k in ipairs(KEYS) do redis.call('INCR', k) end return #KEYS";

/// The keys of a site in the lowest slot of node 1 (so that `redis-cli --cluster reshard`
/// can move it): `(site, slot)`, with 20 more keys in the slot, for a move to take a while.
fn site_on_node_1(cluster: &Cluster) -> (String, u16) {
    let slot = cluster.lowest_slot(1);
    let site = cluster.site_in_slot("site", slot);
    assert_eq!(cluster.slot_owner(slot), 1);
    let mut node1 = cluster.node(1).connection();
    for i in 0..20 {
        let () = node1.set(format!("vc:{{{site}}}:filler:{i}"), i).unwrap();
    }
    (site, slot)
}

/// Runs [`DECLARED`] on `keys`.
fn incr_declared(c: &mut redis::cluster::ClusterConnection, keys: &[String]) -> RedisResult<i64> {
    let script = Script::new(DECLARED);
    let mut invocation = script.prepare_invoke();
    for k in keys {
        invocation.key(k);
    }
    invocation.invoke(c)
}

/// Cluster, step by step: while the site's slot is half moved, the sync `ClusterConnection`
/// follows ASK, retries TRYAGAIN (and gives up after its retries), and follows MOVED once the
/// slot has moved; every call that succeeded counted once.
#[test]
fn cluster_connection_follows_ask_and_moved_and_retries_tryagain() {
    if !Cluster::available() {
        return;
    }
    let cluster = Cluster::start("topo-cluster-steps");
    let (site, slot) = site_on_node_1(&cluster);
    let keys: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|k| format!("vc:{{{site}}}:{k}"))
        .collect();
    let mut c = quick_client(&cluster, 3).get_connection().unwrap();
    assert_eq!(incr_declared(&mut c, &keys).unwrap(), 3);
    let mut seen = redirections(&cluster);

    let migration = cluster.begin_move(slot, 2);
    assert_eq!(incr_declared(&mut c, &keys).unwrap(), 3);
    assert_eq!(redirections_since(&cluster, &mut seen), BTreeMap::new());

    // `a` on the new node, `b` and `c` on the old one: TRYAGAIN, retried 3 times, then given.
    migration.migrate(&keys[..1]).unwrap();
    let started = Instant::now();
    let err = incr_declared(&mut c, &keys).unwrap_err();
    let took = started.elapsed();
    let answered = redirections_since(&cluster, &mut seen);
    eprintln!(
        "keys on both nodes: {err} (code {:?}, kind {:?}) after {took:?}; the servers \
         answered {answered:?}",
        err.code(),
        err.kind()
    );
    assert_eq!(err.code(), Some("TRYAGAIN"));
    assert_eq!(answered, BTreeMap::from([("TRYAGAIN".to_owned(), 4)]));

    // All three on the new node, the slot still the old one's: ASK, followed.
    migration.migrate(&keys[1..]).unwrap();
    assert_eq!(incr_declared(&mut c, &keys).unwrap(), 3);
    let answered = redirections_since(&cluster, &mut seen);
    eprintln!("keys moved, slot not yet: the servers answered {answered:?}");
    assert_eq!(answered, BTreeMap::from([("ASK".to_owned(), 1)]));

    // The slot moved: MOVED, followed, and the slot map refreshed.
    loop {
        let left = migration.keys_left(10);
        if left.is_empty() {
            break;
        }
        migration.migrate(&left).unwrap();
    }
    migration.finish();
    assert_eq!(cluster.slot_owner(slot), 2);
    assert_eq!(incr_declared(&mut c, &keys).unwrap(), 3);
    assert_eq!(incr_declared(&mut c, &keys).unwrap(), 3);
    let answered = redirections_since(&cluster, &mut seen);
    eprintln!("slot moved: the servers answered {answered:?}");
    assert_eq!(answered, BTreeMap::from([("MOVED".to_owned(), 1)]));

    // 6 calls succeeded; the one refused did nothing.
    for k in &keys {
        assert_eq!(value_on(&cluster, 2, k), Some(5), "{k}");
        assert_eq!(value_on(&cluster, 1, k), None, "{k}");
    }
}

/// Calls `call` in a loop until the move is done, then a few more times (MOVED then).
fn call_while_moving<T>(
    moving: std::thread::JoinHandle<redis_server::SlotMoved>,
    mut call: impl FnMut() -> RedisResult<T>,
) -> (Tally, redis_server::SlotMoved) {
    let mut tally = Tally::default();
    while !moving.is_finished() {
        let started = Instant::now();
        let r = call();
        tally.count(started, &r);
    }
    let moved = moving.join().unwrap();
    for _ in 0..5 {
        let started = Instant::now();
        let r = call();
        tally.count(started, &r);
    }
    (tally, moved)
}

/// Cluster, concurrently: a `ClusterClient` runs the site's script by `EVALSHA` in a loop while
/// the site's slot moves to another node on another thread, by hand (a key every 50 ms), then
/// with `redis-cli --cluster reshard`: no call fails, and the counters count every call once.
#[test]
fn cluster_client_keeps_counting_while_the_slot_moves() {
    if !Cluster::available() {
        return;
    }
    let started = Instant::now();
    let cluster = Cluster::start("topo-cluster-moving");
    eprintln!("cluster up in {:?}", started.elapsed());
    let (site, slot) = site_on_node_1(&cluster);
    let keys: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|k| format!("vc:{{{site}}}:{k}"))
        .collect();
    let mut ok = 0;

    // By hand, one key at a time, 50 ms after each; a client that retries TRYAGAIN quickly.
    let mut c = quick_client(&cluster, 16).get_connection().unwrap();
    for _ in 0..3 {
        assert_eq!(incr_declared(&mut c, &keys).unwrap(), 3);
        ok += 1;
    }
    let mut seen = redirections(&cluster);
    let moving = cluster.move_slot_in_background(
        slot,
        2,
        SlotMove::ByHand {
            batch: 1,
            pause: Duration::from_millis(50),
        },
    );
    let (by_hand, moved) = call_while_moving(moving, || incr_declared(&mut c, &keys));
    let answered = redirections_since(&cluster, &mut seen);
    eprintln!("moved by hand: {moved:?}\n  client: {by_hand:?}\n  servers answered: {answered:?}");
    assert_eq!(cluster.slot_owner(slot), 2);
    assert_eq!(by_hand.errors(), 0, "the client saw errors");
    assert!(
        answered.contains_key("ASK") && answered.contains_key("MOVED"),
        "the calls did not meet the slot half moved: {answered:?}"
    );
    ok += by_hand.ok;

    // With redis-cli (the slot is now the lowest of node 2), and the crate's default client.
    let mut c = cluster.client().get_connection().unwrap();
    let moving = cluster.move_slot_in_background(slot, 0, SlotMove::Reshard { pipeline: 1 });
    let (resharded, moved) = call_while_moving(moving, || incr_declared(&mut c, &keys));
    let answered = redirections_since(&cluster, &mut seen);
    eprintln!(
        "moved by redis-cli --cluster reshard: {moved:?}\n  client (defaults): {resharded:?}\n  \
         servers answered: {answered:?}"
    );
    assert_eq!(cluster.slot_owner(slot), 0);
    assert_eq!(resharded.errors(), 0, "the client saw errors");
    ok += resharded.ok;

    // Nothing lost, nothing counted twice.
    for k in &keys {
        assert_eq!(value_on(&cluster, 0, k), Some(ok as i64), "{k}");
    }
    eprintln!(
        "{ok} calls, all counted once; whole test: {:?}",
        started.elapsed()
    );
}

/// Increments `KEYS[1]`, then keys it makes up from `ARGV[1]`, the site: undeclared.
const UNDECLARED: &str = "redis.call('INCR', KEYS[1])
redis.call('INCR', 'vc:{' .. ARGV[1] .. '}:y')
redis.call('INCR', 'vc:{' .. ARGV[1] .. '}:z')
return 3";

/// Cluster: a script that declares only `KEYS[1]` but increments two more keys of the site,
/// step by step while the slot moves. What Redis answers decides the site script's design.
#[test]
fn cluster_script_with_undeclared_keys_while_the_slot_moves() {
    if !Cluster::available() {
        return;
    }
    let cluster = Cluster::start("topo-cluster-undeclared");
    let (site, slot) = site_on_node_1(&cluster);
    let [x, y, z] = ["x", "y", "z"].map(|k| format!("vc:{{{site}}}:{k}"));
    let mut c = quick_client(&cluster, 3).get_connection().unwrap();
    let script = Script::new(UNDECLARED);
    let mut call = || script.key(&x).arg(&site).invoke::<i64>(&mut c);
    let values = |cluster: &Cluster| {
        [&x, &y, &z].map(|k| (value_on(cluster, 1, k), value_on(cluster, 2, k)))
    };

    // The slot in place: allowed (all three keys are in the node's slot).
    assert_eq!(call().unwrap(), 3);
    let migration = cluster.begin_move(slot, 2);
    assert_eq!(call().unwrap(), 3);

    // `y` moved: the script runs on the old node (it has `x`), increments `x`, then fails.
    migration.migrate(std::slice::from_ref(&y)).unwrap();
    let err = call().unwrap_err();
    eprintln!(
        "undeclared y on the new node: {err} (code {:?})",
        err.code()
    );
    assert_eq!(err.code(), Some("ERR"));
    assert_eq!(
        err.detail(),
        Some(
            format!(
                "Script attempted to access a non local key in a cluster node script: {}, on \
                 @user_script:2.",
                script.get_hash()
            )
            .as_str()
        )
    );
    let after_y = values(&cluster);
    eprintln!("  x, y, z as (old node, new node): {after_y:?}");
    assert_eq!(
        after_y,
        [(Some(3), None), (None, Some(2)), (Some(2), None)],
        "x incremented by the call that failed"
    );

    // `x` moved too, `z` not: ASK sends the call to the new node, which (the script runs with
    // the caller's ASKING) creates a second `z` there.
    migration.migrate(std::slice::from_ref(&x)).unwrap();
    assert_eq!(call().unwrap(), 3);
    let after_x = values(&cluster);
    eprintln!("undeclared z on the old node, x and y on the new: Ok(3)\n  x, y, z: {after_x:?}");
    assert_eq!(
        after_x,
        [(None, Some(4)), (None, Some(3)), (Some(2), Some(1))],
        "a z on each node"
    );

    // `z` cannot be moved now; with REPLACE, the new node's `z` (one call) is lost.
    let err = migration
        .migrate(std::slice::from_ref(&z))
        .expect_err("z is on both nodes");
    eprintln!("MIGRATE z: {err}");
    assert_eq!(
        err.to_string(),
        "ResponseError: Target instance replied with error: BUSYKEY Target key name already \
         exists."
    );
    migration
        .migrate_replacing(std::slice::from_ref(&z))
        .unwrap();
    loop {
        let left = migration.keys_left(10);
        if left.is_empty() {
            break;
        }
        migration.migrate(&left).unwrap();
    }
    migration.finish();
    assert_eq!(call().unwrap(), 3);
    // 4 calls succeeded, 1 failed: x counted 5 (one too many), y 4, z 3 (one lost).
    let last = values(&cluster);
    eprintln!("slot moved, 4 calls succeeded and 1 failed: x, y, z: {last:?}");
    assert_eq!(last, [(None, Some(5)), (None, Some(4)), (None, Some(3))]);
}
