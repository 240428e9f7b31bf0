//! STAR entries around `tasks::star`: the passages a user pins, read from the notes, and the
//! entries over a whole career-ladder rubric (one per section or item, then the strengths and
//! growth areas): `starling star --include/--rubric`, `POST /v1/star` and `/v1/star/rubric`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{check_date, check_text, Context};
use crate::backends::{Embedder, Generator, Sampling, SearchFilter, VectorStore};
use crate::error::{Error, RequestError, Result};
use crate::notes::loading::file_under_roots;
use crate::notes::mojibake;
use crate::prompts::Prompt;
use crate::tasks::rubric::Rubric;
use crate::tasks::star::{self, split_pinned_spec, Draft, Outcome, Pinned, StarRequest};

/// The most evidence items an entry may draw on.
pub const MAX_K: usize = 50;

/// The furthest candidate story a request may name or list.
pub const MAX_STORIES: usize = 1000;

/// A STAR entry to draft for one competency.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StarDraftRequest {
    /// The competency to write about, e.g. "Ownership of production incidents".
    #[schema(pattern = r"[^\s\u0085]")]
    pub competency: String,
    /// What the entry is for, to sharpen the search (e.g. "promotion to senior").
    pub context: Option<String>,
    #[schema(format = Date)]
    pub since: Option<String>,
    #[schema(format = Date)]
    pub until: Option<String>,
    /// Only notes under this folder or file (relative to the note root).
    pub path: Option<String>,
    /// Pinned passages: `PATH` or `PATH:START-END`, under a note root.
    #[serde(default)]
    pub include: Vec<String>,
    /// Never use notes under these paths as evidence.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Evidence items at most (default 6, at most 50).
    #[schema(minimum = 0, maximum = 50)]
    pub k: Option<usize>,
    /// Which candidate story to draft (1 = the best).
    #[schema(minimum = 0, maximum = 1000)]
    pub story: Option<usize>,
    /// List this many of the best candidate stories (`{"stories": [...]}`) instead of drafting.
    #[schema(minimum = 0, maximum = 1000)]
    pub stories: Option<usize>,
    /// The extractive draft (sentences from the notes, cited), without the model.
    #[serde(default)]
    pub no_model: bool,
    /// Answer with server-sent events (`token`, then `done`); the HTTP API only.
    #[serde(default)]
    pub stream: bool,
}

/// One STAR entry per section (or item) of a career-ladder rubric.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StarRubricRequest {
    /// The career-ladder rubric: Markdown, or TOML / YAML when `rubric_name` ends so.
    #[schema(pattern = r"[^\s\u0085]")]
    pub rubric: String,
    /// The rubric's file name: its format by extension, and its title when it has none.
    pub rubric_name: Option<String>,
    /// One entry per item instead of per section.
    #[serde(default)]
    pub per_item: bool,
    pub context: Option<String>,
    #[schema(format = Date)]
    pub since: Option<String>,
    #[schema(format = Date)]
    pub until: Option<String>,
    pub path: Option<String>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[schema(minimum = 0, maximum = 50)]
    pub k: Option<usize>,
    #[serde(default)]
    pub no_model: bool,
    #[serde(default)]
    pub stream: bool,
}

/// Reads a pinned passage spec (`PATH[:START[-END]]`).
pub type PinReader<'a> = &'a dyn Fn(&str) -> Result<Pinned>;

/// What the HTTP API may pin: a file under a note root (else not found, 404); a file that is
/// there but cannot be pinned as asked is a bad request.
pub fn pin_under(spec: &str, roots: &[PathBuf]) -> Result<Pinned> {
    let (path, _) = split_pinned_spec(spec);
    if file_under_roots(Path::new(path), roots).is_none() {
        return Err(Error::Request {
            field: "include",
            message: format!("`{spec}`: no such file under the note roots; give a path relative to a note root that stays inside it"),
            kind: RequestError::NotFound,
        });
    }
    read_pinned_under(spec, roots).map_err(|e| Error::invalid("include", e.to_string()))
}

/// The filters, pins and exclusions both requests share, as the task's request.
#[allow(clippy::too_many_arguments)]
fn task_request(
    competency: String,
    context: &Option<String>,
    since: &Option<String>,
    until: &Option<String>,
    path: &Option<String>,
    include: &[String],
    exclude: &[String],
    k: Option<usize>,
    story: Option<usize>,
    pin: PinReader,
) -> Result<StarRequest> {
    check_date("since", since)?;
    check_date("until", until)?;
    if k.is_some_and(|k| k > MAX_K) {
        return Err(Error::invalid("k", format!("at most {MAX_K}")));
    }
    if story.is_some_and(|n| n > MAX_STORIES) {
        return Err(Error::invalid("story", format!("at most {MAX_STORIES}")));
    }
    Ok(StarRequest {
        competency,
        context: context.clone(),
        filter: SearchFilter::notes(path, since, until),
        include: include
            .iter()
            .map(|spec| pin(spec))
            .collect::<Result<_>>()?,
        exclude: exclude.to_vec(),
        k: k.unwrap_or(6).clamp(1, MAX_K),
        story: story.unwrap_or(1).max(1) - 1,
    })
}

