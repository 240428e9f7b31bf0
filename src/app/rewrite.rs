//! Rewriting drafts in a style: one text (`POST /v1/rewrite`) and a batch of them (`starling
//! rewrite PATH...`, `POST /v1/rewrite/batch`), with the journal that lets a batch on disk
//! resume where it stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::backends::{Generator, Sampling};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::files;
use crate::prompts::{rewrite_style, Prompt};
use crate::tasks::rewrite::{self, BlockOutcome, RewriteOptions};
use crate::tone::{CheckOptions, InputKind, RuleSet};

/// A text to rewrite.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RewriteRequest {
    pub text: String,
    /// A style of prompts/rewrite (concise, confident, formal, friendly, star) or rewrite.styles_dir.
    pub style: String,
    /// Extra instructions for every block, e.g. "keep it under 100 words".
    pub instructions: Option<String>,
    /// Answer with server-sent events (`token`, then `done`); the HTTP API only.
    #[serde(default)]
    pub stream: bool,
}

/// The rewritten text. The JSON field names are a contract (`/v1/rewrite`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RewriteAnswer {
    pub text: String,
    pub blocks: Vec<BlockOutcome>,
    /// Tone findings of the rules before and after.
    pub tone_findings_before: usize,
    pub tone_findings_after: usize,
    pub tokens_generated: usize,
}

/// The style a request names, from the built-in ones or `styles_dir`.
pub fn style(name: &str, styles_dir: Option<&Path>) -> Result<Prompt> {
    rewrite_style(name, styles_dir).map_err(|e| Error::invalid("style", e.to_string()))
}

/// What a rewrite runs with.
pub struct Rewriter<'a> {
    pub generator: &'a dyn Generator,
    pub style: Prompt,
    pub options: RewriteOptions,
    pub rules: &'a RuleSet,
    pub config: &'a Config,
}

impl<'a> Rewriter<'a> {
    pub fn new(
        generator: &'a dyn Generator,
        rules: &'a RuleSet,
        config: &'a Config,
        style: Prompt,
        instructions: Option<String>,
    ) -> Self {
        Rewriter {
            generator,
            style,
            options: RewriteOptions {
                instructions,
                sampling: Sampling::greedy(config.generator.seed),
                max_block_bytes: 6000,
            },
            rules,
            config,
        }
    }

    /// The rules' tone findings in `text` (read as `kind`).
    pub fn tone_count(&self, text: &str, kind: InputKind) -> Option<usize> {
        self.rules
            .check(
                text,
                &CheckOptions {
                    kind,
                    profile: self.config.tone.profile.clone(),
                    allow: self.config.tone.allow.clone(),
                },
            )
            .ok()
            .map(|f| f.len())
    }

    /// Rewrites `text` block by block (`on_block(done, blocks)` after each).
    pub fn rewrite(
        &self,
        text: &str,
        kind: InputKind,
        on_block: &mut dyn FnMut(usize, usize),
    ) -> Result<RewriteAnswer> {
        let result = rewrite::rewrite(self.generator, &self.style, text, &self.options, on_block)?;
        Ok(RewriteAnswer {
            tone_findings_before: self.tone_count(text, kind).unwrap_or(0),
            tone_findings_after: self.tone_count(&result.text, kind).unwrap_or(0),
            text: result.text,
            blocks: result.blocks,
            tokens_generated: result.tokens_generated,
        })
    }

    /// Rewrites one draft of a batch, named `name`: skipped when it holds no text, failed
    /// (with why) when the model fails.
    pub fn rewrite_file(
        &self,
        name: &str,
        text: &str,
        kind: InputKind,
    ) -> (BatchFile, Option<RewriteAnswer>) {
        if text.trim().is_empty() {
            return (
                BatchFile::new(name, "skipped").because("empty (no text, only whitespace)"),
                None,
            );
        }
        match self.rewrite(text, kind, &mut |_, _| {}) {
            Ok(answer) => (BatchFile::rewritten(name, &answer), Some(answer)),
            Err(err) => (
                BatchFile::new(name, "failed").because(format!("the model failed: {err}")),
                None,
            ),
        }
    }
}

/// Drafts to rewrite, each named (a path, for the caller's use).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RewriteBatchRequest {
    #[schema(min_items = 1, max_items = 1000)]
    pub files: Vec<BatchInput>,
    pub style: String,
    pub instructions: Option<String>,
}

/// The most drafts one batch request may hold.
pub const MAX_BATCH: usize = 1000;

impl RewriteBatchRequest {
    pub fn check(&self) -> Result<()> {
        if self.files.is_empty() || self.files.len() > MAX_BATCH {
            return Err(Error::invalid(
                "files",
                format!("send 1 to {MAX_BATCH} drafts (more in several requests)"),
            ));
        }
        Ok(())
    }
}

/// One draft of a batch.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    pub name: String,
    pub text: String,
}

/// What happened to one file of a batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchFile {
    pub path: String,
    /// `rewritten`, `already done`, `would rewrite`, `skipped` or `failed`.
    pub status: &'static str,
    /// Where the result was written (the command line), or the rewritten text's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The rewritten text (the HTTP API: nothing is written on the server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub blocks_rewritten: usize,
    pub blocks_kept: usize,
    /// Blocks kept as they were, with why (`line N: reason`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tone_before: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tone_after: Option<usize>,
}

