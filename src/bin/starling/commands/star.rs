//! `starling star`: a STAR entry (or one per rubric section with --rubric) drafted from the
//! indexed notes, every sentence cited. Asks for the competency and lets the user untick or
//! pin evidence when a person is at the terminal; never prompts otherwise.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use starling::app;
use starling::app::star::{
    read_pinned, RubricDrafts, StarAnswer, StarDraftRequest, StarRubricRequest,
};
use starling::backends::{Embedder, Generator, Sampling, VectorStore};
use starling::config::Config;
use starling::prompts::Prompt;
use starling::tasks::rubric;
use starling::tasks::star::{self, Draft, Evidence, Outcome};

use crate::output;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Json,
    Table,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The competency to write about, e.g. "Ownership of production incidents".
    #[arg(long)]
    competency: Option<String>,
    /// What the entry is for, to sharpen the search (e.g. "promotion to senior").
    #[arg(long)]
    context: Option<String>,
    /// Only notes dated on or after YYYY-MM-DD.
    #[arg(long)]
    since: Option<String>,
    /// Only notes dated on or before YYYY-MM-DD.
    #[arg(long)]
    until: Option<String>,
    /// Only notes under this folder or file (relative to the note root).
    #[arg(long)]
    path: Option<String>,
    /// Pin a note (or lines of it) as evidence: PATH or PATH:START-END (repeatable).
    #[arg(long, value_name = "PATH[:LINES]")]
    include: Vec<String>,
    /// Never use notes under this path as evidence (repeatable).
    #[arg(long, value_name = "PATH")]
    exclude: Vec<String>,
    /// Evidence items at most (1-50).
    #[arg(short, default_value_t = 6)]
    k: usize,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// Print the extractive draft (sentences from the notes, cited) without the model.
    #[arg(long)]
    no_model: bool,
    /// Skip the prompts (competency, evidence review).
    #[arg(long)]
    yes: bool,
    /// Draft one entry per section of this career-ladder rubric (Markdown or TOML).
    #[arg(long, conflicts_with = "competency")]
    rubric: Option<PathBuf>,
    /// List the N best candidate stories (their notes and what ties them) and stop.
    #[arg(long, value_name = "N", conflicts_with = "rubric")]
    stories: Option<usize>,
    /// Draft the K-th candidate story (1 = the best; see --stories).
    #[arg(long, value_name = "K", default_value_t = 1)]
    story: usize,
    /// With --rubric: one entry per item instead of per section.
    #[arg(long, requires = "rubric")]
    per_item: bool,
}

fn ask(question: &str) -> anyhow::Result<String> {
    let mut stderr = std::io::stderr();
    write!(stderr, "{question}")?;
    stderr.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// Shows the evidence and lets the user untick items (numbers), pin notes (`+PATH[:LINES]`) or
/// switch to another candidate story (`sK`: returns its index).
fn review(
    evidence: &mut Vec<Evidence>,
    roots: &[PathBuf],
    stories: usize,
) -> anyhow::Result<Option<usize>> {
    let mut ticked: Vec<bool> = vec![true; evidence.len()];
    loop {
        eprintln!("\nEvidence found:");
        for (index, item) in evidence.iter().enumerate() {
            let first = item.text.lines().next().unwrap_or_default();
            let first: String = first.chars().take(70).collect();
            eprintln!(
                "  [{}] {:>2}. {}  {}  {first}",
                if ticked[index] { "x" } else { " " },
                index + 1,
                item.id,
                item.location()
            );
        }
        let answer = ask(
            "Untick or tick by number (e.g. 2 5), pin a note with +PATH[:LINES], Enter to draft: ",
        )?;
        if answer.is_empty() {
            break;
        }
        for word in answer.split_whitespace() {
            if let Some(k) = word
                .strip_prefix('s')
                .and_then(|k| k.parse::<usize>().ok())
                .filter(|k| (1..=stories).contains(k))
            {
                return Ok(Some(k - 1));
            }
            if let Some(spec) = word.strip_prefix('+') {
                match read_pinned(spec, roots) {
                    Ok(pinned) => {
                        evidence.push(Evidence {
                            id: String::new(),
                            path: pinned.path,
                            line_start: pinned.line_start,
                            line_end: pinned.line_end,
                            heading: String::new(),
                            text: pinned.text,
                            relevance: 1.0,
                            pinned: true,
                        });
                        ticked.push(true);
                    }
                    Err(err) => eprintln!("  {err:#}"),
                }
            } else if let Some(n) = word
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=ticked.len()).contains(n))
            {
                ticked[n - 1] = !ticked[n - 1];
            } else {
                eprintln!("  `{word}`: expected an item number or +PATH[:LINES]");
            }
        }
    }
    let mut index = 0;
    evidence.retain(|_| {
        index += 1;
        ticked[index - 1]
    });
    for (index, item) in evidence.iter_mut().enumerate() {
        item.id = format!("E{}", index + 1);
    }
    Ok(None)
}

