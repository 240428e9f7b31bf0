//! The STAR part classifier: which part of a story (situation, task, action, result) a sentence
//! from the notes tells, or none ("other": plans, opinions, metadata). A one-vs-rest linear model
//! over the sentence's MiniLM embedding and a few lexical signals, trained on sentences the
//! project wrote (`data/star/parts.jsonl`, `starling train star-parts`; weights in
//! `rules/star-parts.json`). Pure besides the embedder passed in.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::backends::Embedder;
use crate::error::Result;
use crate::learn::{LinearModel, Training};

/// The classes, in the model's order.
pub const PARTS: [&str; 5] = ["situation", "task", "action", "result", "other"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartModel {
    pub embedder: String,
    pub model: LinearModel,
    #[serde(default)]
    pub validation: serde_json::Value,
}

static BUILTIN: LazyLock<Option<PartModel>> =
    LazyLock::new(|| serde_json::from_str(include_str!("../../rules/star-parts.json")).ok());

/// The part classifier shipped with Starling.
pub fn builtin() -> Option<&'static PartModel> {
    BUILTIN.as_ref()
}

static SIGNALS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // first person
        r"(?i)\b(i|we|my|our)\b",
        // past-tense verb opening (a work-log bullet)
        r"^(?:[-*+]\s+)?[A-Za-z]+ed\b",
        // a figure
        r"\d",
        // goal language
        r"(?i)\b(goal|aim|target|needed to|had to|was asked|asked me to|my job|responsible for|okr|objective|deadline|so that)\b",
        // outcome language
        r"(?i)\b(result|outcome|down from|up from|dropped|fell|rose|improved|reduced|cut|saved|since then|afterwards|now|zero)\b",
        // future or opinion
        r"(?i)\b(will|should|next|todo|maybe|i think|plan to|want to)\b|\?",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("signal"))
    .collect()
});

#[derive(Debug, Deserialize)]
struct HeadingRules {
    part: Vec<HeadingPart>,
}

#[derive(Debug, Deserialize)]
struct HeadingPart {
    name: String,
    phrases: Vec<String>,
}

/// Each heading phrase of `rules/star-headings.toml` with the index of its part in [`PARTS`],
/// longest first (the longest phrase that matches decides).
static HEADINGS: LazyLock<Vec<(Regex, usize, usize)>> = LazyLock::new(|| {
    let rules: HeadingRules = toml::from_str(include_str!("../../rules/star-headings.toml"))
        .expect("rules/star-headings.toml");
    let mut out: Vec<(Regex, usize, usize)> = rules
        .part
        .iter()
        .flat_map(|part| {
            let index = PARTS
                .iter()
                .position(|p| *p == part.name)
                .expect("a part of PARTS in rules/star-headings.toml");
            part.phrases.iter().map(move |phrase| {
                let pattern = format!(r"(?i)(?:^|[^\w]){}(?:[^\w]|$)", regex::escape(phrase));
                (
                    Regex::new(&pattern).expect("heading phrase"),
                    index,
                    phrase.len(),
                )
            })
        })
        .collect();
    out.sort_by_key(|entry| std::cmp::Reverse(entry.2));
    out
});

/// The part (an index into [`PARTS`]) the sentences under `heading` usually tell, by its
/// innermost section (`Plan > What went wrong` reads `What went wrong`), or `None`.
pub fn heading_part(heading: &str) -> Option<usize> {
    let innermost = heading.rsplit(" > ").next().unwrap_or(heading).trim();
    if innermost.is_empty() {
        return None;
    }
    HEADINGS
        .iter()
        .find(|(pattern, _, _)| pattern.is_match(innermost))
        .map(|(_, index, _)| *index)
}

/// How much a section's heading multiplies the probability of its part (then renormalised).
pub const HEADING_WEIGHT: f32 = 3.0;

/// The part probabilities of a sentence, given the heading of its section: the heading's part
/// (if it names one) weighs [`HEADING_WEIGHT`] times, the rest keep their proportions.
pub fn with_heading(mut probabilities: [f32; 5], heading: &str, weight: f32) -> [f32; 5] {
    if let Some(part) = heading_part(heading) {
        probabilities[part] *= weight;
        let total: f32 = probabilities.iter().sum();
        if total > 0.0 {
            probabilities.iter_mut().for_each(|p| *p /= total);
        }
    }
    probabilities
}

/// Input row: the embedding, then the lexical signals.
pub fn features(embedding: &[f32], text: &str) -> Vec<f32> {
    let mut x = embedding.to_vec();
    x.extend(SIGNALS.iter().map(|r| r.is_match(text.trim()) as u8 as f32));
    x
}

