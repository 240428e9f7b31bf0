//! The learned layer of the tone check: a one-vs-rest linear classifier per category over each
//! sentence's distilled word vectors (`tokens`: MiniLM's vectors of single words, averaged), the
//! rules' own hits in it and its hashed words, trained on the project's labelled sentences
//! (`data/tone/*.jsonl`, `starling train tone`; weights in `rules/tone-classifier.json`, the
//! word vectors' part folded into per-word scores in `rules/tone-classifier.bin`; thresholds
//! chosen for precision on held-back folds). A learned finding covers the sentence, carries
//! `"source": "classifier"` and its probability; rule findings keep their exact spans, messages
//! and suggestions, and the classifier can veto a rule hit it finds very unlikely (a literal
//! spec with "never", quoted speech). Checking needs the embedder's tokenizer, not the embedder.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::segment::prose_view;
use super::tokens::{Vocabulary, WordScores, WordVectors};
use super::{Category, CheckOptions, Finding, FindingSource, LineIndex, RuleSet, Severity};
use crate::backends::Embedder;
use crate::error::{Error, Result};
use crate::learn::{sigmoid, LinearModel, Sparse};

/// The saved classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToneModel {
    /// The embedder whose tokenizer and word vectors it was trained on.
    pub embedder: String,
    /// Weights over the rule hits and word buckets (`extra_inputs`); the word vectors' part is
    /// `words`.
    pub model: LinearModel,
    /// Below this probability a rule hit of the category is dropped as a false alarm.
    pub veto: Vec<f32>,
    /// Cross-validated figures on the training set, for README and review.
    #[serde(default)]
    pub validation: serde_json::Value,
    /// Each category's score of each word (the folded weights over the word vectors), saved
    /// beside the JSON (`WordScores::to_bytes`).
    #[serde(skip)]
    pub words: Option<WordScores>,
}

static BUILTIN: LazyLock<Option<ToneModel>> = LazyLock::new(|| {
    let mut model: ToneModel =
        serde_json::from_str(include_str!("../../rules/tone-classifier.json")).ok()?;
    model.words =
        Some(WordScores::from_bytes(include_bytes!("../../rules/tone-classifier.bin")).ok()?);
    Some(model)
});

/// The classifier shipped with Starling.
pub fn builtin() -> Option<&'static ToneModel> {
    BUILTIN.as_ref()
}

/// How the tone classifier is fitted. A lighter L2 penalty than the default suits the 4,096
/// word buckets: on the training data's folds (with MiniLM sentence embeddings then),
/// 1e-4 / 3e-4 / 1e-3 gave F1 0.871 / 0.874 / 0.859 and macro-F1 0.812 / 0.810 / 0.793, with
/// 5.1% / 5.6% / 5.6% of neutral sentences flagged.
pub const TRAINING: crate::learn::Training = crate::learn::Training {
    iterations: 400,
    learning_rate: 2.0,
    l2: 1e-4,
    balance: true,
};

/// Buckets of the hashed word features.
pub const LEXICAL_BUCKETS: usize = 4096;

/// The inputs of a row besides the sentence vector: one per category (a rule flagged the sentence)
/// and the word buckets.
pub fn extra_inputs() -> usize {
    Category::ALL.len() + LEXICAL_BUCKETS
}

/// Input row: the sentence vector (in training; when checking it is empty, its weights folded
/// into `ToneModel::words`), one indicator per category that a rule flagged the sentence, then
/// the sentence's words and word pairs hashed into `LEXICAL_BUCKETS` (present or not, the block
/// scaled to unit length). Words carry what the embedding blurs ("not my", "as I said",
/// "was decided"): on the training data's folds they lift recall at the same neutral rate.
pub fn features(embedding: &[f32], rule_hits: &[Category], text: &str) -> Sparse {
    let mut x: Vec<(u32, f32)> = embedding
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u32, *v))
        .collect();
    let base = embedding.len();
    for (i, c) in Category::ALL.iter().enumerate() {
        if rule_hits.contains(c) {
            x.push(((base + i) as u32, 1.0));
        }
    }
    let base = (base + Category::ALL.len()) as u32;
    let buckets = word_buckets(text);
    let value = 1.0 / (buckets.len().max(1) as f32).sqrt();
    x.extend(buckets.into_iter().map(|b| (base + b, value)));
    Sparse(x)
}

