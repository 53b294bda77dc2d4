//! The store over Redis: the site's script (`site.lua`), run with `EVALSHA` (loaded when the
//! server lacks it) on one connection, opened again after any failure.
//!
//! The connection's connect, read and write timeouts are the sync timeout: a call that takes
//! longer fails, and the connection is dropped (an answer that comes later must not be read as
//! the answer to the next call). The script may still have run on the server: the next sync
//! sends the same part with the same number, which the script then applies as nothing.

use std::time::Duration;

use redis::{Client, Connection, Script, Value};

use crate::sync::batch::ordered;
use crate::sync::engine::{Call, Reply, Store, LIMIT};
use crate::sync::site::Record;
use crate::sync::{ErrorKind, SyncError};

/// The script every counter of every site runs.
const SCRIPT: &str = include_str!("site.lua");
/// The layout of the site's keys and of the script's arguments.
const SCHEMA: &str = "1";

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

pub(crate) struct RedisStore {
    client: Client,
    connection: Option<Connection>,
    /// `vc:{<site>}:`
    prefix: String,
    script: Script,
    timeout: Duration,
    site: SiteConfig,
}

/// Checks a Redis URL and a site name (see `CounterBuilder::redis`).
pub(crate) fn client(url: &str, site: &str) -> Result<Client, String> {
    if site.is_empty() || site.contains(['{', '}']) || site.len() > 200 {
        return Err(format!(
            "site name {site:?}: give 1 to 200 characters, without braces"
        ));
    }
    Client::open(url).map_err(|e| format!("Redis URL {url:?}: {e}"))
}

impl RedisStore {
    pub(crate) fn new(
        client: Client,
        site_name: &str,
        site: SiteConfig,
        timeout: Duration,
    ) -> RedisStore {
        RedisStore {
            client,
            connection: None,
            prefix: format!("vc:{{{site_name}}}:"),
            script: Script::new(SCRIPT),
            timeout,
            site,
        }
    }

    fn connect(&mut self) -> Result<(), redis::RedisError> {
        if self.connection.is_none() {
            let c = self.client.get_connection_with_timeout(self.timeout)?;
            c.set_read_timeout(Some(self.timeout))?;
            c.set_write_timeout(Some(self.timeout))?;
            self.connection = Some(c);
        }
        Ok(())
    }

    fn invoke(&mut self, call: &Call<'_>) -> Result<Value, redis::RedisError> {
        self.connect()?;
        let site = &self.site;
        let online_edge = call.now.saturating_sub(site.online_window);
        let ms = |ns: i64| ns.div_euclid(1_000_000).saturating_add(60_000).to_string();
        let epoch = epoch_divisor(site.online_window);
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(&self.prefix)
            .arg(SCHEMA)
            .arg(format!("{:016x}", call.id))
            .arg(call.seq.to_string())
            .arg(&ordered(online_edge)[..])
            .arg(online_edge.div_euclid(1_000).to_string())
            .arg(epoch.to_string())
            .arg(call.since.to_string())
            .arg(if call.answer { LIMIT } else { 0 }.to_string())
            .arg(&site.zone)
            .arg(site.week_start.to_string())
            .arg(site.online_window.to_string())
            .arg(site.session_timeout.to_string())
            .arg(site.dedup_window.to_string())
            .arg(site.initial_visits.to_string())
            .arg(site.initial_page_views.to_string())
            .arg(ms(site.session_timeout.max(site.dedup_window)))
            .arg(((epoch << 32) / 1_000_000 * 3).to_string())
            .arg(call.part);
        match self.connection.as_mut() {
            Some(connection) => invocation.invoke(connection),
            None => Err(redis::RedisError::from(std::io::Error::from(
                std::io::ErrorKind::NotConnected,
            ))),
        }
    }
}

/// How many of an instant's high 32 bits make an online epoch (see `site.lua`): epochs are
/// `divisor << 32` nanoseconds long, the shortest such span at least as long as the online
/// window and a minute.
fn epoch_divisor(online_window: i64) -> i64 {
    let span = online_window.saturating_add(60_000_000_000) as u64;
    let divisor = span.div_ceil(1 << 32).next_power_of_two();
    divisor.min(1 << 30) as i64
}

impl Store for RedisStore {
    fn call(&mut self, call: &Call<'_>) -> Result<Reply, SyncError> {
        match self.invoke(call) {
            Ok(v) => reply(v),
            Err(e) => {
                // Whatever the server sends on this connection later is not for the next call.
                self.connection = None;
                Err(error(&e))
            }
        }
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

/// Reads the script's answer: `{epoch, duplicate, last change, online, records, sketches
/// waiting}`, the records as name, change number and the record's hash fields, flattened.
fn reply(v: Value) -> Result<Reply, SyncError> {
    let Value::Array(items) = v else {
        return Err(bad("not a list"));
    };
    let [epoch, _duplicate, last, online, Value::Array(records), waiting] = items.as_slice() else {
        return Err(bad("not six items"));
    };
    let epoch = bytes(epoch)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| bad("epoch"))?;
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
    Ok(Reply {
        epoch,
        last: int(last).ok_or_else(|| bad("the last change number"))?,
        online: int(online).ok_or_else(|| bad("online"))?,
        records: out,
        sketches_waiting: int(waiting).ok_or_else(|| bad("sketches waiting"))?,
    })
}
