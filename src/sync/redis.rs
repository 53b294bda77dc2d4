//! The store over Redis: the site's script (`site.lua`), run with `EVALSHA` (loaded when the
//! server lacks it) on one connection, opened again after any failure: to the server of a
//! URL, to the primary the sentinels name at the time (so a failover is followed), or to a
//! Redis Cluster (the redis crate's cluster client, which follows the site's slot: MOVED, ASK,
//! TRYAGAIN).
//!
//! The connection's connect, read and write timeouts are the sync timeout: a call that takes
//! longer fails, and the connection is dropped (an answer that comes later must not be read as
//! the answer to the next call). The script may still have run on the server: the next sync
//! sends the same part with the same number, which the script then applies as nothing.

use std::time::Duration;

use redis::cluster::ClusterClient;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Client, ConnectionLike, IntoConnectionInfo, Script, Value};

use crate::ids::random_u64;
use crate::sync::batch::{micros, touched};
use crate::sync::engine::{Call, Mark, Reply, Store, LIMIT};
use crate::sync::site::Record;
use crate::sync::{Address, ErrorKind, SyncError};

/// The script every counter of every site runs.
const SCRIPT: &str = include_str!("site.lua");
/// The layout of the site's keys and of the script's arguments.
const SCHEMA: &str = "3";

/// What a site is made of: every counter of it must have the same.
#[derive(Clone, Debug)]
pub(crate) struct SiteConfig {
    /// `UTC+07:00:00` or an IANA name.
    pub zone: String,
    /// Days from Monday.
    pub week_start: u8,
    pub online_window: i64,
    pub session_timeout: i64,
    pub dedup_window: i64,
    /// The builder's `initial_total`, added once, by the counter that creates the site.
    pub initial_visits: u64,
    pub initial_page_views: u64,
}

/// How the store reaches the server.
enum Target {
    Server(Client),
    Sentinel(Box<SentinelClient>),
    Cluster(ClusterClient),
}

pub(crate) struct RedisStore {
    target: Target,
    connection: Option<Box<dyn ConnectionLike + Send>>,
    /// The server's `maxmemory-policy`, read when the store connects, if the server lets it.
    policy: Option<String>,
    /// `vc:{<site>}:`
    prefix: String,
    script: Script,
    timeout: Duration,
    site: SiteConfig,
}

/// Checks a site name (see `CounterBuilder::redis`).
fn check_site(site: &str) -> Result<(), String> {
    if site.is_empty() || site.contains(['{', '}']) || site.len() > 200 {
        return Err(format!(
            "site name {site:?}: give 1 to 200 characters, without braces"
        ));
    }
    Ok(())
}

/// Checks the address: URLs that parse, at least one sentinel or node, a master name.
fn target(address: &Address, timeout: Duration) -> Result<Target, String> {
    let url = |u: &str| {
        u.into_connection_info()
            .map_err(|e| format!("Redis URL {u:?}: {e}"))
    };
    match address {
        Address::Url(u) => Client::open(u.as_str())
            .map(Target::Server)
            .map_err(|e| format!("Redis URL {u:?}: {e}")),
        Address::Sentinel { sentinels, master } => {
            if sentinels.is_empty() {
                return Err("no sentinel URL given: give at least one".into());
            }
            let infos = sentinels
                .iter()
                .map(|u| url(u))
                .collect::<Result<Vec<_>, _>>()?;
            let (name, node) = master_of(master, &infos[0])?;
            SentinelClient::build(infos, name, Some(node), SentinelServerType::Master)
                .map(|c| Target::Sentinel(Box::new(c)))
                .map_err(|e| format!("sentinels {sentinels:?}: {e}"))
        }
        Address::Cluster(nodes) => {
            if nodes.is_empty() {
                return Err("no cluster node URL given: give at least one".into());
            }
            let infos = nodes
                .iter()
                .map(|u| url(u))
                .collect::<Result<Vec<_>, _>>()?;
            ClusterClient::builder(infos)
                .connection_timeout(timeout)
                .response_timeout(timeout)
                // A slot on the move answers TRYAGAIN for a moment: retried soon, a few times
                // (the crate's default waits over a second), then left to the next sync.
                .retries(4)
                .min_retry_wait(10)
                .max_retry_wait(200)
                .build()
                .map(Target::Cluster)
                .map_err(|e| format!("cluster nodes {nodes:?}: {e}"))
        }
    }
}

