//! `starling star` on the fixture vault (tests/fixtures/star): the notes that hold the evidence
//! are cited, no figure is absent from its cited evidence, no evidence means exit 1, and the
//! extractive draft is byte-identical across runs. Real embedder, store and model.

use std::path::Path;

use serde_json::Value;
use starling::tasks::facts;

use crate::common::{
    fixture, fixture_vault, indexed_fixture_vault, run, run_with_input, starling, stderr, stdout,
    vault_with,
};

fn star(home: &Path, args: &[&str]) -> std::process::Output {
    run(starling(home).arg("star").args(args))
}

fn expected() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(fixture("star/expected.toml")).unwrap();
    let value: toml::Value = toml::from_str(&text).unwrap();
    value["competency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["notes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// Every drafted sentence cites evidence that exists and holds each of its figures.
pub(crate) fn assert_grounded(draft: &Value) {
    let evidence = draft["evidence"].as_array().unwrap();
    for (part, sentences) in draft["sentences"].as_object().unwrap() {
        for sentence in sentences.as_array().unwrap() {
            let texts: Vec<&str> = sentence["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| {
                    evidence
                        .iter()
                        .find(|e| &e["id"] == id)
                        .unwrap_or_else(|| panic!("{part}: {id} is not in the evidence"))["text"]
                        .as_str()
                        .unwrap()
                })
                .collect();
            let text = sentence["text"].as_str().unwrap();
            assert!(!texts.is_empty(), "{part}: `{text}` cites nothing");
            assert_eq!(
                facts::unsupported(text, &texts),
                Vec::<String>::new(),
                "{part}: `{text}` has figures its evidence lacks"
            );
        }
    }
}

#[test]
fn extractive_drafts_cite_the_known_notes_and_nothing_else() {
    let home = tempfile::tempdir().unwrap();
    indexed_fixture_vault(home.path(), &[]);
    for (competency, notes) in expected() {
        let output = star(
            home.path(),
            &[
                "--competency",
                &competency,
                "--no-model",
                "--format",
                "json",
            ],
        );
        if notes.is_empty() {
            assert_eq!(
                output.status.code(),
                Some(1),
                "{competency}: {}",
                stdout(&output)
            );
            assert!(
                stderr(&output).contains("not enough evidence"),
                "{}",
                stderr(&output)
            );
            continue;
        }
        assert!(output.status.success(), "{competency}: {}", stderr(&output));
        let draft: Value = serde_json::from_str(&stdout(&output)).unwrap();
        let cited: Vec<&str> = draft["citations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["path"].as_str().unwrap())
            .collect();
        for note in &notes {
            assert!(
                cited.contains(&note.as_str()),
                "{competency}: {note} not cited in {cited:?}"
            );
        }
        assert!(
            !cited.iter().any(|c| c.starts_with("personal/")),
            "{cited:?}"
        );
        assert_grounded(&draft);
        for part in ["situation", "task", "action", "result"] {
            assert!(draft[part].is_string(), "{part} in {draft}");
        }
    }

    // Deterministic: the same command prints the same bytes.
    let args = ["--competency", "Mentoring junior engineers", "--no-model"];
    let (first, second) = (star(home.path(), &args), star(home.path(), &args));
    assert!(first.status.success());
    assert_eq!(stdout(&first), stdout(&second));
    let markdown = stdout(&first);
    assert!(
        markdown.contains("## Situation") && markdown.contains("## Result"),
        "{markdown}"
    );
    assert!(
        markdown.contains("[^1]: 1on1/2025-04-priya.md:"),
        "{markdown}"
    );

    // The table has the shape of a STAR self-assessment row.
    let output = star(
        home.path(),
        &[
            "--competency",
            "Improving CI reliability and build speed",
            "--no-model",
            "--format",
            "table",
        ],
    );
    let table = stdout(&output);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "| Dimension | Situation | Task | Action | Result | Next step |"
    );
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[2].contains("18 to 11 minutes"), "{table}");
}

