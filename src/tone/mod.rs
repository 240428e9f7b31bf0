//! Tone check: findings of hedging, defensiveness, blame-shifting and the rest in a script or
//! message, from rules that are data (`rules/tone.toml` plus user files). Pure: the caller
//! reads files; this module only sees text.

pub mod cache;
pub mod classifier;
pub mod eval;
pub mod report;
pub mod rules;
pub mod segment;
pub mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

pub use rules::RuleSet;
pub use segment::InputKind;

/// The kinds of tone problem, with stable ids.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Hedging,
    OverApologizing,
    Defensive,
    BlameShifting,
    PassiveAggressive,
    VagueClaim,
    Venting,
    Absolutist,
    PassiveVoiceAgency,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::Hedging,
        Category::OverApologizing,
        Category::Defensive,
        Category::BlameShifting,
        Category::PassiveAggressive,
        Category::VagueClaim,
        Category::Venting,
        Category::Absolutist,
        Category::PassiveVoiceAgency,
    ];

    /// The stable id, as in JSON.
    pub fn id(self) -> &'static str {
        match self {
            Category::Hedging => "hedging",
            Category::OverApologizing => "over_apologizing",
            Category::Defensive => "defensive",
            Category::BlameShifting => "blame_shifting",
            Category::PassiveAggressive => "passive_aggressive",
            Category::VagueClaim => "vague_claim",
            Category::Venting => "venting",
            Category::Absolutist => "absolutist",
            Category::PassiveVoiceAgency => "passive_voice_agency",
        }
    }

    pub fn from_id(id: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.id() == id)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// How much a finding matters.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn id(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn from_id(id: &str) -> Option<Severity> {
        [Severity::Info, Severity::Warning, Severity::Error]
            .into_iter()
            .find(|s| s.id() == id)
    }

    fn raised(self) -> Severity {
        match self {
            Severity::Info => Severity::Warning,
            _ => Severity::Error,
        }
    }

    fn lowered(self) -> Severity {
        match self {
            Severity::Error => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Who found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingSource {
    Rules,
    Model,
    Classifier,
}

/// One problem in the text, located by byte offsets and by 1-based line and column
/// (column counted in characters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Finding {
    pub category: Category,
    pub severity: Severity,
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub column: usize,
    pub text: String,
    pub message: String,
    pub suggestion: String,
    /// The rule's literal replacement for `text` (`""`: remove it), when it has one; see
    /// `literal_fix` for the edit it makes in context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// The rule's id, or `model` for deep-mode findings.
    pub rule: String,
    pub source: FindingSource,
}

/// Maps byte offsets to 1-based line and character column.
#[derive(Debug)]
pub struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
    /// (byte offset, characters from its line's start) about every `COLUMN_MARK_BYTES` inside
    /// long lines, so a column is counted from the nearest mark rather than from the start of a
    /// line that may be megabytes long (a finding per sentence on one huge line made `tone`
    /// quadratic).
    marks: Vec<(usize, usize)>,
}

/// How far apart the column marks of a long line are, in bytes.
const COLUMN_MARK_BYTES: usize = 4096;

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut marks = Vec::new();
        for (index, &start) in line_starts.iter().enumerate() {
            let end = line_starts.get(index + 1).map_or(text.len(), |&next| next);
            if end - start <= COLUMN_MARK_BYTES {
                continue;
            }
            let mut next_mark = start + COLUMN_MARK_BYTES;
            for (column, (offset, _)) in text[start..end].char_indices().enumerate() {
                if start + offset >= next_mark {
                    marks.push((start + offset, column));
                    next_mark = start + offset + COLUMN_MARK_BYTES;
                }
            }
        }
        LineIndex {
            text,
            line_starts,
            marks,
        }
    }

    /// (line, column), both 1-based.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let (line, column, _) = self.position_counted(offset);
        (line, column)
    }

    /// `position`, and how many bytes it had to count characters over (at most about
    /// `COLUMN_MARK_BYTES`, however long the line).
    fn position_counted(&self, offset: usize) -> (usize, usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line - 1];
        let (from, columns_before) = match self.marks.partition_point(|&(at, _)| at <= offset) {
            0 => (line_start, 0),
            next => match self.marks[next - 1] {
                (at, column) if at >= line_start => (at, column),
                _ => (line_start, 0),
            },
        };
        let column = columns_before + self.text[from..offset].chars().count() + 1;
        (line, column, offset - from)
    }

    /// The byte offset where a 1-based line starts.
    pub fn line_start(&self, line: usize) -> usize {
        self.line_starts[line - 1]
    }

    /// The text of a 1-based line, without its newline.
    pub fn line_text(&self, line: usize) -> &'a str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&next| next - 1);
        self.text[start..end].trim_end_matches('\r')
    }
}

