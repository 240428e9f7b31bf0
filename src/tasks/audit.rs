//! The claim audit: which sentences of a draft claim an achievement, and for each claim what the
//! notes say: `supported` (a passage tells the same thing and its figures, dates, owner and
//! outcome agree), `contradicted` (a passage about the same thing states a different value: the
//! difference is shown), `unsupported` (nothing either way). Deterministic: rules, retrieval and
//! value comparison, no generator. No file I/O: the caller hands in a reader for note files.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::backends::{Embedder, SearchFilter, SearchMode, VectorStore};
use crate::error::Result;
use crate::notes::chunk::{looks_like_instruction, Chunk};
use crate::notes::markdown::{month_alternation, MONTH_ALTERNATION, MONTH_NAMES};
use crate::notes::{glossary, retrieve};
use crate::tasks::copies;
use crate::tasks::facts::{self, Figure};
use crate::tone::segment::{prose_view, InputKind};
use crate::tone::LineIndex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Supported,
    Unsupported,
    Contradicted,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Unsupported => "unsupported",
            Verdict::Contradicted => "contradicted",
        }
    }
}

/// A passage of the notes shown for a claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quote {
    pub path: String,
    pub line_start: usize,
    pub line_end: usize,
    pub quote: String,
    /// How closely the passage tells what the claim says (0-1).
    pub match_score: f32,
}

/// A value the claim states and the notes state otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Difference {
    /// `figure`, `date`, `owner`, `outcome`, `order` (a change told the wrong way round),
    /// `direction` (a percentage gone the other way) or `scope` (all of something where the
    /// notes say part of it).
    pub kind: std::borrow::Cow<'static, str>,
    pub claim: String,
    pub notes: String,
    pub path: String,
    pub line: usize,
    /// How closely that line tells what the claim says (0-1).
    pub match_score: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Claim {
    pub text: String,
    /// 1-based line and column (in characters) of the claim's start.
    pub line: usize,
    pub column: usize,
    /// Byte offsets into the file.
    pub start: usize,
    pub end: usize,
    pub verdict: Verdict,
    /// How closely the best passage tells what the claim says (0-1).
    pub score: f32,
    pub evidence: Vec<Quote>,
    pub differences: Vec<Difference>,
    /// Figures of the claim that no matching passage holds.
    pub missing_figures: Vec<String>,
    /// Figures of the claim that a matching passage holds.
    pub matched_figures: Vec<String>,
}

/// The thresholds of the verdicts (fitted on the project's own audit sets, `data/evalsets/*/audit`).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// A passage at or above this match tells the same thing as the claim.
    pub same: f32,
    /// A difference counts only from a passage at or above this match.
    pub contradict: f32,
    /// Passages retrieved per claim.
    pub pool: usize,
}

impl Default for Settings {
    fn default() -> Self {
        // The middle of the plateau of a grid search (0.35-0.80 by 0.02) on the four own sets:
        // macro-F1 0.77-0.78 for `same` 0.43-0.45 and `contradict` 0.37-0.43.
        Settings {
            same: 0.44,
            contradict: 0.41,
            pool: 8,
        }
    }
}

// ----------------------------------------------------------------------------- claims

static QUESTION_OR_PLAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?ix)\?\s*$
        | \b(?:will|won't|wont|would|shall|should|'d\ like|'d\ rather|going\ to|plan\ to|plans\ to|intend|intends|hope\ to|want\ to|wants\ to|aim\ to|need\ to|needs\ to)\b
        | ^(?:next|going\ forward|in\ the\ next|over\ the\ next|this\ coming|my\ goal|our\ goal|goals?\b|plan\b|todo\b|to\ do\b|ask\b|please\b|tell\b|let's\b)
        | \b(?:next\ (?:half|quarter|year|cycle|month|week|sprint)|going\ forward|moving\ forward|the\ plan\ is|is\ planned|are\ planned|in\ the\ future)\b
        | \b(?:i|we)(?:'ve|\ have)?\s+(?:never|don't|do\ not|can't|cannot)\b
        | \b(?:i|we|you|they|he|she|it|that)'ll\b
        | \b(?:i|we|you)'d\s+(?:say|do|value|design|want|love|prefer|suggest|recommend|argue|ask|push|make|change|start|keep|go|take|pick|choose)\b
        | \b(?:i|we)\s+want\b
        # Instructions to oneself: keep each answer under three minutes.
        | ^(?:keep|lead\ with|remember|don't|do\ not|avoid|try\ to|make\ sure|start\ with|open\ with|end\ with|mention)\b
        | ^if\b
        # A goal in the imperative (get X under 30 minutes by the end of Q2; not cut or hit,
        # which read the same in the past).
        | ^(?:get|make|keep|reach|bring|ship|move|finish|deliver|launch|reduce|raise|grow|build|land)\b
          .*\bby\s+(?:the\s+)?(?:end\s+of\b|q[1-4]\b|eo[yqm]\b|(?:",
        month_alternation!(),
        r")[a-z]*\b)",
    ))
    .expect("plan pattern")
});

static THANKS_OR_OPINION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)\b(?:thank|thanks|grateful|gratitude|appreciate|kudos|shout-?out|fair|fairly|genuinely|honestly|unfortunately|frankly)\b
        | ^(?:i|we)\s+(?:still\s+)?(?:think|feel|believe|hope|wish|enjoy|enjoyed|love|loved|like|liked|am\ proud|was\ proud|'m\ proud|learned|learnt|found\ it|want|understand|know|realise|realize|struggle|decide|tend)\b
        | \bi\s+(?:still\s+)?(?:think|feel|believe|understand|know|realise|realize|struggle|tend)\b
        | \b(?:write|wrote|written|writing)\s+(?:this|these)\b
        | ^looking\ back\b
        | ^(?:i|we)\s+still\s+(?:wince|regret|cringe)\b
        | ^(?:[\w',-]+\s+){0,4}i(?:'m|\ am|\ was|\ felt)\s+(?:still\s+)?(?:a\ little\ |a\ bit\ |quite\ |very\ |really\ |most\ )?(?:embarrassed|proud|proudest|frustrated|disappointed|relieved|nervous|surprised|sad|glad|happy|annoyed|ashamed|uneasy|uncomfortable|unhappy)\b
        | ^(?:in\ my\ (?:view|opinion)|personally|overall,?\ i\ (?:think|feel)|it\ (?:was|is)\ (?:a\ )?(?:great|hard|tough|good|difficult)|this\ (?:talk|doc|document|note|section|page)\ (?:is|covers))\b",
    )
    .expect("opinion pattern")
});

/// The document talking about itself, wherever in the sentence: "I've grouped it by the ladder
/// areas", "so here's the case in my own words".
static ABOUT_THE_DOCUMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)\b(?:kept|grouped|organi[sz]ed|structured|ordered|sorted)\s+(?:this|these|it)\s+(?:to|by|around|into)\b
        | \bhere(?:'s|\s+is|\s+are)\b",
    )
    .expect("document pattern")
});

/// Past-tense and perfect forms of the verbs achievements are told with.
static ACHIEVEMENT_VERB: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)\b(?:[a-z]{3,}ed|led|ran|wrote|rewrote|built|rebuilt|made|took|gave|set\ up|got|held|found|sent|met|spent|kept|cut|began|brought|taught|drove|chose|won|drew|oversaw|undertook|split|shut|paid|grew|shipped|hired|fixed|became|saw|sold|rolled\ out|stood\ up|brought|helped|own(?:ed|s)?|went|came|put|said|told|spread|fell|rose|hit|did|were\ no|was\ no)\b",
    )
    .expect("verb pattern")
});

/// What sets an aside apart from the clause before it.
static ASIDE_BREAK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[,;:—–]|\b(?:which|when|because|while)\b").expect("aside break")
});

/// A word that makes the -ed word after it an adjective ("too detailed", "as expected").
static DEGREE_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:too|very|so|more|less|quite|overly|really|fairly|pretty|as)\s+$")
        .expect("degree")
});

/// Words ending in -ed that are not achievements (adjectives, states).
static NOT_ACHIEVEMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:need|needed|based|interested|excited|tired|worried|concerned|supposed|used|scared|bored|indeed|speed|seed|feed|red|bed|shed|proceed|exceed|succeed)$")
        .expect("not achievement")
});

static LIST_MARK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:>\s*)*(?:[-*+•]|\d{1,3}[.)])\s+(?:\[[xX ]\]\s+)?").expect("list mark")
});

static WIKILINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[\[([^\]|#]*)(#[^\]|]*)?(?:\|([^\]]*))?\]\]").expect("wikilink")
});
static MD_LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[([^\]]+)\]\([^)]*\)").expect("markdown link"));

/// Markdown marks and links out of a line: what a reader sees.
pub fn plain(text: &str) -> String {
    let (text, _) = crate::notes::mojibake::repair(text);
    let text = text
        .replace(['\u{2019}', '\u{2018}'], "'")
        .replace(['\u{201c}', '\u{201d}'], "\"");
    let text = LIST_MARK.replace(text.trim(), "");
    let text = WIKILINK.replace_all(&text, |c: &regex::Captures| {
        c.get(3)
            .or(c.get(1).filter(|m| !m.as_str().trim().is_empty()))
            .or(c.get(2))
            .map_or("", |m| m.as_str())
            .trim_start_matches('#')
            .trim()
            .to_string()
    });
    let text = MD_LINK.replace_all(&text, "$1");
    let text = text
        .replace("**", "")
        .replace("__", "")
        .replace('`', "")
        .replace(['|', '\u{a0}'], " ");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a sentence of a draft claims an achievement: something done, shipped, led, fixed,
/// measured or owned, by the writer, their team or the person a packet is about. Questions,
/// plans, goals, thanks and opinions are not claims.
pub fn is_claim(sentence: &str) -> bool {
    let text = plain(sentence);
    let words = text.split_whitespace().count();
    if words < 3 {
        return false;
    }
    // A plan or an opinion before anything done ("I want to...", "Honestly, I should have...");
    // one in a later clause of a sentence that first tells what was done is its aside ("I
    // revised ADR-7, a cheaper switch than it would have been", "which I think is fair").
    let standing = STANDING.find(&text);
    let done_at = ACHIEVEMENT_VERB
        .find_iter(&text)
        .find(|m| {
            !NOT_ACHIEVEMENT.is_match(m.as_str()) && !DEGREE_BEFORE.is_match(&text[..m.start()])
        })
        .into_iter()
        .chain(standing)
        .map(|m| m.end())
        .min();
    let aside_at = [&*QUESTION_OR_PLAN, &*THANKS_OR_OPINION]
        .iter()
        .filter_map(|re| re.find(&text).map(|m| m.start()))
        .min();
    if text.trim_end().ends_with('?')
        || ABOUT_THE_DOCUMENT.is_match(&text)
        || aside_at.is_some_and(|aside| {
            done_at.is_none_or(|done| aside <= done || !ASIDE_BREAK.is_match(&text[done..aside]))
        })
    {
        return false;
    }
    // A title ("Enhanced Performance and Contributions"): every longer word capitalised.
    let long: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.chars().count() > 3)
        .collect();
    if !text.ends_with(['.', '!', ';'])
        && !long.is_empty()
        && long
            .iter()
            .all(|w| w.starts_with(|c: char| c.is_uppercase()))
    {
        return false;
    }
    let verb = ACHIEVEMENT_VERB
        .find_iter(&text)
        .any(|m| !NOT_ACHIEVEMENT.is_match(m.as_str()));
    // A figure with a change or a standing ("down to 52 minutes", "from 31 a week to 8").
    let measured = !facts::figures(&text).is_empty() && OUTCOME.is_match(&text);
    words >= 4 && (verb || measured || standing.is_some())
}

/// A standing state of things or a habit of one's own, told in the present: "now covers every
/// category", "today runs on all 14 services", "costs $18k a month", "I also run a reading group".
static STANDING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?ix)\b(?:now|today)\b.*\b(?:every|all|each)\b",
        r"| \b(?:costs|takes|runs|covers|serves|handles)\b.*\d",
        r"| \b(?:i|we)\s+(?:also\s+|still\s+)?(?:run|host|chair|mentor|coach|check|review|lead|own|manage|teach)\s+(?:a|an|the|our|my|every|each)\b",
        r"| \b(?:i|we)(?:'ve|’ve|\s+have)\s+(?:also\s+|since\s+)?been\s+\w+ing\b",
    ))
    .expect("standing pattern")
});

static OUTCOME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:down|up|from|fell|rose|dropped|grew|increased|decreased|reduced|halved|doubled|tripled|now|at|under|over|within|below|above)\b")
        .expect("outcome")
});

/// The claims of a draft: byte ranges of its sentences that claim an achievement.
pub fn claim_spans(source: &str, kind: InputKind) -> Vec<Range<usize>> {
    let view = prose_view(source, kind);
    view.sentences
        .into_iter()
        .filter(|range| {
            let line_start = source[..range.start].rfind('\n').map_or(0, |i| i + 1);
            let line = source[line_start..].lines().next().unwrap_or_default();
            !line.trim_start().starts_with('#') && is_claim(&source[range.clone()])
        })
        .collect()
}

// ----------------------------------------------------------------------------- values

/// A figure with what it counts: `%`, `$`, a unit word (`hour`, `ms`, `engin`...), `year`,
/// or the identifier's letters (`q` for `Q3`).
#[derive(Debug, Clone, PartialEq)]
struct Measure {
    figure: Figure,
    kind: String,
    /// Said in words ("three", "halved", "a quarter of the"): a round-off, never held against
    /// a figure of the notes.
    spelled: bool,
}

const UNITS: &[(&[&str], &str)] = &[
    (&["ms", "millisecond", "milliseconds", "msec"], "ms"),
    (&["s", "sec", "secs", "second", "seconds"], "s"),
    (&["min", "mins", "minute", "minutes"], "min"),
    (&["h", "hr", "hrs", "hour", "hours"], "hour"),
    (&["d", "day", "days"], "day"),
    (&["wk", "wks", "week", "weeks"], "week"),
    (&["mo", "month", "months"], "month"),
    (&["yr", "yrs", "year", "years"], "year-span"),
    (&["x", "×", "times", "fold"], "x"),
];

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

static ISO_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(20\d{2})-(\d{2})(?:-(\d{2}))?\b").expect("iso date"));

const STOP: &[&str] = &[
    "about", "after", "again", "also", "because", "been", "before", "being", "both", "could",
    "during", "each", "from", "have", "having", "into", "just", "more", "most", "much", "only",
    "other", "over", "same", "some", "such", "than", "that", "their", "them", "then", "there",
    "these", "they", "this", "those", "through", "under", "until", "very", "were", "what", "when",
    "where", "which", "while", "with", "within", "without", "would", "your", "team", "work",
    "worked", "working", "time", "made", "make", "across", "around", "per",
];

fn stems(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 3 && !w.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .map(|w| w.chars().take(5).collect())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A range of days in one month, either way round: "Jul 8–29", "8 to 29 July".
const DAY_RANGE: &str = concat!(
    r"(?:(?:",
    month_alternation!(),
    r")[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:[ \t]*[-–—][ \t]*|[ \t]+(?:to|through|till|until)[ \t]+)\d{1,2}(?:st|nd|rd|th)?\b|\b\d{1,2}(?:st|nd|rd|th)?(?:[ \t]*[-–—][ \t]*|[ \t]+(?:to|through|till|until)[ \t]+)\d{1,2}(?:st|nd|rd|th)?\s+(?:",
    month_alternation!(),
    r")[a-z]*\.?)"
);

static DAY_OF_MONTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i)\b{DAY_RANGE}|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{MONTH_ALTERNATION})[a-z]*\.?|\b(?:{MONTH_ALTERNATION})[a-z]*\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b|\b\d{{1,2}}:\d{{2}}\b|\b(?:wk|week|w)\s?\d{{1,2}}\b"))
        .expect("day of month")
});
static P_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bp(?:[\s-]?values?)?\s*(?:=|<=?|>=?|≤|≥|of)\s*$").expect("p-value")
});
static DURATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{1,3})h\s?(?:(\d{1,2})m(?:in)?)?\b").expect("duration"));
static NONE_OF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(?:no|zero)\s+([a-z][a-z-]{3,})").expect("none of"));

/// "by half", "a third of the", "halved", "doubled": a share or a multiple said in words.
static FRACTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:by|cut|reduced|down|up|grew|rose|fell|dropped)\s+(?:about\s+|roughly\s+|nearly\s+|almost\s+|over\s+|more\s+than\s+)?(half|a\s+third|a\s+quarter|a\s+fifth|two[\s-]thirds|three[\s-]quarters)\b|\b(half|a\s+third|a\s+quarter|a\s+fifth|two[\s-]thirds|three[\s-]quarters)\s+of\s+(?:the|our|all|my|its|their)\b|\b(halved|doubled|tripled|trebled|quadrupled)\b")
        .expect("fraction")
});

/// The share (as a percentage) or the multiple a `FRACTION` word says.
fn fraction(word: &str) -> Option<(f64, bool)> {
    let word = word.to_lowercase().replace('-', " ");
    let word = word.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(match word.as_str() {
        "half" | "halved" => (50.0, true),
        "a third" => (100.0 / 3.0, true),
        "a quarter" => (25.0, true),
        "a fifth" => (20.0, true),
        "two thirds" => (200.0 / 3.0, true),
        "three quarters" => (75.0, true),
        "doubled" => (2.0, false),
        "tripled" | "trebled" => (3.0, false),
        "quadrupled" => (4.0, false),
        _ => return None,
    })
}

fn unit_kind(next: &str) -> Option<&'static str> {
    UNITS
        .iter()
        .find(|(words, _)| words.contains(&next))
        .map(|(_, unit)| *unit)
}

/// "November 19 pages, December 12 pages": a month, then a number that counts the plural word
/// after it, is an amount for that month, not a day of it. A preposition before the month ("on
/// Dec 12 teams met") keeps it a date.
fn month_then_count(text: &str, span: Range<usize>) -> bool {
    let found = &text[span.clone()];
    if !found.starts_with(|c: char| c.is_alphabetic())
        || !found.ends_with(|c: char| c.is_ascii_digit())
    {
        return false;
    }
    let next: String = text[span.end..]
        .strip_prefix(' ')
        .unwrap_or_default()
        .chars()
        .take_while(|c| c.is_alphabetic())
        .collect::<String>()
        .to_lowercase();
    let before = text[..span.start].trim_end().to_lowercase();
    let preposition = [
        "on", "by", "from", "until", "till", "since", "before", "after", "through", "of", "due",
        "at", "to", "for",
    ]
    .iter()
    .any(|p| {
        before.ends_with(p) && !before[..before.len() - p.len()].ends_with(char::is_alphanumeric)
    });
    next.chars().count() >= 4
        && next.ends_with('s')
        && !next.ends_with("ss")
        && !STOP.contains(&next.as_str())
        && !preposition
}

