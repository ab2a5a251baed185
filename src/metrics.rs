//! Validation metrics of predictions against targets, in f64: pure functions, a leaf module. The
//! runner computes the loss and the chosen metric with them at every virtual epoch; each is checked
//! against values worked out by hand (the definitions are scikit-learn's).

/// Mean squared error of `out` against `y`, summed in row order (the regression loss).
pub fn mse(out: &[f32], y: &[f32], rows: usize) -> f64 {
    let sse: f64 = out
        .iter()
        .zip(y)
        .map(|(&p, &t)| (p as f64 - t as f64).powi(2))
        .sum();
    sse / rows as f64
}

/// Mean absolute error of `out` against `y`.
pub fn mae(out: &[f32], y: &[f32], rows: usize) -> f64 {
    let sae: f64 = out
        .iter()
        .zip(y)
        .map(|(&p, &t)| (p as f64 - t as f64).abs())
        .sum();
    sae / rows as f64
}

/// The coefficient of determination, 1 − SSE / SST (SST about the targets' own mean): 1 for exact
/// predictions, 0 for predicting the mean, negative below that. NaN when the targets do not vary
/// (the plan refuses such a validation split).
pub fn r2(out: &[f32], y: &[f32]) -> f64 {
    let n = y.len() as f64;
    let mean = y.iter().map(|&t| t as f64).sum::<f64>() / n;
    let sst: f64 = y.iter().map(|&t| (t as f64 - mean).powi(2)).sum();
    let sse: f64 = out
        .iter()
        .zip(y)
        .map(|(&p, &t)| (p as f64 - t as f64).powi(2))
        .sum();
    if sst == 0.0 {
        return f64::NAN;
    }
    1.0 - sse / sst
}

/// Per row of `c` logits and its class: the class with the largest logit (the first of equal
/// maxima, as argmax), and the row's cross-entropy, log-sum-exp minus the class's logit.
fn row(logits: &[f32], class: usize) -> (usize, f64) {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max
        + logits
            .iter()
            .map(|&z| (z as f64 - max).exp())
            .sum::<f64>()
            .ln();
    let pred = logits
        .iter()
        .enumerate()
        .fold(0, |best, (j, &z)| if z > logits[best] { j } else { best });
    (pred, lse - logits[class] as f64)
}

/// Mean cross-entropy of the softmax of `out` (rows of `c` logits) against `classes` (the
/// classification loss, and scikit-learn's `log_loss`), and each row's predicted class.
pub fn cross_entropy(out: &[f32], classes: &[usize]) -> (f64, Vec<usize>) {
    let c = out.len() / classes.len().max(1);
    let mut ce = 0.0;
    let mut preds = Vec::with_capacity(classes.len());
    for (r, &k) in classes.iter().enumerate() {
        let (pred, loss) = row(&out[r * c..(r + 1) * c], k);
        ce += loss;
        preds.push(pred);
    }
    (ce / classes.len() as f64, preds)
}

/// The share of rows whose predicted class is their class.
pub fn accuracy(preds: &[usize], classes: &[usize]) -> f64 {
    let correct = preds.iter().zip(classes).filter(|(p, k)| p == k).count();
    correct as f64 / classes.len() as f64
}

/// Macro-averaged F1 of `c` classes: each class's 2·TP / (2·TP + FP + FN), 0 where it has no true
/// positive, averaged over the classes that occur among the targets or the predictions (a class
/// absent from both is left out, as scikit-learn does).
pub fn macro_f1(preds: &[usize], classes: &[usize], c: usize) -> f64 {
    let (mut tp, mut fp, mut fneg) = (vec![0u64; c], vec![0u64; c], vec![0u64; c]);
    for (&p, &k) in preds.iter().zip(classes) {
        if p == k {
            tp[k] += 1;
        } else {
            fp[p] += 1;
            fneg[k] += 1;
        }
    }
    let (mut sum, mut present) = (0.0, 0usize);
    for j in 0..c {
        let denom = 2 * tp[j] + fp[j] + fneg[j];
        if denom > 0 {
            sum += 2.0 * tp[j] as f64 / denom as f64;
            present += 1;
        }
    }
    sum / present.max(1) as f64
}

