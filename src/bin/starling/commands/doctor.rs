//! `starling doctor`: checks model files, ONNX Runtime and the data directory, prints a table,
//! and exits 2 with the fix when anything is missing.

use std::path::Path;
use std::process::ExitCode;

use starling::backends::gguf::ModelInfo;
use starling::config::{Backend, Config, DEFAULT_EMBEDDER_DIR};
use starling::manifest::{self, FileState, ManifestFile};

use crate::output;

struct Check {
    name: String,
    ok: bool,
    detail: String,
    fix: Option<String>,
}

const SETUP_FIX: &str = "run `scripts/setup.sh` (fetches and verifies the default models)";

/// Checks a file against its manifest entry when it is the default one, else only that it exists.
fn check_manifest_file(name: &str, path: &Path, entry: Option<&ManifestFile>) -> Check {
    let state = match entry {
        Some(entry) => manifest::check_file(path, entry),
        None => Ok(if path.is_file() {
            FileState::Ok
        } else {
            FileState::Missing
        }),
    };
    let (ok, detail) = match state {
        Ok(FileState::Ok) => (
            true,
            format!(
                "{} ({})",
                path.display(),
                if entry.is_some() {
                    "sha256 verified"
                } else {
                    "present"
                }
            ),
        ),
        Ok(FileState::Missing) => (false, format!("{} is missing", path.display())),
        Ok(FileState::WrongSize { actual }) => (
            false,
            format!(
                "{} has {actual} bytes, expected {}",
                path.display(),
                entry.map_or(0, |e| e.size)
            ),
        ),
        Ok(FileState::WrongChecksum { actual }) => (
            false,
            format!("{} has sha256 {actual}, not the manifest's", path.display()),
        ),
        Err(err) => (false, format!("{}: {err}", path.display())),
    };
    Check {
        name: name.into(),
        ok,
        fix: (!ok).then(|| SETUP_FIX.to_string()),
        detail,
    }
}

fn check_generator(config: &Config, entries: &[ManifestFile]) -> Check {
    let path = &config.generator.model;
    let entry = entries
        .iter()
        .find(|e| config.models_dir.join(&e.file) == *path);
    let mut check = check_manifest_file("generator model", path, entry);
    if check.ok {
        match ModelInfo::read(path) {
            Ok(info) => {
                check.detail = format!(
                    "{} [{} {}, context {}]",
                    check.detail,
                    info.architecture,
                    info.quantization,
                    info.context_length.map_or("?".into(), |n| n.to_string())
                );
                if let Some(q8_0) = starling::services::default_generator_q8_0(config) {
                    check.detail.push_str(&format!(
                        "; loaded as its Q8_0 re-encoding {} ({})",
                        q8_0.display(),
                        if starling::services::default_generator_q8_0_is_current(path, &q8_0) {
                            "made"
                        } else {
                            "made on the first load"
                        }
                    ));
                }
            }
            Err(err) => {
                check.ok = false;
                check.detail = err.to_string();
                check.fix =
                    Some("pass a valid GGUF file with --model PATH or set generator.model".into());
            }
        }
    } else if let Some(reason) = super::unresolved_model() {
        check.fix = Some(reason.to_string());
    } else if entry.is_none() {
        check.fix = Some(format!(
            "the configured model `{}` is missing: fix generator.model / --model, or run `scripts/setup.sh` for the default",
            path.display()
        ));
    }
    check
}

/// Backend openai: the server is reached and the model it will use is named.
fn check_server(config: &Config) -> Check {
    let reached = starling::services::openai_options(config)
        .and_then(|options| starling::backends::openai::OpenAiGenerator::connect(&options));
    match reached {
        Ok(generator) => Check {
            name: "generator server".into(),
            ok: true,
            detail: format!(
                "{} (reachable), model `{}`",
                generator.url(),
                starling::backends::Generator::model_name(&generator)
            ),
            fix: None,
        },
        Err(err) => Check {
            name: "generator server".into(),
            ok: false,
            detail: err.to_string(),
            fix: Some(
                "start the server, or fix generator.url / --generator-url; `--set generator.backend=llama` uses the GGUF in process"
                    .into(),
            ),
        },
    }
}

