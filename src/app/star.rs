//! STAR entries around `tasks::star`: the passages a user pins, read from the notes, and the
//! entries over a whole career-ladder rubric (one per section or item, then the strengths and
//! growth areas): `starling star --include/--rubric`, `POST /v1/star` and `/v1/star/rubric`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::backends::{Embedder, Generator, Sampling, VectorStore};
use crate::error::{Error, Result};
use crate::notes::loading::file_under_roots;
use crate::notes::mojibake;
use crate::prompts::Prompt;
use crate::tasks::rubric::Rubric;
use crate::tasks::star::{self, split_pinned_spec, Draft, Outcome, Pinned, StarRequest};

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
    pub fn summary(&self) -> Vec<Value> {
        self.entries
            .iter()
            .map(|entry| {
                json!({
                    "section": entry.label,
                    "level": entry.level(),
                    "best_relevance": entry.best_relevance,
                    "strongest_evidence": entry
                        .draft
                        .as_ref()
                        .and_then(|d| d.cited().first().map(|e| e.location())),
                })
            })
            .collect()
    }

    /// `{"rubric", "entries", "summary"}`: an entry is a draft's JSON, or
    /// `{"competency", "error": "not enough evidence"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "rubric": self.rubric,
            "entries": self.entries.iter().map(|entry| match &entry.draft {
                Some(d) => d.to_json(),
                None => json!({"competency": entry.label, "error": "not enough evidence"}),
            }).collect::<Vec<_>>(),
            "summary": self.summary(),
        })
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
