//! Inputs a real vault produces that once crashed or lost data (issue 12): file names that are
//! not UTF-8, huge and unreadable files, FIFOs, files vanishing mid-run, identical templates,
//! curly quotes before identifiers, stopword queries. Real embedder, real store.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use starling::backends::qdrant_edge::EdgeStore;
use starling::backends::{Embedder, StoredChunk, VectorStore};
use starling::notes::chunk::Chunk;
use starling::notes::index::{index, IndexOptions, IndexState};

use crate::common::{embedder, index_json, run, starling, stderr, stdout, vault_with};

fn search_texts(home: &Path, query: &str) -> Vec<String> {
    let output = run(starling(home).args(["search", query, "--json", "-k", "20"]));
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str::<Vec<Value>>(&stdout(&output))
        .unwrap()
        .iter()
        .map(|h| format!("{} {}", h["path"], h["text"]))
        .collect()
}

fn skipped(home: &Path) -> Vec<String> {
    let output = run(starling(home).args(["status", "--json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let status: Value = serde_json::from_str(&stdout(&output)).unwrap();
    status["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}: {}", s["path"].as_str().unwrap(), s["reason"]))
        .collect()
}

#[test]
fn index_skips_bad_names_huge_files_and_fifos_with_reasons_and_goes_on() {
    let home = tempfile::tempdir().unwrap();
    let vault = home.path().join("vault");
    std::fs::create_dir_all(&vault).unwrap();
    let vault = std::fs::canonicalize(vault).unwrap();
    std::fs::write(
        vault.join("good.md"),
        "# Good\n\nShipped “Q3 launch” — v2 of the billing API, 10x faster.\n",
    )
    .unwrap();
    // A Latin-1 file name (not UTF-8), holding words found nowhere else.
    let bad_name = vault.join(OsStr::from_bytes(b"caf\xe9-walrus.md"));
    std::fs::write(
        &bad_name,
        "# Walrus\n\nNegotiated the walrus sanctuary contract renewal.\n",
    )
    .unwrap();
    // An earlier version stored this file's chunks and then crashed before recording it: they
    // are keyed by the name's lossy form.
    {
        let embedder = embedder();
        let store = EdgeStore::open(
            &home.path().join("data/starling/index/qdrant"),
            embedder.dimension(),
        )
        .unwrap();
        let text = "Negotiated the walrus sanctuary contract renewal.";
        store
            .upsert(&[StoredChunk {
                id: 7,
                chunk: Chunk {
                    path: bad_name
                        .strip_prefix(&vault)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    source: bad_name.to_string_lossy().into_owned(),
                    line_start: 3,
                    line_end: 3,
                    heading: "Walrus".into(),
                    title: "Walrus".into(),
                    tags: vec![],
                    date: None,
                    text: text.into(),
                    hash: "0".into(),
                    aliases: vec![],
                    opens_section: true,
                    steers_model: false,
                },
                dense: embedder.embed(&[text.to_string()]).unwrap().remove(0),
            }])
            .unwrap();
        store.flush().unwrap();
    }
    // A sparse terabyte: refused by its size, never read.
    std::fs::File::create(vault.join("huge.md"))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let fifo = vault.join("pipe.md");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());

    let report = index_json(home.path(), &[&vault]);
    assert_eq!(report["files_indexed"], 1, "{report}");
    assert_eq!(report["files_skipped"], 3, "{report}");
    let reasons = skipped(home.path());
    for (name, reason) in [
        ("walrus.md", "not valid UTF-8; rename it"),
        ("huge.md", "larger than"),
        ("pipe.md", "not a regular file"),
    ] {
        assert!(
            reasons
                .iter()
                .any(|r| r.contains(name) && r.contains(reason)),
            "{name}: {reasons:?}"
        );
    }
    let walrus = |home: &Path| {
        search_texts(home, "walrus sanctuary contract renewal")
            .into_iter()
            .filter(|t| t.contains("walrus"))
            .collect::<Vec<_>>()
    };
    assert_eq!(walrus(home.path()), Vec::<String>::new());

    // Deleted, the file leaves nothing behind either; the good note stays.
    std::fs::remove_file(&bad_name).unwrap();
    index_json(home.path(), &[]);
    assert_eq!(walrus(home.path()), Vec::<String>::new());
    assert!(search_texts(home.path(), "billing API")
        .iter()
        .any(|t| t.contains("good.md")));
}

#[test]
fn a_file_that_cannot_be_read_is_skipped_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    std::fs::create_dir_all(&vault).unwrap();
    for (name, text) in [
        ("a.md", "# A\n\nRan the hiring loop redesign.\n"),
        ("b.md", "# B\n\nMoved the build to remote caching.\n"),
        ("c.md", "# C\n\nMentored two engineers through on-call.\n"),
    ] {
        std::fs::write(vault.join(name), text).unwrap();
    }
    let embedder = embedder();
    let store = EdgeStore::open(&dir.path().join("qdrant"), embedder.dimension()).unwrap();
    let state_path = dir.path().join("files.json");
    // b.md vanishes after the walk found it, just before it is read (as a file whose
    // permissions deny reading fails there too).
    let vanishing = vault.join("b.md");
    let report = index(
        std::slice::from_ref(&vault),
        &state_path,
        &embedder,
        &store,
        &IndexOptions {
            max_file_bytes: 1 << 20,
        },
        &mut |_, _, current| {
            if current == "a.md" {
                let _ = std::fs::remove_file(&vanishing);
            }
        },
    )
    .expect("one unreadable file does not end the run");
    assert_eq!((report.files_indexed, report.files_skipped), (2, 1));
    let state = IndexState::load(&state_path).unwrap();
    assert_eq!(state.skipped.len(), 1);
    assert_eq!(state.skipped[0].path, "b.md");
    assert!(
        state.skipped[0].reason.contains("cannot read it"),
        "{:?}",
        state.skipped
    );
}

