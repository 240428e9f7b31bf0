//! Tone rules as data: parses rule files (TOML), compiles their phrases and patterns, runs
//! them over a prose view, and checks each rule's own must-match / must-not-match examples.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::{Regex, RegexSet};
use serde::Deserialize;

use super::segment::{has_blank_line, prose_view, InputKind};
use super::{Category, CheckOptions, Finding, FindingSource, LineIndex, Severity};
use crate::error::{Error, Result};

/// The built-in rule set, compiled into the binary.
pub const BUILTIN_RULES: &str = include_str!("../../rules/tone.toml");
const BUILTIN_NAME: &str = "rules/tone.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    classes: BTreeMap<String, String>,
    #[serde(default)]
    profiles: BTreeMap<String, ProfileSpec>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileSpec {
    #[serde(default)]
    raise: Vec<String>,
    #[serde(default)]
    lower: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    category: String,
    #[serde(default = "default_severity")]
    severity: String,
    #[serde(default)]
    phrases: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    unless: Vec<String>,
    /// Patterns that, found in the next sentence of the same paragraph, clear the hit: an
    /// apology followed by what was done about it is proportionate, not over-apologising.
    #[serde(default)]
    unless_next: Vec<String>,
    message: String,
    suggestion: String,
    /// A literal replacement for the matched words (`""` removes them), for rules whose
    /// suggestion is an edit that needs no judgement; editors offer it as a quick fix.
    #[serde(default)]
    replace: Option<String>,
    #[serde(default)]
    examples: Examples,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Examples {
    #[serde(default, rename = "match")]
    must_match: Vec<String>,
    #[serde(default)]
    no_match: Vec<String>,
}

fn default_severity() -> String {
    "warning".into()
}

/// One compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub category: Category,
    pub severity: Severity,
    pub message: String,
    pub suggestion: String,
    /// The literal replacement for a match, when the rule has one (`""`: remove it).
    pub replace: Option<String>,
    pub origin: PathBuf,
    pub must_match: Vec<String>,
    pub no_match: Vec<String>,
    regex: Regex,
    unless: Vec<Regex>,
    unless_next: Vec<Regex>,
}

/// Compiled rules plus the profiles that adjust their severities.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    set: RegexSet,
    profiles: BTreeMap<String, (Vec<Category>, Vec<Category>)>,
}

/// Turns `'` into a class that also matches the typographic apostrophe, `\b` into an ASCII
/// word boundary (fast, and `’` is not a word character), and `{class}` into its alternation.
fn expand_pattern(
    pattern: &str,
    classes: &BTreeMap<String, String>,
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next().ok_or("pattern ends with a backslash")?;
                if next == 'b' && !in_class {
                    out.push_str(r"(?-u:\b)");
                } else {
                    out.push('\\');
                    out.push(next);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '\'' if in_class => out.push_str("'’"),
            '\'' => out.push_str("['’]"),
            '{' if !in_class && chars.peek().is_some_and(|n| n.is_ascii_alphabetic()) => {
                let mut name = String::new();
                for n in chars.by_ref() {
                    if n == '}' {
                        break;
                    }
                    name.push(n);
                }
                let body = classes
                    .get(&name)
                    .ok_or_else(|| format!("unknown word class `{{{name}}}`"))?;
                out.push_str("(?:");
                out.push_str(&expand_pattern(body, classes)?);
                out.push(')');
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// A literal phrase: any whitespace between words, either apostrophe, whole words only.
fn phrase_pattern(phrase: &str) -> String {
    let words: Vec<String> = phrase
        .split_whitespace()
        .map(|word| regex::escape(word).replace(['\'', '’'], "['’]"))
        .collect();
    let body = words.join(r"\s+");
    let starts_word = phrase.chars().next().is_some_and(|c| c.is_alphanumeric());
    let ends_word = phrase.chars().last().is_some_and(|c| c.is_alphanumeric());
    format!(
        "{}{}{}",
        if starts_word { r"(?-u:\b)" } else { "" },
        body,
        if ends_word { r"(?-u:\b)" } else { "" }
    )
}

/// A reporting cue outside the quotes ("she said", "the survey verbatims", "per the review"):
/// the quoted words are someone else's, reported, not the writer's own tone. "I said" does not
/// count: a person's own lines in a script are theirs.
static REPORTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:said|says|say|wrote|writes|told|asked|called it|put it|mentioned|complained|quoted?|quotes|verbatims?|feedback|comments?|commented|according to|in (?:his|her|their) words|survey|interview|notes say|ticket says|review says)\b")
        .expect("reported speech")
});
static SELF_REPORTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:I|we) (?:said|say|wrote|told|asked|mentioned|complained)\b")
        .expect("own speech")
});

