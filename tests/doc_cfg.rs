//! docs.rs badges: every item of `src/` gated by a feature that users can see carries the
//! feature's badge. An item under `#[cfg(P)]`, where `P` names a feature, that is `pub` (not
//! `pub(crate)` or `pub(super)`), or that is a trait impl (it shows on the trait's and the
//! type's pages), needs `#[cfg_attr(docsrs, doc(cfg(P)))]` among its attributes, with the same
//! `P`. docs.rs builds with `--cfg docsrs` on nightly (`[package.metadata.docs.rs]`); this test
//! reads the source as text, so it runs on stable.
//!
//! Not seen: an item whose `pub` or `impl` is not at the start of its first line, and gated
//! enum variants or fields (none are gated in `src/`).

use std::fs;
use std::path::{Path, PathBuf};

/// The gated items of `source` that need a badge: their line numbers (from 1), their first
/// line, and whether the badge is there.
fn gated_items(source: &str) -> Vec<(usize, String, bool)> {
    let mut items = Vec::new();
    // The outer attributes above the line at hand, whitespace removed, and one that spans
    // lines until its brackets close.
    let mut attrs: Vec<String> = Vec::new();
    let mut open = String::new();
    for (i, line) in source.lines().enumerate() {
        let t = line.trim();
        if open.is_empty() && !t.starts_with("#[") && !t.starts_with("#![") {
            // Comments and blank lines between an item's attributes and the item keep them.
            if t.is_empty() || t.starts_with("//") {
                continue;
            }
            // `pub(crate)` and `pub(super)` do not start with "pub ".
            let visible = t.starts_with("pub ") || (t.starts_with("impl") && t.contains(" for "));
            for attr in &attrs {
                let Some(p) = attr
                    .strip_prefix("#[cfg(")
                    .and_then(|a| a.strip_suffix(")]"))
                else {
                    continue;
                };
                if visible && p.contains("feature") {
                    let badge = format!("#[cfg_attr(docsrs,doc(cfg({p})))]");
                    items.push((i + 1, t.to_owned(), attrs.contains(&badge)));
                }
            }
            attrs.clear();
            continue;
        }
        open.extend(t.chars().filter(|c| !c.is_whitespace()));
        if brackets_close(&open) {
            let attr = std::mem::take(&mut open);
            // Inner attributes (`#![...]`) belong to the module, not to the next item.
            if attr.starts_with("#[") {
                attrs.push(attr);
            }
        }
    }
    items
}

/// Whether every `[` of `attr` outside string literals is closed.
fn brackets_close(attr: &str) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
    for c in attr.chars() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (true, false, _) => {}
            (false, _, '"') => in_string = true,
            (false, _, '[') => depth += 1,
            (false, _, ']') => depth -= 1,
            (false, _, _) => {}
        }
    }
    depth == 0
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_gated_public_item_has_its_docs_rs_badge() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let (mut checked, mut missing) = (Vec::new(), Vec::new());
    for file in &files {
        let source = fs::read_to_string(file).unwrap();
        let name = file.strip_prefix(&src).unwrap().display().to_string();
        for (line, item, has) in gated_items(&source) {
            let place = format!("src/{name}:{line}: {item}");
            if !has {
                missing.push(place.clone());
            }
            checked.push(place);
        }
    }
    assert!(
        missing.is_empty(),
        "feature-gated public items without `#[cfg_attr(docsrs, doc(cfg(...)))]` (the same \
         predicate as their `#[cfg(...)]`):\n{}",
        missing.join("\n")
    );
    // The scan sees the items it is meant to see (it would pass on finding none).
    for known in [
        "pub mod metrics;",
        "pub fn time_zone(",
        "pub use layer::{",
        "impl Headers for",
    ] {
        assert!(
            checked.iter().any(|c| c.contains(known)),
            "{known} not among the checked items:\n{}",
            checked.join("\n")
        );
    }
}

#[test]
fn the_scan_tells_a_missing_or_wrong_badge() {
    let source = r#"
#[cfg(feature = "a")]
#[cfg_attr(docsrs, doc(cfg(feature = "a")))]
pub mod has_badge;
#[cfg(feature = "a")]
pub fn no_badge() {}
#[cfg(feature = "b")]
#[cfg_attr(docsrs, doc(cfg(feature = "a")))]
pub struct WrongBadge;
/// Docs between.
#[cfg(any(
    feature = "a",
    feature = "b"
))]
// A comment between.
#[cfg_attr(docsrs, doc(cfg(any(feature = "a", feature = "b"))))]
pub use spanning::Lines;
#[cfg(feature = "a")]
pub(crate) fn crate_only() {}
#[cfg(feature = "a")]
fn private() {}
#[cfg(feature = "a")]
impl Trait for Foreign {}
#[cfg(test)]
pub fn not_a_feature() {}
"#;
    let found: Vec<(usize, bool)> = gated_items(source)
        .into_iter()
        .map(|(line, _, has)| (line, has))
        .collect();
    assert_eq!(
        found,
        [(4, true), (6, false), (9, false), (17, true), (23, false)]
    );
}
