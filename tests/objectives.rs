//! Several objectives and constraints: `pareto.csv` is the feasible non-dominated set of the
//! leaderboard, an infeasible trial is never on it, the built-in cost metrics are exact, a
//! two-objective ASHA study SIGKILLed at random moments resumes to the same decisions and front,
//! one objective written as `objectives` runs as `metric`, and bad specs are refused.

mod common;
mod toy;
use common::*;
use std::collections::BTreeSet;
use std::path::Path;

/// A wine study of `trials` trials: validation loss against the network's size, widths and
/// depths searched, at most `max_parameters` weights.
fn wine_spec(trials: usize, max_parameters: u64) -> serde_json::Value {
    serde_json::json!({
        "name": "mo",
        "seed": 5,
        "data": { "path": wine(), "target": "quality", "task": "regression" },
        "budget": { "total_examples": 4000, "virtual_epochs": 4 },
        "objectives": [{ "metric": "val_loss" }, { "metric": "parameters" }],
        "constraints": [{ "metric": "parameters", "max": max_parameters }],
        "search": {
            "method": "random",
            "trials": trials,
            "parallel": 2,
            "space": {
                "batch_size": [16, 64],
                "learning_rate": { "low": 3e-3, "high": 3e-2, "log": true },
                "hidden_width": [2, 4, 8, 16, 32, 64],
                "depth": [1, 2]
            }
        }
    })
}

/// The leaderboard's rows as maps from column to cell.
fn board(study: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let (h, rows) = read_csv(&study.join("leaderboard.csv"));
    rows.into_iter()
        .map(|r| h.iter().cloned().zip(r).collect())
        .collect()
}

/// The trials that no feasible trial not cut short dominates, recomputed from the leaderboard's
/// columns `a` and `b` (both minimised).
fn front_of(study: &Path, a: &str, b: &str) -> BTreeSet<u64> {
    let rows = board(study);
    let eligible: Vec<(u64, f64, f64)> = rows
        .iter()
        .filter(|r| {
            r["feasible"] == "true" && !["pruned", "paused"].contains(&r["status"].as_str())
        })
        .map(|r| {
            (
                r["trial"].parse().unwrap(),
                r[a].parse().unwrap(),
                r[b].parse().unwrap(),
            )
        })
        .collect();
    let dominated = |p: &(u64, f64, f64)| {
        eligible
            .iter()
            .any(|q| q.1 <= p.1 && q.2 <= p.2 && (q.1 < p.1 || q.2 < p.2))
    };
    eligible
        .iter()
        .filter(|p| !dominated(p))
        .map(|p| p.0)
        .collect()
}

fn pareto_trials(study: &Path) -> BTreeSet<u64> {
    let (h, rows) = read_csv(&study.join("pareto.csv"));
    assert_eq!(h[0], "trial");
    rows.iter().map(|r| r[0].parse().unwrap()).collect()
}

