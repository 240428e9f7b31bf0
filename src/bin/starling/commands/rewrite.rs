//! `starling rewrite PATH... --style STYLE`: rewrites whole folders of drafts, resumably. Inputs
//! are never written unless --in-place (which keeps a backup); every write is atomic; a
//! journal in the data dir records each finished file with its input and output hashes, so a
//! rerun of the same command after Ctrl-C or `kill -9` skips finished files and redoes the rest.
//! One bad file never stops the batch; exit 2 if any file failed.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use starling::app::rewrite::{sha256, BatchFile, BatchReport, Journal, JournalEntry, Rewriter};
use starling::backends::Generator;
use starling::config::Config;
use starling::files;
use starling::notes::loading::{read_bounded, walk_files, FoundFile, NOTE_EXTENSIONS};
use starling::tasks::rewrite;
use starling::tone::{InputKind, RuleSet};

use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Draft files or folders (folders are walked, honouring .gitignore and .starlingignore).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// A style from prompts/rewrite (concise, confident, formal, friendly, star) or rewrite.styles_dir.
    #[arg(long)]
    style: String,
    /// Extra instructions for every block, e.g. "keep it under 100 words".
    #[arg(long)]
    instructions: Option<String>,
    /// Write the rewritten files here, mirroring the input tree.
    #[arg(long, value_name = "DIR", conflicts_with = "in_place")]
    out: Option<PathBuf>,
    /// Replace each input (a backup is kept beside it as FILE.bak).
    #[arg(long)]
    in_place: bool,
    /// List each file and what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Files larger than this many bytes are skipped.
    #[arg(long, default_value_t = 1 << 20)]
    max_bytes: u64,
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Files Starling itself leaves beside drafts: backups, temporary files.
fn is_own_file(name: &str) -> bool {
    name.contains(".bak") || (name.starts_with('.') && name.ends_with(".tmp"))
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    // A style that does not exist fails before anything is read.
    let style = starling::prompts::rewrite_style(&args.style, config.styles_dir.as_deref())?;
    if args.out.is_none() && !args.in_place && !args.dry_run {
        anyhow::bail!("say where the results go: --out DIR (inputs untouched) or --in-place (backups kept); --dry-run to preview");
    }
    let out_dir = args.out.as_deref().map(absolute);
    let roots: Vec<PathBuf> = args.paths.iter().map(|p| absolute(p)).collect();
    for root in &roots {
        anyhow::ensure!(
            root.exists(),
            "`{}` does not exist; pass draft files or folders",
            root.display()
        );
        if let Some(out) = &out_dir {
            anyhow::ensure!(
                out != root && !root.starts_with(out),
                "--out `{}` is the input or holds it; choose a folder outside the inputs",
                out.display()
            );
        }
    }
    // Outputs written inside an input folder are not inputs of the next run.
    let found: Vec<FoundFile> = walk_files(&roots, None)?
        .into_iter()
        .filter(|f| {
            out_dir
                .as_ref()
                .is_none_or(|out| !f.absolute.starts_with(out))
        })
        .filter(|f| {
            !f.absolute
                .file_name()
                .is_some_and(|n| is_own_file(&n.to_string_lossy()))
        })
        .collect();

    let job = Journal::job_id(
        &roots,
        &args.style,
        args.instructions.as_deref(),
        out_dir.as_deref(),
    );
    let mut journal = Journal::open(&config.data_dir, &job)?;
    if let Some(out) = &out_dir {
        clean_stale_temporaries(out);
    }

    let rules = RuleSet::load(&config.tone.rules)?;
    let mut generator: Option<Box<dyn Generator>> = None;
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let total = found.len();
    // One step per file; the message says which block of which file and the speed. Drawn on a
    // terminal only (elsewhere each file gets a log line instead).
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("[{pos}/{len}] {wide_msg}")
            .expect("a valid template"),
    );
    let mut tokens = 0usize;
    let mut results: Vec<BatchFile> = Vec::new();
    for (index, file) in found.iter().enumerate() {
        let name = file.relative.clone();
        let is_draft = Path::new(&name)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| NOTE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        // Only drafts are read, and only after their size says they fit (a folder of drafts
        // may also hold videos).
        if !is_draft {
            results.push(BatchFile::new(&name, "skipped").because("not a Markdown or text draft"));
            continue;
        }
        if file.size > args.max_bytes {
            results.push(BatchFile::new(&name, "failed").because(format!(
                "is {} bytes, over the {} byte limit; split it or raise the limit",
                file.size, args.max_bytes
            )));
            continue;
        }
        let bytes = match read_bounded(&file.absolute, args.max_bytes) {
            Ok(bytes) => bytes,
            Err(err) => {
                results.push(
                    BatchFile::new(&name, "failed").because(format!("cannot read it: {err}")),
                );
                continue;
            }
        };
        let text = match files::decode_text(&file.absolute, bytes.clone(), args.max_bytes) {
            Ok(text) => text,
            Err(err) => {
                let message = err.to_string();
                let reason = message
                    .split_once("`: ")
                    .map_or(message.as_str(), |(_, m)| m)
                    .to_string();
                results.push(BatchFile::new(&name, "failed").because(reason));
                continue;
            }
        };
        if text.trim().is_empty() {
            results
                .push(BatchFile::new(&name, "skipped").because("empty (no text, only whitespace)"));
            continue;
        }
        let input_sha = sha256(&bytes);
        let output_path = match &out_dir {
            Some(out) => out.join(&name),
            None => file.absolute.clone(),
        };
        if let Some(entry) = journal.done(&file.absolute, &input_sha, args.in_place) {
            let mut result = BatchFile::new(&name, "already done");
            result.output = Some(entry.output.display().to_string());
            results.push(result);
            continue;
        }
        if args.dry_run {
            let mut result = BatchFile::new(&name, "would rewrite");
            result.output = Some(output_path.display().to_string());
            result.blocks_rewritten = rewrite::prose_blocks(&text).len();
            results.push(result);
            continue;
        }
        if generator.is_none() {
            generator = Some(super::load_generator(config)?);
        }
        let rewriter = Rewriter::new(
            generator.as_deref().expect("loaded"),
            &rules,
            config,
            style.clone(),
            args.instructions.clone(),
        );
        bar.set_position(index as u64);
        let mut progress = |done: usize, blocks: usize| {
            let elapsed = started.elapsed().as_secs_f64();
            let rate = tokens as f64 / elapsed.max(0.001);
            let eta = if index > 0 {
                elapsed / index as f64 * (total - index) as f64
            } else {
                0.0
            };
            bar.set_message(format!(
                "{name}  block {done}/{blocks}  {rate:.0} tok/s  ETA {eta:.0}s"
            ));
        };
        if !terminal {
            eprintln!("rewrite: [{}/{total}] {name}", index + 1);
        }
        let rewritten =
            match rewriter.rewrite(&text, InputKind::for_path(&file.absolute), &mut progress) {
                Ok(rewritten) => rewritten,
                Err(err) => {
                    results.push(
                        BatchFile::new(&name, "failed").because(format!("the model failed: {err}")),
                    );
                    continue;
                }
            };
        tokens += rewritten.tokens_generated;
        let written = (|| -> anyhow::Result<()> {
            if args.in_place {
                files::backup(&file.absolute)?;
            } else if let Some(parent) = output_path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating `{}`", parent.display()))?;
            }
            files::write_atomic(&output_path, rewritten.text.as_bytes())?;
            Ok(())
        })();
        if let Err(err) = written {
            results.push(BatchFile::new(&name, "failed").because(format!("{err:#}")));
            continue;
        }
        journal.record(
            file.absolute.clone(),
            JournalEntry {
                input_sha256: input_sha,
                output_sha256: sha256(rewritten.text.as_bytes()),
                output: output_path.clone(),
            },
        )?;
        let mut result = BatchFile::rewritten(&name, &rewritten);
        result.output = Some(output_path.display().to_string());
        results.push(result);
    }
    bar.finish_and_clear();
    let failed = results.iter().filter(|r| r.status == "failed").count();
    print_summary(&results, args, started.elapsed().as_secs_f64(), tokens)?;
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Temporary files a killed run left in the output tree (never at a final path).
fn clean_stale_temporaries(out: &Path) {
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if name.starts_with('.') && name.contains(".starling-") && name.ends_with(".tmp")
            {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

fn print_summary(
    results: &[BatchFile],
    args: &Args,
    seconds: f64,
    tokens: usize,
) -> anyhow::Result<()> {
    let count = |status: &str| results.iter().filter(|r| r.status == status).count();
    let before: usize = results.iter().filter_map(|r| r.tone_before).sum();
    let after: usize = results.iter().filter_map(|r| r.tone_after).sum();
    if args.json {
        let report = BatchReport::new(results.to_vec(), seconds, tokens);
        return output::print(&format!("{}\n", serde_json::to_string_pretty(&report)?));
    }
    let mut text = String::new();
    for r in results {
        let mut line = format!("{:<14} {}", r.status, r.path);
        if let Some(output) = &r.output {
            line.push_str(&format!(" -> {output}"));
        }
        if let (Some(b), Some(a)) = (r.tone_before, r.tone_after) {
            line.push_str(&format!(
                "  (tone findings {b} -> {a}; blocks rewritten {}, kept {})",
                r.blocks_rewritten, r.blocks_kept
            ));
        }
        if let Some(reason) = &r.reason {
            line.push_str(&format!(": {reason}"));
        }
        text.push_str(&line);
        text.push('\n');
        for kept in &r.kept {
            text.push_str(&format!("               kept {kept}\n"));
        }
    }
    text.push_str(&format!(
        "\n{} rewritten, {} already done, {} skipped, {} failed{}; tone findings {before} -> {after}; {seconds:.1} s\n",
        count("rewritten"),
        count("already done"),
        count("skipped"),
        count("failed"),
        if args.dry_run { format!(", {} would be rewritten", count("would rewrite")) } else { String::new() },
    ));
    output::print(&text)
}