/// Options for one check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub kind: InputKind,
    /// A profile name from the rule set (`default` changes nothing).
    pub profile: String,
    /// Phrases the user accepts (`tone.allow`): see `apply_allow`.
    pub allow: Vec<String>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            kind: InputKind::Markdown,
            profile: "default".into(),
            allow: Vec::new(),
        }
    }
}

/// Counts per category, for summaries.
pub fn counts(findings: &[Finding]) -> std::collections::BTreeMap<Category, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for finding in findings {
        *counts.entry(finding.category).or_insert(0) += 1;
    }
    counts
}

/// The highest severity among `findings`.
pub fn worst(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|f| f.severity).max()
}

/// Merges model findings into rule findings: a model finding that overlaps a rule finding of
/// the same category is dropped (the rule's explanation is kept); the rest are added.
pub fn merge(mut findings: Vec<Finding>, extra: Vec<Finding>) -> Vec<Finding> {
    // Per category, the spans taken so far as disjoint intervals (overlapping ones joined),
    // keyed by start: an overlap test is one ordered-map lookup, not a scan of every finding
    // (a finding per sentence of a long input made this quadratic).
    let mut taken: HashMap<Category, BTreeMap<usize, usize>> = HashMap::new();
    let mut spans: Vec<(Category, usize, usize)> = findings
        .iter()
        .map(|f| (f.category, f.start, f.end))
        .collect();
    spans.sort_unstable();
    for (category, start, end) in spans {
        let intervals = taken.entry(category).or_default();
        match intervals.range_mut(..=start).next_back() {
            Some((_, last_end)) if *last_end > start => *last_end = (*last_end).max(end),
            _ => {
                let slot = intervals.entry(start).or_insert(end);
                *slot = (*slot).max(end);
            }
        }
    }
    for candidate in extra {
        let intervals = taken.entry(candidate.category).or_default();
        // Disjoint and ordered, so the last interval starting before the candidate ends is the
        // one reaching furthest.
        let duplicate = intervals
            .range(..candidate.end)
            .next_back()
            .is_some_and(|(_, &end)| end > candidate.start);
        if !duplicate {
            let slot = intervals.entry(candidate.start).or_insert(candidate.end);
            *slot = (*slot).max(candidate.end);
            findings.push(candidate);
        }
    }
    findings.sort_by_key(|f| (f.start, f.end));
    findings
}

/// For each of `ranges` (in order, not overlapping), the indices of the `findings` that overlap
/// it, in order. Each finding finds its first range by binary search, so the work grows with
/// the number of overlaps, not with ranges × findings.
pub fn overlapping_findings(ranges: &[Range<usize>], findings: &[Finding]) -> Vec<Vec<usize>> {
    let mut overlapping = vec![Vec::new(); ranges.len()];
    for (index, finding) in findings.iter().enumerate() {
        let first = ranges.partition_point(|range| range.end <= finding.start);
        for (offset, _) in ranges[first..]
            .iter()
            .enumerate()
            .take_while(|(_, range)| range.start < finding.end)
        {
            overlapping[first + offset].push(index);
        }
    }
    overlapping
}

/// Drops the findings the text itself switches off, as prose linters allow:
/// `<!-- starling-disable-next-line [category ...] -->` (the next line that is not blank),
/// `<!-- starling-disable [category ...] -->` up to `<!-- starling-enable -->` (or the end).
/// No category means every category.
pub fn apply_directives(source: &str, findings: Vec<Finding>) -> Vec<Finding> {
    if !source.contains("starling-") {
        return findings;
    }
    // (first line, last line, categories; empty = all)
    let mut off: Vec<(usize, usize, Vec<Category>)> = Vec::new();
    let lines: Vec<&str> = source.lines().collect();
    // Every `starling-disable` still open: a second one adds to the first, and one
    // `starling-enable` closes them all.
    let mut open: Vec<(usize, Vec<Category>)> = Vec::new();
    let parse = |rest: &str| -> Vec<Category> {
        rest.trim()
            .trim_end_matches("-->")
            .split([' ', ','])
            .filter_map(|w| Category::from_id(w.trim()))
            .collect()
    };
    for (index, line) in lines.iter().enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        let Some(body) = trimmed.strip_prefix("<!--") else {
            continue;
        };
        let body = body.trim();
        if let Some(rest) = body.strip_prefix("starling-disable-next-line") {
            let next = lines
                .iter()
                .enumerate()
                .skip(index + 1)
                .find(|(_, l)| !l.trim().is_empty())
                .map_or(number + 1, |(i, _)| i + 1);
            off.push((next, next, parse(rest)));
        } else if let Some(rest) = body.strip_prefix("starling-disable") {
            open.push((number, parse(rest)));
        } else if body.starts_with("starling-enable") {
            off.extend(
                open.drain(..)
                    .map(|(start, categories)| (start, number, categories)),
            );
        }
    }
    off.extend(
        open.into_iter()
            .map(|(start, categories)| (start, usize::MAX, categories)),
    );
    findings
        .into_iter()
        .filter(|f| {
            !off.iter().any(|(a, b, categories)| {
                (*a..=*b).contains(&f.line)
                    && (categories.is_empty() || categories.contains(&f.category))
            })
        })
        .collect()
}