/// The figures of a text with what they count. Days of the month, clock times, week numbers and
/// ISO dates are dates, not figures; "no X" and "zero X" are a count of 0.
fn measures(text: &str) -> Vec<Measure> {
    let dates: Vec<Range<usize>> = DAY_OF_MONTH
        .find_iter(text)
        // "pages per week 23 6" (a table row of a rate) is a value, not week 23.
        .filter(|m| {
            let before = text[..m.start()].to_lowercase();
            !(m.as_str().to_lowercase().starts_with('w')
                && ["per ", "a ", "each ", "/"]
                    .iter()
                    .any(|p| before.ends_with(p)))
        })
        .filter(|m| !month_then_count(text, m.range()))
        .map(|m| m.range())
        .chain(ISO_DATE.find_iter(text).map(|m| m.range()))
        .collect();
    let mut out: Vec<(usize, Measure)> = Vec::new();
    // "5h10m", "1h 45m", "2h": a duration in minutes.
    let durations: Vec<Range<usize>> = DURATION.find_iter(text).map(|m| m.range()).collect();
    for caps in DURATION.captures_iter(text) {
        let hours: f64 = caps[1].parse().unwrap_or(0.0);
        let minutes: f64 = caps
            .get(2)
            .map_or(0.0, |m| m.as_str().parse().unwrap_or(0.0));
        let whole = caps.get(0).expect("match");
        out.push((
            whole.start(),
            Measure {
                figure: Figure {
                    raw: whole.as_str().to_string(),
                    value: hours * 60.0 + minutes,
                    percent: false,
                    identifier: false,
                },
                kind: "min".into(),
                spelled: false,
            },
        ));
    }
    for (span, mut figure) in facts::figures_at(text) {
        // "300ms", "14d": a value glued to its unit, not a name.
        let suffix: String = figure
            .raw
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ',')
            .to_lowercase();
        let glued_unit = figure.identifier
            && figure.raw.starts_with(|c: char| c.is_ascii_digit())
            && unit_kind(&suffix).is_some();
        if glued_unit {
            figure.identifier = false;
        }
        if !figure.percent
            && dates
                .iter()
                .any(|d| d.start <= span.start && span.end <= d.end)
        {
            continue;
        }
        if durations
            .iter()
            .any(|d| d.start <= span.start && span.end <= d.end)
        {
            continue;
        }
        let before = text[..span.start].trim_end();
        let after = text[span.end..].trim_start();
        let next: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '×')
            .collect::<String>()
            .to_lowercase();
        // Digits after a name and a dash (`RFC-007`, `FERRY-212`) are an identifier too.
        let tagged = before.ends_with('-')
            && before[..before.len() - 1]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphabetic());
        // A number after an acronym names a standard or a version ("SOC 2 controls", "ISO
        // 27001", "PCI DSS 4"): not a count of what follows.
        let acronym = standard_name(before, &figure.raw, &next);
        let named = acronym.is_some() && !figure.percent;
        // A tag's number stays a name even with a unit's letter after it ("SEV-2s" is no time).
        let kind = if named {
            format!("id:{}", acronym.unwrap_or_default())
        } else if glued_unit && !tagged {
            unit_kind(&suffix).unwrap_or("count").to_string()
        } else if figure.identifier || tagged {
            format!(
                "id:{}",
                figure
                    .raw
                    .chars()
                    .take_while(|c| c.is_alphabetic())
                    .collect::<String>()
                    .to_lowercase()
            )
        } else if P_VALUE.is_match(before) {
            // "p = 0.01": a test's p-value, held only against another p-value.
            "p-value".into()
        } else if figure.percent {
            "%".into()
        } else if before.ends_with(['$', '€', '£']) || figure.raw.starts_with(['$', '€', '£'])
        {
            "$".into()
        } else if let Some(unit) = unit_kind(&next) {
            unit.into()
        } else if (1990.0..=2100.0).contains(&figure.value) && figure.value.fract() == 0.0 {
            "year".into()
        } else if next.chars().count() > 3 && !STOP.contains(&next.as_str()) && !is_glue(&next) {
            next.chars().take(5).collect()
        } else {
            "count".into()
        };
        let spelled = figure.raw.chars().all(char::is_alphabetic);
        out.push((
            span.start,
            Measure {
                figure,
                kind,
                spelled,
            },
        ));
    }
    // Shares and multiples in words: they back a figure the notes give ("halved" and "-50%")
    // but, being round, are never held against one.
    for caps in FRACTION.captures_iter(text) {
        let Some(word) = caps.get(1).or(caps.get(2)).or(caps.get(3)) else {
            continue;
        };
        let Some((value, percent)) = fraction(word.as_str()) else {
            continue;
        };
        out.push((
            word.start(),
            Measure {
                figure: Figure {
                    raw: word.as_str().to_string(),
                    value,
                    percent,
                    identifier: false,
                },
                kind: if percent { "%" } else { "x" }.into(),
                spelled: true,
            },
        ));
    }
    for caps in NONE_OF.captures_iter(text) {
        let noun = caps[1].to_lowercase();
        if STOP.contains(&noun.as_str()) {
            continue;
        }
        out.push((
            caps.get(0).expect("match").start(),
            Measure {
                figure: Figure {
                    raw: caps[0].to_string(),
                    value: 0.0,
                    percent: false,
                    identifier: false,
                },
                kind: noun.chars().take(5).collect(),
                spelled: false,
            },
        ));
    }
    out.sort_by_key(|(at, _)| *at);
    // "from 34 days to 14", "3 real events out of 120k": a bare count takes the unit of the
    // figure just before it, a few words away ("(18 people) brought tickets down from 120 a week
    // to 50" counts no people).
    let mut measures: Vec<Measure> = Vec::with_capacity(out.len());
    let mut spans: Vec<Range<usize>> = Vec::with_capacity(out.len());
    let mut previous_end = 0;
    for (at, mut measure) in out {
        if measure.kind == "count" {
            if let Some(previous) = measures.last() {
                let gap = text.get(previous_end.min(at)..at).unwrap_or("");
                // A breakdown in brackets counts the same thing ("14 brokers (9 small, 5
                // mid-size)"); a bracket closed, a clause ended or a quote does not.
                let near =
                    gap.split_whitespace().count() <= 4 && !gap.contains([')', ';', ':', '.', '"']);
                if near
                    && !previous.kind.starts_with("id:")
                    && previous.kind != "year"
                    && previous.kind != "count"
                {
                    measure.kind = previous.kind.clone();
                }
            }
        }
        let span = at..at + measure.figure.raw.len();
        previous_end = previous_end.max(span.end);
        spans.push(span);
        measures.push(measure);
    }
    // "25 deploys for Q1 + 25 for Q2": the two added up are a value the text gives too.
    let mut sums = Vec::new();
    for i in 0..measures.len() {
        let (a, a_span) = (&measures[i], &spans[i]);
        if a.kind.starts_with("id:") || a.kind == "year" || a.spelled {
            continue;
        }
        let Some(j) = (i + 1..measures.len()).find(|&j| !measures[j].kind.starts_with("id:"))
        else {
            continue;
        };
        let b = &measures[j];
        let gap = text.get(a_span.end..spans[j].start).unwrap_or("");
        let same = b.kind == a.kind || b.kind == "count";
        if same
            && !b.spelled
            && gap.contains(" + ")
            && gap.split_whitespace().count() <= 5
            && a.figure.percent == b.figure.percent
        {
            sums.push(Measure {
                figure: Figure {
                    raw: format!("{} + {}", a.figure.raw, b.figure.raw),
                    value: a.figure.value + b.figure.value,
                    percent: a.figure.percent,
                    identifier: false,
                },
                kind: a.kind.clone(),
                spelled: false,
            });
        }
    }
    measures.extend(sums);
    measures
}

/// The acronym (lower-cased) of a standard's or a version's name that a number is part of:
/// `before` ends with the acronym and `next`, the word after the number, is what it names
/// ("61 SOC 2 controls", "ISO 27001 audit"). A metric's value has a unit or nothing after it
/// ("MAE 4 min", "JS 310 KB", "CPU 71%"), a year is a year.
fn standard_name(before: &str, number: &str, next: &str) -> Option<String> {
    let next = next.to_lowercase();
    let names = number.chars().all(|c| c.is_ascii_digit())
        && number.parse::<u32>().is_ok_and(|n| n < 1990)
        && next.chars().count() > 3
        && next.chars().all(char::is_alphabetic)
        && unit_kind(&next).is_none()
        && !STOP.contains(&next.as_str())
        && !is_glue(&next);
    before
        .trim_end()
        .rsplit(char::is_whitespace)
        .next()
        .filter(|w| {
            names && (2..=5).contains(&w.len()) && w.chars().all(|c| c.is_ascii_uppercase())
        })
        .map(str::to_lowercase)
}

fn is_glue(word: &str) -> bool {
    matches!(
        word,
        "and"
            | "to"
            | "from"
            | "of"
            | "out"
            | "in"
            | "on"
            | "a"
            | "the"
            | "per"
            | "by"
            | "or"
            | "vs"
            | "more"
            | "less"
            | "than"
    )
}

static OWNER_VERB: &str = r"(?:led|owned|drove|ran|designed|built|wrote|proposed|started|initiated|headed|championed|architected|authored)";

static OTHER_OWNER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\b([A-Z][a-z]+)(?:\s+[A-Z][a-z]+)?\s+(?:{OWNER_VERB}|(?:was|is)\s+(?:the\s+)?(?:lead|owner|driver|DRI)|(?:took|takes)\s+(?:the\s+)?lead)\b|\b(?:led|owned|driven|run|designed|built|written|proposed|headed|coordinated|organi[sz]ed|hired|recruited)\s+by\s+(?:[A-Z][a-z]+(?:'s|’s)\s+)?([A-Z][a-z]+)\b|\bDRI:?\s+([A-Z][a-z]+)\b|\bowner:?\s+([A-Z][a-z]+)\b|\b([A-Z][a-z]+)\s+DRI\b|(?:^|[.;]\s+)([A-Z][a-z]+),\s+done\b"
    ))
    .expect("other owner")
});

static DONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:shipped|launched|delivered|completed|released|rolled\s+out|went\s+live|finished|landed|migrated|deployed|closed|resolved|hit|met|achieved|adopted)\b")
        .expect("done")
});
static NOT_DONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:rolled\s+back|reverted|cancell?ed|scrapped|shelved|abandoned|postponed|paused|descoped|de-scoped|slipped|delayed|missed|never\s+(?:shipped|launched|finished)|did\s*n[o']t\s+(?:ship|launch|land|finish|hit|make)|not\s+(?:shipped|launched|finished|done)|killed|dropped|failed)\b")
        .expect("not done")
});

const NOT_NAMES: &[&str] = &[
    "The",
    "This",
    "That",
    "We",
    "It",
    "He",
    "She",
    "They",
    "Team",
    "Then",
    "And",
    "But",
    "Who",
    "Which",
    "Also",
    "Today",
    "Yesterday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Weekly",
    "Daily",
    "Everyone",
    "Nobody",
    "Someone",
    "Platform",
    "Infra",
    "Eng",
];

/// Names another person as the one who led or owned what the passage tells.
fn other_owner(text: &str) -> Option<String> {
    OTHER_OWNER.captures_iter(text).find_map(|c| {
        let name = c
            .get(1)
            .or(c.get(2))
            .or(c.get(3))
            .or(c.get(4))
            .or(c.get(5))
            .or(c.get(6))?
            .as_str();
        (!NOT_NAMES.contains(&name)).then(|| name.to_string())
    })
}

// ----------------------------------------------------------------------------- evidence

/// One line of the notes, in plain words, and where it came from.
#[derive(Debug, Clone)]
struct Line {
    path: String,
    line: usize,
    text: String,
}

/// The lines of `chunk` as they stand in its file (`read` gives the file's text), else as the
/// chunk holds them.
fn chunk_lines(chunk: &Chunk, file: Option<&str>) -> Vec<(usize, String)> {
    if let Some(text) = file {
        let lines: Vec<(usize, String)> = text
            .lines()
            .enumerate()
            .skip(chunk.line_start.saturating_sub(1))
            .take(chunk.line_end + 1 - chunk.line_start.min(chunk.line_end))
            .map(|(i, l)| (i + 1, l.to_string()))
            .collect();
        if !lines.is_empty() {
            return lines;
        }
    }
    chunk
        .text
        .lines()
        .enumerate()
        .map(|(i, l)| ((chunk.line_start + i).min(chunk.line_end), l.to_string()))
        .collect()
}

/// The columns of a table header that hold a value before and after a change ("| | before |
/// after |", "| metric | Q1 | ... |" does not count).
fn change_columns(row: &str) -> Option<(usize, usize)> {
    let cells: Vec<String> = table_cells(row).map(str::to_lowercase).collect();
    let find = |names: &[&str]| cells.iter().position(|c| names.contains(&c.as_str()));
    let before = find(&["before", "from", "was", "then", "old", "baseline"])?;
    let after = find(&["after", "to", "now", "new", "result"])?;
    (before < after).then_some((before, after))
}

fn table_cells(row: &str) -> impl Iterator<Item = &str> {
    row.trim().trim_matches('|').split('|').map(str::trim)
}

/// A row of a before/after table told as a change: "| pages per week | 23 | 6 |" under "| |
/// before | after |" reads "pages per week 23 → 6".
fn change_row(row: &str, (before, after): (usize, usize)) -> Option<String> {
    let cells: Vec<&str> = table_cells(row).collect();
    let (from, to) = (cells.get(before)?, cells.get(after)?);
    let number = |c: &str| {
        c.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '~')
    };
    if !number(from) || !number(to) {
        return None;
    }
    let label: Vec<&str> = cells
        .iter()
        .enumerate()
        .filter(|(i, c)| *i != before && *i != after && !c.is_empty())
        .map(|(_, c)| *c)
        .collect();
    Some(format!("{} {from} → {to}", label.join(" ")))
}

fn evidence_lines(chunk: &Chunk, file: Option<&str>) -> Vec<Line> {
    let lines = chunk_lines(chunk, file);
    // A table row's header is the first row of its table, in the file (a chunk may start
    // within a table) or else in the chunk.
    let tabled = lines.iter().any(|(_, l)| l.trim_start().starts_with('|'));
    let context: Vec<&str> = match file {
        Some(text) if tabled => text.lines().collect(),
        _ => Vec::new(),
    };
    let row = |l: &&str| l.trim().starts_with('|');
    let header = |number: usize| -> Option<(usize, usize)> {
        let first = if context.is_empty() {
            lines
                .iter()
                .filter(|(n, _)| *n <= number)
                .map(|(_, l)| l.as_str())
                .rev()
                .take_while(row)
                .last()
        } else {
            context[..number.min(context.len())]
                .iter()
                .copied()
                .rev()
                .take_while(row)
                .last()
        }?;
        change_columns(first)
    };
    lines
        .iter()
        .filter_map(|(number, raw)| {
            let (number, trimmed) = (*number, raw.trim());
            if let Some(row) = trimmed
                .starts_with('|')
                .then(|| header(number))
                .flatten()
                .and_then(|c| change_row(trimmed, c))
            {
                return Some(Line {
                    path: chunk.path.clone(),
                    line: number,
                    text: plain(&row),
                });
            }
            if trimmed.starts_with('#')
                || trimmed.starts_with("```")
                || trimmed.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
                || looks_like_instruction(trimmed)
            {
                return None;
            }
            let text = plain(trimmed);
            // Two words are a line when they date something ("launched:: 2024-11-04").
            let words = text.split_whitespace().count();
            (words >= 3 || words == 2 && !day_months(&text).is_empty()).then(|| Line {
                path: chunk.path.clone(),
                line: number,
                text,
            })
        })
        .collect()
}

fn overlap(claim: &[String], line: &[String]) -> f32 {
    if claim.is_empty() {
        return 0.0;
    }
    claim.iter().filter(|s| line.contains(s)).count() as f32 / claim.len() as f32
}

/// Verbs that say who did the work, for telling the claim's owner from the notes' one.
static DOER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([A-Z][a-z]+(?:-[A-Za-z][a-z]+)?|[Ss]he|[Hh]e|[Tt]hey|(?:[Mm]y|[Oo]ur)\s+(?:manager|boss|lead|tech\s+lead|team\s+lead|PM|product\s+manager|director|skip|skip-level|VP|CTO|head\s+of\s+[a-z]+|predecessor|colleague|counterpart))\)?(?:'s)?\s+(?:(?:also|then|just|actually|quietly|is|was|has|had)\s+)?(led|leads|leading|ran|runs|running|did|does|handled|handles|handling|owned|owns|owning|negotiated|drove|designed|wrote|built|found|took|made|set|got|organised|organized|facilitated|coordinated|hired|recruited|proposed|started|spotted|discovered|diagnosed|traced|tracked)\b|\b(?:I'm|I am|I was)\s+not\s+involved\b|\bnot\s+me\b|\bwasn't\s+me\b|\bnot\s+mine\b")
        .expect("doer")
});

/// Another person doing it alone ("ran the game day herself", "got there on his own"): theirs
/// when the line tells the claim's act.
static ON_THEIR_OWN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:herself|himself|on\s+(?:his|her)\s+own)\b").expect("on their own")
});

/// The writer saying it was not theirs ("I was nowhere near the pricing").
static NOT_MINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\bI\s+(?:was\s+nowhere\s+near|(?:was|wasn't|was\s+not)\s+(?:not\s+)?involved|(?:wasn't|was\s+not)\s+(?:on|in)\s+the\s+(?:loop|panel|call|room|project))\b|\b(?:his|her|their)\s+(?:project|work|initiative)\s+end\s+to\s+end\b",
    )
    .expect("not mine")
});

/// Verbs that tell the same act, for telling whether a line's doer did what the claim says.
const SAME_ACT: &[&[&str]] = &[&[
    "found",
    "tracked",
    "traced",
    "spotted",
    "discovered",
    "diagnosed",
    "debugged",
    "identified",
    "caught",
]];

/// The person the notes name as doing the work in `line`, when it is not the writer.
fn other_doer(line: &str, claim_verb: Option<&str>) -> Option<String> {
    if let Some(name) = other_owner(line) {
        return Some(name);
    }
    // The claim's verb, and the others of its act.
    let claim_verb = claim_verb.map(str::to_lowercase);
    let same_act = |verb: &str| claim_verb.as_deref().is_some_and(|v| one_act(v, verb));
    if NOT_MINE.is_match(line)
        || ON_THEIR_OWN.is_match(line) && line.split(|c: char| !c.is_alphabetic()).any(&same_act)
    {
        return Some("someone else".into());
    }
    for caps in DOER.captures_iter(line) {
        let Some(subject) = caps.get(1) else {
            return Some("someone else".into());
        };
        let subject = subject.as_str();
        // "She did the renewal": a pronoun is someone, though never a name.
        if NOT_NAMES.contains(&subject) && !matches!(subject, "She" | "He") {
            continue;
        }
        let verb = caps.get(2).map_or("", |m| m.as_str());
        let generic = matches!(
            verb,
            "led"
                | "leads"
                | "leading"
                | "ran"
                | "runs"
                | "running"
                | "did"
                | "handled"
                | "handles"
                | "handling"
                | "owned"
                | "owns"
                | "owning"
                | "negotiated"
                | "drove"
        );
        if generic || same_act(verb) {
            return Some(subject.to_string());
        }
    }
    None
}

/// The deeds a claim joins to its first with "and" ("I ran the analysis and wrote the plan"
/// → "wrote"), in the past tense.
fn joined_verbs(claim: &str) -> Vec<String> {
    static JOINED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\band\s+([a-z]+)\b").expect("joined"));
    JOINED
        .captures_iter(claim)
        .filter_map(|c| {
            let verb = c.get(1)?.as_str();
            (ACHIEVEMENT_VERB.is_match(verb) && !NOT_ACHIEVEMENT.is_match(verb))
                .then(|| verb.to_string())
        })
        .collect()
}

/// Words that make the writer's clause a comparison with someone else's deed ("before I did",
/// "than I had"); "when I led..." is still the writer's deed.
const SUBORDINATE: &[&str] = &["before", "after", "than", "until"];

/// The writer's own verb when the claim says they did it ("I ran...", "Ingress: I led...", "In
/// Q3 I personally drove...", a bullet "Ran...").
fn first_person_verb(claim: &str) -> Option<String> {
    static MINE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\bI\s+(?:(?i:also|personally|then|myself|single-handedly)\s+)?([A-Za-z]+)\b")
            .expect("mine")
    });
    static OPENING: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^([A-Za-z]+)\b").expect("opening"));
    let achievement =
        |verb: &str| ACHIEVEMENT_VERB.is_match(verb) && !NOT_ACHIEVEMENT.is_match(verb);
    // "Sarah and I led...": shared, so another name in the notes is no contradiction.
    if claim.contains(" and I ") || claim.contains("I and ") {
        return None;
    }
    let verb = match MINE.captures(claim) {
        Some(caps) => {
            // "she found it before I did": the writer's verb is not the claim's.
            let at = caps.get(0)?.start();
            let before = claim[..at].split_whitespace().last().unwrap_or("");
            if SUBORDINATE.contains(&before.to_lowercase().as_str()) {
                return None;
            }
            caps.get(1)?.as_str()
        }
        None => OPENING.captures(claim)?.get(1)?.as_str(),
    };
    achievement(verb).then(|| verb.to_lowercase())
}

