//! The command line, declared with `clap`: flags, their defaults and environment variables.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::builder::{NonEmptyStringValueParser, TypedValueParser};
use clap::{Parser, ValueEnum};
use time::UtcOffset;

/// The demo news portal of visitor-counter, counted by its `CountLayer`.
#[derive(Debug, Parser)]
#[command(
    name = "server",
    // A flag given twice: the last one wins.
    args_override_self = true,
    after_help = "env VC_ADMIN_TOKEN: when set, enables POST /admin/save and GET /admin/status \
                  for `Authorization: Bearer <token>`."
)]
pub struct Cli {
    /// Where to listen (port 0: any free port)
    #[arg(long, env = "VC_ADDR", value_name = "HOST:PORT", default_value = DEFAULT_ADDR,
          value_parser = parse_addr)]
    pub addr: SocketAddr,

    /// The counter's snapshot file (its directory is created)
    #[arg(long, value_name = "PATH", default_value = "./data/counter.snapshot",
          value_parser = NonEmptyStringValueParser::new().map(PathBuf::from))]
    pub snapshot: PathBuf,

    /// The site's offset from UTC: +07:00, -05:45, +7
    #[arg(long, value_name = "OFFSET", default_value = "+07:00", allow_hyphen_values = true,
          value_parser = parse_offset)]
    pub utc_offset: UtcOffset,

    /// Visits (and page views) carried over from an older counter; ignored once a snapshot exists
    #[arg(long, value_name = "VISITS", default_value_t = 0)]
    pub initial_total: u64,

    /// Where page views are counted: `server` counts each page the app serves; `beacon` lets
    /// caches store the pages (`Cache-Control: public, max-age=60`) and counts the request
    /// their script sends
    #[arg(long, value_enum, value_name = "WHERE", default_value_t = Counting::Server)]
    pub count: Counting,

    /// Page views of one visitor counted in a minute; those past it are excluded (0: no limit)
    #[arg(long, value_name = "N", default_value_t = visitor_counter::web::DEFAULT_PACE_LIMIT)]
    pub pace_limit: u32,

    /// Serve the same app without the CountLayer (to measure its cost)
    #[arg(long)]
    pub no_count: bool,

    /// Count the site together with every instance on this Redis, e.g. redis://127.0.0.1:6379/0
    // Not showing its value: a Redis URL may hold a password.
    #[arg(long, env = "VC_REDIS", hide_env_values = true, value_name = "URL")]
    pub redis: Option<String>,

    /// The site's name in that Redis
    #[arg(long, value_name = "NAME", default_value = "portal",
          value_parser = NonEmptyStringValueParser::new())]
    pub site: String,
}

/// `--count`: where page views are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Counting {
    /// Each page the app serves, by the `CountLayer`.
    Server,
    /// The beacon each page's script sends, answered by the `CountLayer`.
    Beacon,
}

const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// `HOST:PORT`, resolved (`localhost:8080` works). Empty, as an empty `VC_ADDR`: the default.
fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    let s = if s.is_empty() { DEFAULT_ADDR } else { s };
    s.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| "expected HOST:PORT such as 127.0.0.1:8080".into())
}