/// Drops the findings on phrases the user accepts (`tone.allow`, like a prose linter's accepted
/// words): a finding that lies inside an occurrence of an allowed phrase, or whose text contains
/// one, is not reported. Phrases match case-insensitively, as whole words.
pub fn apply_allow(source: &str, findings: Vec<Finding>, allow: &[String]) -> Vec<Finding> {
    let patterns: Vec<regex::Regex> = allow
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .filter_map(|phrase| {
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            let open = if word(phrase.chars().next()) {
                r"\b"
            } else {
                ""
            };
            let close = if word(phrase.chars().last()) {
                r"\b"
            } else {
                ""
            };
            regex::Regex::new(&format!("(?i){open}{}{close}", regex::escape(phrase))).ok()
        })
        .collect();
    if patterns.is_empty() {
        return findings;
    }
    let mut spans: Vec<(usize, usize)> = patterns
        .iter()
        .flat_map(|re| re.find_iter(source).map(|m| (m.start(), m.end())))
        .collect();
    spans.sort_unstable();
    // The furthest end among the spans starting at or before each one: a finding lies inside
    // some span iff a span starting at or before it reaches its end.
    let reach: Vec<usize> = spans
        .iter()
        .scan(0, |far, &(_, b)| {
            *far = (*far).max(b);
            Some(*far)
        })
        .collect();
    findings
        .into_iter()
        .filter(|f| {
            let end = f.end.max(f.start + 1);
            let before = spans.partition_point(|&(a, _)| a <= f.start);
            let inside_one = before > 0 && reach[before - 1] >= f.end;
            // Spans starting inside the finding that also end inside it.
            let holds_one = spans[spans.partition_point(|&(a, _)| a < f.start)..]
                .iter()
                .take_while(|&&(a, _)| a <= end)
                .any(|&(_, b)| b <= end);
            !(inside_one || holds_one)
        })
        .collect()
}

/// The edit a finding's literal replacement makes in `source`: the byte range to replace and
/// the text to put there, or `None` when its rule has no literal replacement. A removal also
/// takes the comma and spaces after the words (or, before closing punctuation, the spaces
/// before them), and when the words opened a sentence the next word takes their capital:
/// "Hopefully, the release ships." becomes "The release ships."
pub fn literal_fix(source: &str, finding: &Finding) -> Option<(Range<usize>, String)> {
    let replacement = finding.replacement.as_deref()?;
    let (start, end) = (finding.start, finding.end);
    let original = source.get(start..end)?;
    if original != finding.text {
        return None; // a finding of another version of the text
    }
    // Words that open a sentence hand their capital on; "I" in mid-sentence does not.
    let capital =
        original.chars().next().is_some_and(char::is_uppercase) && opens_sentence(source, start);
    if !replacement.is_empty() {
        let mut text = replacement.to_string();
        if capital {
            text = capitalised(&text);
        }
        return Some((start..end, text));
    }
    let rest = &source[end..];
    let after_comma = rest.strip_prefix(',').unwrap_or(rest);
    let spaces = after_comma.len() - after_comma.trim_start_matches([' ', '\t']).len();
    if spaces == 0 {
        // "… was late, maybe." → "… was late." : take the spaces (and a comma) before instead.
        let before = source[..start].trim_end_matches([' ', '\t']);
        let before = before.strip_suffix(',').unwrap_or(before);
        return Some((before.len()..end, String::new()));
    }
    let end = end + (rest.len() - after_comma.len()) + spaces;
    match source[end..].chars().next() {
        Some(next) if capital && next.is_lowercase() => {
            Some((start..end + next.len_utf8(), next.to_uppercase().collect()))
        }
        _ => Some((start..end, String::new())),
    }
}

