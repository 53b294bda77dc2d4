//! A small news-portal footer served with nothing but the standard library: every page view is
//! counted, the "Thống kê truy cập" box shows the numbers, `/api/stats` returns them as JSON.
//!
//! `cargo run --release --example server -- --addr 127.0.0.1:8080 --utc-offset +07:00`
//!
//! Flags (or environment): `--addr` (`VC_ADDR`, default 127.0.0.1:8080), `--utc-offset`
//! (default +07:00), `--initial-total VISITS` (carried over from an older counter).
//! Visitors are told apart by a `vc_id` cookie set on their first response.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::UtcOffset;
use visitor_counter::{Counter, Stats, VisitorId};

struct Config {
    addr: String,
    offset: UtcOffset,
    initial_total: u64,
}

fn parse_args() -> Result<Config, String> {
    let mut cfg = Config {
        addr: std::env::var("VC_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into()),
        offset: UtcOffset::from_hms(7, 0, 0).map_err(|e| e.to_string())?,
        initial_total: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => cfg.addr = value()?,
            "--utc-offset" => {
                let v = value()?;
                cfg.offset = parse_offset(&v).ok_or(format!(
                    "--utc-offset {v}: expected an offset such as +07:00 or -05:45"
                ))?;
            }
            "--initial-total" => {
                let v = value()?;
                cfg.initial_total = v.parse().map_err(|e| format!("--initial-total {v}: {e}"))?;
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(cfg)
}

/// `+07:00`, `-05:45` or `+7`.
fn parse_offset(s: &str) -> Option<UtcOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

/// Digits grouped by thousands with a space, as the portals print them: 10 370.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}

fn page(s: &Stats) -> String {
    format!(
        r#"<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Cổng thông tin điện tử</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}
.box{{border:1px solid #c00;padding:.5em 1em}} .box h3{{color:#c00;margin:.2em 0}}</style></head>
<body><h1>Cổng thông tin điện tử</h1>
<p>Mỗi lần tải trang là một lượt xem; phiên truy cập kết thúc sau 30 phút không hoạt động.</p>
<div class="box"><h3>Thống kê truy cập</h3><ul>
<li>Đang truy cập: <b id="online">{}</b></li>
<li>Hôm nay: <b id="today">{}</b></li>
<li>Hôm qua: <b id="yesterday">{}</b></li>
<li>Trong tuần: <b id="week">{}</b></li>
<li>Trong tháng: <b id="month">{}</b></li>
<li>Tổng lượt truy cập: <b id="total">{}</b></li>
</ul></div></body></html>"#,
        grouped(s.online),
        grouped(s.visits.today),
        grouped(s.visits.yesterday),
        grouped(s.visits.this_week),
        grouped(s.visits.this_month),
        grouped(s.visits.total),
    )
}

/// A fresh visitor id: not cryptographic, only distinct per process run.
fn fresh_id() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    xorshift(nanos ^ SEQ.fetch_add(1, Ordering::Relaxed).rotate_left(32))
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

fn handle(counter: &Counter, stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut cookie_id = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("cookie") {
                cookie_id = value
                    .split(';')
                    .filter_map(|c| c.trim().strip_prefix("vc_id="))
                    .find_map(|v| u64::from_str_radix(v, 16).ok());
            }
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let mut out = stream;
    let (status, kind, body, set_cookie) = match path {
        "/" => {
            let id = cookie_id.unwrap_or_else(fresh_id);
            counter.hit(VisitorId::from(id));
            let cookie = cookie_id.is_none().then(|| {
                format!("Set-Cookie: vc_id={id:x}; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax\r\n")
            });
            (
                "200 OK",
                "text/html; charset=utf-8",
                page(&counter.stats()),
                cookie,
            )
        }
        "/api/stats" => (
            "200 OK",
            "application/json",
            serde_json::to_string(&counter.stats()).unwrap_or_default(),
            None,
        ),
        _ => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "Không tìm thấy trang\n".into(),
            None,
        ),
    };
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{body}",
        body.len(),
        set_cookie.unwrap_or_default()
    )
}

fn main() {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let counter = match Counter::builder()
        .utc_offset(cfg.offset)
        .initial_total(cfg.initial_total, 0)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(&cfg.addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", cfg.addr);
            std::process::exit(1);
        }
    };
    println!(
        "visitor-counter example: http://{}/ (JSON at /api/stats)",
        cfg.addr
    );
    for stream in listener.incoming().flatten() {
        let counter = counter.clone();
        std::thread::spawn(move || {
            let _ = handle(&counter, stream);
        });
    }
}