/// What the notes say about one claim: every difference found in a passage scoring at least
/// `floor`, the verdict by `settings`.
fn judge(
    claim_text: &str,
    lines: &[Line],
    scores: &[f32],
    settings: &Settings,
) -> (
    Verdict,
    f32,
    Vec<Quote>,
    Vec<Difference>,
    Vec<String>,
    Vec<String>,
) {
    let floor = settings.contradict.min(settings.same) - 0.15;
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let best = order.first().map_or(0.0, |&i| scores[i]);
    let quotes: Vec<Quote> = order
        .iter()
        .take(3)
        .filter(|&&i| scores[i] >= floor)
        .map(|&i| Quote {
            path: lines[i].path.clone(),
            line_start: lines[i].line,
            line_end: lines[i].line,
            quote: lines[i].text.clone(),
            match_score: scores[i],
        })
        .collect();

    // The passages that may tell the same thing, and their neighbours in the same note (a
    // figure often sits on the next line of a log).
    let close: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| scores[i] >= floor)
        .take(6)
        .collect();
    let mut near: Vec<(usize, f32)> = close.iter().map(|&i| (i, scores[i])).collect();
    let claim_stems = stems(claim_text);
    for &i in &close {
        for j in [i.wrapping_sub(1), i + 1] {
            if let Some(other) = lines.get(j) {
                if other.path == lines[i].path
                    && other.line.abs_diff(lines[i].line) == 1
                    && !near.iter().any(|(k, _)| *k == j)
                    // A neighbour about something else backs nothing ("4 of 9 teams" under
                    // "paging rules 23 → 6" is not the claim's "23 to 4").
                    && overlap(&claim_stems, &stems(&other.text)) > 0.0
                {
                    near.push((j, scores[i]));
                }
            }
        }
    }

    let claim_measures: Vec<Measure> = measures(claim_text)
        .into_iter()
        .filter(|m| m.kind != "year")
        .collect();
    let near_measures: Vec<(usize, f32, Vec<Measure>)> = near
        .iter()
        .map(|&(i, score)| (i, score, measures(&lines[i].text)))
        .collect();
    let mut differences = Vec::new();
    let mut missing = Vec::new();
    let mut matched = Vec::new();
    // The values of every line of the two closest lines' notes, where a value the claim hedges
    // ("about 6%") or misses nearby may sit; read once, when first needed.
    let files: Vec<&str> = close
        .iter()
        .take(2)
        .map(|&i| lines[i].path.as_str())
        .collect();
    let in_files = std::cell::OnceCell::new();
    let file_measures = || -> &Vec<Measure> {
        in_files.get_or_init(|| {
            lines
                .iter()
                .filter(|line| files.contains(&line.path.as_str()))
                .flat_map(|line| measures(&line.text))
                .collect()
        })
    };
    for measure in &claim_measures {
        let hedged = hedged(claim_text, &measure.figure.raw);
        if near_measures.iter().any(|(_, _, known)| {
            known
                .iter()
                .any(|k| agrees_here(measure, k, &claim_measures, known))
        }) || hedged && file_measures().iter().any(|k| roughly(measure, k))
            || measure.spelled
                && near
                    .iter()
                    .any(|&(i, _)| changed_by(measure, &before_after(&lines[i].text)))
        {
            matched.push(measure.figure.raw.clone());
            continue;
        }
        // Names (`RFC-007`, `M1`) and spelled-out small numbers are not values to look for; a
        // share or multiple in words ("halved") is, unless a before/after pair above backs it.
        if measure.kind.starts_with("id:") && measure.kind != "id:q"
            || measure.spelled && !matches!(measure.kind.as_str(), "%" | "x")
        {
            continue;
        }
        missing.push(measure.figure.raw.clone());
    }
    // A total told with its parts ("20 calls: 14 brokers and 6 policyholders") is backed by its
    // backed parts.
    let parts: Vec<f64> = claim_measures
        .iter()
        .filter(|m| {
            matched.contains(&m.figure.raw) && !m.figure.percent && !m.kind.starts_with("id:")
        })
        .map(|m| m.figure.value)
        .collect();
    missing.retain(|raw| {
        let Some(total) = claim_measures.iter().find(|m| &m.figure.raw == raw) else {
            return true;
        };
        let summed = !total.figure.percent
            && parts.len() >= 2
            && parts.len() <= 10
            && (1u32..1 << parts.len()).any(|set| {
                set.count_ones() >= 2
                    && (parts
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| set & (1 << i) != 0)
                        .map(|(_, v)| v)
                        .sum::<f64>()
                        - total.figure.value)
                        .abs()
                        < 1e-9
            });
        if summed {
            matched.push(raw.clone());
        }
        !summed
    });
    // The passages that tell the same thing most closely: a value of the same kind that the
    // claim states otherwise. A bare count differs only where the passage also holds another
    // of the claim's figures (the same sentence, "19 of the 23" against "21 of the 23").
    let claim_changes = before_after(claim_text);
    // Percentages the claim gives as an amount of change ("cut build times by 40%").
    let claim_amounts: Vec<f64> = directions(claim_text).into_iter().map(|d| d.0).collect();
    for &i in close.iter().take(2) {
        // Close lines were measured with the nearby ones above.
        let line_measures: &[Measure] = near_measures
            .iter()
            .find(|(j, _, _)| *j == i)
            .map_or(&[], |(_, _, m)| m.as_slice());
        // A level that many things share (`SEV-2`, `P1`) does not make a line tell the same thing.
        let aligned = claim_measures.iter().filter(|c| !is_level(c)).any(|c| {
            line_measures
                .iter()
                .any(|k| agrees_here(c, k, &claim_measures, line_measures))
        });
        // What the line tells as changes: "11% → 2.5%" (its levels), "down 30%" (amounts).
        let line_changes = before_after(&lines[i].text);
        let line_amounts: Vec<f64> = directions(&lines[i].text)
            .into_iter()
            .map(|d| d.0)
            .collect();
        let tells_change = !line_changes.is_empty();
        for measure in &claim_measures {
            // Only a figure no passage holds (a claim's figure found nearby is not in doubt), and
            // not a spelled-out number ("three weeks" is often a round-off of "4 wks").
            if !missing.contains(&measure.figure.raw)
                || measure.spelled
                || (measure.figure.value == 0.0 && measure.kind == "count")
            {
                continue;
            }
            // An end of a change the claim tells ("from 38 minutes to 11") differs only from a
            // line that tells a change too, or holds another of the claim's figures ("15-minute
            // batches" is not what the 38 became).
            let in_change = claim_changes
                .iter()
                .any(|&(a, b)| a == measure.figure.value || b == measure.figure.value);
            // The line is compared only when it is about the figure's clause (whichever of
            // its figures would differ).
            // The change's other end, of the same kind, on the line ties the line to it; a
            // figure of another kind that happens to share its value does not ("12 minutes,
            // down from 50" against "21 of 32 moved ... 12/12").
            let partner_here = claim_changes
                .iter()
                .filter_map(|&(a, b)| {
                    let v = measure.figure.value;
                    (a == v).then_some(b).or((b == v).then_some(a))
                })
                .any(|other| {
                    claim_measures
                        .iter()
                        .filter(|c| c.figure.value == other)
                        .any(|c| {
                            line_measures
                                .iter()
                                .any(|k| k.figure.value == other && k.kind == c.kind)
                        })
                });
            if in_change && !partner_here && !tells_change
                || !about_clause_of(claim_text, &measure.figure.raw, &lines[i].text)
            {
                continue;
            }
            // Of the line's figures that differ, the one most like the claim's is what the
            // notes say instead: the same unit, in digits, closest in size ("3 out of 120k"
            // against "two real events ... 3 out of 210k" differs by 210k, not "two").
            // An amount of change and a level before or after one are other quantities: "by
            // 40%" is not held against "11% → 2.5%", nor "from 12% to 8%" against "down 30%".
            let amount = measure.figure.percent
                && !in_change
                && (claim_amounts.contains(&measure.figure.value)
                    || claim_text
                        .match_indices(measure.figure.raw.as_str())
                        .any(|(at, _)| BY_AMOUNT.is_match(&claim_text[..at])));
            let found = line_measures.iter().filter(|k| {
                let level_of_change = line_changes
                    .iter()
                    .any(|&(a, b)| a == k.figure.value || b == k.figure.value);
                if amount && level_of_change
                    || in_change && k.figure.percent && line_amounts.contains(&k.figure.value)
                {
                    return false;
                }
                let zero = k.figure.value == 0.0 || measure.figure.value == 0.0;
                let kinds = if zero {
                    k.kind == measure.kind
                } else if k.kind == measure.kind {
                    k.kind != "count" || aligned
                } else {
                    aligned
                        && (k.kind == "count" || measure.kind == "count")
                        && !k.kind.starts_with("id:")
                        && k.kind != "year"
                        && !measure.kind.starts_with("id:")
                };
                kinds
                    && !claim_measures
                        .iter()
                        .any(|c| agrees_here(c, k, &claim_measures, line_measures))
                    && !claim_text
                        .find(measure.figure.raw.as_str())
                        .is_some_and(|at| {
                            of_other_clause(
                                claim_text,
                                at..at + measure.figure.raw.len(),
                                &lines[i].text,
                                &k.figure.raw,
                            )
                        })
            });
            let found = found.min_by(|a, b| {
                let distance = |k: &Measure| {
                    (
                        k.kind != measure.kind,
                        k.spelled,
                        size_apart(k.figure.value, measure.figure.value),
                    )
                };
                let (a, b) = (distance(a), distance(b));
                a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.total_cmp(&b.2))
            });
            if let Some(found) = found {
                differences.push(Difference {
                    kind: "figure".into(),
                    claim: measure.figure.raw.clone(),
                    notes: found.figure.raw.clone(),
                    path: lines[i].path.clone(),
                    line: lines[i].line,
                    match_score: scores[i],
                });
            }
        }
        if !differences.is_empty() {
            break;
        }
    }
    let passages = Passages {
        lines,
        scores,
        close: &close,
        near: &near,
        contradict: settings.contradict,
        claim_measures: &claim_measures,
        near_measures: &near_measures,
    };
    let claim = Said {
        text: claim_text,
        plain: plain(claim_text),
    };
    // Rules that tell a difference of their own kind, each stated where found...
    for rule in [day_date, owner, outcome, change_order, swapped, direction] {
        differences.extend(rule(&claim, &passages));
    }
    // ...and rules that may restate a figure difference already found on the same line.
    for rule in [counted, rate, month_date, scope, changed_to, counted_thing] {
        add_new(&mut differences, rule(&claim, &passages));
    }
    // A figure no close line holds may sit on another line of the notes the two closest come
    // from (a log's timeline, a table's other row): backed there, it is not missing. Read after
    // the differences, so it only tells supported from unsupported.
    missing.retain(|raw| {
        let Some(measure) = claim_measures.iter().find(|m| &m.figure.raw == raw) else {
            return true;
        };
        let found = file_measures()
            .iter()
            .any(|k| k.kind == measure.kind && agrees(measure, k));
        if found {
            matched.push(raw.clone());
        }
        !found
    });
    let contradicted = differences
        .iter()
        .any(|d| d.match_score >= settings.contradict);
    differences.retain(|d| d.match_score >= settings.contradict || !contradicted);
    let verdict = if contradicted {
        Verdict::Contradicted
    } else if best >= settings.same && matched.len() >= missing.len() || {
        // Two or more of the claim's written values found on lines close to it, and none
        // missing, back it even where the wording is the notes' shorthand ("2.1M/day -> 0").
        let values = claim_measures.iter().filter(|m| {
            matched.contains(&m.figure.raw) && !m.spelled && !m.kind.starts_with("id:")
        });
        missing.is_empty() && values.count() >= 2
    } {
        Verdict::Supported
    } else {
        Verdict::Unsupported
    };
    (verdict, best, quotes, differences, missing, matched)
}

/// Whether `text` hedges its figure `raw` ("about 6%", "~40 hours", "roughly 3,000").
fn hedged(text: &str, raw: &str) -> bool {
    static HEDGE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)(?:~|\babout|\baround|\broughly|\bapproximately|\bnearly|\balmost|\bsome)\s*$",
        )
        .expect("hedge")
    });
    text.match_indices(raw)
        .any(|(at, _)| HEDGE.is_match(&text[..at]))
}

/// A value of the same kind within a tenth of a hedged one ("about 6%" for 6.2%).
fn roughly(hedged: &Measure, known: &Measure) -> bool {
    let (x, y) = (hedged.figure.value, known.figure.value);
    known.kind == hedged.kind
        && hedged.figure.percent == known.figure.percent
        && x != 0.0
        && (x - y).abs() <= 0.1 * x.abs()
}

/// How far apart two values are in size (orders of magnitude; a zero is as far as 1 from 10).
fn size_apart(a: f64, b: f64) -> f64 {
    let size = |v: f64| v.abs().max(1.0).log10();
    (size(a) - size(b)).abs() + if (a == 0.0) != (b == 0.0) { 1.0 } else { 0.0 }
}

/// Where a claim's clauses part: a semicolon or dash, a comma before a joining word, "and" or
/// "but" before a new subject.
static CLAUSE_BREAK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\s*[;—–]\s*|,\s+(?:and|but|so|while|which|with|then|after|before|when)\s+|\s+(?:and|but)\s+(?:the|then|we|i|they|he|she|our|my|his|her|it)\s+")
        .expect("clause break")
});

/// Whether `line` is about the clause of `claim` that states `figure`: it shares one of that
/// clause's words (units aside). A claim of one clause always is. "22 minutes after the first
/// alert, and the exec note was in their inboxes by Sunday" is not compared with a line about
/// the exec note's 30-minute meeting.
fn about_clause_of(claim: &str, figure: &str, line: &str) -> bool {
    let Some(at) = claim.find(figure) else {
        return true;
    };
    let (own, _) = clause_of(claim, at, at + figure.len());
    if own.len() == claim.len() {
        return true;
    }
    overlap(&clause_stems(&claim[own]), &stems(line)) > 0.0
}

/// The clause of `claim` that holds `start..end`, and the claim's other words: clauses part at
/// `CLAUSE_BREAK` and after a leading subordinate clause ("Because agent hours are down, ...").
fn clause_of(claim: &str, start: usize, end: usize) -> (Range<usize>, String) {
    static LEADING: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)^(?:because|since|as|once|after|when|while|although|though)\b[^,]{3,80}(,)",
        )
        .expect("leading clause")
    });
    let mut breaks: Vec<Range<usize>> = CLAUSE_BREAK.find_iter(claim).map(|m| m.range()).collect();
    if let Some(comma) = LEADING.captures(claim).and_then(|c| c.get(1)) {
        breaks.push(comma.range());
        breaks.sort_by_key(|b| b.start);
    }
    let from = breaks
        .iter()
        .take_while(|b| b.start < end)
        .last()
        .map_or(0, |b| b.end)
        .min(start);
    let to = breaks
        .iter()
        .find(|b| b.start >= end)
        .map_or(claim.len(), |b| b.start);
    let rest = format!("{} {}", &claim[..from], &claim[to..]);
    (from..to, rest)
}

/// The stems of a clause's words, units aside.
fn clause_stems(clause: &str) -> Vec<String> {
    let words: Vec<&str> = clause
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| unit_kind(&w.to_lowercase()).is_none())
        .collect();
    stems(&words.join(" "))
}

/// Whether the words around `known` on `line` tie it to another clause of the claim than the one
/// of the claim's figure at `at`: "Agent hours down 38%" is what "Because agent hours are down"
/// tells, not "the renewal came in 25% cheaper".
fn of_other_clause(claim: &str, at: Range<usize>, line: &str, known: &str) -> bool {
    let Some(position) = line.find(known) else {
        return false;
    };
    let (own, rest) = clause_of(claim, at.start, at.end);
    if own.len() == claim.len() {
        return false;
    }
    let before: Vec<&str> = line[..position].split_whitespace().rev().take(4).collect();
    let after: Vec<&str> = line[position + known.len()..]
        .split_whitespace()
        .take(3)
        .collect();
    let around = stems(&format!("{} {}", before.join(" "), after.join(" ")));
    // Units count here: "2-3 hours of care" is about "5-6 hours a week of care".
    overlap(&around, &stems(&claim[own])) == 0.0 && overlap(&around, &clause_stems(&rest)) > 0.0
}

/// The passages a claim is compared with: every line and its match score, the closest ones
/// (best first) and those with their neighbours in the same note (`near`, with the score of
/// the passage they neighbour).
struct Passages<'a> {
    lines: &'a [Line],
    scores: &'a [f32],
    close: &'a [usize],
    near: &'a [(usize, f32)],
    /// The match a difference needs to count (`Settings::contradict`).
    contradict: f32,
    /// The claim's values (years aside), and those of each of `near`'s lines.
    claim_measures: &'a [Measure],
    near_measures: &'a [(usize, f32, Vec<Measure>)],
}

impl Passages<'_> {
    /// The three nearest passages.
    fn closest(&self) -> &[(usize, f32)] {
        &self.near[..self.near.len().min(3)]
    }

    /// A difference of `kind` found on line `i`, scored as close as that line is.
    fn difference(&self, kind: &'static str, i: usize, claim: String, notes: String) -> Difference {
        self.difference_scored(kind, i, self.scores[i], claim, notes)
    }

    fn difference_scored(
        &self,
        kind: &'static str,
        i: usize,
        score: f32,
        claim: String,
        notes: String,
    ) -> Difference {
        Difference {
            kind: kind.into(),
            claim,
            notes,
            path: self.lines[i].path.clone(),
            line: self.lines[i].line,
            match_score: score,
        }
    }

    /// The first of `near` (a part of `self.near`) whose text `differs` from the claim, as a
    /// difference of `kind`: `differs` gives what the claim says and what the line says.
    fn first(
        &self,
        kind: &'static str,
        near: &[(usize, f32)],
        differs: impl Fn(&str) -> Option<(String, String)>,
    ) -> Option<Difference> {
        near.iter().find_map(|&(i, score)| {
            let (claim, notes) = differs(&self.lines[i].text)?;
            Some(self.difference_scored(kind, i, score, claim, notes))
        })
    }
}

/// A claim as written and in plain words.
struct Said<'a> {
    text: &'a str,
    plain: String,
}

/// A date with its day: the same day in another month, or another day of the same month, on one
/// of the two closest lines or, tied to one of the claim's words, on another line of their notes.
fn day_date(claim: &Said, passages: &Passages) -> Option<Difference> {
    let claim_days = day_months(claim.text);
    if claim_days.len() > 1 {
        return one_date_moved(&claim_days, passages);
    }
    let [(day, month)] = claim_days[..] else {
        return None;
    };
    // The two closest lines, as for owners. A line of their notes that gives the claim's date
    // backs it ("all 7 closed by 25 Oct" below a table row of another action closed 25 Sep).
    let close = &passages.close[..passages.close.len().min(2)];
    let paths: Vec<&str> = close
        .iter()
        .map(|&i| passages.lines[i].path.as_str())
        .collect();
    let mut dated: Vec<(usize, Vec<(u32, u32)>)> = (0..passages.lines.len())
        .filter(|&j| paths.contains(&passages.lines[j].path.as_str()))
        .map(|j| (j, day_months(&passages.lines[j].text)))
        .collect();
    // The close lines are lines of those notes too.
    if dated.iter().any(|(_, days)| days.contains(&(day, month))) {
        return None;
    }
    let found = close.iter().find_map(|&i| {
        let (_, notes_days) = dated.iter().find(|(j, _)| *j == i)?;
        let [(notes_day, notes_month)] = notes_days[..] else {
            return None;
        };
        (notes_day == day || notes_month == month).then(|| {
            passages.difference(
                "date",
                i,
                format!("{day} {}", MONTHS[month as usize - 1]),
                format!("{notes_day} {}", MONTHS[notes_month as usize - 1]),
            )
        })
    });
    if found.is_some() {
        return found;
    }
    // The closest lines' notes: a line that ties another date (the same day or month) to one
    // of the claim's words ("Launched 6 May." against "launched ... on 6 June"). A short line
    // of a log or a status table is seldom among the closest lines itself.
    let claim_stems: Vec<String> = stems(&claim.plain)
        .into_iter()
        .filter(|s| !MONTHS.iter().any(|m| s.starts_with(m)))
        .map(|s| event_stem(&s).to_string())
        .collect();
    dated.sort_by(|(a, _), (b, _)| passages.scores[*b].total_cmp(&passages.scores[*a]));
    dated.into_iter().find_map(|(j, notes_days)| {
        let text = &passages.lines[j].text;
        let dates: Vec<regex::Match> = DAY_MONTH.find_iter(text).collect();
        let single = notes_days.len() == 1;
        dates.iter().enumerate().find_map(|(n, at)| {
            let [(notes_day, notes_month)] = day_months(at.as_str())[..] else {
                return None;
            };
            if !notes_days.contains(&(notes_day, notes_month))
                || (notes_day, notes_month) == (day, month)
                || (notes_day != day && notes_month != month)
            {
                return None;
            }
            // The words that tie the date to an event: three either side of a line's only
            // date; of a line of several dates, those before it back to the previous date
            // ("fieldwork 2-13 June; report issued 18 Jul").
            let from = if single || n == 0 {
                0
            } else {
                dates[n - 1].end()
            };
            let before: Vec<&str> = text[from..at.start()].split_whitespace().collect();
            let mut window: Vec<&str> = before[before.len().saturating_sub(3)..].to_vec();
            if single {
                window.extend(text[at.end()..].split_whitespace().take(3));
            }
            let near: Vec<String> = stems(&window.join(" "))
                .iter()
                .map(|s| event_stem(s).to_string())
                .collect();
            // As close as the closest line of its note.
            let score = close
                .iter()
                .filter(|&&i| passages.lines[i].path == passages.lines[j].path)
                .map(|&i| passages.scores[i])
                .fold(passages.scores[j], f32::max);
            near.iter().any(|s| claim_stems.contains(s)).then(|| {
                passages.difference_scored(
                    "date",
                    j,
                    score,
                    format!("{day} {}", MONTHS[month as usize - 1]),
                    format!("{notes_day} {}", MONTHS[notes_month as usize - 1]),
                )
            })
        })
    })
}

/// The words that say a thing started being used: one event, whichever a text uses.
const ONE_EVENT: &[&str] = &["launched", "shipped", "released", "live"];

/// One stem for `ONE_EVENT`'s words ("live", "launc"...), so a date tied to one backs or moves
/// a claim that says another.
fn event_stem(stem: &str) -> &str {
    let of_event = ONE_EVENT
        .iter()
        .any(|w| w.chars().take(5).collect::<String>() == stem);
    if of_event {
        "launc"
    } else {
        stem
    }
}

/// A claim of several dates against a close line that gives all of them but one, and in that
/// one's place another date of the same day or month ("approved on 4 November, effective 1
/// January" against "Calibration 4 Dec: approved, effective 1 Jan"): the dates the line shares
/// tie it to the same events, so the one it moves is a difference. A close line that gives
/// every date of the claim backs it.
fn one_date_moved(claim_days: &[(u32, u32)], passages: &Passages) -> Option<Difference> {
    let close = &passages.close[..passages.close.len().min(2)];
    let lines: Vec<(usize, Vec<(u32, u32)>)> = close
        .iter()
        .map(|&i| (i, day_months(&passages.lines[i].text)))
        .collect();
    if lines
        .iter()
        .any(|(_, days)| claim_days.iter().all(|d| days.contains(d)))
    {
        return None;
    }
    lines.into_iter().find_map(|(i, notes_days)| {
        let missing: Vec<&(u32, u32)> = claim_days
            .iter()
            .filter(|d| !notes_days.contains(d))
            .collect();
        let [&(day, month)] = missing[..] else {
            return None;
        };
        let instead: Vec<&(u32, u32)> = notes_days
            .iter()
            .filter(|d| !claim_days.contains(d) && (d.0 == day || d.1 == month))
            .collect();
        let [&(notes_day, notes_month)] = instead[..] else {
            return None;
        };
        Some(passages.difference(
            "date",
            i,
            format!("{day} {}", MONTHS[month as usize - 1]),
            format!("{notes_day} {}", MONTHS[notes_month as usize - 1]),
        ))
    })
}

/// Another person named as doing what the claim says the writer did.
fn owner(claim: &Said, passages: &Passages) -> Option<Difference> {
    let verb = first_person_verb(&claim.plain)?;
    // "I ran the analysis and wrote the plan": each deed is the writer's.
    let mut verbs = vec![verb.clone()];
    verbs.extend(joined_verbs(&claim.plain));
    let found = passages.close.iter().take(2).find_map(|&i| {
        let name = verbs
            .iter()
            .find_map(|v| other_doer(&passages.lines[i].text, Some(v)))?;
        Some(passages.difference("owner", i, "you".into(), name))
    });
    if found.is_some() {
        return found;
    }
    // A line further down that gives every one of the claim's values (two at least) tells the
    // same work, however it is worded: the one it names as doing it is the owner.
    let values: Vec<Measure> = passages
        .claim_measures
        .iter()
        .filter(|m| !m.kind.starts_with("id:") && !m.spelled && !is_level(m))
        .cloned()
        .collect();
    // A lower close line that tells the claim's own act with another doer, tied to the claim by
    // one of its values or one of the names it gives ("Ruth hired aisha-okonjo" for "I hired
    // Aisha in February"; "Jorge ran the path in 22 min" for "I ran it in 22 minutes").
    let names = proper_names(claim.text);
    let tied = passages.close.iter().skip(2).find_map(|&i| {
        let text = &passages.lines[i].text;
        let (_, _, known) = passages.near_measures.iter().find(|(j, _, _)| *j == i)?;
        let by_value = values
            .iter()
            .any(|c| known.iter().any(|k| agrees_here(c, k, &values, known)));
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_lowercase)
            .collect();
        if !by_value && !names.iter().any(|n| words.contains(n)) {
            return None;
        }
        let name = verbs.iter().find_map(|v| acting(text, v))?;
        Some(passages.difference("owner", i, "you".into(), name))
    });
    if tied.is_some() || values.len() < 2 {
        return tied;
    }
    passages.close.iter().skip(2).find_map(|&i| {
        let text = &passages.lines[i].text;
        // Every close line is one of `near`, its values already read.
        let (_, _, known) = passages.near_measures.iter().find(|(j, _, _)| *j == i)?;
        let all = values
            .iter()
            .all(|c| known.iter().any(|k| agrees_here(c, k, &values, known)));
        if !all {
            return None;
        }
        let name = other_doer(text, Some(&verb))?;
        Some(passages.difference_scored(
            "owner",
            i,
            passages.scores[i].max(passages.contradict),
            "you".into(),
            name,
        ))
    })
}

