//! `starling lsp`: through Neovim's own LSP client (the editor the issue names), and through a
//! bare JSON-RPC client for what an editor test cannot pin down (hover, settings, evidence,
//! the model rewrite).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

/// The findings `starling tone --format json` reports for `file`: (0-based line, category).
fn cli_findings(home: &Path, file: &Path) -> Vec<(u64, String)> {
    let output = run(starling(home).args(["tone", "--format", "json"]).arg(file));
    let value: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let mut found: Vec<(u64, String)> = value[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap() - 1,
                f["category"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn neovim_shows_the_pip_scripts_diagnostics_and_applies_a_quick_fix() {
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("pip-outcome-meeting-script.md");
    let text =
        std::fs::read_to_string(shared_examples().join("pip-outcome-meeting-script.md")).unwrap();
    std::fs::write(&script, &text).unwrap();
    let out = home.path().join("nvim.json");
    let output = std::process::Command::new("nvim")
        .args(["--headless", "--clean", "-c"])
        .arg(format!(
            "luafile {}",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/clients/nvim-lsp.lua")
                .display()
        ))
        .env("STARLING_LSP_BIN", bin())
        .env("STARLING_LSP_FILE", &script)
        .env("STARLING_LSP_OUT", &out)
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("STARLING_MODELS_DIR", models_dir())
        .stdin(Stdio::null())
        .output()
        .expect("nvim runs (scripts/setup.sh installs Debian's neovim for the tests)");
    let seen: Value = serde_json::from_str(
        &std::fs::read_to_string(&out)
            .unwrap_or_else(|e| panic!("nvim wrote no result ({e}): {}", stderr(&output))),
    )
    .unwrap();
    assert!(seen.get("error").is_none(), "{seen}");
    for step in [
        "diagnostics",
        "new_diagnostic",
        "fixed",
        "cleared",
        "stopped",
    ] {
        assert_eq!(seen["steps"][step], true, "step {step}: {seen}");
    }
    // The editor shows exactly what the command line reports, line by line and category by
    // category: the block-by-block check misses nothing.
    let mut shown: Vec<(u64, String)> = seen["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["lnum"].as_u64().unwrap(),
                d["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    shown.sort();
    assert_eq!(shown, cli_findings(home.path(), &script));
    // The findings the tone issue asked for, where the text has them. Neovim keeps byte
    // columns: it turned the server's UTF-16 positions into these.
    let lines: Vec<&str> = text.lines().collect();
    for (needle, category) in [
        ("I believe this is not accurate", "defensive"),
        ("I’ll do my best", "hedging"),
        ("beyond my control", "blame_shifting"),
        ("alledged", "passive_aggressive"),
        ("mentally draining", "venting"),
    ] {
        let places: Vec<(usize, usize)> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.find(needle).map(|c| (i, c)))
            .collect();
        let width = needle.len() as u64;
        assert!(
            seen["diagnostics"].as_array().unwrap().iter().any(|d| {
                places.iter().any(|&(line, column)| {
                    d["code"] == category
                        && d["lnum"] == line as u64
                        && d["col"].as_u64().unwrap() <= column as u64
                        && d["end_col"].as_u64().unwrap() >= column as u64 + width
                })
            }),
            "{needle:?} is not shown as {category}: {seen}"
        );
    }
    assert_eq!(seen["offset_encoding"], "utf-16");
    assert_eq!(seen["fixed_line"], "The fix lands soon.");
    assert_eq!(
        seen["titles"],
        json!(["Remove “Hopefully”", "Ignore hedging on this line"]),
        "no model rewrite is offered with model = false"
    );
}

/// A bare LSP client over the server's stdio.
struct Client {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: i64,
}

impl Client {
    fn start(home: &Path) -> Client {
        let mut child = starling(home)
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || loop {
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim();
                if header.is_empty() {
                    break;
                }
                if let Some(n) = header.strip_prefix("Content-Length: ") {
                    length = n.parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            if sender.send(serde_json::from_slice(&body).unwrap()).is_err() {
                return;
            }
        });
        Client {
            child,
            stdin,
            messages,
            next_id: 0,
        }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its response (`result` or `error`), skipping notifications.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.wait(|m| m["id"] == id && m.get("method").is_none())
    }

    /// The next message that `wanted` accepts (the others are dropped).
    fn wait(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = self
                .messages
                .recv_timeout(Duration::from_secs(180))
                .expect("the server answers");
            if wanted(&message) {
                return message;
            }
        }
    }

    /// The code actions offered at one position.
    fn code_actions(&mut self, uri: &str, line: u32, character: u32) -> Vec<Value> {
        let at = json!({"line": line, "character": character});
        self.request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": {"start": at, "end": at},
                   "context": {"diagnostics": []}}),
        )["result"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn diagnostics(&mut self) -> Vec<Value> {
        self.wait(|m| m["method"] == "textDocument/publishDiagnostics")["params"]["diagnostics"]
            .as_array()
            .unwrap()
            .clone()
    }
}

#[test]
fn the_language_server_answers_hover_actions_settings_evidence_and_rewrites() {
    let home = tempfile::tempdir().unwrap();
    let vault = indexed_fixture_vault(home.path(), &[]);
    let mut client = Client::start(home.path());
    let init = client.request(
        "initialize",
        json!({"capabilities": {"general": {"positionEncodings": ["utf-8", "utf-16"]}},
               "initializationOptions": {"starling": {"debounceMs": 20, "audit": false}}}),
    );
    assert_eq!(init["result"]["capabilities"]["positionEncoding"], "utf-8");
    client.notify("initialized", json!({}));

    let uri = "file:///tmp/draft.md";
    let text = "Maybe “Q3” ships on Friday, I’m so sorry for the delay.\n\nI cut p99 latency from 900 ms to 300 ms.\n";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "markdown", "version": 1, "text": text}}),
    );
    let diagnostics = client.diagnostics();
    let codes: Vec<&str> = diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"hedging") && codes.contains(&"over_apologizing"),
        "{diagnostics:?}"
    );
    // UTF-8 columns, as negotiated: "Maybe" at 0..5, the apology after a curly quote and ’.
    let maybe = diagnostics.iter().find(|d| d["code"] == "hedging").unwrap();
    assert_eq!(
        maybe["range"],
        json!({"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 5}})
    );
    let sorry = diagnostics
        .iter()
        .find(|d| d["code"] == "over_apologizing")
        .unwrap();
    assert_eq!(
        sorry["range"]["start"]["character"].as_u64().unwrap() as usize,
        text.find("so sorry").unwrap()
    );

    let hover = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 2}}),
    );
    let advice = hover["result"]["contents"]["value"].as_str().unwrap();
    assert!(
        advice.contains("hedging") && advice.contains("*Try:*"),
        "{advice}"
    );
    let nothing = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 2, "character": 3}}),
    );
    assert_eq!(nothing["result"], Value::Null);

    let actions = client.code_actions(uri, 0, 1);
    let titles: Vec<&str> = actions
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Remove “Maybe”",
            "Ignore hedging on this line",
            "Rewrite this sentence with the model"
        ]
    );
    let edit = &actions[0]["edit"]["changes"][uri][0];
    assert_eq!(
        (edit["newText"].as_str(), &edit["range"]["end"]),
        (Some(""), &json!({"line": 0, "character": 6})),
        "the word and its space go; a quote cannot take the capital"
    );
    let ignore = &actions[1]["edit"]["changes"][uri][0];
    assert_eq!(
        ignore["newText"],
        "<!-- starling-disable-next-line hedging -->\n"
    );

    // The ignore directive, typed in: the hedging finding goes, the apology stays.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2},
               "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                                    "text": "<!-- starling-disable-next-line hedging -->\n"}]}),
    );
    let diagnostics = client.diagnostics();
    let codes: Vec<&str> = diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(
        !codes.contains(&"hedging") && codes.contains(&"over_apologizing"),
        "{codes:?}"
    );
    assert_eq!(diagnostics[0]["range"]["start"]["line"], 1);

    // Settings: a minimum severity above every finding empties the list; a bad profile is said.
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"starling": {"minSeverity": "error", "profile": "no-such"}}}),
    );
    let said = client.wait(|m| m["method"] == "window/showMessage");
    assert!(said["params"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown profile `no-such`"));
    assert_eq!(client.diagnostics(), Vec::<Value>::new());
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"minSeverity": "info"}}),
    );
    assert!(!client.diagnostics().is_empty());

    // Evidence for the sentence under the cursor, from the index: the fixture vault's latency note.
    let evidence = client.request(
        "textDocument/references",
        json!({"textDocument": {"uri": uri}, "position": {"line": 3, "character": 4},
               "context": {"includeDeclaration": false}}),
    )["result"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!evidence.is_empty());
    for location in &evidence {
        let path = url::Url::parse(location["uri"].as_str().unwrap())
            .unwrap()
            .to_file_path()
            .unwrap();
        assert!(path.starts_with(vault.canonicalize().unwrap()), "{path:?}");
        let line = location["range"]["start"]["line"].as_u64().unwrap() as usize;
        assert!(line < std::fs::read_to_string(&path).unwrap().lines().count());
    }
    let same = client.request(
        "workspace/executeCommand",
        json!({"command": "starling.evidence",
               "arguments": [{"textDocument": {"uri": uri}, "position": {"line": 3, "character": 4}}]}),
    );
    assert_eq!(same["result"], json!(evidence));

    // The model rewrite: the real model either rewrites the sentence (the editor is asked to
    // apply it) or the rewrite is refused with the reason; both end the command.
    let actions = client.code_actions(uri, 1, 40);
    let rewrite = actions
        .iter()
        .find(|a| a["title"] == "Rewrite this sentence with the model")
        .unwrap();
    let stale = client.request(
        "workspace/executeCommand",
        json!({"command": "starling.rewriteSentence",
               "arguments": [{"uri": uri, "version": 1, "start": 0, "end": 4}]}),
    );
    assert_eq!(
        stale["error"]["code"], -32801,
        "an action offered for an older version: {stale}"
    );
    client.send(
        json!({"jsonrpc": "2.0", "id": 99, "method": "workspace/executeCommand",
                       "params": rewrite["command"]}),
    );
    let outcome = client.wait(|m| {
        m["method"] == "workspace/applyEdit"
            || (m["method"] == "window/showMessage"
                && m["params"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("kept the sentence"))
            || m["id"] == 99
    });
    assert!(
        outcome.get("error").is_none(),
        "the rewrite failed: {outcome}"
    );
    if outcome["method"] == "workspace/applyEdit" {
        let change = &outcome["params"]["edit"]["documentChanges"][0];
        assert_eq!(change["textDocument"], json!({"uri": uri, "version": 2}));
        let edit = &change["edits"][0];
        assert_eq!(edit["range"]["start"]["line"], 1);
        assert!(!edit["newText"].as_str().unwrap().is_empty());
    }
    if outcome["id"] != 99 {
        let done = client.wait(|m| m["id"] == 99);
        assert_eq!(done["result"], Value::Null, "{done}");
    }

    // The claim audit (on open and save, with an index): a figure the notes state otherwise is
    // a warning that points at the note's line.
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"audit": true}}),
    );
    let review = "file:///tmp/review.md";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": review, "languageId": "markdown", "version": 1,
               "text": "# Review\n\n- Flaky failures dropped 45% by the end of March.\n"}}),
    );
    let for_review = |m: &Value| {
        m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == review
    };
    let audited = client.wait(|m| {
        for_review(m)
            && m["params"]["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["code"] == "contradicted")
    });
    let contradicted = audited["params"]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "contradicted")
        .unwrap()
        .clone();
    assert_eq!(
        contradicted["range"]["start"],
        json!({"line": 2, "character": 2})
    );
    assert!(
        contradicted["message"]
            .as_str()
            .unwrap()
            .contains("claim 45%, notes 30%"),
        "{contradicted}"
    );
    let related = &contradicted["relatedInformation"][0]["location"];
    assert!(related["uri"]
        .as_str()
        .unwrap()
        .ends_with("work/2025-03-ci-flakes.md"));
    assert_eq!(related["range"]["start"]["line"], 16);
    // Editing the claim takes its verdict away until the next save audits it again.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": review, "version": 2},
               "contentChanges": [{"range": {"start": {"line": 2, "character": 25}, "end": {"line": 2, "character": 28}},
                                    "text": "30%"}]}),
    );
    let edited = client.wait(for_review);
    assert!(
        edited["params"]["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["code"] != "contradicted"),
        "{edited}"
    );
    client.notify(
        "textDocument/didSave",
        json!({"textDocument": {"uri": review}}),
    );
    // The tone first, then the audit of the saved text.
    client.wait(for_review);
    let saved = client.wait(for_review);
    assert!(
        saved["params"]["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["code"] != "contradicted"),
        "{saved}"
    );

    // A draft whose copy is indexed: the copy backs nothing and the editor is told so, once
    // (as `audit` warns in every format), not again at each save.
    let copy = "file:///tmp/outage-review-copy.md";
    let text =
        std::fs::read_to_string(vault.join("incidents/2025-02-certificate-outage.md")).unwrap();
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": copy, "languageId": "markdown", "version": 1, "text": text}}),
    );
    let holds_it = |m: &Value| {
        m["method"] == "window/showMessage"
            && m["params"]["message"]
                .as_str()
                .unwrap()
                .contains("incidents/2025-02-certificate-outage.md holds this draft")
    };
    let warned = client.wait(holds_it);
    assert_eq!(warned["params"]["type"], 2, "a warning: {warned}");
    let for_copy = |m: &Value| {
        assert!(!holds_it(m), "said twice: {m}");
        m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == copy
    };
    client.wait(for_copy);
    client.notify(
        "textDocument/didSave",
        json!({"textDocument": {"uri": copy}}),
    );
    client.wait(for_copy);
    client.wait(for_copy);

    let unknown = client.request("textDocument/formatting", json!({}));
    assert_eq!(unknown["error"]["code"], -32601);
    let shutdown = client.request("shutdown", Value::Null);
    assert_eq!(shutdown["result"], Value::Null);
    client.notify("exit", Value::Null);
    let status = client.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