/// True when `start..end` of `sentence` lies inside quotation marks (“...”, "...") and the
/// sentence attributes the quote to someone else.
fn quoted_from_others(sentence: &str, start: usize, end: usize) -> bool {
    let mut open: Option<(usize, char)> = None;
    let mut inside = false;
    let mut outside = String::with_capacity(sentence.len());
    for (i, c) in sentence.char_indices() {
        match (open, c) {
            (None, '“') | (None, '"') => open = Some((i, c)),
            (Some((at, '“')), '”') | (Some((at, '"')), '"') => {
                if at < start && end <= i {
                    inside = true;
                }
                open = None;
            }
            (None, c) => outside.push(c),
            _ => {}
        }
    }
    if open.is_some() {
        // An unclosed quote: its text is not known to be someone else's.
        return false;
    }
    inside && REPORTED.is_match(&outside) && !SELF_REPORTED.is_match(&outside)
}

impl RuleSet {
    /// The built-in rules plus the user's rule files, in order.
    pub fn load(extra_files: &[PathBuf]) -> Result<RuleSet> {
        let mut sources = vec![(PathBuf::from(BUILTIN_NAME), BUILTIN_RULES.to_string())];
        for path in extra_files {
            let text = std::fs::read_to_string(path).map_err(|err| Error::Rules {
                path: path.clone(),
                message: format!("cannot read it ({err}); fix the path in tone.rules"),
            })?;
            sources.push((path.clone(), text));
        }
        let set = RuleSet::from_sources(&sources)?;
        // User rules must pass their own examples, so a broken rule is caught when written.
        for rule in set
            .rules
            .iter()
            .filter(|r| r.origin != Path::new(BUILTIN_NAME))
        {
            set.check_rule_examples(rule)
                .map_err(|message| Error::Rules {
                    path: rule.origin.clone(),
                    message,
                })?;
        }
        Ok(set)
    }

