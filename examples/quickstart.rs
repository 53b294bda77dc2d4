//! The quick start: count a few page views on a stepped clock and print the footer box.
//!
//! `cargo run --example quickstart`

use std::time::Duration;

use time::macros::{datetime, offset};
use visitor_counter::{Counter, ManualClock, VisitorId};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 23:58 in Hanoi. In a real app leave `.clock(..)` out: the system clock is the default.
    let clock = ManualClock::new(datetime!(2026-11-27 23:58:00 +07:00));
    let counter = Counter::builder()
        .utc_offset(offset!(+7))
        .initial_total(1_090_533, 2_431_007)
        .clock(clock.clone())
        .build()?;

    for reader in 0..24u64 {
        counter.hit(VisitorId::from(reader));
    }
    // A reader refreshes: a page view, not a new visit.
    counter.hit(VisitorId::from(0));
    // Midnight passes; a new reader arrives, reader 1 continues the visit begun yesterday.
    clock.advance(Duration::from_secs(180));
    counter.hit(VisitorId::from_key("cookie:3f9a0c"));
    counter.hit(VisitorId::from(1));

    let s = counter.stats();
    println!("Thống kê truy cập");
    println!("  • Đang truy cập: {}", s.online);
    println!("  • Hôm nay: {}", s.visits.today);
    println!("  • Hôm qua: {}", s.visits.yesterday);
    println!("  • Trong tuần: {}", s.visits.this_week);
    println!("  • Tổng lượt truy cập: {}", s.visits.total);
    println!(
        "  ({} page views today, {} distinct visitors today)",
        s.page_views.today, s.visitors.today
    );
    Ok(())
}
