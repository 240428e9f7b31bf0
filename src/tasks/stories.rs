//! The interview story bank (`starling stories QUESTIONS.md`): questions read from a Markdown
//! table's first column, bullet or numbered lists and task items; for each, the stories in the
//! notes ranked as STAR ranks them (`star::build_stories` over the evidence judge's candidates),
//! the best few with `path:lines` and a one-line summary; questions with no story flagged, and
//! stories the best answer to many questions. Answers a question already links to
//! (`[[#heading]]`, `[[note]]`) are kept as pinned.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::backends::{Embedder, SearchFilter, VectorStore};
use crate::error::Result;
use crate::notes::glossary;
use crate::tasks::{evidence, map, star};

/// One question of the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Question {
    pub question: String,
    /// 1-based line in the questions file.
    pub line: usize,
    /// Answers the file already links to: `#heading` (this file) or a note name.
    pub pinned: Vec<Pinned>,
    /// What the file itself says under the headings the question links to (`[[#heading]]`):
    /// the user's own telling of the story, searched with the question.
    #[serde(skip)]
    pub answer: String,
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
    /// A note the questions file links to for this question (`[[note]]`): the user's own
    /// choice, shown first (its `score` is 1).
    #[serde(default)]
    pub pinned: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Answer {
    pub question: String,
    pub line: usize,
    /// No convincing story in the notes and none linked in the file: no story's support
    /// reaches `CONVINCING`. `stories` then holds the closest candidates, if any.
    pub none: bool,
    pub pinned: Vec<Pinned>,
    /// Best first.
    pub stories: Vec<StoryHit>,
    /// A STAR outline of the best story (`stories --star`); absent otherwise, and for a
    /// question flagged `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub star: Option<Outline>,
}

/// The best story told in four parts, every sentence from its notes (the extractive STAR draft
/// of `star --no-model`, drafted from this story).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Outline {
    /// Each part's text, every sentence followed by its evidence ids (` [E1]`); empty when no
    /// sentence of the story reads as that part (`warnings` says so).
    pub situation: String,
    pub task: String,
    pub action: String,
    pub result: String,
    /// The passages the sentences cite.
    pub citations: Vec<star::Citation>,
    pub warnings: Vec<String>,
}

/// The support (`StoryHit::score`) a story needs for its question to count as answered. Chosen
/// on our own five story sets as the highest cut-off that flags at most 10% of the questions
/// that have a story (4 of 43 there; 8 of 19 questions without one flagged, against 3 of 19
/// when only an empty list counted).
pub const CONVINCING: f32 = 0.7;

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

/// A heading as links name it: `#` marks and spacing aside, lower case.
pub fn heading_key(text: &str) -> String {
    text.trim()
        .trim_start_matches('#')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether a chunk's heading path (its note's title and headings, ` > `-separated) ends in the
/// heading `wanted` (as `heading_key` spells it).
pub fn under_heading(heading_path: &str, wanted: &str) -> bool {
    heading_path
        .rsplit(" > ")
        .next()
        .is_some_and(|last| heading_key(last) == wanted)
}

impl Question {
    /// What is searched for: the question's core, and the file's own telling of its story when
    /// it links one (`[[#heading]]`), whose names and figures are the notes' own words.
    pub fn query(&self) -> String {
        let core = star::question_core(&self.question);
        if self.answer.is_empty() {
            core
        } else {
            format!("{core}\n{}", self.answer)
        }
    }
}

/// The most words of a linked answer section searched with its question: about what the
/// embedding model reads (256 word pieces); BM25 gets no more.
const ANSWER_WORDS: usize = 200;