impl StarDraftRequest {
    /// The task's request, with the pinned passages read by `pin`.
    pub fn task(&self, pin: PinReader) -> Result<StarRequest> {
        check_text("competency", &self.competency)?;
        if self.stories.is_some_and(|n| n > MAX_STORIES) {
            return Err(Error::invalid("stories", format!("at most {MAX_STORIES}")));
        }
        task_request(
            self.competency.trim().to_string(),
            &self.context,
            &self.since,
            &self.until,
            &self.path,
            &self.include,
            &self.exclude,
            self.k,
            self.story,
            pin,
        )
    }
}

impl StarRubricRequest {
    /// The rubric-wide request with the filters, pins and exclusions of `like`.
    pub fn like(
        like: &StarDraftRequest,
        rubric: String,
        rubric_name: Option<String>,
        per_item: bool,
    ) -> Self {
        StarRubricRequest {
            rubric,
            rubric_name,
            per_item,
            context: like.context.clone(),
            since: like.since.clone(),
            until: like.until.clone(),
            path: like.path.clone(),
            include: like.include.clone(),
            exclude: like.exclude.clone(),
            k: like.k,
            no_model: like.no_model,
            stream: like.stream,
        }
    }

    /// The filters, pins and exclusions every entry shares (its competency is the entry's).
    pub fn task(&self, pin: PinReader) -> Result<StarRequest> {
        task_request(
            String::new(),
            &self.context,
            &self.since,
            &self.until,
            &self.path,
            &self.include,
            &self.exclude,
            self.k,
            None,
            pin,
        )
    }

    /// The rubric, parsed (its name decides the format).
    pub fn rubric(&self) -> Result<Rubric> {
        super::parse_rubric(&self.rubric, self.rubric_name.as_deref())
    }
}

/// The model, its STAR prompt and greedy sampling, when a generator is given.
fn with_prompt<'a>(
    ctx: &Context,
    generator: Option<&'a dyn Generator>,
) -> Result<Option<(&'a dyn Generator, Prompt, Sampling)>> {
    generator
        .map(|g| {
            Ok((
                g,
                Prompt::load("star", ctx.config.prompts_dir.as_deref())?,
                Sampling::greedy(ctx.config.generator.seed),
            ))
        })
        .transpose()
}

/// Drafts the entry (with the model when one is given).
pub fn run(
    ctx: &Context,
    generator: Option<&dyn Generator>,
    request: &StarRequest,
) -> Result<Outcome> {
    let model = with_prompt(ctx, generator)?;
    star::run(
        ctx.embedder,
        ctx.store,
        model.as_ref().map(|(g, p, s)| (*g, p, s)),
        request,
    )
}

/// Not enough evidence for a competency: the closest passages, for the user to judge.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotEnoughEvidence {
    pub competency: String,
    /// Always `not enough evidence`.
    pub error: String,
    pub closest: Vec<star::Evidence>,
}

/// The answer to a draft request (`star --format json`, `/v1/star`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StarAnswer {
    Draft(Box<star::DraftReport>),
    NotEnoughEvidence(NotEnoughEvidence),
    Stories(CandidateStories),
}

/// `stories: N`: the best candidate stories, best first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateStories {
    pub stories: Vec<star::Story>,
}

impl StarAnswer {
    pub fn new(outcome: &Outcome, competency: &str) -> Self {
        match outcome {
            Outcome::Draft(draft) => StarAnswer::Draft(Box::new(draft.report())),
            Outcome::NotEnoughEvidence { closest } => {
                StarAnswer::NotEnoughEvidence(NotEnoughEvidence {
                    competency: competency.to_string(),
                    error: "not enough evidence".into(),
                    closest: closest.clone(),
                })
            }
        }
    }
}

/// The `n` best candidate stories for the request's competency, best first.
pub fn candidate_stories(
    ctx: &Context,
    request: &StarRequest,
    n: usize,
) -> Result<Vec<star::Story>> {
    let mut stories = star::gather(ctx.embedder, ctx.store, request)?.stories;
    stories.truncate(n);
    Ok(stories)
}

