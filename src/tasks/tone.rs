//! Model-backed tone work: `--deep` review (schema-constrained findings, quotes checked
//! against the text) and the `--fix` rewrite loop (sentence rewrites checked for invented
//! numbers). The rule engine lives in `crate::tone`; this module only adds the model.

use std::ops::Range;

use serde::Deserialize;
use serde_json::json;

use crate::backends::{GenerateRequest, Generator, Sampling};
use crate::error::{Error, Result};
use crate::prompts::Prompt;
use crate::structured::generate_json;
use crate::tone::segment::{prose_view, InputKind};
use crate::tone::{Category, Finding, FindingSource, LineIndex, Severity};

/// Passages sent to the model are at most this many bytes (several short paragraphs are
/// joined, so a script of one-line bullets does not cost one model call per line).
const PASSAGE_BYTES: usize = 900;

/// The JSON Schema the review must follow.
pub fn review_schema() -> serde_json::Value {
    let categories: Vec<&str> = Category::ALL.iter().map(|c| c.id()).collect();
    json!({
        "type": "object",
        "properties": {
            "findings": {
                "type": "array",
                "maxItems": 4,
                "items": {
                    "type": "object",
                    "properties": {
                        "category": {"enum": categories},
                        "quote": {"type": "string", "minLength": 3, "maxLength": 160},
                        "message": {"type": "string", "maxLength": 240},
                        "rewrite": {"type": "string", "maxLength": 300}
                    },
                    "required": ["category", "quote", "message", "rewrite"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["findings"],
        "additionalProperties": false
    })
}

#[derive(Debug, Deserialize)]
struct ReviewReply {
    findings: Vec<ModelFinding>,
}

#[derive(Debug, Deserialize)]
struct ModelFinding {
    category: String,
    quote: String,
    message: String,
    rewrite: String,
}

/// Groups paragraphs into passages of at most `PASSAGE_BYTES` (a longer paragraph stays whole).
pub fn passages(source: &str, kind: InputKind) -> Vec<Range<usize>> {
    let view = prose_view(source, kind);
    let mut out: Vec<Range<usize>> = Vec::new();
    for paragraph in view.paragraphs() {
        match out.last_mut() {
            Some(last) if paragraph.end - last.start <= PASSAGE_BYTES => last.end = paragraph.end,
            _ => out.push(paragraph),
        }
    }
    out
}

/// Builds the user message for one passage.
pub fn review_prompt(prompt: &Prompt, passage: &str, hints: &[&Finding]) -> String {
    let hints = if hints.is_empty() {
        "none".to_string()
    } else {
        hints
            .iter()
            .map(|f| format!("{} \"{}\"", f.category, f.text))
            .collect::<Vec<_>>()
            .join("; ")
    };
    prompt.render_user(&[("hints", &hints), ("passage", passage)])
}

/// Turns the model's reply into findings; a quote that is not verbatim in the passage is dropped.
pub fn parse_review(
    reply: &serde_json::Value,
    source: &str,
    passage: Range<usize>,
) -> Vec<Finding> {
    let Ok(reply) = serde_json::from_value::<ReviewReply>(reply.clone()) else {
        return Vec::new();
    };
    let lines = LineIndex::new(source);
    let text = &source[passage.clone()];
    reply
        .findings
        .into_iter()
        .filter_map(|m| {
            let category = Category::from_id(&m.category)?;
            let quote = m.quote.trim();
            if quote.len() < 3 {
                return None;
            }
            let at = text.find(quote)?;
            let start = passage.start + at;
            let (line, column) = lines.position(start);
            Some(Finding {
                category,
                severity: Severity::Warning,
                start,
                end: start + quote.len(),
                line,
                column,
                text: quote.to_string(),
                message: m.message.trim().to_string(),
                suggestion: m.rewrite.trim().to_string(),
                replacement: None,
                rule: "model".into(),
                source: FindingSource::Model,
            })
        })
        .collect()
}

/// What the model review produced, and the passages it could not review.
#[derive(Debug, Default)]
pub struct DeepReview {
    pub findings: Vec<Finding>,
    pub warnings: Vec<String>,
}

/// Reviews every passage of `source` with the model; `rule_findings` are given as hints.
pub fn deep_review(
    generator: &dyn Generator,
    prompt: &Prompt,
    source: &str,
    kind: InputKind,
    rule_findings: &[Finding],
    sampling: &Sampling,
) -> Result<DeepReview> {
    let schema = review_schema();
    let mut review = DeepReview::default();
    for passage in passages(source, kind) {
        let hints: Vec<&Finding> = rule_findings
            .iter()
            .filter(|f| f.start >= passage.start && f.end <= passage.end)
            .collect();
        let request = GenerateRequest {
            system: Some(prompt.system.clone()),
            prompt: review_prompt(prompt, &source[passage.clone()], &hints),
            sampling: Sampling {
                max_tokens: 400,
                ..sampling.clone()
            },
            ..Default::default()
        };
        match generate_json(generator, &request, &schema) {
            Ok((reply, _)) => review
                .findings
                .extend(parse_review(&reply, source, passage)),
            Err(Error::UnparseableOutput { reason, .. }) => {
                let (line, _) = LineIndex::new(source).position(passage.start);
                review.warnings.push(format!(
                    "line {line}: the model's review was unusable ({reason}); rule findings kept"
                ));
            }
            Err(err) => return Err(err),
        }
    }
    Ok(review)
}

/// One sentence the fix loop touched.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SentenceFix {
    pub start: usize,
    pub end: usize,
    pub before: String,
    pub after: String,
    pub accepted: bool,
    pub note: Option<String>,
}

/// Numbers written with digits, for the no-invented-numbers check.
fn numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() || (!current.is_empty() && (c == '.' || c == ',')) {
            current.push(c);
        } else if !current.is_empty() {
            found.push(current.trim_end_matches(['.', ',']).replace(',', ""));
            current.clear();
        }
    }
    if !current.is_empty() {
        found.push(current.trim_end_matches(['.', ',']).replace(',', ""));
    }
    found
}

/// Cleans a model rewrite and checks it keeps to the original's facts.
pub fn accept_rewrite(before: &str, raw: &str) -> std::result::Result<String, String> {
    let after = raw
        .trim()
        .trim_start_matches("<sentence>")
        .trim_end_matches("</sentence>")
        .trim()
        .trim_matches(['"', '“', '”'])
        .trim()
        .to_string();
    if after.is_empty() {
        return Err("the model returned nothing".into());
    }
    if after == before {
        return Err("the model returned the sentence unchanged".into());
    }
    if after.len() > before.len() * 3 / 2 + 30 {
        return Err("the rewrite is far longer than the sentence".into());
    }
    // Small models sometimes answer about the sentence instead of rewriting it.
    let lower_before = before.to_lowercase();
    let meta = [
        "sentence",
        "rephrase",
        "rewrite",
        "original",
        "passive voice",
        "instead of saying",
        "you could",
    ];
    if let Some(word) = meta
        .iter()
        .find(|w| after.to_lowercase().contains(**w) && !lower_before.contains(**w))
    {
        return Err(format!(
            "the model commented on the sentence (\"{word}\") instead of rewriting it"
        ));
    }
    let original = numbers(before);
    if let Some(invented) = numbers(&after).into_iter().find(|n| !original.contains(n)) {
        return Err(format!(
            "the rewrite adds the number {invented}, which the original does not have"
        ));
    }
    if let Some(dropped) = original.iter().find(|n| !numbers(&after).contains(n)) {
        return Err(format!("the rewrite drops the number {dropped}"));
    }
    Ok(after)
}

/// The part of a sentence worth rewriting: without leading bullets/quotes and trailing quotes.
fn core_range(source: &str, sentence: Range<usize>) -> Range<usize> {
    let text = &source[sentence.clone()];
    let lead = text.find(|c: char| c.is_alphanumeric()).unwrap_or(0);
    let trimmed_end = text.trim_end_matches(['”', '"', '’', '\'', ')', ' ']).len();
    sentence.start + lead..sentence.start + trimmed_end.max(lead)
}

/// Rewrites each sentence that has findings; returns the new text and what changed.
pub fn fix(
    generator: &dyn Generator,
    prompt: &Prompt,
    source: &str,
    kind: InputKind,
    findings: &[Finding],
    sampling: &Sampling,
) -> Result<(String, Vec<SentenceFix>)> {
    let view = prose_view(source, kind);
    let mut fixes = Vec::new();
    for sentence in &view.sentences {
        let inside: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.start >= sentence.start && f.start < sentence.end)
            .collect();
        if inside.is_empty() {
            continue;
        }
        let core = core_range(source, sentence.clone());
        let before = &source[core.clone()];
        let problems = inside
            .iter()
            .map(|f| format!("{} (\"{}\"): {}", f.category, f.text, f.message))
            .collect::<Vec<_>>()
            .join("; ");
        let request = GenerateRequest {
            system: Some(prompt.system.clone()),
            prompt: prompt.render_user(&[("problems", &problems), ("sentence", before)]),
            sampling: Sampling {
                max_tokens: (before.len() as u32 / 2 + 40).min(400),
                stop: vec!["\n".into(), "</sentence>".into()],
                ..sampling.clone()
            },
            ..Default::default()
        };
        let generation = generator.generate(&request, &mut |_| {})?;
        let (accepted, after, note) = match accept_rewrite(before, &generation.text) {
            Ok(after) => (true, after, None),
            Err(why) => (false, before.to_string(), Some(why)),
        };
        fixes.push(SentenceFix {
            start: core.start,
            end: core.end,
            before: before.to_string(),
            after,
            accepted,
            note,
        });
    }
    let mut text = source.to_string();
    for change in fixes.iter().rev().filter(|f| f.accepted) {
        text.replace_range(change.start..change.end, &change.after);
    }
    Ok((text, fixes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::fake::FakeGenerator;

    #[test]
    fn rewrites_that_invent_or_drop_numbers_are_refused() {
        assert_eq!(
            accept_rewrite("I cut p99 by 30%.", "I cut p99 by 30%, reliably.").unwrap(),
            "I cut p99 by 30%, reliably."
        );
        assert!(accept_rewrite("I cut p99 by 30%.", "I cut p99 by 45%.")
            .unwrap_err()
            .contains("45"));
        assert!(
            accept_rewrite("On-call took 40 hours.", "On-call was heavy.")
                .unwrap_err()
                .contains("drops")
        );
        assert!(accept_rewrite("Sorry.", "  ").is_err());
        let meta = "The original sentence is an example of blame shifting; you could rephrase it.";
        assert!(accept_rewrite(
            "The RFC took longer because the growth team was late.",
            meta
        )
        .unwrap_err()
        .contains("commented"));
    }

    #[test]
    fn review_quotes_must_be_verbatim() {
        let source = "Intro.\n\nI'll do my best, honestly.";
        let passage = 8..source.len();
        let reply = json!({"findings": [
            {"category": "hedging", "quote": "I'll do my best", "message": "m", "rewrite": "I will."},
            {"category": "venting", "quote": "not in the text", "message": "m", "rewrite": "r"}
        ]});
        let findings = parse_review(&reply, source, passage);
        assert_eq!(findings.len(), 1);
        assert_eq!(
            (findings[0].line, findings[0].column, findings[0].source),
            (3, 1, FindingSource::Model)
        );
    }

    #[test]
    fn fix_replaces_only_accepted_sentences() {
        let source =
            "• “I'll do my best to ship by Friday.”\n\n• Sorry to bother you, we lost 3 days.\n";
        let rules = crate::tone::RuleSet::load(&[]).unwrap();
        let findings = rules.check(source, &Default::default()).unwrap();
        let generator = FakeGenerator::new(["I will ship by Friday.", "We lost 5 days."]);
        let prompt = Prompt::load("tone-fix", None).unwrap();
        let (text, fixes) = fix(
            &generator,
            &prompt,
            source,
            InputKind::Markdown,
            &findings,
            &Sampling::default(),
        )
        .unwrap();
        assert_eq!(
            text,
            "• “I will ship by Friday.”\n\n• Sorry to bother you, we lost 3 days.\n"
        );
        assert!(!fixes[1].accepted && fixes[1].note.as_deref().unwrap().contains('5'));
    }
}
