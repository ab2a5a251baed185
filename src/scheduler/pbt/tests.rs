//! Population-based training's decisions on made-up histories, worked out by hand.

use super::*;
use crate::curve::CurveRow;
use crate::objective::{Goal, MetricKind};
use crate::space::When;
use crate::storage::Event;

const SCHEDULES: &[&str] = &["constant", "cosine"];

fn space() -> SearchSpace {
    let mut warmup = Param::range("warmup", Kind::Float, 0.0, 0.5, false);
    warmup.when = When(vec![("schedule".into(), vec!["cosine"])]);
    SearchSpace {
        params: vec![
            Param::list("batch_size", Kind::Int, &[64.0, 16.0, 32.0]),
            Param::range("depth", Kind::Int, 1.0, 4.0, false),
            Param::range("hidden_width", Kind::Int, 8.0, 64.0, false),
            Param::range("learning_rate", Kind::Float, 1e-4, 1.0, true),
            Param::list("schedule", Kind::Cat(SCHEDULES), &[0.0, 1.0]),
            warmup,
        ],
    }
}

fn pbt(population: usize, quantile: f64, resample: f64, perturb: &[f64]) -> Pbt {
    let plan = PbtPlan {
        interval: 2,
        quantile,
        resample,
        perturb: perturb.to_vec(),
        fixed: vec!["hidden_width".into()],
    };
    let metric = Metric {
        kind: MetricKind::ValLoss,
        goal: Goal::Min,
    };
    Pbt::new(plan, population, metric, 6, 7, space())
}

fn params(lr: f64, batch: i64, depth: i64) -> Params {
    Params::from([
        ("batch_size".into(), Value::Int(batch)),
        ("depth".into(), Value::Int(depth)),
        ("hidden_width".into(), Value::Int(32)),
        ("learning_rate".into(), Value::Float(lr)),
        ("schedule".into(), Value::Str("constant")),
    ])
}

/// Members with `params`, each with the losses of its virtual epochs, then `status`.
fn history(members: &[(Params, &[f64], Status)]) -> History {
    let mut h = History::default();
    for (n, (p, losses, status)) in members.iter().enumerate() {
        let trial = n as u64;
        h.apply(&Event::TrialStarted {
            trial,
            params: p.clone(),
            suggest_ms: None,
        });
        for (i, v) in losses.iter().enumerate() {
            let row = CurveRow {
                virtual_epoch: i as u32 + 1,
                examples_seen: 100 * (i as u64 + 1),
                steps: 0,
                train_loss: *v,
                val_loss: *v,
                metric: *v,
                learning_rate: None,
                reported: Default::default(),
            };
            h.apply(&Event::EpochDone {
                trial,
                row,
                seconds: 0.0,
                decision: None,
            });
        }
        if *status != Status::Running {
            h.apply(&Event::TrialEnded {
                trial,
                status: *status,
                reason: None,
                seconds: 0.0,
            });
        }
    }
    h
}

/// Four members paused at virtual epoch 2 with losses 0.5, 0.2, 0.9, 0.4 there.
fn four() -> History {
    history(&[
        (params(0.01, 32, 2), &[0.6, 0.5], Status::Paused),
        (params(0.1, 32, 2), &[0.6, 0.2], Status::Paused),
        (params(0.001, 64, 3), &[0.6, 0.9], Status::Paused),
        (params(0.8, 16, 1), &[0.6, 0.4], Status::Paused),
    ])
}

#[test]
fn members_pause_at_interval_boundaries_below_the_last() {
    let p = pbt(4, 0.25, 0.0, &[2.0]);
    let h = history(&[(params(0.01, 32, 2), &[0.5], Status::Running)]);
    assert_eq!(p.decide(0, &h), Decision::Continue);
    let h = history(&[(params(0.01, 32, 2), &[0.5, 0.4], Status::Running)]);
    assert_eq!(p.decide(0, &h), Decision::Pause);
    let h = history(&[(params(0.01, 32, 2), &[0.5; 6], Status::Running)]);
    assert_eq!(p.decide(0, &h), Decision::Continue);
}

#[test]
fn the_worst_quarter_exploits_the_best_and_explores_by_the_factor() {
    let h = four();
    // Ranked at virtual epoch 2: 1 (0.2), 3 (0.4), 0 (0.5), 2 (0.9); ⌈4 × 0.25⌉ = 1 a side.
    let p = pbt(4, 0.25, 0.0, &[2.0]);
    for m in [0, 1, 3] {
        assert_eq!(p.exploit(m, &h), None, "member {m}");
    }
    let x = p.exploit(2, &h).expect("member 2 is the bottom");
    assert_eq!((x.source, x.virtual_epoch), (1, 2));
    assert_eq!(x.old, params(0.001, 64, 3));
    // Member 1's: learning rate 0.1 × 2; batch 32 up to the next listed size, 64; depth 2 × 2;
    // the width is fixed; the schedule's next label, cosine, makes warmup active, drawn anew.
    let mut want = params(0.2, 64, 4);
    want.insert("schedule".into(), Value::Str("cosine"));
    let warmup = x.new["warmup"].as_f64();
    assert!((0.0..=0.5).contains(&warmup), "{warmup}");
    want.insert("warmup".into(), Value::Float(warmup));
    assert_eq!(x.new, want);
    // Halving instead: 0.05, batch down to 16, depth 1; the schedule stays at the first label.
    let x = pbt(4, 0.25, 0.0, &[0.5]).exploit(2, &h).unwrap();
    assert_eq!(x.new, params(0.05, 16, 1));
}

