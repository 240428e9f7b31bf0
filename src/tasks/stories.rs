//! The interview story bank (`starling stories QUESTIONS.md`): questions read from a Markdown
//! table's first column, bullet or numbered lists and task items; for each, the stories in the
//! notes ranked as STAR ranks them (`star::build_stories` over the evidence judge's candidates),
//! the best few with `path:lines` and a one-line summary; questions with no story flagged, and
//! stories the best answer to many questions. Answers a question already links to
//! (`[[#heading]]`, `[[note]]`) are kept as pinned.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::backends::{Embedder, SearchFilter, VectorStore};
use crate::error::Result;
use crate::tasks::{evidence, map, star};

/// One question of the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Question {
    pub question: String,
    /// 1-based line in the questions file.
    pub line: usize,
    /// Answers the file already links to: `#heading` (this file) or a note name.
    pub pinned: Vec<Pinned>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Pinned {
    /// The link as written inside `[[...]]`.
    pub link: String,
    /// For `[[#heading]]`: the line of that heading in the questions file, when it is there.
    pub line: Option<usize>,
}

/// A story offered for a question.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StoryHit {
    /// The note the story is anchored on, and its best passage.
    pub path: String,
    pub line_start: usize,
    pub line_end: usize,
    pub summary: String,
    /// The story's support (noisy-OR of its notes' judge probabilities).
    pub score: f32,
    /// Every note of the story, the anchor first.
    pub notes: Vec<String>,
    /// How many questions have this story as their best answer.
    pub best_for: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Answer {
    pub question: String,
    pub line: usize,
    /// No story in the notes (and none linked in the file).
    pub none: bool,
    pub pinned: Vec<Pinned>,
    /// Best first.
    pub stories: Vec<StoryHit>,
}

/// A story that is the best answer to more questions than this is flagged as leaned on.
pub const LEANED_ON: usize = 3;

static WIKILINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[\[([^\]|]*)(?:\|[^\]]*)?\]\]").expect("wikilink"));
static LIST_ITEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[-*+]|\d{1,3}[.)])\s+(?:\[[ xX]\]\s+)?(.*)$").expect("list item")
});
static HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^#{1,6}\s+(.*?)\s*#*\s*$").expect("heading"));