    /// Compiles rule files given as (name, text). Word classes and profiles accumulate.
    pub fn from_sources(sources: &[(PathBuf, String)]) -> Result<RuleSet> {
        let mut classes = BTreeMap::new();
        let mut profiles: BTreeMap<String, (Vec<Category>, Vec<Category>)> = BTreeMap::new();
        let mut rules: Vec<Rule> = Vec::new();
        for (path, text) in sources {
            let error = |message: String| Error::Rules {
                path: path.clone(),
                message,
            };
            let file: RuleFile = toml::from_str(text).map_err(|err| error(err.to_string()))?;
            classes.extend(file.classes);
            for (name, spec) in file.profiles {
                let parse = |ids: &[String]| -> Result<Vec<Category>> {
                    ids.iter()
                        .map(|id| {
                            Category::from_id(id).ok_or_else(|| {
                                error(format!("profile `{name}`: unknown category `{id}`"))
                            })
                        })
                        .collect()
                };
                profiles.insert(name.clone(), (parse(&spec.raise)?, parse(&spec.lower)?));
            }
            for spec in file.rules {
                let rule_error = |message: String| error(format!("rule `{}`: {message}", spec.id));
                if rules.iter().any(|r| r.id == spec.id) {
                    return Err(rule_error("duplicate id; rename one of them".into()));
                }
                let category = Category::from_id(&spec.category).ok_or_else(|| {
                    let known: Vec<&str> = Category::ALL.iter().map(|c| c.id()).collect();
                    rule_error(format!(
                        "unknown category `{}`; use one of {}",
                        spec.category,
                        known.join(", ")
                    ))
                })?;
                let severity = Severity::from_id(&spec.severity).ok_or_else(|| {
                    rule_error(format!(
                        "unknown severity `{}`; use info, warning or error",
                        spec.severity
                    ))
                })?;
                let mut alternatives: Vec<String> =
                    spec.phrases.iter().map(|p| phrase_pattern(p)).collect();
                for pattern in &spec.patterns {
                    alternatives.push(expand_pattern(pattern, &classes).map_err(rule_error)?);
                }
                if alternatives.is_empty() {
                    return Err(rule_error(
                        "no phrases or patterns; add at least one".into(),
                    ));
                }
                let joined = format!("(?i)(?:{})", alternatives.join("|"));
                let regex =
                    Regex::new(&joined).map_err(|err| rule_error(format!("bad pattern: {err}")))?;
                let compile = |patterns: &[String], key: &str| {
                    patterns
                        .iter()
                        .map(|u| {
                            let expanded = expand_pattern(u, &classes).map_err(rule_error)?;
                            Regex::new(&format!("(?i){expanded}"))
                                .map_err(|err| rule_error(format!("bad `{key}` pattern: {err}")))
                        })
                        .collect::<Result<Vec<_>>>()
                };
                let unless = compile(&spec.unless, "unless")?;
                let unless_next = compile(&spec.unless_next, "unless_next")?;
                rules.push(Rule {
                    id: spec.id,
                    category,
                    severity,
                    message: spec.message.trim().to_string(),
                    suggestion: spec.suggestion.trim().to_string(),
                    replace: spec.replace,
                    origin: path.clone(),
                    must_match: spec.examples.must_match,
                    no_match: spec.examples.no_match,
                    regex,
                    unless,
                    unless_next,
                });
            }
        }
        let set =
            RegexSet::new(rules.iter().map(|r| r.regex.as_str())).map_err(|err| Error::Rules {
                path: PathBuf::from(BUILTIN_NAME),
                message: err.to_string(),
            })?;
        Ok(RuleSet {
            rules,
            set,
            profiles,
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Profile names, `default` included.
    pub fn profile_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.profiles.keys().cloned().collect();
        if !names.iter().any(|n| n == "default") {
            names.insert(0, "default".into());
        }
        names
    }

    pub fn adjusted(&self, profile: &str, category: Category, severity: Severity) -> Severity {
        match self.profiles.get(profile) {
            Some((raise, _)) if raise.contains(&category) => severity.raised(),
            Some((_, lower)) if lower.contains(&category) => severity.lowered(),
            _ => severity,
        }
    }

    /// Checks `source`, returning findings sorted by position.
    pub fn check(&self, source: &str, options: &CheckOptions) -> Result<Vec<Finding>, String> {
        if options.profile != "default" && !self.profiles.contains_key(&options.profile) {
            return Err(format!(
                "unknown profile `{}`; use one of {}",
                options.profile,
                self.profile_names().join(", ")
            ));
        }
        let view = prose_view(source, options.kind);
        let lines = LineIndex::new(source);
        let mut findings: Vec<Finding> = Vec::new();
        for (n, sentence_range) in view.sentences.iter().enumerate() {
            let sentence = &view.text[sentence_range.clone()];
            // The sentence after this one, when the same paragraph goes on with it.
            let next = view.sentences.get(n + 1).and_then(|following| {
                (!has_blank_line(&view.text[sentence_range.end..following.start]))
                    .then(|| &view.text[following.clone()])
            });
            for index in self.set.matches(sentence).iter() {
                let rule = &self.rules[index];
                if rule.unless.iter().any(|u| u.is_match(sentence))
                    || next.is_some_and(|next| rule.unless_next.iter().any(|u| u.is_match(next)))
                {
                    continue;
                }
                for found in rule.regex.find_iter(sentence) {
                    if quoted_from_others(sentence, found.start(), found.end()) {
                        continue;
                    }
                    let start = sentence_range.start + found.start();
                    let end = sentence_range.start + found.end();
                    let (line, column) = lines.position(start);
                    findings.push(Finding {
                        category: rule.category,
                        severity: self.adjusted(&options.profile, rule.category, rule.severity),
                        start,
                        end,
                        line,
                        column,
                        text: source[start..end].to_string(),
                        message: rule.message.clone(),
                        suggestion: rule.suggestion.clone(),
                        replacement: rule.replace.clone(),
                        rule: rule.id.clone(),
                        source: FindingSource::Rules,
                    });
                }
            }
        }
        // One finding per category and span: overlapping hits of the same category keep the
        // longest (then most severe) one.
        findings.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.end.cmp(&a.end))
                .then(b.severity.cmp(&a.severity))
        });
        // Sorted by start, so a finding overlaps an earlier kept one of its category exactly
        // when it starts before the furthest end kept so far for that category.
        let mut kept: Vec<Finding> = Vec::with_capacity(findings.len());
        let mut furthest_end: std::collections::HashMap<Category, usize> =
            std::collections::HashMap::new();
        for finding in findings {
            let end = furthest_end.entry(finding.category).or_insert(0);
            if finding.start >= *end {
                *end = finding.end;
                kept.push(finding);
            }
        }
        Ok(kept)
    }

    /// Runs one rule's examples; returns what went wrong.
    pub fn check_rule_examples(&self, rule: &Rule) -> std::result::Result<(), String> {
        let options = CheckOptions {
            kind: InputKind::PlainText,
            ..Default::default()
        };
        for example in &rule.must_match {
            let findings = self.check(example, &options)?;
            if !findings.iter().any(|f| {
                f.rule == rule.id || (f.category == rule.category && rule.regex.is_match(example))
            }) {
                return Err(format!("example {example:?} must match but does not"));
            }
        }
        for example in &rule.no_match {
            let findings = self.check(example, &options)?;
            if let Some(f) = findings.iter().find(|f| f.rule == rule.id) {
                return Err(format!(
                    "example {example:?} must not match but does (at {:?})",
                    f.text
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> RuleSet {
        RuleSet::from_sources(&[(PathBuf::from(BUILTIN_NAME), BUILTIN_RULES.to_string())]).unwrap()
    }

    #[test]
    fn every_builtin_rule_passes_its_examples() {
        let set = builtin();
        let failures: Vec<String> = set
            .rules()
            .iter()
            .filter_map(|rule| {
                set.check_rule_examples(rule)
                    .err()
                    .map(|e| format!("{}: {e}", rule.id))
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        for category in Category::ALL {
            assert!(
                set.rules().iter().any(|r| r.category == category),
                "no rule for {category}"
            );
            assert!(set
                .rules()
                .iter()
                .filter(|r| r.category == category)
                .all(|r| !r.must_match.is_empty() && !r.no_match.is_empty()));
        }
    }

    fn check(text: &str, expected: &[(&str, Category)]) {
        let findings = builtin()
            .check(
                text,
                &CheckOptions {
                    kind: InputKind::PlainText,
                    ..Default::default()
                },
            )
            .unwrap();
        let got: Vec<(&str, Category)> = findings
            .iter()
            .map(|f| (f.text.as_str(), f.category))
            .collect();
        assert_eq!(got, expected, "in {text:?}");
    }

    #[test]
    fn phrases_match_either_apostrophe_whatever_the_rule_file_uses() {
        for phrase in ["I'll try", "I’ll try"] {
            let regex = Regex::new(&format!("(?i){}", phrase_pattern(phrase))).unwrap();
            assert!(
                regex.is_match("I'll try") && regex.is_match("I’ll try"),
                "{phrase}: {regex}"
            );
            assert!(!regex.is_match("I'lll try"));
        }
    }

    #[test]
    fn smarter_than_keywords() {
        check("I think the cache key is the bug; the trace shows it.", &[]);
        check("p99 must never exceed 300 ms.", &[]);
        check("The service was deployed at 9:00.", &[]);
        check(
            "Mistakes were made.",
            &[("Mistakes were made", Category::PassiveVoiceAgency)],
        );
        check(
            "I’ll do my best.",
            &[("I’ll do my best", Category::Hedging)],
        );
    }

    #[test]
    fn offsets_lines_and_columns_point_at_the_match() {
        let text = "Fine.\n\n• “Sorry to bother you.”";
        let findings = builtin().check(text, &CheckOptions::default()).unwrap();
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(&text[f.start..f.end], f.text);
        assert_eq!((f.line, f.column), (3, 4));
    }

    #[test]
    fn profiles_raise_severity_and_unknown_profiles_are_errors() {
        let set = builtin();
        let text = "I'll do my best.";
        let plain = set.check(text, &CheckOptions::default()).unwrap();
        let pip = set
            .check(
                text,
                &CheckOptions {
                    profile: "pip-response".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(plain[0].severity, Severity::Warning);
        assert_eq!(pip[0].severity, Severity::Error);
        let err = set
            .check(
                text,
                &CheckOptions {
                    profile: "loud".into(),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(err.contains("pip-response"), "{err}");
    }

    #[test]
    fn user_rule_with_failing_example_is_rejected_with_file_and_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(
            &path,
            "[[rules]]\nid = \"mine-circle-back\"\ncategory = \"vague_claim\"\nphrases = [\"circle back\"]\nmessage = \"m\"\nsuggestion = \"s\"\n[rules.examples]\nmatch = [\"Let's touch base.\"]\nno_match = []\n",
        )
        .unwrap();
        let message = RuleSet::load(std::slice::from_ref(&path))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("mine.toml") && message.contains("must match"),
            "{message}"
        );
    }
}

#[cfg(test)]
mod quality {
    use super::*;
    use crate::tone::eval::{parse_labelled, render, score_rules};

    /// The labelled set is the project's own (tests/fixtures/tone/labelled.tsv); the issue's
    /// bar is precision >= 0.85 and recall >= 0.6 for the rules alone.
    #[test]
    fn rules_meet_the_quality_bar_on_the_labelled_set() {
        let items = parse_labelled(include_str!("../../tests/fixtures/tone/labelled.tsv")).unwrap();
        assert!(items.len() >= 150);
        let rules = RuleSet::load(&[]).unwrap();
        let scores = score_rules(&rules, &items);
        let table = render(&scores, "rules");
        eprintln!("{table}");
        assert!(
            scores.overall.precision() >= 0.85,
            "{table}\nflagged neutral: {:#?}",
            scores.neutral_flagged
        );
        assert!(scores.overall.recall() >= 0.6, "{table}");
    }
}