#[test]
fn explored_values_stay_inside_the_space() {
    let p = pbt(4, 0.25, 0.0, &[2.0]);
    let lr = Param::range("learning_rate", Kind::Float, 1e-4, 1.0, true);
    assert_eq!(perturbed(&lr, Value::Float(0.8), 2.0), Value::Float(1.0));
    let depth = Param::range("depth", Kind::Int, 1.0, 4.0, false);
    // 2 × 1.2 rounds to 2: an integer moves by one at least.
    assert_eq!(perturbed(&depth, Value::Int(2), 1.2), Value::Int(3));
    assert_eq!(perturbed(&depth, Value::Int(1), 0.8), Value::Int(1));
    let batch = &space().params[0];
    assert_eq!(perturbed(batch, Value::Int(64), 1.2), Value::Int(64));
    assert_eq!(perturbed(batch, Value::Int(16), 0.8), Value::Int(16));
    // Resampled every time: each new point is a point of the space.
    let all = pbt(4, 0.25, 1.0, &[2.0]);
    let h = four();
    for k in 0..50u64 {
        let mut rng = seed::rng(k, Purpose::Pbt, 0, 0);
        let explored = all.explore(&h.trials[&1].params, &mut rng);
        assert!(p.space.contains(&explored), "{explored:?}");
        assert_eq!(explored["hidden_width"], Value::Int(32));
    }
}

#[test]
fn with_half_a_side_the_source_is_drawn_from_the_top_by_the_seed() {
    let h = four();
    let p = pbt(4, 0.5, 0.25, &[0.8, 1.2]);
    // Top 1 and 3; bottom 0 and 2.
    assert_eq!(p.exploit(1, &h), None);
    assert_eq!(p.exploit(3, &h), None);
    for m in [0, 2] {
        let x = p.exploit(m, &h).unwrap();
        assert!([1, 3].contains(&x.source), "{x:?}");
        // The same history, the same decision.
        assert_eq!(p.exploit(m, &four()), Some(x));
    }
}

#[test]
fn the_barrier_waits_for_every_member_and_promotes_the_lowest_boundary_first() {
    let p = pbt(3, 0.25, 0.0, &[2.0]);
    let mut h = history(&[
        (params(0.01, 32, 2), &[0.6, 0.5], Status::Paused),
        (params(0.1, 32, 2), &[0.6], Status::Running),
    ]);
    // Member 2 has not started, member 1 has not reached virtual epoch 2.
    assert_eq!(p.promote(&h), None);
    assert_eq!(p.exploit(0, &h), None);
    assert!(p.waits(&h));
    h = history(&[
        (params(0.01, 32, 2), &[0.6, 0.5], Status::Paused),
        (params(0.1, 32, 2), &[0.6, 0.3, 0.2, 0.1], Status::Paused),
        (params(0.1, 32, 2), &[f64::NAN], Status::Failed),
    ]);
    // A failed member counts as there; the lowest boundary goes first.
    assert_eq!(p.promote(&h), Some(0));
    // ⌈2 × 0.25⌉ = 1: member 0 (0.5 against 0.3) exploits member 1's checkpoint of epoch 2.
    let x = p.exploit(0, &h).unwrap();
    assert_eq!((x.source, x.virtual_epoch), (1, 2));
    assert_eq!(p.referenced(1, &h), [2]);
    assert!(!p.waits(&h));
}

#[test]
fn an_exploit_is_journalled_once_and_its_checkpoint_kept_until_the_next_boundary() {
    let p = pbt(4, 0.25, 0.0, &[2.0]);
    let mut h = four();
    let x = p.exploit(2, &h).unwrap();
    assert_eq!(p.referenced(1, &h), [2]);
    h.apply(&Event::TrialPromoted { trial: 2 });
    h.apply(&x.event());
    assert_eq!(h.trials[&2].params, x.new);
    assert_eq!(h.trials[&2].params_at(2), &params(0.001, 64, 3));
    assert_eq!(h.trials[&2].params_at(3), &x.new);
    // Journalled: not again; its source's checkpoint kept while it trains.
    assert_eq!(p.exploit(2, &h), None);
    assert_eq!(p.referenced(1, &h), [2]);
    assert_eq!(p.referenced(0, &h), Vec::<u32>::new());
    assert_eq!(h.streams_of(2), 1);
    // Durably paused at its next boundary: released.
    for v in [0.3, 0.25] {
        let row = CurveRow {
            virtual_epoch: h.trials[&2].curve.len() as u32 + 1,
            metric: v,
            val_loss: v,
            ..h.trials[&2].curve[0].clone()
        };
        h.apply(&Event::EpochDone {
            trial: 2,
            row,
            seconds: 0.0,
            decision: None,
        });
    }
    h.apply(&Event::TrialEnded {
        trial: 2,
        status: Status::Paused,
        reason: None,
        seconds: 0.0,
    });
    assert_eq!(p.referenced(1, &h), Vec::<u32>::new());
}

/// Under `val_loss` the members are ranked by their validation loss, not by the curve's `metric`
/// column (which holds accuracy in classification, and may disagree).
#[test]
fn members_are_ranked_by_the_studys_metric_not_the_curves_column() {
    let mut h = four();
    // Numbers that, read as the metric (lower better), would put member 2 (loss 0.9, the worst)
    // first and member 1 (0.2, the best) last.
    for (t, acc) in [(0, 0.5), (1, 0.95), (2, 0.05), (3, 0.6)] {
        let rec = h.trials.get_mut(&t).unwrap();
        rec.curve.last_mut().unwrap().metric = acc;
    }
    let p = pbt(4, 0.25, 0.0, &[2.0]);
    let x = p.exploit(2, &h).expect("member 2 has the worst loss");
    assert_eq!(x.source, 1);
    assert_eq!(p.exploit(1, &h), None);
}