impl PartModel {
    /// The probability of each part for each sentence.
    pub fn classify(&self, embedder: &dyn Embedder, sentences: &[String]) -> Result<Vec<[f32; 5]>> {
        let mut out = Vec::with_capacity(sentences.len());
        for batch in sentences.chunks(64) {
            for (text, vector) in batch.iter().zip(embedder.embed(batch)?) {
                let p = self.model.probabilities(&features(&vector, text));
                out.push([p[0], p[1], p[2], p[3], p[4]]);
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Example {
    pub text: String,
    pub part: String,
}

/// Trains the part classifier; the validation figure is 5-fold out-of-fold accuracy.
pub fn train(
    embedder: &dyn Embedder,
    examples: &[Example],
    training: &Training,
) -> Result<PartModel> {
    let labels: Vec<String> = PARTS.iter().map(|s| s.to_string()).collect();
    let texts: Vec<String> = examples.iter().map(|e| e.text.clone()).collect();
    let mut xs = Vec::with_capacity(texts.len());
    for batch in texts.chunks(64) {
        for (text, vector) in batch.iter().zip(embedder.embed(batch)?) {
            xs.push(features(&vector, text));
        }
    }
    let targets: Vec<Vec<String>> = examples.iter().map(|e| vec![e.part.clone()]).collect();
    let folds = 5;
    let mut correct = 0usize;
    let mut per_part = [[0usize; 2]; 5];
    for fold in 0..folds {
        let rows: Vec<usize> = (0..xs.len()).filter(|i| i % folds != fold).collect();
        let model = LinearModel::fit(
            &labels,
            &rows.iter().map(|&i| xs[i].clone()).collect::<Vec<_>>(),
            &rows.iter().map(|&i| targets[i].clone()).collect::<Vec<_>>(),
            training,
        );
        for i in (0..xs.len()).filter(|i| i % folds == fold) {
            let (best, _) = model.argmax(&xs[i]);
            let want = PARTS
                .iter()
                .position(|p| *p == examples[i].part)
                .unwrap_or(4);
            per_part[want][1] += 1;
            if best == want {
                correct += 1;
                per_part[want][0] += 1;
            }
        }
    }
    let model = LinearModel::fit(&labels, &xs, &targets, training).rounded();
    Ok(PartModel {
        embedder: embedder.model_name().to_string(),
        model,
        validation: serde_json::json!({
            "examples": examples.len(),
            "accuracy_out_of_fold": correct as f32 / examples.len().max(1) as f32,
            "recall_per_part": PARTS.iter().zip(per_part).map(|(p, [c, n])| (p.to_string(), c as f32 / n.max(1) as f32)).collect::<std::collections::BTreeMap<_, _>>(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(heading: &str) -> Option<&'static str> {
        heading_part(heading).map(|i| PARTS[i])
    }

    #[test]
    fn the_innermost_heading_names_the_part_and_the_longest_phrase_decides() {
        assert_eq!(
            named("Heron reset > What went wrong (my read)"),
            Some("situation")
        );
        assert_eq!(named("Q3 > Results"), Some("result"));
        assert_eq!(named("Goals for the half"), Some("task"));
        assert_eq!(named("Retro > What I did"), Some("action"));
        assert_eq!(named("Ideas, not started"), Some("other"));
        // "what happened" (situation) is longer than "after" (result).
        assert_eq!(named("What happened after the cutover"), Some("situation"));
        assert_eq!(named("Next steps"), Some("other"));
        // Whole words only: "aftermath" does not match inside "aftermaths2".
        assert_eq!(named("aftermaths2"), None);
        // The outer sections do not count: only the innermost one.
        assert_eq!(named("Results > Tuesday"), None);
        assert_eq!(named(""), None);
        assert_eq!(named("Sync with Dana"), None);
    }

    #[test]
    fn a_heading_raises_its_part_and_keeps_a_distribution() {
        let p = [0.30, 0.10, 0.35, 0.15, 0.10];
        let q = with_heading(p, "Background", HEADING_WEIGHT);
        assert!((q.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(q[0] > q[2], "{q:?}");
        // The other parts keep their proportions.
        assert!((q[2] / q[3] - p[2] / p[3]).abs() < 1e-5);
        assert_eq!(with_heading(p, "Tuesday", HEADING_WEIGHT), p);
        assert_eq!(with_heading(p, "Background", 1.0), p);
    }
}