/// Reads the questions of a Markdown file (pure).
pub fn parse_questions(text: &str) -> Vec<Question> {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    // Front matter and fenced code: never a question, a heading or the end of a section.
    let mut hidden = vec![false; lines.len()];
    let mut in_code = false;
    let mut in_front_matter = false;
    for (i, line) in lines.iter().enumerate() {
        if i == 0 && *line == "---" {
            in_front_matter = true;
        } else if in_front_matter {
            in_front_matter = *line != "---" && *line != "...";
        } else if line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~") {
            in_code = !in_code;
        } else if !in_code {
            continue;
        }
        hidden[i] = true;
    }
    let level = |i: usize| -> Option<usize> {
        (!hidden[i] && HEADING.is_match(lines[i]))
            .then(|| lines[i].chars().take_while(|&c| c == '#').count())
    };
    // Each heading's key (the first of a name wins, as Obsidian resolves it) and where its
    // section ends (0-based, exclusive): at the next heading of its level or higher. One pass,
    // so a long file with many headings and links stays linear.
    let mut headings: HashMap<String, usize> = HashMap::new();
    let mut ends: HashMap<usize, usize> = HashMap::new();
    let mut open: Vec<(usize, usize)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(own) = level(i) else { continue };
        while open.last().is_some_and(|&(_, l)| l >= own) {
            let (line, _) = open.pop().unwrap_or_default();
            ends.insert(line, i);
        }
        open.push((i + 1, own));
        if let Some(c) = HEADING.captures(line) {
            headings.entry(heading_key(&c[1])).or_insert(i + 1);
        }
    }
    for (line, _) in open {
        ends.insert(line, lines.len());
    }
    // The lines (0-based) of the section under the heading at 1-based `line`.
    let section_lines =
        |line: usize| -> std::ops::Range<usize> { line..ends.get(&line).copied().unwrap_or(line) };
    let heading_line = |link: &str| {
        link.strip_prefix('#')
            .and_then(|h| headings.get(&heading_key(h)).copied())
    };
    let pins = |source: &str| -> Vec<Pinned> {
        WIKILINK
            .captures_iter(source)
            .map(|c| {
                let link = c[1].trim().to_string();
                let line = heading_line(&link);
                Pinned { link, line }
            })
            .filter(|p| !p.link.is_empty())
            .collect()
    };
    let mut candidates: Vec<(usize, String, Vec<Pinned>)> = Vec::new();
    for (i, &line) in lines.iter().enumerate() {
        if hidden[i] {
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
                candidates.push((i, question, pinned));
            }
        }
    }
    // The sections questions link to as their answers: their list items and rows tell a
    // story, they ask nothing (a question inside the section it links to stays).
    let mut in_answer = vec![false; lines.len()];
    let mut marked: HashSet<usize> = HashSet::new();
    for (i, _, pinned) in &candidates {
        for line in pinned.iter().filter_map(|pin| pin.line) {
            let range = section_lines(line);
            if !range.contains(i) && marked.insert(line) {
                in_answer[range].fill(true);
            }
        }
    }
    let mut texts: HashMap<usize, String> = HashMap::new();
    let mut answer_text = |line: usize| -> String {
        if let Some(text) = texts.get(&line) {
            return text.clone();
        }
        let mut words = 0;
        let mut out: Vec<&str> = Vec::new();
        for i in section_lines(line).filter(|&i| !hidden[i]) {
            let text = lines[i].trim();
            if words >= ANSWER_WORDS {
                break;
            }
            if text.is_empty() {
                continue;
            }
            let take = text.split_whitespace().count().min(ANSWER_WORDS - words);
            words += take;
            out.push(match text.split_whitespace().nth(take) {
                // Cut at the word boundary the budget falls on.
                Some(next) => text[..next.as_ptr() as usize - text.as_ptr() as usize].trim_end(),
                None => text,
            });
        }
        let text = out.join("\n");
        texts.insert(line, text.clone());
        text
    };
    candidates
        .into_iter()
        .filter(|(i, _, _)| !in_answer[*i])
        .map(|(i, question, pinned)| {
            let mut lines: Vec<usize> = pinned.iter().filter_map(|pin| pin.line).collect();
            lines.sort_unstable();
            lines.dedup();
            let answer = lines
                .into_iter()
                .map(&mut answer_text)
                .filter(|text| !text.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            Question {
                question,
                line: i + 1,
                pinned,
                answer,
            }
        })
        .collect()
}

/// The indexed note a wikilink names, as Obsidian and Dendron resolve it: the link's note part
/// (before `#` or `|`, `.md` optional) is a path from the note root, or the end of one after a
/// `/`, or a file's name; letter case is ignored. Several files of that name: the shortest path
/// (the one nearest the root), then the first in order. `notes` are paths as chunks name them.
pub fn resolve_link<'a>(link: &str, notes: &'a [String]) -> Option<&'a String> {
    let name = link.split(['#', '|']).next().unwrap_or_default().trim();
    let name = name.strip_suffix(".md").unwrap_or(name).trim_matches('/');
    if name.is_empty() {
        return None;
    }
    let name = name.to_lowercase();
    let suffix = format!("/{name}");
    notes
        .iter()
        .filter_map(|path| {
            let stem = path.strip_suffix(".md").unwrap_or(path).to_lowercase();
            (stem == name || stem.ends_with(&suffix)).then_some((stem.len(), path))
        })
        .min()
        .map(|(_, path)| path)
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

