//! Hybrid search over the indexed notes: `starling search`, `POST /v1/search`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{check_date, check_text, Context};
use crate::backends::{Hit, SearchFilter, SearchMode};
use crate::error::{Error, Result};
use crate::notes::retrieve;

/// What to look for and where.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The question or words to look for.
    #[schema(pattern = r"[^\s\u0085]")]
    pub query: String,
    /// Number of results.
    #[serde(default = "default_k")]
    #[schema(minimum = 1, maximum = 200, default = 8)]
    pub k: usize,
    /// Only notes under this folder or file (relative to the note root).
    pub path: Option<String>,
    /// Only notes with this tag.
    pub tag: Option<String>,
    /// Only notes dated on or after this day.
    #[schema(format = Date)]
    pub since: Option<String>,
    /// Only notes dated on or before this day.
    #[schema(format = Date)]
    pub until: Option<String>,
    /// Both rankings fused (default), or one alone.
    #[serde(default)]
    #[schema(inline)]
    pub mode: SearchMode,
}

fn default_k() -> usize {
    8
}

/// The most results a request may ask for.
pub const MAX_K: usize = 200;

/// One passage found, cited to its file and lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    /// Relative to its note root, `/`-separated.
    pub path: String,
    pub line_start: usize,
    pub line_end: usize,
    /// The heading path, joined with " > ".
    pub heading: String,
    pub score: f32,
    pub text: String,
    pub title: String,
    pub tags: Vec<String>,
    pub date: Option<String>,
    /// The file's absolute path.
    pub source: String,
}

impl From<&Hit> for SearchHit {
    fn from(h: &Hit) -> Self {
        let c = &h.chunk;
        SearchHit {
            path: c.path.clone(),
            line_start: c.line_start,
            line_end: c.line_end,
            heading: c.heading.clone(),
            score: h.score,
            text: c.text.clone(),
            title: c.title.clone(),
            tags: c.tags.clone(),
            date: c.date.clone(),
            source: c.source.clone(),
        }
    }
}

impl SearchRequest {
    /// A request for `query` with the defaults.
    pub fn new(query: impl Into<String>) -> Self {
        SearchRequest {
            query: query.into(),
            k: default_k(),
            path: None,
            tag: None,
            since: None,
            until: None,
            mode: SearchMode::default(),
        }
    }

    pub fn check(&self) -> Result<()> {
        check_text("query", &self.query)?;
        if self.k == 0 || self.k > MAX_K {
            return Err(Error::invalid(
                "k",
                format!("must be between 1 and {MAX_K}"),
            ));
        }
        check_date("since", &self.since)?;
        check_date("until", &self.until)
    }

    pub fn filter(&self) -> SearchFilter {
        SearchFilter {
            tag: self.tag.clone(),
            ..SearchFilter::notes(&self.path, &self.since, &self.until)
        }
    }
}

/// The best `k` passages, best first.
pub fn run(ctx: &Context, request: &SearchRequest) -> Result<Vec<SearchHit>> {
    request.check()?;
    let hits = retrieve::search(
        ctx.embedder,
        ctx.store,
        &retrieve::Request {
            text: request.query.clone(),
            k: request.k,
            filter: request.filter(),
            mode: request.mode,
        },
    )?;
    Ok(hits.iter().map(SearchHit::from).collect())
}
