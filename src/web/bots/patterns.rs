//! The pattern list: its lines, the look-around a few of them use, and the automata they
//! compile into.
//!
//! The list is written for JavaScript's regular expressions. All but a few of its patterns are
//! also valid for the `regex` crate, which matches in linear time and compiles the whole list
//! into one automaton. The few that use look-around (`(?<!lib)http`, `java(?!;)`, ...), which
//! `regex` does not support, are split into a core the automaton matches and a look-behind
//! and a look-ahead checked at each place the core matches; look-around anywhere but at the
//! start or the end of a pattern is refused. Matching is case-insensitive and ASCII-only
//! (`\w`, `\d`, `\s` and `\b` as JavaScript has them without its `u` flag).

use std::borrow::Cow;

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use super::PatternError;

/// The shipped list (see the header of `patterns.txt`).
pub(super) const SHIPPED: &str = include_str!("patterns.txt");

/// The patterns of a list file: its lines, but for the `#` header lines and empty ones.
pub(super) fn lines(list: &str) -> impl Iterator<Item = &str> {
    list.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
}

/// A pattern with look-around: the core the automaton matches, and what must (or must not)
/// come right before and after it.
pub(super) struct Around {
    core: Regex,
    /// Negated, and the look-behind compiled as `(?:...)$` (matched against what comes before).
    behind: Option<(bool, Regex)>,
    /// Negated, and the look-ahead (matched where the core's match ends).
    ahead: Option<(bool, Regex)>,
}

impl Around {
    /// Whether the pattern matches somewhere in `ua`: at some place where the core matches
    /// (the leftmost-first match starting there), the look-around holds.
    pub(super) fn is_match(&self, ua: &[u8]) -> bool {
        let mut from = 0;
        while let Some(m) = self.core.find_at(ua, from) {
            let before = self
                .behind
                .as_ref()
                .is_none_or(|(negated, r)| r.is_match(&ua[..m.start()]) != *negated);
            let after = self.ahead.as_ref().is_none_or(|(negated, r)| {
                r.find_at(ua, m.end()).is_some_and(|a| a.start() == m.end()) != *negated
            });
            if before && after {
                return true;
            }
            if m.start() >= ua.len() {
                return false;
            }
            from = m.start() + 1;
        }
        false
    }
}

/// A list compiled: one automaton for the patterns without look-around, the look-around ones
/// one by one, and a set of every pattern's core to name the pattern that matched.
pub(super) struct Compiled {
    /// Every pattern, in list order.
    pub texts: Vec<Box<str>>,
    /// The patterns without look-around as two alternations: those anchored at the start of
    /// the User-Agent, and the others. Apart, their lazy DFAs stay small (an unanchored
    /// automaton tracks every pattern at every position; anchored patterns mixed into it
    /// multiply its states until its cache thrashes: 30 µs a check instead of 0.3 µs).
    plain: Vec<Regex>,
    /// The patterns with look-around, by their index in `texts`.
    around: Vec<(usize, Around)>,
    /// Their cores as one alternation: where it does not match, none of them does.
    around_cores: Option<Regex>,
    /// Every pattern's core, in list order.
    set: RegexSet,
}

impl Compiled {
    pub(super) fn new(patterns: Vec<String>) -> Result<Compiled, PatternError> {
        let mut cores = Vec::with_capacity(patterns.len());
        let (mut anchored, mut unanchored) = (Vec::new(), Vec::new());
        let mut around = Vec::new();
        let rust: Vec<Cow<'_, str>> = patterns.iter().map(|p| from_javascript(p)).collect();
        for (i, (p, r)) in patterns.iter().zip(&rust).enumerate() {
            let split = split(r).map_err(|reason| PatternError::new(p, reason))?;
            let core = compile(split.core).map_err(|e| PatternError::new(p, e))?;
            cores.push(split.core);
            if split.behind.is_none() && split.ahead.is_none() {
                let alternation = match split.core.starts_with('^') {
                    true => &mut anchored,
                    false => &mut unanchored,
                };
                alternation.push(format!("(?:{})", split.core));
                continue;
            }
            let fail = |e: String| PatternError::new(p, e);
            let behind = match split.behind {
                Some((negated, b)) => Some((negated, compile(&format!("(?:{b})$")).map_err(fail)?)),
                None => None,
            };
            let ahead = match split.ahead {
                Some((negated, a)) => Some((negated, compile(a).map_err(fail)?)),
                None => None,
            };
            around.push((
                i,
                Around {
                    core,
                    behind,
                    ahead,
                },
            ));
        }
        let around_cores = match around.is_empty() {
            true => None,
            false => {
                let cores: Vec<String> = around
                    .iter()
                    .map(|&(i, _)| format!("(?:{})", cores[i]))
                    .collect();
                Some(compile(&cores.join("|")).map_err(|e| PatternError::new("", e))?)
            }
        };
        let plain = [anchored, unanchored]
            .into_iter()
            .filter(|a| !a.is_empty())
            .map(|a| compile(&a.join("|")).map_err(|e| PatternError::new("", e)))
            .collect::<Result<Vec<Regex>, PatternError>>()?;
        let set = RegexSetBuilder::new(&cores)
            .case_insensitive(true)
            .unicode(false)
            .build()
            .map_err(|e| PatternError::new("", e.to_string()))?;
        Ok(Compiled {
            texts: patterns.into_iter().map(String::into_boxed_str).collect(),
            plain,
            around,
            around_cores,
            set,
        })
    }