/// The name of the master the sentinels monitor, and how to reach it: `master` is a name (then
/// the first sentinel URL's TLS and credentials apply to the master too), or a URL whose host
/// is that name (`rediss://user:password@mymaster/0`), giving the master's own.
fn master_of(
    master: &str,
    sentinel: &redis::ConnectionInfo,
) -> Result<(String, SentinelNodeConnectionInfo), String> {
    let bad = |why: &str| format!("master {master:?}: {why}");
    let (name, info) = if master.contains("://") {
        let info = master
            .into_connection_info()
            .map_err(|e| bad(&e.to_string()))?;
        let name = match info.addr() {
            redis::ConnectionAddr::Tcp(host, _) | redis::ConnectionAddr::TcpTls { host, .. } => {
                host.clone()
            }
            _ => return Err(bad("give the master's name as the URL's host")),
        };
        (name, info)
    } else {
        (master.to_owned(), sentinel.clone())
    };
    if name.is_empty() {
        return Err(bad("give the name the sentinels monitor"));
    }
    let mut node = SentinelNodeConnectionInfo::default()
        .set_redis_connection_info(info.redis_settings().clone());
    if let redis::ConnectionAddr::TcpTls { insecure, .. } = info.addr() {
        node = node.set_tls_mode(if *insecure {
            redis::TlsMode::Insecure
        } else {
            redis::TlsMode::Secure
        });
    }
    Ok((name, node))
}

/// Checks an address and a site name, as `build` does, without connecting.
pub(crate) fn check(address: &Address, site: &str) -> Result<(), String> {
    check_site(site)?;
    target(address, Duration::from_secs(1)).map(|_| ())
}

impl RedisStore {
    /// A store for `site` at `address` (checked with [`check`]).
    pub(crate) fn new(
        address: &Address,
        site_name: &str,
        site: SiteConfig,
        timeout: Duration,
    ) -> Result<RedisStore, String> {
        check_site(site_name)?;
        Ok(RedisStore {
            target: target(address, timeout)?,
            connection: None,
            policy: None,
            prefix: format!("vc:{{{site_name}}}:"),
            script: Script::new(SCRIPT),
            timeout,
            site,
        })
    }

    fn connect(&mut self) -> Result<(), redis::RedisError> {
        if self.connection.is_some() {
            return Ok(());
        }
        install_crypto_provider();
        let timeout = Some(self.timeout);
        let mut c: Box<dyn ConnectionLike + Send> = match &mut self.target {
            Target::Server(client) => {
                let c = client.get_connection_with_timeout(self.timeout)?;
                c.set_read_timeout(timeout)?;
                c.set_write_timeout(timeout)?;
                Box::new(c)
            }
            Target::Sentinel(sentinels) => {
                // The primary the sentinels name now.
                let c = sentinels
                    .get_client()?
                    .get_connection_with_timeout(self.timeout)?;
                c.set_read_timeout(timeout)?;
                c.set_write_timeout(timeout)?;
                Box::new(c)
            }
            Target::Cluster(cluster) => Box::new(cluster.get_connection()?),
        };
        self.policy = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query::<Vec<String>>(&mut *c)
            .ok()
            .and_then(|v| v.get(1).cloned());
        self.connection = Some(c);
        Ok(())
    }

