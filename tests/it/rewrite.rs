//! `starling rewrite` over folders with the real model: the tree is mirrored, inputs are never
//! touched, structure survives, a `kill -9` mid-batch resumes without redoing finished files,
//! --in-place keeps backups, and bad files are reported without stopping the batch.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{run, starling, stderr, stdout};

fn sha(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

/// `n` small drafts in two folders, each with front matter, a heading, a link and a table.
fn drafts(root: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let path = root.join(if i.is_multiple_of(2) { "reviews" } else { "meetings" }).join(format!("draft-{i:02}.md"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(
                &path,
                format!(
                    "---\ntitle: Draft {i}\n---\n# Section {i}\n\nI just kind of helped with the [[billing-migration|migration]] and I think it went fine, sorry.\n\n| Metric | Value |\n|---|---|\n| tickets | {i} |\n"
                ),
            )
            .unwrap();
            path
        })
        .collect()
}

fn rewrite_json(home: &Path, args: &[&str]) -> (std::process::Output, Value) {
    let output = run(starling(home).arg("rewrite").args(args).arg("--json"));
    let value = serde_json::from_str(&stdout(&output)).unwrap_or(Value::Null);
    (output, value)
}

#[test]
fn a_folder_is_mirrored_inputs_untouched_and_a_killed_batch_resumes() {
    let home = tempfile::tempdir().unwrap();
    let input = home.path().join("drafts");
    let out = home.path().join("out");
    let files = drafts(&input, 20);
    let before: Vec<String> = files.iter().map(|f| sha(f)).collect();
    let args = ["--style", "confident", "--out"];

    // Kill the batch once some files are finished (the journal names them).
    let mut child = starling(home.path())
        .arg("rewrite")
        .arg(&input)
        .args(args)
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let journal_dir = home.path().join("data/starling/rewrite");
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the batch ended ({status}) before it could be interrupted");
        }
        // Only the journal itself counts: a temporary copy being written beside it may name a
        // file that the journal, if the batch is killed before the rename, never will.
        let finished = std::fs::read_dir(&journal_dir)
            .ok()
            .and_then(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("journal-"))
                })
            })
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map_or(0, |j| j["finished"].as_object().map_or(0, |f| f.len()));
        if finished >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();

    let (output, summary) = rewrite_json(
        home.path(),
        &[
            input.to_str().unwrap(),
            "--style",
            "confident",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let done = summary["already_done"].as_u64().unwrap();
    assert!(done >= 3, "finished files are not redone: {summary}");
    assert_eq!(
        done + summary["rewritten"].as_u64().unwrap(),
        20,
        "{summary}"
    );

    // Inputs untouched; the tree mirrored; no temporary file left anywhere.
    let after: Vec<String> = files.iter().map(|f| sha(f)).collect();
    assert_eq!(before, after);
    for file in &files {
        let mirrored = out.join(file.strip_prefix(&input).unwrap());
        let text = std::fs::read_to_string(&mirrored).unwrap();
        // Structure survives: front matter, heading, wikilink target, table.
        assert!(text.starts_with("---\ntitle: Draft"), "{text}");
        assert!(text.contains("\n# Section "), "{text}");
        assert!(text.contains("[[billing-migration"), "{text}");
        assert!(
            text.contains("| Metric | Value |\n|---|---|\n| tickets |"),
            "{text}"
        );
    }
    let leftovers: Vec<_> = walk(&out)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The same command again: everything is already done.
    let (_, again) = rewrite_json(
        home.path(),
        &[
            input.to_str().unwrap(),
            "--style",
            "confident",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(again["already_done"], 20, "{again}");
    assert!(again["tone_findings_before"].is_number());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn in_place_keeps_backups_and_bad_files_do_not_stop_the_batch() {
    let home = tempfile::tempdir().unwrap();
    let input = home.path().join("drafts");
    let files = drafts(&input, 2);
    let originals: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    std::fs::write(input.join("scan.md"), [0x89, b'P', b'N', b'G', 0, 0, 1]).unwrap();
    std::fs::write(input.join("latin1.md"), b"caf\xe9 notes about the review").unwrap();

    let (output, summary) = rewrite_json(
        home.path(),
        &[input.to_str().unwrap(), "--style", "concise", "--in-place"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let status = |name: &str| {
        summary["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(name))
            .unwrap()
            .clone()
    };
    assert_eq!(status("scan.md")["status"], "failed");
    assert!(
        status("scan.md")["reason"]
            .as_str()
            .unwrap()
            .contains("binary"),
        "{summary}"
    );
    assert_eq!(status("latin1.md")["status"], "failed");
    assert!(
        status("latin1.md")["reason"]
            .as_str()
            .unwrap()
            .contains("UTF-8"),
        "{summary}"
    );
    assert_eq!(summary["rewritten"], 2, "{summary}");
    for (file, original) in files.iter().zip(&originals) {
        let backup = PathBuf::from(format!("{}.bak", file.display()));
        assert_eq!(
            &std::fs::read(&backup).unwrap(),
            original,
            "the backup holds the original bytes"
        );
    }

    // A rerun does not rewrite the rewritten files again, nor back them up twice.
    let (_, again) = rewrite_json(
        home.path(),
        &[input.to_str().unwrap(), "--style", "concise", "--in-place"],
    );
    assert_eq!(again["already_done"], 2, "{again}");
    assert!(!input.join("reviews/draft-00.md.bak.1").exists());
}

#[test]
fn unknown_style_and_dry_run() {
    let home = tempfile::tempdir().unwrap();
    let input = home.path().join("drafts");
    let files = drafts(&input, 2);
    let output = run(starling(home.path()).arg("rewrite").arg(&input).args([
        "--style",
        "pirate",
        "--dry-run",
    ]));
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("unknown style `pirate`")
            && message.contains("concise, confident, formal, friendly, star"),
        "{message}"
    );

    let before: Vec<String> = files.iter().map(|f| sha(f)).collect();
    let (output, summary) = rewrite_json(
        home.path(),
        &[input.to_str().unwrap(), "--style", "formal", "--dry-run"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(summary["would_rewrite"], 2, "{summary}");
    assert_eq!(before, files.iter().map(|f| sha(f)).collect::<Vec<_>>());
    assert!(
        !home.path().join("data/starling/rewrite").exists()
            || walk(&home.path().join("data/starling/rewrite")).is_empty()
    );
}
