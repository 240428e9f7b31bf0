//! `starling config show` and configuration errors, through the binary.

use crate::common::{run, starling, stderr, stdout};

#[test]
fn config_show_reports_each_source() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("starling.toml");
    std::fs::write(&file, "[generator]\ncontext_size = 1024\n").unwrap();
    let output = run(starling(home.path())
        .env("STARLING_GENERATOR_SEED", "5")
        .args([
            "config",
            "show",
            "--json",
            "--threads",
            "1",
            "--set",
            "tone.profile=email",
            "--config",
        ])
        .arg(&file));
    assert!(output.status.success(), "{}", stderr(&output));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let source = |key: &str| {
        let entry = shown["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .unwrap()
            .clone();
        (
            entry["value"].as_str().unwrap().to_string(),
            entry["source"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        source("generator.context_size"),
        ("1024".into(), format!("file {}", file.display()))
    );
    assert_eq!(
        source("generator.seed"),
        ("5".into(), "env STARLING_GENERATOR_SEED".into())
    );
    assert_eq!(
        source("generator.threads"),
        ("1".into(), "flag --threads".into())
    );
    assert_eq!(
        source("tone.profile"),
        ("email".into(), "flag --set".into())
    );
    assert_eq!(source("generator.top_p").1, "default");
}

#[test]
fn unknown_key_in_config_file_is_an_error_naming_key_and_file() {
    let home = tempfile::tempdir().unwrap();
    let file = home
        .path()
        .join("config")
        .join("starling")
        .join("config.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "[generator]\ntemprature = 0.5\n").unwrap();
    let output = run(starling(home.path()).args(["config", "show"]));
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("generator.temprature") && message.contains(&file.display().to_string()),
        "{message}"
    );
}

#[test]
fn completions_are_printed() {
    let home = tempfile::tempdir().unwrap();
    let output = run(starling(home.path()).args(["completions", "bash"]));
    assert!(output.status.success());
    assert!(stdout(&output).contains("starling"));
}
