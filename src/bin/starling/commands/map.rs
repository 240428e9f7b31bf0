//! `starling map RUBRIC`: every career-ladder item with its evidence from the notes, its level
//! (strong, partial, none) and the gaps, as Markdown, JSON or one self-contained HTML file.
//! Judgments are cached in the data dir, so a re-run only judges what changed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use starling::app::{self, map::MapFormat, map::MapRequest};
use starling::config::Config;
use starling::files;
use starling::services;
use starling::tasks::map::{self, JudgmentCache};
use starling::tasks::rubric;

use crate::output;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Json,
    Html,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The career-ladder rubric: Markdown (sections and bullets, or a table) or TOML.
    rubric: PathBuf,
    /// Candidate passages judged per item (at most 20).
    #[arg(long, default_value_t = 5)]
    k: usize,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// Write the report here (atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Judge by calibrated similarity instead of the model (deterministic).
    #[arg(long)]
    no_model: bool,
    /// Only notes dated on or after YYYY-MM-DD.
    #[arg(long)]
    since: Option<String>,
    /// Only notes dated on or before YYYY-MM-DD.
    #[arg(long)]
    until: Option<String>,
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (1..=app::map::MAX_K).contains(&args.k),
        "--k must be between 1 and {}",
        app::map::MAX_K
    );
    super::check_date("--since", &args.since)?;
    super::check_date("--until", &args.until)?;
    let text = files::read_text(&args.rubric, 4 << 20)?;
    let rubric = rubric::parse(&args.rubric, &text)?;
    let request = MapRequest {
        rubric_name: args
            .rubric
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        rubric: text,
        format: Some(match args.format {
            Format::Md => MapFormat::Md,
            Format::Json => MapFormat::Json,
            Format::Html => MapFormat::Html,
        }),
        no_model: args.no_model,
        k: Some(args.k),
        since: args.since.clone(),
        until: args.until.clone(),
    };

    let (embedder, notes) = match super::open_notes(config, "map")? {
        super::Notes::Server(server) => {
            let answer = server.call("/v1/map", Some(&serde_json::to_value(&request)?))?;
            let report = match args.format {
                Format::Json => format!("{}\n", serde_json::to_string_pretty(&answer)?),
                _ => answer["report"].as_str().unwrap_or_default().to_string(),
            };
            return emit(&report, args.out.as_deref());
        }
        super::Notes::Here(embedder, notes) => (embedder, notes),
    };
    let cache_path = services::index_dir(config).join("map-judgments.json");
    let mut cache: JudgmentCache = match std::fs::read(&cache_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => JudgmentCache::default(),
    };
    let generator = if args.no_model {
        None
    } else {
        Some(super::load_generator(config)?)
    };
    let result = app::map::run(
        &crate::client::context(config, &embedder, &notes),
        generator.as_deref(),
        &rubric,
        &request,
        &mut cache,
    )?;
    files::write_atomic(&cache_path, &serde_json::to_vec(&cache)?)
        .with_context(|| format!("saving the judgment cache `{}`", cache_path.display()))?;
    // The judge's inputs, for fitting it (`scripts/train-evidence-judge.py`).
    if let Some(path) = std::env::var_os("STARLING_EVIDENCE_FEATURES") {
        std::fs::write(&path, &result.features).with_context(|| {
            format!(
                "writing the feature dump `{}`",
                std::path::Path::new(&path).display()
            )
        })?;
    }
    let report = match args.format {
        Format::Md => result.to_markdown(),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&result.to_json())?),
        Format::Html => result.to_html(),
    };
    emit(&report, args.out.as_deref())?;
    let count = |level: map::Level| result.items.iter().filter(|i| i.level == level).count();
    eprintln!(
        "{} items: {} strong, {} partial, {} none; {} candidates judged, {} from the cache",
        result.items.len(),
        count(map::Level::Strong),
        count(map::Level::Partial),
        count(map::Level::None),
        result.judged,
        result.cached
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes the report to `out` (atomically) or standard output.
fn emit(report: &str, out: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    match out {
        Some(path) => {
            files::write_atomic(path, report.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        None => output::print(report)?,
    }
    Ok(ExitCode::SUCCESS)
}
