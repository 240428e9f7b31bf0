//! Finding the notes that show a person doing what a ladder item (or a STAR competency) asks
//! for, and judging how well each one does, without a model. Ladders speak ladder language and
//! notes tell stories in their own words, so one item is searched as several queries: the item,
//! the item with its section, and what evidence of it looks like in notes (the competency
//! lexicon, `rules/competency.toml`). Candidate passages are grouped by note; each note gets
//! features (best and second-best similarity, its standing among the other candidates, shared
//! words, lexicon phrases, first-person action, figures, trap signals such as a reading or
//! personal folder, someone else's achievement) and a score from a small logistic model fitted on
//! the project's own labelled sets (`scripts/train-evidence-judge.py`, weights in
//! `rules/evidence-judge.toml`). Near-duplicate notes fold into one. No I/O besides the backends.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;
use serde::Deserialize;

use crate::backends::{Embedder, SearchFilter, SearchMode, StoredChunk, VectorStore};
use crate::error::Result;
use crate::notes::chunk::without_instructions;
use crate::notes::{glossary, retrieve};

/// One concept of the competency lexicon: how ladders name it, how notes record it.
#[derive(Debug, Clone, Deserialize)]
pub struct Concept {
    pub id: String,
    pub triggers: Vec<String>,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Lexicon {
    #[serde(rename = "concept")]
    pub concepts: Vec<Concept>,
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    toml::from_str(include_str!("../../rules/competency.toml")).expect("rules/competency.toml")
});

/// The built-in competency lexicon.
pub fn lexicon() -> &'static Lexicon {
    &LEXICON
}

/// Lowercase words of `text` (letters and digits).
fn word_list(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// True when `phrase` occurs in `words` as whole words, its last word also as a prefix
/// ("mentor" matches "mentoring", "interview loop" matches "interview loops").
fn has_phrase(words: &[String], phrase: &str) -> bool {
    let wanted = word_list(phrase);
    if wanted.is_empty() || wanted.len() > words.len() {
        return false;
    }
    let last = wanted.len() - 1;
    words.windows(wanted.len()).any(|window| {
        window
            .iter()
            .zip(&wanted)
            .enumerate()
            .all(|(i, (have, want))| {
                if i == last && want.len() >= 4 {
                    have.starts_with(want.as_str())
                } else {
                    have == want
                }
            })
    })
}

impl Lexicon {
    /// Every phrase of `concepts`: how ladders name them and how notes record them.
    pub fn phrases<'a>(concepts: &[&'a Concept]) -> Vec<&'a str> {
        let mut phrases: Vec<&str> = concepts
            .iter()
            .flat_map(|c| c.triggers.iter().chain(&c.evidence))
            .map(String::as_str)
            .collect();
        phrases.sort_unstable();
        phrases.dedup();
        phrases
    }

    /// How many of `phrases` `text` uses (as `has_phrase` matches them).
    pub fn phrases_in(phrases: &[&str], text: &str) -> usize {
        let words = word_list(text);
        phrases.iter().filter(|p| has_phrase(&words, p)).count()
    }

    /// The concepts whose triggers the text uses.
    pub fn concepts_in(&self, text: &str) -> Vec<&Concept> {
        let words = word_list(text);
        self.concepts
            .iter()
            .filter(|c| c.triggers.iter().any(|t| has_phrase(&words, t)))
            .collect()
    }
}

const STOPWORDS: &[&str] = &[
    "about", "across", "after", "also", "and", "are", "been", "being", "both", "but", "can",
    "does", "doing", "each", "even", "every", "for", "from", "have", "helps", "into", "its",
    "make", "makes", "more", "most", "other", "others", "over", "own", "same", "such", "than",
    "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "through",
    "under", "until", "upon", "using", "very", "when", "where", "which", "while", "who", "whose",
    "will", "with", "within", "without", "work", "works", "your",
];

/// Content stems of `text`: words of four letters or more, not stopwords, cut to five letters.
fn stems(text: &str) -> Vec<String> {
    let mut out: Vec<String> = word_list(text)
        .into_iter()
        .filter(|w| w.chars().count() >= 4 && !STOPWORDS.contains(&w.as_str()))
        .map(|w| w.chars().take(5).collect())
        .collect();
    out.sort();
    out.dedup();
    out
}

