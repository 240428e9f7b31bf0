//! Tone check: findings of hedging, defensiveness, blame-shifting and the rest in a script or
//! message, from rules that are data (`rules/tone.toml` plus user files). Pure: the caller
//! reads files; this module only sees text.

pub mod classifier;
pub mod eval;
pub mod report;
pub mod rules;
pub mod segment;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use rules::RuleSet;
pub use segment::InputKind;

/// The kinds of tone problem, with stable ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingSource {
    Rules,
    Model,
    Classifier,
}

/// One problem in the text, located by byte offsets and by 1-based line and column
/// (column counted in characters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The rule's id, or `model` for deep-mode findings.
    pub rule: String,
    pub source: FindingSource,
}

/// Maps byte offsets to 1-based line and character column.
#[derive(Debug)]
pub struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, line_starts }
    }

    /// (line, column), both 1-based.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        let column = self.text[start..offset.min(self.text.len())]
            .chars()
            .count()
            + 1;
        (line, column)
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
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            kind: InputKind::Markdown,
            profile: "default".into(),
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
    for candidate in extra {
        let duplicate = findings.iter().any(|f| {
            f.category == candidate.category && f.start < candidate.end && candidate.start < f.end
        });
        if !duplicate {
            findings.push(candidate);
        }
    }
    findings.sort_by_key(|f| (f.start, f.end));
    findings
}