/// Backend qdrant: the server answers over gRPC (nothing is created).
fn check_store_server(config: &Config) -> Check {
    let reached = starling::services::server_options(config, 0).and_then(|options| {
        starling::backends::qdrant_server::QdrantServerStore::server_version(&options)
    });
    match reached {
        Ok(version) => Check {
            name: "note store".into(),
            ok: true,
            detail: format!(
                "Qdrant {version} at {} (reachable), collection `{}`",
                config.store.url,
                starling::services::collection_name(config)
            ),
            fix: None,
        },
        Err(err) => Check {
            name: "note store".into(),
            ok: false,
            detail: err.to_string(),
            fix: Some(
                "start the Qdrant server, or fix store.url / --store-url (its gRPC port); `--store edge` uses the embedded store".into(),
            ),
        },
    }
}

fn check_data_dir(config: &Config) -> Check {
    let dir = &config.data_dir;
    let result = std::fs::create_dir_all(dir).and_then(|_| tempfile_in(dir));
    match result {
        Ok(()) => Check {
            name: "data dir".into(),
            ok: true,
            detail: format!("{} (writable)", dir.display()),
            fix: None,
        },
        Err(err) => Check {
            name: "data dir".into(),
            ok: false,
            detail: format!("{}: {err}", dir.display()),
            fix: Some(
                "make it writable, or choose another with --data-dir / STARLING_DATA_DIR".into(),
            ),
        },
    }
}

fn tempfile_in(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    std::fs::write(&probe, b"ok")?;
    std::fs::remove_file(&probe)
}

pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    let entries = manifest::files();
    let mut checks = vec![Check {
        name: "config".into(),
        ok: true,
        detail: config
            .file
            .as_ref()
            .map_or("no file; defaults, env and flags".into(), |p| {
                p.display().to_string()
            }),
        fix: None,
    }];
    checks.push(Check {
        name: "generator backend".into(),
        ok: true,
        detail: match config.generator.backend {
            Backend::Llama => "llama (the GGUF in this process)".into(),
            Backend::OpenAi => format!("openai (server at {})", config.generator.url),
        },
        fix: None,
    });
    checks.push(match config.generator.backend {
        Backend::Llama => check_generator(config, &entries),
        Backend::OpenAi => check_server(config),
    });
    let default_embedder = config.embedder.dir == config.models_dir.join(DEFAULT_EMBEDDER_DIR);
    for entry in entries.iter().filter(|e| e.role.starts_with("embedder")) {
        let file_name = Path::new(&entry.file)
            .file_name()
            .expect("manifest file has a name");
        let path = config.embedder.dir.join(file_name);
        checks.push(check_manifest_file(
            &format!("embedder {}", file_name.to_string_lossy()),
            &path,
            default_embedder.then_some(entry),
        ));
    }
    let onnx_entry = entries.iter().find(|e| e.role == "onnxruntime");
    let onnx_default =
        onnx_entry.is_some_and(|e| config.models_dir.join(&e.file) == config.embedder.onnxruntime);
    checks.push(check_manifest_file(
        "onnx runtime",
        &config.embedder.onnxruntime,
        onnx_entry.filter(|_| onnx_default),
    ));
    checks.push(check_data_dir(config));
    if config.store.backend == starling::config::StoreBackend::Qdrant {
        checks.push(check_store_server(config));
    }
    checks.push(Check {
        name: "threads".into(),
        ok: true,
        detail: format!(
            "{} for generation ({} physical cores)",
            config.generator.threads,
            starling::config::physical_cores()
        ),
        fix: None,
    });

    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut text = String::new();
    for check in &checks {
        text.push_str(&format!(
            "{:width$}  {:4}  {}\n",
            check.name,
            if check.ok { "ok" } else { "FAIL" },
            check.detail
        ));
    }
    let failures: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
    if failures.is_empty() {
        text.push_str("all checks passed\n");
        output::print(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    output::print(&text)?;
    let mut fixes: Vec<&str> = failures.iter().filter_map(|c| c.fix.as_deref()).collect();
    fixes.dedup();
    for fix in fixes {
        eprintln!("fix: {fix}");
    }
    Ok(ExitCode::from(2))
}