impl BatchFile {
    pub fn new(path: &str, status: &'static str) -> Self {
        BatchFile {
            path: path.to_string(),
            status,
            output: None,
            text: None,
            reason: None,
            blocks_rewritten: 0,
            blocks_kept: 0,
            kept: Vec::new(),
            tone_before: None,
            tone_after: None,
        }
    }

    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// A file rewritten as `answer` says.
    pub fn rewritten(path: &str, answer: &RewriteAnswer) -> Self {
        let mut file = BatchFile::new(path, "rewritten");
        file.blocks_rewritten = answer.blocks.iter().filter(|b| b.rewritten).count();
        file.blocks_kept = answer.blocks.len() - file.blocks_rewritten;
        file.kept = answer
            .blocks
            .iter()
            .filter_map(|b| b.note.as_ref().map(|n| format!("line {}: {n}", b.line)))
            .collect();
        file.tone_before = Some(answer.tone_findings_before);
        file.tone_after = Some(answer.tone_findings_after);
        file
    }
}

/// A batch's summary. The JSON field names are a contract (`rewrite --json`,
/// `/v1/rewrite/batch`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchReport {
    pub files: Vec<BatchFile>,
    pub rewritten: usize,
    pub already_done: usize,
    pub would_rewrite: usize,
    pub skipped: usize,
    pub failed: usize,
    pub tone_findings_before: usize,
    pub tone_findings_after: usize,
    pub seconds: f64,
    pub tokens_generated: usize,
}

impl BatchReport {
    pub fn new(files: Vec<BatchFile>, seconds: f64, tokens_generated: usize) -> Self {
        let count = |status: &str| files.iter().filter(|r| r.status == status).count();
        BatchReport {
            rewritten: count("rewritten"),
            already_done: count("already done"),
            would_rewrite: count("would rewrite"),
            skipped: count("skipped"),
            failed: count("failed"),
            tone_findings_before: files.iter().filter_map(|r| r.tone_before).sum(),
            tone_findings_after: files.iter().filter_map(|r| r.tone_after).sum(),
            seconds,
            tokens_generated,
            files,
        }
    }
}

/// Rewrites every draft of `request` (the HTTP API's batch: texts in, texts out); one that
/// fails never stops the others.
pub fn run_batch(
    generator: &dyn Generator,
    rules: &RuleSet,
    config: &Config,
    request: &RewriteBatchRequest,
) -> Result<BatchReport> {
    request.check()?;
    let started = std::time::Instant::now();
    let rewriter = Rewriter::new(
        generator,
        rules,
        config,
        style(&request.style, config.styles_dir.as_deref())?,
        request.instructions.clone(),
    );
    let mut tokens = 0;
    let mut files = Vec::with_capacity(request.files.len());
    for input in &request.files {
        let kind = InputKind::for_path(Path::new(&input.name));
        let (mut file, answer) = rewriter.rewrite_file(&input.name, &input.text, kind);
        if let Some(answer) = answer {
            tokens += answer.tokens_generated;
            file.text = Some(answer.text);
        }
        files.push(file);
    }
    Ok(BatchReport::new(
        files,
        started.elapsed().as_secs_f64(),
        tokens,
    ))
}

/// One finished file of a batch on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    pub input_sha256: String,
    pub output_sha256: String,
    pub output: PathBuf,
}

/// The journal of one batch job on disk (same inputs, style, instructions and destination):
/// each finished file with its input and output hashes, so a rerun after Ctrl-C or `kill -9`
/// skips what is done and redoes the rest.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Journal {
    pub version: u32,
    pub job: String,
    pub finished: BTreeMap<PathBuf, JournalEntry>,
    #[serde(skip)]
    path: PathBuf,
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

impl Journal {
    /// The job's id: its inputs, style, instructions and destination (`None`: in place).
    pub fn job_id(
        roots: &[PathBuf],
        style: &str,
        instructions: Option<&str>,
        out: Option<&Path>,
    ) -> String {
        let mut hasher = Sha256::new();
        for root in roots {
            hasher.update(root.to_string_lossy().as_bytes());
            hasher.update([0]);
        }
        hasher.update(style.as_bytes());
        hasher.update([0]);
        hasher.update(instructions.unwrap_or_default().as_bytes());
        hasher.update([0]);
        match out {
            Some(out) => hasher.update(out.to_string_lossy().as_bytes()),
            None => hasher.update(b"--in-place"),
        }
        format!("{:x}", hasher.finalize())[..16].to_string()
    }

    /// The journal of `job` in the data dir, or a new one.
    pub fn open(data_dir: &Path, job: &str) -> Result<Self> {
        let folder = data_dir.join("rewrite");
        let path = folder.join(format!("journal-{job}.json"));
        let mut journal = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|_| Error::Input {
                path: path.clone(),
                message: "the rewrite journal is unreadable; remove it to start the job over"
                    .into(),
            })?,
            Err(_) => Journal {
                version: 1,
                job: job.to_string(),
                ..Default::default()
            },
        };
        std::fs::create_dir_all(&folder)
            .map_err(|e| Error::io(format!("creating `{}`", folder.display()), e))?;
        // A run killed while saving the journal leaves its temporary copy behind.
        let temporary = format!(".journal-{job}.json.starling-");
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&temporary) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        journal.path = path;
        Ok(journal)
    }

    /// Whether `file` (now hashing `input_sha`) was finished by an earlier run whose output is
    /// still there as written.
    pub fn done(&self, file: &Path, input_sha: &str, in_place: bool) -> Option<&JournalEntry> {
        let entry = self.finished.get(file)?;
        let done = if in_place {
            entry.output_sha256 == input_sha
        } else {
            entry.input_sha256 == input_sha
                && std::fs::read(&entry.output).is_ok_and(|b| sha256(&b) == entry.output_sha256)
        };
        done.then_some(entry)
    }

    /// Records `file` as finished and saves the journal (atomically).
    pub fn record(&mut self, file: PathBuf, entry: JournalEntry) -> Result<()> {
        self.finished.insert(file, entry);
        let bytes = serde_json::to_vec_pretty(self).expect("the journal serialises");
        files::write_atomic(&self.path, &bytes)
    }
}
