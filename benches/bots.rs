//! `bots::is_bot` with the shipped list (feature `bots`): a User-Agent not seen before (the
//! automaton runs) and one seen before (the verdict cache answers), over the browser and
//! crawler corpora of `tests/bots_corpus/`.
//!
//! Run with `cargo bench --features bots --bench bots`; results and targets are in
//! `BENCHMARKS.md`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use visitor_counter::bots::{is_bot, Detector};

#[path = "../tests/common/bots_corpus.rs"]
mod bots_corpus;

fn bench(c: &mut Criterion) {
    let (browsers, crawlers) = (bots_corpus::browsers(), bots_corpus::crawlers());
    let mut g = c.benchmark_group("is_bot");
    g.throughput(Throughput::Elements(1));
    for (name, uas) in [("browsers", &browsers), ("crawlers", &crawlers)] {
        // Not seen before: a User-Agent made unique by a counter, as a new browser build or a
        // crawler's run id would be. The cache is missed every time.
        let mut n = 0_u64;
        let mut buf = String::new();
        g.bench_function(format!("not_seen_before/{name}"), |b| {
            b.iter(|| {
                n += 1;
                let ua = uas[n as usize % uas.len()];
                buf.clear();
                buf.push_str(ua);
                buf.push_str(" u/");
                buf.push_str(itoa(n, &mut [0; 20]));
                black_box(is_bot(black_box(&buf)))
            })
        });
        // Seen before: the same few hundred User-Agents again and again, as a site sees them.
        let warm: Vec<&str> = uas.iter().copied().take(500).collect();
        for ua in &warm {
            is_bot(ua);
        }
        let mut i = 0;
        g.bench_function(format!("seen_before/{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % warm.len();
                black_box(is_bot(black_box(warm[i])))
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("detector");
    g.sample_size(10);
    g.bench_function("build_shipped_list", |b| {
        b.iter(|| black_box(Detector::builder().build().unwrap()))
    });
    g.finish();
}

/// `n` in decimal, without allocating.
fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

criterion_group!(benches, bench);
criterion_main!(benches);
