//! `starling models`: each configured model with file size and what its header says, then the
//! GGUF models found in the local stores (Ollama, Hugging Face cache, LM Studio, GPT4All,
//! `models.folders`), which `--model NAME` accepts. Reads headers only, never loads weights.

use std::process::ExitCode;

use serde_json::json;
use starling::backends::discovery::{self, Roots};
use starling::backends::gguf::ModelInfo;
use starling::config::Config;

use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Names longer than this push their row's path to the right instead of widening every row.
const MAX_NAME_WIDTH: usize = 48;

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    // Only the configured models decide the exit code: a broken file in some store is listed
    // with its error, and is not this configuration's problem.
    let mut failed = false;
    match ModelInfo::read(&config.generator.model) {
        Ok(info) => rows.push(json!({
            "role": "generator",
            "path": info.path,
            "size_bytes": info.size_bytes,
            "name": info.name,
            "architecture": info.architecture,
            "quantization": info.quantization,
            "context_length": info.context_length,
            "chat_template": info.has_chat_template,
        })),
        Err(err) => {
            failed = true;
            let error = super::unresolved_model().map_or_else(|| err.to_string(), str::to_string);
            rows.push(json!({"role": "generator", "path": config.generator.model, "error": error}));
        }
    }
    let onnx = config.embedder.dir.join("model.onnx");
    match std::fs::metadata(&onnx) {
        Ok(meta) => rows.push(json!({
            "role": "embedder", "path": onnx, "size_bytes": meta.len(), "architecture": "bert (onnx)",
            "quantization": "int8", "context_length": 256,
        })),
        Err(err) => {
            failed = true;
            rows.push(json!({"role": "embedder", "path": onnx, "error": format!("{err}; run scripts/setup.sh")}));
        }
    }
    let found = discovery::discover(&Roots::for_config(config));
    let n_found = found.len();
    for model in found {
        // `name` is the name `--model` takes; the GGUF's own `general.name` is `model_name`.
        rows.push(match model.info {
            Ok(info) => json!({
                "role": "found",
                "store": model.store.as_str(),
                "name": model.name,
                "path": model.path,
                "size_bytes": info.size_bytes,
                "model_name": info.name,
                "architecture": info.architecture,
                "quantization": info.quantization,
                "context_length": info.context_length,
                "chat_template": info.has_chat_template,
            }),
            Err(error) => json!({
                "role": "found",
                "store": model.store.as_str(),
                "name": model.name,
                "path": model.path,
                "error": error,
            }),
        });
    }
    if args.json {
        output::print(&format!("{}\n", serde_json::to_string_pretty(&rows)?))?;
    } else {
        output::print(&table(&rows, n_found))?;
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn table(rows: &[serde_json::Value], n_found: usize) -> String {
    let field = |row: &serde_json::Value, key: &str| {
        row.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("-")
            .to_string()
    };
    // Configured rows carry the GGUF's own name in `name`; the column is for found names.
    let name = |row: &serde_json::Value| {
        if row["role"] == "found" {
            field(row, "name")
        } else {
            "-".to_string()
        }
    };
    let width = rows
        .iter()
        .map(|row| name(row).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, MAX_NAME_WIDTH);
    let mut text = format!(
        "{:<10} {:<11} {:>9}  {:<12} {:<8} {:>7}  {:<width$}  {}\n",
        "role", "store", "size", "arch", "quant", "context", "name", "path"
    );
    for row in rows {
        if let Some(error) = row.get("error").and_then(|e| e.as_str()) {
            text.push_str(&format!(
                "{:<10} {:<11} {}  error: {error}\n",
                field(row, "role"),
                field(row, "store"),
                if row["role"] == "found" {
                    name(row)
                } else {
                    field(row, "path")
                }
            ));
            continue;
        }
        text.push_str(&format!(
            "{:<10} {:<11} {:>9}  {:<12} {:<8} {:>7}  {:<width$}  {}\n",
            field(row, "role"),
            field(row, "store"),
            megabytes(row["size_bytes"].as_u64().unwrap_or(0)),
            field(row, "architecture"),
            field(row, "quantization"),
            row["context_length"]
                .as_u64()
                .map_or("-".into(), |n| n.to_string()),
            name(row),
            field(row, "path")
        ));
    }
    if n_found == 0 {
        text.push_str(
            "(no other GGUF models found in Ollama, the Hugging Face cache, LM Studio, GPT4All \
             or models.folders)\n",
        );
    }
    text
}
