//! `starling train`: refits the learned layers from the labelled data in the repository
//! (`tone`: data/tone/*.jsonl → rules/tone-classifier.json and its word scores
//! rules/tone-classifier.bin; `star-parts`: data/star/parts.jsonl →
//! rules/star-parts.json). Deterministic: the same data and embedder give the same file, which
//! `--check` verifies instead of writing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use starling::config::Config;
use starling::learn::Training;
use starling::services;
use starling::tone::{classifier, RuleSet};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The tone classifier.
    Tone(Args),
    /// The STAR part classifier.
    StarParts(Args),
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The labelled data: a .jsonl file or a folder of them (default: data/tone or data/star).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where to write the model (default: the file the build compiles in).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Do not write: exit 1 when retraining does not reproduce the file.
    #[arg(long)]
    check: bool,
    /// Texts whose longer words get word vectors of their own (tone): every .md file and every
    /// `text` of a .jsonl file under this folder, but for its `heldout/` sets (measuring sticks,
    /// never training data).
    #[arg(long, default_value = "data")]
    corpus: PathBuf,
}

/// The texts of `root`'s Markdown files and .jsonl `text` fields, in path order. A missing or
/// unreadable folder is an error: another corpus trains other weights.
fn read_corpus(root: &Path) -> anyhow::Result<Vec<String>> {
    if !root.is_dir() {
        anyhow::bail!(
            "the corpus folder `{}` does not exist; pass --corpus with a folder of .md / .jsonl \
             files (default: data, run from the repository root)",
            root.display()
        );
    }
    let mut files = Vec::new();
    // Every file, hidden or ignored ones too, through links: the shipped weights were trained
    // on all of them. The held-out evaluation sets (`data/heldout`) are not training data.
    let heldout = root.join("heldout");
    for entry in ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .follow_links(true)
        .filter_entry(move |e| e.path() != heldout)
        .build()
    {
        let entry =
            entry.with_context(|| format!("reading the corpus folder `{}`", root.display()))?;
        let path = entry.path();
        if entry.file_type().is_some_and(|t| t.is_file())
            && path.extension().is_some_and(|e| e == "md" || e == "jsonl")
        {
            files.push(path.to_path_buf());
        }
    }
    files.sort();
    let mut texts = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading `{}`", file.display()))?;
        if file.extension().is_some_and(|e| e == "md") {
            texts.push(text);
            continue;
        }
        for line in text.lines() {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(line) {
                if let Some(text) = value["text"].as_str() {
                    texts.push(text.to_string());
                }
            }
        }
    }
    Ok(texts)
}

/// Every line of the .jsonl files under `path`, in file-name order.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let mut files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)
            .with_context(|| format!("reading `{}`", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    files.sort();
    anyhow::ensure!(
        !files.is_empty(),
        "no .jsonl files in `{}`; pass --data",
        path.display()
    );
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading `{}`", file.display()))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            out.push(serde_json::from_str(line).with_context(|| {
                format!(
                    "`{}` line {}: not a labelled example",
                    file.display(),
                    n + 1
                )
            })?);
        }
    }
    Ok(out)
}

/// Writes each file, or with `check` verifies that each holds what retraining gave.
fn finish(files: &[(PathBuf, Vec<u8>)], check: bool) -> anyhow::Result<ExitCode> {
    if check {
        for (out, bytes) in files {
            if std::fs::read(out).ok().as_ref() != Some(bytes) {
                eprintln!(
                    "`{}` differs from a retrain; run `starling train` and commit it",
                    out.display()
                );
                return Ok(ExitCode::from(1));
            }
            eprintln!("`{}` reproduces", out.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    for (out, bytes) in files {
        starling::files::write_atomic(out, bytes)
            .with_context(|| format!("writing `{}`", out.display()))?;
        eprintln!("wrote `{}`", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(config: &Config, command: &Command) -> anyhow::Result<ExitCode> {
    let embedder =
        services::open_embedder(config, starling::backends::fastembed::Workload::Training)?;
    match command {
        Command::Tone(args) => {
            let data = args.data.clone().unwrap_or_else(|| "data/tone".into());
            let examples: Vec<classifier::Example> = read_jsonl(&data)?;
            let rules = RuleSet::load(&[])?;
            // Whole labelled documents beside the sentences set how often each problem occurs
            // in a real script (`classifier::train`'s thresholds).
            let documents = std::path::Path::new(&data).join("scripts/truth.json");
            let prevalence = match std::fs::read_to_string(&documents) {
                Ok(text) => {
                    let value: serde_json::Value = serde_json::from_str(&text)
                        .with_context(|| format!("`{}` is not JSON", documents.display()))?;
                    Some(classifier::document_prevalence(&value).with_context(|| {
                        format!(
                            "`{}` is not a list of labelled documents (each with `sentences`, \
                             their `labels`, and `neutral_sentences`)",
                            documents.display()
                        )
                    })?)
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
                Err(err) => {
                    return Err(err).with_context(|| format!("reading `{}`", documents.display()))
                }
            };
            let vocabulary = starling::tone::tokens::Vocabulary::load(&config.embedder.dir)?;
            let corpus = read_corpus(&args.corpus)?;
            let model = classifier::train(
                &rules,
                &embedder,
                &vocabulary,
                &examples,
                &corpus,
                &classifier::TRAINING,
                prevalence.as_deref(),
            )?;
            eprintln!("{}", serde_json::to_string_pretty(&model.validation)?);
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| "rules/tone-classifier.json".into());
            let words = model
                .words
                .as_ref()
                .context("training gave no word scores")?;
            finish(
                &[
                    (out.with_extension("bin"), words.to_bytes()),
                    (out, (serde_json::to_string(&model)? + "\n").into_bytes()),
                ],
                args.check,
            )
        }
        Command::StarParts(args) => {
            let data = args
                .data
                .clone()
                .unwrap_or_else(|| "data/star/parts.jsonl".into());
            let examples: Vec<starling::tasks::parts::Example> = read_jsonl(&data)?;
            let model = starling::tasks::parts::train(&embedder, &examples, &Training::default())?;
            eprintln!("{}", serde_json::to_string_pretty(&model.validation)?);
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| "rules/star-parts.json".into());
            finish(
                &[(out, (serde_json::to_string(&model)? + "\n").into_bytes())],
                args.check,
            )
        }
    }
}
