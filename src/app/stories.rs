//! The interview story bank: for each question, the best stories in the notes. `starling
//! stories QUESTIONS.md`, `POST /v1/stories`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{check_date, Context};
use crate::backends::SearchFilter;
use crate::error::{Error, Result};
use crate::notes::index::IndexState;
use crate::notes::loading::relative_path;
use crate::services;
use crate::tasks::stories::{self, Answer};

/// Interview questions: a Markdown table (first column), bullet or numbered lists, task items.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoriesRequest {
    #[schema(pattern = r"[^\s\u0085]")]
    pub questions: String,
    /// Stories per question, best first (default 3, at most 50).
    #[schema(minimum = 1, maximum = 50)]
    pub k: Option<usize>,
    /// Only notes under this folder or file (relative to the note root).
    pub path: Option<String>,
    #[schema(format = Date)]
    pub since: Option<String>,
    #[schema(format = Date)]
    pub until: Option<String>,
    /// Accepted as the command line's `--no-model` is: the ranking never uses the model.
    #[serde(default)]
    pub no_model: bool,
    /// Also tell each question's best story in STAR form (`star` in each answer).
    #[serde(default)]
    pub star: bool,
    /// The questions file's absolute path, when it is one: if it is one of the indexed notes,
    /// it is no story of its own questions. Nothing is read from it.
    pub name: Option<String>,
}

/// The stories for each question. The JSON field names are a contract (`stories --format
/// json`, `/v1/stories`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoriesReport {
    /// The questions file as given, or `-`.
    pub file: String,
    pub questions: Vec<Answer>,
    /// Notes left out, and why: an indexed note that holds these questions word for word (sent
    /// without their file's path) is no story of its own questions.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl StoriesReport {
    pub fn to_markdown(&self) -> String {
        stories::to_markdown(&self.questions)
    }

    /// One self-contained HTML page.
    pub fn to_html(&self) -> String {
        stories::to_html(&self.file, &self.questions)
    }
}

impl StoriesRequest {
    /// The stories per question, after checking the request's values.
    pub fn check(&self) -> Result<usize> {
        let k = self.k.unwrap_or(3);
        if k == 0 || k > MAX_K {
            return Err(Error::invalid(
                "k",
                format!("must be between 1 and {MAX_K}"),
            ));
        }
        check_date("since", &self.since)?;
        check_date("until", &self.until)?;
        Ok(k)
    }
}

/// The indexed notes' paths as chunks name them (relative to their note root), for the links
/// of a questions file.
fn indexed_notes(config: &crate::config::Config) -> Result<Vec<String>> {
    let state = IndexState::load(&services::state_path(config))?;
    let mut bases: std::collections::HashMap<&std::path::Path, std::path::PathBuf> =
        std::collections::HashMap::new();
    Ok(state
        .files
        .iter()
        .map(|(path, record)| {
            // A root that is one file names its note from the folder it sits in.
            let base = bases.entry(record.root.as_path()).or_insert_with(|| {
                if record.root.is_file() {
                    record
                        .root
                        .parent()
                        .map(std::path::Path::to_path_buf)
                        .unwrap_or_default()
                } else {
                    record.root.clone()
                }
            });
            relative_path(base, path)
        })
        .collect())
}

/// The most stories a question may ask for.
pub const MAX_K: usize = 50;

/// The most questions one file or request may hold: each is a search and a judging of its
/// candidates (a few hundred milliseconds), and an interview prep file holds tens.
pub const MAX_QUESTIONS: usize = 500;

/// Finds the stories for the questions of `request.questions`, named `file`.
pub fn run(ctx: &Context, request: &StoriesRequest, file: &str) -> Result<StoriesReport> {
    let k = request.check()?;
    let questions = stories::parse_questions(&request.questions);
    if questions.is_empty() {
        return Err(Error::unusable(
            "questions",
            format!("`{file}`: no questions found; put one per table row (first column), list item or task item"),
        ));
    }
    if questions.len() > MAX_QUESTIONS {
        return Err(Error::unusable(
            "questions",
            format!(
                "`{file}`: {} questions, at most {MAX_QUESTIONS} at a time; split the file",
                questions.len()
            ),
        ));
    }
    // The index record is read only when some question links a note (`[[#heading]]` links
    // point into the questions file).
    let links_a_note = questions
        .iter()
        .flat_map(|q| &q.pinned)
        .any(|pin| !pin.link.starts_with('#'));
    let indexed = if links_a_note {
        indexed_notes(ctx.config)?
    } else {
        Vec::new()
    };
    // Questions sent without their file's path may still be an indexed note: found by their
    // words, that note is left out as the named file is.
    let mut warnings = Vec::new();
    let found = match request.name {
        Some(_) => None,
        None => {
            let texts: Vec<String> = questions.iter().map(|q| q.question.clone()).collect();
            let read = services::note_reader(ctx.config);
            crate::tasks::copies::indexed_copy(ctx.embedder, ctx.store, &texts, &read)?
        }
    };
    if let Some((_, path)) = &found {
        warnings.push(format!(
            "{path} holds these questions, so it is no story of its own; pass the questions file by its path to say so"
        ));
    }
    let questions_file = request
        .name
        .as_deref()
        .or(found.as_ref().map(|(source, _)| source.as_str()));
    let answers = stories::find(
        ctx.embedder,
        ctx.store,
        &questions,
        &stories::Settings {
            k,
            filter: SearchFilter::notes(&request.path, &request.since, &request.until),
            outline: request.star,
            indexed: &indexed,
            questions_file,
        },
    )?;
    Ok(StoriesReport {
        file: file.to_string(),
        questions: answers,
        warnings,
    })
}
