//! `tune study.json` end to end on a tiny study: leaderboard, curves, checkpoints, determinism.

mod common;
use common::*;

#[test]
fn a_tiny_study_writes_leaderboard_curves_and_checkpoints() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(2));
    let out = ok(run(&spec));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("best_val_loss"),
        "no table printed:\n{stdout}"
    );
    assert!(stdout.contains("\noverhead: "), "{stdout}");
    // Run again: the study is finished, nothing trains, and it says so instead of an overhead.
    let again = String::from_utf8_lossy(&ok(run(&spec)).stdout).into_owned();
    assert!(again.contains("nothing left to train"), "{again}");
    assert!(!again.contains("\noverhead: "), "{again}");

    let study = dir.path().join("runs/tiny");
    let (header, rows) = read_csv(&study.join("leaderboard.csv"));
    assert_eq!(
        header,
        [
            "rank",
            "trial",
            "status",
            "batch_size",
            "learning_rate",
            "steps",
            "examples_seen",
            "best_virtual_epoch",
            "best_val_loss",
            "final_val_loss",
            "seconds",
            "reason",
            "suggest_ms"
        ]
    );
    assert_eq!(rows.len(), 6);
    let mut last_best = f64::NEG_INFINITY;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], (i + 1).to_string(), "ranks in order");
        assert_eq!(r[2], "complete");
        assert_eq!(r[6], "3000", "every trial sees exactly the budget: {r:?}");
        let batch: u64 = r[3].parse().unwrap();
        // 4 virtual epochs of 750 examples each: ceil(750 / batch) steps each.
        assert_eq!(
            r[5].parse::<u64>().unwrap(),
            4 * 750u64.div_ceil(batch),
            "{r:?}"
        );
        let best: f64 = r[8].parse().unwrap();
        assert!(best >= last_best, "sorted best first");
        last_best = best;

        let trial = study.join("trials").join(&r[1]);
        let (ch, curve) = read_csv(&trial.join("curve.csv"));
        assert_eq!(
            ch,
            [
                "virtual_epoch",
                "examples_seen",
                "steps",
                "train_loss",
                "val_loss",
                "rmse",
                "learning_rate"
            ]
        );
        assert_eq!(curve.len(), 4, "one curve row per virtual epoch");
        let seen: Vec<&str> = curve.iter().map(|c| c[1].as_str()).collect();
        assert_eq!(seen, ["750", "1500", "2250", "3000"]);
        // The leaderboard's best is the curve's minimum, at the earliest epoch that reaches it.
        let vals: Vec<f64> = curve.iter().map(|c| c[4].parse().unwrap()).collect();
        let min = vals.iter().cloned().fold(f64::INFINITY, f64::min);
        assert_eq!(best, min);
        assert_eq!(
            r[7],
            (vals.iter().position(|&v| v == min).unwrap() + 1).to_string()
        );
        assert!(trial.join("best.safetensors").exists());
        assert!(
            trial.join("ckpt-0004.safetensors").exists(),
            "the last checkpoint is kept"
        );
        let ckpts = std::fs::read_dir(&trial)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("ckpt-"))
            .count();
        assert_eq!(
            ckpts, 1,
            "default retention keeps only the last checkpoint besides best.safetensors"
        );
    }
    assert!(temp_files(&study).is_empty());

    // `tune leaderboard` prints and exports it again without training.
    let csv = dir.path().join("again.csv");
    ok(tune(&[
        "leaderboard".as_ref(),
        spec.as_os_str(),
        "--csv".as_ref(),
        csv.as_os_str(),
    ]));
    assert_eq!(read_csv(&csv), read_csv(&study.join("leaderboard.csv")));
}

#[test]
fn parallel_1_and_2_give_identical_metrics() {
    let mut results = vec![];
    for parallel in [1, 2] {
        let dir = tempdir();
        let spec = write_spec(dir.path(), &tiny_spec(parallel));
        ok(run(&spec));
        results.push(columns(
            &dir.path().join("runs/tiny/leaderboard.csv"),
            METRICS,
        ));
    }
    assert_eq!(results[0], results[1]);
}

