//! `starling stories QUESTIONS.md`: for each interview question in the file (a table's first
//! column, list and task items), the best stories in the notes with `path:lines` and a summary;
//! questions without a story and stories leaned on by many questions are flagged.

use std::path::PathBuf;
use std::process::ExitCode;

use starling::config::Config;
use starling::files;
use starling::tasks::stories;

use crate::output;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The questions: a Markdown table (first column), bullet or numbered lists, task items.
    questions: PathBuf,
    /// Stories shown per question, best first.
    #[arg(long, default_value_t = 3)]
    k: usize,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// Rank without the model (the ranking never uses it; accepted as `star` and `map` do).
    #[arg(long)]
    no_model: bool,
    #[command(flatten)]
    notes: super::NoteFilterArgs,
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.k > 0, "--k must be at least 1");
    let filter = args.notes.filter()?;
    let text = files::read_text(&args.questions, 4 << 20)?;
    let questions = stories::parse_questions(&text);
    anyhow::ensure!(
        !questions.is_empty(),
        "`{}`: no questions found; put one per table row (first column), list item or task item",
        args.questions.display()
    );
    let (embedder, notes) = super::open_local_notes(config, "stories", "")?;
    let answers = stories::find(&embedder, &notes.store, &questions, args.k, &filter)?;
    let report = match args.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "file": args.questions.display().to_string(),
                "questions": answers,
            }))?
        ),
        Format::Md => stories::to_markdown(&answers),
    };
    output::print(&report)?;
    Ok(ExitCode::SUCCESS)
}