struct Engines<'a> {
    embedder: &'a dyn Embedder,
    store: &'a dyn VectorStore,
    generator: Option<(&'a dyn Generator, &'a Prompt, &'a Sampling)>,
}

fn not_enough(competency: &str, closest: &[Evidence]) -> String {
    let mut text = format!(
        "not enough evidence in the notes for \"{competency}\" (no passage reached similarity {:.2}).\n",
        star::RELEVANCE
    );
    if !closest.is_empty() {
        text.push_str("Closest notes:\n");
        for item in closest {
            text.push_str(&format!(
                "  {}  {:.2}  {}\n",
                item.location(),
                item.relevance,
                item.text.lines().next().unwrap_or_default()
            ));
        }
    }
    text.push_str(
        "Add notes about it and run `starling index`, or pin one with --include PATH[:LINES].\n",
    );
    text
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (1..=app::star::MAX_K).contains(&args.k),
        "-k must be between 1 and {}",
        app::star::MAX_K
    );
    super::check_date("--since", &args.since)?;
    super::check_date("--until", &args.until)?;
    let interactive =
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !args.yes;
    let (rubric, rubric_text) = match &args.rubric {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("reading the rubric `{}`", path.display()))?;
            let text = String::from_utf8(bytes).map_err(|_| {
                anyhow::anyhow!(
                    "the rubric `{}` is not UTF-8 text; convert it to UTF-8 first",
                    path.display()
                )
            })?;
            (Some(rubric::parse(path, &text)?), Some(text))
        }
        None => (None, None),
    };
    let competency = match (&args.competency, &rubric) {
        (Some(c), _) if !c.trim().is_empty() => Some(c.trim().to_string()),
        (_, Some(_)) => None,
        _ if interactive => {
            let answer = ask("Competency to write about: ")?;
            anyhow::ensure!(!answer.is_empty(), "no competency given");
            Some(answer)
        }
        _ => anyhow::bail!(
            "--competency is required (or --rubric FILE); e.g. --competency \"Incident ownership\""
        ),
    };
    let roots = config.notes.paths.clone();
    let pin = |spec: &str| read_pinned(spec, &roots);
    let draft_request = StarDraftRequest {
        competency: competency.clone().unwrap_or_default(),
        context: args.context.clone(),
        since: args.since.clone(),
        until: args.until.clone(),
        path: args.path.clone(),
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        k: Some(args.k),
        story: Some(args.story),
        stories: args.stories,
        no_model: args.no_model,
        stream: false,
    };
    let rubric_request = rubric_text.map(|text| {
        let name = args.rubric.as_ref().and_then(|p| p.file_name());
        let name = name.map(|n| n.to_string_lossy().into_owned());
        StarRubricRequest::like(&draft_request, text, name, args.per_item)
    });
    // The pins are read before anything is opened: a wrong path fails at once.
    let base = match &rubric_request {
        Some(request) => request.task(&pin),
        None => draft_request.task(&pin),
    }
    .context("--include")?;

    let (embedder, notes) = match super::open_notes(config, "star")? {
        super::Notes::Server(server) => {
            if let Some(request) = &rubric_request {
                let answer =
                    server.call("/v1/star/rubric", Some(&serde_json::to_value(request)?))?;
                return print_rubric_answer(&answer, args.format);
            }
            let answer = server.call("/v1/star", Some(&serde_json::to_value(&draft_request)?))?;
            if args.stories.is_some() {
                let stories: Vec<star::Story> = serde_json::from_value(answer["stories"].clone())
                    .context("the server's candidate stories")?;
                return print_stories(&stories, args.format);
            }
            return print_answer(&answer, args.format);
        }
        super::Notes::Here(embedder, notes) => (embedder, notes),
    };
    let ctx = crate::client::context(config, &embedder, &notes);
    let generator = if args.no_model || args.stories.is_some() {
        None
    } else {
        Some(super::load_generator(config)?)
    };
    let prompt = Prompt::load("star", config.prompts_dir.as_deref())?;
    let sampling = Sampling::greedy(config.generator.seed);
    let engines = Engines {
        embedder: &embedder,
        store: notes.store.as_ref(),
        generator: generator.as_ref().map(|g| (g.as_ref(), &prompt, &sampling)),
    };

    if let Some(rubric) = rubric {
        let drafts =
            app::star::run_rubric(&ctx, generator.as_deref(), &rubric, &base, args.per_item)?;
        return print_rubric(&drafts, args.format);
    }
    if let Some(n) = args.stories {
        let stories = app::star::candidate_stories(&ctx, &base, n)?;
        return print_stories(&stories, args.format);
    }
    let mut request = base;
    let mut gathered = star::gather(engines.embedder, engines.store, &request)?;
    while interactive && !gathered.evidence.is_empty() {
        if gathered.stories.len() > 1 {
            eprintln!("\nCandidate stories (type sK to draft story K instead):");
            for (index, story) in gathered.stories.iter().take(5).enumerate() {
                eprintln!(
                    "  {}s{}. {} ({:.2})",
                    if index == gathered.chosen { "*" } else { " " },
                    index + 1,
                    story.notes.join(" + "),
                    story.score
                );
            }
        }
        match review(
            &mut gathered.evidence,
            &config.notes.paths,
            gathered.stories.len(),
        )? {
            Some(story) => {
                request.story = story;
                gathered = star::gather(engines.embedder, engines.store, &request)?;
            }
            None => break,
        }
    }
    match star::draft_from(engines.embedder, gathered, engines.generator, &request)? {
        Outcome::NotEnoughEvidence { closest } => {
            eprint!("{}", not_enough(&request.competency, &closest));
            if args.format == Format::Json {
                let outcome = Outcome::NotEnoughEvidence { closest };
                output::print(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&StarAnswer::new(&outcome, &request.competency))?
                ))?;
            }
            Ok(ExitCode::from(1))
        }
        Outcome::Draft(draft) => {
            print_draft(&draft, args.format)?;
            for warning in &draft.warnings {
                eprintln!("warning: {warning}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--stories N`: the candidate stories, best first.
fn print_stories(shown: &[star::Story], format: Format) -> anyhow::Result<ExitCode> {
    if format == Format::Json {
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&StarAnswer::Stories(app::star::CandidateStories {
                stories: shown.to_vec()
            }))?
        ))?;
    } else {
        for (index, story) in shown.iter().enumerate() {
            output::print(&format!(
                "{}. {} ({:.2}){}\n",
                index + 1,
                story.notes.join(" + "),
                story.score,
                if story.ties.is_empty() {
                    String::new()
                } else {
                    format!("\n   tied by: {}", story.ties.join("; "))
                }
            ))?;
        }
        if shown.is_empty() {
            output::print("no story in the notes fits this competency\n")?;
        }
    }
    Ok(if shown.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints a draft that came back from the server as JSON (`to_json` carries every format).
fn print_answer(answer: &serde_json::Value, format: Format) -> anyhow::Result<ExitCode> {
    if answer["error"] == "not enough evidence" {
        let closest: Vec<Evidence> =
            serde_json::from_value(answer["closest"].clone()).unwrap_or_default();
        eprint!(
            "{}",
            not_enough(answer["competency"].as_str().unwrap_or_default(), &closest)
        );
        if format == Format::Json {
            output::print(&format!("{}\n", serde_json::to_string_pretty(answer)?))?;
        }
        return Ok(ExitCode::from(1));
    }
    match format {
        Format::Json => output::print(&format!("{}\n", serde_json::to_string_pretty(answer)?))?,
        Format::Md => output::print(answer["markdown"].as_str().unwrap_or_default())?,
        Format::Table => output::print(&format!(
            "{}\n{}\n",
            star::TABLE_HEADER,
            answer["table_row"].as_str().unwrap_or_default()
        ))?,
    }
    for warning in answer["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", warning.as_str().unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_draft(draft: &Draft, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Md => output::print(&draft.to_markdown()),
        Format::Json => output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&draft.report())?
        )),
        Format::Table => output::print(&format!(
            "{}\n{}\n",
            star::TABLE_HEADER,
            draft.to_table_row()
        )),
    }
}

