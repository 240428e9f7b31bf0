//! `starling serve` against a real server on a free port, with the real engines: the safety
//! rules (token, Host, Origin, body size, bad JSON), SSE streaming, the endpoints, the model
//! queue, a standard OpenAI client, and a clean SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{fixture, fixture_vault, run, starling, stderr, stdout, Server};

#[test]
fn the_api_is_safe_by_default() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(home.path(), &["--allow-origin", "https://ok.example"]);
    let host = format!("127.0.0.1:{}", server.port);
    let auth = format!("Bearer {}", server.token);

    // Health needs no token; everything else does.
    assert_eq!(
        server
            .request("GET", "/v1/health", None, &[("Host", &host)])
            .0,
        200
    );
    assert_eq!(
        server
            .request("GET", "/v1/status", None, &[("Host", &host)])
            .0,
        401
    );
    assert_eq!(
        server
            .request(
                "GET",
                "/v1/status",
                None,
                &[("Host", &host), ("Authorization", "Bearer wrong")]
            )
            .0,
        401
    );
    assert_eq!(
        server
            .request(
                "GET",
                "/v1/status",
                None,
                &[("Host", &host), ("Authorization", &auth)]
            )
            .0,
        200
    );

    // DNS rebinding: another name in Host, or none, is refused even with the token.
    let (status, _, body) = server.request(
        "GET",
        "/v1/status",
        None,
        &[("Host", "evil.example"), ("Authorization", &auth)],
    );
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = server.raw(&format!(
        "GET /v1/status HTTP/1.0\r\nAuthorization: {auth}\r\n\r\n"
    ));
    assert_eq!(status, 403);
    assert_eq!(
        server
            .request("GET", "/v1/health", None, &[("Host", "localhost:1")])
            .0,
        403
    );

    // CORS: an unknown origin's preflight gets no allowance; an allowed one gets exactly it.
    let preflight = |origin: &str| {
        server.request(
            "OPTIONS",
            "/v1/tone",
            None,
            &[
                ("Host", &host),
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
            ],
        )
    };
    let (status, head, _) = preflight("https://evil.example");
    assert_eq!(status, 403);
    assert!(
        !head.to_lowercase().contains("access-control-allow-origin"),
        "{head}"
    );
    let (status, head, _) = preflight("https://ok.example");
    assert_eq!(status, 204);
    assert!(
        head.to_lowercase()
            .contains("access-control-allow-origin: https://ok.example"),
        "{head}"
    );
    assert!(!head.contains("access-control-allow-origin: *"));

    // Body size, bad JSON, a wrong field, unknown routes.
    let huge = format!("{{\"text\": \"{}\"}}", "a".repeat(3 * 1024 * 1024));
    assert_eq!(
        server
            .request(
                "POST",
                "/v1/tone",
                Some(&huge),
                &[("Host", &host), ("Authorization", &auth)]
            )
            .0,
        413
    );
    let (status, _, body) = server.request(
        "POST",
        "/v1/tone",
        Some("{\"text\": "),
        &[("Host", &host), ("Authorization", &auth)],
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.call("POST", "/v1/tone", Some(json!({"txt": "hello"})));
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("txt"),
        "{body}"
    );
    assert_eq!(server.call("GET", "/v1/nothing", None).0, 404);

    // The token file is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.path().join("data/starling/server-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Discovery file while running; SIGTERM exits 0 and removes it.
    let discovery = home.path().join("data/starling/server.json");
    let record: Value = serde_json::from_slice(&std::fs::read(&discovery).unwrap()).unwrap();
    assert_eq!(record["address"], format!("127.0.0.1:{}", server.port));
    assert!(server.stop().success());
    assert!(!discovery.exists());
}

/// Writes `notes.paths` into the home's config file: the roots a server may read and index.
fn configure_roots(home: &Path, roots: &[&Path]) {
    let dir = home.join("config/starling");
    std::fs::create_dir_all(&dir).unwrap();
    let roots: Vec<String> = roots
        .iter()
        .map(|r| std::fs::canonicalize(r).unwrap().display().to_string())
        .collect();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[notes]\npaths = {}\n",
            serde_json::to_string(&roots).unwrap()
        ),
    )
    .unwrap();
}