/// The distinct buckets of a text's lowercased tokens (runs of letters and digits, or one
/// punctuation mark) and of each pair of neighbouring tokens. FNV-1a: stable across builds.
fn word_buckets(text: &str) -> Vec<u32> {
    let lower = text.to_lowercase();
    let mut tokens: Vec<&str> = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in lower.char_indices() {
        let word = c.is_alphanumeric() || c == '_';
        match (word, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                tokens.push(&lower[s..i]);
                start = None;
            }
            _ => {}
        }
        if !word && !c.is_whitespace() {
            tokens.push(&lower[i..i + c.len_utf8()]);
        }
    }
    if let Some(s) = start {
        tokens.push(&lower[s..]);
    }
    let hash = |parts: &[&str]| -> u32 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (k, part) in parts.iter().enumerate() {
            if k > 0 {
                h ^= u64::from(b' ');
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            for byte in part.bytes() {
                h ^= u64::from(byte);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        (h % LEXICAL_BUCKETS as u64) as u32
    };
    let mut buckets: Vec<u32> = tokens
        .iter()
        .map(|t| hash(&[t]))
        .chain(tokens.windows(2).map(hash))
        .collect();
    buckets.sort_unstable();
    buckets.dedup();
    buckets
}

fn message(category: Category) -> (&'static str, &'static str) {
    match category {
        Category::Hedging => (
            "Qualifiers weaken a point you are entitled to make; the listener hears doubt rather than a position.",
            "State it plainly and give the evidence: \"I recommend X because Y.\"",
        ),
        Category::OverApologizing => (
            "An apology out of proportion to the issue shifts the conversation to your feelings and signals less confidence than the facts warrant.",
            "Apologise once, if at all, and move to the plan: \"I missed X; here is what I have changed.\"",
        ),
        Category::Defensive => (
            "Justifying or dismissing the feedback before engaging with it reads as not listening, and the listener digs in.",
            "Acknowledge what you heard, then give facts: \"I see why it looked that way; here is the timeline.\"",
        ),
        Category::BlameShifting => (
            "Placing your own miss on someone else or on a tool makes the listener doubt you will own the next one.",
            "Name your part and your fix; mention outside causes as facts: \"I shipped without the check; I have added it.\"",
        ),
        Category::PassiveAggressive => (
            "Veiled hostility (sarcasm, pointed reminders) is heard before the content and invites the same back.",
            "Say the request directly: \"I need X by Friday; can you confirm?\"",
        ),
        Category::VagueClaim => (
            "A claim without specifics where specifics are expected is easy to dismiss.",
            "Name what changed, for whom, with a figure: \"cut p95 from 900 to 300 ms for the checkout API\".",
        ),
        Category::Venting => (
            "Emotional unloading with no ask leaves the listener unsure what you want from them.",
            "Pair the feeling with a concrete request: \"This week was hard; can we move the review to Monday?\"",
        ),
        Category::Absolutist => (
            "Sweeping always/never/everyone claims about people are easy to disprove and put the listener on the defensive.",
            "Give the instances: \"In the last three reviews, my comments were not addressed.\"",
        ),
        Category::PassiveVoiceAgency => (
            "The passive voice hides who made the mistake or the decision, which is the part the listener needs.",
            "Name who did it: \"I moved the deadline\" or \"The platform team changed the schema.\"",
        ),
    }
}

/// Rule findings combined with the classifier's, for one text.
pub fn check(
    rules: &RuleSet,
    classifier: &ToneModel,
    vocabulary: &Vocabulary,
    source: &str,
    options: &CheckOptions,
) -> Result<Vec<Finding>> {
    let rule_findings = rules
        .check(source, options)
        .map_err(|message| Error::Rules {
            path: "tone.rules".into(),
            message,
        })?;
    let words = classifier
        .words
        .as_ref()
        .filter(|w| {
            w.categories == Category::ALL.len()
                && w.vocabulary_size() == vocabulary.vocabulary_size()
                && classifier.model.dim == extra_inputs()
        })
        .ok_or_else(|| Error::Embedder {
            path: "rules/tone-classifier.json".into(),
            message: format!(
                "the tone classifier was trained on `{}`, whose tokenizer is not the embedder's ({} tokens); retrain with `starling train tone`",
                classifier.embedder,
                vocabulary.vocabulary_size()
            ),
        })?;
    let view = prose_view(source, options.kind);
    let sentences: Vec<std::ops::Range<usize>> = view
        .sentences
        .iter()
        .filter(|r| view.text[(*r).clone()].split_whitespace().count() >= 3)
        .cloned()
        .collect();
    let texts: Vec<String> = sentences
        .iter()
        .map(|r| view.text[r.clone()].trim().to_string())
        .collect();
    let vectors = texts
        .iter()
        .map(|t| words.scores(vocabulary, t))
        .collect::<Result<Vec<_>>>()?;
    let lines = LineIndex::new(source);
    let mut kept: Vec<Finding> = Vec::new();
    let mut learned: Vec<Finding> = Vec::new();
    let mut covered = vec![false; rule_findings.len()];
    // Each sentence's rule findings, looked up rather than scanned for (linear in the input).
    let overlapping = super::overlapping_findings(&sentences, &rule_findings);
    for ((range, vector), found) in sentences.iter().zip(&vectors).zip(&overlapping) {
        let hits: Vec<Category> = found.iter().map(|&i| rule_findings[i].category).collect();
        let probabilities = probabilities(classifier, vector, &hits, &view.text[range.clone()]);
        for &i in found {
            let finding = &rule_findings[i];
            covered[i] = true;
            let index = Category::ALL
                .iter()
                .position(|c| *c == finding.category)
                .expect("category");
            if probabilities[index] >= classifier.veto[index] {
                kept.push(finding.clone());
            }
        }
        for (index, probability) in probabilities.iter().enumerate() {
            let category = Category::ALL[index];
            if *probability < classifier.model.thresholds[index] || hits.contains(&category) {
                continue;
            }
            // The sentence as it stands in the source, without surrounding blanks.
            let raw = &source[range.clone()];
            let start = range.start + (raw.len() - raw.trim_start().len());
            let end = range.start + raw.trim_end().len();
            if start >= end {
                continue;
            }
            let (line, column) = lines.position(start);
            let (message, suggestion) = message(category);
            learned.push(Finding {
                category,
                severity: rules.adjusted(&options.profile, category, Severity::Warning),
                start,
                end,
                line,
                column,
                text: source[start..end].to_string(),
                message: format!("{message} (classifier, {:.0}% sure)", probability * 100.0),
                suggestion: suggestion.to_string(),
                replacement: None,
                rule: format!("classifier.{}", category.id()),
                source: FindingSource::Classifier,
            });
        }
    }
    // Rule hits outside any sentence the classifier saw (very short ones) stand as they are.
    kept.extend(
        rule_findings
            .iter()
            .zip(&covered)
            .filter(|(_, c)| !**c)
            .map(|(f, _)| f.clone()),
    );
    kept.sort_by_key(|f| (f.start, f.end));
    Ok(super::merge(kept, learned))
}

/// Each category's probability for a sentence whose words score `word_scores`.
fn probabilities(
    classifier: &ToneModel,
    word_scores: &[f32],
    hits: &[Category],
    text: &str,
) -> Vec<f32> {
    classifier
        .model
        .log_odds(&features(&[], hits, text))
        .iter()
        .zip(word_scores)
        .map(|(rest, words)| sigmoid(rest + words))
        .collect()
}

/// The beta of the F-score each category's threshold maximises on out-of-fold probabilities
/// (below 1: precision counts more than recall). Chosen on our own data (2026-12-04, 7,549
/// training sentences): beta 0.6 / 0.8 / 1.0 gave out-of-fold precision 0.94 / 0.92 / 0.92,
/// recall 0.71 / 0.78 / 0.80, F1 0.81 / 0.85 / 0.86, and on our own whole documents
/// (`data/tone/scripts`, never trained on) F1 0.90 / 0.89 / 0.89 at precision 0.93 / 0.87 /
/// 0.85: 0.8 still favours precision and recovers most of the recall 0.6 gave up.
pub const THRESHOLD_BETA: f32 = 0.8;

/// One labelled training sentence.
#[derive(Debug, Clone, Deserialize)]
pub struct Example {
    pub text: String,
    pub labels: Vec<String>,
}

/// Figures of a tone checker over labelled sentences, "any flag vs any label" and per category.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scores {
    pub precision: f32,
    pub recall: f32,
    pub f1: f32,
    pub macro_f1: f32,
    pub neutral_flagged: f32,
}