/// Whether `start` is where a sentence begins: at the start of the text or of a line (after
/// any list, quote or heading marker), or after a sentence's end and spaces.
fn opens_sentence(source: &str, start: usize) -> bool {
    let before = &source[..start];
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    if line
        .trim_start_matches(|c: char| c.is_whitespace() || "-*+>#".contains(c))
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start_matches(['.', ')'])
        .trim()
        .trim_matches(['"', '“', '‘', '\'', '(', '['])
        .is_empty()
    {
        return true;
    }
    let trimmed = before.trim_end();
    trimmed.len() < before.len()
        && trimmed
            .trim_end_matches(['"', '”', '’', '\'', ')'])
            .ends_with(['.', '!', '?'])
}

/// `text` with its first character in upper case.
pub(crate) fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod directive_tests {
    use super::*;

    #[test]
    fn literal_fixes_remove_the_words_and_keep_the_sentence_well_formed() {
        let check = |source: &str, words: &str, replacement: &str, expected: &str| {
            let start = source.find(words).unwrap();
            let finding = Finding {
                category: Category::Hedging,
                severity: Severity::Warning,
                start,
                end: start + words.len(),
                line: 1,
                column: start + 1,
                text: words.into(),
                message: String::new(),
                suggestion: String::new(),
                replacement: Some(replacement.into()),
                rule: String::new(),
                source: FindingSource::Rules,
            };
            let (range, text) = literal_fix(source, &finding).unwrap();
            let mut fixed = source.to_string();
            fixed.replace_range(range, &text);
            assert_eq!(fixed, expected, "{source:?} without {words:?}");
        };
        check(
            "Hopefully, the release ships.",
            "Hopefully",
            "",
            "The release ships.",
        );
        check(
            "It was kind of a hard quarter.",
            "kind of",
            "",
            "It was a hard quarter.",
        );
        check("I was late, maybe.", "maybe", "", "I was late.");
        check("Maybe “Q3” slips.", "Maybe", "", "“Q3” slips.");
        check(
            "Honestly, I guess we ship.",
            "I guess",
            "",
            "Honestly, we ship.",
        );
        check(
            "It works. I guess we ship.",
            "I guess",
            "",
            "It works. We ship.",
        );
        check("- I suppose it works.", "I suppose", "", "- It works.");
        check(
            "Sorry for the delay.",
            "Sorry for the delay",
            "thanks for your patience",
            "Thanks for your patience.",
        );
        let mut plain = Finding {
            category: Category::Hedging,
            severity: Severity::Warning,
            start: 0,
            end: 5,
            line: 1,
            column: 1,
            text: "Maybe".into(),
            message: String::new(),
            suggestion: String::new(),
            replacement: None,
            rule: String::new(),
            source: FindingSource::Rules,
        };
        assert_eq!(
            literal_fix("Maybe.", &plain),
            None,
            "no replacement, no edit"
        );
        plain.replacement = Some(String::new());
        assert_eq!(literal_fix("Maybe", &plain), Some((0..5, String::new())));
    }

    #[test]
    fn accepted_phrases_drop_findings_on_or_around_them() {
        let source = "To be honest, I just think it works. Honestly fine.";
        let finding = |start: usize, end: usize| Finding {
            category: Category::Hedging,
            severity: Severity::Warning,
            start,
            end,
            line: 1,
            column: start + 1,
            text: source[start..end].to_string(),
            message: String::new(),
            suggestion: String::new(),
            replacement: None,
            rule: String::new(),
            source: FindingSource::Rules,
        };
        let findings = vec![
            finding(0, 12),
            finding(14, 26),
            finding(0, 36),
            finding(37, 45),
        ];
        let kept = apply_allow(source, findings.clone(), &["to BE honest".into()]);
        // Inside the phrase, and a sentence containing it, go; the rest stays. "Honestly" is
        // another word, not the phrase.
        assert_eq!(
            kept.iter().map(|f| (f.start, f.end)).collect::<Vec<_>>(),
            vec![(14, 26), (37, 45)]
        );
        assert_eq!(apply_allow(source, findings.clone(), &[]).len(), 4);
        assert_eq!(
            apply_allow(source, findings, &["  ".into(), "hon".into()]).len(),
            4
        );
    }

    #[test]
    fn directives_switch_findings_off_by_line_and_category() {
        let source = "<!-- starling-disable-next-line hedging -->\n\nI just think maybe.\nI just think maybe.\n<!-- starling-disable -->\nSorry, sorry.\n<!-- starling-enable -->\nSorry again.\n";
        let finding = |line: usize, category: Category| Finding {
            category,
            severity: Severity::Warning,
            start: 0,
            end: 1,
            line,
            column: 1,
            text: String::new(),
            message: String::new(),
            suggestion: String::new(),
            replacement: None,
            rule: String::new(),
            source: FindingSource::Rules,
        };
        let kept = apply_directives(
            source,
            vec![
                finding(3, Category::Hedging),
                finding(3, Category::Absolutist),
                finding(4, Category::Hedging),
                finding(6, Category::OverApologizing),
                finding(8, Category::OverApologizing),
            ],
        );
        let lines: Vec<(usize, Category)> = kept.iter().map(|f| (f.line, f.category)).collect();
        assert_eq!(
            lines,
            [
                (3, Category::Absolutist),
                (4, Category::Hedging),
                (8, Category::OverApologizing)
            ]
        );
        // A second `disable` adds to the first; one `enable` closes both.
        let nested = "<!-- starling-disable hedging -->\nMaybe.\n<!-- starling-disable over_apologizing -->\nMaybe, sorry.\n<!-- starling-enable -->\nMaybe.";
        let kept = apply_directives(
            nested,
            vec![
                finding(2, Category::Hedging),
                finding(4, Category::Hedging),
                finding(4, Category::OverApologizing),
                finding(6, Category::Hedging),
            ],
        );
        let lines: Vec<(usize, Category)> = kept.iter().map(|f| (f.line, f.category)).collect();
        assert_eq!(lines, [(6, Category::Hedging)]);
    }
}

