//! `starling audit`: claims of a draft checked against the indexed fixture vault, in every
//! format, with `--fail-on`, standard input, a missing file, and the shared PIP script.

use serde_json::Value;

use crate::common::*;

const DRAFT: &str = "---\ntitle: H1 self-review\n---\n# H1 self-review\n\n\
- Build time fell from 18 to 11 minutes after I split the integration suite into four parallel shards.\n\
- Flaky failures dropped 45% by the end of March.\n\
- I was the incident commander for the \u{201c}certificate outage\u{201d} and restored checkout after 42 minutes.\n\
- I migrated the billing service to Kubernetes and cut cloud costs by $120k.\n\n\
Next half I will mentor two new hires. Thanks to the platform team for their help.\n";

/// `starling audit DRAFT --format json FLAGS...`, which must succeed, as JSON.
fn audit_json(home: &std::path::Path, draft: &std::path::Path, flags: &[&str]) -> Value {
    let output = run(starling(home)
        .arg("audit")
        .arg(draft)
        .args(["--format", "json"])
        .args(flags));
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

#[test]
fn audit_tells_supported_contradicted_and_unsupported_claims_apart() {
    let home = tempfile::tempdir().unwrap();
    indexed_fixture_vault(home.path(), &[]);
    let draft = home.path().join("self-review.md");
    std::fs::write(&draft, DRAFT).unwrap();

    let report = audit_json(home.path(), &draft, &["--no-model"]);
    let claims = report["claims"].as_array().unwrap();
    let verdicts: Vec<&str> = claims
        .iter()
        .map(|c| c["verdict"].as_str().unwrap())
        .collect();
    // The plan and the thanks are not claims.
    assert_eq!(
        verdicts,
        ["supported", "contradicted", "supported", "unsupported"],
        "{report}"
    );
    // Offsets are bytes of the file (the third claim follows a multi-byte quote on its line).
    for claim in claims {
        let (start, end) = (
            claim["start"].as_u64().unwrap() as usize,
            claim["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(&DRAFT[start..end], claim["text"].as_str().unwrap());
    }
    assert_eq!(claims[1]["line"], 7);
    assert_eq!(claims[1]["column"], 3);
    let difference = &claims[1]["differences"][0];
    assert_eq!(difference["claim"], "45%", "{report}");
    assert_eq!(difference["notes"], "30%", "{report}");
    assert_eq!(difference["path"], "work/2025-03-ci-flakes.md");
    assert_eq!(difference["line"], 17);
    assert_eq!(
        claims[0]["evidence"][0]["path"], "work/2025-03-ci-flakes.md",
        "{report}"
    );
    assert!(claims[3]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["quote"].as_str().is_some()));

    // Human, line and SARIF; --fail-on for a hook.
    let output = run(starling(home.path()).arg("audit").arg(&draft));
    assert!(output.status.success(), "{}", stderr(&output));
    let human = stdout(&output);
    assert!(
        human.contains("contradicted: claim 45%, notes 30% at work/2025-03-ci-flakes.md:17"),
        "{human}"
    );
    assert!(human.contains("4 claim(s): 2 supported, 1 contradicted, 1 unsupported"));
    let output = run(starling(home.path()).arg("audit").arg(&draft).args([
        "--format",
        "line",
        "--fail-on",
        "contradicted",
    ]));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 4);
    let output = run(starling(home.path())
        .arg("audit")
        .arg(&draft)
        .args(["--format", "sarif"]));
    let sarif: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 4);
    assert_eq!(sarif["runs"][0]["results"][1]["level"], "error");

    // Standard input, and a missing file named with exit 2 while the other is still audited.
    let output = run_with_input(
        starling(home.path()).args(["audit", "-", "--format", "json"]),
        b"I cut flaky failures by 30% in Q1.\n",
    );
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["file"], "-");
    assert_eq!(report["claims"].as_array().unwrap().len(), 1, "{report}");
    let missing = home.path().join("missing.md");
    let output = run(starling(home.path())
        .arg("audit")
        .arg(&draft)
        .arg(&missing)
        .args(["--format", "json"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("missing.md"),
        "{}",
        stderr(&output)
    );
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["claims"].as_array().unwrap().len(), 4);
}

#[test]
fn the_shared_pip_script_gets_through_with_its_figures_unsupported() {
    let home = tempfile::tempdir().unwrap();
    let examples = shared_examples();
    let output = run(starling(home.path()).arg("index").arg(&examples));
    assert!(output.status.success(), "{}", stderr(&output));
    // The script itself is indexed: a draft is never its own evidence.
    let report = audit_json(
        home.path(),
        &examples.join("pip-outcome-meeting-script.md"),
        &[],
    );
    let claims = report["claims"].as_array().unwrap();
    let with_figures: Vec<&Value> = claims
        .iter()
        .filter(|c| {
            c["text"]
                .as_str()
                .unwrap()
                .chars()
                .any(|ch| ch.is_ascii_digit())
        })
        .collect();
    assert!(with_figures.len() >= 3, "{report}");
    for claim in claims {
        for evidence in claim["evidence"].as_array().unwrap() {
            let path = evidence["path"].as_str().unwrap();
            assert!(!path.ends_with("pip-outcome-meeting-script.md"), "{claim}");
        }
    }
    for claim in with_figures {
        assert_eq!(claim["verdict"], "unsupported", "{claim}");
    }
}

