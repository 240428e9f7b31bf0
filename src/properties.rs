//! Property tests of the text core (segmentation, tone rules, figures, mojibake repair, front
//! matter and Markdown parsing, chunking, rubric parsing, STAR sentence shaping): any UTF-8
//! input, built from the pieces real notes are made of, never panics, and every span reported
//! lies on character boundaries inside the input. Test-only; no I/O.

use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::notes::chunk::{chunk_note, WordCounter};
use crate::notes::markdown::{self, ParseOptions};
use crate::notes::mojibake;
use crate::tasks::{audit, facts, rubric, star, stories};
use crate::tone::rules::RuleSet;
use crate::tone::segment::{prose_view, InputKind};
use crate::tone::{apply_allow, apply_directives, CheckOptions, LineIndex};

/// What notes are made of: typographic punctuation before figures, markup of every kind,
/// mojibake, scripts other than Latin, control characters, line endings of every platform.
const PIECES: &[&str] = &[
    "“",
    "”",
    "‘",
    "’",
    "—",
    "–",
    "\u{a0}",
    "\u{200b}",
    "\u{feff}",
    "…",
    "Q3",
    "v2",
    "10x",
    "p99",
    "4.1 million",
    "35%",
    "$1,200",
    "2024-05-0é",
    "é",
    "ß",
    "Ö",
    "Ã©",
    "â€™",
    "Ã¶",
    "Â ",
    "ðŸ‘",
    "👍🏽",
    "🇫🇷",
    "שלום",
    "مرحبا",
    "漢字",
    "日本語。",
    "\u{0}",
    "\t",
    "\r\n",
    "\n",
    "\n\n",
    "\r",
    "---\n",
    "date: ",
    "title: |\n  x\n",
    "tags: [a, b]\n",
    "title: \"",
    "\\U0001F3",
    "\\u00",
    "\\x4",
    "\\",
    "'",
    "''",
    "# ",
    "## ",
    "- ",
    "* ",
    "1. ",
    "- [ ] ",
    "- [x] ",
    "> ",
    "> [!info] ",
    "^a1b2",
    "| a | b |\n",
    "|---|---|\n",
    "[[note|label]]",
    "[[#heading]]",
    "![[img.png]]",
    "[text](http://x.y)",
    "```\ncode\n```\n",
    "`x`",
    "**",
    "_",
    "<!-- starling-disable -->",
    "<!-- starling-enable -->",
    "<!-- starling-disable-next-line hedging -->",
    "<div>",
    "I ",
    "I think ",
    "maybe ",
    "Led the review",
    "never ",
    "sorry ",
    ". ",
    "? ",
    "! ",
    ": ",
    "; ",
    "(",
    ")",
    "\"",
    "'",
    "A",
    "z",
    "0",
    "9",
];

fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(PIECES).prop_map(str::to_string),
        1 => any::<char>().prop_map(|c| c.to_string()),
    ];
    proptest::collection::vec(piece, 0..80).prop_map(|pieces| pieces.concat())
}

fn on_boundaries(source: &str, start: usize, end: usize) -> bool {
    start <= end
        && end <= source.len()
        && source.is_char_boundary(start)
        && source.is_char_boundary(end)
}

