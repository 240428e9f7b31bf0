//! The `starling` command line: parses flags, loads the configuration, runs one subcommand and
//! maps the outcome to an exit code (0 ok, 1 ran and found problems, 2 error).

mod client;
mod commands;
mod http;
mod lsp;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};
use starling::config::{Config, ConfigInputs};

/// Local-first writing assistant for career documents.
#[derive(Debug, Parser)]
#[command(name = "starling", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (default: $XDG_CONFIG_HOME/starling/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (default: $XDG_DATA_HOME/starling).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Model cache filled by scripts/setup.sh.
    #[arg(long, global = true, value_name = "DIR")]
    models_dir: Option<PathBuf>,
    /// GGUF model for generation: a file (any llama.cpp model) or the name of a local model
    /// listed by `starling models` (Ollama, Hugging Face cache, LM Studio, GPT4All); with
    /// --generator-url, the server's model.
    #[arg(long, global = true, value_name = "PATH|NAME")]
    model: Option<PathBuf>,
    /// Generate through this local OpenAI-compatible server instead of the GGUF in process,
    /// e.g. http://127.0.0.1:11434 (Ollama), :8080 (llama-server), :1234 (LM Studio).
    #[arg(long, global = true, value_name = "URL")]
    generator_url: Option<String>,
    /// Accept a --generator-url that is not on this machine (prompts hold note text).
    #[arg(long, global = true)]
    allow_remote_model: bool,
    /// CPU threads for generation (0 = physical cores).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<String>,
    /// Layers to offload to the GPU (cuda builds).
    #[arg(long, global = true, value_name = "N")]
    gpu_layers: Option<String>,
    /// Set any configuration key, e.g. --set generator.context_size=8192.
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Where the note store lives: edge (embedded, in the data dir) or qdrant (a Qdrant server
    /// or cluster at --store-url).
    #[arg(long, global = true, value_name = "edge|qdrant")]
    store: Option<String>,
    /// The Qdrant server's gRPC address, e.g. http://127.0.0.1:6334; selects --store qdrant.
    #[arg(long, global = true, value_name = "URL")]
    store_url: Option<String>,
    /// Send store commands (index, search, star, map) through this running server, e.g.
    /// http://127.0.0.1:8765 (they go through a server that holds the store anyway).
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,
    /// More log output (-v info, -vv debug, including llama.cpp's own lines).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate text with the local model, streamed to stdout.
    Generate(commands::generate::Args),
    /// Index note folders into the local store.
    Index(commands::index::Args),
    /// Search the indexed notes (dense + BM25).
    Search(commands::search::Args),
    /// What the index holds: roots, files, chunks, skipped and repaired files.
    Status(commands::status::Args),
    /// Check tone: hedging, defensiveness, blame-shifting and more.
    Tone(commands::tone::Args),
    /// Draft a STAR entry (Situation, Task, Action, Result) from the notes, every sentence cited.
    Star(commands::star::Args),
    /// Map notes to a career-ladder rubric: each item's evidence, its strength, and the gaps.
    Map(commands::map::Args),
    /// Interview prep: the best stories in the notes for each question, and the questions with none.
    Stories(commands::stories::Args),
    /// Check a draft's claims against the notes: supported, contradicted or unsupported.
    Audit(commands::audit::Args),
    /// Rewrite drafts (files or whole folders) in a style; resumable, inputs never lost.
    Rewrite(commands::rewrite::Args),
    /// Serve the local HTTP API for editor plugins (loopback, bearer token).
    Serve(commands::serve::Args),
    /// Language server for editors (stdio): tone diagnostics, quick fixes, evidence from the notes.
    Lsp(lsp::Args),
    /// Print the HTTP API's bearer token (created on first use).
    Token,
    /// Check model files, ONNX Runtime and the data directory.
    Doctor,
    /// List the configured models, then the GGUF models found locally, with what their files say.
    Models(commands::models::Args),
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(commands::config::Command),
    /// The note store: copy the index between the embedded store and a Qdrant server.
    #[command(subcommand)]
    Store(commands::store::Command),
    /// Refit the learned layers (tone classifier, STAR part classifier) from data/ in the repo.
    #[command(subcommand)]
    Train(commands::train::Command),
    /// Measurements for scripts/bench.sh (JSON).
    #[command(subcommand, hide = true)]
    Bench(commands::bench::Command),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Cli {
    fn config_inputs(&self) -> anyhow::Result<ConfigInputs> {
        let mut inputs = ConfigInputs::from_process();
        inputs.file = self.config.clone();
        let mut flag = |key: &str, value: String, name: &str| {
            inputs.flags.push((key.into(), value, name.into()))
        };
        if let Some(dir) = &self.data_dir {
            flag("data_dir", dir.display().to_string(), "--data-dir");
        }
        if let Some(dir) = &self.models_dir {
            flag("models_dir", dir.display().to_string(), "--models-dir");
        }
        if let Some(model) = &self.model {
            flag("generator.model", model.display().to_string(), "--model");
        }
        if let Some(url) = &self.generator_url {
            flag("generator.url", url.clone(), "--generator-url");
            flag("generator.backend", "openai".into(), "--generator-url");
        }
        if let Some(url) = &self.store_url {
            flag("store.url", url.clone(), "--store-url");
            if self.store.is_none() {
                flag("store.backend", "qdrant".into(), "--store-url");
            }
        }
        if let Some(store) = &self.store {
            flag("store.backend", store.clone(), "--store");
        }
        if let Some(threads) = &self.threads {
            flag("generator.threads", threads.clone(), "--threads");
        }
        if let Some(layers) = &self.gpu_layers {
            flag("generator.gpu_layers", layers.clone(), "--gpu-layers");
        }
        for pair in &self.set {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("--set `{pair}`: expected KEY=VALUE, e.g. --set generator.seed=7")
            })?;
            flag(key.trim(), value.trim().to_string(), "--set");
        }
        Ok(inputs)
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,llama_cpp_2=off,qdrant_edge=error,ort=error",
        1 => "info,llama_cpp_2=warn,qdrant_edge=warn",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STARLING_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    if let Command::Completions { shell } = &cli.command {
        use clap::CommandFactory;
        clap_complete::generate(
            *shell,
            &mut Cli::command(),
            "starling",
            &mut std::io::stdout(),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut config = Config::load(&cli.config_inputs()?)?;
    // Only ever from the command line: a config file cannot send prompts off the machine.
    config.generator.allow_remote = cli.allow_remote_model;
    // `--model NAME` may name a local model (Ollama, Hugging Face cache, ...) instead of a file.
    // When it names neither, only the commands that load the model fail, with the reason.
    if let Err(err) = commands::resolve_generator_model(&mut config) {
        commands::defer_model_error(&err);
    }
    let config = config;
    if let Some(url) = &cli.server {
        let _ = client::FORCED.set(url.clone());
    }
    match &cli.command {
        Command::Generate(args) => commands::generate::run(&config, args),
        Command::Tone(args) => commands::tone::run(&config, args),
        Command::Star(args) => commands::star::run(&config, args),
        Command::Map(args) => commands::map::run(&config, args),
        Command::Stories(args) => commands::stories::run(&config, args),
        Command::Audit(args) => commands::audit::run(&config, args),
        Command::Rewrite(args) => commands::rewrite::run(&config, args),
        Command::Serve(args) => commands::serve::run(&config, args),
        Command::Lsp(args) => lsp::run(&config, args),
        Command::Token => commands::serve::print_token(&config),
        Command::Index(args) => commands::index::run(&config, args),
        Command::Search(args) => commands::search::run(&config, args),
        Command::Status(args) => commands::status::run(&config, args),
        Command::Doctor => commands::doctor::run(&config),
        Command::Models(args) => commands::models::run(&config, args),
        Command::Config(command) => commands::config::run(&config, command),
        Command::Store(command) => commands::store::run(&config, command),
        Command::Bench(command) => commands::bench::run(&config, command),
        Command::Train(command) => commands::train::run(&config, command),
        Command::Completions { .. } => unreachable!("handled above"),
    }
}

fn main() -> ExitCode {
    starling::backends::qdrant_edge::map_store_files_once();
    starling::backends::fastembed::keep_onnx_runtime_offline();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            if output::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let chain: Vec<String> = err.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::from(2)
        }
    }
}
