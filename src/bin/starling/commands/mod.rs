//! One module per subcommand; each parses nothing itself beyond its clap `Args` and calls the library.

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
pub mod tone;
pub mod train;

use anyhow::Context;
use starling::backends::Generator;
use starling::config::{Backend, Config};

/// Loads the configured generation model (or reaches its server), with an error that names
/// the file or server and the fix.
pub fn load_generator(config: &Config) -> anyhow::Result<Box<dyn Generator>> {
    match config.generator.backend {
        Backend::Llama => starling::services::open_generator(config).with_context(|| {
            format!(
                "loading the generation model `{}`",
                config.generator.model.display()
            )
        }),
        // Its errors name the server already.
        Backend::OpenAi => Ok(starling::services::open_generator(config)?),
    }
}

/// Checks a `--since`/`--until` value: `YYYY-MM-DD`, a real date.
pub fn check_date(flag: &str, value: &Option<String>) -> anyhow::Result<()> {
    if let Some(date) = value {
        anyhow::ensure!(
            date.len() == 10 && starling::notes::markdown::days_since_epoch(date).is_some(),
            "{flag} `{date}`: use YYYY-MM-DD, e.g. 2025-01-31"
        );
    }
    Ok(())
}
