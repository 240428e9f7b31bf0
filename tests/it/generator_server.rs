//! `generator.backend = "openai"`: generation through a real local OpenAI-compatible server.
//! The servers are real: llama.cpp's own `llama-server` (built from source by
//! scripts/llama-server.sh, which scripts/test.sh runs; its path comes in
//! STARLING_TEST_LLAMA_SERVER) and Starling's own `serve` (token-protected), both serving the
//! default GGUF on a free loopback port. Generate (plain, streamed, JSON Schema), STAR, doctor
//! and the refusals.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use crate::common::{
    free_port, indexed_fixture_vault, models_dir, run, starling, stderr, stdout, Server,
};

/// llama.cpp's `llama-server` serving the default GGUF on a free loopback port.
struct LlamaServer {
    child: Child,
    url: String,
}

impl LlamaServer {
    fn start() -> LlamaServer {
        let bin = std::env::var_os("STARLING_TEST_LLAMA_SERVER")
            .map(PathBuf::from)
            .expect(
                "STARLING_TEST_LLAMA_SERVER names the llama-server binary; scripts/test.sh builds \
                 it with scripts/llama-server.sh",
            );
        let port = free_port();
        let mut child = Command::new(bin)
            .arg("-m")
            .arg(models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["-c", "4096", "-t", "1", "--parallel", "1", "--no-webui"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("llama-server starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        // It loads the model first, then says "listening on http://...".
        loop {
            let line = lines
                .next()
                .expect("llama-server reports that it listens")
                .unwrap();
            if line.contains("listening on http://") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        LlamaServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn through(home: &Path, url: &str, args: &[&str]) -> Output {
    run(starling(home).args(["--generator-url", url]).args(args))
}

fn generates_through(home: &Path, url: &str, key: Option<&str>) {
    let with_key = |command: &mut Command| {
        if let Some(key) = key {
            command
                .env("UPSTREAM_KEY", key)
                .args(["--set", "generator.api_key_env=UPSTREAM_KEY"]);
        }
    };
    // Plain, streamed to stdout.
    let mut command = starling(home);
    with_key(&mut command);
    let output = run(command.args(["--generator-url", url]).args([
        "generate",
        "Say hello to the team.",
        "--max-tokens",
        "24",
        "--stats",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).trim().len() > 2, "{}", stdout(&output));
    assert!(
        stderr(&output).contains("tokens generated"),
        "{}",
        stderr(&output)
    );

    // A JSON Schema: the printed value is valid JSON that follows it.
    let schema = home.join("schema.json");
    std::fs::write(
        &schema,
        r#"{"type":"object","properties":{"greeting":{"type":"string","minLength":1},"formal":{"type":"boolean"}},"required":["greeting","formal"],"additionalProperties":false}"#,
    )
    .unwrap();
    let mut command = starling(home);
    with_key(&mut command);
    let output = run(command
        .args(["--generator-url", url])
        .args([
            "generate",
            "Write a greeting for a team meeting.",
            "--max-tokens",
            "80",
            "--json-schema",
        ])
        .arg(&schema));
    assert!(output.status.success(), "{}", stderr(&output));
    let value: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert!(
        value["greeting"].as_str().is_some_and(|g| !g.is_empty()),
        "{value}"
    );
    assert!(value["formal"].is_boolean(), "{value}");

    // STAR: a checked draft, every sentence grounded in the notes.
    let mut command = starling(home);
    with_key(&mut command);
    let output = run(command.args(["--generator-url", url]).args([
        "star",
        "--competency",
        "Mentoring junior engineers",
        "--format",
        "json",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    let draft: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(
        draft["model"]
            .as_str()
            .is_some_and(|m| m.contains("SmolLM2")),
        "{draft}"
    );
    crate::star::assert_grounded(&draft);

    // doctor names the backend, the server and the model.
    let mut command = starling(home);
    with_key(&mut command);
    let output = run(command.args(["--generator-url", url, "doctor"]));
    let text = stdout(&output);
    assert!(
        text.contains("openai (server at") && text.contains("(reachable)"),
        "{text}"
    );
}

#[test]
fn llama_cpp_server_generates_for_every_path() {
    let server = LlamaServer::start();
    let home = tempfile::tempdir().unwrap();
    indexed_fixture_vault(home.path(), &[]);
    generates_through(home.path(), &server.url, None);
}

#[test]
fn starling_serve_fronts_as_a_token_protected_server() {
    let upstream_home = tempfile::tempdir().unwrap();
    let upstream = Server::start(upstream_home.path(), &[]);
    let url = format!("http://127.0.0.1:{}", upstream.port);
    let home = tempfile::tempdir().unwrap();
    indexed_fixture_vault(home.path(), &[]);
    generates_through(home.path(), &url, Some(&upstream.token));

    // Without the key: refused, and the message says how to give it.
    let output = through(home.path(), &url, &["generate", "Hello"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("401") && stderr(&output).contains("generator.api_key_env"),
        "{}",
        stderr(&output)
    );
    // A key variable that is not set is named.
    let output = run(starling(home.path())
        .env_remove("NO_SUCH_KEY_VAR")
        .args([
            "--generator-url",
            &url,
            "--set",
            "generator.api_key_env=NO_SUCH_KEY_VAR",
        ])
        .args(["generate", "Hello"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("NO_SUCH_KEY_VAR"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn servers_off_the_machine_or_not_running_are_refused_clearly() {
    let home = tempfile::tempdir().unwrap();
    // Not loopback: refused before any connection.
    let output = through(
        home.path(),
        "http://192.0.2.10:8080",
        &["generate", "Hello"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--allow-remote-model") && stderr(&output).contains("192.0.2.10"),
        "{}",
        stderr(&output)
    );
    // Nothing listening: the fix is named.
    let port = free_port();
    let output = through(
        home.path(),
        &format!("http://127.0.0.1:{port}"),
        &["generate", "Hello"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("is the server running"),
        "{}",
        stderr(&output)
    );
    // Not a URL.
    let output = through(home.path(), "localhost:8080", &["generate", "Hello"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not a URL"), "{}", stderr(&output));
}