#[test]
fn pareto_csv_is_the_feasible_non_dominated_set_and_the_cost_metrics_are_exact() {
    let dir = tempdir();
    ok(run(&write_spec(dir.path(), &wine_spec(14, 300))));
    let study = dir.path().join("runs/mo");
    let rows = board(&study);
    let mut infeasible = 0;
    for r in &rows {
        // Inputs 11, one output: each hidden layer's products and biases.
        let (w, d): (f64, f64) = (
            r["hidden_width"].parse().unwrap(),
            r["depth"].parse().unwrap(),
        );
        let products = 11.0 * w + (d - 1.0) * w * w + w;
        let parameters = products + d * w + 1.0;
        assert_eq!(
            r["best_parameters"].parse::<f64>().unwrap(),
            parameters,
            "{r:?}"
        );
        assert_eq!(r["best_flops"].parse::<f64>().unwrap(), products, "{r:?}");
        let feasible = parameters <= 300.0;
        assert_eq!(r["feasible"], feasible.to_string(), "{r:?}");
        if !feasible {
            infeasible += 1;
            assert_eq!(
                r["pareto_rank"], "",
                "an infeasible trial on a front: {r:?}"
            );
        }
    }
    assert!(infeasible > 0 && infeasible < rows.len(), "{rows:?}");
    let front = front_of(&study, "best_val_loss", "best_parameters");
    assert!(!front.is_empty());
    assert_eq!(pareto_trials(&study), front);
    // The leaderboard ranks the front first, and `pareto_rank` 1 is exactly the front.
    let ones: BTreeSet<u64> = rows
        .iter()
        .filter(|r| r["pareto_rank"] == "1")
        .map(|r| r["trial"].parse().unwrap())
        .collect();
    assert_eq!(ones, front);
    let first: BTreeSet<u64> = rows[..front.len()]
        .iter()
        .map(|r| r["trial"].parse().unwrap())
        .collect();
    assert_eq!(first, front);
    // `tune status` gives the front's size and its hypervolume.
    let out = ok(tune(&[
        "status".as_ref(),
        dir.path().join("study.json").as_os_str(),
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = format!("Pareto front: {} trial", front.len());
    assert!(
        text.contains(&line) && text.contains("hypervolume"),
        "{text}"
    );
}

/// A command trainer's two reported numbers as objectives, searched by the GP (ParEGO): the
/// front is recomputed from the leaderboard, and every trial breaking the constraint is off it.
#[test]
fn a_programs_two_objectives_under_a_constraint_searched_by_the_gp() {
    if !toy::python() {
        return;
    }
    let dir = tempdir();
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/programs/two_objectives.py");
    let spec = serde_json::json!({
        "name": "mo",
        "seed": 2,
        "trainer": { "command": ["python3", program] },
        "budget": { "total_examples": 300, "virtual_epochs": 3 },
        "objectives": [{ "metric": "obj1", "goal": "min" }, { "metric": "obj2", "goal": "min" }],
        "constraints": [{ "metric": "obj1", "min": 0.1 }],
        "search": {
            "method": "bayes",
            "trials": 14,
            "parallel": 2,
            "space": {
                "x1": { "low": 0.0, "high": 1.0 },
                "x2": { "low": 0.0, "high": 1.0 },
                "x3": { "low": 0.0, "high": 1.0 }
            }
        }
    });
    ok(run(&write_spec(dir.path(), &spec)));
    let study = dir.path().join("runs/mo");
    let front = front_of(&study, "best_obj1", "best_obj2");
    assert_eq!(pareto_trials(&study), front);
    for r in board(&study) {
        let f1: f64 = r["best_obj1"].parse().unwrap();
        // Selected at the last boundary (the values the program converges to, times 4/3),
        // unless every boundary ties at 0.
        assert!(r["best_virtual_epoch"] == "3" || f1 == 0.0, "{r:?}");
        assert_eq!(r["feasible"], (f1 >= 0.1).to_string(), "{r:?}");
    }
}

#[test]
fn one_objective_written_as_objectives_gives_the_same_results_as_metric() {
    // One at a time: the GP's suggestions then depend on nothing but the study.
    let mut spec = tiny_spec(1);
    spec["search"]["method"] = "bayes".into();
    spec["search"]["trials"] = 8.into();
    spec["scheduler"] = serde_json::json!({ "kind": "asha", "reduction_factor": 2 });
    let (a, b) = (tempdir(), tempdir());
    ok(run(&write_spec(a.path(), &spec)));
    spec["objectives"] = serde_json::json!([{ "metric": "val_loss" }]);
    ok(run(&write_spec(b.path(), &spec)));
    let cols = &[
        "trial",
        "status",
        "batch_size",
        "learning_rate",
        "examples_seen",
        "best_virtual_epoch",
        "best_val_loss",
        "final_val_loss",
        "reason",
    ];
    let want = columns(&a.path().join("runs/tiny/leaderboard.csv"), cols);
    assert_eq!(
        columns(&b.path().join("runs/tiny/leaderboard.csv"), cols),
        want
    );
    // The same header: no several-objective columns, and no pareto.csv.
    let header = |d: &Path| read_csv(&d.join("runs/tiny/leaderboard.csv")).0;
    assert_eq!(header(b.path()), header(a.path()));
    assert!(!b.path().join("runs/tiny/pareto.csv").exists());
}

#[test]
fn a_two_objective_asha_study_sigkilled_at_random_moments_resumes_to_the_same_decisions_and_front()
{
    let spec = || {
        let mut s = wine_spec(9, 100_000);
        s["search"]["parallel"] = 1.into();
        s["budget"] = serde_json::json!({ "total_examples": 600_000, "virtual_epochs": 9 });
        s["scheduler"] =
            serde_json::json!({ "kind": "asha", "reduction_factor": 3, "mode": "promote" });
        s
    };
    let reference = tempdir();
    let t0 = std::time::Instant::now();
    ok(run(&write_spec(reference.path(), &spec())));
    let span = t0.elapsed().as_millis() as u64 + 1;
    let want_study = reference.path().join("runs/mo");
    let cols = &[
        "trial",
        "status",
        "best_val_loss",
        "best_parameters",
        "pareto_rank",
        "reason",
    ];
    let want = columns(&want_study.join("leaderboard.csv"), cols);
    let want_front = std::fs::read_to_string(want_study.join("pareto.csv")).unwrap();
    let journal = std::fs::read_to_string(want_study.join("journal.jsonl")).unwrap();
    assert!(
        journal.contains(r#""event":"trial_promoted""#),
        "no promotion"
    );

    let dir = tempdir();
    let spec_path = write_spec(dir.path(), &spec());
    let study = dir.path().join("runs/mo");
    let kills = kill_at_random_moments(&spec_path, span, 0x2545F4914F6CDD1D, 8);
    assert!(kills >= 4, "only {kills} kills landed");
    ok(run(&spec_path));
    assert_eq!(columns(&study.join("leaderboard.csv"), cols), want);
    assert_eq!(decisions(&study), decisions(&want_study));
    assert_eq!(
        std::fs::read_to_string(study.join("pareto.csv")).unwrap(),
        want_front
    );
}

/// Each bad spec exits 2 with one sentence naming the place, and writes nothing.
#[test]
fn bad_objectives_are_refused_with_their_place() {
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            serde_json::json!({ "metric": "val_loss" }),
            "objectives: give either \"metric\"",
        ),
        (
            serde_json::json!({ "objectives": [] }),
            "objectives: names no objective",
        ),
        (
            serde_json::json!({ "objectives": [{ "metric": "val_loss" }, { "metric": "val_loss" }] }),
            "objectives[1].metric: \"val_loss\" is already an objective",
        ),
        (
            serde_json::json!({ "objectives": [{ "metric": "accuracy" }] }),
            "objectives[0].metric: \"accuracy\" is not a metric of a regression task",
        ),
        (
            serde_json::json!({ "objectives": [{ "metric": "parameters", "goal": "max" }] }),
            "objectives[0].goal: parameters is better when lower",
        ),
        (
            serde_json::json!({ "objectives": [["val_loss", "min"]] }),
            "objectives[0]: expected an object with named fields, found an array",
        ),
        (
            serde_json::json!({ "constraints": [{ "metric": "flops", "min": 10, "max": 5 }] }),
            "constraints[0].min: 10 is above the constraint's max 5",
        ),
        (
            serde_json::json!({ "constraints": [{ "metric": "flops" }] }),
            "constraints[0].metric: the constraint has no \"min\" and no \"max\"",
        ),
        (
            serde_json::json!({ "scheduler": { "kind": "median" } }),
            "scheduler.kind: the median rule compares one metric",
        ),
        (
            serde_json::json!({ "scheduler": { "kind": "pbt" } }),
            "scheduler.kind: population-based training ranks its members by one metric",
        ),
    ];
    for (extra, want) in cases {
        let dir = tempdir();
        let mut spec = wine_spec(2, 1000);
        let obj = spec.as_object_mut().unwrap();
        if extra.get("constraints").is_some() || extra.get("scheduler").is_some() {
            obj.remove("constraints");
        } else {
            obj.remove("objectives");
            obj.remove("constraints");
            if extra.get("metric").is_some() {
                obj.insert(
                    "objectives".into(),
                    serde_json::json!([{ "metric": "val_loss" }]),
                );
            }
        }
        for (k, v) in extra.as_object().unwrap() {
            obj.insert(k.clone(), v.clone());
        }
        let out = run(&write_spec(dir.path(), &spec));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{want}: {err}");
        assert!(err.contains(want), "want {want:?}, got {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!dir.path().join("runs").exists(), "{want}: wrote a study");
    }
}

/// The objectives and constraints are the study's identity: changing one is refused on resume,
/// with nothing written.
#[test]
fn changed_objectives_or_constraints_are_refused_on_resume() {
    let dir = tempdir();
    let mut spec = wine_spec(2, 300);
    let path = write_spec(dir.path(), &spec);
    ok(run(&path));
    let journal = dir.path().join("runs/mo/journal.jsonl");
    let before = std::fs::read(&journal).unwrap();
    spec["constraints"][0]["max"] = 400.into();
    write_spec(dir.path(), &spec);
    let out = run(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the spec changed since this study began (constraints)"),
        "{err}"
    );
    spec["constraints"][0]["max"] = 300.into();
    spec["objectives"][1]["metric"] = "flops".into();
    write_spec(dir.path(), &spec);
    let err = String::from_utf8_lossy(&run(&path).stderr).into_owned();
    assert!(err.contains("(objectives)"), "{err}");
    assert_eq!(std::fs::read(&journal).unwrap(), before);
}