/// A wide network, whose products and Adam updates are cut across threads: the results are the
/// same whether the study has one core (nothing cut), two trials share four (cut in two, then in
/// four once the first worker finds no trial left), or three trials share three (one thread each,
/// then more as the others finish).
#[test]
fn a_trials_share_of_the_cores_changes_nothing_but_speed() {
    let mut spec = tiny_spec(1);
    spec["model"]["hidden"] = serde_json::json!([256, 256]);
    spec["budget"] = serde_json::json!({ "total_examples": 2560, "virtual_epochs": 2 });
    spec["search"]["trials"] = serde_json::json!(3);
    spec["search"]["space"]["batch_size"] = serde_json::json!([64, 128]);
    let mut results = vec![];
    for (cores, parallel) in [("1", "1"), ("4", "2"), ("3", "3")] {
        let dir = tempdir();
        let path = write_spec(dir.path(), &spec);
        ok(tune(&[
            "-q".as_ref(),
            "--cores".as_ref(),
            cores.as_ref(),
            "--parallel".as_ref(),
            parallel.as_ref(),
            path.as_os_str(),
        ]));
        results.push(columns(
            &dir.path().join("runs/tiny/leaderboard.csv"),
            METRICS,
        ));
    }
    assert_eq!(results[0].len(), 3);
    assert_eq!(results[0], results[1], "--cores 4 --parallel 2");
    assert_eq!(results[0], results[2], "--cores 3 --parallel 3");
}

/// Files in a trial folder, by name.
fn trial_files(trial: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(trial)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn checkpoints_made_durable_in_groups_or_one_by_one_leave_the_same_study() {
    use tune::artifacts::Checkpoint;
    use tune::storage::journal::replay;
    let mut spec = tiny_spec(2);
    spec["keep"] = serde_json::json!(2);
    spec["budget"]["virtual_epochs"] = serde_json::json!(6);
    let mut studies = vec![];
    // 0: every virtual epoch on its own; 600: only when a trial leaves the trainer.
    for every in ["0", "600"] {
        let dir = tempdir();
        let path = write_spec(dir.path(), &spec);
        ok(tune(&[
            "-q".as_ref(),
            "--sync-every".as_ref(),
            every.as_ref(),
            path.as_os_str(),
        ]));
        studies.push(dir);
    }
    let study = |i: usize| studies[i].path().join("runs/tiny");
    assert_eq!(
        columns(&study(0).join("leaderboard.csv"), METRICS),
        columns(&study(1).join("leaderboard.csv"), METRICS)
    );
    let h0 = replay(&study(0).join("journal.jsonl")).unwrap().history;
    let h1 = replay(&study(1).join("journal.jsonl")).unwrap().history;
    assert_eq!(h0.trials.len(), 6);
    let rows = columns(
        &study(1).join("leaderboard.csv"),
        &["trial", "best_virtual_epoch"],
    );
    let mut best_not_last = 0;
    for r in &rows {
        let n: u64 = r[0].parse().unwrap();
        assert_eq!(h0.trials[&n].curve, h1.trials[&n].curve, "trial {n}");
        let best: u32 = r[1].parse().unwrap();
        best_not_last += (best != 6) as usize;
        for s in [study(0), study(1)] {
            let dir = s.join("trials").join(&r[0]);
            assert_eq!(
                trial_files(&dir),
                [
                    "best.safetensors",
                    "ckpt-0005.safetensors",
                    "ckpt-0006.safetensors",
                    "curve.csv"
                ],
                "keep 2, the best and the curve in {}",
                dir.display()
            );
            let b = Checkpoint::load(&dir.join("best.safetensors")).unwrap();
            assert_eq!(b.meta.virtual_epoch, best, "{}", dir.display());
        }
    }
    // The best checkpoint fell out of keep-last-2 in some trial, or the test shows less.
    assert!(best_not_last > 0, "{rows:?}");
}

#[test]
fn parallel_workers_take_the_costliest_trials_first_and_resume_takes_the_rest() {
    use tune::plan::{Overrides, StudyPlan};
    use tune::runner::{mlp::MlpRunner, TrialRunner};
    use tune::storage::{Event, History};
    let dir = tempdir();
    let order_of = |parallel: usize, history: &History| {
        let spec = write_spec(dir.path(), &tiny_spec(parallel));
        let plan = StudyPlan::load(
            &spec,
            &Overrides::default(),
            &tune::runner::mlp::params::FAMILY,
        )
        .unwrap();
        let mut sampler = tune::sampler::for_plan(&plan);
        let runner = MlpRunner::new(&plan);
        let order = tune::driver::unstarted_trials(
            plan.trials,
            plan.parallel,
            &runner,
            &mut *sampler,
            history,
        )
        .unwrap();
        let costs: Vec<f64> = order
            .iter()
            .map(|&n| runner.estimated_cost(&sampler.ask(n, history)))
            .collect();
        (order, costs)
    };
    let (order, costs) = order_of(2, &History::default());
    let mut numbers = order.clone();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..6).collect::<Vec<_>>());
    assert!(
        costs.windows(2).all(|w| w[0] >= w[1]),
        "{order:?} {costs:?}"
    );
    // Not already in number order, or the test would show nothing.
    assert!(order.windows(2).any(|w| w[0] > w[1]), "{order:?}");
    // One worker: number order.
    assert_eq!(
        order_of(1, &History::default()).0,
        (0..6).collect::<Vec<_>>()
    );
    // A resumed study takes the trials not begun yet, whatever their numbers.
    let mut history = History::default();
    for &n in &order[..2] {
        history.apply(&Event::TrialStarted {
            trial: n,
            params: Default::default(),
            suggest_ms: None,
        });
    }
    assert_eq!(order_of(2, &history).0, order[2..].to_vec());
}

