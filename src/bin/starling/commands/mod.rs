//! One module per subcommand; each parses nothing itself beyond its clap `Args` and calls the library.

pub mod audit;
pub mod bench;
pub mod config;
pub mod doctor;
pub mod generate;
pub mod index;
pub mod map;
pub mod models;
pub mod rewrite;
pub mod search;
pub mod serve;
pub mod star;
pub mod status;
pub mod store;
pub mod stories;
pub mod tone;
pub mod train;

use std::sync::OnceLock;

use anyhow::Context;
use starling::backends::discovery::{self, Roots};
use starling::backends::Generator;
use starling::config::{Backend, Config};

/// Why `generator.model` named neither a file nor a local model, when so: reported by the
/// commands that need the model, so that a bad name does not stop `tone` or `index`.
static UNRESOLVED_MODEL: OnceLock<String> = OnceLock::new();

/// `--model NAME` (or `generator.model` in the file or environment): when the value is not an
/// existing file, looks it up among the local models (`starling models`: Ollama, Hugging Face
/// cache, LM Studio, GPT4All, `models.folders`) and points `generator.model` at that file.
/// Absolute and `~` paths and the default are paths only: they keep the "not found" error and
/// its fix. Called once, by `main`, right after the configuration is loaded.
///
/// With `generator.backend = "openai"`, `generator.model` is the server's model name, not a
/// file: nothing to resolve.
pub fn resolve_generator_model(config: &mut Config) -> anyhow::Result<()> {
    // A name is what `generator.model` holds when it is not a path (config::Kind::Model).
    let Some(name) = config.generator.model_name.clone() else {
        return Ok(());
    };
    if config.generator.backend == Backend::OpenAi {
        return Ok(());
    }
    let path = discovery::resolve(&name, &Roots::for_config(config))?;
    tracing::info!("model `{name}` is `{}`", path.display());
    config.set_generator_model(path);
    Ok(())
}

/// Keeps `err` (from [`resolve_generator_model`]) for the commands that load the model.
pub fn defer_model_error(err: &anyhow::Error) {
    let _ = UNRESOLVED_MODEL.set(format!("{err:#}"));
}

/// The reason `generator.model` names no model, when [`resolve_generator_model`] found none.
pub fn unresolved_model() -> Option<&'static str> {
    UNRESOLVED_MODEL.get().map(String::as_str)
}

/// Loads the configured generation model (or reaches its server), with an error that names
/// the file or server and the fix.
pub fn load_generator(config: &Config) -> anyhow::Result<Box<dyn Generator>> {
    match config.generator.backend {
        Backend::Llama => {
            if let Some(reason) = unresolved_model() {
                anyhow::bail!("{reason}");
            }
            starling::services::open_generator(config).with_context(|| {
                format!(
                    "loading the generation model `{}`",
                    config.generator.model.display()
                )
            })
        }
        // Its errors name the server already.
        Backend::OpenAi => Ok(starling::services::open_generator(config)?),
    }
}

/// Checks a `--since`/`--until` value: `YYYY-MM-DD`, a real date.
pub fn check_date(flag: &str, value: &Option<String>) -> anyhow::Result<()> {
    if let Some(date) = value {
        anyhow::ensure!(
            starling::app::is_date(date),
            "{flag} `{date}`: use YYYY-MM-DD, e.g. 2025-01-31"
        );
    }
    Ok(())
}

/// Where a command that reads the notes runs: through the running server that holds the store,
/// or here on the store (or a copy of it, while another process holds it).
// One per command run: the size of the engines is not worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Notes {
    Server(crate::client::Remote),
    Here(
        starling::backends::fastembed::FastEmbedder,
        starling::services::NoteStore,
    ),
}

pub fn open_notes(config: &starling::config::Config, command: &str) -> anyhow::Result<Notes> {
    Ok(
        match crate::client::store_access(config, &format!("starling {command}"))? {
            crate::client::StoreAccess::Remote(server) => Notes::Server(server),
            access => {
                let (embedder, notes) = starling::services::open_embedder_beside(
                    config,
                    starling::backends::fastembed::Workload::Queries,
                    |dimension| crate::client::open_notes(config, access, dimension),
                )?;
                Notes::Here(embedder, notes)
            }
        },
    )
}

/// `--path`, `--since` and `--until` for commands that read evidence from the notes.
#[derive(Debug, clap::Args)]
pub struct NoteFilterArgs {
    /// Only notes under this folder or file (relative to the note root).
    #[arg(long)]
    pub path: Option<String>,
    /// Only notes dated on or after YYYY-MM-DD.
    #[arg(long)]
    pub since: Option<String>,
    /// Only notes dated on or before YYYY-MM-DD.
    #[arg(long)]
    pub until: Option<String>,
}

impl NoteFilterArgs {
    /// The store filter, after checking the dates.
    pub fn filter(&self) -> anyhow::Result<starling::backends::SearchFilter> {
        check_date("--since", &self.since)?;
        check_date("--until", &self.until)?;
        Ok(starling::backends::SearchFilter::notes(
            &self.path,
            &self.since,
            &self.until,
        ))
    }
}