/// Reciprocal-rank constant of the fused ranking (the usual 60; 10 and 30 give the same order on
/// our sets: only the first few places of either list matter).
const FUSION_K: f32 = 60.0;

/// A question's stories, best first, `k` at most. When the notes hold a story at all (one the
/// judge rates likely, see `star::build_stories`), the stories and the other relevant notes are
/// ranked by reciprocal-rank fusion of two orders: the stories' support, and where plain search
/// of the question puts each story's anchor. The judge was fitted on ladder items, and an
/// interview question is often closer to how the notes put it than a ladder item is, so plain
/// search is the second opinion; it also fills the list when few stories clear the judge's bar,
/// with every other candidate about work, whatever its similarity.
/// A question with no such story gets its closest notes (`closest`), and is flagged. Also
/// whether any story is convincing (support at least `CONVINCING`), whatever `k`.
fn rank(notes: &[evidence::NoteCandidate], bar: f32, k: usize) -> (Vec<star::Story>, bool) {
    let built = star::build_stories(notes, bar);
    if built.is_empty() {
        return (closest(notes, k), false);
    }
    let convincing = built.iter().any(|story| story.support >= CONVINCING);
    let search_rank = |path: &str| {
        notes
            .iter()
            .find(|n| n.path == path)
            .and_then(|n| n.search_rank)
    };
    let mut scored: Vec<(f32, star::Story)> = Vec::new();
    for (i, story) in built.iter().enumerate() {
        let search = search_rank(&story.notes[0]).map_or(0.0, fused);
        scored.push((fused(i) + search, story.clone()));
    }
    // The other candidates about work fill the list: where plain search put them, or where the
    // judge did when search missed them (`notes` comes in the judge's order). No similarity
    // floor (it was `star::RELEVANCE`): a right note MiniLM scores low (0.21-0.23 against the
    // question) was left out while weaker notes filled the list; without it hit@3 rose on our
    // backend-ic and data-lead sets (0.93 -> 1.00, 0.64 -> 0.71), no set fell there.
    for (place, note) in notes.iter().enumerate() {
        if note.off_work() || built.iter().any(|s| s.notes.contains(&note.path)) {
            continue;
        }
        let score = fused(note.search_rank.unwrap_or(place));
        scored.push((score, star::Story::of_note(note)));
    }
    // Stable: equal scores keep the stories first, then the search order.
    (best_of(scored, k), convincing)
}

/// A place's share in the reciprocal-rank fusion (0: first).
fn fused(place: usize) -> f32 {
    1.0 / (FUSION_K + place as f32)
}

/// The `k` highest-scored stories, best first; equal scores keep their order.
fn best_of(mut scored: Vec<(f32, star::Story)>, k: usize) -> Vec<star::Story> {
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(k).map(|(_, s)| s).collect()
}

/// The notes closest to a question none of whose candidates makes a story (none the judge rates
/// likely evidence): the question is flagged `none`, and these are listed under the flag for the
/// user to judge, as the rubric map names an item's closest note. Notes about work only, ranked
/// as `rank` ranks stories: reciprocal-rank fusion of the judge's order (`notes` comes in it)
/// and plain search's. A story the judge underrates is then one glance away instead of missing:
/// on our five sets and three held-out sets hit@3 rose on four (ml-engineer 0.53 -> 0.67,
/// mobile-lead 0.87 -> 0.93, platform-em 0.67 -> 0.87, sre-lead 0.93 -> 1.00), no set fell,
/// and no question lost its flag. Search's order alone, and only notes above
/// `star::RELEVANCE`, gained less.
fn closest(notes: &[evidence::NoteCandidate], k: usize) -> Vec<star::Story> {
    let scored: Vec<(f32, star::Story)> = notes
        .iter()
        .enumerate()
        .filter(|(_, note)| !note.off_work())
        .map(|(i, note)| {
            let search = note.search_rank.map_or(0.0, fused);
            (fused(i) + search, star::Story::of_note(note))
        })
        .collect();
    // Equal scores keep the judge's order.
    best_of(scored, k)
}