#[test]
fn a_classification_study_with_string_labels_and_early_stopping() {
    let dir = tempdir();
    // Digits with the label spelled out, to check string classes end to end.
    let (h, rows) = read_csv(&digits());
    let names = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    let mut w = csv::Writer::from_path(dir.path().join("d.csv")).unwrap();
    w.write_record(&h).unwrap();
    for r in rows.iter().take(600) {
        let mut r = r.clone();
        let k: usize = r[64].parse().unwrap();
        r[64] = names[k].to_string();
        w.write_record(&r).unwrap();
    }
    w.flush().unwrap();
    let spec = serde_json::json!({
        "name": "d",
        "data": { "path": "d.csv", "target": "digit", "task": "classification" },
        "model": { "hidden": [32] },
        "budget": { "stop_point": 8, "virtual_epochs": 8 },
        "search": { "method": "grid", "space": { "batch_size": [16, 64], "learning_rate": [0.003, 3.0] } },
        "metric": "accuracy",
        "early_stopping": { "patience": 2 }
    });
    let spec = write_spec(dir.path(), &spec);
    ok(run(&spec));
    let rows = columns(
        &dir.path().join("runs/d/leaderboard.csv"),
        &["status", "best_accuracy", "learning_rate", "examples_seen"],
    );
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().any(|r| r[0] == "stopped"), "{rows:?}");
    // One trial at a time validates each virtual epoch on the trial's second thread while the next
    // trains (and early stopping throws that one away); two at a time validate in line: the same.
    let cols = &[
        "status",
        "reason",
        "steps",
        "examples_seen",
        "best_virtual_epoch",
        "best_accuracy",
        "final_accuracy",
    ];
    let one = dir.path().join("one");
    ok(tune(&[
        "-q".as_ref(),
        "--parallel".as_ref(),
        "1".as_ref(),
        "--out".as_ref(),
        one.as_os_str(),
        spec.as_os_str(),
    ]));
    assert_eq!(
        columns(&one.join("leaderboard.csv"), cols),
        columns(&dir.path().join("runs/d/leaderboard.csv"), cols)
    );
    for r in &rows {
        let acc: f64 = r[1].parse().unwrap_or(f64::NAN);
        if r[2] == "0.003" {
            assert!(acc > 0.8, "a sane learning rate learns the digits: {r:?}");
        }
        if r[0] == "stopped" {
            assert!(
                r[3].parse::<u64>().unwrap() < 3840,
                "a stopped trial ends early: {r:?}"
            );
        }
    }
    let (ch, _) = read_csv(&dir.path().join("runs/d/trials/0/curve.csv"));
    assert_eq!(ch[5], "accuracy", "{ch:?}");
    assert_eq!(ch.last().unwrap(), "learning_rate", "{ch:?}");
}