static FIRST_PERSON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(i|i'm|i've|i'd|i'll|me|my|we|we've|our|us)\b|(?m)^\s*(?:[-*+]|\d+[.)])\s+(?:\[.\]\s+)?[A-Za-z]+ed\b").expect("first person")
});
static FIGURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d+(?:[.,]\d+)?\s*(?:%|x\b|ms\b|s\b|k\b|h\b|hours|days|weeks|min)|\d")
        .expect("figure")
});
static OTHERS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)?(?:'s team)? (?:led|ran|launched|started|presented|organi[sz]ed|gave|spoke|shipped|built|announced|hosted|founded|published|won|received|kicked off|set up)\b|(?i)\b(congrats|congratulations|kudos|shout-?outs?|all-hands|all hands|town ?hall|announced)\b").expect("others")
});
static READING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(the author|authors?|chapter|the book|book notes?|this book|argues|recommends|according to|highlights?|takeaways?|podcast|the article)\b").expect("reading")
});
/// Folder or file names that hold reading notes or private life, not work done.
const READING_FOLDERS: &[&str] = &[
    "reading",
    "books",
    "book",
    "highlights",
    "clippings",
    "articles",
    "courses",
    "course",
    "learning",
    "library",
    "podcasts",
    "bookmarks",
    "literature",
    "lit",
];
const PERSONAL_FOLDERS: &[&str] = &[
    "personal", "private", "family", "home", "health", "fitness", "hobbies", "hobby", "travel",
    "life", "diary", "recipes", "garden", "finance", "finances",
];

fn path_has(path: &str, names: &[&str]) -> bool {
    let lower = path.to_lowercase();
    let mut parts: Vec<&str> = lower.split('/').collect();
    // The file name's own words count only for folders' names as a file ("reading-list.md").
    let file = parts.pop().unwrap_or_default();
    parts.iter().any(|p| {
        p.split(|c: char| !c.is_alphanumeric())
            .any(|w| names.contains(&w))
    }) || file
        .trim_end_matches(".md")
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .is_some_and(|w| names.contains(&w))
}

/// The names of the judge's features, in the order of `NoteCandidate::features` and of the
/// weights in `rules/evidence-judge.toml`.
pub const FEATURES: &[&str] = &[
    "bias",
    "similarity",
    "evidence_similarity",
    "second_similarity",
    "gap_to_best",
    "standing",
    "rank",
    "shared_words",
    "lexicon_phrases",
    "first_person",
    "figures",
    "reading",
    "personal",
    "others",
    "passages",
    "genericness",
    "specificity",
    "affinity",
    "affinity_rank",
];

/// The fitted judge: a logistic model over `FEATURES` and the probability cut-offs for levels.
#[derive(Debug, Clone, Deserialize)]
pub struct Judge {
    pub features: Vec<String>,
    pub weights: Vec<f32>,
    /// Probability at or above which a note is strong evidence.
    pub strong: f32,
    /// ... and partial evidence, for every note after an item's best one.
    pub partial: f32,
    /// An item has evidence at all when its best note reaches this (it is then at least partial).
    pub floor: f32,
}

impl Judge {
    /// The level of the `rank`-th candidate (0: the best) with this probability, given the best
    /// candidate's probability.
    pub fn level_of(&self, rank: usize, probability: f32, best: f32) -> u8 {
        if best < self.floor {
            0
        } else if probability >= self.strong {
            2
        } else if probability >= self.partial || (rank == 0 && probability >= self.floor) {
            1
        } else {
            0
        }
    }
}

static JUDGE: LazyLock<Judge> = LazyLock::new(|| {
    toml::from_str(include_str!("../../rules/evidence-judge.toml"))
        .expect("rules/evidence-judge.toml")
});

/// The built-in fitted judge.
pub fn judge() -> &'static Judge {
    &JUDGE
}

impl Judge {
    pub fn probability(&self, features: &[f32]) -> f32 {
        let z: f32 = self.weights.iter().zip(features).map(|(w, x)| w * x).sum();
        1.0 / (1.0 + (-z).exp())
    }
}

/// What to look for: the item (or competency) and, for a ladder item, its section.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub text: String,
    pub section: Option<String>,
    pub filter: SearchFilter,
    /// Passages per search; the candidate pool is the union of a few searches.
    pub pool: usize,
    /// What ladder language in general looks like (the mean of a rubric's item vectors): a note
    /// close to every item alike (a review template, notes on a management book) is about the
    /// ladder, not evidence of one item. `None`: a generic career-ladder text stands in.
    pub centroid: Option<Vec<f32>>,
    /// The other things the same notes could be evidence of (every item of the rubric, this one
    /// included), to tell a note about this item from one about ladder work in general: a note is
    /// evidence of the item it is closer to than to the others. Empty: the lexicon's concepts
    /// stand in (`contrast_texts`).
    pub contrast: Vec<Vec<f32>>,
}

