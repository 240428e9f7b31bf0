//! `starling generate`: one chat turn with the local model, streamed to stdout; with
//! `--json-schema`, a validated JSON value instead.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use starling::app::{self, generate::TextRequest};
use starling::config::Config;

use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The prompt; `-` reads it from standard input.
    prompt: String,
    /// System message.
    #[arg(long)]
    system: Option<String>,
    /// Most tokens to generate (default: generator.max_tokens).
    #[arg(long)]
    max_tokens: Option<u32>,
    /// 0 = greedy and deterministic (default: generator.temperature).
    #[arg(long)]
    temperature: Option<f32>,
    /// Sampling seed (default: generator.seed).
    #[arg(long)]
    seed: Option<u32>,
    #[arg(long)]
    top_p: Option<f32>,
    #[arg(long)]
    min_p: Option<f32>,
    #[arg(long)]
    repeat_penalty: Option<f32>,
    /// Stop before this text (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Constrain the answer to this JSON Schema; prints the validated JSON.
    #[arg(long, value_name = "FILE")]
    json_schema: Option<PathBuf>,
    /// Print token counts and speeds to stderr at the end.
    #[arg(long)]
    stats: bool,
}

/// The request the flags describe; the flags' own checks say which flag is wrong.
fn request(
    args: &Args,
    prompt: String,
    json_schema: Option<serde_json::Value>,
) -> anyhow::Result<TextRequest> {
    let within = |value: Option<f32>, range: std::ops::RangeInclusive<f32>| {
        value.is_none_or(|v| range.contains(&v))
    };
    anyhow::ensure!(
        within(args.temperature, 0.0..=2.0),
        "--temperature must be between 0 and 2"
    );
    anyhow::ensure!(
        within(args.top_p, 0.0..=1.0),
        "--top-p must be between 0 and 1"
    );
    anyhow::ensure!(
        within(args.min_p, 0.0..=1.0),
        "--min-p must be between 0 and 1"
    );
    anyhow::ensure!(
        args.repeat_penalty.is_none_or(|p| p > 0.0),
        "--repeat-penalty must be above 0 (1 = off)"
    );
    anyhow::ensure!(
        args.max_tokens
            .is_none_or(|n| (1..=app::generate::MAX_TOKENS).contains(&n)),
        "--max-tokens must be between 1 and {}",
        app::generate::MAX_TOKENS
    );
    Ok(TextRequest {
        prompt,
        system: args.system.clone(),
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        top_p: args.top_p,
        min_p: args.min_p,
        repeat_penalty: args.repeat_penalty,
        seed: args.seed,
        stop: args.stop.clone(),
        json_schema,
        stream: false,
    })
}

/// The longest prompt read from standard input (far beyond any model's context).
const MAX_PROMPT_BYTES: u64 = 4 * 1024 * 1024;

fn read_schema(path: &PathBuf) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read schema file `{}`", path.display()))?;
    let schema = serde_json::from_str(&text).with_context(|| {
        format!(
            "schema file `{}` is not valid JSON; fix it and rerun",
            path.display()
        )
    })?;
    starling::structured::check_schema(&schema)
        .with_context(|| format!("schema file `{}`", path.display()))?;
    Ok(schema)
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    let prompt = if args.prompt == "-" {
        // Bounded: a prompt is at most a context's worth of text, never a whole stream.
        let stdin = std::path::Path::new("<stdin>");
        let bytes =
            starling::files::read_limited(stdin, std::io::stdin().lock(), MAX_PROMPT_BYTES)?;
        starling::files::decode_text(stdin, bytes, MAX_PROMPT_BYTES)?
    } else {
        args.prompt.clone()
    };
    anyhow::ensure!(
        !prompt.trim().is_empty(),
        "the prompt is empty; pass some text or `-` with input on stdin"
    );
    let schema = args.json_schema.as_ref().map(read_schema).transpose()?;
    let structured = schema.is_some();
    let request = request(args, prompt, schema)?;
    // The settings fill in what the flags leave out (and pass the same checks).
    request.sampling(&config.generator)?;
    let generator = super::load_generator(config)?;
    let mut write_error = None;
    let (answer, generation) = app::generate::run(
        generator.as_ref(),
        &request,
        &config.generator,
        &mut |piece| {
            if write_error.is_none() {
                if let Err(err) = output::print(piece) {
                    write_error = Some(err);
                }
            }
        },
    )
    .map_err(|err| match err {
        starling::Error::UnparseableOutput { .. } => {
            anyhow::Error::new(err).context("structured generation failed")
        }
        err => err.into(),
    })?;
    if let Some(err) = write_error {
        return Err(err);
    }
    match answer.json.filter(|_| structured) {
        Some(value) => output::print(&format!("{}\n", serde_json::to_string_pretty(&value)?))?,
        None => output::print("\n")?,
    }
    if args.stats {
        let tokens_per_second = |n: usize, ms: f64| {
            if ms > 0.0 {
                n as f64 * 1000.0 / ms
            } else {
                0.0
            }
        };
        eprintln!(
            "model {}: prompt {} tokens ({} cached) in {:.0} ms, first token at {:.0} ms, {} tokens generated at {:.1} tokens/s, stop: {:?}",
            generator.model_name(),
            generation.n_prompt_tokens,
            generation.n_cached_tokens,
            generation.prompt_ms,
            generation.first_token_ms,
            generation.n_generated_tokens,
            tokens_per_second(generation.n_generated_tokens, generation.generation_ms),
            generation.stop_reason
        );
    }
    Ok(ExitCode::SUCCESS)
}