#[test]
fn a_diverging_trial_fails_and_the_study_goes_on() {
    let dir = tempdir();
    let mut spec = tiny_spec(1);
    spec["search"] = serde_json::json!({
        "method": "grid",
        "space": { "batch_size": [8], "learning_rate": [0.003, 1e30] }
    });
    let spec = write_spec(dir.path(), &spec);
    ok(run(&spec));
    let rows = columns(
        &dir.path().join("runs/tiny/leaderboard.csv"),
        &["status", "reason", "best_val_loss"],
    );
    assert_eq!(rows[0][0], "complete");
    assert_eq!(rows[1][0], "failed", "{rows:?}");
    assert!(rows[1][1].contains("loss became"), "{rows:?}");
}

#[test]
fn trials_diverging_mid_study_end_the_same_validated_beside_the_next_epoch_or_in_line() {
    // SGD at learning rates near the edge: most trials blow up after a few virtual epochs, some
    // a few steps after one ended, while its validation may still be running beside them.
    let dir = tempdir();
    let mut spec = tiny_spec(1);
    spec["model"]["optimizer"] = serde_json::json!("sgd");
    spec["budget"]["virtual_epochs"] = serde_json::json!(40);
    spec["search"] = serde_json::json!({
        "method": "grid",
        "space": { "batch_size": [8], "learning_rate": [0.021, 0.022, 0.023, 0.024, 0.025, 0.026] }
    });
    let spec = write_spec(dir.path(), &spec);
    let cols = &[
        "status",
        "reason",
        "steps",
        "best_virtual_epoch",
        "best_val_loss",
        "final_val_loss",
    ];
    let mut boards = vec![];
    for parallel in ["1", "2"] {
        let out = dir.path().join(parallel);
        ok(tune(&[
            "-q".as_ref(),
            "--parallel".as_ref(),
            parallel.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            spec.as_os_str(),
        ]));
        boards.push(columns(&out.join("leaderboard.csv"), cols));
        for t in 0..6 {
            let curve = |p: &str| {
                std::fs::read_to_string(dir.path().join(p).join(format!("trials/{t}/curve.csv")))
                    .unwrap()
            };
            if parallel == "2" {
                assert_eq!(curve("1"), curve("2"), "trial {t}");
            }
        }
    }
    let late = boards[0]
        .iter()
        .filter(|r| r[0] == "failed" && !r[1].contains("(virtual epoch 1)"))
        .count();
    assert!(late >= 3, "{:?}", boards[0]);
    assert_eq!(boards[0], boards[1]);
}

#[test]
fn a_bayes_study_asks_the_gp_after_its_startup_trials_and_is_deterministic() {
    let spec_for = |method: &str| {
        let mut s = tiny_spec(1);
        s["search"]["method"] = serde_json::json!(method);
        s["search"]["trials"] = serde_json::json!(7);
        s["search"]["startup_trials"] = serde_json::json!(3);
        s["search"]["space"]["weight_decay"] =
            serde_json::json!({ "low": 1e-6, "high": 1e-2, "log": true });
        s
    };
    let mut runs = vec![];
    for method in ["bayes", "bayes", "random"] {
        let dir = tempdir();
        ok(run(&write_spec(dir.path(), &spec_for(method))));
        runs.push(columns(
            &dir.path().join("runs/tiny/leaderboard.csv"),
            &[
                "trial",
                "batch_size",
                "learning_rate",
                "weight_decay",
                "best_val_loss",
                "suggest_ms",
            ],
        ));
    }
    let (bayes, again, random) = (&runs[0], &runs[1], &runs[2]);
    assert_eq!(bayes.len(), 7);
    let params = |rows: &Vec<Vec<String>>| rows.iter().map(|r| r[..5].to_vec()).collect::<Vec<_>>();
    assert_eq!(
        params(bayes),
        params(again),
        "same seed, same history: same suggestions"
    );
    // The start-up trials are a Latin hypercube: in log scale, each range cut in three, and every
    // third holds one of the three trials.
    for (col, low, high) in [(2, 1e-3f64, 3e-2f64), (3, 1e-6, 1e-2)] {
        let mut thirds: Vec<usize> = bayes[..3]
            .iter()
            .map(|r| {
                let v: f64 = r[col].parse().unwrap();
                let u = (v.log10() - low.log10()) / (high.log10() - low.log10());
                ((u * 3.0) as usize).min(2)
            })
            .collect();
        thirds.sort();
        assert_eq!(thirds, vec![0, 1, 2], "column {col}: {bayes:?}");
    }
    // With so few points the GP may repeat one and fall back to random (with a warning): most
    // suggestions after the start-up must still be its own.
    let gp = (3..7)
        .filter(|&t| bayes[t][1..4] != random[t][1..4])
        .count();
    assert!(
        gp >= 3,
        "only {gp} of 4 trials after start-up came from the GP:\n{bayes:?}\n{random:?}"
    );
    for row in &bayes[3..] {
        let ms: f64 = row[5].parse().unwrap();
        assert!(
            ms > 0.1,
            "a GP suggestion takes time, recorded {ms} ms: {row:?}"
        );
    }
}