/// The area under the ROC curve of two classes: the chance that a row of class 1 scores above a
/// row of class 0, ties counting half (by mid-ranks). The score is the logit difference
/// z₁ − z₀, which orders rows as the softmax probability of class 1 does without its rounding to
/// 0 or 1 far from the boundary. NaN when either class is absent (the plan refuses that split).
pub fn binary_auc(out: &[f32], classes: &[usize]) -> f64 {
    let scores: Vec<f64> = out
        .chunks_exact(2)
        .map(|z| z[1] as f64 - z[0] as f64)
        .collect();
    auc(&scores, classes)
}

/// [`binary_auc`] of `scores`, one per row, higher meaning class 1.
fn auc(scores: &[f64], classes: &[usize]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let positives = classes.iter().filter(|&&k| k == 1).count();
    let negatives = classes.len() - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    // The sum of the positives' ranks (1-based), each run of equal scores at its mean rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid * order[i..=j].iter().filter(|&&r| classes[r] == 1).count() as f64;
        i = j + 1;
    }
    let (p, n) = (positives as f64, negatives as f64);
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn regression_metrics_by_hand() {
        // Errors 1, -2, 0.5, 0: SSE 5.25, SAE 3.5; targets' mean 2.5, SST 5.
        let y = [1.0, 2.0, 3.0, 4.0];
        let out = [2.0, 0.0, 3.5, 4.0];
        close(mse(&out, &y, 4), 5.25 / 4.0);
        close(mae(&out, &y, 4), 3.5 / 4.0);
        close(r2(&out, &y), 1.0 - 5.25 / 5.0);
        close(r2(&y, &y), 1.0);
        close(r2(&[2.5; 4], &y), 0.0);
        assert!(r2(&out, &[3.0; 4]).is_nan());
    }

    #[test]
    fn cross_entropy_and_accuracy_by_hand() {
        // Row 0: logits (2, 1), class 0; row 1: (0, 3), class 0, predicted 1.
        let (ce, preds) = cross_entropy(&[2.0, 1.0, 0.0, 3.0], &[0, 0]);
        let ce0 = (1.0f64 + (-1.0f64).exp()).ln();
        let ce1 = 3.0 + (1.0f64 + (-3.0f64).exp()).ln();
        close(ce, (ce0 + ce1) / 2.0);
        assert_eq!(preds, [0, 1]);
        close(accuracy(&preds, &[0, 0]), 0.5);
        // Equal logits: the first class is predicted; the loss is ln 2.
        let (ce, preds) = cross_entropy(&[0.5, 0.5], &[1]);
        close(ce, 2f64.ln());
        assert_eq!(preds, [0]);
    }

    #[test]
    fn macro_f1_by_hand() {
        // Class 0: TP 1, FP 1, FN 1 -> 2/4; class 1: TP 2, FP 1 -> 4/5; class 2: FN 1 -> 0;
        // class 3 occurs nowhere and is left out of the mean.
        let classes = [0, 0, 1, 1, 2];
        let preds = [0, 1, 1, 1, 0];
        close(macro_f1(&preds, &classes, 4), (0.5 + 0.8 + 0.0) / 3.0);
        close(macro_f1(&classes, &classes, 4), 1.0);
        // A class only predicted counts too: class 1 has FP 1 and F1 0.
        close(macro_f1(&[0, 1], &[0, 0], 2), (2.0 / 3.0 + 0.0) / 2.0);
    }

    #[test]
    fn auc_by_hand_with_ties() {
        // Positives 0.35, 0.8; negatives 0.1, 0.4: 3 of the 4 pairs ordered -> 0.75.
        close(auc(&[0.1, 0.4, 0.35, 0.8], &[0, 0, 1, 1]), 0.75);
        // Positives 0.5, 0.9; negatives 0.5, 0.5: the two tied pairs count half -> (1 + 2) / 4.
        close(auc(&[0.5, 0.5, 0.5, 0.9], &[0, 1, 0, 1]), 0.75);
        // All tied: 0.5. Perfectly ordered: 1. Reversed: 0.
        close(auc(&[1.0; 4], &[0, 1, 0, 1]), 0.5);
        close(auc(&[0.0, 1.0, 2.0], &[0, 1, 1]), 1.0);
        close(auc(&[2.0, 1.0, 0.0], &[0, 1, 1]), 0.0);
        assert!(auc(&[0.0, 1.0], &[1, 1]).is_nan());
        // From logits: the score is z1 - z0; rows (0, 1), (1, 0), (0, 0.5) with classes 1, 0, 0.
        close(binary_auc(&[0.0, 1.0, 1.0, 0.0, 0.0, 0.5], &[1, 0, 0]), 1.0);
    }
}