fn f1(tp: usize, fp: usize, fn_: usize) -> (f32, f32, f32) {
    let p = if tp + fp == 0 {
        0.0
    } else {
        tp as f32 / (tp + fp) as f32
    };
    let r = if tp + fn_ == 0 {
        0.0
    } else {
        tp as f32 / (tp + fn_) as f32
    };
    (
        p,
        r,
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        },
    )
}

/// Scores predicted label sets against the truth.
pub fn score(predicted: &[Vec<Category>], truth: &[Vec<Category>]) -> Scores {
    let (mut tp, mut fp, mut fn_, mut neutral, mut neutral_flagged) = (0, 0, 0, 0, 0);
    for (p, t) in predicted.iter().zip(truth) {
        match (p.is_empty(), t.is_empty()) {
            (false, false) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (true, true) => {}
        }
        if t.is_empty() {
            neutral += 1;
            neutral_flagged += !p.is_empty() as usize;
        }
    }
    let (precision, recall, f) = f1(tp, fp, fn_);
    let macro_f1 = Category::ALL
        .iter()
        .map(|c| {
            let (mut tp, mut fp, mut fn_) = (0, 0, 0);
            for (p, t) in predicted.iter().zip(truth) {
                match (p.contains(c), t.contains(c)) {
                    (true, true) => tp += 1,
                    (true, false) => fp += 1,
                    (false, true) => fn_ += 1,
                    _ => {}
                }
            }
            f1(tp, fp, fn_).2
        })
        .sum::<f32>()
        / Category::ALL.len() as f32;
    Scores {
        precision,
        recall,
        f1: f,
        macro_f1,
        neutral_flagged: neutral_flagged as f32 / neutral.max(1) as f32,
    }
}

