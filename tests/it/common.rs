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

/// `../shared/examples`, which CI and every developer checkout have beside the repository.
pub fn shared_examples() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/examples");
    assert!(
        dir.is_dir(),
        "{} is missing: check out ../shared beside the repository",
        dir.display()
    );
    dir
}

pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// A copy of `tests/fixtures/vault` at `HOME/vault` (without the notes named in `leave_out`).
pub fn fixture_vault(home: &Path, leave_out: &[&str]) -> PathBuf {
    fn copy_tree(from: &Path, to: &Path, leave_out: &[&str]) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_tree(&entry.path(), &target, leave_out);
            } else if !leave_out.iter().any(|l| entry.path().ends_with(l)) {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let vault = home.join("vault");
    copy_tree(&fixture("vault"), &vault, leave_out);
    vault
}

/// `fixture_vault`, indexed.
pub fn indexed_fixture_vault(home: &Path, leave_out: &[&str]) -> PathBuf {
    let vault = fixture_vault(home, leave_out);
    let output = run(starling(home).arg("index").arg(&vault));
    assert!(output.status.success(), "{}", stderr(&output));
    vault
}
