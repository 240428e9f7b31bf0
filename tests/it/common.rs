//! Helpers shared by the integration tests: running the built binary and locating fixtures.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

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
        // Tests run two at a time on CI's two cores; llama.cpp's threads spin at every barrier,
        // so two model processes with two threads each slow each other down many times over.
        .env("STARLING_GENERATOR_THREADS", "1")
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

/// The shipped embedder's options for a test: streamlined, float products, two threads.
pub fn embedder_options(
    workload: starling::backends::fastembed::Workload,
) -> starling::backends::fastembed::EmbedderOptions {
    use starling::config::{DEFAULT_EMBEDDER_DIR, DEFAULT_ONNXRUNTIME};
    starling::backends::fastembed::EmbedderOptions {
        dir: models_dir().join(DEFAULT_EMBEDDER_DIR),
        onnxruntime: models_dir().join(DEFAULT_ONNXRUNTIME),
        threads: 2,
        streamline: true,
        int8: false,
        workload,
    }
}

/// The shipped embedder as one-shot commands open it.
pub fn embedder() -> starling::backends::fastembed::FastEmbedder {
    starling::backends::fastembed::FastEmbedder::load(&embedder_options(
        starling::backends::fastembed::Workload::Queries,
    ))
    .expect("the shipped embedder (run scripts/setup.sh)")
}

/// A loopback port free right now: bound, read, released (for a server started next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn run(command: &mut Command) -> Output {
    command.output().expect("the starling binary runs")
}

/// `command` run with `input` on its standard input (stdout and stderr captured).
pub fn run_with_input(command: &mut Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the starling binary runs");
    child
        .stdin
        .take()
        .expect("a piped stdin")
        .write_all(input)
        .expect("stdin takes the input");
    child.wait_with_output().expect("the starling binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `../shared/PATH`, which CI and every developer checkout have beside the repository.
pub fn shared(path: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(path);
    assert!(
        path.exists(),
        "{} is missing: check out ../shared beside the repository",
        path.display()
    );
    path
}

/// `../shared/examples`.
pub fn shared_examples() -> PathBuf {
    shared("examples")
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

/// A folder `HOME/vault` holding `notes` (path inside the vault, text), folders made as needed.
pub fn vault_with(home: &Path, notes: &[(&str, &str)]) -> PathBuf {
    let vault = home.join("vault");
    std::fs::create_dir_all(&vault).unwrap();
    for (name, text) in notes {
        let path = vault.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    vault
}

/// `starling index --json ROOTS...`, which must succeed: its closing report.
pub fn index_json(home: &Path, roots: &[&Path]) -> serde_json::Value {
    let output = run(starling(home).arg("index").args(roots).arg("--json"));
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(stdout(&output).lines().last().unwrap()).unwrap()
}

/// `fixture_vault`, indexed.
pub fn indexed_fixture_vault(home: &Path, leave_out: &[&str]) -> PathBuf {
    let vault = fixture_vault(home, leave_out);
    let output = run(starling(home).arg("index").arg(&vault));
    assert!(output.status.success(), "{}", stderr(&output));
    vault
}

/// A running `starling serve` on a free loopback port, stopped when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    pub token: String,
}

impl Server {
    pub fn start(home: &Path, extra: &[&str]) -> Server {
        Server::start_at(home, "127.0.0.1:0", extra)
    }

    /// A server listening on `addr` (port 0: a free one); requests still go to 127.0.0.1.
    pub fn start_at(home: &Path, addr: &str, extra: &[&str]) -> Server {
        let token = stdout(&run(starling(home).arg("token"))).trim().to_string();
        assert_eq!(token.len(), 64, "a 32-byte hex token");
        let mut child = starling(home)
            .args(["serve", "--addr", addr])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("the server reports its address")
                .unwrap();
            if let Some(rest) = line.split("serving on http://").nth(1) {
                let address = rest.split_whitespace().next().unwrap();
                break address.rsplit_once(':').unwrap().1.parse().unwrap();
            }
        };
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Server { child, port, token }
    }

    /// Sends a raw request; returns (status, headers, body).
    pub fn raw(&self, request: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(300)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head.to_string(), body.to_string())
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, String, String) {
        let mut text = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            text.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        text.push_str("\r\n");
        text.push_str(body.unwrap_or_default());
        self.raw(&text)
    }

    /// An authorised JSON call with the right Host.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let host = format!("127.0.0.1:{}", self.port);
        let auth = format!("Bearer {}", self.token);
        let body = body.map(|b| b.to_string());
        let (status, _, text) = self.request(
            method,
            path,
            body.as_deref(),
            &[("Host", &host), ("Authorization", &auth)],
        );
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn stop(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every regular file under `dir`, sorted by path.
pub fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            out.extend(walk_files(&entry.path()));
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    out.sort();
    out
}