    fn invoke(&mut self, call: &Call<'_>) -> Result<Value, redis::RedisError> {
        self.connect()?;
        let site = &self.site;
        let us = |ns: i64| micros(ns).to_string();
        let mut invocation = self.script.prepare_invoke();
        // Every key the call may write, declared (a Redis Cluster checks them before the
        // script runs: a slot moving meanwhile makes the call fail whole, to be sent again).
        for key in ["cfg", "n", "ch", "chc", "mk", "on"] {
            invocation.key(format!("{}{key}", self.prefix));
        }
        invocation.key(format!("{}c:{:016x}", self.prefix, call.id));
        let touched = touched(call.part);
        // Visitor entries hold refresh dedup: without it the script neither reads nor writes one.
        for v in touched.viewers.iter().filter(|_| site.dedup_window > 0) {
            let mut key = format!("{}v:", self.prefix).into_bytes();
            key.extend_from_slice(v);
            invocation.key(key);
        }
        for period in &touched.periods {
            for kind in ["s", "x", "h"] {
                invocation.key(format!("{}{kind}:{period}", self.prefix));
            }
        }
        for a in &touched.articles {
            let mut key = format!("{}A:", self.prefix).into_bytes();
            key.extend_from_slice(a);
            invocation.key(key);
        }
        let (mark, mark_number) = call
            .mark
            .map_or(("", ""), |m| (m.token.as_str(), m.number.as_str()));
        invocation
            .arg(SCHEMA)
            .arg(&self.prefix)
            .arg(format!("{:016x}", call.id))
            .arg(call.seq.to_string())
            .arg(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(call.part)))
            .arg(us(call.now))
            .arg(call.since.to_string())
            .arg(mark)
            .arg(mark_number)
            .arg(if call.answer { LIMIT } else { 0 }.to_string())
            .arg(&site.zone)
            .arg(site.week_start.to_string())
            .arg(us(site.online_window))
            .arg(us(site.session_timeout))
            .arg(us(site.dedup_window))
            .arg(site.initial_visits.to_string())
            .arg(site.initial_page_views.to_string())
            .arg(format!("{:016x}", random_u64()))
            .arg(call.part)
            .arg(if call.gap_ok { "1" } else { "0" });
        match self.connection.as_mut() {
            Some(connection) => invocation.invoke(&mut **connection),
            None => Err(redis::RedisError::from(std::io::Error::from(
                std::io::ErrorKind::NotConnected,
            ))),
        }
    }
}

impl Store for RedisStore {
    fn eviction_policy(&self) -> Option<String> {
        self.policy.clone().filter(|p| p != "noeviction")
    }

    fn day_key(&mut self, day: i32, proposal: [u8; 16], lives: i64) -> Result<[u8; 16], SyncError> {
        let fail = |e: redis::RedisError| error(&e);
        self.connect().map_err(fail)?;
        let Some(connection) = self.connection.as_mut() else {
            return Err(bad("no connection"));
        };
        // Stored unless a counter stored one first, whose key it then answers.
        let stored: Option<Vec<u8>> = redis::cmd("SET")
            .arg(format!("{}dk:{day}", self.prefix))
            .arg(&proposal[..])
            .arg("NX")
            .arg("PX")
            .arg(lives.div_euclid(1_000_000).max(1))
            .arg("GET")
            .query(&mut **connection)
            .map_err(|e| {
                self.connection = None;
                fail(e)
            })?;
        match stored {
            None => Ok(proposal),
            Some(key) => key.try_into().map_err(|_| bad("a day key")),
        }
    }

    fn call(&mut self, call: &Call<'_>) -> Result<Reply, SyncError> {
        // A connection the server closed (a restart, a failover) is opened again at once, and
        // the call made again: a call is applied once however often it is made.
        let reused = self.connection.is_some();
        let mut result = self.invoke(call);
        if let Err(e) = &result {
            // Whatever the server sends on this connection later is not for the next call.
            self.connection = None;
            if reused && !e.is_timeout() && (e.is_connection_dropped() || e.is_io_error()) {
                result = self.invoke(call);
                if result.is_err() {
                    self.connection = None;
                }
            }
        }
        result.map_err(|e| error(&e)).and_then(reply)
    }
}

