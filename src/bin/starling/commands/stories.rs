//! `starling stories QUESTIONS.md`: for each interview question in the file (a table's first
//! column, list and task items), the best stories in the notes with `path:lines` and a summary;
//! questions without a story and stories leaned on by many questions are flagged.

use std::path::PathBuf;
use std::process::ExitCode;

use starling::app::stories::{self, StoriesReport, StoriesRequest};
use starling::config::Config;
use starling::files;

use crate::output;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Json,
    /// One self-contained page (no script, nothing fetched).
    Html,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The questions: a Markdown table (first column), bullet or numbered lists, task items;
    /// `-` reads them from stdin.
    questions: PathBuf,
    /// Stories shown per question, best first.
    #[arg(long, default_value_t = 3)]
    k: usize,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// Rank without the model (the ranking never uses it; accepted as `star` and `map` do).
    #[arg(long)]
    no_model: bool,
    /// Also tell each question's best story in STAR form (situation, task, action, result),
    /// every sentence from its notes and cited.
    #[arg(long)]
    star: bool,
    #[command(flatten)]
    notes: super::NoteFilterArgs,
}

/// The largest questions file read.
const MAX_INPUT_BYTES: u64 = 4 << 20;

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (1..=stories::MAX_K).contains(&args.k),
        "--k must be between 1 and {}",
        stories::MAX_K
    );
    args.notes.filter()?;
    let from_stdin = args.questions == std::path::Path::new("-");
    let questions = if from_stdin {
        let stdin = std::path::Path::new("<stdin>");
        let bytes = files::read_limited(stdin, std::io::stdin().lock(), MAX_INPUT_BYTES)?;
        files::decode_text(stdin, bytes, MAX_INPUT_BYTES)?
    } else {
        files::read_text(&args.questions, MAX_INPUT_BYTES)?
    };
    let request = StoriesRequest {
        questions,
        k: Some(args.k),
        path: args.notes.path.clone(),
        since: args.notes.since.clone(),
        until: args.notes.until.clone(),
        no_model: args.no_model,
        star: args.star,
        // As chunks record the file, so that an indexed questions file is no story of its own.
        name: (!from_stdin)
            .then(|| args.questions.canonicalize().ok())
            .flatten()
            .map(|p| p.to_string_lossy().into_owned()),
    };
    let name = if from_stdin {
        "-".to_string()
    } else {
        args.questions.display().to_string()
    };
    let mut report: StoriesReport = match super::open_notes(config, "stories")? {
        super::Notes::Server(server) => server.request("/v1/stories", &request)?,
        super::Notes::Here(embedder, notes) => stories::run(
            &crate::client::context(config, &embedder, &notes),
            &request,
            &name,
        )?,
    };
    report.file = name;
    // JSON carries them in `warnings`; the documents for people get them on stderr.
    if !matches!(args.format, Format::Json) {
        for warning in &report.warnings {
            eprintln!("warning: {warning}");
        }
    }
    let report = match args.format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&report)?),
        Format::Md => report.to_markdown(),
        Format::Html => report.to_html(),
    };
    output::print(&report)?;
    Ok(ExitCode::SUCCESS)
}
