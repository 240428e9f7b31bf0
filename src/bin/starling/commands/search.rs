//! `starling search "QUERY"`: hybrid (dense + BM25) search over the indexed notes.

use std::process::ExitCode;

use starling::app::search::{self, SearchHit, SearchRequest};
use starling::backends::SearchMode;
use starling::config::Config;
use starling::notes::index::IndexState;
use starling::services;

use crate::client::{self, StoreAccess};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    query: String,
    /// Number of results.
    #[arg(short, default_value_t = 8)]
    k: usize,
    #[arg(long)]
    json: bool,
    /// Only notes under this folder or file (relative to the note root).
    #[arg(long)]
    path: Option<String>,
    /// Only notes with this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Only notes dated on or after YYYY-MM-DD.
    #[arg(long)]
    since: Option<String>,
    /// Only notes dated on or before YYYY-MM-DD.
    #[arg(long)]
    until: Option<String>,
    /// Which ranking to use: both fused (default), or one alone to see why a note ranks where it does.
    #[arg(long, default_value = "hybrid", value_parser = ["hybrid", "dense", "lexical"])]
    mode: String,
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(!args.query.trim().is_empty(), "the query is empty");
    anyhow::ensure!(
        (1..=search::MAX_K).contains(&args.k),
        "-k must be between 1 and {}",
        search::MAX_K
    );
    super::check_date("--since", &args.since)?;
    super::check_date("--until", &args.until)?;
    let request = SearchRequest {
        query: args.query.clone(),
        k: args.k,
        path: args.path.clone(),
        tag: args.tag.clone(),
        since: args.since.clone(),
        until: args.until.clone(),
        mode: match args.mode.as_str() {
            "dense" => SearchMode::Dense,
            "lexical" => SearchMode::Lexical,
            _ => SearchMode::Hybrid,
        },
    };
    let mut indexing = false;
    let rows: Vec<SearchHit> = match client::store_access(config, "starling search")? {
        StoreAccess::Remote(server) => server.request("/v1/search", &request)?,
        access => {
            // Another process (a long index run) may hold the store: then a copy of what it
            // has stored so far is searched.
            indexing = matches!(&access, StoreAccess::Copy { holder } if holder.contains("starling index"));
            let (embedder, notes) = services::open_embedder_beside(
                config,
                starling::backends::fastembed::Workload::Queries,
                |dimension| client::open_notes(config, access, dimension),
            )?;
            search::run(&client::context(config, &embedder, &notes), &request)?
        }
    };
    if args.json {
        output::print(&format!("{}\n", serde_json::to_string_pretty(&rows)?))?;
    } else {
        let mut text = String::new();
        for row in &rows {
            let snippet: String = row
                .text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(160)
                .collect();
            text.push_str(&format!(
                "{}:{}-{}  {}  {:.3}\n    {snippet}\n",
                row.path, row.line_start, row.line_end, row.heading, row.score
            ));
        }
        if rows.is_empty() {
            // Say why from what the index holds: empty, or nothing passed the filters.
            let passages = IndexState::load(&services::state_path(config))
                .map_or(0, |state| state.chunk_count());
            let filtered = args.path.is_some()
                || args.tag.is_some()
                || args.since.is_some()
                || args.until.is_some();
            text.push_str(&match (passages, filtered) {
                (0, _) if indexing => "no matching notes yet: the index run has recorded none so far; try again in a while\n".to_string(),
                (0, _) => "no matching notes: the index is empty; run `starling index PATH`\n".to_string(),
                (n, true) => format!("no matching notes among {n} indexed passages; loosen --path, --tag, --since or --until\n"),
                (n, false) => format!("no matching notes among {n} indexed passages; try other words or --mode dense\n"),
            });
        }
        output::print(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}
