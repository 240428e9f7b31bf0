//! Helpers shared by the integration tests: running the built binary and locating fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_starling"))
}

/// A command for the binary with an empty config and data dir, so the user's own files never leak in.
pub fn starling(home: &Path) -> Command {
    let mut command = Command::new(bin());
    command
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("STARLING_LOG")
        .stdin(Stdio::null());
    // Keep the real model cache: the tests exercise the real models.
    let cache = models_dir();
    command.env("STARLING_MODELS_DIR", cache);
    command
}

/// The model cache that scripts/setup.sh filled.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STARLING_MODELS_DIR") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache")
        });
    cache.join("starling").join("models")
}

pub fn run(command: &mut Command) -> Output {
    command.output().expect("the starling binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `../shared/examples` when the checkout has it beside it.
pub fn shared_examples() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/examples");
    dir.is_dir().then_some(dir)
}

pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}
