//! The catalog: [`Article`]s by id and slug, sections newest first, and "most read" joined with
//! the counter's rankings ([`Catalog::top`], the one place this folder calls the front door).

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::calendar::periods::Period;
use crate::ids::ArticleId;
use crate::Counter;

/// A news item.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Article {
    /// The id the counter counts views under.
    pub id: ArticleId,
    /// The URL slug, unique in a catalog.
    pub slug: String,
    /// The headline.
    pub title: String,
    /// The section, e.g. `"thoi-su"` or `"van-hoa"`.
    pub section: String,
    /// When it was published.
    pub published_at: OffsetDateTime,
}

impl Article {
    /// An article from its parts.
    pub fn new(
        id: ArticleId,
        slug: impl Into<String>,
        title: impl Into<String>,
        section: impl Into<String>,
        published_at: OffsetDateTime,
    ) -> Article {
        Article {
            id,
            slug: slug.into(),
            title: title.into(),
            section: section.into(),
            published_at,
        }
    }
}

/// Why a catalog change was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CatalogError {
    /// `insert` of an id the catalog already has (use `update`).
    DuplicateId(ArticleId),
    /// `update` of an id the catalog does not have (use `insert`).
    NotFound(ArticleId),
    /// The slug belongs to another article.
    SlugTaken {
        /// The slug.
        slug: String,
        /// The article that has it.
        by: ArticleId,
    },
    /// An empty slug.
    EmptySlug(ArticleId),
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::DuplicateId(id) => {
                write!(f, "article {id} is already in the catalog: use `update`")
            }
            CatalogError::NotFound(id) => {
                write!(f, "article {id} is not in the catalog: use `insert`")
            }
            CatalogError::SlugTaken { slug, by } => {
                write!(f, "slug {slug:?} already belongs to article {by}")
            }
            CatalogError::EmptySlug(id) => write!(f, "article {id} has an empty slug"),
        }
    }
}

impl std::error::Error for CatalogError {}

#[derive(Default)]
struct Indexes {
    by_id: HashMap<ArticleId, Article>,
    by_slug: HashMap<String, ArticleId>,
    /// Per section: newest first, then by id.
    sections: HashMap<String, BTreeSet<(Reverse<OffsetDateTime>, ArticleId)>>,
}

impl Indexes {
    fn check_slug(&self, a: &Article) -> Result<(), CatalogError> {
        if a.slug.is_empty() {
            return Err(CatalogError::EmptySlug(a.id));
        }
        match self.by_slug.get(&a.slug) {
            Some(&by) if by != a.id => Err(CatalogError::SlugTaken {
                slug: a.slug.clone(),
                by,
            }),
            _ => Ok(()),
        }
    }

    fn add(&mut self, a: Article) {
        self.by_slug.insert(a.slug.clone(), a.id);
        self.sections
            .entry(a.section.clone())
            .or_default()
            .insert((Reverse(a.published_at), a.id));
        self.by_id.insert(a.id, a);
    }

    fn take(&mut self, id: ArticleId) -> Option<Article> {
        let a = self.by_id.remove(&id)?;
        self.by_slug.remove(&a.slug);
        if let Some(s) = self.sections.get_mut(&a.section) {
            s.remove(&(Reverse(a.published_at), a.id));
            if s.is_empty() {
                self.sections.remove(&a.section);
            }
        }
        Some(a)
    }
}

/// A concurrent catalog of articles, indexed by id, by slug and by section.
#[derive(Default)]
pub struct Catalog {
    indexes: RwLock<Indexes>,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("articles", &self.len())
            .finish()
    }
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// Adds an article.
    ///
    /// # Errors
    /// [`CatalogError::DuplicateId`], [`CatalogError::SlugTaken`] or [`CatalogError::EmptySlug`];
    /// the catalog is unchanged.
    pub fn insert(&self, article: Article) -> Result<(), CatalogError> {
        let mut ix = self.indexes.write();
        if ix.by_id.contains_key(&article.id) {
            return Err(CatalogError::DuplicateId(article.id));
        }
        ix.check_slug(&article)?;
        ix.add(article);
        Ok(())
    }

    /// Replaces the article with the same id and returns the old version.
    ///
    /// # Errors
    /// [`CatalogError::NotFound`], [`CatalogError::SlugTaken`] or [`CatalogError::EmptySlug`]; the
    /// catalog is unchanged.
    pub fn update(&self, article: Article) -> Result<Article, CatalogError> {
        let mut ix = self.indexes.write();
        if !ix.by_id.contains_key(&article.id) {
            return Err(CatalogError::NotFound(article.id));
        }
        ix.check_slug(&article)?;
        let old = ix
            .take(article.id)
            .ok_or(CatalogError::NotFound(article.id))?;
        ix.add(article);
        Ok(old)
    }

    /// Removes an article and returns it. Its view counts stay in the counter (see
    /// [`Counter::reset_article`]).
    pub fn remove(&self, id: ArticleId) -> Option<Article> {
        self.indexes.write().take(id)
    }

    /// The article with this id.
    pub fn get(&self, id: ArticleId) -> Option<Article> {
        self.indexes.read().by_id.get(&id).cloned()
    }

    /// The article with this slug.
    pub fn get_by_slug(&self, slug: &str) -> Option<Article> {
        let ix = self.indexes.read();
        let id = ix.by_slug.get(slug)?;
        ix.by_id.get(id).cloned()
    }

    /// Up to `limit` articles of a section, newest first (ties by smaller id).
    pub fn section(&self, section: &str, limit: usize) -> Vec<Article> {
        let ix = self.indexes.read();
        ix.sections.get(section).map_or_else(Vec::new, |s| {
            s.iter()
                .take(limit)
                .filter_map(|(_, id)| ix.by_id.get(id).cloned())
                .collect()
        })
    }

    /// Up to `limit` articles of every section, newest first (ties by smaller id).
    pub fn latest(&self, limit: usize) -> Vec<Article> {
        let ix = self.indexes.read();
        let mut all: Vec<&Article> = ix.by_id.values().collect();
        all.sort_unstable_by(|a, b| b.published_at.cmp(&a.published_at).then(a.id.cmp(&b.id)));
        all.into_iter().take(limit).cloned().collect()
    }

    /// Articles in the catalog.
    pub fn len(&self) -> usize {
        self.indexes.read().by_id.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `n` most viewed articles of `period` that are in this catalog, with their views:
    /// [`Counter::top_articles`] joined with the catalog. Articles no longer in the catalog are
    /// skipped, and the list is filled from further down the ranking.
    pub fn top(&self, counter: &Counter, period: Period, n: usize) -> Vec<(Article, u64)> {
        let mut want = n;
        loop {
            let top = counter.top_articles(period, want);
            let exhausted = top.len() < want;
            let ix = self.indexes.read();
            let joined: Vec<(Article, u64)> = top
                .into_iter()
                .filter_map(|(id, views)| ix.by_id.get(&id).map(|a| (a.clone(), views)))
                .take(n)
                .collect();
            if joined.len() == n || exhausted {
                return joined;
            }
            want = want.saturating_mul(2).max(want + 1);
        }
    }
}
