//! `starling config show`: the effective configuration and where each value came from.

use std::process::ExitCode;

use serde_json::json;
use starling::config::Config;

use crate::output;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print every key, its value and its source (default, file, env, flag).
    Show {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(config: &Config, command: &Command) -> anyhow::Result<ExitCode> {
    let Command::Show { json } = command;
    if *json {
        let entries: Vec<_> = config
            .entries
            .iter()
            .map(|e| json!({"key": e.key, "value": e.value.to_string(), "source": e.source.to_string(), "env": Config::env_name(e.key)}))
            .collect();
        let file = config.file.as_ref().map(|p| p.display().to_string());
        output::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({"file": file, "entries": entries}))?
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = match &config.file {
        Some(path) => format!("# config file: {}\n", path.display()),
        None => format!(
            "# config file: none (looked for {})\n",
            starling::config::default_config_path().display()
        ),
    };
    let width = config
        .entries
        .iter()
        .map(|e| e.key.len() + e.value.to_string().len() + 3)
        .max()
        .unwrap_or(0);
    for entry in &config.entries {
        let assignment = format!("{} = {}", entry.key, entry.value);
        text.push_str(&format!(
            "{assignment:width$}  # {} ({})\n",
            entry.source, entry.help
        ));
    }
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
