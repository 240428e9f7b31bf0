//! What the index holds, read from its record (no store lock needed): `starling status` and
//! `GET /v1/status`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Config, StoreBackend};
use crate::error::Result;
use crate::notes::index::{IndexState, Skipped};
use crate::services;

/// The index's state. The JSON field names are a contract (`status --json`, `/v1/status`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusReport {
    #[schema(value_type = Vec<String>)]
    pub note_roots: Vec<PathBuf>,
    pub files_indexed: usize,
    pub chunks: usize,
    pub skipped: Vec<Skipped>,
    /// Files whose mojibake was repaired when indexed: "PATH (N characters)".
    pub repaired_files: Vec<String>,
    /// Space the embedded store takes on disk (0 for a server's collection).
    pub store_bytes: u64,
    #[schema(value_type = String)]
    pub store_path: PathBuf,
    pub embedding_model: String,
    /// "edge" (embedded) or "qdrant" (a server or cluster).
    pub store_backend: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_collection: Option<String>,
}

/// Space on disk under `path`, not the apparent size: the store's files are sparse.
pub fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(std::result::Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| {
                use std::os::unix::fs::MetadataExt;
                (m.blocks() * 512).min(m.len())
            }),
        })
        .sum()
}

/// The status of the index that `config` names.
pub fn status(config: &Config) -> Result<StatusReport> {
    let dir = services::index_dir(config);
    let state = IndexState::load(&services::state_path(config))?;
    let note_roots = if state.roots.is_empty() {
        config.notes.paths.clone()
    } else {
        state.roots.clone()
    };
    let repaired_files = state
        .files
        .iter()
        .filter(|(_, r)| r.repaired > 0)
        .map(|(p, r)| {
            let unit = if r.repaired == 1 {
                "character"
            } else {
                "characters"
            };
            format!("{} ({} {unit})", p.display(), r.repaired)
        })
        .collect();
    let server = config.store.backend == StoreBackend::Qdrant;
    Ok(StatusReport {
        note_roots,
        files_indexed: state.files.len(),
        chunks: state.chunk_count(),
        skipped: state.skipped.clone(),
        repaired_files,
        store_bytes: dir_size(&dir),
        store_path: dir,
        embedding_model: if state.embedder.is_empty() {
            config.embedder.dir.display().to_string()
        } else {
            state.embedder
        },
        store_backend: if server { "qdrant" } else { "edge" },
        store_url: server.then(|| config.store.url.clone()),
        store_collection: server.then(|| services::collection_name(config)),
    })
}