    /// Whether some pattern matches `ua`.
    pub(super) fn is_match(&self, ua: &[u8]) -> bool {
        self.plain.iter().any(|r| r.is_match(ua))
            || (self.around_cores.as_ref().is_some_and(|r| r.is_match(ua))
                && self.around.iter().any(|(_, a)| a.is_match(ua)))
    }

    /// The first pattern of the list that matches `ua`.
    pub(super) fn first_match(&self, ua: &[u8]) -> Option<&str> {
        self.set
            .matches(ua)
            .into_iter()
            .find(
                |&i| match self.around.binary_search_by_key(&i, |(j, _)| *j) {
                    Ok(k) => self.around[k].1.is_match(ua),
                    Err(_) => true,
                },
            )
            .map(|i| &*self.texts[i])
    }
}

/// A pattern as the `regex` crate reads what JavaScript means by it: the one difference the
/// list runs into is a `-` beside a class escape in a character class (`[\w\d-.]`), a literal
/// in JavaScript and an error in `regex`, escaped here.
pub(super) fn from_javascript(p: &str) -> Cow<'_, str> {
    let b = p.as_bytes();
    let is_class_escape = |i: usize| {
        b.get(i) == Some(&b'\\')
            && matches!(b.get(i + 1), Some(b'd' | b'D' | b'w' | b'W' | b's' | b'S'))
    };
    let mut out = String::with_capacity(p.len() + 2);
    let (mut class, mut changed, mut last_was_class_escape) = (false, false, false);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && i + 1 < b.len() {
            last_was_class_escape = class && is_class_escape(i);
            out.push_str(&p[i..i + 2]);
            i += 2;
            continue;
        }
        if class && c == b'-' && (last_was_class_escape || is_class_escape(i + 1)) {
            out.push_str("\\-");
            changed = true;
        } else {
            out.push(char::from(c));
        }
        match c {
            b'[' if !class => class = true,
            b']' if class => class = false,
            _ => {}
        }
        last_was_class_escape = false;
        i += 1;
    }
    // Bytes were copied one by one: only ASCII patterns are rewritten.
    if changed && p.is_ascii() {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(p)
    }
}

/// One pattern compiled alone, as the list's patterns are.
pub(super) fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .unicode(false)
        .build()
        .map_err(|e| e.to_string())
}

/// A pattern split at its look-around.
#[derive(Debug, PartialEq, Eq)]
struct Split<'a> {
    /// A leading `(?<!...)` (negated) or `(?<=...)`: negated, and its content.
    behind: Option<(bool, &'a str)>,
    core: &'a str,
    /// A trailing `(?!...)` (negated) or `(?=...)`.
    ahead: Option<(bool, &'a str)>,
}

/// Splits a leading look-behind and a trailing look-ahead off `p`; refuses look-around
/// elsewhere, and look-around beside an alternation at the top level (`a|b(?!c)`), whose
/// branches it would not all belong to.
fn split(p: &str) -> Result<Split<'_>, String> {
    let (groups, bars) = scan(p)?;
    let top: Vec<&(usize, usize, Kind)> = groups
        .iter()
        .filter(|g| !groups.iter().any(|o| o.0 < g.0 && g.1 <= o.1))
        .collect();
    let mut split = Split {
        behind: None,
        core: p,
        ahead: None,
    };
    let (mut from, mut to) = (0, p.len());
    if let Some(&&(0, end, Kind::Behind(negated))) = top.first() {
        split.behind = Some((negated, &p[4..end - 1]));
        from = end;
    }
    if let Some(&&(start, end, Kind::Ahead(negated))) = top.last() {
        if end == p.len() && start >= from {
            split.ahead = Some((negated, &p[start + 3..end - 1]));
            to = start;
        }
    }
    split.core = &p[from..to];
    let elsewhere = groups
        .iter()
        .any(|&(start, end, kind)| kind != Kind::Plain && start >= from && end <= to);
    if elsewhere {
        return Err(
            "look-around is supported only at the start (look-behind) or the end \
                    (look-ahead) of a pattern"
                .into(),
        );
    }
    let around = split.behind.is_some() || split.ahead.is_some();
    if around && bars.iter().any(|&b| from <= b && b < to) {
        return Err("look-around beside a `|` at the top level of a pattern".into());
    }
    if split.core.is_empty() {
        return Err("a pattern of look-around alone".into());
    }
    Ok(split)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Plain,
    /// `(?<!` (negated) or `(?<=`.
    Behind(bool),
    /// `(?!` (negated) or `(?=`.
    Ahead(bool),
}

