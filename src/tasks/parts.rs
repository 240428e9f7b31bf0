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