#[test]
fn an_indexed_draft_takes_no_slot_of_its_claims_evidence() {
    // The draft restates its claim in ten sections, each a chunk closer to the claim than the
    // note that backs it: dropped only after the search, they would fill every slot of the
    // claim's pool and leave the note out.
    let home = tempfile::tempdir().unwrap();
    let vault = vault_with(
        home.path(),
        &[(
            "build-log.md",
            "# Build log\n\nNightly pipeline: 18 min down to 11 min once the integration tests \
             ran on four runners.\n",
        )],
    );
    let claim = "I cut the nightly build from 18 to 11 minutes by sharding the integration suite";
    let mut draft = format!("# Self-review\n\n{claim}.\n");
    for n in 1..=10 {
        draft.push_str(&format!("\n## Recap {n}\n\n{claim}, recap {n}.\n"));
    }
    let draft_path = vault.join("self-review.md");
    std::fs::write(&draft_path, draft).unwrap();
    let output = run(starling(home.path()).arg("index").arg(&vault));
    assert!(output.status.success(), "{}", stderr(&output));

    let report = audit_json(home.path(), &draft_path, &["--no-model"]);
    let claim = &report["claims"][0];
    assert!(
        claim["text"]
            .as_str()
            .unwrap()
            .starts_with("I cut the nightly build"),
        "{report}"
    );
    assert_eq!(claim["verdict"], "supported", "{report}");
    let paths: Vec<&str> = claim["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().all(|p| p.ends_with("build-log.md")),
        "{report}"
    );
}

#[test]
fn a_copy_of_the_draft_in_the_notes_is_not_its_evidence() {
    // The draft is indexed under drafts/ and audited from another path and from standard
    // input: the indexed copy holds every claim word for word and would "support" them all.
    let home = tempfile::tempdir().unwrap();
    let draft = "# Self-review\n\n\
        - I cut the nightly build from 18 to 11 minutes by sharding the integration suite.\n\
        - I led the move of the billing service to Postgres 15 with no downtime in March.\n\
        - I mentored three new engineers through their first on-call rotations this year.\n\
        - I wrote the runbook for carrier webhook failures that the whole team now uses.\n";
    let vault = vault_with(
        home.path(),
        &[
            (
                "build-log.md",
                "# Build log\n\nNightly pipeline: 18 min down to 11 min once the integration \
                 tests ran on four runners.\n",
            ),
            ("drafts/self-review.md", draft),
        ],
    );
    let output = run(starling(home.path()).arg("index").arg(&vault));
    assert!(output.status.success(), "{}", stderr(&output));
    let elsewhere = home.path().join("self-review-final.md");
    std::fs::write(&elsewhere, draft).unwrap();

    let from_file = audit_json(home.path(), &elsewhere, &["--no-model"]);
    let output = run_with_input(
        starling(home.path()).args(["audit", "-", "--format", "json", "--no-model"]),
        draft.as_bytes(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let from_stdin: Value = serde_json::from_str(&stdout(&output)).unwrap();
    for report in [&from_file, &from_stdin] {
        let claims = report["claims"].as_array().unwrap();
        assert_eq!(claims.len(), 4, "{report}");
        for claim in claims {
            for quote in claim["evidence"].as_array().unwrap() {
                assert_eq!(quote["path"], "build-log.md", "{report}");
            }
        }
        assert_eq!(claims[0]["verdict"], "supported", "{report}");
        for claim in &claims[1..] {
            assert_eq!(claim["verdict"], "unsupported", "{report}");
        }
        let warning = report["warnings"][0].as_str().unwrap();
        assert!(
            warning.starts_with("drafts/self-review.md holds this draft (4 of its 4 claims"),
            "{report}"
        );
    }
    // Every format says so: human output and the line format's stderr, SARIF's notifications.
    let output = run(starling(home.path()).arg("audit").arg(&elsewhere));
    assert!(
        stdout(&output).contains("warning: drafts/self-review.md holds this draft"),
        "{}",
        stdout(&output)
    );
    let output = run(starling(home.path())
        .arg("audit")
        .arg(&elsewhere)
        .args(["--format", "line"]));
    assert!(
        stderr(&output).contains("warning: drafts/self-review.md holds this draft"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output).lines().count(), 4, "{}", stdout(&output));
    let output = run(starling(home.path())
        .arg("audit")
        .arg(&elsewhere)
        .args(["--format", "sarif"]));
    let sarif: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let notification = &sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"][0];
    assert_eq!(notification["level"], "warning", "{sarif}");
    assert!(notification["message"]["text"]
        .as_str()
        .unwrap()
        .starts_with("drafts/self-review.md holds this draft"));
    // Audited at its indexed path, the draft is left out as before, with nothing to warn of.
    let at_home = audit_json(
        home.path(),
        &vault.join("drafts/self-review.md"),
        &["--no-model"],
    );
    assert_eq!(at_home["warnings"], serde_json::json!([]), "{at_home}");
    assert_eq!(at_home["claims"][0]["verdict"], "supported", "{at_home}");
}
