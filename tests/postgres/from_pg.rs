//! Warm start and `init` from a study kept in PostgreSQL (`postgresql://…/db#name`), as from a
//! study folder: the same trials taken, the same checkpoint started from.

use std::path::Path;

use super::*;

/// A spec `name.json` in `dir`: the tiny study on a grid of 3 of its 6 points, edited by `edit`.
fn grid_spec(dir: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut s = tiny_spec(1);
    s["name"] = name.into();
    s["search"] = serde_json::json!({
        "method": "grid", "trials": 3, "parallel": 1,
        "space": { "batch_size": [16, 64], "learning_rate": [0.01, 0.003, 0.001] }
    });
    edit(&mut s);
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, s.to_string()).unwrap();
    path
}

/// The leaderboard's columns `names` of the study in `out`, sorted.
fn sorted(out: &Path, names: &[&str]) -> Vec<Vec<String>> {
    let mut rows = columns(&out.join("leaderboard.csv"), names);
    rows.sort();
    rows
}

#[test]
fn warm_start_and_init_read_a_study_kept_in_postgresql_as_one_in_a_folder() {
    let _serial = one_at_a_time();
    let Some(url) = database("from_pg") else {
        return;
    };
    let dir = tempdir();
    let d = dir.path();
    // The parent, run in a folder and in PostgreSQL: the same trials.
    let parent = grid_spec(d, "parent", |_| {});
    ok(tune(&["-q".as_ref(), parent.as_os_str()]));
    ok(tune(&[
        "-q".as_ref(),
        "--storage".as_ref(),
        url.as_ref(),
        "--out".as_ref(),
        d.join("pg-parent").as_os_str(),
        parent.as_os_str(),
    ]));
    let from_pg = format!("{url}#parent");
    // Warm-started grids: the grid's other three points, whichever parent they start from.
    let params = ["batch_size", "learning_rate"];
    let mut rest = vec![];
    for (name, from) in [
        ("rest-folder", "runs/parent"),
        ("rest-pg", from_pg.as_str()),
    ] {
        let spec = grid_spec(d, name, |s| {
            s["search"]["trials"] = serde_json::Value::Null;
            s["search"]["warm_start"] = from.into();
        });
        ok(run(&spec));
        rest.push(sorted(&d.join("runs").join(name), &params));
    }
    assert_eq!(rest[0].len(), 3, "{rest:?}");
    assert_eq!(rest[0], rest[1]);
    assert!(rest[0]
        .iter()
        .all(|p| !sorted(&d.join("runs/parent"), &params).contains(p)));
    // Fine-tuning from the parent's best trial: the same checkpoint, the same start.
    let mut starts = vec![];
    for (name, from) in [
        ("child-folder", "runs/parent"),
        ("child-pg", from_pg.as_str()),
    ] {
        let spec = grid_spec(d, name, |s| {
            s["search"]["trials"] = 2.into();
            s["init"] = serde_json::json!({ "from": from });
        });
        ok(run(&spec));
        let init: serde_json::Value = serde_json::from_slice(
            &std::fs::read(d.join("runs").join(name).join("init.json")).unwrap(),
        )
        .unwrap();
        starts.push((init["trial"].clone(), init["val_loss"].clone()));
    }
    assert_eq!(starts[0], starts[1]);
    // A URL that names no study, and a study that is not there, are refused in one sentence.
    for (from, want) in [
        (url.clone(), "names no study: end the URL with #name"),
        (format!("{url}#nowhere"), "holds no study"),
    ] {
        let spec = grid_spec(d, "bad", |s| s["search"]["warm_start"] = from.into());
        let out = run(&spec);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("search.warm_start") && err.contains(want),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// `init` from a study of several objectives and a constraint kept in PostgreSQL starts from the
/// same trial as from its folder: the front's trial with the best first objective (the
/// objectives read back from its fingerprint), not the best first objective of all trials.
#[test]
fn init_from_a_study_of_several_objectives_in_postgresql_takes_the_same_trial_as_from_its_folder() {
    let _serial = one_at_a_time();
    let Some(url) = database("from_pg_mo") else {
        return;
    };
    let dir = tempdir();
    let d = dir.path();
    let parent = grid_spec(d, "mo-parent", |s| {
        s["search"]["trials"] = 6.into();
        s["search"]["space"] = serde_json::json!({
            "batch_size": [16], "hidden_width": [4, 16, 64], "learning_rate": [0.01, 0.003]
        });
        s["objectives"] = serde_json::json!([{ "metric": "val_loss" }, { "metric": "parameters" }]);
        s["constraints"] = serde_json::json!([{ "metric": "parameters", "max": 300 }]);
    });
    ok(tune(&["-q".as_ref(), parent.as_os_str()]));
    let pg_out = d.join("pg-mo-parent");
    let pg = [
        "-q".as_ref(),
        "--storage".as_ref(),
        url.as_ref(),
        "--out".as_ref(),
        pg_out.as_os_str(),
        parent.as_os_str(),
    ];
    ok(tune(&pg));
    let rows = columns(
        &d.join("runs/mo-parent/leaderboard.csv"),
        &["rank", "trial", "feasible", "pareto_rank"],
    );
    let first = rows.iter().find(|r| r[0] == "1").expect("a first row");
    assert_eq!((&first[2][..], &first[3][..]), ("true", "1"), "{rows:?}");
    // Some trial is infeasible, so that the constraint can matter.
    assert!(rows.iter().any(|r| r[2] == "false"), "{rows:?}");
    let from_pg = format!("{url}#mo-parent");
    let mut starts = vec![];
    for (name, from) in [
        ("mo-child-folder", "runs/mo-parent"),
        ("mo-child-pg", from_pg.as_str()),
    ] {
        let spec = grid_spec(d, name, |s| {
            s.as_object_mut().unwrap().remove("model");
            s["search"]["trials"] = 1.into();
            s["init"] = serde_json::json!({ "from": from });
        });
        ok(run(&spec));
        let init: serde_json::Value = serde_json::from_slice(
            &std::fs::read(d.join("runs").join(name).join("init.json")).unwrap(),
        )
        .unwrap();
        starts.push(init["trial"].to_string());
    }
    assert_eq!(&starts[0], &first[1], "{starts:?} {rows:?}");
    assert_eq!(starts[1], starts[0]);
}