fn error(e: &redis::RedisError) -> SyncError {
    let text = e.to_string();
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if text.contains("VC_SITE") {
        ErrorKind::SiteDiffers
    } else if text.contains("VC_PART") {
        ErrorKind::MalformedPart
    } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
        ErrorKind::Connection
    } else {
        ErrorKind::Reply
    };
    let message = match kind {
        ErrorKind::Timeout => format!("Redis did not answer within the sync timeout: {text}"),
        ErrorKind::SiteDiffers if text.contains("schema") => format!(
            "this counter's release keeps the site in another schema ({text}): run one release \
             for every counter of a site, or give this one another site name (see the README's \
             \"Stability\")"
        ),
        ErrorKind::SiteDiffers => format!(
            "this counter differs from the site it shares ({text}): build every counter of a \
             site with the same time zone or offset, week start and windows, or give this one \
             another site name"
        ),
        ErrorKind::Connection => format!("Redis cannot be reached: {text}"),
        ErrorKind::MalformedPart => format!(
            "the site's script could not read a part of page views, which was dropped ({text})"
        ),
        _ => format!("Redis answered with an error: {text}"),
    };
    SyncError::new(kind, message)
}

fn bad(what: &str) -> SyncError {
    SyncError::new(
        ErrorKind::Reply,
        format!("the site's script answered something unreadable ({what})"),
    )
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => std::str::from_utf8(&bytes(v)?).ok()?.parse().ok(),
    }
}

/// rustls needs a process-wide crypto provider: ring's, unless the app installed one (with
/// only ring compiled in rustls picks it by itself; with more, it would panic without one).
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Reads the script's answer: `{epoch, applied, claimed, last change, online, server time,
/// lost, records, marker, its number}`, the records as name, change number and the record's
/// hash fields, flattened.
fn reply(v: Value) -> Result<Reply, SyncError> {
    let Value::Array(items) = v else {
        return Err(bad("not a list"));
    };
    let [epoch, applied, claimed, last, online, server_us, lost, Value::Array(records), mark, mark_number] =
        items.as_slice()
    else {
        return Err(bad("not ten items"));
    };
    let text = |v: &Value, what| {
        bytes(v)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| bad(what))
    };
    let number = |v: &Value, what| int(v).ok_or_else(|| bad(what));
    let mut out = Vec::with_capacity(records.len() / 3);
    for r in records.chunks(3) {
        let [name, number, Value::Array(fields)] = r else {
            return Err(bad("a record"));
        };
        let fields = fields
            .chunks(2)
            .filter_map(|f| Some((bytes(f.first()?)?, bytes(f.get(1)?)?)))
            .collect();
        out.push(Record {
            name: bytes(name).ok_or_else(|| bad("a record's name"))?,
            number: int(number).ok_or_else(|| bad("a change number"))?,
            fields,
        });
    }
    let server_us = text(server_us, "the server's time")?
        .parse::<i64>()
        .map_err(|_| bad("the server's time"))?;
    let mark = Some(Mark {
        token: text(mark, "a marker")?,
        number: text(mark_number, "a marker's number")?,
    })
    .filter(|m| !m.token.is_empty());
    Ok(Reply {
        epoch: text(epoch, "epoch")?,
        applied: number(applied, "the applied part")?,
        claimed: number(claimed, "claimed")? & 1 != 0,
        gap: number(claimed, "claimed")? & 2 != 0,
        last: number(last, "the last change number")?,
        online: number(online, "online")?,
        server_now: server_us.saturating_mul(1_000),
        lost: number(lost, "lost")? != 0,
        records: out,
        mark,
    })
}