#[cfg(test)]
mod scaling_tests {
    use super::*;

    fn finding(category: Category, start: usize, end: usize) -> Finding {
        Finding {
            category,
            severity: Severity::Warning,
            start,
            end,
            line: 1,
            column: start + 1,
            text: String::new(),
            message: String::new(),
            suggestion: String::new(),
            replacement: None,
            rule: String::new(),
            source: FindingSource::Rules,
        }
    }

    /// A deterministic spread of spans: some overlapping, some touching, some empty.
    fn spans(seed: usize, n: usize) -> Vec<Finding> {
        let mut state = seed as u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        (0..n)
            .map(|_| {
                let start = next() % 400;
                let end = start + next() % 30;
                let category = Category::ALL[next() % 3];
                finding(category, start, end)
            })
            .collect()
    }

    #[test]
    fn columns_on_a_huge_line_are_counted_from_a_nearby_mark() {
        // One 1 MB line with multi-byte characters: the column of a late offset must be right
        // and found without counting from the start of the line.
        let text = "Sorry — I’ll try. ".repeat(50_000);
        let lines = LineIndex::new(&text);
        for offset in [0, 7, 4095, 4096, 500_003, text.len() - 1, text.len()] {
            let offset = (0..=offset)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap();
            let (line, column, scanned) = lines.position_counted(offset);
            assert_eq!(line, 1);
            assert_eq!(
                column,
                text[..offset].chars().count() + 1,
                "offset {offset}"
            );
            assert!(
                scanned <= COLUMN_MARK_BYTES + 4,
                "counted over {scanned} bytes"
            );
        }
        // Short lines keep their plain answers.
        let lines = LineIndex::new("a\nbé c\n");
        assert_eq!(lines.position(5), (2, 3));
        assert_eq!(lines.line_text(2), "bé c");
        assert_eq!(lines.line_start(2), 2);
    }

    #[test]
    fn merge_keeps_what_a_pairwise_comparison_keeps() {
        for seed in 0..50 {
            let base = spans(seed, 40);
            let extra = spans(seed + 1000, 40);
            let mut expected = base.clone();
            for candidate in extra.clone() {
                let duplicate = expected.iter().any(|f| {
                    f.category == candidate.category
                        && f.start < candidate.end
                        && candidate.start < f.end
                });
                if !duplicate {
                    expected.push(candidate);
                }
            }
            expected.sort_by_key(|f| (f.start, f.end));
            assert_eq!(merge(base, extra), expected, "seed {seed}");
        }
    }

    #[test]
    fn overlapping_findings_match_a_pairwise_comparison() {
        let ranges: Vec<Range<usize>> = (0..40).map(|i| i * 10..i * 10 + 7).collect();
        for seed in 0..50 {
            let mut findings = spans(seed, 60);
            findings.sort_by_key(|f| (f.start, f.end));
            let expected: Vec<Vec<usize>> = ranges
                .iter()
                .map(|r| {
                    (0..findings.len())
                        .filter(|&i| findings[i].start < r.end && r.start < findings[i].end)
                        .collect()
                })
                .collect();
            assert_eq!(overlapping_findings(&ranges, &findings), expected);
        }
    }
}