/// Whether `verb` tells the act of `claim_verb` (in lower case): the same verb, or one of
/// `SAME_ACT`'s group of it.
fn one_act(claim_verb: &str, verb: &str) -> bool {
    claim_verb.eq_ignore_ascii_case(verb)
        || SAME_ACT.iter().any(|group| {
            group.contains(&claim_verb) && group.iter().any(|w| w.eq_ignore_ascii_case(verb))
        })
}

/// Another person doing the very act `verb` names (or one of its kind) on `line`, by name.
fn acting(line: &str, verb: &str) -> Option<String> {
    DOER.captures_iter(line).find_map(|caps| {
        let subject = caps.get(1)?.as_str();
        let same = one_act(verb, caps.get(2)?.as_str());
        (same && !NOT_NAMES.contains(&subject) && subject.starts_with(|c: char| c.is_uppercase()))
            .then(|| subject.to_string())
    })
}

/// The names a claim gives (capitalised words past its first, months and "I" aside), in lower case.
fn proper_names(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .skip(1)
        .filter(|w| w.chars().count() > 2 && w.starts_with(|c: char| c.is_uppercase()))
        .filter(|w| w.chars().skip(1).all(|c| c.is_lowercase()))
        .map(str::to_lowercase)
        .filter(|w| {
            !MONTH_NAMES.iter().any(|m| m.starts_with(w.as_str()))
                && !NOT_NAMES.iter().any(|n| n.eq_ignore_ascii_case(w))
        })
        .collect()
}

/// Done where the notes say it was not ("shipped" against "rolled back").
fn outcome(claim: &Said, passages: &Passages) -> Option<Difference> {
    if !DONE.is_match(&claim.plain) || NOT_DONE.is_match(&claim.plain) {
        return None;
    }
    let &i = passages.close.iter().take(2).find(|&&i| {
        let text = &passages.lines[i].text;
        // A line that also tells it done ("shipped 4 May; the first try was reverted") does
        // not undo the claim.
        NOT_DONE.is_match(text)
            && !DONE.find_iter(text).any(|d| {
                !NOT_DONE
                    .find_iter(text)
                    .any(|n| n.start() <= d.start() && d.end() <= n.end())
            })
    })?;
    let undone = NOT_DONE.find(&passages.lines[i].text)?;
    // A claim that tells the setback itself ("closed with one slip" against "slipped") does
    // not say otherwise.
    let root: String = undone
        .as_str()
        .chars()
        .take(4)
        .collect::<String>()
        .to_lowercase();
    if claim
        .plain
        .to_lowercase()
        .split(|c: char| !c.is_alphabetic())
        .any(|w| w.len() >= 4 && w.starts_with(&root))
    {
        return None;
    }
    let done = DONE.find(&claim.plain).map_or("done", |d| d.as_str());
    Some(passages.difference("outcome", i, done.to_string(), undone.as_str().to_string()))
}

/// Two of the claim's values told of two things, which a close line tells the other way round:
/// "Apple Pay takes 6.2% on iOS and Google Pay 11.4% on Android" against "Apple Pay 11.4% of iOS
/// payments, Google Pay 6.2% of Android". Each value's side of the sentence (up to the break
/// between them) names what it is of; a side's own words found only by the other value's side
/// of the line, and none by its own, swap them.
fn swapped(claim: &Said, passages: &Passages) -> Option<Difference> {
    let values: Vec<&Measure> = passages
        .claim_measures
        .iter()
        .filter(|m| !m.spelled && !m.kind.starts_with("id:") && !is_level(m))
        .collect();
    for (n, a) in values.iter().enumerate() {
        for b in &values[n + 1..] {
            if a.kind != b.kind || a.figure.value == b.figure.value {
                continue;
            }
            let Some((claim_a, claim_b)) = sides(claim.text, &a.figure.raw, &b.figure.raw) else {
                continue;
            };
            let found = passages.closest().iter().find_map(|&(i, score)| {
                let (_, _, known) = passages.near_measures.iter().find(|(j, _, _)| *j == i)?;
                let known_a = known.iter().find(|k| agrees(a, k) && !agrees(b, k))?;
                let known_b = known.iter().find(|k| agrees(b, k) && !agrees(a, k))?;
                let (line_a, line_b) = sides(
                    &passages.lines[i].text,
                    &known_a.figure.raw,
                    &known_b.figure.raw,
                )?;
                let shared =
                    |x: &[String], y: &[String]| x.iter().filter(|w| y.contains(w)).count();
                let straight = shared(&claim_a, &line_a) + shared(&claim_b, &line_b);
                let crossed = shared(&claim_a, &line_b) + shared(&claim_b, &line_a);
                (straight == 0 && crossed >= 2).then_some((i, score))
            });
            if let Some((i, score)) = found {
                return Some(passages.difference_scored(
                    "swapped",
                    i,
                    score,
                    format!("{} and {}", a.figure.raw, b.figure.raw),
                    format!("{} and {} the other way round", a.figure.raw, b.figure.raw),
                ));
            }
        }
    }
    None
}

/// Short words that name nothing a value is of.
const SIDE_STOP: &[&str] = &[
    "our", "my", "we", "at", "is", "was", "it", "an", "as", "for", "so", "be", "up", "us", "me",
    "he", "she", "his", "her", "its", "are", "has", "had", "got", "did", "went", "took", "takes",
    "now", "all", "just", "about", "by", "with", "who", "both", "each",
];

/// What parts a sentence's clauses: the break between two values, and the bounds of each side.
static SIDE_BREAK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[,;:|]|\s(?:and|but|while|whereas|vs\.?|versus)\s").expect("side break")
});

/// The words that name what each of two values in `text` is of: each value's side of the break
/// between them, back to the break before the first and on to the break after the second, less
/// the words both sides share. None where either value is not written once or no break parts them.
fn sides(text: &str, a: &str, b: &str) -> Option<(Vec<String>, Vec<String>)> {
    let at = |raw: &str| {
        let mut found = text.match_indices(raw).filter(|&(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + raw.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '.')
                && !after.is_some_and(|c| c.is_alphanumeric())
        });
        let first = found.next()?.0;
        found.next().is_none().then_some(first)
    };
    let (at_a, at_b) = (at(a)?, at(b)?);
    let ((first, first_len), second) = if at_a < at_b {
        ((at_a, a.len()), at_b)
    } else {
        ((at_b, b.len()), at_a)
    };
    let cut = SIDE_BREAK
        .find_iter(&text[first + first_len..second])
        .last()?;
    let (cut_start, cut_end) = (
        first + first_len + cut.start(),
        first + first_len + cut.end(),
    );
    let start = SIDE_BREAK
        .find_iter(&text[..first])
        .last()
        .map_or(0, |m| m.end());
    let end = SIDE_BREAK
        .find(&text[second..])
        .map_or(text.len(), |m| second + m.start());
    let words = |side: &str| -> Vec<String> {
        side.split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() > 1 && !w.chars().any(|c| c.is_ascii_digit()))
            .map(str::to_lowercase)
            .filter(|w| !STOP.contains(&w.as_str()) && !SIDE_STOP.contains(&w.as_str()))
            .filter(|w| !is_glue(w))
            .map(|w| w.chars().take(5).collect())
            .collect()
    };
    let (one, two) = (words(&text[start..cut_start]), words(&text[cut_end..end]));
    let own = |x: &[String], y: &[String]| -> Vec<String> {
        let mut out: Vec<String> = x.iter().filter(|w| !y.contains(w)).cloned().collect();
        out.sort();
        out.dedup();
        out
    };
    let (first_words, second_words) = (own(&one, &two), own(&two, &one));
    Some(if at_a < at_b {
        (first_words, second_words)
    } else {
        (second_words, first_words)
    })
}

/// A change told the wrong way round: "from 44% to 31%" where the notes have "from 31% to
/// 44%", on a line that does not also state the claim's own order.
fn change_order(claim: &Said, passages: &Passages) -> Option<Difference> {
    let claim_pairs = before_after(&claim.plain);
    passages.first("order", passages.near, |text| {
        let pairs = before_after(text);
        claim_pairs
            .iter()
            .find(|&&(b, a)| pairs.contains(&(a, b)) && !pairs.contains(&(b, a)))
            .map(|(b, a)| (format!("from {b} to {a}"), format!("from {a} to {b}")))
    })
}

/// A change whose start (or end) the notes give but whose other end they give otherwise: "from
/// ~30 a month to ~18" where a close line says "~30/month → ~8/month". The shared end ties the
/// two changes together, so the other figure differs even where some line nearby happens to
/// hold the claim's value.
fn changed_to(claim: &Said, passages: &Passages) -> Option<Difference> {
    let same = |a: f64, b: f64| (a - b).abs() <= 0.02 * a.abs().max(b.abs());
    let claim_pairs = before_after(&claim.plain);
    if claim_pairs.is_empty() {
        return None;
    }
    passages.first("figure", passages.near, |text| {
        let pairs = before_after(text);
        let numbers: Vec<f64> = NUMBER_PART
            .find_iter(text)
            .filter_map(|m| m.as_str().replace(',', "").parse().ok())
            .collect();
        let holds = |x: f64| numbers.iter().any(|&n| same(n, x));
        claim_pairs.iter().find_map(|&(from, to)| {
            // A line holding both ends ("30 → 60 → 18") tells the claim's change in steps.
            if holds(from) && holds(to) {
                return None;
            }
            pairs.iter().find_map(|&(a, b)| {
                let differs = (same(a, from) && !same(b, to)) || (same(b, to) && !same(a, from));
                // Not the change told the wrong way round (`change_order` says that).
                (differs && !(same(a, to) && same(b, from)))
                    .then(|| (format!("from {from} to {to}"), format!("from {a} to {b}")))
            })
        })
    })
}

/// The same percentage gone the other way: "up 35%" where the notes say "down 35%".
fn direction(claim: &Said, passages: &Passages) -> Option<Difference> {
    let claim_ways = directions(&claim.plain);
    passages.first("direction", passages.near, |text| {
        let known = directions(text);
        claim_ways.iter().find_map(|(value, sign, said)| {
            let same = |v: f64| (v - value).abs() <= value.abs() * 0.02;
            let opposite = known.iter().find(|(v, s, _)| same(*v) && *s == -sign)?;
            (!known.iter().any(|(v, s, _)| same(*v) && s == sign))
                .then(|| (said.clone(), opposite.2.clone()))
        })
    })
}

/// Another part of the same counted set: "all six actions closed" or "four of the six"
/// against "5 of 6 closed", where no nearby line says the claim's count and the notes count
/// what the claim tells of (the word after the count is one of the claim's: "5/5 answered" is
/// not a count of who "said" something).
fn counted(claim: &Said, passages: &Passages) -> Option<Difference> {
    let claim_stems = stems(&claim.plain);
    let claim_sets: Vec<(u32, u32, String)> = counted_sets(&claim.plain)
        .into_iter()
        .filter(|(part, whole, _)| {
            !passages.near.iter().any(|&(i, _)| {
                counted_sets(&passages.lines[i].text)
                    .iter()
                    .any(|(p, w, _)| p == part && w == whole)
            })
        })
        .collect();
    passages.first("figure", passages.closest(), |text| {
        claim_sets.iter().find_map(|(part, whole, said)| {
            let (_, _, other) = counted_sets(text).into_iter().find(|(p, w, other)| {
                w == whole && p != part && counts_claimed(text, other, &claim_stems)
            })?;
            Some((said.clone(), other))
        })
    })
}

/// The same amount per another period: "a day a week" against "a day a month", on a line
/// that does not also state the claim's rate (another amount is the figures' business).
fn rate(claim: &Said, passages: &Passages) -> Option<Difference> {
    let claim_rates = rates(&claim.plain);
    passages.first("figure", passages.closest(), |text| {
        let known = rates(text);
        claim_rates.iter().find_map(|(value, what, per, said)| {
            let (_, _, _, other) = known
                .iter()
                .find(|(v, w, p, _)| w == what && v == value && p != per)?;
            (!known
                .iter()
                .any(|(v, w, p, _)| w == what && v == value && p == per))
            .then(|| (said.clone(), other.clone()))
        })
    })
}

/// A month told without its day, tied to the same word: "effective April" against "effective
/// May" on a close line that does not name April, where no nearby line ties the claim's month
/// to that word.
fn month_date(claim: &Said, passages: &Passages) -> Option<Difference> {
    let mut claim_months = month_cues(&claim.plain);
    if claim_months.is_empty() {
        claim_months.extend(sole_cue(&claim.plain));
    }
    let cues = |text: &str| -> Vec<(String, u32)> {
        month_cues(text)
            .into_iter()
            .chain(dated_cues(text))
            .chain(led_cues(text))
            .map(|(cue, month)| (same_event(&cue).to_string(), month))
            .collect()
    };
    let months_elsewhere: Vec<(String, u32)> = passages
        .near
        .iter()
        .flat_map(|&(i, _)| cues(&passages.lines[i].text))
        .collect();
    let nearest = &passages.near[..passages.near.len().min(2)];
    passages.first("date", nearest, |text| {
        let known = cues(text);
        claim_months.iter().find_map(|(cue, month)| {
            let event = same_event(cue).to_string();
            if months_elsewhere.contains(&(event.clone(), *month)) {
                return None;
            }
            let (_, other) = known.iter().find(|(c, m)| *c == event && m != month)?;
            let named = MONTHS[*month as usize - 1];
            (!names_month(text, *month)).then(|| {
                (
                    format!("{cue} {named}"),
                    format!("{cue} {}", MONTHS[*other as usize - 1]),
                )
            })
        })
    })
}

/// All of something where the notes say part of it: "every icon" against "half the icons",
/// on a close line that does not also say all of it.
fn scope(claim: &Said, passages: &Passages) -> Option<Difference> {
    let claim_wholes = wholes(&claim.plain);
    passages.first("scope", passages.closest(), |text| {
        let (parts, all) = (portions(text), wholes(text));
        let shares = |a: &[String], b: &[String]| a.iter().any(|w| b.contains(w));
        claim_wholes.iter().find_map(|(noun, said)| {
            let (_, part) = parts.iter().find(|(n, _)| shares(n, noun))?;
            (!all.iter().any(|(n, _)| shares(n, noun))).then(|| (said.clone(), part.clone()))
        })
    })
}

/// A number and the one or two words after it: "four breaking PRs", "took 4 pages with".
static COUNT_OF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[^\w.,:/$£€-])(\d{1,4}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty)\s+([a-z][a-z'-]*)(?:\s+([a-z][a-z'-]*))?")
        .expect("count of")
});

/// The (value, things, words) counts of `text`: a number followed by what it counts, either
/// the next word or (past one word that may be an adjective, "four breaking PRs") the one after
/// it, singular. Units, dates, times and glue words count nothing here: their figures are the
/// measures' business.
fn counts_of(text: &str) -> Vec<(u32, Vec<String>, String)> {
    let thing = |word: &str| -> Option<String> {
        let word = word.to_lowercase();
        // A verb ("the last one closed", "3 of 14 asked") is not what a number counts.
        let not_a_thing = is_glue(&word)
            || word.len() < 2
            || word.ends_with("ed")
            || word.ends_with("ing") && word.len() > 5
            || UNITS
                .iter()
                .any(|(words, _)| words.contains(&word.as_str()))
            || (1..=12).any(|month| names_month(&word, month))
            || matches!(
                word.as_str(),
                "am" | "pm"
                    | "percent"
                    | "pct"
                    | "w"
                    | "with"
                    | "at"
                    | "for"
                    | "is"
                    | "are"
                    | "was"
                    | "were"
                    | "it"
                    | "them"
                    | "us"
                    | "mine"
                    | "each"
                    | "times"
                    | "fortnight"
                    | "fortnights"
                    | "quarter"
                    | "quarters"
                    | "sprint"
                    | "sprints"
                    | "mon"
                    | "tue"
                    | "wed"
                    | "thu"
                    | "fri"
                    | "sat"
                    | "sun"
            );
        (!not_a_thing).then(|| {
            word.strip_suffix("es")
                .filter(|w| w.ends_with(['s', 'x', 'h']))
                .or_else(|| word.strip_suffix('s'))
                .unwrap_or(&word)
                .to_string()
        })
    };
    COUNT_OF
        .captures_iter(text)
        .filter_map(|c| {
            let number = c.get(1)?;
            // "one" is as often a pronoun ("the last one", "one of them") as a count.
            if number.as_str().eq_ignore_ascii_case("one") {
                return None;
            }
            let first = c.get(2)?.as_str();
            let value = count_value(number.as_str())?;
            // "the 2024 round", "our 2023 hires": a year names which one, it counts nothing;
            // nor does a standard's number ("61 SOC 2 controls").
            if (1990..=2100).contains(&value)
                || standard_name(&text[..number.start()], number.as_str(), first).is_some()
            {
                return None;
            }
            // What follows the number: a thing, or a word that may describe the next one
            // ("four breaking PRs"); never past a glue word ("50 on etl-01").
            // "turned up seven more": the thing is the one just told, counted as "more".
            if first.eq_ignore_ascii_case("more")
                && c.get(3).and_then(|m| thing(m.as_str())).is_none()
            {
                return Some((
                    value,
                    vec!["more".into()],
                    format!("{} {first}", number.as_str()),
                ));
            }
            if is_glue(&first.to_lowercase()) {
                return None;
            }
            let mut things: Vec<String> = thing(first).into_iter().collect();
            if let Some(second) = c.get(3).and_then(|m| thing(m.as_str())) {
                things.push(second);
            }
            if things.is_empty() {
                return None;
            }
            Some((value, things, format!("{} {first}", number.as_str())))
        })
        .collect()
}

/// A claim's period longer than a sprint: "in H2", "this quarter", "in 2024", "over the year".
static LONG_PERIOD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:H[12]|Q[1-4]|20\d\d|(?:this|last|the|a|per)\s+(?:half|quarter|year))\b")
        .expect("long period")
});
/// A line about one day or one week: "this week", "today", "per week".
static SHORT_PERIOD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:(?:this|last|a|per|each|every)\s+(?:week|day|sprint)|today|yesterday|weekly|daily)\b")
        .expect("short period")
});

/// A count of the same thing, another number: "four breaking PRs" against "2 PRs blocked",
/// "took 6 pages" against "took 4 pages", on one of the closest lines, where no nearby line
/// counts the claim's number of that thing. Scored as close as the line is, or at least as
/// `contradict` where both count the same two words in digits.
fn counted_thing(claim: &Said, passages: &Passages) -> Option<Difference> {
    let claim_counts = counts_of(&claim.plain);
    if claim_counts.is_empty() {
        return None;
    }
    let near_counts: Vec<Vec<(u32, Vec<String>, String)>> = passages
        .near
        .iter()
        .map(|&(i, _)| counts_of(&passages.lines[i].text))
        .collect();
    let shares = |a: &[String], b: &[String]| a.iter().any(|t| b.contains(t));
    // The closest lines are the first of `near`: their counts are already read.
    let closest = passages.closest().iter().zip(&near_counts);
    // A claim that counts over a half, a quarter or a year is not held against a line that
    // counts one week or one day ("40 PRs in H2" against "14 PR reviews this week").
    let long_period = LONG_PERIOD.is_match(&claim.plain);
    closest.into_iter().find_map(|(&(i, score), counts)| {
        if long_period && SHORT_PERIOD.is_match(&passages.lines[i].text) {
            return None;
        }
        let (said, other, same_words) = claim_counts.iter().find_map(|(value, things, said)| {
            // A nearby line that counts it, or gives it as a sum ("25 for Q1 + 25 for Q2").
            let backed = near_counts
                .iter()
                .flatten()
                .any(|(v, t, _)| v == value && shares(t, things))
                || passages.near_measures.iter().any(|(_, _, known)| {
                    known
                        .iter()
                        .any(|m| m.figure.raw.contains(" + ") && m.figure.value == *value as f64)
                });
            if backed {
                return None;
            }
            let (_, counted, other) = counts
                .iter()
                .find(|(v, t, _)| v != value && shares(t, things))?;
            let digits = |s: &str| s.starts_with(|c: char| c.is_ascii_digit());
            // The same two words counted ("11 external customer integrations" against "9
            // external customer integrations") make the line about the claim's thing, however
            // much else it says: the difference counts even where the line as a whole matches
            // the claim less than `contradict`. Digits on both sides: a number in words is often
            // not a count of record ("could merge two real events").
            let same_words =
                things.len() == 2 && counted == things && digits(said) && digits(other);
            Some((said.clone(), other.clone(), same_words))
        })?;
        let score = if same_words {
            score.max(passages.contradict)
        } else {
            score
        };
        Some(passages.difference_scored("figure", i, score, said, other))
    })
}