fn is_table_separator(line: &str) -> bool {
    let t = line.trim();
    // At least one dash: an empty row (`| | |`) is a row, not the separator.
    t.starts_with('|') && t.contains('-') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// The question's words: links, emphasis and code marks taken out.
fn clean(text: &str) -> String {
    let text = WIKILINK.replace_all(text, "");
    let text = text.replace("**", "").replace("__", "").replace('`', "");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn heading_key(text: &str) -> String {
    text.trim()
        .trim_start_matches('#')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Reads the questions of a Markdown file (pure).
pub fn parse_questions(text: &str) -> Vec<Question> {
    let lines: Vec<&str> = text.lines().collect();
    let headings: Vec<(String, usize)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| HEADING.captures(l).map(|c| (heading_key(&c[1]), i + 1)))
        .collect();
    let pins = |source: &str| -> Vec<Pinned> {
        WIKILINK
            .captures_iter(source)
            .map(|c| {
                let link = c[1].trim().to_string();
                let line = link.strip_prefix('#').and_then(|h| {
                    let key = heading_key(h);
                    headings.iter().find(|(k, _)| *k == key).map(|(_, l)| *l)
                });
                Pinned { link, line }
            })
            .filter(|p| !p.link.is_empty())
            .collect()
    };
    let mut out = Vec::new();
    let mut in_code = false;
    let mut in_front_matter = false;
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim_end();
        if i == 0 && line == "---" {
            in_front_matter = true;
            continue;
        }
        if in_front_matter {
            in_front_matter = line != "---" && line != "...";
            continue;
        }
        if line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let candidate = if line.trim_start().starts_with('|') {
            // A body row: the next line is not the separator (that makes this the header) and
            // this line is not the separator itself.
            let is_header = lines
                .get(i + 1)
                .is_some_and(|next| is_table_separator(next));
            if is_header || is_table_separator(line) {
                continue;
            }
            let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
            cells.first().map(|first| (clean(first), pins(line)))
        } else if line.starts_with(char::is_whitespace) {
            // Nested list items are notes under a question, not questions.
            None
        } else {
            LIST_ITEM
                .captures(line)
                .map(|c| (clean(&c[1]), pins(&c[1])))
        };
        if let Some((question, pinned)) = candidate {
            if question.chars().filter(|c| c.is_alphanumeric()).count() >= 3 {
                out.push(Question {
                    question,
                    line: i + 1,
                    pinned,
                });
            }
        }
    }
    out
}

/// One line that says what a passage tells: its first sentence that reads as prose.
fn summary(text: &str, question: &str) -> String {
    let shaped: Vec<String> = text.lines().filter_map(star::shape_line).collect();
    let best = map::best_sentence(&shaped.join("\n"), question);
    let best = if best.is_empty() {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        best
    };
    match best.char_indices().nth(160) {
        Some((at, _)) => format!("{}…", &best[..at]),
        None => best,
    }
}

/// Ranks the notes' stories for every question; `k` stories at most per question.
pub fn find(
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    questions: &[Question],
    k: usize,
    filter: &SearchFilter,
) -> Result<Vec<Answer>> {
    let bar = evidence::judge().partial;
    let mut answers = Vec::with_capacity(questions.len());
    for question in questions {
        let (notes, _) = evidence::candidates_and_quarantined(
            embedder,
            store,
            &evidence::Query {
                text: star::question_core(&question.question),
                section: None,
                filter: filter.clone(),
                pool: 30,
                centroid: None,
                contrast: Vec::new(),
            },
        )?;
        let stories = star::build_stories(&notes, bar)
            .into_iter()
            .take(k.max(1))
            .filter_map(|story| {
                let anchor = notes.iter().find(|n| n.path == story.notes[0])?;
                let passage = anchor.best();
                Some(StoryHit {
                    path: anchor.path.clone(),
                    line_start: passage.chunk.line_start,
                    line_end: passage.chunk.line_end,
                    summary: summary(&passage.text, &question.question),
                    score: story.support,
                    notes: story.notes,
                    best_for: 0,
                })
            })
            .collect::<Vec<_>>();
        answers.push(Answer {
            question: question.question.clone(),
            line: question.line,
            none: stories.is_empty() && question.pinned.is_empty(),
            pinned: question.pinned.clone(),
            stories,
        });
    }
    // How many questions each story answers best.
    let mut best: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for answer in &answers {
        if let Some(first) = answer.stories.first() {
            *best.entry(first.path.clone()).or_default() += 1;
        }
    }
    for answer in &mut answers {
        for story in &mut answer.stories {
            story.best_for = best.get(&story.path).copied().unwrap_or(0);
        }
    }
    Ok(answers)
}

/// The answers as Markdown: each question, its stories, and the questions with none.
pub fn to_markdown(answers: &[Answer]) -> String {
    let mut out = String::from("# Interview stories\n\n");
    for answer in answers {
        out.push_str(&format!(
            "## {} (line {})\n\n",
            answer.question, answer.line
        ));
        for pin in &answer.pinned {
            match pin.line {
                Some(line) => out.push_str(&format!("- linked: [[{}]] (line {line})\n", pin.link)),
                None => out.push_str(&format!("- linked: [[{}]]\n", pin.link)),
            }
        }
        if answer.none {
            out.push_str("- **no story in the notes**\n");
        }
        for story in &answer.stories {
            let leaned = if story.best_for >= LEANED_ON {
                format!(
                    " (best answer to {} questions: find another)",
                    story.best_for
                )
            } else {
                String::new()
            };
            out.push_str(&format!(
                "- {}:{}-{} ({:.2}){leaned}: {}\n",
                story.path, story.line_start, story.line_end, story.score, story.summary
            ));
        }
        out.push('\n');
    }
    let missing: Vec<&Answer> = answers.iter().filter(|a| a.none).collect();
    if !missing.is_empty() {
        out.push_str("## Questions without a story\n\n");
        for answer in missing {
            out.push_str(&format!("- {} (line {})\n", answer.question, answer.line));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_come_from_tables_lists_and_tasks_with_their_links() {
        let text = "---\ntitle: prep\n---\n# Prep\n\nSome prose that is not a question.\n\n\
| Question | Story |\n|---|---|\n| Tell me about a conflict | [[#Vendor dispute]] |\n\
| A time you failed | |\n\n- Someone you helped grow\n  - nested note, not a question\n\
1. How do you handle on-call load?\n- [ ] A hard trade-off [[2024-03-ledger]]\n\n\
```\n- not a question in code\n```\n\n### Vendor dispute\n\nWe argued about the SLA.\n";
        let questions = parse_questions(text);
        let texts: Vec<&str> = questions.iter().map(|q| q.question.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Tell me about a conflict",
                "A time you failed",
                "Someone you helped grow",
                "How do you handle on-call load?",
                "A hard trade-off",
            ]
        );
        assert_eq!(questions[0].line, 10);
        assert_eq!(
            questions[0].pinned,
            [Pinned {
                link: "#Vendor dispute".into(),
                line: Some(22)
            }]
        );
        assert!(questions[1].pinned.is_empty());
        assert_eq!(questions[4].pinned[0].link, "2024-03-ledger");
        assert_eq!(questions[4].pinned[0].line, None);
    }
}
