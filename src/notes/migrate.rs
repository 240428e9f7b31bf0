//! Moving an index from one store to another (`starling store migrate`): every chunk with its
//! vectors and payload, page by page, without re-embedding. Resumable: after each page the id
//! the next page starts from is written to a checkpoint file, and a run that finds one goes on
//! from there (upserts replace by id, so a page copied twice is copied once). Verified at the
//! end by counts and by a sample of searches that must find the same chunk first in both.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::backends::{SearchFilter, SearchMode, SearchQuery, StoredChunk, VectorStore};
use crate::error::{Error, Result};

/// Chunks read and written per step.
const PAGE: usize = 256;
/// Searches compared at the end.
const SAMPLES: usize = 8;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MigrateReport {
    pub chunks_copied: usize,
    pub source_chunks: usize,
    pub target_chunks: usize,
    /// Sample searches run on both stores; each found the same chunk first.
    pub searches_checked: usize,
    /// Whether this run went on from an earlier one's checkpoint.
    pub resumed: bool,
    pub seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    /// The id the next page starts from.
    next: u64,
    copied: usize,
}

/// The query a sample chunk answers best: its own words and vector.
fn probe(chunk: &StoredChunk) -> SearchQuery {
    SearchQuery {
        text: chunk.chunk.text.chars().take(200).collect(),
        dense: chunk.dense.clone(),
        k: 3,
        filter: SearchFilter::default(),
        mode: SearchMode::Hybrid,
    }
}

/// Copies every chunk of `source` into `target`, going on from `checkpoint` when an earlier
/// run left one; `progress` is told the chunks copied so far and the total.
pub fn migrate(
    source: &dyn VectorStore,
    target: &dyn VectorStore,
    checkpoint: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<MigrateReport> {
    let started = Instant::now();
    let total = source.count()?;
    let saved: Option<Checkpoint> = std::fs::read(checkpoint)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let resumed = saved.is_some();
    let (mut from, mut copied) = match saved {
        Some(saved) => (Some(saved.next), saved.copied),
        None => (None, 0),
    };
    // Spread over the whole store: every `stride`-th chunk seen is a sample.
    let stride = (total / SAMPLES).max(1);
    let mut samples: Vec<StoredChunk> = Vec::new();
    let mut seen = 0usize;
    loop {
        let (page, next) = source.scroll(from, PAGE)?;
        for chunk in &page {
            if seen.is_multiple_of(stride) && samples.len() < SAMPLES {
                samples.push(chunk.clone());
            }
            seen += 1;
        }
        target.upsert(&page)?;
        copied += page.len();
        progress(copied.min(total), total);
        match next {
            Some(next) => {
                target.flush()?;
                crate::files::write_atomic(
                    checkpoint,
                    &serde_json::to_vec(&Checkpoint { next, copied }).expect("serialises"),
                )?;
                from = Some(next);
            }
            None => break,
        }
    }
    target.flush()?;
    // What an index run ends with: the search index built (or the server's indexing done).
    target.settle()?;
    let source_chunks = source.count()?;
    let target_chunks = target.count()?;
    if source_chunks != target_chunks {
        return Err(Error::Migration(format!(
            "the target holds {target_chunks} chunks after the copy, the source {source_chunks}; \
             run the migration again with --replace"
        )));
    }
    for sample in &samples {
        let query = probe(sample);
        let first = |store: &dyn VectorStore| -> Result<Option<u64>> {
            Ok(store.search(&query)?.first().map(|hit| hit.id))
        };
        let (expected, found) = (first(source)?, first(target)?);
        if expected != found {
            return Err(Error::Migration(format!(
                "a sample search (the words of `{}`:{}) finds chunk {expected:?} first in the \
                 source and {found:?} in the target",
                sample.chunk.path, sample.chunk.line_start
            )));
        }
    }
    let _ = std::fs::remove_file(checkpoint);
    Ok(MigrateReport {
        chunks_copied: copied,
        source_chunks,
        target_chunks,
        searches_checked: samples.len(),
        resumed,
        seconds: started.elapsed().as_secs_f64(),
    })
}
