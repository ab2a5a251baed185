//! Parameter importance, by the simplest honest method we can test: for each parameter alone, the
//! share of the variance of the trials' metric rank that binning the trials by that parameter
//! explains (a one-way analysis of variance; fANOVA's first-order terms without its random forest),
//! corrected for chance as ω², so that a parameter with no effect scores about 0 rather than the
//! few per cent any grouping of a few trials explains. Ranks rather than values, so that one
//! diverged trial does not decide. Interactions are not counted: the shares need not sum to 1.

use std::fmt::Write as _;

use super::charts::best_of;
use super::plot::esc;
use crate::plan::StudyPlan;
use crate::storage::TrialRecord;

/// The most bins a parameter's values are cut into (equal counts of trials).
const MAX_BINS: usize = 6;

/// ω² of `y` grouped by the bins of `x` over the pairs where both are finite: about 0 for a
/// parameter without effect, 1 when the bins explain everything. None with too few trials.
pub(super) fn omega_squared(pairs: &[(f64, f64)]) -> Option<f64> {
    let mut pts: Vec<(f64, f64)> = pairs
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let n = pts.len();
    let ranks = ranks(&pts.iter().map(|p| p.1).collect::<Vec<_>>());
    for (p, r) in pts.iter_mut().zip(ranks) {
        p.1 = r;
    }
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let bins = bins(&pts);
    let k = bins.len();
    if k < 2 || n <= k {
        return None;
    }
    let mean = pts.iter().map(|p| p.1).sum::<f64>() / n as f64;
    let sst: f64 = pts.iter().map(|p| (p.1 - mean).powi(2)).sum();
    if sst == 0.0 {
        return Some(0.0);
    }
    let ssb: f64 = bins
        .iter()
        .map(|b| {
            let m = b.iter().map(|p| p.1).sum::<f64>() / b.len() as f64;
            b.len() as f64 * (m - mean).powi(2)
        })
        .sum();
    let msw = (sst - ssb) / (n - k) as f64;
    Some(((ssb - (k - 1) as f64 * msw) / (sst + msw)).clamp(0.0, 1.0))
}

/// The points (sorted by x) cut into bins: one per distinct x when there are few, else about √n
/// bins of equal counts, never splitting equal x.
fn bins(pts: &[(f64, f64)]) -> Vec<&[(f64, f64)]> {
    let n = pts.len();
    let distinct = pts.windows(2).filter(|w| w[0].0 != w[1].0).count() + 1;
    let k = if distinct <= MAX_BINS {
        distinct
    } else {
        ((n as f64).sqrt().round() as usize).clamp(2, MAX_BINS)
    };
    let mut out = vec![];
    let mut start = 0;
    for j in 1..=k {
        let mut end = (n * j / k).max(start + 1).min(n);
        while end < n && end > 0 && pts[end].0 == pts[end - 1].0 {
            end += 1;
        }
        if end > start {
            out.push(&pts[start..end]);
            start = end;
        }
        if start == n {
            break;
        }
    }
    out
}

/// The ranks of `v` (0-based, ties sharing their mean rank).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

/// The importance section: a bar per parameter, largest first, and how it was computed.
pub(super) fn section(plan: &StudyPlan, trials: &[&TrialRecord]) -> String {
    let metric = plan.metric;
    let with_result = trials
        .iter()
        .filter(|t| best_of(t, metric).is_finite())
        .count();
    let mut scores: Vec<(String, Option<f64>)> = plan
        .space
        .params
        .iter()
        .map(|p| {
            let pairs: Vec<(f64, f64)> = trials
                .iter()
                .map(|t| {
                    let x = t.params.get(&p.name).map_or(f64::NAN, |v| p.number(*v));
                    (x, best_of(t, metric))
                })
                .collect();
            (p.name.clone(), omega_squared(&pairs))
        })
        .collect();
    scores.sort_by(|a, b| b.1.unwrap_or(-1.0).total_cmp(&a.1.unwrap_or(-1.0)));
    let (bar_w, row_h, left) = (600.0, 24.0, 150.0);
    let h = 16.0 + row_h * scores.len() as f64;
    let mut svg = format!(
        r#"<svg class="plot" id="importance" viewBox="0 0 {w} {h}" width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="parameter importance">"#,
        w = left + bar_w + 70.0
    );
    for (i, (name, score)) in scores.iter().enumerate() {
        let y = 8.0 + row_h * i as f64;
        let (width, label) = match score {
            Some(s) => (s * bar_w, format!("{:.0}%", s * 100.0)),
            None => (0.0, "no estimate (one value or too few trials)".into()),
        };
        let _ = write!(
            svg,
            r##"<g class="bar" data-param="{name}" data-value="{}"><text x="{}" y="{:.1}" class="label" text-anchor="end">{name}</text><rect x="{left}" y="{:.1}" width="{width:.1}" height="{}" fill="#3b528b"/><text x="{:.1}" y="{:.1}" class="tick">{label}</text></g>"##,
            score.map_or("".into(), |s| format!("{s:.4}")),
            left - 8.0,
            y + 15.0,
            y + 3.0,
            row_h - 6.0,
            left + width + 6.0,
            y + 15.0,
            name = esc(name),
        );
    }
    svg.push_str("</svg>\n");
    format!(
        "<h2>Parameter importance</h2>\n<p class=\"legend\">Each parameter alone: the share of the variance of the trials' rank by {metric} that grouping the trials by that parameter's value (up to {MAX_BINS} bins of equal counts) explains, corrected for chance (ω² of a one-way analysis of variance: about 0% for a parameter without effect). From {with_result} trials with a result, at their selected checkpoints; interactions are not counted, so the shares need not sum to 100%. Like fANOVA's first-order terms, without its random forest; with a GP or grid search the trials are not a random sample, so read it as a hint.</p>\n<div class=\"plots\">{svg}</div>\n",
        metric = esc(metric.kind.name()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic scatter in [0, 1).
    fn noise(i: usize, salt: u64) -> f64 {
        let mut z = (i as u64 + 1 + salt * 1_000_003).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn a_parameter_with_an_effect_scores_well_above_one_without() {
        // The metric is a bowl in log learning rate, plus noise; weight decay does nothing.
        let n = 40;
        let lr: Vec<f64> = (0..n)
            .map(|i| 10f64.powf(-4.0 + 3.0 * noise(i, 1)))
            .collect();
        let wd: Vec<f64> = (0..n).map(|i| 1e-9 + 1e-9 * noise(i, 2)).collect();
        let y: Vec<f64> = (0..n)
            .map(|i| (lr[i].log10() + 2.0).powi(2) + 0.3 * noise(i, 3))
            .collect();
        let pair = |x: &[f64]| x.iter().copied().zip(y.iter().copied()).collect::<Vec<_>>();
        let (a, b) = (
            omega_squared(&pair(&lr)).unwrap(),
            omega_squared(&pair(&wd)).unwrap(),
        );
        assert!(a > 0.6, "learning rate explains most: {a}");
        assert!(b < 0.1, "weight decay explains about nothing: {b}");
    }

    #[test]
    fn too_few_or_constant_values_give_no_score() {
        assert_eq!(omega_squared(&[(1.0, 2.0), (2.0, 3.0)]), None);
        assert_eq!(omega_squared(&[(1.0, 2.0); 10]), None);
        let flat: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 1.0)).collect();
        assert_eq!(omega_squared(&flat), Some(0.0));
    }

    #[test]
    fn ranks_share_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), [2.5, 0.0, 2.5, 1.0]);
    }
}
