//! `starling index [PATH...] [--watch]`: indexes the note roots (remembering new ones in the
//! config file) into the embedded store, with a progress line on a terminal.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use starling::app::{self, index::IndexRequest};
use starling::config::{default_config_path, remember_note_paths, Config};
use starling::notes::index::IndexReport;
use starling::services;

use crate::client::{self, StoreAccess};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folders (or files) of notes; remembered as notes.paths. Default: notes.paths.
    paths: Vec<PathBuf>,
    /// Keep running and re-index when notes change (polls every 2 s).
    #[arg(long)]
    watch: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn describe(report: &IndexReport) -> String {
    let search_index = if report.search_index_s > 0.0 {
        format!(", the search index built in {:.1} s", report.search_index_s)
    } else {
        String::new()
    };
    format!(
        "{} files: {} indexed, {} unchanged, {} renamed, {} deleted, {} skipped; {} chunks embedded, {} in the index ({:.2} s{search_index})\n",
        report.files_seen,
        report.files_indexed,
        report.files_unchanged,
        report.files_renamed,
        report.files_deleted,
        report.files_skipped,
        report.chunks_embedded,
        report.chunks_total,
        report.seconds
    )
}

/// Drawn on a terminal only (indicatif hides itself otherwise).
fn progress_bar() -> crate::output::Progress {
    crate::output::Progress::new("indexing {pos}/{len} ({percent}%) {wide_msg}")
}

/// The pass's progress on `bar`, only for a pass long enough to need one.
fn shown_on(bar: &crate::output::Progress) -> impl FnMut(usize, usize, &str) + '_ {
    move |done, total, current| {
        if total >= 20 {
            bar.update(done, total);
            bar.set_message(current);
        }
    }
}

fn print_report(report: &IndexReport, json: bool) -> anyhow::Result<()> {
    if json {
        output::print(&format!("{}\n", serde_json::to_string(report)?))?;
    } else {
        output::print(&describe(report))?;
    }
    Ok(())
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    let roots: Vec<PathBuf> = if args.paths.is_empty() {
        config.notes.paths.clone()
    } else {
        let mut roots = Vec::new();
        for path in &args.paths {
            roots.push(std::fs::canonicalize(path).with_context(|| {
                format!("note root `{}` not found; check the path", path.display())
            })?);
        }
        let file = config.file.clone().unwrap_or_else(default_config_path);
        remember_note_paths(&file, &roots)
            .with_context(|| format!("remembering the note roots in `{}`", file.display()))?;
        roots
    };
    anyhow::ensure!(
        !roots.is_empty(),
        "no note roots: run `starling index PATH` once (it is remembered as notes.paths)"
    );

    let holder = if args.watch {
        "starling index --watch"
    } else {
        "starling index"
    };
    let lock = match client::store_access_to_write(config, holder)? {
        StoreAccess::Local(lock) => lock,
        StoreAccess::Copy { .. } => {
            anyhow::bail!("internal: an index run was offered a copy of the store")
        }
        StoreAccess::Remote(server) => {
            anyhow::ensure!(
                !args.watch,
                "a running `starling serve` holds the store; it indexes on request (POST /v1/index), so --watch is not available through it"
            );
            let report: IndexReport =
                server.request("/v1/index", &IndexRequest { paths: roots })?;
            print_report(&report, args.json)?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    // A one-shot run may have nothing to embed: ONNX Runtime starts only if a note needs it.
    // --watch starts it now, so that a model that cannot start stops it at once instead of
    // failing every pass that has a change.
    let open = |dimension| services::open_store(config, lock, dimension);
    let workload = starling::backends::fastembed::Workload::Bulk;
    let (embedder, notes) = if args.watch {
        services::open_embedder_beside(config, workload, open)?
    } else {
        services::open_embedder_deferred(config, workload, open)?
    };
    let ctx = client::context(config, &embedder, &notes);
    if !args.watch {
        let bar = progress_bar();
        let mut progress = shown_on(&bar);
        let result = app::index::run_files(&ctx, &roots, &notes.state_path, &mut progress)
            .and_then(|mut report| {
                // The embedder goes before the store's optimizer maps its old and new segments:
                // its ONNX session (about 140 MB of heap) and the optimizer's pages made the
                // run's peak.
                drop(embedder);
                services::release_freed_heap();
                starling::notes::index::build_search_index(
                    &notes.state_path,
                    notes.store.as_ref(),
                    &mut report,
                    &mut progress,
                )?;
                Ok(report)
            });
        bar.finish_and_clear();
        let report = result?;
        print_report(&report, args.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut last_error: Option<String> = None;
    loop {
        let bar = progress_bar();
        let mut progress = shown_on(&bar);
        let result = app::index::run(&ctx, &roots, &notes.state_path, &mut progress);
        bar.finish_and_clear();
        let report = match result {
            Ok(report) => {
                last_error = None;
                report
            }
            // A pass that fails (a root unplugged, the disk full) does not end --watch: the
            // next pass may succeed. Each new problem is said once.
            Err(err) => {
                let message = err.to_string();
                if last_error.as_deref() != Some(message.as_str()) {
                    eprintln!("warning: indexing failed: {message} (still watching)");
                    last_error = Some(message);
                }
                std::thread::sleep(Duration::from_secs(2));
                continue;
            }
        };
        if report.files_indexed + report.files_renamed + report.files_deleted > 0 {
            print_report(&report, args.json)?;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}
