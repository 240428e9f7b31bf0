//! Quality figures for the tone checker: parses a labelled set (`label<TAB>sentence`) and
//! scores any predictor per category (precision, recall, F1). Used by tests and the benchmark.

use std::collections::{BTreeMap, BTreeSet};

use super::Category;

/// One labelled sentence; no labels means neutral.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub labels: BTreeSet<Category>,
    pub text: String,
}

/// Parses `label<TAB>sentence` lines; `#` starts a comment line.
pub fn parse_labelled(text: &str) -> Result<Vec<Labelled>, String> {
    let mut items = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (label, sentence) = line
            .split_once('\t')
            .ok_or_else(|| format!("line {}: expected label<TAB>sentence", number + 1))?;
        let mut labels = BTreeSet::new();
        for id in label
            .split(',')
            .map(str::trim)
            .filter(|id| *id != "neutral")
        {
            labels.insert(
                Category::from_id(id)
                    .ok_or_else(|| format!("line {}: unknown label `{id}`", number + 1))?,
            );
        }
        items.push(Labelled {
            labels,
            text: sentence.to_string(),
        });
    }
    Ok(items)
}

/// True/false positives and false negatives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
    fn add(&mut self, other: Counts) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
    }
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 {
        1.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Scores per category and overall (micro-averaged), plus the neutral sentences flagged.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    pub per_category: BTreeMap<Category, Counts>,
    pub overall: Counts,
    pub neutral_flagged: Vec<String>,
    pub sentences: usize,
}

/// Runs `predict` on each sentence and compares with the labels.
pub fn evaluate(items: &[Labelled], mut predict: impl FnMut(&str) -> BTreeSet<Category>) -> Scores {
    let mut scores = Scores {
        sentences: items.len(),
        ..Default::default()
    };
    for item in items {
        let predicted = predict(&item.text);
        if item.labels.is_empty() && !predicted.is_empty() {
            scores.neutral_flagged.push(item.text.clone());
        }
        for category in Category::ALL {
            let counts = scores.per_category.entry(category).or_default();
            match (
                item.labels.contains(&category),
                predicted.contains(&category),
            ) {
                (true, true) => counts.true_positives += 1,
                (false, true) => counts.false_positives += 1,
                (true, false) => counts.false_negatives += 1,
                (false, false) => {}
            }
        }
    }
    let mut overall = Counts::default();
    for counts in scores.per_category.values() {
        overall.add(*counts);
    }
    scores.overall = overall;
    scores
}

/// Scores the rule engine alone: each sentence checked as plain text.
pub fn score_rules(rules: &super::RuleSet, items: &[Labelled]) -> Scores {
    let options = super::CheckOptions {
        kind: super::InputKind::PlainText,
        ..Default::default()
    };
    evaluate(items, |text| {
        rules
            .check(text, &options)
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.category)
            .collect()
    })
}

/// A plain table of the scores.
pub fn render(scores: &Scores, title: &str) -> String {
    let mut out = format!(
        "{title}: {} sentences\n{:<22} {:>9} {:>7} {:>6} {:>4} {:>4} {:>4}\n",
        scores.sentences, "category", "precision", "recall", "f1", "tp", "fp", "fn"
    );
    let row = |name: &str, c: &Counts| {
        format!(
            "{name:<22} {:>9.2} {:>7.2} {:>6.2} {:>4} {:>4} {:>4}\n",
            c.precision(),
            c.recall(),
            c.f1(),
            c.true_positives,
            c.false_positives,
            c.false_negatives
        )
    };
    for (category, counts) in &scores.per_category {
        out.push_str(&row(category.id(), counts));
    }
    out.push_str(&row("overall (micro)", &scores.overall));
    out.push_str(&format!(
        "neutral sentences flagged: {}\n",
        scores.neutral_flagged.len()
    ));
    out
}
