//! The note store on a real Qdrant server (`../shared/bin/qdrant`, started here on free
//! loopback ports with a temporary storage dir) and on a 3-node cluster
//! (`scripts/qdrant-cluster.sh`): the conformance suite, the CLI's index and search against the
//! embedded store's answers, `store migrate` both ways, and search with a node down.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use starling::backends::conformance::{conformance, item, DIMENSION};
use starling::backends::qdrant_server::{QdrantServerStore, ServerOptions};
use starling::backends::VectorStore;

use crate::common::{fixture_vault, run, shared, shared_examples, starling, stderr, stdout};

fn qdrant_bin() -> PathBuf {
    shared("bin/qdrant")
}

/// A plain HTTP GET on loopback: the status and the body.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// Free loopback ports, all bound at once so that no two are the same.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// One Qdrant server for a test, stopped (and its storage removed) when dropped.
struct Qdrant {
    child: Child,
    grpc: u16,
    dir: tempfile::TempDir,
}

impl Qdrant {
    fn start() -> Qdrant {
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports(2);
        let (http, grpc) = (ports[0], ports[1]);
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(qdrant_bin())
            .current_dir(dir.path())
            .env("QDRANT__SERVICE__HOST", "127.0.0.1")
            .env("QDRANT__SERVICE__HTTP_PORT", http.to_string())
            .env("QDRANT__SERVICE__GRPC_PORT", grpc.to_string())
            .env("QDRANT__STORAGE__STORAGE_PATH", dir.path().join("storage"))
            .env(
                "QDRANT__STORAGE__SNAPSHOTS_PATH",
                dir.path().join("snapshots"),
            )
            .env("QDRANT__TELEMETRY_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Qdrant { child, grpc, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        // Ready over REST, and its gRPC port (the store's) taking connections: Qdrant binds the
        // two separately, so the first can answer before the second listens.
        while http_get(http, "/readyz").map(|(s, _)| s) != Some(200)
            || std::net::TcpStream::connect(("127.0.0.1", grpc)).is_err()
        {
            if Instant::now() > deadline || server.child.try_wait().unwrap().is_some() {
                let log = std::fs::read_to_string(server.dir.path().join("log")).unwrap();
                panic!("the Qdrant server did not start:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc)
    }
}

impl Drop for Qdrant {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn options(url: &str, collection: &str, dimension: usize) -> ServerOptions {
    ServerOptions {
        url: url.into(),
        collection: collection.into(),
        api_key: None,
        dimension,
        shards: 1,
        replication_factor: 1,
        timeout: Duration::from_secs(30),
    }
}

#[test]
fn a_qdrant_server_store_conforms_and_checks_its_collection() {
    let server = Qdrant::start();
    {
        let store =
            QdrantServerStore::open(&options(&server.url(), "conformance", DIMENSION)).unwrap();
        conformance(&store);
    }
    // Reopened: the chunks are there (the server keeps them), from inside a tokio runtime too
    // (the HTTP server's handlers call the store from its blocking pool).
    let store = QdrantServerStore::open(&options(&server.url(), "conformance", DIMENSION)).unwrap();
    assert_eq!(store.count().unwrap(), 3);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let in_runtime = runtime.block_on(async { store.count() }).unwrap();
    assert_eq!(in_runtime, 3);
    drop(runtime);

    // Another embedder's vectors: refused, naming the fix.
    let message = QdrantServerStore::open(&options(&server.url(), "conformance", DIMENSION * 2))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("dimension") && message.contains("conformance"),
        "{message}"
    );
    // Nothing listening: an error naming the URL and what to check, quickly.
    let nowhere = format!("http://127.0.0.1:{}", free_ports(1)[0]);
    let started = Instant::now();
    let message = QdrantServerStore::open(&options(&nowhere, "x", DIMENSION))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&nowhere) && message.contains("store.url"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    // A batch larger than one upsert call.
    let many: Vec<_> = (100..700u64)
        .map(|id| {
            item(
                id,
                &format!("bulk/{id}.md"),
                "bulk text",
                "bulk",
                "2024-01-01",
            )
        })
        .collect();
    store.upsert(&many).unwrap();
    assert_eq!(store.count().unwrap(), 603);
}

/// `search --json` as (path, first line) pairs.
fn search(home: &Path, store: &[&str], query: &str) -> Vec<(String, u64)> {
    let output = run(starling(home)
        .args(store)
        .args(["search", "--json", "-k", "5", query]));
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: Vec<Value> = serde_json::from_str(&stdout(&output)).unwrap();
    rows.iter()
        .map(|row| {
            (
                row["path"].as_str().unwrap().to_string(),
                row["line_start"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn status(home: &Path, store: &[&str]) -> Value {
    let output = run(starling(home).args(store).args(["status", "--json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

/// `store migrate --to qdrant --url URL --collection COLLECTION --json` from the embedded
/// store: its report.
fn migrate_to_server(home: &Path, url: &str, collection: &str) -> Value {
    let output = run(starling(home).args([
        "store",
        "migrate",
        "--to",
        "qdrant",
        "--url",
        url,
        "--collection",
        collection,
        "--json",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

const QUESTIONS: &[&str] = &[
    "certificate outage",
    "who did I mentor",
    "billing migration latency",
    "1:1 feedback on communication",
    "design review of the event schema",
    "performance improvement plan goals",
    "interview questions about the tech stack",
];

#[test]
fn the_cli_on_a_qdrant_server_finds_what_the_embedded_store_finds_and_migrates_both_ways() {
    let server = Qdrant::start();
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let vault = fixture_vault(home, &[]);
    let examples = shared_examples();
    let remote = ["--store-url", url.as_str()];

    // The same notes (the fixture vault and the shared examples) indexed into each store.
    let output = run(starling(home).arg("index").arg(&vault).arg(&examples));
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(starling(home)
        .args(remote)
        .arg("index")
        .arg(&vault)
        .arg(&examples));
    assert!(output.status.success(), "{}", stderr(&output));
    let local = status(home, &[]);
    let served = status(home, &remote);
    assert_eq!(served["store_backend"], "qdrant");
    assert_eq!(served["store_url"], url.as_str());
    assert!(served["store_collection"]
        .as_str()
        .unwrap()
        .starts_with("starling-"));
    assert!(local["chunks"].as_u64().unwrap() > 10);
    assert_eq!(served["chunks"], local["chunks"]);
    for question in QUESTIONS {
        assert_eq!(
            search(home, &remote, question),
            search(home, &[], question),
            "{question}"
        );
    }
    // Nothing changed: nothing re-embedded.
    let output = run(starling(home).args(remote).args(["index", "--json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["chunks_embedded"], 0, "{report}");

    // Migration into a collection of its own, and back into an emptied embedded store.
    let expected: Vec<_> = QUESTIONS.iter().map(|q| search(home, &[], q)).collect();
    let report = migrate_to_server(home, &url, "moved");
    assert_eq!(report["target_chunks"], local["chunks"], "{report}");
    assert_eq!(report["source_chunks"], local["chunks"], "{report}");
    assert!(
        report["searches_checked"].as_u64().unwrap() >= 5,
        "{report}"
    );
    let moved = [
        "--store-url",
        url.as_str(),
        "--set",
        "store.collection=moved",
    ];
    assert_eq!(status(home, &moved)["chunks"], local["chunks"]);
    for (question, expected) in QUESTIONS.iter().zip(&expected) {
        assert_eq!(&search(home, &moved, question), expected, "{question}");
    }
    // The embedded store holds the index already: migrating back without --replace is refused.
    let back = |replace: bool| {
        let mut command = starling(home);
        command
            .args(moved)
            .args(["store", "migrate", "--to", "edge", "--json"]);
        if replace {
            command.arg("--replace");
        }
        run(&mut command)
    };
    let refused = back(false);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("--replace"),
        "{}",
        stderr(&refused)
    );
    let output = back(true);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(status(home, &[])["chunks"], local["chunks"]);
    for (question, expected) in QUESTIONS.iter().zip(&expected) {
        assert_eq!(&search(home, &[], question), expected, "{question}");
    }

    // A server that is not there: exit 2, naming the URL and the fix.
    let nowhere = format!("http://127.0.0.1:{}", free_ports(1)[0]);
    let output = run(starling(home).args(["--store-url", &nowhere, "search", "outage"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&nowhere) && stderr(&output).contains("gRPC"),
        "{}",
        stderr(&output)
    );
}

/// `index --json` over `roots` into the store that `store` selects.
fn index(home: &Path, store: &[&str], roots: &[&Path]) -> Value {
    let output = run(starling(home)
        .args(store)
        .arg("index")
        .arg("--json")
        .args(roots));
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

/// The check on the demo notes: `index --store qdrant --store-url URL demo/notes`, then
/// search, answers as the embedded store does; an edited and a deleted note re-index the same
/// way in both; `store migrate` round-trips the index with equal counts.
#[test]
fn the_demo_notes_on_a_server_answer_edit_delete_and_round_trip_as_on_the_embedded_store() {
    let server = Qdrant::start();
    let url = server.url();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let notes = home.join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/notes");
    for entry in std::fs::read_dir(&demo).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), notes.join(entry.file_name())).unwrap();
    }
    let remote = ["--store", "qdrant", "--store-url", url.as_str()];
    let questions = [
        "certificate outage follow-up",
        "invoice generation latency",
        "pairing with new engineers",
        "data platform proposal",
        "feedback from my manager",
    ];
    let same_everywhere = |what: &str| {
        let chunks = status(home, &[])["chunks"].clone();
        assert!(chunks.as_u64().unwrap() > 3, "{what}: {chunks}");
        assert_eq!(status(home, &remote)["chunks"], chunks, "{what}");
        for question in questions {
            let local = search(home, &[], question);
            assert!(!local.is_empty(), "{what}: {question}");
            assert_eq!(search(home, &remote, question), local, "{what}: {question}");
        }
    };

    let local = index(home, &[], &[&notes]);
    let served = index(home, &remote, &[&notes]);
    assert_eq!(served["chunks_total"], local["chunks_total"]);
    assert_eq!(served["chunks_embedded"], local["chunks_embedded"]);
    same_everywhere("indexed");

    // One note edited (a section added), one deleted: both stores drop and add the same chunks.
    let worklog = notes.join("2025-03-worklog.md");
    let mut text = std::fs::read_to_string(&worklog).unwrap();
    text.push_str(
        "\n## Hiring\n- Ran the take-home exercise review for the quokka platform role.\n",
    );
    std::fs::write(&worklog, text).unwrap();
    let deleted = std::fs::read_dir(&notes)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("rfc"))
        .unwrap();
    std::fs::remove_file(&deleted).unwrap();
    let local = index(home, &[], &[&notes]);
    let served = index(home, &remote, &[&notes]);
    for report in [&local, &served] {
        assert_eq!(report["files_deleted"], 1, "{report}");
        assert_eq!(report["files_indexed"], 1, "{report}");
    }
    assert_eq!(served["chunks_total"], local["chunks_total"]);
    same_everywhere("after an edit and a deletion");
    let hits = search(home, &remote, "quokka platform take-home");
    assert!(hits[0].0.ends_with("2025-03-worklog.md"), "{hits:?}");
    let deleted_name = deleted.file_name().unwrap().to_string_lossy().into_owned();
    for question in questions {
        assert!(
            search(home, &remote, question)
                .iter()
                .all(|(path, _)| !path.ends_with(&deleted_name)),
            "{question}"
        );
    }

    // Round trip: the embedded index to a collection of its own on the server and back.
    let chunks = status(home, &[])["chunks"].clone();
    let there = migrate_to_server(home, &url, "demo");
    assert_eq!(there["target_chunks"], chunks, "{there}");
    let output = run(starling(home).args([
        "--store-url",
        &url,
        "--set",
        "store.collection=demo",
        "store",
        "migrate",
        "--to",
        "edge",
        "--replace",
        "--json",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    let back: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(back["source_chunks"], chunks, "{back}");
    assert_eq!(back["target_chunks"], chunks, "{back}");
    same_everywhere("after the round trip");
}

/// `scripts/qdrant-cluster.sh`, run from the repository.
fn cluster(args: &[&str]) -> String {
    let output = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/qdrant-cluster.sh"))
        .args(args)
        .env("QDRANT_BIN", qdrant_bin())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "qdrant-cluster.sh {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stops the cluster when the test ends, passed or not.
struct Cluster(PathBuf);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/qdrant-cluster.sh"))
            .arg("stop")
            .arg(&self.0)
            .status();
    }
}

/// Whether every replica of `collection` is active, as node `http` sees it (4 = 2 shards × 2).
fn all_active(http: u16, collection: &str, replicas: usize) -> bool {
    let Some((200, body)) = http_get(http, &format!("/collections/{collection}/cluster")) else {
        return false;
    };
    let info: Value = serde_json::from_str(&body).unwrap_or_default();
    let result = &info["result"];
    let states: Vec<&str> = ["local_shards", "remote_shards"]
        .iter()
        .flat_map(|key| result[*key].as_array().cloned().unwrap_or_default())
        .filter_map(|shard| shard["state"].as_str().map(str::to_string))
        .map(|s| if s == "Active" { "Active" } else { "other" })
        .collect();
    states.len() == replicas
        && states.iter().all(|s| *s == "Active")
        && result["shard_transfers"]
            .as_array()
            .is_none_or(|t| t.is_empty())
}

fn wait_active(http: u16, collection: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !all_active(http, collection, 4) {
        assert!(
            Instant::now() < deadline,
            "the replicas of `{collection}` did not become active"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn env_port(env: &str, key: &str) -> u16 {
    env.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} in cluster.env:\n{env}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_three_node_cluster_with_two_copies_of_each_shard_answers_with_a_node_down() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = dir.path().join("cluster");
    let urls = cluster(&["start", nodes.to_str().unwrap()]);
    let _stop = Cluster(nodes.clone());
    assert_eq!(urls.lines().count(), 3, "{urls}");
    let env = std::fs::read_to_string(nodes.join("cluster.env")).unwrap();
    let node1 = format!("http://127.0.0.1:{}", env_port(&env, "NODE1_GRPC"));
    let node3 = format!("http://127.0.0.1:{}", env_port(&env, "NODE3_GRPC"));
    let http1 = env_port(&env, "NODE1_HTTP");

    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let vault = fixture_vault(home, &[]);
    let sharded = |url: &str| -> Vec<String> {
        [
            "--store-url",
            url,
            "--set",
            "store.collection=team",
            "--set",
            "store.shards=2",
            "--set",
            "store.replication_factor=2",
        ]
        .map(String::from)
        .to_vec()
    };
    let through = |url: &str| -> Vec<String> { sharded(url) };
    let args1 = through(&node1);
    let args1: Vec<&str> = args1.iter().map(String::as_str).collect();
    let output = run(starling(home).args(&args1).arg("index").arg(&vault));
    assert!(output.status.success(), "{}", stderr(&output));
    wait_active(http1, "team");
    let chunks = status(home, &args1)["chunks"].as_u64().unwrap();
    assert!(chunks > 10);
    let complete: Vec<_> = QUESTIONS.iter().map(|q| search(home, &args1, q)).collect();
    assert!(complete.iter().all(|hits| hits.len() == 5));

    // Node 3 holds a copy of some shards; with it down, node 1 still answers in full.
    cluster(&["stop", nodes.to_str().unwrap(), "3"]);
    for (question, expected) in QUESTIONS.iter().zip(&complete) {
        assert_eq!(&search(home, &args1, question), expected, "{question}");
    }
    // Back up, it catches up and answers the same itself.
    cluster(&["restart", nodes.to_str().unwrap(), "3"]);
    wait_active(http1, "team");
    let args3 = through(&node3);
    let args3: Vec<&str> = args3.iter().map(String::as_str).collect();
    for (question, expected) in QUESTIONS.iter().zip(&complete) {
        assert_eq!(&search(home, &args3, question), expected, "{question}");
    }
}