/// Stand-ins for a rubric's items when there is none (STAR on one competency): one line per
/// concept of the lexicon, in ladder words.
pub fn contrast_texts() -> Vec<String> {
    lexicon()
        .concepts
        .iter()
        .map(|c| {
            c.triggers
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect()
}

/// The vectors of `GENERIC_LADDER` and of `contrast_texts()`, which stand in when a query has no
/// rubric.
struct Standing {
    centroid: Vec<f32>,
    contrast: Vec<Vec<f32>>,
}

/// `Standing` for `embedder`: fixed texts, so embedded once per process (and embedder), not on
/// every STAR draft.
fn standing_vectors(embedder: &dyn Embedder) -> Result<Arc<Standing>> {
    static CACHE: Mutex<Option<(String, Arc<Standing>)>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((name, standing)) = cache.as_ref() {
        if name == embedder.model_name() {
            return Ok(standing.clone());
        }
    }
    let mut texts = vec![GENERIC_LADDER.to_string()];
    texts.extend(contrast_texts());
    let mut vectors = embedder.embed(&texts)?;
    let centroid = vectors.remove(0);
    let standing = Arc::new(Standing {
        centroid,
        contrast: vectors,
    });
    *cache = Some((embedder.model_name().to_string(), standing.clone()));
    Ok(standing)
}

/// How much closer `dense` is to `item` than to the contrast set: (z-score, 1/(1 + number of
/// contrast vectors closer than the item)).
fn affinity(dense: &[f32], item: &[f32], contrast: &[Vec<f32>]) -> (f32, f32) {
    let own = retrieve::cosine(item, dense);
    let sims: Vec<f32> = contrast
        .iter()
        .map(|c| retrieve::cosine(c, dense))
        .collect();
    if sims.len() < 2 {
        return (0.0, 1.0);
    }
    let average = mean(&sims);
    let spread = (sims.iter().map(|s| (s - average).powi(2)).sum::<f32>() / sims.len() as f32)
        .sqrt()
        .max(0.01);
    let closer = sims.iter().filter(|s| **s > own + 1e-4).count();
    ((own - average) / spread, 1.0 / (1.0 + closer as f32))
}

/// Stands in for a rubric's centroid when there is no rubric (STAR on one competency).
pub const GENERIC_LADDER: &str = "Career ladder expectations: skills and competencies, leadership, impact, ownership, collaboration, growth and performance review self-assessment.";

/// One passage of a candidate note.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    pub chunk: crate::notes::chunk::Chunk,
    /// The chunk text without lines that read as instructions to a model.
    pub text: String,
    pub similarity: f32,
    pub evidence_similarity: f32,
    /// Similarity to ladder language in general (`Query::centroid`).
    pub genericness: f32,
    /// `affinity()` of the passage to the item against `Query::contrast`.
    pub affinity: (f32, f32),
}

/// One note with its passages in the pool, its features and the judge's probability.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteCandidate {
    pub path: String,
    /// Best first.
    pub passages: Vec<Passage>,
    pub features: Vec<f32>,
    pub probability: f32,
    /// Other notes folded into this one as near-duplicates.
    pub duplicates: Vec<String>,
    /// Where plain hybrid search of the query as written ranks the note among the notes it
    /// returns (0 = first); `None` when that search did not return it.
    pub search_rank: Option<usize>,
}

impl NoteCandidate {
    pub fn best(&self) -> &Passage {
        &self.passages[0]
    }

    /// A reading note or a note in a personal folder: never a story of work done, whatever the
    /// judge's probability (it weighs these signals against the others).
    pub fn off_work(&self) -> bool {
        self.feature("reading") > 0.0 || self.feature("personal") > 0.0
    }