/// One entry per section (or item) of the rubric.
pub fn run_rubric(
    ctx: &Context,
    generator: Option<&dyn Generator>,
    rubric: &Rubric,
    base: &StarRequest,
    per_item: bool,
) -> Result<RubricDrafts> {
    let model = with_prompt(ctx, generator)?;
    draft_rubric(
        ctx.embedder,
        ctx.store,
        model.as_ref().map(|(g, p, s)| (*g, p, s)),
        rubric,
        base,
        per_item,
    )
}

/// Reads `PATH[:START[-END]]` for the command line's --include: the path as given (relative
/// to the working directory), else under a note root.
pub fn read_pinned(spec: &str, roots: &[PathBuf]) -> Result<Pinned> {
    let (path, lines) = split_pinned_spec(spec);
    let file = std::iter::once(PathBuf::from(path))
        .chain(roots.iter().map(|root| root.join(path)))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Input {
            path: spec.into(),
            message: "no such file here or under the note roots".into(),
        })?;
    read_pinned_at(spec, &file, path, lines)
}

/// Like `read_pinned`, but only a file under a note root, never above it: what the HTTP API
/// may read. The path is canonicalised and checked against the canonicalised roots, and the
/// checked path is the one opened.
pub fn read_pinned_under(spec: &str, roots: &[PathBuf]) -> Result<Pinned> {
    let (path, lines) = split_pinned_spec(spec);
    let file = file_under_roots(Path::new(path), roots).ok_or_else(|| Error::Input {
        path: spec.into(),
        message: "no such file under the note roots; give a path relative to a note root that stays inside it".into(),
    })?;
    read_pinned_at(spec, &file, path, lines)
}

fn read_pinned_at(spec: &str, file: &Path, path: &str, lines: Option<&str>) -> Result<Pinned> {
    let bytes = std::fs::read(file).map_err(|e| Error::Input {
        path: file.into(),
        message: format!("cannot read it: {e}"),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| Error::Input {
        path: file.into(),
        message: "not UTF-8 text; convert it to UTF-8 first".into(),
    })?;
    let (text, _) = mojibake::repair(&text);
    let total = text.lines().count().max(1);
    let (start, end) = match lines {
        None => (1, total),
        Some(range) => {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let parse = |s: &str| s.parse::<usize>().ok().filter(|&n| n >= 1);
            match (parse(a), parse(b)) {
                (Some(a), Some(b)) if a <= b && b <= total => (a, b),
                _ => {
                    return Err(Error::Input {
                        path: spec.into(),
                        message: format!(
                            "lines must be START-END within 1-{total}, e.g. {path}:3-12"
                        ),
                    })
                }
            }
        }
    };
    let body = text
        .lines()
        .skip(start - 1)
        .take(end - start + 1)
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Pinned {
        path: path.to_string(),
        line_start: start,
        line_end: end,
        text: body,
    })
}

/// One section's (or item's) entry.
#[derive(Debug, Clone)]
pub struct RubricEntry {
    /// The section title, or the item's text with `per_item`.
    pub label: String,
    /// None: not enough evidence in the notes.
    pub draft: Option<Draft>,
    /// The best similarity of any passage found for it (pinned passages aside).
    pub best_relevance: f32,
}

impl RubricEntry {
    /// "strength", "some evidence" or "growth area".
    pub fn level(&self) -> &'static str {
        match self.draft {
            Some(_) if self.best_relevance >= star::STRONG => "strength",
            Some(_) => "some evidence",
            None => "growth area",
        }
    }
}

/// One row of the strengths and growth areas.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SummaryRow {
    pub section: String,
    /// `strength`, `some evidence` or `growth area`.
    pub level: String,
    pub best_relevance: f32,
    /// `path:start-end` of the first cited passage.
    pub strongest_evidence: Option<String>,
}

/// One entry of a rubric's answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RubricEntryAnswer {
    Draft(Box<star::DraftReport>),
    NotEnoughEvidence { competency: String, error: String },
}

/// The STAR entries of a whole rubric (`star --rubric --format json`, `/v1/star/rubric`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RubricReport {
    pub rubric: String,
    pub entries: Vec<RubricEntryAnswer>,
    pub summary: Vec<SummaryRow>,
    /// The whole document as Markdown (the HTTP API's answer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
    /// The whole document as one STAR table (the HTTP API's answer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
}

/// Every entry of a rubric, in the rubric's order.
#[derive(Debug, Clone)]
pub struct RubricDrafts {
    pub rubric: String,
    pub entries: Vec<RubricEntry>,
}