/// Adds `found` unless a difference on the same line already says it ("21" against "19" and
/// "21 of 23" against "19 of 23").
fn add_new(differences: &mut Vec<Difference>, found: Option<Difference>) {
    let Some(found) = found else {
        return;
    };
    match differences
        .iter_mut()
        .find(|d| d.path == found.path && d.line == found.line)
    {
        // Said again with more weight (`counted_thing`'s same two words): the restatement
        // stands in its place.
        Some(said) if found.match_score > said.match_score => *said = found,
        Some(_) => {}
        None => differences.push(found),
    }
}

/// A name with a one-digit number (`SEV-2`, `P1`, `L5`): a level or a category many things
/// share, not one thing.
fn is_level(measure: &Measure) -> bool {
    measure.kind.starts_with("id:")
        && measure
            .figure
            .raw
            .chars()
            .filter(char::is_ascii_digit)
            .count()
            == 1
}

/// `a` (one of `a_all`) and `b` (one of `b_all`) state the same value of the same thing: where
/// either text counts the other's thing with its own figure ("9 blockers, 21 serious and 17
/// minor" against "17 serious"), a value agrees only with a figure of its own kind.
fn agrees_here(a: &Measure, b: &Measure, a_all: &[Measure], b_all: &[Measure]) -> bool {
    let generic = |m: &Measure| m.kind == "count";
    agrees(a, b)
        && (a.kind == b.kind
            || generic(a)
            || generic(b)
            || !(b_all.iter().any(|x| x.kind == a.kind) || a_all.iter().any(|x| x.kind == b.kind)))
}

/// Two figures state the same value ("52,000" and "52k"); "no X" agrees only with its own X.
fn agrees(a: &Measure, b: &Measure) -> bool {
    if a.figure.value == 0.0 || b.figure.value == 0.0 {
        return a.kind == b.kind && a.figure.value == b.figure.value;
    }
    let (x, y) = (a.figure.value, b.figure.value);
    // A share or multiple in words ("a third", "halved") stands for any value within a tenth.
    if (a.spelled || b.spelled) && a.figure.percent == b.figure.percent {
        return (x - y).abs() <= 0.1 * x.abs().max(y.abs());
    }
    // A figure written rounded ("£9k", "1.2M", "£170k") stands for any value within one unit of
    // its last written digit: "£9k" for £9,400, "£170k" for £171k, but "£161k" is not £171k.
    let tolerance = rounding(a).max(rounding(b));
    if tolerance > 0.0 && a.figure.percent == b.figure.percent {
        return (x - y).abs() <= tolerance + 1e-9 * x.abs().max(y.abs());
    }
    facts::same(&a.figure, &b.figure)
}

/// How far a figure written with a scale word ("£9k", "1.2M", "3 million") may be from the value
/// it rounds: one unit of its last written digit at its scale, at most a tenth of it (0 for a figure written whole, a
/// duration such as "5h10m" or "20m", or a name).
fn rounding(measure: &Measure) -> f64 {
    // A duration's kind is its unit's ("20m" is minutes); every unit but "x" measures time.
    let duration = UNITS
        .iter()
        .any(|(_, kind)| *kind != "x" && *kind == measure.kind);
    let figure = &measure.figure;
    let raw = figure.raw.to_lowercase();
    let numbers: Vec<regex::Match> = NUMBER_PART.find_iter(&raw).collect();
    // One number and a scale word after it ("5h10m" is two numbers).
    let [number] = numbers[..] else {
        return 0.0;
    };
    let scale = raw[number.end()..].trim();
    let scaled = ["k", "m", "mn", "million", "thousand", "bn", "b", "billion"].contains(&scale);
    if figure.identifier || !scaled || duration {
        return 0.0;
    }
    let digits = number.as_str().replace(',', "");
    let Ok(written) = digits.parse::<f64>() else {
        return 0.0;
    };
    if written == 0.0 {
        return 0.0;
    }
    let unit = match digits.split_once('.') {
        Some((_, decimals)) => 10f64.powi(-(decimals.len() as i32)),
        None => 10f64.powi((digits.len() - digits.trim_end_matches('0').len()) as i32),
    };
    // A trailing zero may be rounding or a digit ("£170k", "10k"): never more than a tenth.
    (unit * figure.value / written).min(0.1 * figure.value.abs())
}

static NUMBER_PART: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d[\d,]*(?:\.\d+)?").expect("number part"));

/// "from 31% to 44%", "from 31% (2024) to 44%", "31% → 44%", "from ~120 a week to ~50",
/// "~30/month → ~8/month", "12 minutes, down from 50": a value and what it became.
static FROM_TO: LazyLock<Regex> = LazyLock::new(|| {
    let approx = r"(?:~\s*|about\s+|around\s+|roughly\s+|approximately\s+|nearly\s+|almost\s+)?";
    let number = r"(\d[\d,]*(?:\.\d+)?)";
    let unit = r"(?:\s*%|\s*/\s*[a-z]{1,8}\b|\s*[a-z]{1,10}\b(?:\s+(?:a|an|per)\s+[a-z]{1,8}\b)?|\s+(?:a|an|per)\s+[a-z]{1,8}\b)?";
    Regex::new(&format!(
        r"(?i)\bfrom\s+{approx}{number}{unit}(?:\s*\([^)]{{0,24}}\))?\s+to\s+{approx}{number}|{number}{unit}(?:\*{{1,2}}|_{{1,2}})?\s*(?:→|->)\s*(?:\*{{1,2}}|_{{1,2}})?{approx}{number}|{number}{unit},?\s+(?:down|up)\s+from\s+{approx}{number}"
    ))
    .expect("from to")
});

/// The (before, after) pairs a text states, before and after different.
fn before_after(text: &str) -> Vec<(f64, f64)> {
    let number = |m: Option<regex::Match>| -> Option<f64> {
        m.and_then(|m| m.as_str().replace(',', "").parse().ok())
    };
    FROM_TO
        .captures_iter(text)
        .filter_map(|c| {
            number(c.get(1))
                .zip(number(c.get(2)))
                .or_else(|| number(c.get(3)).zip(number(c.get(4))))
                // "12 minutes, down from 50": the value now, then what it was.
                .or_else(|| number(c.get(6)).zip(number(c.get(5))))
        })
        .filter(|(a, b)| a != b)
        .collect()
}

/// Whether a share or a multiple said in words ("halved", "doubled", "cut by a third") is the
/// change of one of these before and after pairs ("from 40 to 20 minutes"), within 15%.
fn changed_by(measure: &Measure, pairs: &[(f64, f64)]) -> bool {
    let near = |a: f64, b: f64| (a - b).abs() <= 0.15 * b.abs();
    let v = measure.figure.value;
    pairs.iter().any(|&(from, to)| {
        if from <= 0.0 || to <= 0.0 {
            return false;
        }
        if measure.figure.percent {
            near((1.0 - to / from) * 100.0, v) || near((to / from - 1.0) * 100.0, v)
        } else {
            near(to / from, v) || near(from / to, v)
        }
    })
}

/// "up 35%", "cut our bill by 40%", "35% more", "40% lower": a percentage and which way it went.
static DIRECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(rose|fell|grew|dropped|increased|decreased|cut|reduced|raised|lowered)\s+(?:[a-z'-]+\s+){0,4}?by\s+(?:about\s+|around\s+|roughly\s+|~)?(\d+(?:\.\d+)?)\s*%|\b(up|down|rose|fell|grew|dropped|increased|decreased|cut|reduced|raised|lowered)\s+(?:by\s+)?(?:about\s+|around\s+|roughly\s+|~)?(\d+(?:\.\d+)?)\s*%|\b(\d+(?:\.\d+)?)\s*%\s+(more|less|fewer|higher|lower|increase|decrease|reduction|drop|rise|above|below|under)\b|(?:^|[\s(|:,])([+\-−])(\d+(?:\.\d+)?)\s*%")
        .expect("direction")
});

/// Text that ends where an amount of change begins: "cut build times on atlas by (40%)".
static BY_AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bby\s+(?:about\s+|around\s+|roughly\s+|nearly\s+|almost\s+|over\s+|~)?$")
        .expect("by amount")
});

/// The percentages a text says went up (+1) or down (-1), with the words that say so.
fn directions(text: &str) -> Vec<(f64, i8, String)> {
    let sign = |word: &str| -> i8 {
        match word.to_lowercase().as_str() {
            "up" | "rose" | "grew" | "increased" | "raised" | "more" | "higher" | "increase"
            | "rise" | "above" | "+" => 1,
            _ => -1,
        }
    };
    DIRECTION
        .captures_iter(text)
        .filter_map(|c| {
            // "+6.2%", "-3%": a signed share is a change its sign tells.
            let (word, value) = match (c.get(1), c.get(3), c.get(5), c.get(7)) {
                (Some(word), _, _, _) => (word, c.get(2)?),
                (_, Some(word), _, _) => (word, c.get(4)?),
                (_, _, Some(value), _) => (c.get(6)?, value),
                (_, _, _, Some(sign)) => (sign, c.get(8)?),
                _ => return None,
            };
            Some((
                value.as_str().parse().ok()?,
                sign(word.as_str()),
                c.get(0)?
                    .as_str()
                    .trim_start_matches(['(', '|', ':', ','])
                    .trim()
                    .to_string(),
            ))
        })
        .collect()
}

/// A count written in digits or as a word ("four", "a dozen" is not one: too loose).
const COUNT: &str = r"\d{1,4}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve";

/// The value of a count in digits or words up to twenty (`COUNT` matches up to twelve).
fn count_value(word: &str) -> Option<u32> {
    const WORDS: [&str; 20] = [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ];
    let word = word.to_lowercase();
    word.parse()
        .ok()
        .or_else(|| WORDS.iter().position(|w| *w == word).map(|i| i as u32 + 1))
}

/// Whether `text` names month `month` (1-12) as a word ("Apr", "April", "Sept"), not inside
/// another word ("market" is not March).
fn names_month(text: &str, month: u32) -> bool {
    let name = MONTH_NAMES[month as usize - 1];
    text.split(|c: char| !c.is_alphabetic())
        .map(str::to_lowercase)
        .any(|w| w.len() >= 3 && name.starts_with(&w))
}

/// "all 12", "all six", "every one of the 9", "5 of 6", "four out of five", "5/6": a part of a
/// counted set, the whole when the text says all of it.
static COUNTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)\b(?:all|every\s+one\s+of|each\s+of)\s+(?:the\s+|of\s+the\s+|our\s+|my\s+)?({COUNT})\b|\b({COUNT})\s*(?:of|/|out\s+of)\s*(?:the\s+|our\s+|my\s+)?({COUNT})\b"
    ))
    .expect("counted")
});

/// The (part, whole) counts of a set a text states, as "all" or "part of" said them, with
/// the words that said so. A slash between two numbers that could be a day and a month
/// followed by a year (`4/5/2024`) is a date.
fn counted_sets(text: &str) -> Vec<(u32, u32, String)> {
    COUNTED
        .captures_iter(text)
        .filter_map(|c| {
            let whole = c.get(0)?;
            if text[whole.end()..].starts_with('/') || text[..whole.start()].ends_with('/') {
                return None;
            }
            let (part, of) = match c.get(1) {
                Some(all) => {
                    let n = count_value(all.as_str())?;
                    (n, n)
                }
                None => (
                    count_value(c.get(2)?.as_str())?,
                    count_value(c.get(3)?.as_str())?,
                ),
            };
            (part <= of && of > 1).then(|| (part, of, whole.as_str().to_string()))
        })
        .collect()
}

/// Whether the first word after `said` in `text` (past "the", "of"...) is one of the claim's
/// word stems: the notes count the same thing.
fn counts_claimed(text: &str, said: &str, claim_stems: &[String]) -> bool {
    let Some(at) = text.find(said) else {
        return false;
    };
    let mut after = text[at + said.len()..]
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .peekable();
    if after.peek().is_none() {
        // A count that ends its line counts what the line opens with: a table row's label
        // ("event types on Heron | 0 | 6 of 14").
        return text
            .split_whitespace()
            .take_while(|w| !w.starts_with(|c: char| c.is_ascii_digit()))
            .take(4)
            .any(|w| stems(w).iter().any(|s| claim_stems.contains(s)));
    }
    after
        .take(3)
        .find(|w| !is_glue(&w.to_lowercase()))
        .is_some_and(|w| stems(w).iter().any(|s| claim_stems.contains(s)))
}

/// "40 hours a week", "a day a month", "the day a week he gave it", "two releases per sprint":
/// an amount per period.
static RATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)\b(\d+(?:\.\d+)?|an?|the|{COUNT})\s+((?:[a-z][a-z-]*\s+){{0,2}}?)([a-z][a-z:-]*)\s+(?:a|an|per|each|every)\s+(day|week|fortnight|month|quarter|year|sprint)\b"
    ))
    .expect("rate")
});

/// The (amount, what, period, words) rates a text states: "a day a month" (or "the day a
/// month") → (1, "day", "month").
fn rates(text: &str) -> Vec<(f64, String, String, String)> {
    RATE.captures_iter(text)
        .filter_map(|c| {
            let amount = c.get(1)?.as_str();
            let value = match amount.to_lowercase().as_str() {
                "a" | "an" | "the" => 1.0,
                other => other
                    .parse()
                    .ok()
                    .or_else(|| count_value(other).map(f64::from))?,
            };
            let what: String = c.get(3)?.as_str().to_lowercase().chars().take(4).collect();
            if is_glue(&what) || STOP.iter().any(|s| s.starts_with(&what)) {
                return None;
            }
            Some((
                value,
                what,
                c.get(4)?.as_str().to_lowercase(),
                c.get(0)?.as_str().to_string(),
            ))
        })
        .collect()
}

/// "effective April", "launched in June", "signed in March": a month told without its day,
/// with the verb that ties it to what happened ("in" or "since" alone tie it to nothing).
/// The words that tie a month to what happened (`MONTH_CUE`, `CUE_WORD`).
macro_rules! cue_words {
    () => {
        r"effective|launched|shipped|started|ended|finished|deleted|promoted|released|went\s+live|landed|merged|signed|approved|accepted|agreed|hired|joined|presented|came\s+through|went\s+through"
    };
}

static MONTH_CUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(",
        cue_words!(),
        r")\s+(?:in\s+|on\s+)?(?:early\s+|mid-?\s*|late\s+|the\s+end\s+of\s+)?(",
        month_alternation!(),
        r")[a-z]*\b"
    ))
    .expect("month cue")
});

/// The words of `MONTH_CUE` alone, to find the full date that follows one.
static CUE_WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(concat!(r"(?i)\b(", cue_words!(), r")\b")).expect("cue word"));

/// The (cue word, month) pairs of the full dates a text ties to a cue word right after it:
/// "Status: **Accepted** (2024-08-20)" → ("accepted", 8), "shipped on 14 May" → ("shipped", 5).
fn dated_cues(text: &str) -> Vec<(String, u32)> {
    CUE_WORD
        .captures_iter(text)
        .filter_map(|c| {
            let whole = c.get(0)?;
            let rest = &text[whole.end()..];
            let end = rest.char_indices().nth(24).map_or(rest.len(), |(at, _)| at);
            let after = rest[..end].trim_start_matches(['*', '_', ' ', '(', ':']);
            // The date comes first ("accepted (2024-08-20)", "shipped on 14 May"), not later in
            // the sentence.
            let after = after.strip_prefix("on ").unwrap_or(after);
            if !after.starts_with(|c: char| c.is_alphanumeric()) {
                return None;
            }
            let (_, month) = *day_months(after).first()?;
            let cue = c.get(1)?.as_str().to_lowercase();
            Some((cue.split_whitespace().collect::<Vec<_>>().join(" "), month))
        })
        .collect()
}

/// One cue for `ONE_EVENT`'s words ("went live" and "shipped" are "launched").
fn same_event(cue: &str) -> &str {
    let last = cue.split_whitespace().next_back();
    if last.is_some_and(|w| ONE_EVENT.contains(&w)) {
        "launched"
    } else if matches!(last, Some("through" | "approved" | "promoted")) {
        // A promotion or a request that "came through" or "went through" was approved.
        "approved"
    } else {
        cue
    }
}

static LED_CUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(concat!(r"(?i)\b(", cue_words!(), r"|live)\b")).expect("led cue"));

/// The (cue word, month) pairs of a line that opens with a full date, as a log entry or a
/// dated table row does ("2025-02-27 | done | remaining 8 event types live"): the date dates
/// every event the line tells.
fn led_cues(text: &str) -> Vec<(String, u32)> {
    let start = text.trim_start_matches(['-', '*', '|', ' ']);
    let Some(first) = DAY_MONTH.find(start).filter(|m| m.start() == 0) else {
        return Vec::new();
    };
    let [(_, month)] = day_months(first.as_str())[..] else {
        return Vec::new();
    };
    LED_CUE
        .captures_iter(&start[first.end()..])
        .filter_map(|c| {
            let cue = c.get(1)?.as_str().to_lowercase();
            Some((cue.split_whitespace().collect::<Vec<_>>().join(" "), month))
        })
        .collect()
}

/// The cue word and month of a sentence that has one of each, a month without a day, however
/// far apart ("Matteo agreed to switch the OKR in early May" → ("agreed", 5)).
fn sole_cue(text: &str) -> Option<(String, u32)> {
    let mut cues = CUE_WORD.find_iter(text);
    let cue = cues.next()?.as_str().to_lowercase();
    // Capitalised month words, whole or short ("May", "Sept", "June"; "may" is a verb, "Marc" a
    // name), each with whether a number follows it ("June 4", "June 2025").
    let mut months = text
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.starts_with(char::is_uppercase))
        .filter_map(|w| {
            let lower = w.to_lowercase();
            let month = MONTH_NAMES.iter().position(|name| {
                lower == *name || lower == name[..3] || name.starts_with("sep") && lower == "sept"
            })?;
            let end = w.as_ptr() as usize - text.as_ptr() as usize + w.len();
            let numbered = text[end..]
                .trim_start()
                .starts_with(|c: char| c.is_ascii_digit());
            Some((month as u32 + 1, numbered))
        });
    let (month, numbered) = months.next()?;
    if cues.next().is_some() || months.next().is_some() || numbered || !day_months(text).is_empty()
    {
        return None;
    }
    Some((cue.split_whitespace().collect::<Vec<_>>().join(" "), month))
}

/// The (cue word, month) pairs a text names without a day ("effective April" → ("effective", 4)).
fn month_cues(text: &str) -> Vec<(String, u32)> {
    MONTH_CUE
        .captures_iter(text)
        .filter_map(|c| {
            let whole = c.get(0)?;
            // "in May 14" or "May 2025-05" are days: `day_months` tells those.
            let after = text[whole.end()..].trim_start();
            if after.starts_with(|c: char| c.is_ascii_digit()) && !after.starts_with("20") {
                return None;
            }
            let month = c.get(2)?.as_str().to_lowercase();
            // "may" is a month only when capitalised.
            if month == "may" && !c.get(2)?.as_str().starts_with('M') {
                return None;
            }
            let cue = c.get(1)?.as_str().to_lowercase();
            let number = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
            Some((cue.split_whitespace().collect::<Vec<_>>().join(" "), number))
        })
        .collect()
}

/// "every icon", "all the squads", "all 14 event types": the whole of something.
static ALL_NOUN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:every|each|all(?:\s+of)?(?:\s+the|\s+our|\s+its|\s+their|\s+my)?)(?:\s+\d+)?\s+(?P<noun>[a-z][a-z'-]*(?:\s+[a-z][a-z'-]*){0,2})",
    )
    .expect("all noun")
});
/// "half the icons", "some of our squads", "6 of 14 event types", "~80% of services": part of
/// something.
static PART_NOUN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(?:(?:half|some|most|many|a\s+few|several|a\s+third|a\s+quarter|two\s+thirds|a\s+handful)\s+(?:of\s+)?",
        r"|(?P<share>\d+(?:\.\d+)?)\s*%\s+of\s+",
        r"|(?P<n>\d+)\s+(?:out\s+)?of\s+(?:(?:the|our|their|its)\s+)?(?:(?P<m>\d+)\s+)?)",
        r"(?:(?:the|our|their|its)\s+)?(?P<noun>[a-z][a-z'-]*(?:\s+[a-z][a-z'-]*){0,2})",
    ))
    .expect("part noun")
});
/// Words after "every" or "all" that say how often or how much, not of what.
const NOT_SCOPE: &[&str] = &[
    "time", "week", "day", "days", "month", "year", "quarter", "sprint", "morning", "evening",
    "night", "other", "one", "along", "over", "kind", "sort", "way", "these", "those", "this",
    "that", "them", "their", "round", "hands", "told", "new",
];

/// The stems of the noun phrase a quantifier opens ("every icon" → "icon", "all 14 payment
/// event types" → "paym", "even", "type"), up to its first short or common word; none where
/// its first word says how often or how much.
fn scope_stems(phrase: &str) -> Option<Vec<String>> {
    let mut words = phrase.split_whitespace().map(str::to_lowercase).peekable();
    if NOT_SCOPE.contains(&words.peek()?.as_str()) {
        return None;
    }
    let stems: Vec<String> = words
        .take_while(|w| {
            w.chars().count() > 3 && !STOP.contains(&w.as_str()) && !NOT_SCOPE.contains(&w.as_str())
        })
        .map(|w| w.chars().take(4).collect())
        .collect();
    (!stems.is_empty()).then_some(stems)
}

/// The stems of what a text says all of, with the words.
fn wholes(text: &str) -> Vec<(Vec<String>, String)> {
    ALL_NOUN
        .captures_iter(text)
        .filter_map(|c| {
            Some((
                scope_stems(c.name("noun")?.as_str())?,
                c.get(0)?.as_str().to_string(),
            ))
        })
        .collect()
}

