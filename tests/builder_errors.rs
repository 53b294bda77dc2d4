//! `CounterBuilder::build` validates its configuration and returns `Err` (never panics) for a
//! bad one, with a message that names the option; plus the identity types' guarantees.

use std::collections::HashSet;
use std::time::Duration;
use time::macros::datetime;
use visitor_counter::{ArticleId, BuildError, Counter, CounterBuilder, ManualClock, VisitorId};

const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

fn builder() -> CounterBuilder {
    Counter::builder().clock(ManualClock::new(datetime!(2024-03-04 10:00 UTC)))
}

/// Builds, expecting an error; returns its `Display` text.
#[track_caller]
fn error_text(b: CounterBuilder) -> String {
    let err: BuildError = match b.build() {
        Ok(_) => panic!("build() accepted a bad configuration"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(!text.trim().is_empty(), "empty error message: {err:?}");
    text
}

#[track_caller]
fn assert_mentions(text: &str, option: &str) {
    assert!(
        text.contains(option),
        "error message {text:?} does not name the option `{option}`"
    );
}

// ---------------------------------------------------------------------------------------------
// Good configurations
// ---------------------------------------------------------------------------------------------

#[test]
fn defaults_build() {
    assert!(Counter::builder().build().is_ok());
    assert!(builder().build().is_ok());
}

#[test]
fn a_fully_specified_sane_configuration_builds() {
    let built = builder()
        .utc_offset(time::macros::offset!(+05:45))
        .week_start(time::Weekday::Sunday)
        .online_window(Duration::from_secs(60))
        .session_timeout(Duration::from_secs(3600))
        .article_dedup_window(Duration::from_secs(600))
        .max_sessions(1)
        .initial_total(10, 20)
        .build();
    assert!(built.is_ok());
}

#[test]
fn online_window_equal_to_session_timeout_builds() {
    // The rule is online_window <= session_timeout; equality is allowed
    let built = builder()
        .online_window(Duration::from_secs(600))
        .session_timeout(Duration::from_secs(600))
        .build();
    assert!(built.is_ok());
}

#[test]
fn zero_article_dedup_window_builds() {
    // ZERO means "count every view", not a mistake
    assert!(builder()
        .article_dedup_window(Duration::ZERO)
        .build()
        .is_ok());
}

#[test]
fn one_nanosecond_windows_build() {
    let built = builder()
        .online_window(Duration::from_nanos(1))
        .session_timeout(Duration::from_nanos(1))
        .build();
    assert!(built.is_ok());
}

// ---------------------------------------------------------------------------------------------
// Bad configurations
// ---------------------------------------------------------------------------------------------

#[test]
fn zero_online_window_is_an_error() {
    let text = error_text(builder().online_window(Duration::ZERO));
    assert_mentions(&text, "online_window");
}

#[test]
fn zero_session_timeout_is_an_error() {
    let text = error_text(
        builder()
            .online_window(Duration::from_nanos(1))
            .session_timeout(Duration::ZERO),
    );
    assert_mentions(&text, "session_timeout");
}

#[test]
fn online_window_longer_than_session_timeout_is_an_error() {
    let text = error_text(
        builder()
            .online_window(Duration::from_secs(601))
            .session_timeout(Duration::from_secs(600)),
    );
    assert_mentions(&text, "online_window");

    // One nanosecond over is still over
    let text = error_text(
        builder()
            .online_window(Duration::from_secs(600) + Duration::from_nanos(1))
            .session_timeout(Duration::from_secs(600)),
    );
    assert_mentions(&text, "online_window");
}

#[test]
fn default_online_window_longer_than_a_short_session_timeout_is_an_error() {
    // The default online window (5 min) is longer than a 1 min session timeout
    let text = error_text(builder().session_timeout(Duration::from_secs(60)));
    assert_mentions(&text, "online_window");
}

#[test]
fn zero_max_sessions_is_an_error() {
    let text = error_text(builder().max_sessions(0));
    assert_mentions(&text, "max_sessions");
}

#[test]
fn thousand_year_session_timeout_is_an_error() {
    let text = error_text(builder().session_timeout(1000 * YEAR));
    assert_mentions(&text, "session_timeout");
}

#[test]
fn thousand_year_online_window_is_an_error() {
    let text = error_text(
        builder()
            .online_window(1000 * YEAR)
            .session_timeout(1000 * YEAR),
    );
    assert!(
        text.contains("online_window") || text.contains("session_timeout"),
        "error message {text:?} names neither online_window nor session_timeout"
    );
}

#[test]
fn thousand_year_article_dedup_window_is_an_error() {
    let text = error_text(builder().article_dedup_window(1000 * YEAR));
    assert_mentions(&text, "article_dedup_window");
}

#[test]
fn duration_max_is_an_error_not_a_panic() {
    let text = error_text(builder().session_timeout(Duration::MAX));
    assert_mentions(&text, "session_timeout");
    let text = error_text(builder().article_dedup_window(Duration::MAX));
    assert_mentions(&text, "article_dedup_window");
    error_text(
        builder()
            .online_window(Duration::MAX)
            .session_timeout(Duration::MAX),
    );
}

#[test]
fn autosave_without_snapshot_path_is_an_error() {
    let text = error_text(builder().autosave(Duration::from_secs(60)));
    assert!(
        text.contains("snapshot_path") || text.contains("autosave"),
        "error message {text:?} names neither autosave nor snapshot_path"
    );
}

#[test]
fn build_errors_are_std_errors() {
    fn is_error<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
    let err = match builder().max_sessions(0).build() {
        Ok(_) => panic!("max_sessions(0) accepted"),
        Err(e) => e,
    };
    is_error(&err);
    assert!(!format!("{err:?}").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Identities
// ---------------------------------------------------------------------------------------------

#[test]
fn visitor_id_from_key_is_deterministic() {
    for key in [
        "",
        "a",
        "visitor-1",
        "203.0.113.7|Mozilla/5.0",
        "ключ",
        "🦀",
    ] {
        assert_eq!(
            VisitorId::from_key(key),
            VisitorId::from_key(key),
            "{key:?}"
        );
        // the same text in another allocation
        let copy = String::from(key);
        assert_eq!(
            VisitorId::from_key(key),
            VisitorId::from_key(copy.as_str()),
            "{key:?}"
        );
    }
    assert_ne!(VisitorId::from_key("a"), VisitorId::from_key("A"));
    assert_ne!(VisitorId::from_key("ab"), VisitorId::from_key("ba"));
    assert_ne!(VisitorId::from_key(""), VisitorId::from_key(" "));
}

/// The documented hash is XXH3-64 with seed 0 over the key's UTF-8 bytes; ids made from keys
/// must stay the same in every release, or every site's visitors would be counted twice.
#[test]
fn visitor_id_from_key_is_the_documented_xxh3_of_the_key() {
    for key in ["", "abc", "visitor-1", "203.0.113.7|Mozilla/5.0", "🦀"] {
        assert_eq!(
            VisitorId::from_key(key),
            VisitorId::from(xxhash_rust::xxh3::xxh3_64(key.as_bytes())),
            "{key:?}"
        );
    }
    // Pinned: the value of the empty key, independent of any crate version
    assert_eq!(
        VisitorId::from_key(""),
        VisitorId::from(0x2d06_8005_38d3_94c2)
    );
}

#[test]
fn visitor_id_from_key_has_no_collisions_among_200_000_keys() {
    let mut seen = HashSet::with_capacity(200_000);
    for i in 0..200_000 {
        let key = format!("visitor-{i}");
        assert!(
            seen.insert(VisitorId::from_key(&key)),
            "collision at {key:?}"
        );
    }
    assert_eq!(seen.len(), 200_000);
}

#[test]
fn the_same_key_is_the_same_visitor_for_the_counter() {
    let clock = ManualClock::new(datetime!(2024-03-04 10:00 UTC));
    let c = Counter::builder()
        .clock(clock.clone())
        .build()
        .expect("valid configuration");

    // 10:00: the same key twice, then another key
    c.hit(VisitorId::from_key("alice"));
    c.hit(VisitorId::from_key(&String::from("alice")));
    c.hit(VisitorId::from_key("bob"));
    let s = c.stats();
    assert_eq!(
        (s.visitors.today, s.visits.today, s.page_views.today),
        (2, 2, 3)
    );
}

#[test]
fn visitor_id_from_u64_is_an_identity() {
    assert_eq!(VisitorId::from(7u64), VisitorId::from(7u64));
    assert_ne!(VisitorId::from(7u64), VisitorId::from(8u64));
    let ids: HashSet<VisitorId> = (0..10_000u64).map(VisitorId::from).collect();
    assert_eq!(ids.len(), 10_000);
}

#[test]
fn article_id_displays_its_number() {
    assert_eq!(ArticleId::from(0).to_string(), "0");
    assert_eq!(ArticleId::from(42).to_string(), "42");
    assert_eq!(
        ArticleId::from(u64::MAX).to_string(),
        "18446744073709551615"
    );
    assert_eq!(format!("article {}", ArticleId::from(7)), "article 7");
}

#[test]
fn article_id_orders_by_number_not_by_text() {
    let mut ids: Vec<ArticleId> = [10u64, 9, 100, 2, u64::MAX, 0, 11]
        .into_iter()
        .map(ArticleId::from)
        .collect();
    ids.sort();
    let shown: Vec<String> = ids.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["0", "2", "9", "10", "11", "100", "18446744073709551615"]
    );
    assert!(ArticleId::from(9) < ArticleId::from(10));
    assert_eq!(
        ArticleId::from(5).cmp(&ArticleId::from(5)),
        std::cmp::Ordering::Equal
    );
    assert_eq!(ArticleId::from(5), ArticleId::from(5));
}

#[test]
fn identity_types_have_the_promised_traits() {
    fn visitor_traits<T: Copy + Eq + std::hash::Hash + std::fmt::Debug + Send + Sync>() {}
    fn article_traits<
        T: Copy + Eq + Ord + std::hash::Hash + std::fmt::Debug + std::fmt::Display + Send + Sync,
    >() {
    }
    fn counter_traits<T: Clone + Send + Sync + 'static>() {}
    fn clock_traits<T: Clone + Send + Sync + 'static>() {}
    visitor_traits::<VisitorId>();
    article_traits::<ArticleId>();
    counter_traits::<Counter>();
    clock_traits::<ManualClock>();
}

/// The builder checks every option before it touches the snapshot file: a bad sharing option
/// with a corrupt snapshot and `move_corrupt_snapshot_aside` is an error, and the file stays
/// where it was, as it was.
#[test]
fn a_bad_option_leaves_a_corrupt_snapshot_where_it_is() {
    let dir = std::env::temp_dir().join(format!("vc-builder-order-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("counter.snapshot");
    std::fs::write(&path, b"not a snapshot").unwrap();
    let bad = [
        builder()
            .redis("redis://127.0.0.1:1/", "site")
            .sync_timeout(Duration::ZERO),
        builder().redis("not a url", "site"),
        builder().redis("redis://127.0.0.1:1/", "{braces}"),
        builder().online_window(Duration::ZERO),
    ];
    for b in bad {
        let b = b.snapshot_path(&path).move_corrupt_snapshot_aside(true);
        assert!(b.build().is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"not a snapshot");
        let aside = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(aside, 1, "nothing moved aside");
    }
    // With good options the corrupt file is moved aside, as asked.
    builder()
        .snapshot_path(&path)
        .move_corrupt_snapshot_aside(true)
        .build()
        .unwrap();
    assert!(!path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