#[test]
fn watch_keeps_going_when_a_pass_fails() {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().unwrap();
    let vault = vault_with(
        home.path(),
        &[(
            "first.md",
            "# First\n\nKicked off the hiring loop redesign.\n",
        )],
    );
    let away = home.path().join("vault-away");
    let mut child = starling(home.path())
        .arg("index")
        .arg(&vault)
        .args(["--watch", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, receiver) = std::sync::mpsc::channel::<(bool, String)>();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let to_stdout = sender.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = to_stdout.send((true, line));
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = sender.send((false, line));
        }
    });
    let next = |from_stdout: bool, wanted: &str| -> String {
        loop {
            let (is_stdout, line) = receiver
                .recv_timeout(std::time::Duration::from_secs(120))
                .expect("the watcher goes on reporting");
            if is_stdout == from_stdout && line.contains(wanted) {
                return line;
            }
        }
    };
    let first: Value = serde_json::from_str(&next(true, "{")).unwrap();
    assert_eq!(first["files_indexed"], 1);
    // The root goes away (an unplugged disk): the pass fails and says so.
    std::fs::rename(&vault, &away).unwrap();
    let warning = next(false, "check the path");
    assert!(warning.contains("still watching"), "{warning}");
    // It comes back with a new note: the watcher is still there to index it.
    std::fs::rename(&away, &vault).unwrap();
    std::fs::write(
        vault.join("second.md"),
        "# Second\n\nMentored two new engineers through on-call.\n",
    )
    .unwrap();
    let report: Value = serde_json::from_str(&next(true, "{")).unwrap();
    assert_eq!(report["files_indexed"], 1, "{report}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn identical_files_deleted_together_all_leave_the_index() {
    let home = tempfile::tempdir().unwrap();
    let vault = home.path().join("vault");
    std::fs::create_dir_all(&vault).unwrap();
    let template = "# Weekly template\n\nWins this week, blockers, asks for the quokka review.\n";
    let copies: Vec<PathBuf> = (1..=3)
        .map(|n| vault.join(format!("week-{n}.md")))
        .collect();
    for copy in &copies {
        std::fs::write(copy, template).unwrap();
    }
    std::fs::write(
        vault.join("other.md"),
        "# Other\n\nPaired on the payment retries.\n",
    )
    .unwrap();
    assert_eq!(index_json(home.path(), &[&vault])["files_indexed"], 4);
    for copy in &copies {
        std::fs::remove_file(copy).unwrap();
    }
    let report = index_json(home.path(), &[]);
    assert_eq!(report["files_deleted"], 3, "{report}");
    let left: Vec<String> = search_texts(home.path(), "asks for the quokka review")
        .into_iter()
        .filter(|t| t.contains("week-"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

#[test]
fn star_and_search_survive_curly_quotes_and_keep_filters_on_stopword_queries() {
    let home = tempfile::tempdir().unwrap();
    let vault = vault_with(
        home.path(),
        &[
            (
                "work/launch.md",
                "---\ndate: 2024-05-0é\n---\n# Launch\n\nI led the “Q3 launch” of the billing API — v2 shipped 10x faster.\n",
            ),
            (
                "personal/garden.md",
                "# Garden\n\nWhat did I do this weekend: planted tomatoes.\n",
            ),
        ],
    );
    assert_eq!(index_json(home.path(), &[&vault])["files_indexed"], 2);

    let output = run(starling(home.path()).args([
        "star",
        "--competency",
        "Leading launches",
        "--no-model",
        "--yes",
        "--format",
        "json",
    ]));
    assert_ne!(output.status.code(), Some(101), "{}", stderr(&output));
    assert!(output.status.code().unwrap() <= 1, "{}", stderr(&output));

    let output =
        run(starling(home.path()).args(["search", "what did I do", "--path", "work", "--json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let hits: Vec<Value> = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(!hits.is_empty());
    assert!(
        hits.iter()
            .all(|h| h["path"].as_str().unwrap().starts_with("work/")),
        "{hits:#?}"
    );
}

#[test]
fn messages_say_what_the_index_holds() {
    let home = tempfile::tempdir().unwrap();
    // One mojibake character ("cafÃ©" for "café").
    let vault = vault_with(
        home.path(),
        &[
            (
                "cafe.md",
                "# Budget\n\nRan the caf\u{c3}\u{a9} budget review.\n",
            ),
            (
                "other.md",
                "# Other\n\nCorrect text: Tiedostonimi (A–Ö) ja (Ö–A).\n",
            ),
        ],
    );
    index_json(home.path(), &[&vault]);
    let output = run(starling(home.path()).arg("status"));
    let text = stdout(&output);
    assert!(text.contains("cafe.md (1 character)"), "{text}");
    assert!(text.contains("repaired files:  1\n"), "{text}");

    let output = run(starling(home.path()).args(["search", "budget review", "--path", "nowhere"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("no matching notes among") && text.contains("--path"),
        "{text}"
    );
    assert!(!text.contains("empty"), "{text}");
}

#[test]
fn tone_on_a_megabyte_line_reports_every_finding_without_crashing() {
    // One line of ~1 MB (a pasted document without line breaks), a hedge in every sentence.
    let home = tempfile::tempdir().unwrap();
    let sentence = "I guess the migration slipped a bit, honestly. ";
    let line = sentence.repeat(1_048_576 / sentence.len());
    let file = home.path().join("long.md");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let sentences = line.matches(sentence).count();

    let output = run(starling(home.path())
        .args([
            "tone",
            "--rules-only",
            "--fail-on",
            "warning",
            "--color",
            "never",
        ])
        .arg(&file));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let human = stdout(&output);
    // Each finding shows a window of the line, not the whole megabyte.
    assert!(
        human.len() < sentences * 4 * 1_000,
        "{} bytes of output",
        human.len()
    );
    let last_column = line.rfind("I guess").unwrap() + 1;
    assert!(
        human.contains(&format!("long.md:1:{last_column}\n")),
        "the last hedge is reported at its column"
    );

    let output = run(starling(home.path())
        .args([
            "tone",
            "--rules-only",
            "--fail-on",
            "warning",
            "--format",
            "json",
        ])
        .arg(&file));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let findings = report[0]["findings"].as_array().unwrap();
    let hedges: Vec<&Value> = findings
        .iter()
        .filter(|f| f["text"].as_str() == Some("I guess"))
        .collect();
    assert_eq!(hedges.len(), sentences);
    for hedge in hedges {
        assert_eq!(
            hedge["column"].as_u64().unwrap(),
            hedge["start"].as_u64().unwrap() + 1
        );
    }
}

#[test]
fn dendron_vaults_keep_labels_titles_descriptions_and_dates() {
    let home = tempfile::tempdir().unwrap();
    let workspace = home.path().join("workspace");
    let vault = workspace.join("vault");
    std::fs::create_dir_all(&vault).unwrap();
    std::fs::write(workspace.join("dendron.yml"), "version: 5\n").unwrap();
    std::fs::write(
        vault.join("walrus.faq.md"),
        "---\nid: 4u6pv56mnt25d8l2wzfygu7\ntitle: |\n  Walrus questions\ndesc: >-\n  Answers about tusk\n  polishing schedules\nupdated: 1734302100000\ndate: 2021-03-04\n---\n\n# {{fm.title}}\n\n## Why hierarchies\n\nHierarchies keep the sanctuary notes findable.\n",
    )
    .unwrap();
    std::fs::write(
        vault.join("walrus.concepts.md"),
        "---\nid: 9x8c7v6b5n4m3l2k1j0h9g8\ntitle: Concepts\n---\n\nSee [[the sanctuary FAQ|walrus.faq]] for more.\n\n![[walrus.faq#why-hierarchies,1:#*]]\n",
    )
    .unwrap();
    // No `id`: only the workspace's dendron.yml says how its links read.
    std::fs::write(
        vault.join("plain.md"),
        "# Plain\n\nThe [[sanctuary schedule|walrus.faq]] lists feeding times.\n",
    )
    .unwrap();
    index_json(home.path(), &[&vault]);

    let search = |args: &[&str]| -> Vec<Value> {
        let output = run(starling(home.path())
            .args(["search", "--json", "-k", "20"])
            .args(args));
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_str(&stdout(&output)).unwrap()
    };
    let hits = search(&["sanctuary FAQ"]);
    let texts: Vec<&str> = hits.iter().map(|h| h["text"].as_str().unwrap()).collect();
    assert!(
        texts.contains(&"See the sanctuary FAQ for more."),
        "{texts:#?}"
    );
    assert!(
        texts.contains(&"The sanctuary schedule lists feeding times."),
        "{texts:#?}"
    );
    assert!(
        !texts
            .iter()
            .any(|t| t.contains("#*") || t.contains("![[") || t.contains("{{")),
        "{texts:#?}"
    );
    for hit in hits.iter().filter(|h| h["path"] == "walrus.faq.md") {
        assert_eq!(hit["title"], "Walrus questions");
        assert_eq!(hit["date"], "2021-03-04");
    }
    // The description is indexed, cited at its front matter lines.
    let hits = search(&["tusk polishing schedules"]);
    let description = hits
        .iter()
        .find(|h| h["text"] == "Answers about tusk polishing schedules")
        .unwrap_or_else(|| panic!("{hits:#?}"));
    assert_eq!(
        (&description["path"], &description["line_start"]),
        (&Value::from("walrus.faq.md"), &Value::from(5))
    );
    // `date:` wins over `updated:` in filters.
    let in_2021 = search(&[
        "tusk polishing schedules",
        "--since",
        "2021-03-01",
        "--until",
        "2021-03-31",
    ]);
    assert!(
        in_2021.iter().any(|h| h["path"] == "walrus.faq.md"),
        "{in_2021:#?}"
    );
    let in_2024 = search(&["tusk polishing schedules", "--since", "2024-01-01"]);
    assert!(
        !in_2024.iter().any(|h| h["path"] == "walrus.faq.md"),
        "{in_2024:#?}"
    );
}

#[test]
fn status_names_files_an_ignore_file_above_the_root_excluded() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join(".gitignore"), "drafts/\n").unwrap();
    let vault = vault_with(
        home.path(),
        &[
            ("kept.md", "# Kept\n\nShipped the walrus feeder.\n"),
            ("drafts/plan.md", "# Plan\n\nThe walrus plan.\n"),
        ],
    );
    let report = index_json(home.path(), &[&vault]);
    assert_eq!(report["files_indexed"], 1, "{report}");
    let skipped = skipped(home.path());
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].starts_with("drafts/plan.md: ")
            && skipped[0].contains(".gitignore` (pattern `drafts/`)")
            && skipped[0].contains("!drafts/"),
        "{skipped:?}"
    );
}

#[test]
fn search_answers_while_an_index_run_holds_the_store() {
    let home = tempfile::tempdir().unwrap();
    let vault = vault_with(
        home.path(),
        &[(
            "walrus.md",
            "# Sanctuary\n\nNegotiated the walrus sanctuary lease renewal.\n",
        )],
    );
    index_json(home.path(), &[&vault]);
    // A long first index run in another process holds the store (no server is running).
    let index_dir = home.path().join("data/starling/index");
    let lock =
        starling::notes::lock::StoreLock::acquire(&index_dir.join("store.lock"), "starling index")
            .unwrap();
    let output = run(starling(home.path()).args(["search", "walrus lease", "--json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("(starling index) holds the note store"),
        "{}",
        stderr(&output)
    );
    let hits: Vec<Value> = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(hits[0]["path"], "walrus.md", "{hits:#?}");
    // The copy it searched is gone; the store itself was not touched.
    let leftovers: Vec<_> = std::fs::read_dir(&index_dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("snapshot-"))
        .collect();
    assert!(leftovers.is_empty());
    // A second writer is refused, with the holder named.
    let output = run(starling(home.path()).args(["index"]).arg(&vault));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("starling index"),
        "{}",
        stderr(&output)
    );
    drop(lock);
}

#[test]
fn status_counts_the_store_by_its_blocks_not_its_sparse_size() {
    let home = tempfile::tempdir().unwrap();
    let vault = vault_with(
        home.path(),
        &[("a.md", "# A\n\nShipped the walrus feeder.\n")],
    );
    index_json(home.path(), &[&vault]);
    // The store preallocates sparse files; one of a gigabyte holds almost nothing on disk.
    let sparse =
        std::fs::File::create(home.path().join("data/starling/index/qdrant/sparse.bin")).unwrap();
    sparse.set_len(1 << 30).unwrap();
    let output = run(starling(home.path()).args(["status", "--json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let status: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let bytes = status["store_bytes"].as_u64().unwrap();
    assert!(bytes < 200 << 20, "{bytes} bytes");
}