/// The heading a note link names (`[[note#Heading|label]]` → `heading`, as `heading_key`
/// spells it), if any.
fn link_heading(link: &str) -> Option<String> {
    let heading = link.split('|').next()?.split_once('#')?.1;
    // Obsidian's nested form `#Parent#Child` names the last heading.
    let key = heading_key(heading.rsplit('#').next().unwrap_or(heading));
    (!key.is_empty()).then_some(key)
}

/// A note a questions file links to, and the heading the link names.
struct Link<'a> {
    path: &'a String,
    heading: Option<String>,
}

/// The story a questions file links to: the linked note's passage under the heading the link
/// names, else its passage closest to the question. `None` when the filter leaves none of the
/// note (`--path`, `--since`, `--until`).
fn linked_story(
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    question: &str,
    filter: &SearchFilter,
    link: &Link,
) -> Result<Option<StoryHit>> {
    let path = link.path.as_str();
    let text = star::question_core(question);
    let vector = embedder.embed(&[glossary::expand(&text)])?.remove(0);
    let passages = star::note_passages(store, &text, &vector, filter, path)?;
    let chosen = passages
        .iter()
        .find(|hit| {
            link.heading
                .as_deref()
                .is_some_and(|wanted| under_heading(&hit.chunk.heading, wanted))
        })
        .or(passages.first())
        .cloned();
    Ok(chosen.map(|hit| StoryHit {
        path: path.to_string(),
        line_start: hit.chunk.line_start,
        line_end: hit.chunk.line_end,
        summary: summary(&hit.chunk.text, question),
        score: 1.0,
        notes: vec![path.to_string()],
        best_for: 0,
        pinned: true,
    }))
}

/// The STAR outline of `story` for `question`: the story's passages, drafted without a model.
fn outline(
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    question: &Question,
    filter: &SearchFilter,
    notes: &[evidence::NoteCandidate],
    story: &star::Story,
    section: Option<&str>,
) -> Result<Option<Outline>> {
    let request = star::StarRequest {
        competency: question.question.clone(),
        filter: filter.clone(),
        k: STAR_PASSAGES,
        ..Default::default()
    };
    let query = question.query();
    let mut evidence = Vec::new();
    star::story_evidence(
        embedder,
        store,
        &star::StoryQuery {
            text: &query,
            filter,
            notes,
            k: STAR_PASSAGES,
            section,
        },
        story,
        &mut evidence,
    )?;
    for (index, item) in evidence.iter_mut().enumerate() {
        item.id = format!("E{}", index + 1);
    }
    let gathered = star::Gathered {
        evidence,
        closest: Vec::new(),
        warnings: Vec::new(),
        stories: vec![story.clone()],
        chosen: 0,
    };
    Ok(
        match star::draft_from(embedder, gathered, None, &request)? {
            star::Outcome::Draft(draft) => {
                let report = draft.report();
                Some(Outline {
                    situation: report.situation,
                    task: report.task,
                    action: report.action,
                    result: report.result,
                    citations: report.citations,
                    warnings: report.warnings,
                })
            }
            _ => None,
        },
    )
}

/// What an outline says for a part no sentence of the story reads as.
const NO_PART: &str = "no sentence of the story reads as this part";

/// Passages an outline reads, as `star`'s default `-k`.
const STAR_PASSAGES: usize = 6;

/// What `find` is asked for besides the questions.
#[derive(Debug, Clone, Default)]
pub struct Settings<'a> {
    /// Stories at most per question.
    pub k: usize,
    pub filter: SearchFilter,
    /// Also tell each question's best story in STAR form.
    pub outline: bool,
    /// The indexed notes' paths as chunks name them, for `[[note]]` links.
    pub indexed: &'a [String],
    /// The questions file's absolute path when it is a file: when the notes hold it, it is no
    /// story of its own questions (its sections answer them only where a question links one).
    pub questions_file: Option<&'a str>,
}

