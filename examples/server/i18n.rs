//! Vietnamese (the portal's language) and English (`?lang=en`): texts, titles, dates, numbers.

use std::collections::HashMap;

use time::{Date, OffsetDateTime};
use visitor_counter::articles::Article;
use visitor_counter::ArticleId;

use crate::catalog::{SAMPLES, SECTIONS};

/// A page's language.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

impl Lang {
    /// `?lang=en` is English; anything else is the portal's Vietnamese.
    pub fn of(query: &HashMap<String, String>) -> Lang {
        match query.get("lang").map(String::as_str) {
            Some("en") => Lang::En,
            _ => Lang::Vi,
        }
    }

    /// The text in this language.
    pub fn t(self, vi: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    pub fn code(self) -> &'static str {
        self.t("vi", "en")
    }

    /// The query string that keeps this language on a link.
    pub fn query(self) -> &'static str {
        self.t("", "?lang=en")
    }

    pub fn home(self) -> &'static str {
        self.t("/", "/?lang=en")
    }

    pub fn title(self, a: &Article) -> String {
        let en = SAMPLES
            .iter()
            .find(|s| ArticleId::from(s.0) == a.id)
            .map(|s| s.5);
        match (self, en) {
            (Lang::En, Some(en)) => en.to_string(),
            _ => a.title.clone(),
        }
    }

    pub fn section(self, slug: &str) -> String {
        SECTIONS
            .iter()
            .find(|s| s.0 == slug)
            .map_or_else(|| slug.to_string(), |s| self.t(s.1, s.2).to_string())
    }

    /// A publication time: `20/04/2026 08:15`, `20 April 2026, 08:15`.
    pub fn date_time(self, t: OffsetDateTime) -> String {
        let (d, m, y, h, min) = (t.day(), t.month(), t.year(), t.hour(), t.minute());
        match self {
            Lang::Vi => format!("{d:02}/{:02}/{y} {h:02}:{min:02}", u8::from(m)),
            Lang::En => format!("{d} {m} {y}, {h:02}:{min:02}"), // time's Month prints "April"
        }
    }

    /// A day on the chart: `20/04`, `20 Apr`, with the year `20/04/2026`, `20 Apr 2026`.
    pub fn day(self, date: Date, with_year: bool) -> String {
        let (day, month, year) = (date.day(), date.month(), date.year());
        let short = &month.to_string()[..3]; // "Apr"
        match (self, with_year) {
            (Lang::Vi, false) => format!("{day:02}/{:02}", u8::from(month)),
            (Lang::Vi, true) => format!("{day:02}/{:02}/{year}", u8::from(month)),
            (Lang::En, false) => format!("{day} {short}"),
            (Lang::En, true) => format!("{day} {short} {year}"),
        }
    }
}

/// Digits grouped by thousands with a space, as the portals print them: 10 370.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}
