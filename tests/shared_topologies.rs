//! Sharing a site through the Redis that sites run: TLS with a least-privilege ACL user,
//! Sentinel with a failover, and a Cluster whose site slot moves while counters sync. Every
//! test starts (and stops) its own servers on loopback (see `common/redis_server.rs`) and
//! compares the shared counters with one plain counter fed the same page views.

#[path = "common/redis_server.rs"]
mod redis_server;

use std::ffi::OsStr;
use std::time::{Duration, Instant};

use redis_server::{run_test_in_child, Cluster, SentinelGroup, Server, SlotMove};
use time::macros::{datetime, offset};
use time::OffsetDateTime;
use visitor_counter::{ArticleId, Counter, CounterBuilder, ManualClock, VisitorId};

const START: OffsetDateTime = datetime!(2026-01-29 20:00 +07:00);

/// The ACL line the README recommends for the counters' user (with `<password>` in it).
const ACL: &[&str] = &[
    "resetkeys",
    "~vc:*",
    "resetchannels",
    "-@all",
    "+@read",
    "+@write",
    "+@scripting",
    "+time",
];

fn builder(clock: &ManualClock) -> CounterBuilder {
    Counter::builder()
        .utc_offset(offset!(+7))
        .clock(clock.clone())
        .sync_every(Duration::ZERO)
}

fn plain(clock: &ManualClock) -> Counter {
    builder(clock).build().unwrap()
}

/// Page views of visitors `from..to` on `counters` (a visitor stays on one) and on `one`, an
/// article view every third, a second apart.
fn traffic(counters: &[Counter], one: &Counter, clock: &ManualClock, from: u64, to: u64) {
    for v in from..to {
        let c = &counters[(v % counters.len() as u64) as usize];
        let id = VisitorId::from(v % 37);
        if v % 3 == 0 {
            let a = ArticleId::from(v % 5);
            c.view_article(a, id);
            one.view_article(a, id);
        } else {
            c.hit(id);
            one.hit(id);
        }
        clock.advance(Duration::from_secs(1));
    }
}

