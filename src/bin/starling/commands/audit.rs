//! `starling audit FILE...|-`: the achievement claims of each draft checked against the notes:
//! supported, contradicted (with the differing values) or unsupported; formats like `tone`,
//! `--fail-on` for a pre-send hook.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use starling::app::{self, audit::AuditReport, audit::AuditRequest};
use starling::config::Config;
use starling::tasks::audit::{self, Claim, Verdict};
use starling::tone::{InputKind, LineIndex};

use super::tone::Format;
use crate::output;

/// Drafts larger than this are refused with a message.
const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Contradicted,
    Unsupported,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Markdown or text drafts; `-` reads standard input.
    files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Exit 1 when a claim is contradicted (or, with `unsupported`, contradicted or unsupported).
    #[arg(long, value_enum)]
    fail_on: Option<FailOn>,
    /// Audit without the model (the audit never uses it; accepted as `star` and `map` do).
    #[arg(long)]
    no_model: bool,
    #[command(flatten)]
    notes: super::NoteFilterArgs,
}

struct FileAudit {
    source: String,
    report: AuditReport,
}

fn read_input(path: &Path) -> anyhow::Result<(String, String, InputKind)> {
    if path == Path::new("-") {
        let stdin = Path::new("<stdin>");
        let bytes = starling::files::read_limited(stdin, std::io::stdin().lock(), MAX_INPUT_BYTES)?;
        let text = starling::files::decode_text(stdin, bytes, MAX_INPUT_BYTES)?;
        return Ok(("-".into(), text, InputKind::Markdown));
    }
    if path.is_dir() {
        anyhow::bail!(
            "`{}` is a folder; pass the drafts to audit (e.g. `{}/*.md`)",
            path.display(),
            path.display()
        );
    }
    let text = starling::files::read_text(path, MAX_INPUT_BYTES)?;
    Ok((path.display().to_string(), text, InputKind::for_path(path)))
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    if args.files.is_empty() {
        anyhow::bail!("no input: pass the drafts to audit, or `-` to read standard input");
    }
    // The dates, checked before any work.
    args.notes.filter()?;
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for path in &args.files {
        match read_input(path) {
            Ok(input) => inputs.push(input),
            Err(err) => errors.push(format!("{err:#}")),
        }
    }
    let mut audits = Vec::new();
    if !inputs.is_empty() {
        let notes = super::open_notes(config, "audit")?;
        for (name, source, _) in inputs {
            // The draft's absolute path: its kind by extension, and never its own evidence
            // when it is one of the indexed notes (here or on the server).
            let file = (name != "-")
                .then(|| Path::new(&name).canonicalize().ok())
                .flatten()
                .map(|p| p.to_string_lossy().into_owned());
            let request = AuditRequest {
                text: source,
                path: args.notes.path.clone(),
                since: args.notes.since.clone(),
                until: args.notes.until.clone(),
                no_model: args.no_model,
                name: file,
            };
            let mut report: AuditReport = match &notes {
                super::Notes::Server(server) => server.request("/v1/audit", &request)?,
                super::Notes::Here(embedder, notes) => {
                    app::audit::run(&crate::client::context(config, embedder, notes), &request)?
                }
            };
            report.file = name;
            audits.push(FileAudit {
                source: request.text,
                report,
            });
        }
    }

    let rendered = match args.format {
        Format::Json => {
            let files: Vec<serde_json::Value> = audits.iter().map(|a| json!(a.report)).collect();
            let value = if files.len() == 1 {
                files.into_iter().next().expect("one")
            } else {
                serde_json::Value::Array(files)
            };
            format!("{}\n", serde_json::to_string_pretty(&value)?)
        }
        Format::Line => render_lines(&audits),
        Format::Human => render_human(
            &audits,
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        ),
        Format::Sarif => format!(
            "{}\n",
            serde_json::to_string_pretty(&render_sarif(&audits))?
        ),
    };
    output::print(&rendered)?;
    // The line format is one claim per line for scripts: what they should know goes to stderr.
    if matches!(args.format, Format::Line) {
        for warning in audits.iter().flat_map(|a| &a.report.warnings) {
            eprintln!("warning: {warning}");
        }
    }
    for error in &errors {
        eprintln!("error: {error}");
    }
    if !errors.is_empty() {
        return Ok(ExitCode::from(2));
    }
    let failing = audits
        .iter()
        .flat_map(|a| &a.report.claims)
        .any(|c| match args.fail_on {
            Some(FailOn::Contradicted) => c.verdict == Verdict::Contradicted,
            Some(FailOn::Unsupported) => c.verdict != Verdict::Supported,
            None => false,
        });
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn reason(claim: &Claim) -> String {
    match claim.verdict {
        Verdict::Contradicted => claim
            .differences
            .iter()
            .map(audit::describe)
            .collect::<Vec<_>>()
            .join("; "),
        Verdict::Supported => claim.evidence.first().map_or(String::new(), |q| {
            format!("backed by {}:{}", q.path, q.line_start)
        }),
        Verdict::Unsupported if !claim.missing_figures.is_empty() && !claim.evidence.is_empty() => {
            format!(
                "the closest notes ({}:{}) hold no {}",
                claim.evidence[0].path,
                claim.evidence[0].line_start,
                claim.missing_figures.join(", ")
            )
        }
        Verdict::Unsupported => "nothing in the notes backs it".into(),
    }
}

fn render_lines(audits: &[FileAudit]) -> String {
    let mut out = String::new();
    for a in audits {
        for c in &a.report.claims {
            out.push_str(&format!(
                "{}:{}:{}: {}: {} [{}]\n",
                a.report.file,
                c.line,
                c.column,
                c.verdict.name(),
                reason(c),
                one_line(&c.text)
            ));
        }
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn render_human(audits: &[FileAudit], color: bool) -> String {
    let paint = |code: &str, text: &str| starling::tone::report::paint(color, code, text);
    let mut out = String::new();
    for a in audits {
        for warning in &a.report.warnings {
            out.push_str(&format!("{}: {warning}\n\n", paint("1;33", "warning")));
        }
        for c in &a.report.claims {
            let (code, label) = match c.verdict {
                Verdict::Contradicted => ("1;31", "contradicted"),
                Verdict::Unsupported => ("1;33", "unsupported"),
                Verdict::Supported => ("1;32", "supported"),
            };
            out.push_str(&format!("{}: {}\n", paint(code, label), reason(c)));
            let gutter = c.line.to_string().len();
            out.push_str(&format!(
                "{:gutter$}--> {}:{}:{}\n",
                "", a.report.file, c.line, c.column
            ));
            let line_text = a.source.lines().nth(c.line - 1).unwrap_or_default();
            out.push_str(&format!("{:gutter$} |\n{} | {}\n", "", c.line, line_text));
            for quote in c.evidence.iter().take(2) {
                out.push_str(&format!(
                    "{:gutter$} = notes: {}:{}: {}\n",
                    "", quote.path, quote.line_start, quote.quote
                ));
            }
            out.push('\n');
        }
        let n = |v: Verdict| a.report.claims.iter().filter(|c| c.verdict == v).count();
        out.push_str(&format!(
            "{}: {} claim(s): {} supported, {} contradicted, {} unsupported\n",
            a.report.file,
            a.report.claims.len(),
            n(Verdict::Supported),
            n(Verdict::Contradicted),
            n(Verdict::Unsupported)
        ));
    }
    out
}

fn render_sarif(audits: &[FileAudit]) -> serde_json::Value {
    let results: Vec<serde_json::Value> = audits
        .iter()
        .flat_map(|a| {
            let lines = LineIndex::new(&a.source);
            a.report.claims.iter().map(move |c| {
                let (end_line, end_column) = lines.position(c.end);
                json!({
                    "ruleId": c.verdict.name(),
                    "level": match c.verdict {
                        Verdict::Contradicted => "error",
                        Verdict::Unsupported => "warning",
                        Verdict::Supported => "note",
                    },
                    "message": {"text": reason(c)},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {"uri": a.report.file},
                        "region": {"startLine": c.line, "startColumn": c.column,
                                   "endLine": end_line, "endColumn": end_column},
                    }}],
                })
            })
        })
        .collect();
    // Notes left out as evidence (a copy of the draft) are the run's notifications.
    let notifications: Vec<serde_json::Value> = audits
        .iter()
        .flat_map(|a| {
            a.report.warnings.iter().map(|w| {
                json!({
                    "level": "warning",
                    "message": {"text": w},
                    "locations": [{"physicalLocation": {"artifactLocation": {"uri": a.report.file}}}],
                })
            })
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "starling-audit",
                "rules": [
                    {"id": "contradicted", "shortDescription": {"text": "The notes state a different value"}},
                    {"id": "unsupported", "shortDescription": {"text": "Nothing in the notes backs the claim"}},
                    {"id": "supported", "shortDescription": {"text": "The notes back the claim"}},
                ],
            }},
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}
