//! `starling tone`: rule findings (and with --deep, model findings) for each input, in the
//! chosen format; `--fix` rewrites flagged sentences and shows a diff; exit codes for hooks.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use starling::app;
use starling::backends::{Generator, Sampling};
use starling::config::Config;
use starling::tone::report::{self, FileReport};
use starling::tone::{CheckOptions, InputKind, RuleSet, Severity};

use crate::output;

/// Inputs larger than this are refused with a message (a tone check is for messages and scripts).
const MAX_INPUT_BYTES: u64 = 20 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Line,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Markdown or text files; `-` (or nothing, with piped input) reads standard input.
    files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Severity profile: pip-response, manager-meeting, email, self-review (default: tone.profile).
    #[arg(long)]
    profile: Option<String>,
    /// Exit 1 when a finding is at or above this level (default: tone.fail_on).
    #[arg(long, value_name = "LEVEL")]
    fail_on: Option<String>,
    /// Also ask the local model to review each passage.
    #[arg(long)]
    deep: bool,
    /// Rewrite the flagged sentences with the model and show a diff.
    #[arg(long)]
    fix: bool,
    /// With --fix: write the result into the file (a backup is kept beside it).
    #[arg(long, requires = "fix")]
    in_place: bool,
    /// Rules alone, without the learned classifier (no embedding model is loaded: faster).
    #[arg(long)]
    rules_only: bool,
    /// Extra rule file (repeatable), added to tone.rules.
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
}

struct Input {
    name: String,
    path: Option<PathBuf>,
    text: String,
}