    /// The value of the judge's feature `name` (0 before the features are computed).
    fn feature(&self, name: &str) -> f32 {
        FEATURES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| self.features.get(i).copied())
            .unwrap_or(0.0)
    }

    /// Why the judge rated it as it did, in words a user can check.
    pub fn reasons(&self) -> Vec<String> {
        let f = |name: &str| self.feature(name);
        let mut out = vec![format!(
            "closest passage {:.2} similar to the item{}",
            f("similarity"),
            if f("rank") >= 1.0 {
                ", the closest of all notes"
            } else {
                ""
            }
        )];
        if f("passages") > 0.5 {
            out.push("several passages of the note support it".into());
        }
        if f("lexicon_phrases") > 0.0 {
            out.push("describes the kind of work the item asks for".into());
        }
        if f("shared_words") >= 0.3 {
            out.push("shares the item's key words".into());
        }
        if f("first_person") >= 0.3 {
            out.push("written as your own action".into());
        }
        if f("figures") > 0.0 {
            out.push("names a figure or outcome".into());
        }
        if f("reading") > 0.0 {
            out.push("reads as notes on something you read, not work you did".into());
        }
        if f("personal") > 0.0 {
            out.push("in a personal folder".into());
        }
        if f("others") > 0.0 {
            out.push("describes someone else's achievement".into());
        }
        out
    }
}

fn mean(values: &[f32]) -> f32 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f32>() / values.len() as f32
    }
}

/// The queries one item is searched with: (text, counts for `similarity`).
pub fn queries(query: &Query) -> (Vec<String>, Option<String>) {
    let mut texts = vec![query.text.trim().to_string()];
    if let Some(section) = query.section.as_deref().filter(|s| !s.trim().is_empty()) {
        texts.push(format!("{}: {}", section.trim(), query.text.trim()));
    }
    let concepts = lexicon().concepts_in(&format!(
        "{} {}",
        query.section.as_deref().unwrap_or_default(),
        query.text
    ));
    let evidence = (!concepts.is_empty()).then(|| {
        // What evidence of the item reads like: the item's own words, then the phrases notes use.
        let mut phrases: Vec<&str> = Vec::new();
        let per = (24 / concepts.len()).clamp(4, 12);
        for concept in &concepts {
            phrases.extend(concept.evidence.iter().take(per).map(String::as_str));
        }
        format!("I {}: {}", query.text.trim(), phrases.join(", "))
    });
    (texts, evidence)
}

/// Whether `passage` can be compared with `query` by the embedder at all: the default embedder
/// (all-MiniLM-L6-v2) learned English, so its similarity between a Latin-script item and a
/// passage in another script (Arabic, Hebrew, Greek, Cyrillic, CJK...) measures nothing and such
/// a passage is never evidence for it (a multilingual vault's formula notes scored above the
/// relevance bar for a salary question). Letters inside inline code do not count: a formula
/// reads as Latin whatever the note's language. A query in another script is not filtered.
pub fn comparable_script(query: &str, passage: &str) -> bool {
    latin_share(query) < 0.5 || latin_share(passage) >= 0.5
}

/// The share of `text`'s letters (outside inline code) that are Latin script; 1 with no letters.
fn latin_share(text: &str) -> f32 {
    let (mut latin, mut letters) = (0usize, 0usize);
    for piece in text.split('`').step_by(2) {
        for c in piece.chars().filter(|c| c.is_alphabetic()) {
            letters += 1;
            if matches!(c as u32, 0x41..=0x5A | 0x61..=0x7A | 0xC0..=0x24F | 0x1E00..=0x1EFF) {
                latin += 1;
            }
        }
    }
    if letters == 0 {
        1.0
    } else {
        latin as f32 / letters as f32
    }
}

/// Candidate notes for `query`, best first, each with its probability of being evidence.
pub fn candidates(
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    query: &Query,
) -> Result<Vec<NoteCandidate>> {
    Ok(candidates_and_quarantined(embedder, store, query)?.0)
}