#[test]
fn a_note_with_instructions_changes_nothing() {
    // The inbox note tells the model to claim 50 mentees and 500% revenue.
    let (with, without) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    indexed_fixture_vault(with.path(), &[]);
    indexed_fixture_vault(without.path(), &["pasted-email.md"]);
    let args = ["--competency", "Mentoring junior engineers", "--no-model"];
    let (a, b) = (star(with.path(), &args), star(without.path(), &args));
    assert!(a.status.success() && b.status.success());
    assert_eq!(stdout(&a), stdout(&b));

    // With the model, too: the draft holds no figure from the injected note.
    let output = star(
        with.path(),
        &[
            "--competency",
            "Mentoring junior engineers",
            "--format",
            "json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let draft: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(draft["model"], "SmolLM2-135M-Instruct.Q8_0", "{draft}");
    assert_grounded(&draft);
    for part in ["situation", "task", "action", "result"] {
        let text = draft[part].as_str().unwrap();
        assert!(
            !text.contains("500") && !text.contains("50 "),
            "{part}: {text}"
        );
    }
    assert!(
        draft["citations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == "1on1/2025-04-priya.md"),
        "{draft}"
    );
}

#[test]
fn a_rubric_gets_one_entry_per_section_and_a_summary() {
    let home = tempfile::tempdir().unwrap();
    indexed_fixture_vault(home.path(), &[]);
    let rubric = home.path().join("ladder.md");
    std::fs::write(
        &rubric,
        "# Senior engineer\n\n## Operational excellence\n- Leads incident response and on-call\n- Writes follow-ups after outages\n\n## Mentoring\n- Grows junior engineers through pairing and reviews\n\n## Finance\n- Negotiates vendor contracts and owns a budget\n",
    )
    .unwrap();
    let output = run(starling(home.path())
        .arg("star")
        .arg("--rubric")
        .arg(&rubric)
        .args(["--no-model", "--format", "json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let value: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let levels: Vec<(&str, &str)> = value["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["section"].as_str().unwrap(), s["level"].as_str().unwrap()))
        .collect();
    assert_eq!(levels.len(), 3, "{levels:?}");
    assert_ne!(levels[0].1, "growth area", "{levels:?}");
    assert_ne!(levels[1].1, "growth area", "{levels:?}");
    assert_eq!(levels[2], ("Finance", "growth area"), "{levels:?}");

    let output = run(starling(home.path())
        .arg("star")
        .arg("--rubric")
        .arg(&rubric)
        .arg("--no-model"));
    let markdown = stdout(&output);
    assert!(
        markdown.contains("## Strengths and growth areas"),
        "{markdown}"
    );
    assert!(markdown.contains("## Mentoring"), "{markdown}");
}

#[test]
fn a_multilingual_vault_without_the_story_gets_not_enough_evidence() {
    // Formula notes in Arabic and Hebrew name `salary` and `raise` in code; the English
    // embedder cannot compare their prose with an English competency, so they are not evidence.
    let home = tempfile::tempdir().unwrap();
    let vault = vault_with(
        home.path(),
        &[
            (
                "ar/formulas.md",
                "# الصيغ\n\n**العمليات الحسابية** على الأرقام في الملاحظات:\n\n- `salary * 1.1` — زيادة الراتب بنسبة عشرة بالمئة\n- `salary + bonus` — جمع الراتب والمكافأة\n- `raise / months` — قسمة الزيادة على عدد الأشهر\n- `manager.budget - raise` — طرح الزيادة من ميزانية المدير\n",
            ),
            (
                "he/formulas.md",
                "# נוסחאות\n\n- `price * quantity` — הכפלה של שני מאפיינים של הפתק\n- `salary > 1000` — השוואה בין מספרים\n- `if(raise, \"yes\", \"no\")` — תנאי עם תוצאה\n",
            ),
            (
                "en/garden.md",
                "# Garden\n\nPlanted tomatoes and basil along the south fence. Watered them twice a week in July.\n",
            ),
        ],
    );
    let output = run(starling(home.path()).arg("index").arg(&vault));
    assert!(output.status.success(), "{}", stderr(&output));
    let output = star(
        home.path(),
        &[
            "--competency",
            "Negotiating a salary raise with my manager",
            "--no-model",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("not enough evidence"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_star_input_is_named() {
    let home = tempfile::tempdir().unwrap();
    let output = star(home.path(), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--competency is required"),
        "{}",
        stderr(&output)
    );
    let output = star(
        home.path(),
        &[
            "--competency",
            "x",
            "--include",
            "missing.md:3-4",
            "--no-model",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("missing.md"),
        "{}",
        stderr(&output)
    );
    let rubric = home.path().join("empty.md");
    std::fs::write(&rubric, "# Nothing here\n").unwrap();
    let output = run(starling(home.path())
        .arg("star")
        .arg("--rubric")
        .arg(&rubric)
        .arg("--no-model"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("empty.md") && stderr(&output).contains("no items"),
        "{}",
        stderr(&output)
    );
}

/// Runs `starling ARGS` on a pseudo-terminal (util-linux `script`), typing `input`.
fn on_a_terminal(home: &Path, args: &str, input: &str) -> std::process::Output {
    use std::io::Write;
    let command = format!("{} {args}", crate::common::bin().display());
    let mut script = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("STARLING_MODELS_DIR", crate::common::models_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs");
    script
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    script.wait_with_output().unwrap()
}

#[test]
fn at_a_terminal_it_asks_and_lets_the_user_untick_evidence() {
    let home = tempfile::tempdir().unwrap();
    indexed_fixture_vault(home.path(), &[]);
    // Asked for the competency, shown the evidence, Enter drafts.
    let output = on_a_terminal(
        home.path(),
        "star --no-model",
        "Mentoring junior engineers\n\n",
    );
    let screen = stdout(&output);
    assert!(screen.contains("Competency to write about:"), "{screen}");
    assert!(
        screen.contains("[x]") && screen.contains("1on1/2025-04-priya.md"),
        "{screen}"
    );
    assert!(
        screen.contains("## Situation") && screen.contains("[^1]: 1on1/2025-04-priya.md"),
        "{screen}"
    );

    // Unticking the only evidence leaves nothing to draft from.
    let output = on_a_terminal(
        home.path(),
        "star --no-model --competency 'Mentoring junior engineers'",
        "1\n\n",
    );
    let screen = stdout(&output);
    assert!(screen.contains("[ ]"), "{screen}");
    assert!(screen.contains("not enough evidence"), "{screen}");
    assert_eq!(output.status.code(), Some(1), "{screen}");
}

/// `starling stories QUESTIONS --format json --no-model`, which must succeed.
fn stories_json(home: &Path, questions: &Path) -> Value {
    let output =
        run(starling(home)
            .arg("stories")
            .arg(questions)
            .args(["--format", "json", "--no-model"]));
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

#[test]
fn an_indexed_questions_file_is_no_story_of_its_own_and_its_linked_answers_steer_the_search() {
    let home = tempfile::tempdir().unwrap();
    let vault = fixture_vault(home.path(), &[]);
    // The prep file sits in the vault, so it is indexed with the notes; its answer section
    // tells the story in the user's own shorthand.
    let questions_file = vault.join("prep.md");
    std::fs::write(
        &questions_file,
        "# Interview prep\n\n| Question | Story |\n|---|---|\n\
| A week you are proud of | [[#Invoices]] |\n\
| Tell me about a production incident you owned | |\n\
| Tell me about a migration | [[two-parts#Hiring|the loop]] |\n\
| Tell me about a time you changed the plan halfway | |\n\n\
### Invoices\n- nightly billing was at risk, 1.2 million messages stuck\n\
- scaled consumers 4 to 12, rolled back the deploy\n\
- billing run started on time\n",
    )
    .unwrap();
    // A note of two sections: a link naming one is answered from that one, whatever the
    // question's words are closer to.
    std::fs::create_dir_all(vault.join("projects")).unwrap();
    std::fs::write(
        vault.join("projects/two-parts.md"),
        "# Two parts\n\n## Migration\nWe moved the billing jobs to the new scheduler over two weeks.\n\n\
## Hiring\nI ran the interview loop for two backend engineers and both accepted.\n",
    )
    .unwrap();
    let output = run(starling(home.path()).arg("index").arg(&vault));
    assert!(output.status.success(), "{}", stderr(&output));
    let answer = stories_json(home.path(), &questions_file);
    let questions = answer["questions"].as_array().unwrap();
    // The answer section's list items ask nothing.
    assert_eq!(questions.len(), 4, "{answer}");
    let linked = &questions[2]["stories"][0];
    assert_eq!(linked["path"], "projects/two-parts.md", "{answer}");
    assert_eq!(linked["pinned"], true, "{answer}");
    assert!(linked["line_start"].as_u64().unwrap() >= 6, "{answer}");
    // Its outline tells that section, not the note's other one.
    let output = run(starling(home.path())
        .arg("stories")
        .arg(&questions_file)
        .args(["--format", "json", "--no-model", "--star"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let starred: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let citations = starred["questions"][2]["star"]["citations"]
        .as_array()
        .unwrap();
    assert!(!citations.is_empty(), "{starred}");
    assert!(
        citations
            .iter()
            .all(|c| c["path"] == "projects/two-parts.md" && c["line_start"].as_u64().unwrap() >= 6),
        "{starred}"
    );
    let paths: Vec<&str> = questions
        .iter()
        .flat_map(|q| q["stories"].as_array().unwrap())
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert!(!paths.is_empty(), "{answer}");
    assert!(!paths.contains(&"prep.md"), "{answer}");
    // "A week you are proud of" says nothing of queues: the linked section finds the note.
    assert_eq!(
        questions[0]["stories"][0]["path"], "incidents/2025-06-queue-backlog.md",
        "{answer}"
    );

    // Questions on stdin: the file is `-`.
    let output = run_with_input(
        starling(home.path()).args(["stories", "-", "--format", "json", "--no-model"]),
        b"- Tell me about a production incident you owned\n",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let answer: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(answer["file"], "-");
    assert_eq!(answer["questions"][0]["line"], 1, "{answer}");
    assert!(
        !answer["questions"][0]["stories"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{answer}"
    );
    assert_eq!(answer["warnings"], serde_json::json!([]), "{answer}");

    // The whole prep file on stdin: its indexed copy is found by its questions' words and is
    // no story of its own, as when it is named by its path.
    let output = run_with_input(
        starling(home.path()).args(["stories", "-", "--format", "json", "--no-model"]),
        &std::fs::read(&questions_file).unwrap(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let answer: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(
        answer["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("prep.md holds these questions"),
        "{answer}"
    );
    let from_stdin: Vec<&str> = answer["questions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| q["stories"].as_array().unwrap())
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert!(!from_stdin.contains(&"prep.md"), "{answer}");
    assert_eq!(
        answer["questions"][0]["stories"][0]["path"], "incidents/2025-06-queue-backlog.md",
        "{answer}"
    );
}

#[test]
fn stories_finds_a_story_per_question_keeps_links_and_flags_the_ones_without() {
    let home = tempfile::tempdir().unwrap();
    indexed_fixture_vault(home.path(), &[]);
    let questions = home.path().join("interview.md");
    std::fs::write(
        &questions,
        "# Interview prep\n\n| Question | Story |\n|---|---|\n\
| Tell me about a production incident you owned | |\n\
| Someone junior you helped grow | [[#Mentoring]] |\n\n\
- Describe how you made the build faster and less flaky\n\
- [ ] A time you negotiated a vendor contract and a budget\n\
- A schema change other teams had to make [[Rfc-Event-Schema#Decision|the RFC]]\n\n### Mentoring\n\nSee my 1:1 notes.\n",
    )
    .unwrap();
    let answer = stories_json(home.path(), &questions);
    let questions = answer["questions"].as_array().unwrap();
    assert_eq!(questions.len(), 5, "{answer}");
    let first_path = |i: usize| {
        questions[i]["stories"][0]["path"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        first_path(0),
        "incidents/2025-02-certificate-outage.md",
        "{answer}"
    );
    assert_eq!(questions[0]["line"], 5);
    assert_eq!(questions[1]["pinned"][0]["link"], "#Mentoring", "{answer}");
    assert_eq!(questions[1]["pinned"][0]["line"], 12, "{answer}");
    assert_eq!(first_path(2), "work/2025-03-ci-flakes.md", "{answer}");
    // No story for the vendor contract: the question is flagged, and its closest notes are
    // listed under the flag for the user to judge, none of them convincing.
    assert_eq!(questions[3]["none"], true, "{answer}");
    let closest = questions[3]["stories"].as_array().unwrap();
    assert!(!closest.is_empty(), "{answer}");
    for story in closest {
        assert!(story["score"].as_f64().unwrap() < 0.7, "{answer}");
    }
    // A story the judge finds convincing answers the question; a linked note does too.
    assert_eq!(questions[0]["none"], false, "{answer}");
    assert_eq!(questions[4]["none"], false, "{answer}");
    // A linked note is the question's first story, marked as the user's own choice; a heading
    // link into the questions file names no note.
    assert_eq!(first_path(4), "design/rfc-event-schema.md", "{answer}");
    assert_eq!(questions[4]["stories"][0]["pinned"], true, "{answer}");
    assert_eq!(questions[4]["stories"][0]["score"], 1.0, "{answer}");
    assert!(
        questions
            .iter()
            .flat_map(|q| q["stories"].as_array().unwrap())
            .all(|s| s["pinned"] == false || s["path"] == "design/rfc-event-schema.md"),
        "{answer}"
    );
    for story in questions
        .iter()
        .flat_map(|q| q["stories"].as_array().unwrap())
    {
        assert!(story["line_start"].as_u64().unwrap() >= 1, "{story}");
        assert!(!story["summary"].as_str().unwrap().is_empty(), "{story}");
    }

    assert!(
        questions.iter().all(|q| q.get("star").is_none()),
        "{answer}"
    );

    // --star tells each best story in four parts, every sentence cited to that story's notes.
    let output = run(starling(home.path())
        .arg("stories")
        .arg(home.path().join("interview.md"))
        .args(["--format", "json", "--no-model", "--star"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let answer: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let incident = &answer["questions"][0];
    let outline = &incident["star"];
    let story_notes: Vec<&str> = incident["stories"][0]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(!outline["action"].as_str().unwrap().is_empty(), "{outline}");
    let cited: Vec<&str> = outline["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(!cited.is_empty(), "{outline}");
    assert!(
        cited.iter().all(|p| story_notes.contains(p)),
        "{cited:?} outside the story {story_notes:?}"
    );
    // No outline for a question without a convincing story (nor one with only a heading link).
    for question in answer["questions"].as_array().unwrap() {
        let answered =
            question["none"] == false && !question["stories"].as_array().unwrap().is_empty();
        assert_eq!(question.get("star").is_some(), answered, "{question}");
    }

    // HTML: one self-contained page with the outline and the question without a story.
    let output = run(starling(home.path())
        .arg("stories")
        .arg(home.path().join("interview.md"))
        .args(["--format", "html", "--star"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let page = stdout(&output);
    assert!(page.starts_with("<!doctype html>"), "{page}");
    assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"));
    assert!(
        page.contains("No story in the notes.")
            || page.contains("No convincing story in the notes</strong>; the closest:"),
        "{page}"
    );
    assert!(page.contains("<dt>Action</dt>"), "{page}");
    assert!(page.contains("work/2025-03-ci-flakes.md"), "{page}");

    // Markdown names the question without a story; a file with no questions is an error.
    let output = run(starling(home.path())
        .arg("stories")
        .arg(home.path().join("interview.md")));
    assert!(
        stdout(&output).contains("## Questions without a story"),
        "{}",
        stdout(&output)
    );
    let empty = home.path().join("empty.md");
    std::fs::write(&empty, "Just prose.\n").unwrap();
    let output = run(starling(home.path()).arg("stories").arg(&empty));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no questions found"),
        "{}",
        stderr(&output)
    );
    // More questions than one run takes: refused before any search, with the fix.
    let many = home.path().join("many.md");
    let list: String = (0..=starling::app::stories::MAX_QUESTIONS)
        .map(|i| format!("- Question number {i}\n"))
        .collect();
    std::fs::write(&many, list).unwrap();
    let output = run(starling(home.path()).arg("stories").arg(&many));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("at most 500 at a time; split the file"),
        "{}",
        stderr(&output)
    );
}

/// The section heading a sentence sits under moves the part classifier towards that section's
/// part (`rules/star-headings.toml`): on the project's own labelled sectioned notes
/// (`data/heldout/star-sectioned.jsonl`, 715 sentences of 52 notes whose headings and labels disagree in
/// about a quarter of the cases) accuracy rose from 0.56 to 0.66 at the shipped weight.
#[test]
fn section_headings_lift_the_part_classifier_on_labelled_notes() {
    let labelled = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/heldout/star-sectioned.jsonl");
    let home = tempfile::tempdir().unwrap();
    let output = run(starling(home.path())
        .args(["bench", "star-parts"])
        .arg(&labelled));
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(report["sentences"].as_u64().unwrap() > 500, "{report:#}");
    let accuracy = |weight: &str| {
        report["by_heading_weight"][weight]["accuracy"]
            .as_f64()
            .unwrap()
    };
    let shipped = report["shipped_weight"].as_f64().unwrap().to_string();
    let (alone, with_heading) = (accuracy("1"), accuracy(&shipped));
    assert!(
        with_heading >= alone + 0.06 && with_heading >= 0.62,
        "alone {alone:.3}, with headings {with_heading:.3}"
    );
}

/// The demo's STAR entry (`scripts/demo.sh`) has all four parts: a part the classifier gave
/// nothing takes, from a part holding two or more, the sentence most likely to tell it (on the
/// demo's work log the result was empty, its sentences read as task and action). It tells one
/// story: the month's log also holds a billing migration and mentoring under headings of their
/// own, and none of those passages is evidence for the incident review.
#[test]
fn the_demo_star_entry_has_all_four_parts() {
    let home = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/notes");
    let indexed = run(starling(home.path()).arg("index").arg(&demo));
    assert!(indexed.status.success(), "{}", stderr(&indexed));
    let output = star(
        home.path(),
        &[
            "--competency",
            "Incident review and outage follow-up",
            "--no-model",
            "--yes",
            "--format",
            "json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let draft: Value = serde_json::from_str(&stdout(&output)).unwrap();
    for part in ["situation", "task", "action", "result"] {
        let text = draft[part].as_str().unwrap_or("");
        assert!(text.contains("[E"), "{part} is empty: {draft:#}");
    }
    let evidence = draft["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty(), "{draft:#}");
    for item in evidence {
        let heading = item["heading"].as_str().unwrap();
        assert!(heading.ends_with("> Reliability"), "{heading}: {draft:#}");
    }
}