/// Syncs every counter twice (until it succeeds, within `patience`), then checks that each
/// reads as the plain counter.
fn agree(counters: &[Counter], one: &Counter, patience: Duration) {
    for _ in 0..2 {
        for c in counters {
            let started = Instant::now();
            while let Err(e) = c.sync() {
                assert!(
                    started.elapsed() < patience,
                    "no sync within {patience:?}: {e}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    let want = (
        one.stats(),
        one.history(3),
        one.top_articles(visitor_counter::Period::Total, 10),
    );
    for (i, c) in counters.iter().enumerate() {
        let got = (
            c.stats(),
            c.history(3),
            c.top_articles(visitor_counter::Period::Total, 10),
        );
        assert_eq!(got, want, "counter {i}");
    }
}

/// TLS (`rediss://`, the server's certificate checked against `SSL_CERT_FILE`) with the
/// least-privilege user of the README: two counters share a site and read as one; a wrong
/// password and an untrusted certificate are sync errors, not panics. Runs in a child process
/// that starts with `SSL_CERT_FILE` set.
#[test]
fn tls_with_the_readme_acl_user() {
    if !Server::tls_available() {
        return;
    }
    let server = Server::start_tls("shared-tls");
    let url = server.add_user("vc", "s3cret", ACL);
    assert!(url.starts_with("rediss://vc:s3cret@127.0.0.1:"), "{url}");
    let wrong = url.replace("s3cret", "wrong");
    let printed = run_test_in_child(
        "tls_child",
        &[
            ("VC_TLS_URL", Some(OsStr::new(&url))),
            ("VC_TLS_WRONG_URL", Some(OsStr::new(&wrong))),
            ("SSL_CERT_FILE", Some(server.ca_file().as_os_str())),
            ("SSL_CERT_DIR", None),
        ],
    );
    eprint!("{printed}");
    // The site's keys were written by the user, over TLS.
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg("vc:{tls}:*")
        .query(&mut server.connection())
        .unwrap();
    assert!(
        keys.iter().any(|k| k.ends_with(b":cfg")),
        "{} keys",
        keys.len()
    );
}

#[test]
#[ignore = "run by tls_with_the_readme_acl_user in a child process with SSL_CERT_FILE set"]
fn tls_child() {
    let (Ok(url), Ok(wrong)) = (
        std::env::var("VC_TLS_URL"),
        std::env::var("VC_TLS_WRONG_URL"),
    ) else {
        eprintln!("note: tls_child runs in the child process of another test only");
        return;
    };
    let clock = ManualClock::new(START);
    let counters: Vec<Counter> = (0..2)
        .map(|_| builder(&clock).redis(url.as_str(), "tls").build().unwrap())
        .collect();
    let one = plain(&clock);
    traffic(&counters, &one, &clock, 0, 200);
    agree(&counters, &one, Duration::from_secs(5));
    eprintln!("two counters over TLS as the ACL user read as one");

    let refused = builder(&clock).redis(wrong, "tls").build().unwrap();
    refused.hit(VisitorId::from(1));
    let e = refused.sync().unwrap_err();
    assert!(e.to_string().contains("Redis"), "{e}");
    assert_eq!(refused.stats().page_views.today, 1);
    eprintln!("a wrong password: {e}");
}

/// Sentinel: counters follow a failover without being rebuilt. The primary is killed; once
/// the sentinel names the replica, syncs resume within 2 s and nothing is lost.
#[test]
fn sentinel_failover_is_followed() {
    if !SentinelGroup::available() {
        return;
    }
    let mut group = SentinelGroup::start("shared-sentinel");
    let clock = ManualClock::new(START);
    let counters: Vec<Counter> = (0..2)
        .map(|_| {
            builder(&clock)
                .redis_sentinel(group.sentinel_urls(), group.master_name(), "sen")
                .sync_timeout(Duration::from_millis(500))
                .build()
                .unwrap()
        })
        .collect();
    let one = plain(&clock);
    traffic(&counters, &one, &clock, 0, 100);
    agree(&counters, &one, Duration::from_secs(5));
    traffic(&counters, &one, &clock, 100, 130);
    for c in &counters {
        c.sync().unwrap();
    }

    let old = group.kill_primary();
    traffic(&counters, &one, &clock, 130, 160);
    let promoted = group
        .wait_for_new_primary(old, Duration::from_secs(30))
        .unwrap();
    let answering = Instant::now();
    // The first sync after the new primary answers may still meet the old address; the next
    // reach it.
    for c in &counters {
        while c.sync().is_err() {
            assert!(
                answering.elapsed() < Duration::from_secs(2),
                "no sync within 2 s of {promoted} answering: {:?}",
                c.sync_status().last_error
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    eprintln!(
        "syncs resumed {:?} after the new primary answered",
        answering.elapsed()
    );
    traffic(&counters, &one, &clock, 160, 200);
    agree(&counters, &one, Duration::from_secs(5));
}

/// Cluster: the site's slot moves to another node, key by key and then with
/// `redis-cli --cluster reshard`, while the counters sync; nothing is lost or counted twice,
/// and syncs resume within 2 s of the move ending.
#[test]
fn cluster_slot_moving_while_counters_sync() {
    if !Cluster::available() {
        return;
    }
    let cluster = Cluster::start("shared-cluster");
    // A site in the lowest slot of node 1, which reshard can move.
    let slot = cluster.lowest_slot(1);
    let site = cluster.site_in_slot("vc", slot);
    let clock = ManualClock::new(START);
    let counters: Vec<Counter> = (0..2)
        .map(|_| {
            builder(&clock)
                .redis_cluster(cluster.seed_urls(), site.as_str())
                .sync_timeout(Duration::from_millis(500))
                .build()
                .unwrap()
        })
        .collect();
    let one = plain(&clock);
    traffic(&counters, &one, &clock, 0, 300);
    agree(&counters, &one, Duration::from_secs(5));

    let moves = [
        (
            2,
            SlotMove::ByHand {
                batch: 2,
                pause: Duration::from_millis(20),
            },
        ),
        (0, SlotMove::Reshard { pipeline: 1 }),
    ];
    let mut next = 300;
    for (to, how) in moves {
        let moving = cluster.move_slot_in_background(slot, to, how);
        let (mut ok, mut failed) = (0, 0);
        while !moving.is_finished() {
            traffic(&counters, &one, &clock, next, next + 10);
            next += 10;
            for c in &counters {
                match c.sync() {
                    Ok(()) => ok += 1,
                    Err(_) => failed += 1,
                }
            }
        }
        let moved = moving.join().unwrap();
        let done = Instant::now();
        agree(&counters, &one, Duration::from_secs(2));
        eprintln!(
            "{moved:?}: {ok} syncs went through and {failed} failed meanwhile; agreement {:?} \
             after the move",
            done.elapsed()
        );
        assert_eq!(cluster.slot_owner(slot), to);
    }
}
