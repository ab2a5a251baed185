//! Learning-rate schedules measured in examples seen (issue 32): each curve row records the rate
//! in effect at its boundary, the same curve at every batch size, scaled by the batch size when
//! asked; a schedule fixed in `model` or searched in the space.

mod common;
use common::*;
use std::path::Path;

/// Each trial's (batch size, `learning_rate` column of its curve.csv, examples seen).
fn rates(study: &Path) -> Vec<(u64, Vec<f64>, Vec<u64>)> {
    let (h, rows) = read_csv(&study.join("leaderboard.csv"));
    let at = |n: &str| h.iter().position(|c| c == n).unwrap();
    let mut out: Vec<_> = rows
        .iter()
        .map(|r| {
            let (ch, curve) =
                read_csv(&study.join("trials").join(&r[at("trial")]).join("curve.csv"));
            let lr = ch
                .iter()
                .position(|c| c == "learning_rate")
                .expect("a learning_rate column");
            let seen = ch.iter().position(|c| c == "examples_seen").unwrap();
            (
                r[at("batch_size")].parse().unwrap(),
                curve.iter().map(|c| c[lr].parse().unwrap()).collect(),
                curve.iter().map(|c| c[seen].parse().unwrap()).collect(),
            )
        })
        .collect();
    out.sort_by_key(|(b, _, _)| *b);
    out
}

/// A grid over two batch sizes at one learning rate.
fn two_batch_sizes() -> serde_json::Value {
    let mut s = tiny_spec(2);
    s["budget"] = serde_json::json!({ "total_examples": 4000, "virtual_epochs": 8 });
    s["search"] = serde_json::json!({
        "method": "grid",
        "space": { "batch_size": [8, 64], "learning_rate": [0.01] }
    });
    s
}

#[test]
fn a_cosine_schedule_with_warmup_is_the_same_curve_at_every_batch_size() {
    let mut spec = two_batch_sizes();
    spec["model"]["schedule"] = serde_json::json!("cosine");
    spec["model"]["warmup"] = serde_json::json!(0.25);
    spec["model"]["min_lr_fraction"] = serde_json::json!(0.1);
    let dir = tempdir();
    ok(run(&write_spec(dir.path(), &spec)));
    let got = rates(&dir.path().join("runs/tiny"));
    assert_eq!(got.len(), 2);
    let (small, large) = (&got[0], &got[1]);
    assert_eq!((small.0, large.0), (8, 64));
    assert_eq!(small.2, large.2, "the boundaries are at the same examples");
    assert_eq!(small.1, large.1, "the rates differ between batch sizes");
    // The schedule itself: the warm-up's end (1000 of 4000 examples) at the peak, rising
    // before it, then down to a tenth of the rate at the budget's last example.
    let (lr, seen) = (&small.1, &small.2);
    assert_eq!(seen[1], 1000);
    assert!((lr[0] - 0.005).abs() < 1e-12, "{lr:?}");
    assert!((lr[1] - 0.01).abs() < 1e-12, "{lr:?}");
    assert!(lr[1..].windows(2).all(|w| w[1] < w[0]), "{lr:?}");
    assert!((lr[lr.len() - 1] - 0.001).abs() < 1e-12, "{lr:?}");
}

#[test]
fn sqrt_scaling_gives_rates_in_the_ratio_of_the_root_of_the_batch_sizes() {
    // Searched in the space as lists of labels, with the reference batch size in `model`.
    let mut spec = two_batch_sizes();
    spec["model"]["reference_batch_size"] = serde_json::json!(8);
    spec["search"]["space"]["lr_scaling"] = serde_json::json!(["sqrt"]);
    spec["search"]["space"]["schedule"] = serde_json::json!(["linear"]);
    let dir = tempdir();
    ok(run(&write_spec(dir.path(), &spec)));
    let got = rates(&dir.path().join("runs/tiny"));
    let (small, large) = (&got[0].1, &got[1].1);
    for (a, b) in small.iter().zip(large).take(small.len() - 1) {
        assert!((b / a - 8f64.sqrt()).abs() < 1e-9, "{small:?} {large:?}");
    }
    // At batch 8, the reference, the rate is the one given, decaying along a line to 0.
    assert!(
        (small[0] - 0.01 * (1.0 - 500.0 / 4000.0)).abs() < 1e-12,
        "{small:?}"
    );
    assert_eq!((small[small.len() - 1], large[large.len() - 1]), (0.0, 0.0));
}

/// Without a schedule, every row's rate is the trial's learning rate itself: the constant
/// schedule is what training did before schedules, bit for bit.
#[test]
fn the_default_schedule_is_the_learning_rate_itself() {
    let dir = tempdir();
    ok(run(&write_spec(dir.path(), &two_batch_sizes())));
    for (_, lr, _) in rates(&dir.path().join("runs/tiny")) {
        assert!(lr.iter().all(|&r| r == 0.01), "{lr:?}");
    }
}
