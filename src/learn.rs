//! Small linear classifiers fitted on the project's own labelled data: one-vs-rest logistic
//! regression over a dense representation (the MiniLM sentence embedding, optionally with a few
//! lexical features), trained by full-batch gradient descent with momentum and an L2 penalty, in
//! a fixed order on one thread, so the same inputs give the same weights. Used by the tone
//! classifier and the STAR part classifier. Pure: no I/O.

use serde::{Deserialize, Serialize};

/// One linear scorer per label over `dim` inputs (plus a bias), with a decision threshold each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    pub labels: Vec<String>,
    pub dim: usize,
    /// `weights[label]` has `dim + 1` entries: the bias first.
    pub weights: Vec<Vec<f32>>,
    /// Probability at or above which a label is given.
    pub thresholds: Vec<f32>,
}

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct Training {
    pub iterations: usize,
    pub learning_rate: f32,
    pub l2: f32,
    /// Weight of a positive example relative to a negative one (rare labels need more).
    pub balance: bool,
}

impl Default for Training {
    fn default() -> Self {
        Training {
            iterations: 400,
            learning_rate: 2.0,
            l2: 1e-3,
            balance: true,
        }
    }
}

/// One input row of a linear scorer: dense (every input) or sparse (the non-zero inputs only,
/// for hashed word features over thousands of buckets).
pub trait Row {
    /// `w[0] + Σ x_i · w[i + 1]`.
    fn score(&self, w: &[f32]) -> f32;
    /// `gradient[i + 1] += scale · x_i` for every input.
    fn accumulate(&self, gradient: &mut [f32], scale: f32);
}

impl Row for [f32] {
    fn score(&self, w: &[f32]) -> f32 {
        w[0] + self.iter().zip(&w[1..]).map(|(a, b)| a * b).sum::<f32>()
    }

    fn accumulate(&self, gradient: &mut [f32], scale: f32) {
        for (g, xi) in gradient[1..].iter_mut().zip(self) {
            *g += scale * xi;
        }
    }
}

impl Row for Vec<f32> {
    fn score(&self, w: &[f32]) -> f32 {
        self.as_slice().score(w)
    }

    fn accumulate(&self, gradient: &mut [f32], scale: f32) {
        self.as_slice().accumulate(gradient, scale)
    }
}

/// The non-zero inputs of a row: (input index, value), indices below the model's `dim`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sparse(pub Vec<(u32, f32)>);

impl Row for Sparse {
    fn score(&self, w: &[f32]) -> f32 {
        w[0] + self
            .0
            .iter()
            .map(|&(i, x)| x * w[i as usize + 1])
            .sum::<f32>()
    }

    fn accumulate(&self, gradient: &mut [f32], scale: f32) {
        for &(i, x) in &self.0 {
            gradient[i as usize + 1] += scale * x;
        }
    }
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z.clamp(-30.0, 30.0)).exp())
}

/// Fits one logistic scorer: `xs` rows of `dim` inputs, `ys` the 0/1 targets.
pub fn fit_binary<R: Row>(xs: &[R], dim: usize, ys: &[bool], training: &Training) -> Vec<f32> {
    let n = xs.len().max(1) as f32;
    let positives = ys.iter().filter(|y| **y).count().max(1) as f32;
    let negatives = ys.iter().filter(|y| !**y).count().max(1) as f32;
    let (w_pos, w_neg) = if training.balance {
        (n / (2.0 * positives), n / (2.0 * negatives))
    } else {
        (1.0, 1.0)
    };
    let mut w = vec![0.0f32; dim + 1];
    let mut velocity = vec![0.0f32; dim + 1];
    let mut gradient = vec![0.0f32; dim + 1];
    let momentum = 0.9f32;
    for _ in 0..training.iterations {
        // Nesterov: the gradient at the look-ahead point.
        let ahead: Vec<f32> = w
            .iter()
            .zip(&velocity)
            .map(|(w, v)| w + momentum * v)
            .collect();
        gradient.iter_mut().for_each(|g| *g = 0.0);
        for (x, &y) in xs.iter().zip(ys) {
            let p = sigmoid(x.score(&ahead));
            let (target, weight) = if y { (1.0, w_pos) } else { (0.0, w_neg) };
            let error = (p - target) * weight;
            gradient[0] += error;
            x.accumulate(&mut gradient, error);
        }
        for (i, g) in gradient.iter_mut().enumerate() {
            *g /= n;
            if i > 0 {
                *g += training.l2 * ahead[i];
            }
        }
        for ((w, v), g) in w.iter_mut().zip(velocity.iter_mut()).zip(&gradient) {
            *v = momentum * *v - training.learning_rate * g;
            *w += *v;
        }
    }
    w
}

impl LinearModel {
    /// Fits one scorer per label; `targets[i]` lists the labels of row `i`. Thresholds start
    /// at 0.5 (see `calibrate`).
    pub fn fit(
        labels: &[String],
        xs: &[Vec<f32>],
        targets: &[Vec<String>],
        training: &Training,
    ) -> LinearModel {
        Self::fit_rows(
            labels,
            xs,
            xs.first().map_or(0, Vec::len),
            targets,
            training,
        )
    }