/// Ranks the notes' stories for every question; `settings.k` stories at most per question;
/// with `settings.outline`, the best story of each is also told in STAR form.
pub fn find(
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    questions: &[Question],
    settings: &Settings,
) -> Result<Vec<Answer>> {
    let Settings {
        k,
        filter,
        outline: with_outline,
        indexed,
        questions_file,
    } = settings;
    let (k, with_outline) = (*k, *with_outline);
    // The questions file is no story of its own questions, nor evidence for them.
    let filter = &SearchFilter {
        not_source: questions_file.map(String::from),
        ..filter.clone()
    };
    let bar = evidence::judge().floor;
    let mut answers = Vec::with_capacity(questions.len());
    for question in questions {
        // Each linked note once, with the heading its first link names (`[[note#heading]]`).
        let mut linked: Vec<Link> = Vec::new();
        for pin in &question.pinned {
            if let Some(path) = resolve_link(&pin.link, indexed) {
                if !linked.iter().any(|l| l.path == path) {
                    linked.push(Link {
                        path,
                        heading: link_heading(&pin.link),
                    });
                }
            }
        }
        let query = question.query();
        let (notes, _) = evidence::candidates_and_quarantined(
            embedder,
            store,
            &evidence::Query {
                text: query.clone(),
                section: None,
                filter: filter.clone(),
                pool: 30,
                centroid: None,
                contrast: Vec::new(),
            },
        )?;
        let (mut ranked, convincing) = rank(&notes, bar, k.max(1) + linked.len());
        ranked.retain(|story| !linked.iter().any(|l| *l.path == story.notes[0]));
        ranked.truncate(k.max(1).saturating_sub(linked.len()));
        let mut stories = Vec::new();
        // The section the best linked note's link names, for its outline.
        let mut best_section: Option<String> = None;
        for link in &linked {
            if let Some(hit) = linked_story(embedder, store, &question.question, filter, link)? {
                if stories.is_empty() {
                    best_section = link.heading.clone();
                }
                stories.push(hit);
            }
        }
        let best = match stories.first() {
            Some(hit) => Some(star::Story {
                notes: vec![hit.path.clone()],
                score: 1.0,
                support: 1.0,
                ties: Vec::new(),
            }),
            None => ranked.first().cloned(),
        };
        let none = !convincing && linked.is_empty() && question.pinned.is_empty();
        // No outline of a story that does not answer the question.
        let star = match &best {
            Some(best) if with_outline && !none => outline(
                embedder,
                store,
                question,
                filter,
                &notes,
                best,
                best_section.as_deref(),
            )?,
            _ => None,
        };
        stories.extend(ranked.into_iter().filter_map(|story| {
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
                pinned: false,
            })
        }));
        answers.push(Answer {
            question: question.question.clone(),
            line: question.line,
            none,
            pinned: question.pinned.clone(),
            stories,
            star,
        });
    }
    // How many questions each story answers best (a flagged question's closest note answers
    // none).
    let mut best: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for answer in answers.iter().filter(|a| !a.none) {
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
            out.push_str(if answer.stories.is_empty() {
                "- **no story in the notes**\n"
            } else {
                "- **no convincing story in the notes**; the closest:\n"
            });
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
        if let Some(outline) = &answer.star {
            out.push('\n');
            for (title, text) in outline.parts() {
                out.push_str(&format!(
                    "**{title}.** {}\n\n",
                    if text.is_empty() {
                        format!("_{NO_PART}_")
                    } else {
                        text.to_string()
                    }
                ));
            }
            for c in &outline.citations {
                out.push_str(&format!(
                    "[{}]: {}:{}-{}\n",
                    c.id, c.path, c.line_start, c.line_end
                ));
            }
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

impl Outline {
    /// The four parts with their titles, in order.
    pub fn parts(&self) -> [(&'static str, &str); 4] {
        [
            ("Situation", self.situation.as_str()),
            ("Task", self.task.as_str()),
            ("Action", self.action.as_str()),
            ("Result", self.result.as_str()),
        ]
    }
}

/// The answers as one self-contained HTML page (no script, no outside resource, as the rubric
/// map's): a summary table of the questions, then each question with its stories, its outline
/// and the flags.
pub fn to_html(file: &str, answers: &[Answer]) -> String {
    use crate::tasks::map::escape;
    let mut html = String::from("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    html.push_str(&format!(
        "<title>Interview stories: {}</title>\n",
        escape(file)
    ));
    html.push_str("<style>body{font:15px/1.45 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}.none{background:#ffebee}.leaned{color:#b71c1c}.q{margin:.6rem 0;padding:.3rem .6rem;border-left:.4rem solid #2e7d32;background:#f1f8e9}.q.none{border-color:#c62828}code{font-size:90%}dt{font-weight:600}dd{margin:0 0 .4rem 1rem}</style>\n</head><body>\n");
    html.push_str(&format!(
        "<h1>Interview stories: {}</h1>\n<table id=\"summary\"><tr><th>Line</th><th>Question</th><th>Best story</th></tr>\n",
        escape(file)
    ));
    for answer in answers {
        let best = match (answer.stories.first(), answer.pinned.first()) {
            (Some(story), _) => format!(
                "<code>{}:{}-{}</code>",
                escape(&story.path),
                story.line_start,
                story.line_end
            ),
            (None, Some(pin)) => format!("linked: [[{}]]", escape(&pin.link)),
            (None, None) => "<strong>no story in the notes</strong>".to_string(),
        };
        let best = if answer.none && !answer.stories.is_empty() {
            format!("<strong>no convincing story</strong>; closest {best}")
        } else {
            best
        };
        html.push_str(&format!(
            "<tr{}><td>{}</td><td>{}</td><td>{best}</td></tr>\n",
            if answer.none { " class=\"none\"" } else { "" },
            answer.line,
            escape(&answer.question)
        ));
    }
    html.push_str("</table>\n");
    for answer in answers {
        html.push_str(&format!(
            "<div class=\"q{}\"><h2>{} <small>(line {})</small></h2>\n",
            if answer.none { " none" } else { "" },
            escape(&answer.question),
            answer.line
        ));
        for pin in &answer.pinned {
            html.push_str(&format!(
                "<p>Linked: [[{}]]{}</p>\n",
                escape(&pin.link),
                pin.line.map_or(String::new(), |l| format!(" (line {l})"))
            ));
        }
        if answer.none {
            html.push_str(if answer.stories.is_empty() {
                "<p><strong>No story in the notes.</strong></p>\n"
            } else {
                "<p><strong>No convincing story in the notes</strong>; the closest:</p>\n"
            });
        }
        if !answer.stories.is_empty() {
            html.push_str("<ol>\n");
            for story in &answer.stories {
                let leaned = if story.best_for >= LEANED_ON {
                    format!(" <span class=\"leaned\">(best answer to {} questions: find another)</span>", story.best_for)
                } else {
                    String::new()
                };
                html.push_str(&format!(
                    "<li><code>{}:{}-{}</code> ({:.2}){leaned}: {}</li>\n",
                    escape(&story.path),
                    story.line_start,
                    story.line_end,
                    story.score,
                    escape(&story.summary)
                ));
            }
            html.push_str("</ol>\n");
        }
        if let Some(outline) = &answer.star {
            html.push_str("<dl class=\"star\">\n");
            for (title, text) in outline.parts() {
                html.push_str(&format!(
                    "<dt>{title}</dt><dd>{}</dd>\n",
                    if text.is_empty() {
                        format!("<em>{NO_PART}</em>")
                    } else {
                        escape(text)
                    }
                ));
            }
            html.push_str("</dl>\n<p>");
            let cites: Vec<String> = outline
                .citations
                .iter()
                .map(|c| {
                    format!(
                        "[{}] <code>{}:{}-{}</code>",
                        escape(&c.id),
                        escape(&c.path),
                        c.line_start,
                        c.line_end
                    )
                })
                .collect();
            html.push_str(&cites.join("; "));
            html.push_str("</p>\n");
        }
        html.push_str("</div>\n");
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_fill_the_list_after_the_stories_whatever_their_similarity() {
        let mut story = evidence::candidate(
            "projects/ramp-plan.md",
            "we planned the first weeks of the new hire",
            0.9,
        );
        story.search_rank = Some(0);
        // The judge's second note, which plain search missed and MiniLM scores low.
        let mut low = evidence::candidate(
            "hiring/first-90-days.md",
            "laptop access requested, starter task picked",
            0.3,
        );
        low.passages[0].similarity = star::RELEVANCE - 0.05;
        // A reading note is never a story of work done, wherever search puts it.
        let mut reading =
            evidence::candidate("reading/book.md", "notes on a book about onboarding", 0.2);
        reading.search_rank = Some(1);
        reading.features = evidence::FEATURES
            .iter()
            .map(|f| if *f == "reading" { 1.0 } else { 0.0 })
            .collect();
        let (ranked, convincing) = rank(&[story, low, reading], 0.5, 3);
        let anchors: Vec<&str> = ranked.iter().map(|s| s.notes[0].as_str()).collect();
        assert_eq!(
            anchors,
            ["projects/ramp-plan.md", "hiring/first-90-days.md"]
        );
        assert!(convincing);
    }

    #[test]
    fn questions_come_from_tables_lists_and_tasks_with_their_links() {
        let text = "---\ntitle: prep\n---\n# Prep\n\nSome prose that is not a question.\n\n\
| Question | Story |\n|---|---|\n| Tell me about a conflict | [[#Vendor dispute]] |\n\
| A time you failed | |\n\n- Someone you helped grow\n  - nested note, not a question\n\
1. How do you handle on-call load?\n- [ ] A hard trade-off [[2024-03-ledger]]\n\n\
```\n- not a question in code\n```\n\n### Vendor dispute\n\nWe argued about the SLA.\n\
- I asked for the logs\n\n### Open\n- What was your biggest mistake?\n";
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
                "What was your biggest mistake?",
            ]
        );
        assert_eq!(questions[0].line, 10);
        // The linked section is the question's own answer, searched with it; its list item
        // asks nothing. The next section is not part of it.
        assert_eq!(
            questions[0].answer,
            "We argued about the SLA.\n- I asked for the logs"
        );
        assert!(questions[0]
            .query()
            .ends_with("\nWe argued about the SLA.\n- I asked for the logs"));
        assert_eq!(questions[1].answer, "");
        assert_eq!(questions[1].query(), "A time you failed");
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

    #[test]
    fn linked_answer_sections_are_read_as_answers_not_questions() {
        let texts = |questions: &[Question]| -> Vec<String> {
            questions.iter().map(|q| q.question.clone()).collect()
        };
        // A link back from the answer asks nothing and hides nothing.
        let questions = parse_questions(
            "## Questions\n- Tell me about a conflict [[#Vendor dispute]]\n\
## Vendor dispute\nWe argued (back to [[#Questions]])\n",
        );
        assert_eq!(texts(&questions), ["Tell me about a conflict"]);
        assert_eq!(questions[0].answer, "We argued (back to [[#Questions]])");
        // A question inside the section it links to stays a question.
        let questions = parse_questions("## Conflict\n- Tell me about a conflict [[#Conflict]]\n");
        assert_eq!(texts(&questions), ["Tell me about a conflict"]);
        // A nested heading belongs to the section, the next one of its level ends it, a `#`
        // line in fenced code is no heading, and a missing heading links nothing.
        let questions = parse_questions(
            "- Tell me about an outage [[#Outage]] [[#Nowhere]]\n## Outage\n- restarted it\n\
```\n# scale up\n```\n### After\n- billing ran on time\n## Next\n- Another question here\n",
        );
        assert_eq!(
            texts(&questions),
            ["Tell me about an outage", "Another question here"]
        );
        assert_eq!(
            questions[0].answer,
            "- restarted it\n### After\n- billing ran on time"
        );
        assert_eq!(questions[0].pinned[1].line, None);
        // A long answer is cut at ANSWER_WORDS words.
        let long = "word ".repeat(ANSWER_WORDS + 50);
        let questions = parse_questions(&format!(
            "- A long story here [[#Long]]\n## Long\n{long}\n{long}\n"
        ));
        assert_eq!(questions[0].answer.split_whitespace().count(), ANSWER_WORDS);
    }

    #[test]
    fn links_resolve_to_notes_as_obsidian_and_dendron_do() {
        let notes: Vec<String> = [
            "1on1/marek-2025-01-21.md",
            "archive/1on1/marek-2025-01-21.md",
            "projects/Ingress Migration.md",
            "work.incidents.2025-03-outage.md",
            "marek.md",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let resolve = |link: &str| resolve_link(link, &notes).map(String::as_str);
        // By name: the copy nearest the root.
        assert_eq!(
            resolve("marek-2025-01-21"),
            Some("1on1/marek-2025-01-21.md")
        );
        // By path, with `.md`, a heading or an alias, and any letter case.
        assert_eq!(
            resolve("archive/1on1/marek-2025-01-21.md"),
            Some("archive/1on1/marek-2025-01-21.md")
        );
        assert_eq!(
            resolve("ingress migration#Rollout|the migration"),
            Some("projects/Ingress Migration.md")
        );
        // Dendron's dotted names are file names.
        assert_eq!(
            resolve("work.incidents.2025-03-outage"),
            Some("work.incidents.2025-03-outage.md")
        );
        // A name is whole: `marek` is not `marek-2025-01-21`; a heading link names no note.
        assert_eq!(resolve("marek"), Some("marek.md"));
        assert_eq!(resolve("#Vendor dispute"), None);
        assert_eq!(resolve("no-such-note"), None);
    }
}