/// `candidates`, and the notes the search found that hold text written to steer an AI model
/// (`Chunk::steers_model`): such a note is never evidence, whatever else it says, and is named
/// so a user can see why it was left out.
pub fn candidates_and_quarantined(
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    query: &Query,
) -> Result<(Vec<NoteCandidate>, Vec<String>)> {
    let (texts, evidence_text) = queries(query);
    let mut all = texts.clone();
    all.extend(evidence_text.iter().cloned());
    let vectors = embedder.embed(&all.iter().map(|t| glossary::expand(t)).collect::<Vec<_>>())?;
    let pool = query.pool.max(8);
    let mut ids: Vec<u64> = Vec::new();
    // The notes in the order plain search of the query as written (the first search) gives.
    let mut search_order: Vec<String> = Vec::new();
    // Each query hybrid, and the item alone dense: one embedding per query text.
    let searches = (0..all.len())
        .map(|i| (i, SearchMode::Hybrid))
        .chain(std::iter::once((0, SearchMode::Dense)));
    for (n, (i, mode)) in searches.enumerate() {
        for hit in retrieve::search_embedded(
            store,
            &retrieve::Request {
                text: all[i].clone(),
                k: pool,
                filter: query.filter.clone(),
                mode,
            },
            vectors[i].clone(),
        )? {
            if n == 0 && !search_order.contains(&hit.chunk.path) {
                search_order.push(hit.chunk.path.clone());
            }
            if !ids.contains(&hit.id) {
                ids.push(hit.id);
            }
        }
    }
    let mut quarantined: Vec<String> = Vec::new();
    let stored: Vec<StoredChunk> = store
        .get(&ids)?
        .into_iter()
        .filter(|s| {
            if s.chunk.steers_model && !quarantined.contains(&s.chunk.path) {
                quarantined.push(s.chunk.path.clone());
            }
            !s.chunk.steers_model
        })
        .collect();
    quarantined.sort();
    let standing = if query.centroid.is_none() || query.contrast.is_empty() {
        Some(standing_vectors(embedder)?)
    } else {
        None
    };
    let centroid: &[f32] = query
        .centroid
        .as_deref()
        .or(standing.as_ref().map(|s| s.centroid.as_slice()))
        .unwrap_or_default();
    let contrast: &[Vec<f32>] = match &standing {
        Some(s) if query.contrast.is_empty() => &s.contrast,
        _ => &query.contrast,
    };
    let n_item = texts.len();
    let mut by_note: BTreeMap<String, Vec<Passage>> = BTreeMap::new();
    for s in stored {
        let text = without_instructions(&s.chunk.text);
        if text.split_whitespace().count() < 3 || !comparable_script(&query.text, &text) {
            continue;
        }
        let dense = if text == s.chunk.text {
            s.dense.clone()
        } else {
            // Instructions cannot lift a passage's similarity either: what remains is re-embedded.
            let mut chunk = s.chunk.clone();
            chunk.text = text.clone();
            embedder.embed(&[chunk.embedding_text()])?.remove(0)
        };
        let similarity = vectors[..n_item]
            .iter()
            .map(|q| retrieve::cosine(q, &dense))
            .fold(f32::MIN, f32::max);
        let evidence_similarity = if evidence_text.is_some() {
            retrieve::cosine(&vectors[n_item], &dense)
        } else {
            similarity
        };
        let genericness = retrieve::cosine(centroid, &dense);
        let affinity = affinity(&dense, &vectors[0], contrast);
        by_note
            .entry(s.chunk.path.clone())
            .or_default()
            .push(Passage {
                chunk: s.chunk,
                text,
                similarity,
                evidence_similarity,
                genericness,
                affinity,
            });
    }
    let rounded = |x: f32| (x * 1e4).round() as i64;
    let mut notes: Vec<NoteCandidate> = by_note
        .into_iter()
        .map(|(path, mut passages)| {
            passages.sort_by(|a, b| {
                rounded(b.similarity)
                    .cmp(&rounded(a.similarity))
                    .then(a.chunk.line_start.cmp(&b.chunk.line_start))
            });
            NoteCandidate {
                search_rank: search_order.iter().position(|p| *p == path),
                path,
                passages,
                features: Vec::new(),
                probability: 0.0,
                duplicates: Vec::new(),
            }
        })
        .collect();
    if notes.is_empty() {
        return Ok((notes, quarantined));
    }
    let best_of = |n: &NoteCandidate| n.best().similarity;
    let sims: Vec<f32> = notes.iter().map(best_of).collect();
    let top = sims.iter().cloned().fold(f32::MIN, f32::max);
    let average = mean(&sims);
    let spread = (sims.iter().map(|s| (s - average).powi(2)).sum::<f32>() / sims.len() as f32)
        .sqrt()
        .max(0.02);
    let mut order: Vec<f32> = sims.clone();
    order.sort_by(|a, b| b.total_cmp(a));
    let item_stems = stems(&query.text);
    let concepts = lexicon().concepts_in(&format!(
        "{} {}",
        query.section.as_deref().unwrap_or_default(),
        query.text
    ));
    for note in &mut notes {
        let best = note.best().clone();
        let second = note.passages.get(1).map_or(0.0, |p| p.similarity);
        let rank = order
            .iter()
            .position(|s| rounded(*s) == rounded(best.similarity))
            .unwrap_or(0);
        let note_text: String = note
            .passages
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let best_stems = stems(&format!("{} {}", best.chunk.heading, best.text));
        let shared = if item_stems.is_empty() {
            0.0
        } else {
            item_stems.iter().filter(|s| best_stems.contains(s)).count() as f32
                / item_stems.len() as f32
        };
        let note_words = word_list(&note_text);
        let phrases: usize = concepts
            .iter()
            .flat_map(|c| c.evidence.iter())
            .filter(|p| has_phrase(&note_words, p))
            .count();
        let lines: Vec<&str> = best.text.lines().filter(|l| !l.trim().is_empty()).collect();
        let first_person = if lines.is_empty() {
            0.0
        } else {
            lines.iter().filter(|l| FIRST_PERSON.is_match(l)).count() as f32 / lines.len() as f32
        };
        let figures = FIGURE.is_match(&best.text) as u8 as f32;
        let reading = (path_has(&note.path, READING_FOLDERS)
            || READING.find_iter(&note_text).count() >= 2) as u8 as f32;
        let personal = path_has(&note.path, PERSONAL_FOLDERS) as u8 as f32;
        let others = (OTHERS.find_iter(&best.text).count() as f32 / 2.0).min(1.0);
        let supporting = note
            .passages
            .iter()
            .filter(|p| p.similarity >= best.similarity - 0.08)
            .count();
        note.features = vec![
            1.0,
            best.similarity,
            note.passages
                .iter()
                .map(|p| p.evidence_similarity)
                .fold(f32::MIN, f32::max),
            second,
            best.similarity - top,
            (best.similarity - average) / spread,
            1.0 / (1.0 + rank as f32),
            shared,
            (1.0 + phrases as f32).ln(),
            first_person,
            figures,
            reading,
            personal,
            others,
            ((supporting as f32).ln_1p() - 2f32.ln()).max(0.0),
            best.genericness,
            best.similarity - best.genericness,
            note.passages
                .iter()
                .map(|p| p.affinity.0)
                .fold(f32::MIN, f32::max),
            note.passages
                .iter()
                .map(|p| p.affinity.1)
                .fold(f32::MIN, f32::max),
        ];
        note.probability = judge().probability(&note.features);
    }
    notes.sort_by(|a, b| {
        rounded(b.probability)
            .cmp(&rounded(a.probability))
            .then(a.path.cmp(&b.path))
    });
    Ok((fold_duplicates(notes), quarantined))
}