/// The label set the combined checker gives one sentence, from its probabilities and rule hits.
fn decide(model: &ToneModel, probabilities: &[f32], hits: &[Category]) -> Vec<Category> {
    Category::ALL
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            if hits.contains(c) {
                probabilities[*i] >= model.veto[*i]
            } else {
                probabilities[*i] >= model.model.thresholds[*i]
            }
        })
        .map(|(_, c)| *c)
        .collect()
}

/// How often each category (in `Category::ALL` order) labels a unit of whole labelled
/// documents (`truth.json` in the shared scorer's format: `sentences` with `labels`, and
/// `neutral_sentences`), for `train`'s thresholds.
pub fn document_prevalence(truth: &serde_json::Value) -> Option<Vec<f32>> {
    let mut counts = vec![0usize; Category::ALL.len()];
    let mut units = 0usize;
    for document in truth.as_array()? {
        for sentence in document["sentences"].as_array()? {
            units += 1;
            for label in sentence["labels"].as_array()? {
                if let Some(c) = label.as_str().and_then(Category::from_id) {
                    counts[Category::ALL.iter().position(|x| *x == c)?] += 1;
                }
            }
        }
        units += document["neutral_sentences"].as_array()?.len();
    }
    (units > 0).then(|| counts.iter().map(|&c| c as f32 / units as f32).collect())
}

