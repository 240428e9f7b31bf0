//! The default model files, read from `models/manifest.toml` compiled into the binary, and
//! checks that a cached file is the one the manifest names (size, then sha256).

use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The manifest as shipped in the repository.
pub const MANIFEST_TOML: &str = include_str!("../models/manifest.toml");

/// One file of the manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestFile {
    pub file: String,
    pub member: String,
    pub role: String,
    pub package: String,
    pub version: String,
    pub sha256: String,
    pub size: u64,
    pub licence: String,
    #[serde(default)]
    pub pip_args: String,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    file: Vec<ManifestFile>,
}

/// Every file of the built-in manifest.
pub fn files() -> Vec<ManifestFile> {
    toml::from_str::<Manifest>(MANIFEST_TOML)
        .expect("models/manifest.toml is valid (unit-tested)")
        .file
}

/// What a check of one cached file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    Ok,
    Missing,
    WrongSize { actual: u64 },
    WrongChecksum { actual: String },
}

/// Compares the file at `path` with its manifest entry.
pub fn check_file(path: &Path, entry: &ManifestFile) -> std::io::Result<FileState> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(err) => return Err(err),
    };
    if metadata.len() != entry.size {
        return Ok(FileState::WrongSize {
            actual: metadata.len(),
        });
    }
    let actual = sha256_file(path)?;
    Ok(if actual == entry.sha256 {
        FileState::Ok
    } else {
        FileState::WrongChecksum { actual }
    })
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_parses_and_names_the_config_defaults() {
        let files = files();
        let names: Vec<&str> = files.iter().map(|f| f.file.as_str()).collect();
        assert!(names.contains(&crate::config::DEFAULT_GENERATOR_FILE));
        assert!(names.contains(&crate::config::DEFAULT_ONNXRUNTIME));
        assert!(names
            .iter()
            .any(|n| n.starts_with(crate::config::DEFAULT_EMBEDDER_DIR)));
        assert!(files.iter().all(|f| f.sha256.len() == 64 && f.size > 0));
    }
}