/// Drafts one entry per section of `rubric` (per item with `per_item`), each searched with the
/// section's title and items; `base` carries the filters, pins and exclusions for all of them.
pub fn draft_rubric(
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    generator: Option<(&dyn Generator, &Prompt, &Sampling)>,
    rubric: &Rubric,
    base: &StarRequest,
    per_item: bool,
) -> Result<RubricDrafts> {
    let mut targets: Vec<(String, String)> = Vec::new(); // (label, competency text for retrieval)
    for section in &rubric.sections {
        if per_item {
            for item in &section.items {
                targets.push((
                    item.text.clone(),
                    format!("{}: {}", section.title, item.text),
                ));
            }
        } else {
            let items: Vec<&str> = section.items.iter().map(|i| i.text.as_str()).collect();
            targets.push((
                section.title.clone(),
                format!("{}: {}", section.title, items.join("; ")),
            ));
        }
    }
    let mut entries = Vec::with_capacity(targets.len());
    for (label, query) in targets {
        let request = StarRequest {
            competency: query,
            ..base.clone()
        };
        let gathered = star::gather(embedder, store, &request)?;
        let best_relevance = gathered
            .evidence
            .iter()
            .chain(&gathered.closest)
            .filter(|e| !e.pinned)
            .map(|e| e.relevance)
            .fold(0.0, f32::max);
        let draft = match star::draft_from(embedder, gathered, generator, &request)? {
            Outcome::Draft(mut draft) => {
                draft.competency = label.clone();
                Some(draft)
            }
            Outcome::NotEnoughEvidence { .. } => None,
        };
        entries.push(RubricEntry {
            label,
            draft,
            best_relevance,
        });
    }
    Ok(RubricDrafts {
        rubric: rubric.title.clone(),
        entries,
    })
}

impl RubricDrafts {
    /// Whether any entry has a draft (the command line exits 1 when none has).
    pub fn any_draft(&self) -> bool {
        self.entries.iter().any(|e| e.draft.is_some())
    }

    /// The strengths and growth areas, one row per entry.
    pub fn summary(&self) -> Vec<SummaryRow> {
        self.entries
            .iter()
            .map(|entry| SummaryRow {
                section: entry.label.clone(),
                level: entry.level().to_string(),
                best_relevance: entry.best_relevance,
                strongest_evidence: entry
                    .draft
                    .as_ref()
                    .and_then(|d| d.cited().first().map(|e| e.location())),
            })
            .collect()
    }

    /// `star --rubric --format json`: every entry (a draft, or not enough evidence) and the
    /// summary; with `documents`, the whole document as `markdown` and `table` too (the HTTP
    /// API's answer).
    pub fn report(&self, documents: bool) -> RubricReport {
        RubricReport {
            rubric: self.rubric.clone(),
            entries: self
                .entries
                .iter()
                .map(|entry| match &entry.draft {
                    Some(d) => RubricEntryAnswer::Draft(Box::new(d.report())),
                    None => RubricEntryAnswer::NotEnoughEvidence {
                        competency: entry.label.clone(),
                        error: "not enough evidence".into(),
                    },
                })
                .collect(),
            summary: self.summary(),
            markdown: documents.then(|| self.to_text(false)),
            table: documents.then(|| self.to_text(true)),
        }
    }

    /// The whole document: every entry (as Markdown sections, or as rows of one STAR table),
    /// then the strengths and growth areas.
    pub fn to_text(&self, table: bool) -> String {
        let mut text = String::new();
        if table {
            text.push_str(star::TABLE_HEADER);
            text.push('\n');
        }
        for entry in &self.entries {
            let label = &entry.label;
            match (&entry.draft, table) {
                (Some(d), true) => text.push_str(&format!("{}\n", d.to_table_row())),
                (Some(d), false) => text.push_str(&format!(
                    "{}\n",
                    d.to_markdown()
                        .replacen("# ", "## ", 1)
                        .replace("\n## ", "\n### ")
                )),
                (None, true) => text.push_str(&format!(
                    "| {label} | _not enough evidence_ | | | | Gather evidence first. |\n"
                )),
                (None, false) => text.push_str(&format!(
                    "## {label}\n\n_Not enough evidence in the notes._\n\n"
                )),
            }
        }
        text.push_str("\n## Strengths and growth areas\n\n| Section | Evidence | Strongest evidence |\n| --- | --- | --- |\n");
        for entry in &self.entries {
            let strongest = entry
                .draft
                .as_ref()
                .and_then(|d| d.cited().first().map(|e| e.location()));
            text.push_str(&format!(
                "| {} | {} | {} |\n",
                entry.label,
                entry.level(),
                strongest.as_deref().unwrap_or("—"),
            ));
        }
        text
    }

    /// Each entry's warnings, prefixed with its label.
    pub fn warnings(&self) -> Vec<String> {
        self.entries
            .iter()
            .flat_map(|entry| {
                entry
                    .draft
                    .iter()
                    .flat_map(|d| &d.warnings)
                    .map(move |w| format!("{}: {w}", entry.label))
            })
            .collect()
    }
}