/// Trains the classifier on `examples`: rule hits, word vectors and hashed words, 5 folds for out-of-fold
/// probabilities, per-category thresholds chosen for precision (F-beta, `THRESHOLD_BETA`) and vetoes for rule hits
/// the classifier finds unlikely, then the final fit on everything.
///
/// `prevalence` (from `document_prevalence`): how often each category occurs in whole
/// documents. The training sentences hold problems far more often than a script does, so a
/// threshold chosen on them alone flags too much of a whole document; each category's
/// negatives then count by the odds ratio of the two base rates (at least 1, at most 20).
///
/// `corpus`: texts whose words of several tokens get a vector of their own (besides every
/// vocabulary token); the examples' words always do.
pub fn train(
    rules: &RuleSet,
    embedder: &dyn Embedder,
    vocabulary: &Vocabulary,
    examples: &[Example],
    corpus: &[String],
    training: &crate::learn::Training,
    prevalence: Option<&[f32]>,
) -> Result<ToneModel> {
    let labels: Vec<String> = Category::ALL.iter().map(|c| c.id().to_string()).collect();
    let options = CheckOptions {
        kind: super::InputKind::PlainText,
        ..Default::default()
    };
    let mut xs = Vec::with_capacity(examples.len());
    let mut hits_all = Vec::with_capacity(examples.len());
    let distilled = WordVectors::distil(
        embedder,
        vocabulary,
        examples
            .iter()
            .map(|e| e.text.as_str())
            .chain(corpus.iter().map(String::as_str)),
    )?;
    let vectors = examples
        .iter()
        .map(|e| distilled.sentence(vocabulary, &e.text))
        .collect::<Result<Vec<_>>>()?;
    for (example, vector) in examples.iter().zip(&vectors) {
        let mut hits: Vec<Category> = rules
            .check(&example.text, &options)
            .map_err(|message| Error::Rules {
                path: "tone.rules".into(),
                message,
            })?
            .into_iter()
            .map(|f| f.category)
            .collect();
        hits.sort();
        hits.dedup();
        xs.push(features(vector, &hits, &example.text));
        hits_all.push(hits);
    }
    let targets: Vec<Vec<String>> = examples.iter().map(|e| e.labels.clone()).collect();
    let truth: Vec<Vec<Category>> = examples
        .iter()
        .map(|e| {
            e.labels
                .iter()
                .filter_map(|l| Category::from_id(l))
                .collect()
        })
        .collect();
    let dim = distilled.dim + extra_inputs();
    // Out-of-fold probabilities.
    let folds = 5;
    let mut oof = vec![Vec::new(); examples.len()];
    for fold in 0..folds {
        let train_rows: Vec<usize> = (0..xs.len()).filter(|i| i % folds != fold).collect();
        let model = LinearModel::fit_rows(
            &labels,
            &train_rows
                .iter()
                .map(|&i| xs[i].clone())
                .collect::<Vec<_>>(),
            dim,
            &train_rows
                .iter()
                .map(|&i| targets[i].clone())
                .collect::<Vec<_>>(),
            training,
        );
        for i in (0..xs.len()).filter(|i| i % folds == fold) {
            oof[i] = model.probabilities(&xs[i]);
        }
    }
    let mut thresholds = Vec::new();
    let mut weights = Vec::new();
    let mut veto = Vec::new();
    for (index, category) in Category::ALL.iter().enumerate() {
        // Thresholds for sentences no rule flagged: precision first.
        let scored: Vec<(f32, bool)> = (0..xs.len())
            .filter(|&i| !hits_all[i].contains(category))
            .map(|i| (oof[i][index], truth[i].contains(category)))
            .collect();
        let weight = prevalence.map_or(1.0, |documents| {
            let odds = |p: f32| p.clamp(1e-4, 0.9999) / (1.0 - p.clamp(1e-4, 0.9999));
            let here =
                scored.iter().filter(|(_, y)| *y).count() as f32 / scored.len().max(1) as f32;
            (odds(here) / odds(documents[index])).clamp(1.0, 20.0)
        });
        weights.push((weight * 100.0).round() / 100.0);
        thresholds.push(crate::learn::best_threshold_weighted(
            &scored,
            THRESHOLD_BETA,
            0.3,
            weight,
        ));
        // A rule hit is vetoed below the cut-off that gives the category its best F1 over all
        // sentences, the classifier's own findings held fixed.
        let threshold = *thresholds.last().expect("just pushed");
        let mut cut = 0.0f32;
        let mut best_f1 = f32::MIN;
        // At most 0.1: a rule's explicit pattern is overruled only when the classifier is
        // nearly sure the sentence does not belong to the category.
        for step in 0..=10 {
            let t = step as f32 * 0.01;
            let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
            for i in 0..xs.len() {
                let flagged = if hits_all[i].contains(category) {
                    oof[i][index] >= t
                } else {
                    oof[i][index] >= threshold
                };
                match (flagged, truth[i].contains(category)) {
                    (true, true) => tp += 1,
                    (true, false) => fp += 1,
                    (false, true) => fn_ += 1,
                    _ => {}
                }
            }
            let f = f1(tp, fp, fn_).2;
            if f > best_f1 + 1e-6 {
                best_f1 = f;
                cut = t;
            }
        }
        veto.push(cut);
    }
    let model = LinearModel::fit_rows(&labels, &xs, dim, &targets, training);
    // The word vectors' weights fold into per-word scores; the bias and the rest stay linear.
    let vector_weights: Vec<&[f32]> = model
        .weights
        .iter()
        .map(|w| &w[1..=distilled.dim])
        .collect();
    let words = distilled.fold(&vector_weights);
    let rest: Vec<Vec<f32>> = model
        .weights
        .iter()
        .map(|w| {
            std::iter::once(w[0])
                .chain(w[distilled.dim + 1..].iter().copied())
                .collect()
        })
        .collect();
    let mut tone = ToneModel {
        embedder: format!("{} (word vectors)", embedder.model_name()),
        model: LinearModel {
            thresholds,
            dim: extra_inputs(),
            weights: rest,
            ..model
        },
        veto,
        validation: serde_json::Value::Null,
        words: Some(words),
    };
    let rules_only: Vec<Vec<Category>> = hits_all.clone();
    let combined: Vec<Vec<Category>> = (0..xs.len())
        .map(|i| decide(&tone, &oof[i], &hits_all[i]))
        .collect();
    tone.validation = serde_json::json!({
        "examples": examples.len(),
        "folds": folds,
        "rules_only": score(&rules_only, &truth),
        "combined_out_of_fold": score(&combined, &truth),
        "document_prevalence": prevalence,
        "negative_weights": weights,
    });
    tone.model = tone.model.rounded();
    tone.veto = tone.veto.iter().map(|v| (v * 1e3).round() / 1e3).collect();
    Ok(tone)
}

/// The default tone check: rules and, when the embedder's tokenizer is at hand and a classifier
/// is built in,
/// the learned layer beside them; then the text's own `starling-disable` directives and the
/// user's accepted phrases (`CheckOptions::allow`) take findings out.
pub fn check_default(
    rules: &RuleSet,
    vocabulary: Option<&Vocabulary>,
    source: &str,
    options: &CheckOptions,
) -> Result<Vec<Finding>> {
    let findings = match (builtin(), vocabulary) {
        (Some(model), Some(vocabulary)) => check(rules, model, vocabulary, source, options)?,
        _ => rules
            .check(source, options)
            .map_err(|message| Error::Rules {
                path: "tone.rules".into(),
                message,
            })?,
    };
    // What the text switches off and what the user accepts are never reported.
    Ok(super::apply_allow(
        source,
        super::apply_directives(source, findings),
        &options.allow,
    ))
}
