//! `starling index`, `search` and `status` through the binary, with the real embedder and store.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::{index_json, run, shared_examples, starling, stderr, stdout, vault_with};

fn search(home: &Path, query: &str, extra: &[&str]) -> Vec<Value> {
    let output = run(starling(home).args(["search", query, "--json"]).args(extra));
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str::<Vec<Value>>(&stdout(&output)).unwrap()
}

fn status(home: &Path) -> Value {
    let output = run(starling(home).args(["status", "--json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

#[test]
fn shared_examples_are_found_and_cited() {
    let examples = shared_examples();
    let home = tempfile::tempdir().unwrap();
    let vault = home.path().join("examples");
    std::fs::create_dir_all(&vault).unwrap();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), vault.join(entry.file_name())).unwrap();
    }
    let first = index_json(home.path(), &[&vault]);
    assert!(first["chunks_embedded"].as_u64().unwrap() > 20);

    let hits = search(home.path(), "throughput improvements", &[]);
    assert_eq!(
        hits[0]["path"], "pip-outcome-meeting-script.md",
        "{hits:#?}"
    );
    let line_start = hits[0]["line_start"].as_u64().unwrap() as usize;
    let text = std::fs::read_to_string(vault.join("pip-outcome-meeting-script.md")).unwrap();
    let cited: String = text
        .lines()
        .skip(line_start - 1)
        .take(hits[0]["line_end"].as_u64().unwrap() as usize - line_start + 1)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        cited.to_lowercase().contains("throughput"),
        "the cited lines hold the evidence: {cited}"
    );

    // The interview notes' `### 1-1s` section is in the top 3: its index table's row
    // `| 1:1s | [[#1-1s]] |` makes "1:1s" an alias of the section, the glossary spells out
    // "one-on-one meeting", and the section's heading is searched on its own.
    let hits = search(home.path(), "how I ran 1:1s", &[]);
    assert!(
        hits.iter()
            .take(3)
            .any(|h| h["path"] == "manager-interview-prep-notes.md"
                && h["heading"].as_str().unwrap().ends_with("1-1s")
                && h["text"]
                    .as_str()
                    .unwrap()
                    .contains("Execution and delivery")),
        "{hits:#?}"
    );
    // The pointer row itself is not a result of its own.
    assert!(
        !hits
            .iter()
            .any(|h| h["text"].as_str().unwrap().contains("Answer: 1-1s")),
        "{hits:#?}"
    );

    // Mojibake in the career ladder ("othersâ€™") is repaired and counted.
    let state = status(home.path());
    assert!(
        state["repaired_files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().contains("career-ladder-senior.md")),
        "{state}"
    );
    let hits = search(
        home.path(),
        "code review feedback that is the source of others’ learning",
        &["-k", "3"],
    );
    assert!(
        hits.iter()
            .any(|h| h["text"].as_str().unwrap().contains("others’ learning")),
        "{hits:#?}"
    );

    // Nothing changed: nothing embedded.
    let second = index_json(home.path(), &[]);
    assert_eq!(second["chunks_embedded"], 0);
    assert_eq!(second["files_unchanged"], first["files_seen"]);
}

#[test]
fn incremental_rename_delete_skip_and_filters() {
    let home = tempfile::tempdir().unwrap();
    let vault = home.path().join("vault");
    std::fs::create_dir_all(vault.join("work")).unwrap();
    std::fs::create_dir_all(vault.join("1on1")).unwrap();
    std::fs::write(vault.join("work/billing.md"), "---\ntags: [worklog]\ncreated: 2025-03-14\n---\n# Billing\n\nShipped the billing migration on 14 March, two days early.\n").unwrap();
    std::fs::write(vault.join("work/outage.md"), "---\ntags: [incident]\ncreated: 2025-03-06\n---\n# Outage\n\nLed the review of the expired certificate outage.\n").unwrap();
    std::fs::write(vault.join("1on1/priya.md"), "---\ntags: [1on1]\ncreated: 2025-04-09\n---\n# Priya\n\nPriya wants me to present the billing migration.\n").unwrap();
    std::fs::write(vault.join("work/scan.md"), [0x89, b'P', b'N', b'G', 0, 0]).unwrap();
    std::fs::write(vault.join("work/latin1.txt"), b"caf\xe9 notes").unwrap();

    let first = index_json(home.path(), &[&vault]);
    assert_eq!(
        (
            first["files_indexed"].as_u64(),
            first["files_skipped"].as_u64()
        ),
        (Some(3), Some(2))
    );
    let skipped = status(home.path())["skipped"].clone();
    let reasons: Vec<String> = skipped
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s["path"], s["reason"]))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("scan.md") && r.contains("binary")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("latin1.txt") && r.contains("UTF-8")),
        "{reasons:?}"
    );

    // Filters by path, tag and date.
    let hits = search(home.path(), "billing migration", &["--path", "1on1"]);
    assert!(
        !hits.is_empty()
            && hits
                .iter()
                .all(|h| h["path"].as_str().unwrap().starts_with("1on1/"))
    );
    let hits = search(home.path(), "billing migration", &["--tag", "worklog"]);
    assert!(
        hits.iter().all(|h| h["path"] == "work/billing.md"),
        "{hits:#?}"
    );
    let hits = search(
        home.path(),
        "review",
        &["--since", "2025-03-01", "--until", "2025-03-31"],
    );
    assert!(
        hits.iter()
            .all(|h| h["path"].as_str().unwrap().starts_with("work/")),
        "{hits:#?}"
    );
    let output = run(starling(home.path()).args(["search", "x", "--since", "March"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("YYYY-MM-DD"));

    // Edit one file: only its chunks are embedded again.
    std::fs::write(vault.join("work/outage.md"), "# Outage\n\nLed the review of the expired certificate outage and wrote the alerting follow-up.\n").unwrap();
    let edited = index_json(home.path(), &[]);
    assert_eq!(
        (
            edited["files_indexed"].as_u64(),
            edited["chunks_embedded"].as_u64()
        ),
        (Some(1), Some(1))
    );

    // Rename: moved without embedding.
    std::fs::rename(
        vault.join("1on1/priya.md"),
        vault.join("1on1/priya-april.md"),
    )
    .unwrap();
    let renamed = index_json(home.path(), &[]);
    assert_eq!(
        (
            renamed["files_renamed"].as_u64(),
            renamed["chunks_embedded"].as_u64()
        ),
        (Some(1), Some(0))
    );
    let hits = search(
        home.path(),
        "present the billing migration",
        &["--path", "1on1"],
    );
    assert_eq!(hits[0]["path"], "1on1/priya-april.md");

    // Delete: its chunks leave the results.
    std::fs::remove_file(vault.join("work/billing.md")).unwrap();
    let deleted = index_json(home.path(), &[]);
    assert_eq!(deleted["files_deleted"], 1);
    assert!(search(home.path(), "billing migration two days early", &[])
        .iter()
        .all(|h| h["path"] != "work/billing.md"));
}

#[test]
fn a_held_store_names_its_holder_and_kill_9_leaves_a_store_that_completes() {
    let home = tempfile::tempdir().unwrap();
    let vault = home.path().join("vault");
    let output = run(starling(home.path())
        .args(["bench", "vault", "--notes", "300", "--out"])
        .arg(&vault));
    assert!(output.status.success(), "{}", stderr(&output));

    // Reference: an uninterrupted run in its own data dir.
    let reference_home = tempfile::tempdir().unwrap();
    index_json(reference_home.path(), &[&vault]);
    let reference = status(reference_home.path());

    // Interrupted run: kill -9 once the first batch is committed.
    let mut child = starling(home.path())
        .arg("index")
        .arg(&vault)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state = home.path().join("data/starling/index/files.json");
    let (lock_holder, searched) = loop {
        if let Some(code) = child.try_wait().unwrap() {
            panic!("indexing ended ({code}) before it could be interrupted; grow the vault");
        }
        if state.exists() {
            // A second writer is refused; a search reads a copy of what is stored so far.
            break (
                run(starling(home.path()).arg("index").arg(&vault)),
                run(starling(home.path()).args(["search", "billing"])),
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    assert_eq!(lock_holder.status.code(), Some(2));
    assert!(
        stderr(&lock_holder).contains("starling index"),
        "{}",
        stderr(&lock_holder)
    );
    assert!(searched.status.success(), "{}", stderr(&searched));
    assert!(
        stderr(&searched).contains("(starling index) holds the note store"),
        "{}",
        stderr(&searched)
    );

    let resumed = index_json(home.path(), &[]);
    assert!(
        resumed["files_unchanged"].as_u64().unwrap() > 0,
        "committed files are kept: {resumed}"
    );
    let after = status(home.path());
    assert_eq!(after["files_indexed"], reference["files_indexed"]);
    assert_eq!(after["chunks"], reference["chunks"]);
    assert!(!search(home.path(), "billing migration", &[]).is_empty());
}

#[test]
fn commands_that_read_share_the_store_and_an_index_run_waits_for_them() {
    let home = tempfile::tempdir().unwrap();
    let vault = vault_with(
        home.path(),
        &[(
            "billing.md",
            "# Billing\n\nMoved the billing jobs to the new queue two days early.\n",
        )],
    );
    index_json(home.path(), &[&vault]);
    // A command that reads (as `starling search` does) holds the store.
    let lock_path = home.path().join("data/starling/index/store.lock");
    let reader = starling::notes::lock::StoreLock::acquire(&lock_path, "starling search").unwrap();

    // A second reader reads a copy.
    let searched = run(starling(home.path()).args(["search", "billing queue", "--json"]));
    assert!(searched.status.success(), "{}", stderr(&searched));
    assert!(
        stderr(&searched).contains("(starling search) holds the note store"),
        "{}",
        stderr(&searched)
    );
    let hits: Vec<Value> = serde_json::from_str(&stdout(&searched)).unwrap();
    assert_eq!(hits[0]["path"], "billing.md");

    // An index run waits for the reader, says so, and runs once it is done.
    std::fs::write(
        vault.join("hiring.md"),
        "# Hiring\n\nInterviewed four backend candidates this week.\n",
    )
    .unwrap();
    let mut child = starling(home.path())
        .args(["index", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut told = String::new();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    while !told.contains("waiting for") {
        told.push_str(
            &lines
                .next()
                .expect("the index run ended without waiting")
                .unwrap(),
        );
    }
    assert!(told.contains("starling search"), "{told}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "indexed while a reader held the store"
    );
    drop(reader);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let report: Value = serde_json::from_str(stdout(&output).lines().last().unwrap()).unwrap();
    assert_eq!(report["files_indexed"], 1, "{report}");
    assert_eq!(
        search(home.path(), "backend candidates", &[])[0]["path"],
        "hiring.md"
    );
}

/// A passage holding a query of three words or more verbatim comes first in a hybrid search,
/// even where both lists alone rank passages closer in words and meaning above it.
#[test]
fn a_passage_holding_the_query_verbatim_comes_first() {
    let home = tempfile::tempdir().unwrap();
    let notes = home.path().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    let close = [
        "Connection drop alerts: a quiet connection pool hid every drop, so each connection drop \
         on the database link now pages someone.",
        "Quiet drops of the connection between the load balancer and the API: the connection \
         pool drops idle connections and nobody hears of it.",
        "The connection to the payments queue would drop quietly; a quiet drop of a connection \
         now logs and retries.",
    ];
    for (i, text) in close.iter().enumerate() {
        std::fs::write(
            notes.join(format!("net-{i}.md")),
            format!("# Network\n\n{text}\n"),
        )
        .unwrap();
    }
    std::fs::write(
        notes.join("garden.md"),
        "# Garden\n\nSaturday: repainted the fence and watched the quiet connection drop of the \
         ivy from the old gate.\n",
    )
    .unwrap();
    index_json(home.path(), &[&notes]);
    // One result, so that only the best and the body list's candidates are read.
    let first = |extra: &[&str]| {
        search(
            home.path(),
            "Quiet  CONNECTION drop",
            &[&["-k", "1"], extra].concat(),
        )[0]["path"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(first(&[]), "garden.md");
    // Neither list alone puts it first: the rule is what does.
    assert_ne!(first(&["--mode", "dense"]), "garden.md");
    assert_ne!(first(&["--mode", "lexical"]), "garden.md");
}

#[test]
fn two_roots_with_the_same_file_name_stay_apart() {
    let home = tempfile::tempdir().unwrap();
    let (work, home_notes) = (home.path().join("work"), home.path().join("personal"));
    for (root, text) in [
        (
            &work,
            "# Todo\n\nPrepare the quarterly planning deck for the platform team.\n",
        ),
        (
            &home_notes,
            "# Todo\n\nBook the dentist and renew the passport.\n",
        ),
    ] {
        std::fs::create_dir_all(root).unwrap();
        std::fs::write(root.join("todo.md"), text).unwrap();
    }
    let first = index_json(home.path(), &[&work, &home_notes]);
    assert_eq!(first["files_indexed"], 2);

    // Deleting one root's todo.md leaves the other's chunks alone.
    std::fs::remove_file(home_notes.join("todo.md")).unwrap();
    let after = index_json(home.path(), &[]);
    assert_eq!(after["files_deleted"], 1);
    let hits = search(home.path(), "quarterly planning deck", &[]);
    assert!(
        hits.iter()
            .any(|h| h["text"].as_str().unwrap().contains("planning deck")
                && h["source"].as_str().unwrap().ends_with("work/todo.md")),
        "{hits:#?}"
    );
    assert!(hits
        .iter()
        .all(|h| !h["text"].as_str().unwrap().contains("dentist")));

    // The store opens for the vector size the embedder's config.json states while ONNX Runtime
    // starts: a file stating another size is an error naming it, and the store is left as it was.
    let model = crate::common::models_dir().join("all-MiniLM-L6-v2");
    let misstated = home.path().join("misstated-embedder");
    std::fs::create_dir_all(&misstated).unwrap();
    for entry in std::fs::read_dir(&model).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "config.json" {
            std::os::unix::fs::symlink(entry.path(), misstated.join(entry.file_name())).unwrap();
        }
    }
    let mut stated: Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    assert_eq!(stated["hidden_size"], 384);
    stated["hidden_size"] = 128.into();
    std::fs::write(misstated.join("config.json"), stated.to_string()).unwrap();
    let output = run(starling(home.path()).args([
        "search",
        "quarterly planning deck",
        "--set",
        &format!("embedder.dir={}", misstated.display()),
    ]));
    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(
        said.contains("config.json")
            && said.contains("hidden_size 128")
            && !said.contains("panicked"),
        "{said}"
    );
    assert_eq!(
        search(home.path(), "quarterly planning deck", &[]).len(),
        hits.len()
    );
}

/// `starling index` starts ONNX Runtime only when a note needs embedding: with a model file that
/// cannot start, a run over unchanged notes succeeds, and a run with an edited note fails naming
/// the model, leaves the store as it was, and the next run with a good model picks the edit up.
#[test]
fn index_starts_the_embedder_only_when_a_note_needs_it() {
    let home = tempfile::tempdir().unwrap();
    let notes = home.path().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    let note = notes.join("retro.md");
    std::fs::write(
        &note,
        "# Retro\n\nWe moved the release train to Tuesdays.\n",
    )
    .unwrap();
    assert_eq!(index_json(home.path(), &[&notes])["files_indexed"], 1);

    // The same name (the store records which embedder built it), a model file that is not one.
    let model = crate::common::models_dir().join("all-MiniLM-L6-v2");
    let broken = home.path().join("broken").join("all-MiniLM-L6-v2");
    std::fs::create_dir_all(&broken).unwrap();
    for entry in std::fs::read_dir(&model).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "model.onnx" {
            std::os::unix::fs::symlink(entry.path(), broken.join(entry.file_name())).unwrap();
        }
    }
    std::fs::write(broken.join("model.onnx"), b"not a model").unwrap();
    let with_broken = || {
        run(starling(home.path()).args([
            "index",
            "--json",
            "--set",
            &format!("embedder.dir={}", broken.display()),
        ]))
    };
    let unchanged = with_broken();
    assert!(unchanged.status.success(), "{}", stderr(&unchanged));
    let report: Value = serde_json::from_str(stdout(&unchanged).lines().last().unwrap()).unwrap();
    assert_eq!(report["files_indexed"], 0);

    std::fs::write(
        &note,
        "# Retro\n\nWe moved the release train to Thursdays at noon.\n",
    )
    .unwrap();
    let edited = with_broken();
    assert!(!edited.status.success());
    let said = stderr(&edited);
    assert!(
        said.contains(&broken.display().to_string()) && !said.contains("panicked"),
        "{said}"
    );
    let before = search(home.path(), "release train Thursdays noon", &[]);
    assert!(before
        .iter()
        .all(|h| !h["text"].as_str().unwrap().contains("Thursdays")));
    assert!(
        before
            .iter()
            .any(|h| h["text"].as_str().unwrap().contains("Tuesdays")),
        "{before:#?}"
    );
    assert_eq!(index_json(home.path(), &[])["files_indexed"], 1);
    let hits = search(home.path(), "release train Thursdays noon", &[]);
    assert!(
        hits[0]["text"].as_str().unwrap().contains("Thursdays"),
        "{hits:#?}"
    );
}

#[test]
fn watch_indexes_a_new_note_as_it_appears() {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().unwrap();
    let vault = vault_with(
        home.path(),
        &[(
            "first.md",
            "# First\n\nKicked off the hiring loop redesign.\n",
        )],
    );
    let mut child = starling(home.path())
        .arg("index")
        .arg(&vault)
        .args(["--watch", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Each pass that changes something prints one JSON report line.
    let (sender, receiver) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let next = || -> Value {
        let line = receiver
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("the watcher reports each change");
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(next()["files_indexed"], 1);
    std::fs::write(
        vault.join("second.md"),
        "# Second\n\nMentored two new engineers through on-call.\n",
    )
    .unwrap();
    let report = next();
    assert_eq!(
        (
            report["files_indexed"].as_u64(),
            report["files_unchanged"].as_u64()
        ),
        (Some(1), Some(1))
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let hits = search(home.path(), "mentored engineers on-call", &[]);
    assert_eq!(hits[0]["path"], "second.md", "{hits:#?}");
}

#[test]
fn a_one_line_edit_re_embeds_only_the_chunks_it_touched_and_repeats_are_embedded_once() {
    let home = tempfile::tempdir().unwrap();
    let vault = home.path().join("vault");
    std::fs::create_dir_all(&vault).unwrap();
    // A long work log (one chunk per week at least) and two notes made from one template.
    let weeks = [
        "Paired with the new hire on the deploy scripts and wrote down the rollback steps.",
        "Ran the quarterly access review; removed eleven stale service accounts.",
        "Drafted the on-call handbook and asked two seniors to review it.",
        "Migrated the billing cron jobs to the scheduler and deleted the old host.",
        "Led the incident review for the expired certificate and added expiry alerts.",
        "Cut the flaky test list from forty to nine by fixing shared fixtures.",
        "Presented the storage cost report; the team agreed to tier cold data.",
        "Mentored Ana through her first design review of the search indexer.",
    ];
    let log: String = weeks
        .iter()
        .enumerate()
        .map(|(i, text)| format!("## Week {}\n\n{text}\n\n", i + 1))
        .collect();
    std::fs::write(vault.join("log.md"), format!("# Work log\n\n{log}")).unwrap();
    let template = "## Agenda\n\n- Wins since last time\n- Blockers\n- Career goals\n";
    std::fs::write(
        vault.join("1on1-ana.md"),
        format!("# 1:1 Ana\n\n{template}"),
    )
    .unwrap();
    std::fs::write(vault.join("1on1-li.md"), format!("# 1:1 Ana\n\n{template}")).unwrap();
    let first = index_json(home.path(), &[&vault]);
    let total = first["chunks_total"].as_u64().unwrap();
    assert!(total >= 10, "{first}");
    // The two notes share their text (title and all): their chunks are embedded once.
    assert!(
        first["chunks_embedded"].as_u64().unwrap() < total,
        "{first}"
    );

    // One line of week 5 changes: that chunk is embedded again, the other weeks keep theirs.
    let edited = std::fs::read_to_string(vault.join("log.md"))
        .unwrap()
        .replace(
            "added expiry alerts",
            "added expiry alerts thirty days ahead",
        );
    std::fs::write(vault.join("log.md"), edited).unwrap();
    let second = index_json(home.path(), &[]);
    assert_eq!(second["files_indexed"], 1, "{second}");
    let embedded = second["chunks_embedded"].as_u64().unwrap();
    assert!((1..=3).contains(&embedded), "{second}");
    assert_eq!(second["chunks_total"].as_u64().unwrap(), total, "{second}");
    // The kept vectors still find their weeks, and the edited one finds the new words.
    let hits = search(
        home.path(),
        "storage cost report cold data tiering",
        &["-k", "1"],
    );
    assert!(
        hits[0]["text"].as_str().unwrap().contains("storage cost"),
        "{hits:#?}"
    );
    let hits = search(
        home.path(),
        "certificate expiry alerts thirty days ahead",
        &["-k", "1"],
    );
    assert!(
        hits[0]["text"].as_str().unwrap().contains("thirty days"),
        "{hits:#?}"
    );
}

/// The streamlined graph (int8 word-table lookups, no NaN guards) must give the vectors of the
/// model as shipped: the same texts, alone and in batches of mixed lengths (so with padding).
#[test]
fn the_streamlined_embedder_gives_the_shipped_models_vectors() {
    use starling::backends::fastembed::{EmbedderOptions, FastEmbedder};
    use starling::backends::Embedder;
    use starling::config::{DEFAULT_EMBEDDER_DIR, DEFAULT_ONNXRUNTIME};

    let models = crate::common::models_dir();
    let load = |streamline, int8, workload| {
        FastEmbedder::load(&EmbedderOptions {
            dir: models.join(DEFAULT_EMBEDDER_DIR),
            onnxruntime: models.join(DEFAULT_ONNXRUNTIME),
            threads: 2,
            streamline,
            int8,
            workload,
        })
        .unwrap()
    };
    let shipped_file = std::fs::read(models.join(DEFAULT_EMBEDDER_DIR).join("model.onnx")).unwrap();
    let rewrite = starling::backends::onnx_graph::streamline(&shipped_file).expect("a rewrite");
    assert_eq!(
        (rewrite.int8_lookups, rewrite.nan_guards, rewrite.gelus),
        (2, 6, 6)
    );
    use starling::backends::fastembed::Workload::{Bulk, Queries};
    // As indexing loads it (matrices folded once) and as shipped, unfolded (how it used to run).
    let (streamlined, shipped) = (load(true, false, Bulk), load(false, false, Queries));
    // ... and as one-shot commands load it (streamlined, unfolded).
    let queries = load(true, false, Queries);
    // ... and with the weight products in 8-bit integers, as indexing loads it.
    let int8 = load(true, true, Bulk);
    let mut texts: Vec<String> = [
        "1:1 with Priya",
        "Led the migration of the billing service to the new queue; p99 latency fell from 900 ms to 240 ms.",
        "Réunion d'équipe : nous avons décidé de reporter la mise en production.",
        "会议记录：发布推迟到下周。",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let examples = shared_examples();
    let mut names: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .take(6)
    {
        let text = std::fs::read_to_string(path).unwrap();
        let words: Vec<&str> = text.split_whitespace().collect();
        texts.extend(words.chunks(60).take(4).map(|w| w.join(" ")));
    }
    assert!(texts.len() > 15, "{} texts", texts.len());
    let new = streamlined.embed(&texts).unwrap();
    let old = shipped.embed(&texts).unwrap();
    let worst = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    for ((a, b), text) in new.iter().zip(&old).zip(&texts) {
        assert_eq!(a.len(), 384);
        assert!(worst(a, b) < 1e-4, "{} on {text:?}", worst(a, b));
    }
    for (a, b) in queries.embed(&texts).unwrap().iter().zip(&old) {
        assert!(worst(a, b) < 1e-4, "unfolded: {}", worst(a, b));
    }
    let alone = streamlined.embed(&texts[1..2]).unwrap();
    let apart = worst(&alone[0], &new[1]);
    assert!(apart < 1e-4, "alone and in a batch differ by {apart}");

    // Integer products: close to the float vectors, not equal to them (so the rewrite ran), where
    // the loader's check lets them be used; where it does not (ONNX Runtime's AVX2 kernels
    // saturate: 0.9992 on the check texts, below its bar), the float vectors exactly. With VNNI
    // they are always used.
    use starling::notes::retrieve::cosine;
    let approximate = int8.embed(&texts).unwrap();
    let moved = approximate
        .iter()
        .zip(&old)
        .map(|(a, b)| worst(a, b))
        .fold(0.0f32, f32::max);
    #[cfg(target_arch = "x86_64")]
    let vnni = std::arch::is_x86_feature_detected!("avx512vnni")
        || std::arch::is_x86_feature_detected!("avxvnni");
    #[cfg(not(target_arch = "x86_64"))]
    let vnni = false;
    if moved <= 1e-3 {
        assert!(
            !vnni,
            "the int8 products were refused on a CPU with VNNI ({moved})"
        );
        assert!(
            moved < 1e-4,
            "refused int8 products, yet not the float vectors ({moved})"
        );
        return;
    }
    // Measured 2026-12-06 on an AVX-512 VNNI Xeon: mean 0.99975, lowest 0.99944; the bar is the
    // loader's own (0.998), with room for other CPUs' integer kernels. (An empty text, never
    // indexed, agrees to 0.998 only: its vector is the mean of two tokens, one quantised.)
    let agreement: Vec<f32> = approximate
        .iter()
        .zip(&old)
        .zip(&texts)
        .filter(|(_, text)| !text.is_empty())
        .map(|((a, b), _)| cosine(a, b))
        .collect();
    let mean = agreement.iter().sum::<f32>() / agreement.len() as f32;
    let lowest = agreement.iter().copied().fold(1.0f32, f32::min);
    assert!(
        mean > 0.999 && lowest > 0.998,
        "mean {mean}, lowest {lowest}"
    );
}

/// The store's write-ahead log (which qdrant-edge writes and never reads back or truncates) is
/// cut to its newest closed segment when the store closes and opens: a first index fills
/// several 1 MiB segments and leaves one, and updates after that still apply (operation numbers
/// go on counting up; a point ignores an update numbered below its last).
#[test]
fn the_write_ahead_log_is_cut_and_updates_still_apply() {
    let home = tempfile::tempdir().unwrap();
    let vault = home.path().join("vault");
    let made = run(starling(home.path())
        .args(["bench", "vault", "--notes", "300", "--out"])
        .arg(&vault));
    assert!(made.status.success(), "{}", stderr(&made));
    index_json(home.path(), &[&vault]);
    let wal = home.path().join("data/starling/index/qdrant/wal");
    let files = || -> Vec<(String, u64)> {
        let mut files: Vec<_> = std::fs::read_dir(&wal)
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                (name, entry.metadata().unwrap().len())
            })
            .collect();
        files.sort();
        files
    };
    let closed = |files: &[(String, u64)]| {
        files
            .iter()
            .filter(|(name, _)| name.starts_with("closed-"))
            .count()
    };
    let before = files();
    // A first index fills several segments; closing the store cut the older ones.
    assert_eq!(closed(&before), 1, "{before:?}");
    assert!(
        !before.iter().any(|(name, _)| name == "closed-0"),
        "{before:?}"
    );
    assert!(
        before
            .iter()
            .all(|(_, len)| *len <= starling::backends::qdrant_edge::WAL_SEGMENT_BYTES as u64),
        "{before:?}"
    );

    // Edits of the first chunk of the note indexed last, a point stored before the cut with
    // the highest operation numbers: applied only if the numbers did not start again.
    let note = crate::common::walk_files(&vault)
        .into_iter()
        .rfind(|path| path.extension().is_some_and(|e| e == "md"))
        .unwrap();
    let text = std::fs::read_to_string(&note).unwrap();
    let title = text.find("\n# ").expect("a synthetic note has a title");
    let title_end = title + 1 + text[title + 1..].find('\n').unwrap();
    let with = |sentence: &str| {
        format!(
            "{}\n\n{sentence}\n{}",
            &text[..title_end],
            &text[title_end..]
        )
    };
    std::fs::write(&note, with("The quokka relay rollout took eleven days.")).unwrap();
    assert_eq!(index_json(home.path(), &[&vault])["files_indexed"], 1);
    let after = files();
    assert_eq!(closed(&after), 1, "{after:?}");
    std::fs::write(&note, with("The quokka relay rollout took nine days.")).unwrap();
    assert_eq!(index_json(home.path(), &[&vault])["files_indexed"], 1);
    let hits = search(home.path(), "quokka relay rollout", &[]);
    let texts: Vec<&str> = hits.iter().filter_map(|h| h["text"].as_str()).collect();
    assert!(texts.iter().any(|t| t.contains("nine days")), "{texts:?}");
    assert!(
        !texts.iter().any(|t| t.contains("eleven days")),
        "{texts:?}"
    );
}

#[test]
fn a_one_shot_index_past_the_hnsw_size_builds_the_search_index() {
    // `starling index` lets go of its embedder before the store's optimizer runs; the index
    // must still be built. Notes filled in from one template, so a batch embeds few texts.
    let home = tempfile::tempdir().unwrap();
    let vault = home.path().join("vault");
    std::fs::create_dir_all(&vault).unwrap();
    let mut note = String::from("# Weekly log\n");
    for part in 1..=9 {
        note.push_str(&format!(
            "\n## Part {part}\n\nPart {part} of the weekly template: what shipped, what slipped, who helped and what comes next.\n"
        ));
    }
    let hnsw_from = starling::backends::qdrant_edge::HNSW_FROM;
    for i in 0..hnsw_from / 9 + 100 {
        std::fs::write(vault.join(format!("week-{i:04}.md")), &note).unwrap();
    }
    let first = index_json(home.path(), &[&vault]);
    assert!(
        first["chunks_total"].as_u64().unwrap() >= hnsw_from as u64,
        "{first}"
    );
    assert!(first["chunks_embedded"].as_u64().unwrap() < 500, "{first}");
    assert!(first["search_index_s"].as_f64().unwrap() > 0.0, "{first}");
    let hits = search(home.path(), "what slipped in part 7", &[]);
    assert!(
        hits.iter()
            .any(|h| h["text"].as_str().is_some_and(|t| t.contains("Part 7"))),
        "{hits:?}"
    );
    let again = index_json(home.path(), &[&vault]);
    assert_eq!(again["files_unchanged"], first["files_indexed"], "{again}");
    assert_eq!(again["search_index_s"].as_f64(), Some(0.0), "{again}");
}

/// `embedder.products = "int8"` (the default) indexes with integer products (its start-up check
/// passes: no fallback to float products) and the index finds the notes the float index finds.
#[test]
fn an_int8_index_finds_what_the_float_index_finds() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault");
    let queries = [
        "certificate expired and the outage",
        "queue backlog during the incident",
        "flaky tests in CI",
        "event schema design review",
        "1:1 with Priya about growth",
    ];
    let mut found: Vec<Vec<String>> = Vec::new();
    for products in ["float", "int8"] {
        let home = tempfile::tempdir().unwrap();
        let output = run(starling(home.path())
            .env("STARLING_EMBEDDER_PRODUCTS", products)
            .arg("index")
            .arg(&fixture)
            .arg("--json"));
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            !stderr(&output).contains("float products"),
            "{products}: {}",
            stderr(&output)
        );
        found.push(
            queries
                .iter()
                .map(|q| {
                    search(home.path(), q, &[])[0]["path"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect(),
        );
    }
    assert_eq!(found[0], found[1]);
    assert!(
        found[0].iter().any(|p| p.contains("certificate")),
        "{:?}",
        found[0]
    );
}

/// A deferred embedder (what `starling index` opens when the store exists) counts tokens as the
/// started session does, before and after it starts (chunk boundaries, and so chunk ids, depend
/// on the counts), starts ONNX Runtime only at its first texts, and then gives the vectors of an
/// embedder started at once.
#[test]
fn a_deferred_embedder_counts_as_its_session_and_starts_at_its_first_texts() {
    use starling::backends::fastembed::{FastEmbedder, Workload};
    use starling::backends::Embedder;

    let options = crate::common::embedder_options(Workload::Queries);
    let started = FastEmbedder::load(&options).unwrap();
    let deferred = FastEmbedder::deferred(&options, 384).unwrap();
    assert!(!deferred.started());
    let mut texts: Vec<String> = [
        "",
        "1:1 with Priya",
        "[CLS] a literal [SEP] and [MASK] and [PAD] [UNK]",
        "Réunion d'équipe : nous avons décidé de reporter la mise en production.",
        "会议记录：发布推迟到下周。 ✅ — “Q3” ½",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let examples = crate::common::shared_examples();
    let mut names: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    names.sort();
    for path in &names {
        let text = std::fs::read_to_string(path).unwrap();
        texts.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .take(20)
                .map(String::from),
        );
        // Whole files: far past the 256-token cap.
        texts.push(text);
    }
    assert!(texts.len() > 40, "{} texts", texts.len());
    let capped = texts
        .iter()
        .filter(|t| started.count_tokens(t) == 256)
        .count();
    assert!(capped >= 3, "{capped} texts reach the cap");
    for text in &texts {
        assert_eq!(
            deferred.count_tokens(text),
            started.count_tokens(text),
            "{text:?}"
        );
    }
    assert!(!deferred.started(), "counting started the session");
    let sample = &texts[1..6];
    let (now, later) = (
        started.embed(sample).unwrap(),
        deferred.embed(sample).unwrap(),
    );
    assert!(deferred.started());
    for (a, b) in now.iter().zip(&later) {
        assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5));
    }
    for text in &texts {
        assert_eq!(deferred.count_tokens(text), started.count_tokens(text));
    }
    // A size the model does not give: the first call fails, naming the model's config.json.
    let wrong = FastEmbedder::deferred(&options, 768).unwrap();
    let err = wrong.embed(&texts[1..2]).unwrap_err().to_string();
    assert!(err.contains("config.json") && err.contains("768"), "{err}");
    let again = wrong.embed(&texts[1..2]).unwrap_err().to_string();
    assert_eq!(err, again);
}