/// Word-set overlap of two texts (Jaccard over content stems).
fn overlap(a: &str, b: &str) -> f32 {
    let (a, b) = (stems(a), stems(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let common = a.iter().filter(|s| b.contains(s)).count() as f32;
    common / (a.len() + b.len()) as f32 * 2.0
}

/// Near-duplicate notes (an export and its final version, a copied template) are one piece of
/// evidence: the better-scored note keeps the citation and names the others.
fn fold_duplicates(notes: Vec<NoteCandidate>) -> Vec<NoteCandidate> {
    let mut out: Vec<NoteCandidate> = Vec::new();
    for note in notes {
        let text = &note.best().text;
        if let Some(kept) = out
            .iter_mut()
            .find(|k| k.best().text.len() > 80 && overlap(&k.best().text, text) >= 0.8)
        {
            kept.duplicates.push(note.path);
        } else {
            out.push(note);
        }
    }
    out
}

/// Features of each candidate as JSON lines, for fitting the judge (`STARLING_EVIDENCE_FEATURES`).
pub fn features_json(item: &str, notes: &[NoteCandidate]) -> String {
    notes
        .iter()
        .map(|n| {
            serde_json::json!({
                "item": item,
                "path": n.path,
                "duplicates": n.duplicates,
                "features": n.features,
            })
            .to_string()
                + "\n"
        })
        .collect()
}

/// A candidate note of one passage, for tests of what is built on candidates.
#[cfg(test)]
pub(crate) fn candidate(path: &str, text: &str, probability: f32) -> NoteCandidate {
    NoteCandidate {
        path: path.into(),
        passages: vec![Passage {
            chunk: crate::notes::chunk::Chunk {
                path: path.into(),
                source: String::new(),
                line_start: 1,
                line_end: 3,
                heading: String::new(),
                title: String::new(),
                tags: vec![],
                date: None,
                text: text.into(),
                hash: String::new(),
                aliases: vec![],
                opens_section: false,
                steers_model: false,
            },
            text: text.into(),
            similarity: 0.5,
            evidence_similarity: 0.5,
            genericness: 0.3,
            affinity: (0.0, 1.0),
        }],
        features: vec![],
        probability,
        duplicates: vec![],
        search_rank: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passages_in_another_script_are_not_compared_with_an_english_item() {
        let item = "Negotiating a salary raise with my manager";
        assert!(comparable_script(
            item,
            "Agreed the raise with Dana after the review."
        ));
        assert!(comparable_script(
            item,
            "Réunion avec Zoë: hausse de salaire acceptée."
        ));
        // Arabic prose around a formula: the formula's letters do not make it English.
        assert!(!comparable_script(
            item,
            "- `salary * 1.1` — زيادة الراتب بعد المراجعة السنوية"
        ));
        assert!(!comparable_script(
            item,
            "Συνάντηση με τον διευθυντή για την αύξηση"
        ));
        // A few foreign names in English prose, and figures alone, stay comparable.
        assert!(comparable_script(
            item,
            "Met 田中 and Ильяс about the raise budget for Q3."
        ));
        assert!(comparable_script(item, "12 / 40 / 7%"));
        // An item in another script is compared with everything.
        assert!(comparable_script(
            "زيادة الراتب",
            "Agreed the raise with Dana."
        ));
    }

    #[test]
    fn lexicon_and_judge_load_and_agree_with_the_code() {
        assert!(lexicon().concepts.len() >= 20);
        let judge = judge();
        assert_eq!(
            judge.features,
            FEATURES.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        );
        assert_eq!(judge.weights.len(), FEATURES.len());
        assert!(judge.floor <= judge.strong && judge.partial <= judge.strong);
    }

    #[test]
    fn phrases_match_whole_words_and_inflections() {
        let words = word_list("Ran the interview loops and mentored Ana");
        assert!(has_phrase(&words, "interview loop"));
        assert!(has_phrase(&words, "mentor"));
        assert!(!has_phrase(&words, "loop interview"));
        assert!(!has_phrase(&word_list("a mentorless team"), "ana"));
    }

    #[test]
    fn affinity_prefers_the_item_a_passage_is_about() {
        let unit = |v: [f32; 3]| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        let items = vec![
            unit([1.0, 0.0, 0.0]),
            unit([0.0, 1.0, 0.0]),
            unit([0.0, 0.0, 1.0]),
        ];
        let passage = unit([0.9, 0.3, 0.1]);
        let (z_own, rank_own) = affinity(&passage, &items[0], &items);
        let (z_other, rank_other) = affinity(&passage, &items[2], &items);
        assert!(z_own > 1.0 && z_other < 0.0, "{z_own} {z_other}");
        assert_eq!(rank_own, 1.0);
        assert_eq!(rank_other, 1.0 / 3.0);
        // Without a contrast set the feature says nothing.
        assert_eq!(affinity(&passage, &items[0], &[]), (0.0, 1.0));
    }

    #[test]
    fn trap_folders_are_recognised() {
        assert!(path_has("reading/managers-path.md", READING_FOLDERS));
        assert!(path_has("personal/marathon.md", PERSONAL_FOLDERS));
        assert!(path_has("books.md", READING_FOLDERS));
        assert!(path_has("reading-list.md", READING_FOLDERS));
        assert!(!path_has("work/team-reading-club.md", READING_FOLDERS));
        assert!(!path_has("1on1s/2025-03-02-ana.md", PERSONAL_FOLDERS));
    }

    #[test]
    fn near_duplicates_fold_into_the_better_note() {
        let note = |path: &str, text: &str| candidate(path, text, 0.5);
        let body = "Checkout failed for twelve minutes after the cache rollout; we rolled back, wrote the review and added a canary stage.";
        let folded = fold_duplicates(vec![
            note("incidents/final.md", body),
            note("inbox/export.md", &format!("{body} Status: open.")),
            note(
                "weekly/log.md",
                "Planned the offsite and the budget review.",
            ),
        ]);
        assert_eq!(folded.len(), 2);
        assert_eq!(folded[0].duplicates, vec!["inbox/export.md".to_string()]);
    }
}