fn config() -> Config {
    Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn prose_view_keeps_offsets_and_sentences_lie_inside(source in text()) {
        for kind in [InputKind::Markdown, InputKind::PlainText] {
            let view = prose_view(&source, kind);
            prop_assert_eq!(view.text.len(), source.len());
            prop_assert_eq!(view.text.matches('\n').count(), source.matches('\n').count());
            let mut previous_end = 0;
            for sentence in &view.sentences {
                prop_assert!(on_boundaries(&source, sentence.start, sentence.end));
                prop_assert!(sentence.start >= previous_end, "sentences overlap");
                previous_end = sentence.end;
            }
            for paragraph in view.paragraphs() {
                prop_assert!(on_boundaries(&source, paragraph.start, paragraph.end));
            }
        }
    }

    #[test]
    fn tone_findings_lie_on_character_boundaries(source in text()) {
        let rules = RuleSet::load(&[]).expect("built-in rules");
        let findings = rules.check(&source, &CheckOptions::default()).expect("default profile");
        let lines = LineIndex::new(&source);
        for finding in &findings {
            prop_assert!(on_boundaries(&source, finding.start, finding.end));
            prop_assert_eq!(&finding.text, &source[finding.start..finding.end]);
            prop_assert_eq!(lines.position(finding.start), (finding.line, finding.column));
        }
        let kept = apply_directives(&source, findings.clone());
        prop_assert!(kept.len() <= findings.len());
        let allowed = apply_allow(&source, findings.clone(), &["I think".into(), "“".into()]);
        prop_assert!(allowed.len() <= findings.len());
    }

    #[test]
    fn a_sentence_supports_its_own_figures(source in text()) {
        for figure in facts::figures(&source) {
            prop_assert!(!figure.raw.is_empty());
        }
        prop_assert_eq!(facts::unsupported(&source, &[source.as_str()]), Vec::<String>::new());
        let _ = facts::stays_close(&source, &source);
    }

    #[test]
    fn mojibake_repair_keeps_lines_and_leaves_ascii_alone(source in text()) {
        let (repaired, count) = mojibake::repair(&source);
        prop_assert_eq!(repaired.lines().count(), source.lines().count());
        if source.is_ascii() {
            prop_assert_eq!(&repaired, &source);
            prop_assert_eq!(count, 0);
        }
    }

    #[test]
    fn notes_parse_and_chunk_within_their_lines(source in text(), dendron in any::<bool>()) {
        let note = markdown::parse_with(&source, "fallback", ParseOptions { dendron });
        let lines = source.lines().count().max(1);
        for block in &note.blocks {
            prop_assert!(block.line_start >= 1 && block.line_start <= block.line_end);
            prop_assert!(block.line_end <= lines, "block ends on line {} of {}", block.line_end, lines);
        }
        if let Some(date) = &note.date {
            prop_assert!(markdown::days_since_epoch(date).is_some(), "date {date:?} is not a date");
        }
        for chunk in chunk_note("a/b.md", &note, &WordCounter, 12) {
            prop_assert!(chunk.line_start >= 1 && chunk.line_start <= chunk.line_end);
            prop_assert!(chunk.line_end <= lines);
            prop_assert!(!chunk.text.trim().is_empty());
        }
    }

    #[test]
    fn audit_claims_lie_on_boundaries_and_differences_name_values(source in text(), other in text()) {
        for span in audit::claim_spans(&source, InputKind::Markdown) {
            prop_assert!(on_boundaries(&source, span.start, span.end));
        }
        let (_, differences) = audit::judge_lines(&source, &other, 0.9);
        for difference in differences {
            prop_assert!(!difference.claim.is_empty() && !difference.notes.is_empty());
            prop_assert!(difference.line >= 1 && difference.line <= other.lines().count());
        }
        // A line never contradicts itself.
        for line in source.lines() {
            let (verdict, differences) = audit::judge_lines(line, line, 0.9);
            prop_assert_ne!(verdict, audit::Verdict::Contradicted, "{:?}", differences);
        }
    }

    #[test]
    fn rubrics_and_star_shaping_take_any_text(source in text()) {
        let _ = rubric::parse(std::path::Path::new("ladder.md"), &source);
        for line in source.lines() {
            if let Some(shaped) = star::shape_line(line) {
                prop_assert!(!shaped.contains("[["), "link brackets in {shaped:?}");
            }
            for sentence in star::split_sentences(line) {
                prop_assert!(line.contains(sentence.trim()));
            }
        }
        let _ = star::question_core(&source);
        let lines = source.lines().count();
        for question in stories::parse_questions(&source) {
            prop_assert!(question.line >= 1 && question.line <= lines);
        }
    }
}