/// Every group of `p` (at any depth: its start, its end after its `)`, and its kind), sorted
/// by start, and where `|` stands at the top level. Escapes and character classes are skipped.
type Scan = (Vec<(usize, usize, Kind)>, Vec<usize>);

fn scan(p: &str) -> Result<Scan, String> {
    let b = p.as_bytes();
    let mut open: Vec<(usize, Kind)> = Vec::new();
    let (mut groups, mut bars) = (Vec::new(), Vec::new());
    let mut i = 0;
    let mut class = false;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' if !class => {
                class = true;
                // A `]` first in a class (or right after its `^`) is a literal.
                if b.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b']' if class => class = false,
            b'|' if !class && open.is_empty() => bars.push(i),
            b'(' if !class => {
                let rest = &b[i..];
                let kind = if rest.starts_with(b"(?<!") {
                    Kind::Behind(true)
                } else if rest.starts_with(b"(?<=") {
                    Kind::Behind(false)
                } else if rest.starts_with(b"(?!") {
                    Kind::Ahead(true)
                } else if rest.starts_with(b"(?=") {
                    Kind::Ahead(false)
                } else {
                    Kind::Plain
                };
                open.push((i, kind));
            }
            b')' if !class => {
                let (start, kind) = open.pop().ok_or("an unmatched `)`")?;
                groups.push((start, i + 1, kind));
            }
            _ => {}
        }
        i += 1;
    }
    if !open.is_empty() || class {
        return Err("an unclosed group or class".into());
    }
    groups.sort_unstable_by_key(|g| g.0);
    Ok((groups, bars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_around_at_either_end_is_split_off() {
        assert_eq!(
            split("(?<!lib)http").unwrap(),
            Split {
                behind: Some((true, "lib")),
                core: "http",
                ahead: None
            }
        );
        assert_eq!(
            split("(?:^|[^g])news(?!sapphire)").unwrap(),
            Split {
                behind: None,
                core: "(?:^|[^g])news",
                ahead: Some((true, "sapphire"))
            }
        );
        assert_eq!(
            split("(?<! channel/|google/)google(?!(?:wv|app|/google| pixel))").unwrap(),
            Split {
                behind: Some((true, " channel/|google/")),
                core: "google",
                ahead: Some((true, "(?:wv|app|/google| pixel)"))
            }
        );
        assert_eq!(
            split("(?<=x)a(?=y)").unwrap(),
            Split {
                behind: Some((false, "x")),
                core: "a",
                ahead: Some((false, "y"))
            }
        );
        assert_eq!(split("a[(?!]b").unwrap().core, "a[(?!]b");
        assert_eq!(split(r"a\(?!b").unwrap().core, r"a\(?!b");
    }

    #[test]
    fn a_dash_beside_a_class_escape_is_a_literal_as_in_javascript() {
        assert_eq!(from_javascript(r"[\w\d-.]+"), r"[\w\d\-.]+");
        assert_eq!(from_javascript(r"[.-\w]"), r"[.\-\w]");
        assert_eq!(from_javascript(r"[a-z][\w-]+"), r"[a-z][\w\-]+");
        assert_eq!(from_javascript(r"a-b[0-9]"), r"a-b[0-9]");
        let r = compile(&from_javascript(r"^[\w\d-.]+$")).unwrap();
        assert!(r.is_match(b"a-b.c"));
        assert!(!r.is_match(b"a b"));
    }

    #[test]
    fn look_around_elsewhere_or_alone_or_unbalanced_is_refused() {
        for p in [
            "a(?!b)c",
            "(?:a(?!b))",
            "a(?<!b)",
            "(?!a)",
            "a|b(?!c)",
            "(?<!x)a|b",
            "(a",
            "a)",
            "[a",
        ] {
            assert!(split(p).is_err(), "{p}");
        }
    }

    #[test]
    fn look_around_is_checked_at_every_place_the_core_matches() {
        let c = Compiled::new(vec!["(?<!lib)http".into(), "java(?!;)".into()]).unwrap();
        assert!(!c.is_match(b"libhttp"));
        assert!(c.is_match(b"libhttp http"));
        assert!(c.is_match(b"Java/1.8"));
        assert!(!c.is_match(b"java; x"));
        assert!(c.is_match(b"java; java/17"));
        assert_eq!(c.first_match(b"LibHttp/2 Java/17"), Some("java(?!;)"));
        assert_eq!(c.first_match(b"curl"), None);
    }
}