/// The stems of what a text says part of ("half the icons" → "icon"), with the words; a share
/// under 100% or a count under its total.
fn portions(text: &str) -> Vec<(Vec<String>, String)> {
    let number =
        |c: &regex::Captures, name: &str| c.name(name).and_then(|m| m.as_str().parse::<f64>().ok());
    PART_NOUN
        .captures_iter(text)
        .filter(|c| {
            number(c, "share").is_none_or(|share| share < 100.0)
                && number(c, "n").is_none_or(|n| number(c, "m").is_none_or(|m| n < m))
        })
        .filter_map(|c| {
            Some((
                scope_stems(c.name("noun")?.as_str())?,
                c.get(0)?.as_str().to_string(),
            ))
        })
        .collect()
}

static DAY_MONTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i)\b(?P<range>{DAY_RANGE})|\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({MONTH_ALTERNATION})[a-z]*\b|\b({MONTH_ALTERNATION})[a-z]*\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b|\b20\d{{2}}-(\d{{2}})-(\d{{2}})\b"))
        .expect("day month")
});

/// The (day, month) dates a text names.
fn day_months(text: &str) -> Vec<(u32, u32)> {
    let month_of = |name: &str| {
        MONTHS
            .iter()
            .position(|m| name.to_lowercase().starts_with(m))
            .map(|i| i as u32 + 1)
    };
    let mut out = Vec::new();
    for caps in DAY_MONTH.captures_iter(text) {
        if month_then_count(text, caps.get(0).expect("match").range()) {
            continue;
        }
        if let Some(range) = caps.name("range") {
            // "Jul 8–29", "8 to 29 July": both ends, in the month named.
            let range = range.as_str();
            let month = range
                .split(|c: char| !c.is_alphabetic())
                .find_map(|w| (w.len() >= 3).then(|| month_of(w)).flatten());
            let days: Vec<u32> = range
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|d| d.parse().ok())
                .collect();
            if let Some(month) = month {
                out.extend(
                    days.into_iter()
                        .filter(|d| (1..=31).contains(d))
                        .map(|d| (d, month)),
                );
            }
            continue;
        }
        // Group 1 is the range.
        let date = if let (Some(day), Some(month)) = (caps.get(2), caps.get(3)) {
            day.as_str().parse().ok().zip(month_of(month.as_str()))
        } else if let (Some(month), Some(day)) = (caps.get(4), caps.get(5)) {
            day.as_str().parse().ok().zip(month_of(month.as_str()))
        } else {
            let month: Option<u32> = caps.get(6).and_then(|m| m.as_str().parse().ok());
            let day: Option<u32> = caps.get(7).and_then(|m| m.as_str().parse().ok());
            day.zip(month)
        };
        if let Some((day, month)) =
            date.filter(|(d, m)| (1..=31).contains(d) && (1..=12).contains(m))
        {
            out.push((day, month));
        }
    }
    out.dedup();
    out
}

/// A draft's claims, and what the reader should know about how they were judged.
#[derive(Debug, Clone, Default)]
pub struct Audited {
    pub claims: Vec<Claim>,
    /// Notes left out as evidence, and why (a note that holds the draft itself).
    pub warnings: Vec<String>,
}

/// One draft to audit: its text, how to read it, and its own file when that may be indexed
/// (a draft is never evidence for itself).
pub struct Draft<'a> {
    pub source: &'a str,
    pub kind: InputKind,
    /// The draft's absolute path, as the index records a file (`Chunk::source`).
    pub file: Option<String>,
}

/// Audits one draft against the notes in `store`. `read` gives a note file's text for a chunk
/// (None when it cannot be read: the chunk's own text is used).
pub fn audit(
    embedder: &dyn Embedder,
    store: &dyn VectorStore,
    draft: &Draft,
    filter: &SearchFilter,
    settings: &Settings,
    read: &dyn Fn(&Chunk) -> Option<String>,
) -> Result<Audited> {
    let (source, kind) = (draft.source, draft.kind);
    let spans = claim_spans(source, kind);
    if spans.is_empty() {
        return Ok(Audited::default());
    }
    let texts: Vec<String> = spans.iter().map(|s| plain(&source[s.clone()])).collect();
    let vectors = embedder.embed(
        &texts
            .iter()
            .map(|t| glossary::expand(t))
            .collect::<Vec<_>>(),
    )?;
    let mut files: HashMap<String, Option<String>> = HashMap::new();
    // The note path of each file read (by its source).
    let mut paths: HashMap<String, String> = HashMap::new();
    // A draft that is itself indexed is kept out by the store, so its chunks take no slot of
    // the pool (unless the caller already keeps another file out: then the check below does).
    let filter = SearchFilter {
        not_source: filter.not_source.clone().or_else(|| draft.file.clone()),
        ..filter.clone()
    };

    // Lines of every retrieved chunk, per claim; the notes in `skip` (copies of the draft) are
    // passed over and do not take a place in the pool.
    let retrieve_lines = |skip: &[String],
                          files: &mut HashMap<String, Option<String>>,
                          paths: &mut HashMap<String, String>|
     -> Result<Vec<Vec<Line>>> {
        let mut per_claim: Vec<Vec<Line>> = Vec::with_capacity(spans.len());
        for (text, vector) in texts.iter().zip(&vectors) {
            let mut lines: Vec<Line> = Vec::new();
            let mut seen: Vec<(String, usize)> = Vec::new();
            for mode in [SearchMode::Hybrid, SearchMode::Dense] {
                let hits = retrieve::search_embedded(
                    store,
                    &retrieve::Request {
                        text: text.clone(),
                        k: if skip.is_empty() {
                            settings.pool
                        } else {
                            settings.pool * 3
                        },
                        filter: filter.clone(),
                        mode,
                    },
                    vector.clone(),
                )?;
                let hits = hits
                    .into_iter()
                    .filter(|hit| !skip.contains(&hit.chunk.source))
                    .take(settings.pool);
                for hit in hits {
                    if hit.chunk.steers_model
                        || draft.file.as_deref() == Some(hit.chunk.source.as_str())
                    {
                        continue;
                    }
                    // Each note file is read once per draft.
                    let file = files
                        .entry(hit.chunk.source.clone())
                        .or_insert_with(|| read(&hit.chunk));
                    paths
                        .entry(hit.chunk.source.clone())
                        .or_insert_with(|| hit.chunk.path.clone());
                    for line in evidence_lines(&hit.chunk, file.as_deref()) {
                        let key = (line.path.clone(), line.line);
                        if !seen.contains(&key) {
                            seen.push(key);
                            lines.push(line);
                        }
                    }
                }
            }
            per_claim.push(lines);
        }
        Ok(per_claim)
    };
    let mut per_claim = retrieve_lines(&[], &mut files, &mut paths)?;
    let copies = copies::copies_of(&texts, &files, &paths);
    if !copies.is_empty() {
        let sources: Vec<String> = copies.iter().map(|c| c.source.clone()).collect();
        per_claim = retrieve_lines(&sources, &mut files, &mut paths)?;
    }
    let warnings: Vec<String> = copies
        .iter()
        .map(|c| {
            format!(
                "{} holds this draft ({} of its {} claims word for word), so it was not used as evidence; audit the draft at that path, or keep drafts out of the note roots",
                c.path, c.claims, c.of
            )
        })
        .collect();
    // One embedding per distinct line.
    let mut distinct: Vec<String> = per_claim.iter().flatten().map(|l| l.text.clone()).collect();
    distinct.sort();
    distinct.dedup();
    let line_vectors = if distinct.is_empty() {
        Vec::new()
    } else {
        embedder.embed(
            &distinct
                .iter()
                .map(|t| glossary::expand(t))
                .collect::<Vec<_>>(),
        )?
    };
    let vector_of = |text: &str| -> Option<&Vec<f32>> {
        distinct
            .binary_search_by(|d| d.as_str().cmp(text))
            .ok()
            .map(|i| &line_vectors[i])
    };

    let positions = LineIndex::new(source);
    let mut claims = Vec::with_capacity(spans.len());
    for ((span, text), (vector, lines)) in
        spans.iter().zip(&texts).zip(vectors.iter().zip(&per_claim))
    {
        let claim_stems = stems(text);
        let scores: Vec<f32> = lines
            .iter()
            .map(|line| {
                let cosine = vector_of(&line.text).map_or(0.0, |v| retrieve::cosine(vector, v));
                let shared = overlap(&claim_stems, &stems(&line.text));
                0.6 * cosine + 0.4 * shared
            })
            .collect();
        let (verdict, score, evidence, differences, missing_figures, matched_figures) =
            judge(text, lines, &scores, settings);
        let (line, column) = positions.position(span.start);
        claims.push(Claim {
            text: source[span.clone()].to_string(),
            line,
            column,
            start: span.start,
            end: span.end,
            verdict,
            score,
            evidence,
            differences,
            missing_figures,
            matched_figures,
        });
    }
    Ok(Audited { claims, warnings })
}

/// Claims per verdict, as `audit --format json` and `/v1/audit` summarise a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Counts {
    pub claims: usize,
    pub supported: usize,
    pub contradicted: usize,
    pub unsupported: usize,
}

pub fn counts(claims: &[Claim]) -> Counts {
    let n = |v: Verdict| claims.iter().filter(|c| c.verdict == v).count();
    Counts {
        claims: claims.len(),
        supported: n(Verdict::Supported),
        contradicted: n(Verdict::Contradicted),
        unsupported: n(Verdict::Unsupported),
    }
}

/// One line per difference, in words: "claim 35%, notes 28% at weekly/2025-W28.md:14".
pub fn describe(difference: &Difference) -> String {
    let what = match &*difference.kind {
        "owner" => format!("the notes credit {} with it", difference.notes),
        "outcome" => format!(
            "claim {}, the notes say {}",
            difference.claim, difference.notes
        ),
        _ => format!("claim {}, notes {}", difference.claim, difference.notes),
    };
    format!("{what} at {}:{}", difference.path, difference.line)
}

