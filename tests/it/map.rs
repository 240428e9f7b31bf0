//! `starling map` on the fixture vault and rubric (tests/fixtures/map): known evidence is
//! found, items without evidence are never strong, a note with instructions raises nothing,
//! judgments are cached per chunk, and the HTML report renders in headless Chromium.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{fixture, indexed_fixture_vault, run, starling, stderr, stdout};

fn map(home: &Path, extra: &[&str]) -> Value {
    let output = run(starling(home)
        .arg("map")
        .arg(fixture("map/rubric.md"))
        .args(["--format", "json"])
        .args(extra));
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

fn expected() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(fixture("map/expected.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

fn levels(map: &Value) -> BTreeMap<String, String> {
    map["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_string(),
                i["level"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Recall@3 of the known evidence among the notes each item points at (evidence, or the closest
/// note of a `none` item), and the no-evidence items rated strong.
fn quality(map: &Value) -> (f64, Vec<String>) {
    let expected = expected();
    let items = map["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        expected.len(),
        "every rubric item is in the map"
    );
    let (mut found, mut total, mut wrong_strong) = (0, 0, Vec::new());
    for item in items {
        let id = item["id"].as_str().unwrap();
        let notes = expected
            .get(id)
            .unwrap_or_else(|| panic!("unexpected item id {id}"));
        // The notes the map points at: its evidence, or for a `none` item the closest note it
        // names (the fitted judge trades recall for precision; the ranking must still be right).
        let mut top: Vec<&str> = item["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .take(3)
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        if let Some(closest) = item["closest"]["path"].as_str() {
            top.push(closest);
        }
        if notes.is_empty() {
            if item["level"] == "strong" {
                wrong_strong.push(id.to_string());
            }
        } else {
            total += 1;
            if notes.iter().any(|n| top.contains(&n.as_str())) {
                found += 1;
            }
        }
    }
    (found as f64 / total as f64, wrong_strong)
}

#[test]
fn known_evidence_is_found_and_judgments_are_cached_per_chunk() {
    let home = tempfile::tempdir().unwrap();
    let vault = indexed_fixture_vault(home.path(), &[]);
    let first = map(home.path(), &["--no-model"]);
    let (recall, wrong) = quality(&first);
    assert!(recall >= 0.8, "recall@3 {recall}: {first:#}");
    assert!(
        wrong.is_empty(),
        "no-evidence items rated strong: {wrong:?}"
    );
    for item in first["items"].as_array().unwrap() {
        for e in item["evidence"].as_array().unwrap() {
            let text = std::fs::read_to_string(vault.join(e["path"].as_str().unwrap())).unwrap();
            let squashed = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                squashed.contains(e["quote"].as_str().unwrap()),
                "quote not verbatim: {e}"
            );
        }
    }
    assert!(first["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["id"] == "business/negotiates-vendor-contracts-and-manages-a-budget"));

    // The feature judge is deterministic: same notes, same answer.
    let second = map(home.path(), &["--no-model"]);
    assert_eq!(levels(&second), levels(&first));
    for item in first["items"].as_array().unwrap() {
        if item["level"] == "none" {
            assert!(
                item["closest"]["path"].is_string()
                    && !item["reasons"].as_array().unwrap().is_empty(),
                "a none item says what came closest and why: {item}"
            );
        } else {
            assert!(
                !item["evidence"][0]["reasons"]
                    .as_array()
                    .unwrap()
                    .is_empty(),
                "evidence explains itself: {item}"
            );
        }
    }

    // The model's judgments are cached per chunk: a second run asks it nothing.
    let first = map(home.path(), &["--k", "3"]);
    assert!(first["judged"].as_u64().unwrap() > 0, "{first:#}");
    let second = map(home.path(), &["--k", "3"]);
    assert_eq!(
        (second["judged"].as_u64(), levels(&second)),
        (Some(0), levels(&first))
    );

    // Touch one note: only its chunks are judged again.
    let note = vault.join("work/2025-03-ci-flakes.md");
    let text = std::fs::read_to_string(&note).unwrap();
    std::fs::write(
        &note,
        text.replace("dropped 30%", "dropped 30% (measured over 200 runs)"),
    )
    .unwrap();
    assert!(run(starling(home.path()).arg("index")).status.success());
    let third = map(home.path(), &["--k", "3"]);
    let judged = third["judged"].as_u64().unwrap();
    let touched = third["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["evidence"].as_array().unwrap())
        .count();
    assert!(
        judged < first["judged"].as_u64().unwrap(),
        "judged {judged} of {} ({touched})",
        first["judged"]
    );
}

#[test]
fn instructions_in_a_note_raise_no_level_with_or_without_the_model() {
    let (with, without) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    indexed_fixture_vault(with.path(), &[]);
    indexed_fixture_vault(without.path(), &["pasted-email.md"]);
    assert_eq!(
        levels(&map(with.path(), &["--no-model"])),
        levels(&map(without.path(), &["--no-model"]))
    );
    let (a, b) = (
        map(with.path(), &["--k", "3"]),
        map(without.path(), &["--k", "3"]),
    );
    let rank = |l: &str| {
        ["none", "partial", "strong"]
            .iter()
            .position(|x| *x == l)
            .unwrap()
    };
    for (id, level) in levels(&a) {
        let clean = &levels(&b)[&id];
        assert!(
            rank(&level) <= rank(clean),
            "{id}: {level} with the injected note, {clean} without"
        );
    }
    let (_, wrong) = quality(&a);
    assert!(
        wrong.is_empty(),
        "model rated no-evidence items strong: {wrong:?}"
    );
}

/// A headless Chromium: scripts/test.sh installs `chromium-headless-shell` (Debian).
fn chromium() -> PathBuf {
    for name in [
        "chromium-headless-shell",
        "chromium",
        "chromium-browser",
        "google-chrome",
    ] {
        for dir in ["/usr/bin", "/usr/lib/chromium", "/usr/local/bin"] {
            let path = Path::new(dir).join(name);
            if path.is_file() {
                return path;
            }
        }
    }
    panic!("no headless Chromium found; run scripts/test.sh (it installs chromium-headless-shell)");
}

#[test]
fn the_html_report_renders_every_item_in_headless_chromium() {
    let home = tempfile::tempdir().unwrap();
    indexed_fixture_vault(home.path(), &[]);
    let report = home.path().join("map.html");
    let output = run(starling(home.path())
        .arg("map")
        .arg(fixture("map/rubric.md"))
        .args(["--no-model", "--format", "html", "--out"])
        .arg(&report));
    assert!(output.status.success(), "{}", stderr(&output));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        !html.contains("<script") && !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
    let dom = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", report.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("id=\"heatmap\""), "{dom}");
    // The fixture's notes are dated, so the report shows evidence per month.
    assert!(dom.contains("id=\"months\""), "{dom}");
    for id in expected().keys() {
        assert!(
            dom.contains(&format!("data-id=\"{id}\"")),
            "{id} missing from the rendered DOM"
        );
    }
}
