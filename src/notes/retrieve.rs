//! Finding evidence: one query text turned into the store's query (glossary-expanded, embedded)
//! and run. Search, STAR drafting and the rubric map all retrieve through here, so a query
//! means the same thing everywhere.

use crate::backends::{Embedder, Hit, SearchFilter, SearchMode, SearchQuery, VectorStore};
use crate::error::Result;
use crate::notes::glossary;

/// What to look for and where.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub text: String,
    pub k: usize,
    pub filter: SearchFilter,
    pub mode: SearchMode,
}

/// The best `request.k` chunks for `request.text`, best first.
pub fn search(
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    request: &Request,
) -> Result<Vec<Hit>> {
    // Chunks are embedded with their shorthand spelled out (`Chunk::embedding_text`); queries too.
    let text = glossary::expand(&request.text);
    let dense = embedder.embed(std::slice::from_ref(&text))?.remove(0);
    search_embedded(store, request, dense)
}

/// `search` for a caller that already holds the query's vector (of `glossary::expand(text)`),
/// so one query is embedded once however many searches it runs.
pub fn search_embedded(
    store: &dyn VectorStore,
    request: &Request,
    dense: Vec<f32>,
) -> Result<Vec<Hit>> {
    store.search(&SearchQuery {
        text: glossary::expand(&request.text),
        dense,
        k: request.k,
        filter: request.filter.clone(),
        mode: request.mode,
    })
}

/// Cosine similarity of two vectors (the relevance STAR and the rubric map judge by).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    dot / (norm(a) * norm(b))
}