#[test]
fn every_feature_answers_over_http_and_generation_streams() {
    let home = tempfile::tempdir().unwrap();
    let vault = fixture_vault(home.path(), &[]);
    configure_roots(home.path(), &[&vault]);
    let server = Server::start(home.path(), &[]);

    let (status, report) = server.call("POST", "/v1/index", Some(json!({"paths": [vault]})));
    assert_eq!(status, 200, "{report}");
    assert!(report["chunks_embedded"].as_u64().unwrap() > 5);
    let (status, hits) = server.call(
        "POST",
        "/v1/search",
        Some(json!({"query": "flaky tests build time", "k": 3})),
    );
    assert_eq!(status, 200);
    assert_eq!(hits[0]["path"], "work/2025-03-ci-flakes.md", "{hits}");
    for field in ["path", "line_start", "line_end", "heading", "score", "text"] {
        assert!(!hits[0][field].is_null(), "{field}");
    }
    let (_, status_json) = server.call("GET", "/v1/status", None);
    assert_eq!(status_json["files_indexed"], 7);

    let (status, tone) = server.call("POST", "/v1/tone", Some(json!({"text": "Sorry, I just think maybe this was kind of not my fault.", "profile": "pip-response"})));
    assert_eq!(status, 200);
    assert!(tone["findings"].as_array().unwrap().len() >= 2, "{tone}");

    let (status, audit) = server.call(
        "POST",
        "/v1/audit",
        Some(json!({"text": "- Flaky failures dropped 45% by the end of March.\n- Could we add more tests next year?\n", "no_model": true})),
    );
    assert_eq!(status, 200, "{audit}");
    assert_eq!(audit["claims"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit["claims"][0]["verdict"], "contradicted", "{audit}");
    assert_eq!(
        audit["claims"][0]["differences"][0]["notes"], "30%",
        "{audit}"
    );
    let (status, _) = server.call(
        "POST",
        "/v1/audit",
        Some(json!({"text": "I shipped it.", "since": "yesterday"})),
    );
    assert_eq!(status, 400);

    let (status, draft) = server.call(
        "POST",
        "/v1/star",
        Some(json!({"competency": "Improving CI reliability and build speed", "no_model": true})),
    );
    assert_eq!(status, 200);
    assert!(
        draft["citations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == "work/2025-03-ci-flakes.md"),
        "{draft}"
    );

    let rubric = std::fs::read_to_string(fixture("map/rubric.md")).unwrap();
    let (status, map) = server.call(
        "POST",
        "/v1/map",
        Some(json!({"rubric": rubric, "no_model": true})),
    );
    assert_eq!(status, 200);
    assert_eq!(map["items"].as_array().unwrap().len(), 10);

    let (status, rewritten) = server.call("POST", "/v1/rewrite", Some(json!({"text": "# Keep\n\nI just kind of think the rollout went fine.\n", "style": "confident"})));
    assert_eq!(status, 200, "{rewritten}");
    assert!(rewritten["text"]
        .as_str()
        .unwrap()
        .starts_with("# Keep\n\n"));
    let (status, err) = server.call(
        "POST",
        "/v1/rewrite",
        Some(json!({"text": "x", "style": "pirate"})),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("concise"),
        "{err}"
    );

    let (status, vectors) = server.call(
        "POST",
        "/v1/embeddings",
        Some(json!({"input": ["one", "two"]})),
    );
    assert_eq!(status, 200);
    assert_eq!(
        vectors["data"][1]["embedding"].as_array().unwrap().len(),
        384
    );

    let (status, stories) = server.call(
        "POST",
        "/v1/stories",
        Some(json!({
            "questions": "- Tell me about a time you made the build faster.\n\
                          - Tell me about a production incident you owned.\n",
            "k": 2,
            "star": true
        })),
    );
    assert_eq!(status, 200, "{stories}");
    assert_eq!(
        stories["questions"][0]["stories"][0]["path"], "work/2025-03-ci-flakes.md",
        "{stories}"
    );
    assert!(
        !stories["questions"][1]["star"]["citations"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{stories}"
    );
    // Past the documented maxima: refused, never clamped silently.
    for (path, body) in [
        ("/v1/star", json!({"competency": "CI", "stories": 1001})),
        (
            "/v1/star",
            json!({"competency": "CI", "k": 51, "no_model": true}),
        ),
        (
            "/v1/map",
            json!({"rubric": "## A\n\n- b\n", "k": 21, "no_model": true}),
        ),
    ] {
        let (status, err) = server.call("POST", path, Some(body));
        assert_eq!(status, 400, "{path}: {err}");
    }
    let (status, err) = server.call(
        "POST",
        "/v1/stories",
        Some(json!({"questions": "no list here"})),
    );
    assert_eq!(status, 422, "{err}");
    // A rubric that parses but holds no item is unusable (422); one that does not parse, a
    // bad request (400).
    for (body, want) in [
        (json!({"rubric": "# Ladder\n", "no_model": true}), 422),
        (
            json!({"rubric": "[[section]\ntitle = 1\n", "rubric_name": "ladder.toml", "no_model": true}),
            400,
        ),
    ] {
        let (status, err) = server.call("POST", "/v1/map", Some(body));
        assert_eq!(status, want, "{err}");
        assert!(err["error"]["message"].is_string(), "{err}");
    }
    let (status, batch) = server.call(
        "POST",
        "/v1/rewrite/batch",
        Some(json!({"style": "concise", "files": [
            {"name": "a.md", "text": "# A\n\nI just kind of think the rollout went fine.\n"},
            {"name": "b.md", "text": "  \n"}]})),
    );
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch["rewritten"], 1, "{batch}");
    assert_eq!(batch["skipped"], 1, "{batch}");
    assert!(
        batch["files"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("# A\n\n"),
        "{batch}"
    );

    // The document is generated from the request and response types and the routes: every
    // CLI feature has its endpoint, every documented operation is served, and the answers above
    // are valid against their documented schemas.
    let (status, openapi) = server.call("GET", "/openapi.json", None);
    assert_eq!(status, 200);
    let documented: Vec<&str> = openapi["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "/openapi.json",
        "/v1/audit",
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/generate",
        "/v1/health",
        "/v1/index",
        "/v1/map",
        "/v1/models",
        "/v1/rewrite",
        "/v1/rewrite/batch",
        "/v1/search",
        "/v1/star",
        "/v1/star/rubric",
        "/v1/status",
        "/v1/stories",
        "/v1/tone",
    ];
    expected.sort_unstable();
    let mut sorted = documented.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected);
    for path in &documented {
        for (method, _) in openapi["paths"][path].as_object().unwrap() {
            let (status, answer) = match method.as_str() {
                "get" => server.call("GET", path, None),
                // An empty body: refused (400) or, where every field is optional, answered.
                _ => server.call("POST", path, Some(json!({}))),
            };
            assert!(
                ![404, 405].contains(&status),
                "{method} {path}: {status} {answer}"
            );
        }
    }
    assert_eq!(server.call("POST", "/v1/nothing", Some(json!({}))).0, 404);
    let schema_at = |pointer: &str| {
        let mut schema = openapi
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{pointer}"))
            .clone();
        schema["components"] = openapi["components"].clone();
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{pointer}: {e}"))
    };
    let answer_schema = |path: &str, method: &str| {
        schema_at(&format!(
            "/paths/{}/{method}/responses/200/content/application~1json/schema",
            path.replace('/', "~1")
        ))
    };
    // A schema may ask for any JSON value, not only an object (a boolean: two tokens at most,
    // where a number's digits could outrun max_tokens).
    let (status, flag) = server.call(
        "POST",
        "/v1/generate",
        Some(json!({"prompt": "Is the sky blue?", "max_tokens": 16, "json_schema": {"type": "boolean"}})),
    );
    assert_eq!(status, 200, "{flag}");
    assert!(flag["json"].is_boolean(), "{flag}");
    for (path, method, answer) in [
        ("/v1/generate", "post", &flag),
        ("/v1/index", "post", &report),
        ("/v1/search", "post", &hits),
        ("/v1/status", "get", &status_json),
        ("/v1/tone", "post", &tone),
        ("/v1/audit", "post", &audit),
        ("/v1/star", "post", &draft),
        ("/v1/map", "post", &map),
        ("/v1/rewrite", "post", &rewritten),
        ("/v1/rewrite/batch", "post", &batch),
        ("/v1/stories", "post", &stories),
    ] {
        let errors: Vec<String> = answer_schema(path, method)
            .iter_errors(answer)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{path}: {errors:?}");
    }
    // The requests the command line sends are the documented bodies; a stray field is not.
    let search_request = schema_at("/components/schemas/SearchRequest");
    let request = serde_json::to_value(starling::app::search::SearchRequest::new("ci")).unwrap();
    assert!(search_request.is_valid(&request), "{request}");
    assert!(!search_request.is_valid(&json!({"query": "ci", "top": 3})));
    assert!(!search_request.is_valid(&json!({"query": "ci", "k": 0})));

    // A valid schema: no enum lists a value twice (JSON Schema requires them unique).
    fn enums_unique(value: &Value) {
        match value {
            Value::Object(fields) => {
                if let Some(Value::Array(values)) = fields.get("enum") {
                    let mut seen = values.iter().map(Value::to_string).collect::<Vec<_>>();
                    seen.sort();
                    seen.dedup();
                    assert_eq!(seen.len(), values.len(), "{values:?}");
                }
                fields.values().for_each(enums_unique);
            }
            Value::Array(items) => items.iter().for_each(enums_unique),
            _ => {}
        }
    }
    enums_unique(&openapi);

    // The CLI goes through the server that holds the store.
    let output =
        run(starling(home.path()).args(["search", "flaky tests build time", "--json", "-k", "2"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let through: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(through[0]["path"], "work/2025-03-ci-flakes.md");
    let output = run(starling(home.path()).args([
        "star",
        "--competency",
        "Improving CI reliability and build speed",
        "--no-model",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("[^1]: work/2025-03-ci-flakes.md"),
        "{}",
        stdout(&output)
    );
    let output = run(starling(home.path())
        .arg("map")
        .arg(fixture("map/rubric.md"))
        .args(["--no-model", "--format", "md"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("| Delivery | Improves CI reliability and build times |"),
        "{}",
        stdout(&output)
    );

    // The story bank and the claim audit go through it too (`/v1/stories`, `/v1/audit`).
    let questions = home.path().join("questions.md");
    std::fs::write(
        &questions,
        "- Tell me about a time you made the build faster.\n",
    )
    .unwrap();
    let output = run(starling(home.path())
        .arg("stories")
        .arg(&questions)
        .args(["--format", "json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let bank: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(bank["file"], questions.display().to_string());
    assert_eq!(
        bank["questions"][0]["stories"][0]["path"], "work/2025-03-ci-flakes.md",
        "{bank}"
    );
    let claims = home.path().join("claims.md");
    std::fs::write(
        &claims,
        "- Flaky failures dropped 45% by the end of March.\n",
    )
    .unwrap();
    let output = run(starling(home.path())
        .arg("audit")
        .arg(&claims)
        .args(["--format", "json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let checked: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(checked["file"], claims.display().to_string());
    assert_eq!(checked["claims"][0]["verdict"], "contradicted", "{checked}");

    // A rubric-wide STAR through the server (`/v1/star/rubric`), as the CLI draws it alone.
    let output = run(starling(home.path())
        .args(["star", "--rubric"])
        .arg(fixture("map/rubric.md"))
        .args(["--no-model", "--format", "json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let drafts: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let summary = drafts["summary"].as_array().unwrap();
    assert!(summary.len() >= 2, "{drafts}");
    assert_eq!(drafts["entries"].as_array().unwrap().len(), summary.len());
    assert!(
        summary.iter().any(|row| row["level"] != "growth area"),
        "{drafts}"
    );
    assert!(drafts.get("markdown").is_none(), "{drafts}");
    let output = run(starling(home.path())
        .args(["star", "--rubric"])
        .arg(fixture("map/rubric.md"))
        .args(["--no-model", "--format", "table"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("| Dimension | Situation |")
            && stdout(&output).contains("## Strengths and growth areas"),
        "{}",
        stdout(&output)
    );

    // The README's editor client: diagnostics, one per line.
    let draft = home.path().join("draft.md");
    std::fs::write(
        &draft,
        "# Reply\n\nSorry, I just think maybe this was kind of not my fault.\n",
    )
    .unwrap();
    let output = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/editor/tone_check.py"))
        .arg(&draft)
        .env("XDG_DATA_HOME", home.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let diagnostics = stdout(&output);
    assert!(
        diagnostics
            .lines()
            .any(|l| l.starts_with(&format!("{}:3:", draft.display())) && l.contains("hedging")),
        "{diagnostics}"
    );

    // Streaming: several token events arrive before the final one.
    let host = format!("127.0.0.1:{}", server.port);
    let auth = format!("Bearer {}", server.token);
    let body =
        json!({"prompt": "List three colours.", "max_tokens": 24, "stream": true}).to_string();
    let (status, head, events) = server.request(
        "POST",
        "/v1/generate",
        Some(&body),
        &[("Host", &host), ("Authorization", &auth)],
    );
    assert_eq!(status, 200);
    assert!(head.contains("text/event-stream"), "{head}");
    let done = events.find("event: done").expect("a done event");
    assert!(
        events[..done].matches("event: token").count() >= 3,
        "{events}"
    );
    // Every token names its generation (one call here: call 0).
    for line in events[..done].lines().filter(|l| l.starts_with("data:")) {
        let token: Value = serde_json::from_str(line.trim_start_matches("data:").trim()).unwrap();
        assert_eq!(token["call"], 0, "{line}");
        assert!(token["text"].is_string(), "{line}");
    }
}

#[test]
fn the_api_reads_and_indexes_only_under_the_note_roots_and_takes_plain_curl_bodies() {
    let home = tempfile::tempdir().unwrap();
    let vault = fixture_vault(home.path(), &[]);
    configure_roots(home.path(), &[&vault]);
    let server = Server::start(home.path(), &[]);
    let (status, report) = server.call("POST", "/v1/index", Some(json!({"paths": [vault]})));
    assert_eq!(status, 200, "{report}");
    let indexed = server.call("GET", "/v1/status", None).1["files_indexed"].clone();
    assert_eq!(indexed, 7);

    // /v1/index outside the roots: refused, and the vault stays indexed.
    for outside in ["/etc/passwd", "/etc", "/nonexistent/notes"] {
        let (status, body) = server.call("POST", "/v1/index", Some(json!({"paths": [outside]})));
        assert_eq!(status, 403, "{outside}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not a file or folder under a note root"),
            "{body}"
        );
    }
    let (status, report) = server.call(
        "POST",
        "/v1/index",
        Some(json!({"paths": [vault.join("work")]})),
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["files_deleted"], 0, "{report}");
    assert_eq!(
        server.call("GET", "/v1/status", None).1["files_indexed"],
        indexed
    );

    // `include`: a folder name with `:` and `..`, a link out of the vault, an absolute path.
    std::fs::create_dir_all(vault.join("work/Q3: launch")).unwrap();
    std::os::unix::fs::symlink(
        home.path().join("data/starling/server-token"),
        vault.join("work/leak.md"),
    )
    .unwrap();
    for include in [
        "work/Q3: launch/../../../../../../../../../../etc/passwd",
        "work/Q3: launch/../../../../../../../../../../etc/passwd:1-1",
        "work/leak.md",
        "/etc/passwd",
        "../data/starling/server-token",
    ] {
        let (status, body) = server.call(
            "POST",
            "/v1/star",
            Some(json!({"competency": "Improving CI reliability", "no_model": true, "include": [include]})),
        );
        // Outside the roots or not there: the same 404, which says nothing of what exists.
        assert_eq!(status, 404, "{include}: {body}");
        let text = body.to_string();
        assert!(
            !text.contains("root:") && !text.contains(&server.token),
            "{include}: {text}"
        );
        // The rubric-wide STAR pins the same way.
        let (status, body) = server.call(
            "POST",
            "/v1/star/rubric",
            Some(json!({"rubric": "# Ladder\n\n## Delivery\n- Improves CI reliability\n", "no_model": true, "include": [include]})),
        );
        assert_eq!(status, 404, "{include}: {body}");
        assert!(!body.to_string().contains("root:"), "{include}: {body}");
    }
    let (status, draft) = server.call(
        "POST",
        "/v1/star",
        Some(json!({"competency": "Improving CI reliability and build speed", "no_model": true, "include": ["work/2025-03-ci-flakes.md:1-3"]})),
    );
    assert_eq!(status, 200, "{draft}");

    // README's curl: no Content-Type, or curl -d's form type, is still JSON; bad JSON is 400
    // naming the field.
    let host = format!("127.0.0.1:{}", server.port);
    let auth = format!("Bearer {}", server.token);
    let plain = |body: &str, content_type: Option<&str>| {
        let mut request = format!(
            "POST /v1/search HTTP/1.1\r\nConnection: close\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(content_type) = content_type {
            request.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        server.raw(&request)
    };
    let query = r#"{"query": "flaky tests build time", "k": 3}"#;
    for content_type in [None, Some("application/x-www-form-urlencoded")] {
        let (status, _, body) = plain(query, content_type);
        assert_eq!(status, 200, "{content_type:?}: {body}");
        assert!(body.contains("2025-03-ci-flakes.md"), "{body}");
    }
    let (status, _, body) = plain(r#"{"qery": "x"}"#, None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("qery"), "{body}");
}

#[test]
fn the_token_and_the_data_dir_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data/starling");
    let output = run(starling(home.path()).arg("token"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("server-token")), 0o600);

    // A token and a data dir left readable by an earlier version are made private.
    let token = stdout(&output).trim().to_string();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        data.join("server-token"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let output = run(starling(home.path()).arg("token"));
    assert_eq!(stdout(&output).trim(), token, "the same token");
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("server-token")), 0o600);

    // Indexing makes the data dir private too (the store's files hold note sentences).
    let other = tempfile::tempdir().unwrap();
    let vault = other.path().join("vault");
    std::fs::create_dir_all(&vault).unwrap();
    std::fs::write(vault.join("a.md"), "# A\n\nShipped the thing.\n").unwrap();
    std::fs::create_dir_all(other.path().join("data/starling")).unwrap();
    std::fs::set_permissions(
        other.path().join("data/starling"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let output = run(starling(other.path()).arg("index").arg(&vault));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&other.path().join("data/starling")), 0o700);
}

#[test]
fn generations_run_side_by_side_a_full_queue_answers_503_and_a_gone_client_frees_the_model() {
    let home = tempfile::tempdir().unwrap();
    // Two sequences decode together; with no queue the third request is refused.
    std::fs::create_dir_all(home.path().join("config/starling")).unwrap();
    std::fs::write(
        home.path().join("config/starling/config.toml"),
        "[generator]\nparallel = 2\n",
    )
    .unwrap();
    let server = Server::start(home.path(), &["--queue", "0"]);
    let host = format!("127.0.0.1:{}", server.port);
    let auth = format!("Bearer {}", server.token);
    // A long streamed generation holds a sequence; read its first event (hang up later).
    let long = || {
        let body = json!({"prompt": "Write a long story about a lighthouse.", "max_tokens": 1500, "stream": true, "temperature": 0.8}).to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        write!(stream, "POST /v1/generate HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut first = [0u8; 512];
        let n = stream.read(&mut first).unwrap();
        assert!(String::from_utf8_lossy(&first[..n]).contains("200"));
        stream
    };
    let short = || {
        server.request(
            "POST",
            "/v1/generate",
            Some(&json!({"prompt": "hi", "max_tokens": 4}).to_string()),
            &[("Host", &host), ("Authorization", &auth)],
        )
    };
    let first = long();
    // The other sequence answers beside the running one, at once, not after it.
    let (status, _, body) = short();
    assert_eq!(status, 200, "{body}");
    let second = long();
    let (status, head, _) = short();
    assert_eq!(status, 503);
    assert!(head.to_lowercase().contains("retry-after"), "{head}");
    // Tone checks never wait for the model.
    assert_eq!(
        server
            .call(
                "POST",
                "/v1/tone",
                Some(json!({"text": "I'm sorry, this might be late."}))
            )
            .0,
        200
    );

    // Hanging up cancels the long generation: its sequence frees well before 1,500 tokens.
    drop(first);
    let mut answered = false;
    for _ in 0..300 {
        let (status, _, _) = short();
        if status == 200 {
            answered = true;
            break;
        }
        assert_eq!(status, 503);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        answered,
        "the cancelled generation never released the model"
    );
    drop(second);
    assert_eq!(server.call("GET", "/v1/health", None).0, 200);
}

/// A virtualenv with the `openai` package (scripts/test.sh makes it; made here if missing).
fn openai_python() -> PathBuf {
    if let Some(python) = std::env::var_os("STARLING_TEST_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        assert!(Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap()
            .success());
    }
    let has = Command::new(&python)
        .args(["-c", "import openai"])
        .status()
        .unwrap()
        .success();
    if !has {
        let output = Command::new(&python)
            .args(["-m", "pip", "install", "-q", "openai>=1,<3"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pip install openai: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    python
}

#[test]
fn the_openai_python_client_gets_completions_and_streams() {
    let python = openai_python();
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(home.path(), &[]);
    let output = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/openai_check.py"))
        .env(
            "STARLING_URL",
            format!("http://127.0.0.1:{}/v1", server.port),
        )
        .env("STARLING_TOKEN", &server.token)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    let report: Value = serde_json::from_str(stdout(&output).lines().last().unwrap()).unwrap();
    assert!(
        !report["completion"].as_str().unwrap().is_empty(),
        "{report}"
    );
    assert!(report["stream_chunks"].as_u64().unwrap() >= 2, "{report}");
    assert_eq!(report["embedding_dimensions"], 384);
}

#[test]
fn allow_remote_admits_the_named_hosts_and_still_wants_the_token() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start_at(
        home.path(),
        "0.0.0.0:0",
        &["--allow-remote", "--allow-host", "notes.test"],
    );
    let port = server.port;
    let named = format!("notes.test:{port}");
    let auth = format!("Bearer {}", server.token);
    // The name clients use is admitted; the token is still required.
    let (status, _, _) = server.request("GET", "/v1/health", None, &[("Host", &named)]);
    assert_eq!(status, 200);
    let (status, _, _) = server.request("GET", "/v1/status", None, &[("Host", &named)]);
    assert_eq!(status, 401);
    let (status, _, body) = server.request(
        "GET",
        "/v1/status",
        None,
        &[("Host", &named), ("Authorization", &auth)],
    );
    assert_eq!(status, 200, "{body}");
    // Any other name is still refused, token or not.
    let other = format!("evil.test:{port}");
    let (status, _, body) = server.request(
        "GET",
        "/v1/status",
        None,
        &[("Host", &other), ("Authorization", &auth)],
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("notes.test"), "{body}");
    assert!(server.stop().success());

    // --allow-host means nothing without --allow-remote.
    let output = run(starling(home.path()).args(["serve", "--allow-host", "notes.test"]));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--allow-remote"),
        "{}",
        stderr(&output)
    );
}

/// Reads until the server closes the connection; true when it did (EOF or reset) before
/// `limit`.
fn closed_by_server(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn slow_clients_are_cut_off_and_health_still_answers() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(
        home.path(),
        &["--max-connections", "16", "--header-timeout", "1"],
    );
    let port = server.port;
    let slow_head = format!("GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ");
    let open_slow = || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(slow_head.as_bytes()).unwrap();
        stream
    };
    // A client that never finishes its headers is disconnected (header timeout).
    let mut lone = open_slow();
    assert!(closed_by_server(&mut lone, Duration::from_secs(60)));

    // Many of them: the newest connections still get answers, and every slow one is closed.
    let mut slow: Vec<TcpStream> = (0..48).map(|_| open_slow()).collect();
    let host = format!("127.0.0.1:{port}");
    let (status, _, body) = server.request("GET", "/v1/health", None, &[("Host", &host)]);
    assert_eq!(status, 200, "{body}");
    for stream in &mut slow {
        assert!(closed_by_server(stream, Duration::from_secs(60)));
    }

    // Connections kept alive after their answer are idle: at the cap, the oldest gives way.
    let idle: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream
                .write_all(format!("GET /v1/health HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
                .unwrap();
            let mut first = [0u8; 12];
            stream.read_exact(&mut first).unwrap();
            assert_eq!(&first, b"HTTP/1.1 200");
            stream
        })
        .collect();
    let (status, _, body) = server.request("GET", "/v1/health", None, &[("Host", &host)]);
    assert_eq!(status, 200, "{body}");
    drop(idle);

    // When every connection is in the middle of a request, a new one is told to come back.
    let auth = format!("Bearer {}", server.token);
    let busy: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream
                .write_all(
                    format!(
                        "POST /v1/tone HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"text\": \""
                    )
                    .as_bytes(),
                )
                .unwrap();
            stream
        })
        .collect();
    // Once the server has read their heads (a newcomer before that could take the place of
    // one still sending it), a newcomer is refused.
    std::thread::sleep(Duration::from_millis(500));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let head = loop {
        let (status, head, _) = server.request("GET", "/v1/health", None, &[("Host", &host)]);
        if status == 503 {
            break head;
        }
        assert_eq!(status, 200, "{head}");
        assert!(
            std::time::Instant::now() < deadline,
            "never refused at the cap"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    // Their clients give up; the server can then stop (each connection's request has ended).
    drop(busy);
    assert!(server.stop().success());
}

#[test]
fn tone_checks_beyond_the_workers_get_503_with_retry_after() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(home.path(), &["--workers", "1"]);
    let port = server.port;
    let auth = format!("Bearer {}", server.token);
    let host = format!("127.0.0.1:{port}");
    // A long script keeps the one worker busy (the classifier embeds every sentence).
    let long = json!({"text": "I guess the migration slipped a bit, honestly. We never got the schema. ".repeat(3_000)}).to_string();
    let request = format!(
        "POST /v1/tone HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{long}",
        long.len()
    );
    let send_long = || {
        let mut busy = TcpStream::connect(("127.0.0.1", port)).unwrap();
        busy.write_all(request.as_bytes()).unwrap();
        let (done, answered) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut answer = String::new();
            let _ = busy.read_to_string(&mut answer);
            let _ = done.send(answer);
        });
        answered
    };
    let mut long = send_long();
    // Small checks go through until the long one holds the worker; then they are refused.
    let small = json!({"text": "Sorry, I just think maybe."}).to_string();
    let mut refused = None;
    while refused.is_none() {
        let (status, head, body) = server.request(
            "POST",
            "/v1/tone",
            Some(&small),
            &[("Host", &host), ("Authorization", &auth)],
        );
        if status == 503 {
            refused = Some((head, body));
            continue;
        }
        assert_eq!(status, 200, "{body}");
        if let Ok(answer) = long.try_recv() {
            // It arrived while a small check held the worker: send it again.
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer:.300}");
            long = send_long();
        }
    }
    let (head, body) = refused.unwrap();
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 2"),
        "{head}"
    );
    assert!(body.contains("--workers"), "{body}");
}

#[test]
fn an_index_request_past_the_timeout_stops_embedding() {
    let home = tempfile::tempdir().unwrap();
    let vault = home.path().join("vault");
    std::fs::create_dir_all(&vault).unwrap();
    let notes = 8_000;
    for i in 0..notes {
        std::fs::write(
            vault.join(format!("n{i:05}.md")),
            format!("# Note {i}\n\nPaired on step {i} of the ledger migration with the platform team.\n"),
        )
        .unwrap();
    }
    let config = home.path().join("config/starling");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!("[notes]\npaths = [{:?}]\n", vault.display().to_string()),
    )
    .unwrap();
    let server = Server::start(home.path(), &["--timeout", "1"]);
    let (status, body) = server.call("POST", "/v1/index", Some(json!({})));
    assert_eq!(status, 504, "{body}");
    // The run stops at its next batch of embeddings: the count settles below the whole vault.
    // (Uncancelled, this debug build commits a batch of 512 chunks every ten seconds or so.)
    std::thread::sleep(Duration::from_secs(5));
    let (_, first) = server.call("GET", "/v1/status", None);
    std::thread::sleep(Duration::from_secs(30));
    let (_, second) = server.call("GET", "/v1/status", None);
    assert_eq!(first["files_indexed"], second["files_indexed"], "{second}");
    assert!(
        second["files_indexed"].as_u64().unwrap() < notes,
        "the run went on after its 504: {second}"
    );
}

#[test]
fn commands_reach_a_server_on_another_loopback_address() {
    let home = tempfile::tempdir().unwrap();
    let vault = fixture_vault(home.path(), &[]);
    let output = run(starling(home.path()).arg("index").arg(&vault));
    assert!(output.status.success(), "{}", stderr(&output));
    // The server holds the store; the CLI dials the address it recorded (not 127.0.0.1).
    let _server = Server::start_at(home.path(), "127.0.0.2:0", &[]);
    let output =
        run(starling(home.path()).args(["search", "flaky tests build time", "--json", "-k", "1"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let hits: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(hits[0]["path"], "work/2025-03-ci-flakes.md", "{hits}");
}
