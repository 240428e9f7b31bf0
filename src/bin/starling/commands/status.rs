//! `starling status`: what the index holds, read from its record (no store lock needed).

use std::process::ExitCode;

use starling::app::status::status;
use starling::config::Config;

use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    let report = status(config)?;
    if args.json {
        output::print(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    text.push_str(&format!(
        "note roots:      {}\n",
        report
            .note_roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    text.push_str(&format!(
        "files indexed:   {}\nchunks:          {}\n",
        report.files_indexed, report.chunks
    ));
    match (&report.store_url, &report.store_collection) {
        (Some(url), Some(collection)) => text.push_str(&format!(
            "store:           Qdrant server {url}, collection {collection}\n"
        )),
        _ => text.push_str(&format!(
            "store:           {} ({:.1} MB)\n",
            report.store_path.display(),
            report.store_bytes as f64 / 1e6
        )),
    }
    text.push_str(&format!("embedding model: {}\n", report.embedding_model));
    text.push_str(&format!(
        "repaired files:  {}\n",
        report.repaired_files.len()
    ));
    for line in &report.repaired_files {
        text.push_str(&format!("  {line}\n"));
    }
    text.push_str(&format!("skipped files:   {}\n", report.skipped.len()));
    for skipped in &report.skipped {
        text.push_str(&format!("  {}: {}\n", skipped.path, skipped.reason));
    }
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