/// One entry per rubric section (or item), then the strengths and growth areas summary.
fn print_rubric(drafts: &RubricDrafts, format: Format) -> anyhow::Result<ExitCode> {
    match format {
        Format::Json => output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&drafts.report(false))?
        ))?,
        Format::Md => output::print(&drafts.to_text(false))?,
        Format::Table => output::print(&drafts.to_text(true))?,
    }
    for warning in drafts.warnings() {
        eprintln!("warning: {warning}");
    }
    Ok(if drafts.any_draft() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Prints a rubric's entries that came back from the server (which renders every format).
fn print_rubric_answer(answer: &serde_json::Value, format: Format) -> anyhow::Result<ExitCode> {
    match format {
        Format::Json => {
            let mut value = answer.clone();
            if let Some(object) = value.as_object_mut() {
                object.remove("markdown");
                object.remove("table");
            }
            output::print(&format!("{}\n", serde_json::to_string_pretty(&value)?))?
        }
        Format::Md => output::print(answer["markdown"].as_str().unwrap_or_default())?,
        Format::Table => output::print(answer["table"].as_str().unwrap_or_default())?,
    }
    let mut any = false;
    for entry in answer["entries"].as_array().into_iter().flatten() {
        any |= entry["error"].is_null();
        let label = entry["competency"].as_str().unwrap_or_default();
        for warning in entry["warnings"].as_array().into_iter().flatten() {
            eprintln!("warning: {label}: {}", warning.as_str().unwrap_or_default());
        }
    }
    Ok(if any {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