    /// `fit` over rows of any kind (sparse ones need `dim` said).
    pub fn fit_rows<R: Row>(
        labels: &[String],
        xs: &[R],
        dim: usize,
        targets: &[Vec<String>],
        training: &Training,
    ) -> LinearModel {
        let weights = labels
            .iter()
            .map(|label| {
                let ys: Vec<bool> = targets.iter().map(|t| t.contains(label)).collect();
                fit_binary(xs, dim, &ys, training)
            })
            .collect();
        LinearModel {
            labels: labels.to_vec(),
            dim,
            weights,
            thresholds: vec![0.5; labels.len()],
        }
    }

    /// The probability of each label for one input row.
    pub fn probabilities<R: Row + ?Sized>(&self, x: &R) -> Vec<f32> {
        self.weights.iter().map(|w| sigmoid(x.score(w))).collect()
    }

    /// The log-odds of each label for one input row (before the sigmoid).
    pub fn log_odds<R: Row + ?Sized>(&self, x: &R) -> Vec<f32> {
        self.weights.iter().map(|w| x.score(w)).collect()
    }

    /// The labels at or above their thresholds, with their probabilities.
    pub fn predict(&self, x: &[f32]) -> Vec<(usize, f32)> {
        self.probabilities(x)
            .into_iter()
            .enumerate()
            .filter(|(i, p)| *p >= self.thresholds[*i])
            .collect()
    }

    /// The single most probable label (for mutually exclusive classes).
    pub fn argmax(&self, x: &[f32]) -> (usize, f32) {
        self.probabilities(x)
            .into_iter()
            .enumerate()
            .fold(
                (0, f32::MIN),
                |best, (i, p)| if p > best.1 { (i, p) } else { best },
            )
    }

    /// Rounds every weight to 4 decimals: the saved file stays small and diffable, and
    /// retraining on another CPU (whose embedding kernels differ in the last bits) reproduces it.
    pub fn rounded(mut self) -> LinearModel {
        for w in self.weights.iter_mut().flatten() {
            *w = (*w * 1e4).round() / 1e4;
        }
        for t in &mut self.thresholds {
            *t = (*t * 1e3).round() / 1e3;
        }
        self
    }
}

/// Precision and recall of a threshold on scored examples, every negative counted
/// `negative_weight` times.
fn precision_recall(scored: &[(f32, bool)], threshold: f32, negative_weight: f32) -> (f32, f32) {
    let (mut tp, mut fp, mut positives) = (0.0f32, 0.0f32, 0.0f32);
    for (p, y) in scored {
        positives += f32::from(u8::from(*y));
        if *p >= threshold {
            if *y {
                tp += 1.0;
            } else {
                fp += negative_weight;
            }
        }
    }
    let precision = if tp + fp == 0.0 { 1.0 } else { tp / (tp + fp) };
    let recall = if positives == 0.0 {
        0.0
    } else {
        tp / positives
    };
    (precision, recall)
}

/// The threshold that maximises F-beta on held-out scores (beta < 1 favours precision), never
/// below `floor`.
pub fn best_threshold(scored: &[(f32, bool)], beta: f32, floor: f32) -> f32 {
    best_threshold_weighted(scored, beta, floor, 1.0)
}

/// `best_threshold` with every negative counted `negative_weight` times: where the category is
/// rarer in the text the model will see than among the held-out scores, a false alarm costs
/// that many times more (the odds ratio of the two base rates), so the threshold rises.
pub fn best_threshold_weighted(
    scored: &[(f32, bool)],
    beta: f32,
    floor: f32,
    negative_weight: f32,
) -> f32 {
    let mut best = (f32::MIN, 0.5f32);
    for step in 0..=95 {
        let t = 0.02 + step as f32 * 0.01;
        if t < floor {
            continue;
        }
        let (p, r) = precision_recall(scored, t, negative_weight);
        let b2 = beta * beta;
        let f = if p + r == 0.0 {
            0.0
        } else {
            (1.0 + b2) * p * r / (b2 * p + r)
        };
        if f > best.0 + 1e-6 {
            best = (f, t);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_data_is_learned_and_training_is_deterministic() {
        // Label "a" when the first input is large, "b" when the second is.
        let xs: Vec<Vec<f32>> = (0..40)
            .map(|i| vec![(i % 4) as f32 / 3.0, ((i / 4) % 3) as f32 / 2.0])
            .collect();
        let targets: Vec<Vec<String>> = xs
            .iter()
            .map(|x| {
                let mut t = Vec::new();
                if x[0] > 0.5 {
                    t.push("a".to_string());
                }
                if x[1] > 0.6 {
                    t.push("b".to_string());
                }
                t
            })
            .collect();
        let labels = vec!["a".to_string(), "b".to_string()];
        let model = LinearModel::fit(&labels, &xs, &targets, &Training::default());
        let again = LinearModel::fit(&labels, &xs, &targets, &Training::default());
        assert_eq!(model, again);
        let correct = xs
            .iter()
            .zip(&targets)
            .filter(|(x, t)| {
                let got: Vec<String> = model
                    .predict(x)
                    .into_iter()
                    .map(|(i, _)| labels[i].clone())
                    .collect();
                &got == *t
            })
            .count();
        assert!(correct >= 36, "{correct}/40");
    }

    #[test]
    fn thresholds_favour_precision_when_asked() {
        let scored = vec![
            (0.9, true),
            (0.8, true),
            (0.7, false),
            (0.6, true),
            (0.4, false),
            (0.3, false),
        ];
        let strict = best_threshold(&scored, 0.5, 0.0);
        let (p, _) = precision_recall(&scored, strict, 1.0);
        assert_eq!(p, 1.0, "threshold {strict}");
        assert!(best_threshold(&scored, 0.5, 0.95) >= 0.95);
    }
}