/// `+07:00`, `-05:45`, `+0700` or `+7` (also `0`, `Z`, `UTC`), at most 14 hours either way.
fn parse_offset(s: &str) -> Result<UtcOffset, String> {
    const EXPECTED: &str =
        "expected an offset from UTC such as +07:00, -05:45 or +7 (at most 14 hours)";
    if s == "0" || s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
        return Ok(UtcOffset::UTC);
    }
    let (sign, rest) = match (s.strip_prefix('+'), s.strip_prefix('-')) {
        (Some(rest), _) => (1, rest),
        (_, Some(rest)) => (-1, rest),
        _ => return Err(EXPECTED.into()),
    };
    let (h, m) = match rest.split_once(':') {
        Some(hm) => hm,
        None if rest.len() == 4 && rest.is_ascii() => rest.split_at(2),
        None => (rest, "0"),
    };
    let number = |p: &str| match p.len() {
        1 | 2 if p.bytes().all(|b| b.is_ascii_digit()) => p.parse::<i8>().ok(),
        _ => None,
    };
    match (number(h), number(m)) {
        (Some(h), Some(m)) if m < 60 && (h < 14 || (h == 14 && m == 0)) => {
            UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| EXPECTED.into())
        }
        _ => Err(EXPECTED.into()),
    }
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("server").chain(args.iter().copied()))
    }

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_every_flag_and_env_variable() {
        let help = Cli::command().render_long_help().to_string();
        for flag in [
            "--addr <HOST:PORT>",
            "--snapshot <PATH>",
            "--utc-offset <OFFSET>",
            "--initial-total <VISITS>",
            "--count <WHERE>",
            "--pace-limit <N>",
            "--no-count",
            "--redis <URL>",
            "--site <NAME>",
            "--help",
        ] {
            assert!(
                help.contains(flag),
                "--help does not mention {flag}:\n{help}"
            );
        }
        for env in ["[env: VC_ADDR", "[env: VC_REDIS", "VC_ADMIN_TOKEN"] {
            assert!(help.contains(env), "--help does not mention {env}:\n{help}");
        }
        for default in [
            "127.0.0.1:8080",
            "./data/counter.snapshot",
            "+07:00",
            "portal",
            "server",
            "60",
        ] {
            assert!(
                help.contains(&format!("[default: {default}]")),
                "no default {default}"
            );
        }
    }

    #[test]
    fn defaults() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.snapshot, PathBuf::from("./data/counter.snapshot"));
        assert_eq!(cli.utc_offset, UtcOffset::from_hms(7, 0, 0).unwrap());
        assert_eq!((cli.initial_total, cli.no_count), (0, false));
        assert_eq!(cli.site, "portal");
        assert_eq!((cli.count, cli.pace_limit), (Counting::Server, 60));
        // An empty VC_ADDR (or `--addr ""`) is the default, as before clap.
        assert_eq!(
            parse(&["--addr", ""]).unwrap().addr,
            parse_addr(DEFAULT_ADDR).unwrap()
        );
    }

    #[test]
    fn utc_offset_forms() {
        let hm = |h, m| UtcOffset::from_hms(h, m, 0).unwrap();
        for (arg, want) in [
            ("+07:00", hm(7, 0)),
            ("-05:45", hm(-5, -45)),
            ("+7", hm(7, 0)),
            ("+0530", hm(5, 30)),
            ("+14:00", hm(14, 0)),
            ("Z", UtcOffset::UTC),
            ("0", UtcOffset::UTC),
        ] {
            assert_eq!(
                parse(&["--utc-offset", arg]).unwrap().utc_offset,
                want,
                "{arg}"
            );
            let inline = format!("--utc-offset={arg}");
            assert_eq!(parse(&[&inline]).unwrap().utc_offset, want, "{inline}");
        }
    }

    #[test]
    fn bad_values_are_rejected() {
        for args in [
            &["--utc-offset", "7"][..],
            &["--utc-offset", "+15"],
            &["--utc-offset", "+14:30"],
            &["--utc-offset", "+07:60"],
            &["--utc-offset", "+007"],
            &["--initial-total", "-5"],
            &["--initial-total", "many"],
            &["--addr", "nowhere"],
            &["--snapshot", ""],
            &["--site", ""],
            &["--site"],
            &["--no-count=yes"],
            &["--count", "proxy"],
            &["--count"],
            &["--pace-limit", "-1"],
            &["--pace-limit", "many"],
            &["--bogus"],
            &["extra"],
        ] {
            assert!(parse(args).is_err(), "{args:?} was accepted");
        }
        let err = parse(&["--utc-offset", "+15"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn counting_and_pace() {
        let cli = parse(&["--count", "beacon", "--pace-limit", "0"]).unwrap();
        assert_eq!((cli.count, cli.pace_limit), (Counting::Beacon, 0));
        assert_eq!(parse(&["--count=server"]).unwrap().count, Counting::Server);
    }

    #[test]
    fn last_flag_wins() {
        let cli = parse(&["--site", "a", "--site=b", "--no-count", "--no-count"]).unwrap();
        assert_eq!((cli.site.as_str(), cli.no_count), ("b", true));
        let cli = parse(&["--addr", "127.0.0.1:1", "--addr", "127.0.0.1:0"]).unwrap();
        assert_eq!(cli.addr, SocketAddr::from(([127, 0, 0, 1], 0)));
    }
}