#[test]
fn a_tpe_study_runs_and_is_deterministic() {
    let mut spec = tiny_spec(1);
    spec["search"]["method"] = serde_json::json!("tpe");
    spec["search"]["trials"] = serde_json::json!(12);
    spec["search"]["startup_trials"] = serde_json::json!(4);
    let mut runs = vec![];
    for method in ["tpe", "tpe", "random"] {
        spec["search"]["method"] = serde_json::json!(method);
        let dir = tempdir();
        ok(run(&write_spec(dir.path(), &spec)));
        runs.push(columns(
            &dir.path().join("runs/tiny/leaderboard.csv"),
            &["trial", "batch_size", "learning_rate", "status"],
        ));
    }
    let (tpe, again, random) = (&runs[0], &runs[1], &runs[2]);
    assert_eq!(tpe.len(), 12);
    assert!(tpe.iter().all(|r| r[3] == "complete"), "{tpe:?}");
    assert_eq!(tpe, again, "same seed, same history: same suggestions");
    let by_trial = |rows: &Vec<Vec<String>>| {
        let mut rows = rows.clone();
        rows.sort_by_key(|r| r[0].parse::<u64>().unwrap());
        rows
    };
    let (tpe, random) = (by_trial(tpe), by_trial(random));
    // The start-up trials are random search's; TPE's own come after.
    assert_eq!(tpe[..4], random[..4]);
    assert!(tpe[4..].iter().zip(&random[4..]).any(|(a, b)| a != b));
}

/// `"method": "auto"` picks the GP on a small space of numbers and TPE on a larger one, says
/// which in the run's first lines, and runs the study as that method would.
#[test]
fn auto_picks_the_gp_or_tpe_by_the_space_and_says_which() {
    let mut spec = tiny_spec(1);
    spec["search"]["trials"] = serde_json::json!(8);
    spec["search"]["startup_trials"] = serde_json::json!(4);
    let lb = |spec: &serde_json::Value| {
        let dir = tempdir();
        let path = write_spec(dir.path(), spec);
        let out = ok(tune(&[path.as_os_str()]));
        let rows = columns(
            &dir.path().join("runs/tiny/leaderboard.csv"),
            &["trial", "batch_size", "learning_rate", "status"],
        );
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (said, rows)
    };
    spec["search"]["method"] = serde_json::json!("auto");
    let (said, auto) = lb(&spec);
    assert!(
        said.contains("search: \"auto\" chose the GP (\"bayes\"): 2 parameters"),
        "{said}"
    );
    spec["search"]["method"] = serde_json::json!("bayes");
    assert_eq!(auto, lb(&spec).1);
    // Eleven parameters: TPE.
    spec["search"]["method"] = serde_json::json!("auto");
    let space = &mut spec["search"]["space"];
    space["weight_decay"] = serde_json::json!({ "low": 0.0, "high": 0.01 });
    space["hidden_width"] = serde_json::json!([4, 8]);
    space["momentum"] = serde_json::json!([0.0, 0.9]);
    space["depth"] = serde_json::json!([1, 2]);
    space["activation"] = serde_json::json!(["relu", "tanh"]);
    space["dropout"] = serde_json::json!([0.0, 0.1]);
    space["warmup"] = serde_json::json!([0.0, 0.1]);
    space["schedule"] = serde_json::json!(["constant", "cosine"]);
    space["min_lr_fraction"] = serde_json::json!([0.0, 0.1]);
    spec["model"]["optimizer"] = serde_json::json!("sgd");
    let (said, auto) = lb(&spec);
    assert!(
        said.contains("search: \"auto\" chose TPE (\"tpe\"): 11 parameters (the GP up to 10)"),
        "{said}"
    );
    spec["search"]["method"] = serde_json::json!("tpe");
    assert_eq!(auto, lb(&spec).1);
}