/// Judges `claim` against each line of `notes` as if every line matched it at `score`
/// (for property tests: any text, no panic, differences name real values).
#[cfg(test)]
pub(crate) fn judge_lines(claim: &str, notes: &str, score: f32) -> (Verdict, Vec<Difference>) {
    let lines: Vec<Line> = notes
        .lines()
        .enumerate()
        .map(|(i, l)| Line {
            path: "n.md".into(),
            line: i + 1,
            text: plain(l),
        })
        .collect();
    let scores = vec![score; lines.len()];
    let claim = plain(claim);
    let (verdict, _, _, differences, _, _) = judge(&claim, &lines, &scores, &Settings::default());
    (verdict, differences)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_achievements_not_plans_thanks_or_questions() {
        for claim in [
            "Led the move of the billing jobs to the new queue.",
            "I cut the nightly build from 40 to 25 minutes.",
            "We shipped the export feature in March.",
            "Mentored two engineers through their first on-call rotation.",
            "Our team reduced paging noise by 30%.",
            // A feeling said after the achievement leaves it a claim.
            "We moved four services in May, which I was glad about.",
            // Past tense that reads like the imperative.
            "Cut the cloud bill by 30% by the end of Q2 by moving batch jobs to spot nodes.",
            // A plan or an opinion in a later clause is an aside to what was done.
            "I moved the cron jobs to the queue, which would have taken a quarter by hand.",
            "In May I rewrote the importer — the old one would drop any row with a tab.",
            "I merged the two dashboards, and I think the on-call folks are happier for it.",
            // A standing state, a habit, or something that came through.
            "The new scheduler now handles every batch job in the company.",
            "Today the linter runs on all 9 of our frontend repos.",
            "The replica costs $2k a month, half the old one.",
            "I also host a fortnightly lunch-and-learn for the new hires.",
            "I've been coaching two of the tech leads on writing design docs.",
            "My promotion to Staff came through in October.",
        ] {
            assert!(is_claim(claim), "{claim}");
        }
        for other in [
            "Next half I will take on the search rewrite.",
            "Thanks to Ana for covering my on-call week.",
            "I think the team is in a good place.",
            "What should I focus on next quarter?",
            "Goals for H2",
            "Enhanced Performance and Contributions",
            "The weather was nice.",
            // A promise in a contraction, and a feeling about the work, are not claims of it.
            "You'll leave with two checks you can put into your own pipeline.",
            "I'm still a little embarrassed by how long I ignored the flaky tests.",
            "The part I'm proudest of is that the team owns it now.",
            // A condition, and a note on how the document itself was written.
            "If the rotation still woke you up for alerts nobody owned, tell me.",
            "I kept to the format I used to write this last year.",
            // A goal in the imperative.
            "Get the nightly import under 20 minutes by the end of Q3 without new hardware.",
            "Ship the partner API to the two pilot customers by March.",
            // A plan or a feeling before anything done; an -ed adjective is not a deed.
            "I want the rota to cover two time zones, which it never has.",
            "For Q4 I want Bo to run the incident reviews himself.",
            "It reads as too detailed, I think, for the committee.",
            "Some of the migration took longer than I'd like to admit.",
            "Looking back, the audit mattered more than the rewrite.",
            "I'm still annoyed that I approved the rollout on a Friday.",
            // Instructions to oneself, and the document about itself.
            "Keep the answer under two minutes and start with the result.",
            "You asked for three examples, so here's what I picked.",
            "I've grouped it by quarter rather than by project.",
        ] {
            assert!(!is_claim(other), "{other}");
        }
    }

    #[test]
    fn measures_know_their_units_and_leave_dates_alone() {
        let kinds: Vec<(String, String)> = measures("Cut p99 from 900 ms to 300ms, saved $4k and 12 hours on 2024-03-14 in Q3; 30% fewer pages")
            .into_iter()
            .map(|m| (m.figure.raw, m.kind))
            .collect();
        assert!(kinds.contains(&("900".into(), "ms".into())), "{kinds:?}");
        assert!(kinds.contains(&("12".into(), "hour".into())), "{kinds:?}");
        assert!(kinds.contains(&("30%".into(), "%".into())), "{kinds:?}");
        assert!(kinds.contains(&("300ms".into(), "ms".into())), "{kinds:?}");
        assert!(kinds.contains(&("Q3".into(), "id:q".into())), "{kinds:?}");
        assert!(
            !kinds.iter().any(|(raw, _)| raw == "14" || raw == "2024"),
            "{kinds:?}"
        );
        // Week 36 is a date; a value after "per week" (a table row of a rate) is a figure.
        assert!(measures("wk 36 cost: £171k")
            .iter()
            .all(|m| m.figure.raw != "36"));
        let row: Vec<String> = measures("pages per week 23 6")
            .into_iter()
            .map(|m| m.figure.raw)
            .collect();
        assert_eq!(row, ["23", "6"]);
        // A month and then a count of things is that month's amount; "on Dec 12" stays a date.
        let counted: Vec<(String, String)> =
            measures("November 19 pages, December 12 pages, 2 at night")
                .into_iter()
                .map(|m| (m.figure.raw, m.kind))
                .collect();
        assert!(
            counted.contains(&("12".into(), "pages".into())),
            "{counted:?}"
        );
        assert!(
            counted.contains(&("19".into(), "pages".into())),
            "{counted:?}"
        );
        assert!(day_months("November 19 pages").is_empty());
        assert!(measures("on Dec 12 teams met")
            .iter()
            .all(|m| m.figure.raw != "12"));
        assert_eq!(day_months("on Dec 12 teams met"), [(12, 12)]);
        assert_eq!(day_months("shipped Dec 12, as planned"), [(12, 12)]);
    }

    #[test]
    fn dates_read_every_common_form() {
        assert_eq!(day_months("shipped on 2024-03-14"), [(14, 3)]);
        assert_eq!(day_months("approved on 4 November"), [(4, 11)]);
        assert_eq!(day_months("cutover June 11th"), [(11, 6)]);
        assert!(day_months("We may ship 3 of them").is_empty());
        // A range of days names both ends, whichever way round it is written.
        assert_eq!(day_months("holdout Jul 8–29, 90% fast"), [(8, 7), (29, 7)]);
        assert_eq!(
            day_months("for three weeks, 8 to 29 July"),
            [(8, 7), (29, 7)]
        );
        assert_eq!(day_months("froze Mar 3-14"), [(3, 3), (14, 3)]);
        // Not across a line break: a list item's count is no day.
        assert_eq!(day_months("shipped Jul 8\n- 29 tickets closed"), [(8, 7)]);
        // ...and neither end is a figure of its own.
        assert!(measures("holdout Jul 8–29 on 10% of traffic")
            .iter()
            .all(|m| m.figure.raw == "10%"));
        assert!(measures("for three weeks, 8 to 29 July")
            .iter()
            .all(|m| m.figure.raw != "8"));
    }

    #[test]
    fn a_shared_level_does_not_tie_a_claim_to_a_line() {
        let (v, _) = verdict(
            "Cut mean time to resolve across all SEV-2s from 52 minutes to 18.",
            "SEV-2 on Nov 6, he was IC end to end, 47 min, blameless review after",
            0.9,
        );
        assert_ne!(v, Verdict::Contradicted);
        let m = |t: &str| measures(t).remove(0);
        assert!(is_level(&m("SEV-2 paged")) && is_level(&m("a P1 bug")));
        assert!(!is_level(&m("INC-2291 retro")) && !is_level(&m("RFC-007 merged")));
    }

    #[test]
    fn a_p_value_is_a_kind_of_its_own() {
        let kinds = |t: &str| measures(t).into_iter().map(|m| m.kind).collect::<Vec<_>>();
        assert_eq!(kinds("won by 2.4% relative at p = 0.01"), ["%", "p-value"]);
        assert_eq!(kinds("significant (p<0.05)"), ["p-value"]);
        assert_eq!(kinds("a p-value of 0.2"), ["p-value"]);
        assert_eq!(kinds("dropped 0.01 points"), ["point"]);
    }

    #[test]
    fn rounded_figures_agree_with_what_they_round() {
        let m = |t: &str| measures(t).remove(0);
        assert!(agrees(&m("about £9,900 a month"), &m("£9k a month")));
        assert!(!agrees(&m("120k tickets"), &m("210k tickets")));
        assert!(agrees(&m("52,000 quotes"), &m("52k quotes")));
        // A rounded figure stands for what it rounds, not for any value within a tenth.
        assert!(agrees(&m("£170k a month"), &m("£171k a month")));
        assert!(agrees(&m("1.2M events"), &m("1,180,000 events")));
        assert!(!agrees(&m("£161k a month"), &m("£171k a month")));
        assert!(!agrees(&m("no rollbacks"), &m("zero incidents")));
    }

    fn verdict(claim: &str, note: &str, score: f32) -> (Verdict, Vec<Difference>) {
        let lines = [Line {
            path: "log.md".into(),
            line: 7,
            text: note.into(),
        }];
        let (verdict, _, _, differences, _, _) =
            judge(claim, &lines, &[score], &Settings::default());
        (verdict, differences)
    }

    /// The differences of a claim the notes contradict, the first of `kind`.
    fn contradicted(claim: &str, note: &str, kind: &str) -> Vec<Difference> {
        let (v, d) = verdict(claim, note, 0.7);
        assert_eq!(
            (v, d.first().map(|d| &*d.kind)),
            (Verdict::Contradicted, Some(kind)),
            "{d:?}"
        );
        d
    }

    fn supported(claim: &str, note: &str) {
        let (v, d) = verdict(claim, note, 0.7);
        assert_eq!(v, Verdict::Supported, "{claim} / {note}: {d:?}");
    }

    fn unsupported(claim: &str, note: &str) {
        let (v, d) = verdict(claim, note, 0.7);
        assert_eq!(v, Verdict::Unsupported, "{claim} / {note}: {d:?}");
    }

    fn not_contradicted(claim: &str, note: &str) {
        let (v, d) = verdict(claim, note, 0.7);
        assert_ne!(v, Verdict::Contradicted, "{claim} / {note}: {d:?}");
    }

    /// A difference's two quoted sides (claim, notes).
    fn quoted(d: &Difference) -> (&str, &str) {
        (d.claim.as_str(), d.notes.as_str())
    }

    #[test]
    fn verdicts_compare_values_owners_and_dates() {
        let (v, d) = verdict(
            "I deleted 21 of the 23 legacy rules.",
            "deleted 19 of the 23 old rules",
            0.7,
        );
        assert_eq!(v, Verdict::Contradicted);
        assert_eq!((d[0].claim.as_str(), d[0].notes.as_str()), ("21", "19"));
        assert_eq!(describe(&d[0]), "claim 21, notes 19 at log.md:7");
        supported(
            "I deleted 19 of the 23 legacy rules.",
            "deleted 19 of the 23 old rules",
        );
        let (v, _) = verdict(
            "I deleted 19 of the 23 legacy rules.",
            "deleted 19 of the 23 old rules",
            0.2,
        );
        assert_eq!(v, Verdict::Unsupported);
        let (v, d) = verdict(
            "I negotiated the vendor contract down to $1,950 a month.",
            "Greta negotiated the vendor contract: $1,950/mo",
            0.7,
        );
        assert_eq!(
            (v, &*d[0].kind, d[0].notes.as_str()),
            (Verdict::Contradicted, "owner", "Greta")
        );
        assert_eq!(
            describe(&d[0]),
            "the notes credit Greta with it at log.md:7"
        );
        let (v, d) = verdict(
            "The promotion was approved at calibration on 4 November.",
            "Calibration 4 Dec: promotion approved",
            0.6,
        );
        assert_eq!((v, &*d[0].kind), (Verdict::Contradicted, "date"));
        let (v, _) = verdict(
            "p99 latency went from 1.9 s to 310 ms.",
            "p99 1.9 s → 410 ms after the fix",
            0.7,
        );
        assert_eq!(v, Verdict::Contradicted);
    }

    #[test]
    fn a_neighbouring_line_backs_a_figure_only_when_it_is_about_the_claim() {
        let judged = |claim: &str, close: &str, next: &str| {
            let lines = [
                Line {
                    path: "log.md".into(),
                    line: 7,
                    text: close.into(),
                },
                Line {
                    path: "log.md".into(),
                    line: 8,
                    text: next.into(),
                },
            ];
            let (verdict, _, _, differences, _, _) =
                judge(claim, &lines, &[0.7, 0.1], &Settings::default());
            (verdict, differences)
        };
        let (v, d) = judged(
            "Paging rules went from 23 to 4.",
            "paging rules 23 6",
            "every service has its own rota by Q3 (4 of 9 do now)",
        );
        assert_eq!(v, Verdict::Contradicted, "{d:?}");
        assert_eq!((d[0].claim.as_str(), d[0].notes.as_str()), ("4", "6"));
        // A figure on the next line of a log, about the same thing, still backs the claim.
        let (v, d) = judged(
            "I shipped the batching fix that took the export API's p99 to 310 ms.",
            "shipped the batching fix for the export API",
            "export p99 after: 310 ms",
        );
        assert_eq!(v, Verdict::Supported, "{d:?}");
    }

    #[test]
    fn the_writer_claims_a_deed_wherever_the_i_stands() {
        for claim in [
            "I negotiated the vendor contract down to $1,950 a month.",
            "Vendors: I negotiated the contract down to $1,950 a month.",
            "In March I personally negotiated the vendor contract down to $1,950 a month.",
            "Negotiated the vendor contract down to $1,950 a month.",
        ] {
            let (v, d) = verdict(
                claim,
                "Greta negotiated the vendor contract: $1,950/mo",
                0.7,
            );
            assert_eq!(
                (v, &*d[0].kind),
                (Verdict::Contradicted, "owner"),
                "{claim}"
            );
        }
        // Shared credit, or no deed of the writer's: the notes naming Greta is no contradiction.
        for claim in [
            "Greta and I negotiated the vendor contract down to $1,950 a month.",
            "We negotiated the vendor contract down to $1,950 a month.",
        ] {
            let (v, _) = verdict(
                claim,
                "Greta negotiated the vendor contract: $1,950/mo",
                0.7,
            );
            assert_eq!(v, Verdict::Supported, "{claim}");
        }
    }

    #[test]
    fn a_change_told_the_wrong_way_round_is_a_difference() {
        let d = contradicted(
            "Support tickets per week fell from 320 to 180 after the new help centre.",
            "help centre launch: tickets/week went from 180 (Jan) to 320",
            "order",
        );
        assert_eq!(
            describe(&d[0]),
            "claim from 320 to 180, notes from 180 to 320 at log.md:7"
        );
        supported(
            "Support tickets per week fell from 320 to 180 after the new help centre.",
            "help centre launch: tickets/week 320 → 180",
        );
        // (claim, a line that tells it the other way, what each says, a line that backs it).
        // A signed share tells its way ("-3%"), as do "above" and "below".
        for (claim, against, said, backing) in [
            (
                "Moving the builds to spot instances cut our CI bill by 35%.",
                "spot instances for CI: bill up 35% (more retries)",
                ("cut our CI bill by 35%", "up 35%"),
                Some("spot instances for CI: bill down 35%, 12% more retries"),
            ),
            (
                "In the A/B test the average selling price rose about 3% on listings.",
                "A/B test results: average selling price -3% on listings, as expected",
                ("rose about 3%", "-3%"),
                Some("A/B test results: average selling price +3% on listings, as expected"),
            ),
            (
                "The forecast held: H1 revenue came in about 2% above the middle line.",
                "forecast check: H1 revenue about 2% below the middle line",
                ("2% above", "2% below"),
                None,
            ),
        ] {
            let d = contradicted(claim, against, "direction");
            assert_eq!(quoted(&d[0]), said);
            if let Some(backing) = backing {
                supported(claim, backing);
            }
        }
    }

    #[test]
    fn all_of_a_set_where_the_notes_count_part_of_it_is_a_difference() {
        // (claim, a line that counts part of it, what each says, a line that does not differ).
        // A count that ends a table row counts what the row names.
        for (claim, against, said, other) in [
            (
                "All six review actions were closed within a month.",
                "review actions: 5 of 6 closed within 30 days, #6 waits on finance",
                ("All six", "5 of 6"),
                "review actions: 6/6 closed within 30 days",
            ),
            (
                "At the cutover the new pipeline carried all 14 payment event types.",
                "payment event types on the new pipeline | 0 | 6 of 14",
                ("all 14", "6 of 14"),
                "dashboards moved | 0 | 6 of 14",
            ),
        ] {
            let d = contradicted(claim, against, "figure");
            assert_eq!(quoted(&d[0]), said);
            not_contradicted(claim, other);
        }
        let d = contradicted(
            "Four of the five squads adopted the new release template.",
            "release template adoption: 5/5 squads by end of June",
            "figure",
        );
        assert_eq!(quoted(&d[0]), ("Four of the five", "5/5"));
        supported(
            "Three out of four regions moved to the new billing run.",
            "billing run: 3 of 4 regions moved, APAC next",
        );
        // A count of something else on the line ("4/4 replied") is not the claim's count.
        not_contradicted(
            "Only 3 of 4 leads said the new rota was fair.",
            "survey of leads (4/4 replied): rota fair → 3 yes",
        );
        // A date is not a part of a set.
        assert!(counted_sets("went live 4/5/2024, all good").is_empty());
        assert_eq!(counted_sets("each of the 3 teams")[0].0, 3);
    }

    #[test]
    fn shares_and_multiples_in_words_back_figures_but_never_contradict() {
        for (claim, note) in [
            ("I halved the nightly build time.", "down 50%"),
            ("We cut the cloud bill by a third.", "-33%"),
            ("Doubled the number of weekly demos.", "2x"),
            (
                "A quarter of the tickets were closed by the bot.",
                "25 percent",
            ),
        ] {
            let (said, known) = (measures(claim), measures(note));
            assert!(
                said.iter()
                    .any(|s| s.spelled && known.iter().any(|k| agrees(s, k))),
                "{claim}: {said:?} against {known:?}"
            );
        }
        // A spelled share is a figure the notes back: with one other figure they do not hold,
        // the claim is still as much backed as not.
        supported(
            "I halved the nightly build time across 14 repos.",
            "nightly build: down 50% since the cache change",
        );
        assert!(measures("within a quarter, half the time").is_empty());
        not_contradicted(
            "We cut the cloud bill by half.",
            "cloud bill -30% after rightsizing",
        );
    }

    #[test]
    fn a_share_or_multiple_in_words_needs_backing_like_a_figure() {
        // The topic alone does not back "halved": nothing near says by how much.
        unsupported(
            "The preview deploys halved the design bugs reaching staging.",
            "Preview deploys now run for every pull request; design reviews happen there.",
        );
        // A before and after pair of that size backs it, and so does the share as a figure.
        supported(
            "The preview deploys halved the design bugs reaching staging.",
            "design bugs reaching staging went from 12 to 6 a month after preview deploys",
        );
        supported(
            "We doubled the weekly demos.",
            "weekly demos from 2 to 4 since the new format",
        );
        supported(
            "The preview deploys halved the design bugs reaching staging.",
            "design bugs reaching staging down 50% with preview deploys",
        );
        // Spelled-out counts stay round-offs, not figures to look for.
        supported(
            "It took three weeks to roll out the preview deploys.",
            "preview deploys rolled out to every team",
        );
    }

    #[test]
    fn a_value_agrees_only_with_a_figure_of_its_own_kind_when_both_are_counted() {
        contradicted(
            "We closed 12 critical and 30 minor findings before the audit.",
            "pre-audit: closed 30 critical, 12 minor findings",
            "figure",
        );
        supported(
            "We closed 12 critical and 30 minor findings before the audit.",
            "pre-audit: closed 12 critical, 30 minor findings",
        );
    }

    #[test]
    fn a_month_tied_to_the_same_word_and_all_against_part_are_differences() {
        let d = contradicted(
            "Her promotion to principal was approved, effective April.",
            "promotion to principal approved at committee, effective June",
            "date",
        );
        assert_eq!(quoted(&d[0]), ("effective apr", "effective jun"));
        not_contradicted(
            "Her promotion to principal was approved, effective April.",
            "promotion to principal approved in June, effective April",
        );
        // A full date right after the word ties its month to it as well.
        let d = contradicted(
            "Our retry-budget RFC was accepted in March 2025 after two rounds of review.",
            "Retry-budget RFC. Status: **Accepted** (2025-05-14). Reviewers: Noor, Sven",
            "date",
        );
        assert_eq!(quoted(&d[0]), ("accepted mar", "accepted may"));
        not_contradicted(
            "Our retry-budget RFC was accepted in March 2025 after two rounds of review.",
            "Retry-budget RFC. Status: **Accepted** (2025-03-14). Reviewers: Noor, Sven",
        );
        assert_eq!(
            dated_cues("shipped on 14 May, then fixed"),
            [("shipped".to_string(), 5)]
        );
        // A date later in the sentence is not the word's.
        assert!(dated_cues("accepted by the whole team and, much later, on 14 May").is_empty());
        // "may" in lower case is not a month.
        assert!(month_cues("by may be late").is_empty());
        assert!(!names_month("market summary for the mayor", 3));
        assert!(names_month("since Sept, then March", 9) && names_month("in Mar", 3));
        contradicted(
            "The new contrast tokens fixed every chart on the dashboard.",
            "contrast tokens shipped: fixes half the charts, rest need the new palette",
            "scope",
        );
        not_contradicted(
            "The new contrast tokens fixed every chart on the dashboard.",
            "contrast tokens shipped: half the charts first, then all charts by Friday",
        );
        assert!(wholes("we met every week, all the time").is_empty());
        // A count under its total, or a share under 100%, of the same thing is part of it.
        contradicted(
            "At launch the gateway carried all of our partner feed types.",
            "gateway launch: 5 of 12 feed types migrated, the rest in phase 2",
            "scope",
        );
        contradicted(
            "The codemod moved every repository to the new build file.",
            "codemod result: about 70% of repositories converted cleanly",
            "scope",
        );
        not_contradicted(
            "At launch the gateway carried all of our partner feed types.",
            "gateway launch: 12 of 12 feed types migrated",
        );
    }

    #[test]
    fn a_line_that_opens_with_a_date_dates_what_it_tells() {
        let claim =
            "Phase 2 of the migration, the remaining eight event types, went live in January 2025.";
        let d = contradicted(
            claim,
            "2025-02-27 | done (phase 2) | remaining 8 event types of the migration live",
            "date",
        );
        assert_eq!(quoted(&d[0]), ("went live jan", "went live feb"));
        not_contradicted(
            claim,
            "2025-01-27 | done (phase 2) | remaining 8 event types of the migration live",
        );
        assert_eq!(
            led_cues("- 19 Mar: shipped the relist fix"),
            [("shipped".to_string(), 3)]
        );
        // A date later in the line dates nothing before it.
        assert!(led_cues("shipped the relist fix, reviewed 19 Mar").is_empty());
    }

    #[test]
    fn an_amount_per_another_period_is_a_difference() {
        let d = contradicted(
            "I spent a day a week pairing with the new hires.",
            "pairing with new hires: a day a month since May",
            "figure",
        );
        assert_eq!(quoted(&d[0]), ("a day a week", "a day a month"));
        not_contradicted(
            "I spent a day a week pairing with the new hires.",
            "pairing with new hires: one day a week since May",
        );
        assert_eq!(
            rates("about 40 hours per week on call"),
            vec![(
                40.0,
                "hour".into(),
                "week".into(),
                "40 hours per week".into()
            )]
        );
        assert!(rates("ran it once a week").is_empty());
        // "the day a month he'd been spending": one day, as "a day a month" says it.
        let d = contradicted(
            "Tomas got back the day a month he'd been spending on the old build.",
            "Tomas spends about 1 day a week keeping the old build alive",
            "figure",
        );
        assert_eq!(quoted(&d[0]), ("the day a month", "1 day a week"));
    }

    #[test]
    fn owners_are_people_named_as_leading() {
        assert_eq!(
            other_owner("Marisol led the vendor review").as_deref(),
            Some("Marisol")
        );
        assert_eq!(
            other_owner("migration owned by Tariq").as_deref(),
            Some("Tariq")
        );
        assert_eq!(other_owner("The team led the charge"), None);
        assert!(other_doer("pricing model: Finance's number, not mine", None).is_some());
        assert_eq!(
            other_doer("my manager ran the pricing review", Some("ran")).as_deref(),
            Some("my manager")
        );
        assert_eq!(
            other_doer("Our tech lead wrote the migration plan", Some("wrote")).as_deref(),
            Some("Our tech lead")
        );
        assert_eq!(other_owner("I led the review"), None);
    }
    #[test]
    fn a_change_whose_other_end_the_notes_give_otherwise_is_a_difference() {
        // The notes' "18" elsewhere (a head count) does not back the change's end.
        let (v, d) = judge_lines(
            "Since the fix, duplicate invoices went from ~40 a month to ~12.",
            "- duplicate invoices: ~40/month → ~4/month\n- review with 12 people from billing",
            0.7,
        );
        assert_eq!(v, Verdict::Contradicted, "{d:?}");
        assert_eq!(quoted(&d[0]), ("from 40 to 12", "from 40 to 4"));
        // Told as written, or in steps that reach the claim's end, it agrees.
        supported(
            "Duplicate invoices went from about 40 a month to 4.",
            "duplicate invoices ~40/month → ~4/month",
        );
        not_contradicted(
            "Duplicate invoices went from 40 a month to 4.",
            "duplicate invoices 40 → 11 → 4 over the quarter",
        );
    }

    #[test]
    fn a_bare_count_takes_the_unit_of_a_figure_only_a_few_words_before_it() {
        let kinds =
            |text: &str| -> Vec<String> { measures(text).into_iter().map(|m| m.kind).collect() };
        assert_eq!(kinds("cut the queue from 34 days to 14"), ["day", "day"]);
        assert_eq!(kinds("merged 3 real events out of 120k"), ["real", "real"]);
        // A bracket closed ends what the head count counts.
        let k = kinds("The clinic (18 people) brought tickets down from 120 a week to 50");
        assert_eq!(k[0], "peopl");
        assert!(k[1..].iter().all(|k| k != "peopl"), "{k:?}");
        // A breakdown in brackets counts the same thing.
        assert_eq!(
            kinds("14 vendors (9 new, 5 old)"),
            ["vendo", "vendo", "vendo"]
        );
    }

    #[test]
    fn a_total_told_with_its_parts_is_backed_by_them() {
        supported(
            "I held 20 customer calls in May: 13 dispatchers and 7 drivers.",
            "Who: 13 dispatchers (8 night shift, 5 day), 7 drivers. Ana took notes on 3 of them.",
        );
    }

    #[test]
    fn a_before_and_after_table_row_reads_as_a_change() {
        let file = "## Results\n| | before | after |\n|---|---|---|\n| builds per day | 23 | 6 |\n| failed builds | 9.4% | 1.8% |\n";
        let chunk = Chunk {
            path: "proj.md".into(),
            source: "/v/proj.md".into(),
            // The chunk starts inside the table: the header is read from the file.
            line_start: 4,
            line_end: 5,
            heading: "Results".into(),
            title: "proj".into(),
            tags: Vec::new(),
            date: None,
            text: "| builds per day | 23 | 6 |\n| failed builds | 9.4% | 1.8% |".into(),
            hash: String::new(),
            aliases: Vec::new(),
            opens_section: false,
            steers_model: false,
        };
        let lines = evidence_lines(&chunk, Some(file));
        let texts: Vec<(usize, &str)> = lines.iter().map(|l| (l.line, l.text.as_str())).collect();
        assert_eq!(
            texts,
            [
                (4, "builds per day 23 → 6"),
                (5, "failed builds 9.4% → 1.8%")
            ]
        );
        assert_eq!(before_after(&lines[0].text), [(23.0, 6.0)]);
        // Not a change: a table of quarters.
        assert_eq!(change_columns("| metric | Q1 | Q2 |"), None);
        let (v, d) = judge_lines("Builds per day went from 23 to 4.", &lines[0].text, 0.7);
        assert_eq!(v, Verdict::Contradicted, "{d:?}");
    }
    #[test]
    fn a_date_is_checked_on_the_two_closest_lines() {
        let line = |n: usize, text: &str| Line {
            path: "log.md".into(),
            line: n,
            text: text.into(),
        };
        let claim = "We launched the partner portal on 3 May.";
        let lines = [
            line(4, "Partner portal go-live checklist signed off by the team"),
            line(9, "Portal launched 3 June, the date we committed to"),
        ];
        let (v, _, _, d, _, _) = judge(claim, &lines, &[0.8, 0.7], &Settings::default());
        assert_eq!(v, Verdict::Contradicted, "{d:?}");
        assert_eq!((&*d[0].kind, d[0].line), ("date", 9));
        // Either of them giving the claim's date backs it.
        let lines = [
            line(4, "Portal launched 3 May after the checklist"),
            line(9, "Portal follow-up review on 3 June"),
        ];
        let (v, _, _, d, _, _) = judge(claim, &lines, &[0.8, 0.7], &Settings::default());
        assert_ne!(v, Verdict::Contradicted, "{d:?}");
    }
    #[test]
    fn a_line_that_also_tells_it_done_does_not_undo_the_claim() {
        not_contradicted(
            "I delivered the billing export to finance in March.",
            "Billing export delivered to finance 12 Mar; the first cut-over was reverted and re-run",
        );
        contradicted(
            "I delivered the billing export to finance in March.",
            "Billing export to finance: postponed to Q3, never shipped in March",
            "outcome",
        );
        // The claim tells the setback itself.
        not_contradicted(
            "His eight-week plan closed in January with one slip in the last five sprints.",
            "eight-week plan: one sprint slipped in the last five, he called it himself",
        );
    }
    #[test]
    fn a_count_of_the_same_thing_differs_in_digits_or_words() {
        let judged = |claim: &str, notes: &str| judge_lines(claim, notes, 0.7);
        // Another number of the same thing, in words or digits, singular or plural.
        let (verdict, differences) = judged(
            "Since then the contract tests have stopped four breaking PRs before merge.",
            "Finance monthly: 2 PRs blocked by the contract tests before merge.",
        );
        assert_eq!(verdict, Verdict::Contradicted, "{differences:?}");
        assert_eq!(differences[0].claim, "four breaking");
        assert_eq!(differences[0].notes, "2 PRs");
        let (verdict, differences) = judged(
            "During his shadow week Kofi took 6 pages with Lena watching.",
            "Kofi shadow week: took 4 pages himself with Lena watching.",
        );
        assert_eq!(verdict, Verdict::Contradicted, "{differences:?}");
        assert!(differences[0].notes.starts_with('4'), "{differences:?}");
        // Another 6 on the line (the week of onboarding) does not back the six pages.
        let (verdict, differences) = judged(
            "During his shadow week Kofi took 6 pages with Lena watching.",
            "Onboarding day 6: Kofi shadow week, took 4 pages himself with Lena watching.",
        );
        assert_eq!(verdict, Verdict::Contradicted, "{differences:?}");
        assert_eq!(differences[0].notes, "4 pages");
        // The same count, a pronoun "one", a verb after the number, a unit or a glue word:
        // nothing to hold against the claim here.
        for (claim, notes) in [
            (
                "The contract tests stopped two breaking PRs before merge.",
                "2 PRs blocked by the contract tests before merge.",
            ),
            (
                "I chased all six action items until the last one closed.",
                "All six closed by Jun 14; I chased them until the last one landed.",
            ),
            (
                "Eleven of the fourteen brokers were chasing us; only three asked for reports.",
                "11 of 14 brokers chasing us; 3 of 14 asked for reports.",
            ),
            (
                "The exports now finish in 12 minutes, down from 50 on etl-01.",
                "Exports batch 21 of 32 moved on etl-01.",
            ),
            // A year names which round; it is no count of rounds.
            (
                "I rebuilt the interview loop, and in the 2024 round time to offer fell.",
                "Old interview loop: 5 rounds, free-form interviews, slow offers.",
            ),
        ] {
            let (_, differences) = judged(claim, notes);
            assert!(
                differences
                    .iter()
                    .all(|d| d.kind != "figure" || !d.notes.contains(' ')),
                "{claim} / {notes}: {differences:?}"
            );
        }
    }

    /// Judges `claim` against lines of one note with their match scores.
    fn judged_with_scores(claim: &str, lines: &[(&str, f32)]) -> (Verdict, Vec<Difference>) {
        let (lines, scores): (Vec<Line>, Vec<f32>) = lines
            .iter()
            .enumerate()
            .map(|(i, (text, score))| {
                let line = Line {
                    path: "wallets.md".into(),
                    line: i + 1,
                    text: plain(text),
                };
                (line, *score)
            })
            .unzip();
        let (verdict, _, _, differences, _, _) =
            judge(&plain(claim), &lines, &scores, &Settings::default());
        (verdict, differences)
    }

    /// The first difference of `claim` against `lines`, which must contradict it.
    fn contradicted_by(claim: &str, lines: &[(&str, f32)]) -> Difference {
        let (verdict, differences) = judged_with_scores(claim, lines);
        assert_eq!(verdict, Verdict::Contradicted, "{differences:?}");
        differences[0].clone()
    }

    /// Asserts that `lines` do not contradict `claim`.
    fn not_contradicted_by(claim: &str, lines: &[(&str, f32)]) {
        let (verdict, differences) = judged_with_scores(claim, lines);
        assert_ne!(verdict, Verdict::Contradicted, "{lines:?}: {differences:?}");
    }

    #[test]
    fn one_of_several_dates_moved_on_a_line_that_gives_the_others_differs() {
        let claim = "The vendor contract was signed on 12 March and went live on 2 May.";
        let difference = contradicted_by(
            claim,
            &[
                (
                    "Contract signed 12 Mar; go-live 9 May after the security review.",
                    0.8,
                ),
                ("Vendor shortlist: three options, one finalist", 0.5),
            ],
        );
        assert_eq!(quoted(&difference), ("2 may", "9 may"));
        // Every date given, or the moved one not said in the same day or month, or two
        // candidates for it: nothing to hold against the claim.
        for line in [
            "Contract signed 12 Mar, live 2 May, two weeks of hypercare.",
            "Contract signed 12 Mar; go-live 20 June.",
            "Contract signed 12 Mar; go-live 9 May, hypercare to 23 May.",
        ] {
            not_contradicted_by(claim, &[(line, 0.8), ("Vendor shortlist notes", 0.5)]);
        }
    }

    #[test]
    fn a_line_further_down_with_every_value_of_the_claim_names_its_owner() {
        let claim =
            "I led the switch to the new queue, 27 of 27 consumers across 6 teams by 14 March.";
        let lines = |last: &'static str| {
            [
                ("Queue switch: why the old broker has to go", 0.8),
                ("Consumers are listed in the tracker, grouped by team", 0.7),
                ("Weekly sync moved to Thursdays", 0.6),
                (last, 0.3),
            ]
        };
        let difference = contradicted_by(
            claim,
            &lines("Priya owned the plan and every rollout: 27 of 27 consumers across 6 teams moved by 14 Mar."),
        );
        assert_eq!(difference.kind, "owner");
        assert_eq!(quoted(&difference), ("you", "Priya"));
        assert_eq!(difference.line, 4);
        // A line that does not give all the claim's values may tell other work.
        not_contradicted_by(
            claim,
            &lines("Priya owned the plan for the billing consumers."),
        );
    }

    #[test]
    fn a_lower_line_tied_by_a_value_or_a_name_that_gives_the_act_another_doer_names_its_owner() {
        let lines = |last: &'static str| {
            [
                ("Support rota: who covers the weekend queue in March", 0.8),
                ("Weekend queue numbers are in the dashboard", 0.7),
                ("Moved the retro to Fridays", 0.6),
                (last, 0.5),
            ]
        };
        // Tied by a name the claim gives...
        let difference = contradicted_by(
            "I hired Tomasz for the weekend support rota in March.",
            &lines("Ines hired tomasz-weber for the weekend rota, starts 3 Mar"),
        );
        assert_eq!(quoted(&difference), ("you", "Ines"));
        assert_eq!(difference.line, 4);
        // ...or by a value, with the claim's own act.
        let difference = contradicted_by(
            "I ran the weekend failover drill and got the queue back in 14 minutes.",
            &lines("Failover drill: Bruno ran it alone, queue back in 14 min"),
        );
        assert_eq!(quoted(&difference), ("you", "Bruno"));
        // Another act, or nothing that ties the line to the claim, names no owner.
        not_contradicted_by(
            "I hired Tomasz for the weekend support rota in March.",
            &lines("Ines hired two contractors for the help centre"),
        );
        not_contradicted_by(
            "I ran the weekend failover drill and got the queue back in 14 minutes.",
            &lines("Failover drill: Bruno wrote the checklist, queue back in 14 min"),
        );
        // An action item closed with its owner's name names the owner too.
        contradicted(
            "I built the stale-dashboard alert for the finance tables.",
            "Stale-dashboard alert on the finance tables, pages #fin-data. Oskar, done 4 Mar.",
            "owner",
        );
    }

    #[test]
    fn others_doing_the_claims_act_alone_or_the_writer_denying_it_are_owners() {
        // A pronoun is someone else, though never a name.
        assert_eq!(
            other_doer(
                "She did the renewal; the pricing was hers",
                Some("negotiated")
            )
            .as_deref(),
            Some("She")
        );
        assert!(other_doer("I was nowhere near the pricing", Some("negotiated")).is_some());
        assert!(other_doer("Ruth hired him. I wasn't on the loop", Some("interviewed")).is_some());
        assert!(other_doer("Spend down 34%. Her project end to end", Some("led")).is_some());
        assert!(other_doer("I was on the loop with Ruth", Some("interviewed")).is_none());
        // A deed joined with "and" is the writer's too; a hyphenated name is a name.
        assert_eq!(
            joined_verbs("I ran the analysis myself and wrote the plan down before launch"),
            ["wrote"]
        );
        let d = contradicted(
            "I ran the analysis myself and wrote the test plan down before launch.",
            "The test worked because Hye-jin wrote the test plan down before launch",
            "owner",
        );
        assert_eq!(quoted(&d[0]), ("you", "Hye-jin"));
        // Alone, doing the claim's act (or the same act in other words).
        assert!(other_doer("Ran the game day on 8 Oct herself", Some("ran")).is_some());
        assert_eq!(
            other_doer("Jorge found the cache bug", Some("tracked")).as_deref(),
            Some("Jorge")
        );
        // Alone, doing something else: not the claim's owner.
        assert_eq!(
            other_doer("Camille raised the page herself in planning", Some("took")),
            None
        );
        assert_eq!(
            other_owner("Pager clean-up wrap-up (Tomasz DRI)").as_deref(),
            Some("Tomasz")
        );
        // The writer's clause is a side one: the claim credits someone else.
        assert_eq!(
            first_person_verb("In March she found the skew before I did."),
            None
        );
        assert_eq!(
            first_person_verb("I found the skew in March.").as_deref(),
            Some("found")
        );
        assert_eq!(
            first_person_verb("When I led the outage response, we restored service in 40 minutes.")
                .as_deref(),
            Some("led")
        );
    }

    #[test]
    fn a_date_the_closest_note_ties_to_the_claims_words_differs_from_it() {
        let claim = "We launched the wallets in our apps on 6 June, nine days before the campaign.";
        let note = |result: &'static str| {
            [
                (
                    "Wallets for the summer campaign: both wallets in the apps",
                    0.8,
                ),
                ("Weekly demo on the sandbox at 09:45", 0.5),
                (result, 0.1),
            ]
        };
        let difference = contradicted_by(claim, &note("Launched 6 May. Zero incidents."));
        assert_eq!(quoted(&difference), ("6 jun", "6 may"));
        assert_eq!(difference.line, 3);
        // The note gives the claim's date somewhere, or its other date is not tied to the
        // claim's words: nothing to hold against it.
        for result in [
            "Launched 6 June. Zero incidents.",
            "Sandbox passing on 6 May.",
        ] {
            not_contradicted_by(claim, &note(result));
        }
    }

    #[test]
    fn a_date_tied_to_going_live_or_one_of_several_on_a_line_differs() {
        let claim = "The partner portal went live on 9 March with 30 partners invited.";
        let note = |result: &'static str| {
            [
                ("Partner portal: invite list of 30 partners", 0.8),
                ("Weekly demo on the sandbox at 09:45", 0.5),
                (result, 0.1),
            ]
        };
        // "launched" and "went live" tell one event; a property line dates it.
        let difference = contradicted_by(claim, &note("launched:: 2025-04-09"));
        assert_eq!(quoted(&difference), ("9 mar", "9 apr"));
        not_contradicted_by(claim, &note("renewed:: 2025-04-09"));
        // Of a line of several dates, the words before each date are what it dates.
        let claim = "The audit report came back on 18 June with zero exceptions.";
        let note = |result: &'static str| {
            [
                ("Audit of our controls: zero exceptions in mine", 0.8),
                ("Weekly demo on the sandbox at 09:45", 0.5),
                (result, 0.1),
            ]
        };
        let difference = contradicted_by(
            claim,
            &note("fieldwork 2-13 June; report issued 18 Jul 2025"),
        );
        assert_eq!(quoted(&difference), ("18 jun", "18 jul"));
        not_contradicted_by(claim, &note("kickoff 3 June; launch review 18 Jul"));
    }

    #[test]
    fn a_two_word_line_is_evidence_when_it_dates_something() {
        let file = "tags:: programme\nlaunched:: 2024-11-04\nowner:: me\n";
        let chunk = Chunk {
            path: "bounty.md".into(),
            source: "/v/bounty.md".into(),
            line_start: 1,
            line_end: 3,
            heading: String::new(),
            title: "bounty".into(),
            tags: Vec::new(),
            date: None,
            text: file.trim_end().into(),
            hash: String::new(),
            aliases: Vec::new(),
            opens_section: false,
            steers_model: false,
        };
        let lines = evidence_lines(&chunk, Some(file));
        let texts: Vec<(usize, &str)> = lines.iter().map(|l| (l.line, l.text.as_str())).collect();
        assert_eq!(texts, [(2, "launched:: 2024-11-04")]);
    }

    #[test]
    fn a_line_of_the_notes_that_gives_the_claims_date_backs_it() {
        // The closest line is another action's row of the same table.
        not_contradicted_by(
            "All seven actions were closed by 25 October, including IMDSv2 on all instances.",
            &[
                ("1 enforce IMDSv2 on all instances Sven 25 Sep", 0.8),
                (
                    "Actions from the incident review, owner and date closed",
                    0.5,
                ),
                ("all 7 closed by 25 Oct, reviewed at the forum", 0.2),
            ],
        );
    }

    #[test]
    fn a_standards_number_counts_nothing() {
        assert_eq!(
            standard_name("I own 6 of the 61 SOC", "2", "controls"),
            Some("soc".into())
        );
        // A metric's value, a year: not names.
        for (before, number, next) in [
            ("initial JS", "310", "KB"),
            ("MAE", "4", "min"),
            ("EMEA", "2024", "plans"),
            ("LCP", "4", ""),
            ("the", "61", "controls"),
        ] {
            assert_eq!(
                standard_name(before, number, next),
                None,
                "{before} {number}"
            );
        }
        not_contradicted_by(
            "I own 6 of the 61 SOC 2 controls for the audit.",
            &[(
                "I own 6 of the 61 controls: change management and access",
                0.8,
            )],
        );
    }

    #[test]
    fn a_sum_the_notes_give_in_parts_backs_a_count() {
        let claim = "Amrit pulled his 50 sample deploys from the evidence bucket.";
        not_contradicted_by(
            claim,
            &[(
                "Amrit pulled 25 deploys for Q1 + 25 for Q2 from the evidence bucket",
                0.8,
            )],
        );
        let difference = contradicted_by(
            claim,
            &[(
                "Amrit pulled 25 deploys for Q1 from the evidence bucket",
                0.8,
            )],
        );
        assert_eq!(difference.kind, "figure");
    }

    #[test]
    fn hiring_and_coordinating_have_owners_too() {
        let difference = contradicted_by(
            "I hired Aisha in February straight out of QA automation.",
            &[(
                "Came from QA automation. Ruth hired her; I'm her lead.",
                0.8,
            )],
        );
        assert_eq!(quoted(&difference), ("you", "Ruth"));
        let difference = contradicted_by(
            "I coordinated the April retest with the vendor.",
            &[(
                "Retest (April) was coordinated by Tallyline's Aisha Okonjo with the vendor",
                0.8,
            )],
        );
        assert_eq!(quoted(&difference), ("you", "Aisha"));
    }

    #[test]
    fn a_figure_is_compared_only_with_lines_about_its_own_clause() {
        let claim = "I moved the card traffic 22 minutes after the first alert, and the exec note was in their inboxes by Sunday evening.";
        // The line matches the exec-note clause; its 30 minutes are a meeting's length.
        let (verdict, differences) = judged_with_scores(
            claim,
            &[(
                "Exec update: 30 minutes. I sent the note on Sunday evening, to their inboxes.",
                0.8,
            )],
        );
        assert!(
            differences.iter().all(|d| d.claim != "22"),
            "{verdict:?} {differences:?}"
        );
        // A line about the figure's own clause still differs.
        let difference = contradicted_by(
            claim,
            &[(
                "Moved the card traffic 35 minutes after the first alert.",
                0.8,
            )],
        );
        assert_eq!(quoted(&difference), ("22", "35"));
    }

    #[test]
    fn the_differing_figure_shown_is_the_one_most_like_the_claims() {
        // The line holds two figures of the claim's unit: the one it differs by is the one of
        // the claim's size, not the first written.
        let claim = "Checkout p95 fell to 310 ms in the pilot.";
        let difference = contradicted_by(
            claim,
            &[("Checkout pilot: 2 ms of network time, p95 at 420 ms.", 0.8)],
        );
        assert_eq!(quoted(&difference), ("310", "420"));
    }

    #[test]
    fn the_same_two_words_counted_otherwise_differ_on_a_line_that_says_more() {
        let settings = Settings::default();
        let low = settings.contradict - 0.1;
        let claim = "I found 7 legacy cron scripts and moved them to the scheduler.";
        let lines = |census: &'static str| {
            [
                (
                    "Moved the cron scripts to the scheduler, one team at a time.",
                    0.7,
                ),
                (census, low),
            ]
        };
        // The line counts many things; its match is under `contradict`, but it counts the
        // claim's own two words.
        let difference = contradicted_by(
            claim,
            &lines("cron census: 12 internal jobs across 3 teams, 4 legacy cron scripts"),
        );
        assert_eq!(quoted(&difference), ("7 legacy", "4 legacy"));
        // One word in common, or a number in words, is not enough at that match.
        for census in [
            "cron census: 12 internal jobs across 3 teams, 4 legacy payroll scripts",
            "cron census: 12 internal jobs across 3 teams, four legacy cron scripts",
        ] {
            not_contradicted_by(claim, &lines(census));
        }
    }

    #[test]
    fn an_end_of_a_change_differs_only_from_a_line_that_tells_a_change() {
        not_contradicted(
            "We cut the nightly build from 38 minutes to 11.",
            "Plan for the nightly build: 15-minute micro-batches once it is incremental",
        );
        contradicted(
            "We cut the nightly build from 38 minutes to 11.",
            "nightly build 38 min → 25 min after the cache change",
            "figure",
        );
        // A figure of another kind sharing a value with the change's other end ("9/9") does not
        // make the line tell the change.
        not_contradicted(
            "Nightly reports now finish in 9 minutes, down from 40.",
            "Wave 2 of the nightly reports move: 17 of 30 jobs moved; reports batch 9/9 done",
        );
        // A single figure is still held against the same kind of value.
        contradicted(
            "The fix itself took 20 minutes once we found it.",
            "The fix itself took 40 minutes once found.",
            "figure",
        );
    }

    #[test]
    fn a_count_over_a_half_is_not_held_against_one_weeks() {
        not_contradicted(
            "I reviewed 40 PRs for the rest of the team in H2, more than anyone else.",
            "reviewed 14 PRs for the rest of the team this week, more than usual",
        );
        contradicted(
            "I reviewed 40 PRs for the rest of the team in H2, more than anyone else.",
            "H2 review: reviewed 14 PRs for the rest of the team, more than anyone else",
            "figure",
        );
    }

    #[test]
    fn n_more_counts_the_thing_just_told() {
        // "N more" of the thing just told, against another number more.
        contradicted(
            "Auditing the other nightly jobs for the same silent-failure bug turned up six more.",
            "audit the other nightly jobs for silent failures: done Mar 3, found 2 more",
            "figure",
        );
        supported(
            "Auditing the other nightly jobs for the same silent-failure bug turned up two more.",
            "audit the other nightly jobs for silent failures: done Mar 3, found 2 more",
        );
    }

    #[test]
    fn an_amount_of_change_is_not_held_against_a_level_before_or_after_one() {
        // "by 40%" is how much something moved; "11% → 2.5%" are where it stood.
        not_contradicted(
            "I cut Docker image build times on atlas by 40% in the spring, mostly through better layer caching.",
            "- atlas builds needing retry: 11% → **2.5%**.",
        );
        not_contradicted(
            "I cut retried builds on atlas by 40% in the spring.",
            "- atlas builds needing retry: 11% → **2.5%**.",
        );
        // The same amount told otherwise still differs.
        contradicted(
            "I cut retried builds on atlas by 40% in the spring.",
            "atlas builds needing retry cut by 25% in the spring",
            "figure",
        );
        // "X, down from Y" tells a change as well as "from Y to X".
        assert_eq!(
            before_after("exports finish in 12 minutes, down from 50"),
            [(50.0, 12.0)]
        );
        assert_eq!(before_after("3.7, up from 2.9"), [(2.9, 3.7)]);
        // A level told with its bold end is a change the claim's own change is held against.
        contradicted(
            "We took retried builds on atlas from 11% to 4%.",
            "- atlas builds needing retry: 11% → **2.5%**.",
            "figure",
        );
    }
    #[test]
    fn two_values_found_back_a_claim_the_notes_word_in_shorthand() {
        let claim = "I trimmed the legacy export from 1.4 million rows a night to 90,000.";
        let lines = [Line {
            path: "log.md".into(),
            line: 3,
            text: "legacy export trimmed 9 Mar: 1.4M rows/night -> 90k".into(),
        }];
        // Scored under `same`: the words alone would leave it unsupported.
        let settings = Settings::default();
        let score = settings.same - 0.1;
        let (v, _, _, d, missing, matched) = judge(claim, &lines, &[score], &settings);
        assert_eq!(
            (v, missing.len()),
            (Verdict::Supported, 0),
            "{d:?} {matched:?}"
        );
        // One value is not enough.
        let claim = "I retired the legacy export and it saved 1.4 million rows a night.";
        let (v, ..) = judge(claim, &lines, &[score], &settings);
        assert_eq!(v, Verdict::Unsupported);
    }

    #[test]
    fn values_told_of_two_things_the_other_way_round_are_swapped() {
        let notes = "By March: Android 7.5% of app sessions, iOS 12.1% of app sessions.";
        let (verdict, differences) = judge_lines(
            "By March Android had 12.1% of app sessions and iOS 7.5%.",
            notes,
            0.7,
        );
        assert_eq!(verdict, Verdict::Contradicted, "{differences:?}");
        assert_eq!(differences[0].kind, "swapped");
        // The same values the same way round, or without a break between them, are not swapped.
        for claim in [
            "By March Android had 7.5% of app sessions and iOS 12.1%.",
            "Sessions grew from 7.5% to 12.1% by March.",
        ] {
            let (_, differences) = judge_lines(claim, notes, 0.7);
            assert!(
                !differences.iter().any(|d| d.kind == "swapped"),
                "{claim}: {differences:?}"
            );
        }
    }

    #[test]
    fn a_figure_on_another_line_of_the_closest_notes_is_not_missing() {
        let claim =
            "I cut the nightly import from 95 minutes to 30 by splitting it into 6 batches.";
        let lines = |far: &str| {
            [
                (
                    "import.md",
                    4,
                    "Nightly import split into 6 batches, now 30 min",
                ),
                (
                    "import.md",
                    5,
                    "Started looking at the slow partitions on Monday",
                ),
                ("other.md", 9, "Ordered new laptops for the team"),
                (
                    far,
                    40,
                    "Timeline: before the split it took 95 min every night",
                ),
            ]
            .into_iter()
            .map(|(path, line, text)| Line {
                path: path.into(),
                line,
                text: plain(text),
            })
            .collect::<Vec<_>>()
        };
        let scores = [0.7, 0.4, 0.3, 0.1];
        let (verdict, _, _, _, missing, _) = judge(
            &plain(claim),
            &lines("import.md"),
            &scores,
            &Settings::default(),
        );
        assert_eq!((verdict, missing.len()), (Verdict::Supported, 0));
        // The same line in notes of something else backs nothing.
        let (_, _, _, _, missing, _) = judge(
            &plain(claim),
            &lines("laptops.md"),
            &scores,
            &Settings::default(),
        );
        assert_eq!(missing, ["95"]);
    }

    #[test]
    fn a_sentence_with_one_cue_and_one_month_ties_them_however_far_apart() {
        let claim = "Nadia agreed to move the pricing review to a monthly cadence in early June.";
        assert_eq!(sole_cue(&plain(claim)), Some(("agreed".to_string(), 6)));
        let d = contradicted(
            claim,
            "12 Apr: Nadia agreed, pricing review goes monthly from May",
            "date",
        );
        assert_eq!(quoted(&d[0]), ("agreed jun", "agreed apr"));
        not_contradicted(claim, "3 Jun: Nadia agreed, pricing review goes monthly");
        // Two cues, two months, or a day: no single tie.
        assert_eq!(sole_cue("Nadia agreed in June and signed in July"), None);
        assert_eq!(sole_cue("Marcus agreed on 4 June"), None);
        // A promotion that came through was approved.
        contradicted(
            "Her promotion to senior came through in June.",
            "14 Apr calibration: promotion to senior approved",
            "date",
        );
    }

    #[test]
    fn a_hedged_figure_found_near_enough_in_the_closest_notes_is_no_difference() {
        let claim = "The new checkout lifted card conversion by about 8% in its first month.";
        let lines = |far: &str| {
            [
                (
                    "checkout.md",
                    3,
                    "Checkout v2 first month: card conversion 11% better on mobile",
                ),
                ("checkout.md", 4, "Pilot in two markets only"),
                ("checkout.md", 30, far),
            ]
            .into_iter()
            .map(|(path, line, text)| Line {
                path: path.into(),
                line,
                text: plain(text),
            })
            .collect::<Vec<_>>()
        };
        let scores = [0.7, 0.5, 0.2];
        let judged = |far: &str| judge(&plain(claim), &lines(far), &scores, &Settings::default());
        // 8.3% further down the same note is "about 8%": the 11% on mobile is another figure.
        assert_ne!(
            judged("Overall card conversion +8.3% (all devices)").0,
            Verdict::Contradicted
        );
        // Without it, the close line's 11% differs.
        assert_eq!(
            judged("Overall card conversion +9.5% (all devices)").0,
            Verdict::Contradicted
        );
        assert!(hedged("about 8% of", "8%") && !hedged("by 8% of", "8%"));
    }

    #[test]
    fn a_line_figure_tied_to_another_clause_of_the_claim_is_not_the_claims_figure() {
        let claim = "Because build minutes are down, the CI contract renewal came in 20% cheaper.";
        // "down 35%" is what the leading clause tells, not the renewal.
        not_contradicted(
            claim,
            "Build minutes down 35% since the cache, CI contract renewal in May",
        );
        // A line figure tied to the renewal itself still differs.
        contradicted(
            claim,
            "CI contract renewal signed: 12% cheaper than the last one",
            "figure",
        );
        // A figure's own clause counts its unit words: "2-3 hours of care" is about the hours.
        contradicted(
            "The old search cluster was switched off in March, and with it the 6 hours a week of care.",
            "Old search cluster: needs 2 hours of care a week, off since March",
            "figure",
        );
    }
}
