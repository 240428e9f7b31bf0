//! `starling models`: each configured model with file size and what its header says.

use std::process::ExitCode;

use serde_json::json;
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

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
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
            rows.push(json!({"role": "generator", "path": config.generator.model, "error": err.to_string()}));
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
    if args.json {
        output::print(&format!("{}\n", serde_json::to_string_pretty(&rows)?))?;
    } else {
        let mut text = format!(
            "{:<10} {:>9}  {:<12} {:<8} {:>7}  {}\n",
            "role", "size", "arch", "quant", "context", "path"
        );
        for row in &rows {
            let field = |k: &str| {
                row.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("-")
                    .to_string()
            };
            if let Some(error) = row.get("error").and_then(|e| e.as_str()) {
                text.push_str(&format!("{:<10} error: {error}\n", field("role")));
                continue;
            }
            text.push_str(&format!(
                "{:<10} {:>9}  {:<12} {:<8} {:>7}  {}\n",
                field("role"),
                megabytes(row["size_bytes"].as_u64().unwrap_or(0)),
                field("architecture"),
                field("quantization"),
                row["context_length"]
                    .as_u64()
                    .map_or("-".into(), |n| n.to_string()),
                field("path")
            ));
        }
        output::print(&text)?;
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
