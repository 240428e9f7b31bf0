//! `starling status`: what the index holds, read from its record (no store lock needed).

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use starling::config::Config;
use starling::notes::index::IndexState;
use starling::services;

use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            // Space on disk, not the apparent size: the store's files are sparse.
            _ => e.metadata().map_or(0, |m| {
                use std::os::unix::fs::MetadataExt;
                (m.blocks() * 512).min(m.len())
            }),
        })
        .sum()
}

/// What `status --json` prints (and `GET /v1/status` answers).
pub fn report(config: &Config) -> anyhow::Result<serde_json::Value> {
    let dir = services::index_dir(config);
    let state = IndexState::load(&services::state_path(config))?;
    let roots = if state.roots.is_empty() {
        config.notes.paths.clone()
    } else {
        state.roots.clone()
    };
    let repaired: Vec<String> = state
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
    let mut value = json!({
        "note_roots": roots,
        "files_indexed": state.files.len(),
        "chunks": state.chunk_count(),
        "skipped": state.skipped,
        "repaired_files": repaired,
        "store_bytes": dir_size(&dir),
        "store_path": dir,
        "embedding_model": if state.embedder.is_empty() { config.embedder.dir.display().to_string() } else { state.embedder.clone() },
        "store_backend": match config.store.backend {
            starling::config::StoreBackend::Edge => "edge",
            starling::config::StoreBackend::Qdrant => "qdrant",
        },
    });
    if config.store.backend == starling::config::StoreBackend::Qdrant {
        value["store_url"] = json!(config.store.url);
        value["store_collection"] = json!(services::collection_name(config));
    }
    Ok(value)
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    let value = report(config)?;
    let state = IndexState::load(&services::state_path(config))?;
    let roots: Vec<std::path::PathBuf> =
        serde_json::from_value(value["note_roots"].clone()).unwrap_or_default();
    let repaired: Vec<String> =
        serde_json::from_value(value["repaired_files"].clone()).unwrap_or_default();
    if args.json {
        output::print(&format!("{}\n", serde_json::to_string_pretty(&value)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    text.push_str(&format!(
        "note roots:      {}\n",
        roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    text.push_str(&format!(
        "files indexed:   {}\nchunks:          {}\n",
        state.files.len(),
        state.chunk_count()
    ));
    if config.store.backend == starling::config::StoreBackend::Qdrant {
        text.push_str(&format!(
            "store:           Qdrant server {}, collection {}\n",
            config.store.url,
            services::collection_name(config)
        ));
    } else {
        let dir = services::index_dir(config);
        text.push_str(&format!(
            "store:           {} ({:.1} MB)\n",
            dir.display(),
            dir_size(&dir) as f64 / 1e6
        ));
    }
    text.push_str(&format!(
        "embedding model: {}\n",
        value["embedding_model"].as_str().unwrap_or("")
    ));
    text.push_str(&format!("repaired files:  {}\n", repaired.len()));
    for line in &repaired {
        text.push_str(&format!("  {line}\n"));
    }
    text.push_str(&format!("skipped files:   {}\n", state.skipped.len()));
    for skipped in &state.skipped {
        text.push_str(&format!("  {}: {}\n", skipped.path, skipped.reason));
    }
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