fn read_inputs(args: &Args) -> (Vec<Input>, Vec<String>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    let mut paths = args.files.clone();
    if paths.is_empty() {
        paths.push(PathBuf::from("-"));
    }
    for path in paths {
        if path == Path::new("-") {
            let stdin = Path::new("<stdin>");
            match starling::files::read_limited(stdin, std::io::stdin().lock(), MAX_INPUT_BYTES)
                .and_then(|bytes| starling::files::decode_text(stdin, bytes, MAX_INPUT_BYTES))
            {
                Ok(text) => inputs.push(Input {
                    name: "-".into(),
                    path: None,
                    text,
                }),
                Err(err) => errors.push(err.to_string()),
            }
            continue;
        }
        if path.is_dir() {
            errors.push(format!(
                "`{}` is a folder; pass the files to check (e.g. `{}/*.md`)",
                path.display(),
                path.display()
            ));
            continue;
        }
        match starling::files::read_text(&path, MAX_INPUT_BYTES) {
            Ok(text) => inputs.push(Input {
                name: path.display().to_string(),
                path: Some(path),
                text,
            }),
            Err(err) => errors.push(err.to_string()),
        }
    }
    (inputs, errors)
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    if args.files.is_empty() && std::io::stdin().is_terminal() {
        anyhow::bail!("no input: pass files to check, or `-` to read standard input");
    }
    if args.in_place && args.files.iter().any(|p| p == Path::new("-")) {
        anyhow::bail!("--in-place cannot write to standard input; pass file paths");
    }
    let profile = args
        .profile
        .clone()
        .unwrap_or_else(|| config.tone.profile.clone());
    let fail_on_name = args
        .fail_on
        .clone()
        .unwrap_or_else(|| config.tone.fail_on.clone());
    let fail_on = Severity::from_id(&fail_on_name)
        .with_context(|| format!("--fail-on `{fail_on_name}`: use info, warning or error"))?;
    let mut rule_files = config.tone.rules.clone();
    rule_files.extend(args.rules.iter().cloned());
    let rules = RuleSet::load(&rule_files)?;
    if profile != "default" && !rules.profile_names().contains(&profile) {
        anyhow::bail!(
            "unknown profile `{profile}`; use one of {}",
            rules.profile_names().join(", ")
        );
    }

    let (inputs, mut errors) = read_inputs(args);
    let generator: Option<Box<dyn Generator>> = if (args.deep || args.fix) && !inputs.is_empty() {
        Some(super::load_generator(config)?)
    } else {
        None
    };
    // The learned layer needs the embedder's tokenizer; without it the rules still run.
    let vocabulary = if args.rules_only || inputs.is_empty() {
        None
    } else {
        match starling::services::open_vocabulary(config) {
            Ok(vocabulary) => Some(vocabulary),
            Err(err) => {
                eprintln!(
                    "warning: {err}; checking with the rules alone (--rules-only to silence this)"
                );
                None
            }
        }
    };

    let checker = app::tone::Checker {
        rules: &rules,
        vocabulary: vocabulary.as_ref(),
        generator: generator.as_deref(),
        prompts_dir: config.prompts_dir.as_deref(),
        sampling: Sampling::greedy(config.generator.seed),
        profile: profile.clone(),
        allow: config.tone.allow.clone(),
    };
    let mut reports = Vec::new();
    // The model review's warnings, per input.
    let mut warnings: Vec<Vec<String>> = Vec::new();
    let mut fixes = Vec::new();
    let mut fixed_text = String::new();
    for input in &inputs {
        let kind = input
            .path
            .as_deref()
            .map_or(InputKind::Markdown, InputKind::for_path);
        let request = app::tone::ToneRequest {
            text: input.text.clone(),
            profile: Some(profile.clone()),
            deep: args.deep,
            fix: args.fix,
        };
        let checked = checker.check(&request, &input.name, kind)?;
        for warning in &checked.warnings {
            eprintln!("warning: {}: {warning}", input.name);
        }
        warnings.push(checked.warnings);
        let mut findings = checked.findings;
        if let Some(mut fix) = checked.fix {
            if args.in_place && fix.text != input.text {
                let path = input
                    .path
                    .as_ref()
                    .expect("checked: no --in-place on stdin");
                let backup = starling::files::backup(path)?;
                starling::files::write_atomic(path, fix.text.as_bytes())?;
                fix.backup = Some(backup);
                // What the file now holds.
                findings = rules
                    .check(
                        &fix.text,
                        &CheckOptions {
                            kind,
                            profile: profile.clone(),
                            allow: config.tone.allow.clone(),
                        },
                    )
                    .map_err(anyhow::Error::msg)?;
            }
            let rejected: Vec<String> = fix
                .changes
                .iter()
                .filter(|c| !c.accepted)
                .map(|c| format!("kept {:?}: {}", c.before, c.note.as_deref().unwrap_or("")))
                .collect();
            fixed_text.push_str(&fix.diff);
            fixed_text.push_str(&format!(
                "{}: findings before {}, after {} ({} sentence(s) rewritten, {} kept){}\n",
                input.name,
                fix.findings_before,
                fix.findings_after,
                fix.changes.iter().filter(|c| c.accepted).count(),
                rejected.len(),
                fix.backup.as_ref().map_or(String::new(), |b| format!(
                    "; written in place, original saved as {}",
                    b.display()
                ))
            ));
            for line in &rejected {
                fixed_text.push_str(&format!("  {line}\n"));
            }
            fixes.push(fix);
        }
        reports.push(FileReport {
            file: input.name.clone(),
            source: input.text.clone(),
            findings,
        });
    }

    let rendered = match args.format {
        Format::Human => {
            let color = match args.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            let mut text = report::render_human(&reports, color);
            if args.fix {
                text.push('\n');
                text.push_str(&fixed_text);
            }
            text
        }
        Format::Line => {
            let mut text = report::render_lines(&reports);
            if args.fix {
                text.push_str(&fixed_text);
            }
            text
        }
        Format::Json => {
            let files: Vec<app::tone::ToneReport> = reports
                .iter()
                .zip(&warnings)
                .map(|(r, w)| {
                    let mut report = app::tone::ToneReport::new(&r.file, &r.findings);
                    report.warnings = w.clone();
                    report
                })
                .collect();
            let mut value = json!(files);
            if args.fix {
                value = json!({"files": value, "fixes": fixes});
            }
            format!("{}\n", serde_json::to_string_pretty(&value)?)
        }
        Format::Sarif => {
            let descriptions: Vec<(String, String, String)> = rules
                .rules()
                .iter()
                .map(|r| (r.id.clone(), r.category.id().to_string(), r.message.clone()))
                .collect();
            format!(
                "{}\n",
                serde_json::to_string_pretty(&report::render_sarif(&reports, &descriptions))?
            )
        }
    };
    output::print(&rendered)?;
    for error in &errors {
        eprintln!("error: {error}");
    }
    if !errors.is_empty() {
        errors.clear();
        return Ok(ExitCode::from(2));
    }
    let failing = reports
        .iter()
        .flat_map(|r| r.findings.iter())
        .any(|f| f.severity >= fail_on);
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
