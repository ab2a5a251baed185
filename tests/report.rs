//! `tune report`: a self-contained page, checked in a real headless browser (Debian's chromium;
//! skipped with a message where it is absent), on a study with complete, stopped and failed trials,
//! and on a study that is still running.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Headless chromium on the report file `page` (see [`common::browse`]).
fn browse_file(chrome: &Path, page: &Path, extra: &[&str]) -> std::process::Output {
    browse(chrome, &format!("file://{}", page.display()), extra)
}

/// The self-check the page's script writes once it ran in Chromium, asserted free of console
/// errors.
fn self_check(chrome: &Path, page: &Path) -> serde_json::Value {
    let dom = browse_file(chrome, page, &["--dump-dom", "--window-size=1280,2400"]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let start = dom
        .find("data-selfcheck=\"")
        .expect("the page's script ran and wrote its self-check")
        + 16;
    let raw = &dom[start..start + dom[start..].find('"').unwrap()];
    let check: serde_json::Value =
        serde_json::from_str(&raw.replace("&quot;", "\"").replace("&amp;", "&")).unwrap();
    assert_eq!(
        check["errors"],
        serde_json::json!([]),
        "console errors: {check}"
    );
    check
}

fn mixed_study(dir: &Path) -> PathBuf {
    let mut spec = tiny_spec(2);
    spec["budget"] = serde_json::json!({ "total_examples": 6000, "virtual_epochs": 8 });
    spec["search"] = serde_json::json!({
        "method": "grid",
        "space": { "batch_size": [16, 64], "learning_rate": [0.003, 0.3, 1e30] }
    });
    spec["early_stopping"] = serde_json::json!({ "patience": 2 });
    write_spec(dir, &spec)
}

#[test]
fn the_report_loads_in_a_browser_with_one_series_per_trial() {
    let dir = tempdir();
    let spec = mixed_study(dir.path());
    ok(run(&spec));
    let page = dir.path().join("runs/tiny/report.html");
    assert!(page.exists(), "the study writes its report when it ends");
    std::fs::remove_file(&page).unwrap();
    let out = ok(tune(&["report".as_ref(), spec.as_os_str()]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        page.display().to_string()
    );
    let html = std::fs::read_to_string(&page).unwrap();
    for banned in ["http://", "https://", "<link", "src=\""] {
        assert!(
            !html.contains(banned)
                || banned == "http://"
                    && html
                        .matches("http://")
                        .all(|_| html.contains("http://www.w3.org/2000/svg")),
            "not self-contained: {banned}"
        );
    }
    let statuses = columns(&dir.path().join("runs/tiny/leaderboard.csv"), &["status"]);
    for want in ["complete", "failed"] {
        assert!(
            statuses.iter().any(|s| s[0] == want),
            "the study should have a {want} trial: {statuses:?}"
        );
    }

    let Some(chrome) = chromium() else {
        eprintln!("skipping the browser check: chromium not found (apt-get install chromium)");
        return;
    };
    let check = self_check(&chrome, &page);
    for plot in [
        "curves",
        "history",
        "parallel",
        "slice-batch_size",
        "slice-learning_rate",
    ] {
        assert_eq!(
            check["plots"][plot], 6,
            "plot {plot} should hold one series per trial: {check}"
        );
    }
    eprintln!("self-check: {check}");
    assert_eq!(
        check["details"], 6,
        "the one-trial plot holds every trial: {check}"
    );
    let hover = &check["hover"];
    assert_eq!(
        hover["shown"],
        serde_json::json!([hover["trial"]]),
        "{check}"
    );
    assert_eq!(hover["after"].as_array().map(Vec::len), Some(1), "{check}");
    for width in ["table_width", "page_width"] {
        assert!(
            check[width]
                .as_f64()
                .is_some_and(|w| w > 300.0 && w <= 1280.0),
            "{width} should fit 1,280 px: {check}"
        );
    }
    for section in ["id=\"legend\"", "id=\"importance\"", "id=\"slices\""] {
        assert!(html.contains(section), "the page has {section}");
    }
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let _ = std::fs::remove_file(&shot);
    browse_file(
        &chrome,
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400",
            "--hide-scrollbars",
        ],
    );
    assert!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false),
        "no screenshot at {}",
        shot.display()
    );
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn report_works_on_a_running_study() {
    let dir = tempdir();
    let mut spec = tiny_spec(1);
    spec["budget"] = serde_json::json!({ "total_examples": 4_000_000, "virtual_epochs": 400 });
    let path = write_spec(dir.path(), &spec);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tune"))
        .arg("-q")
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let journal = dir.path().join("runs/tiny/journal.jsonl");
    while std::fs::read_to_string(&journal).map_or(true, |j| j.matches("epoch_done").count() < 3) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = tune(&["report".as_ref(), path.as_os_str()]);
    let _ = child.kill();
    child.wait().unwrap();
    let out = ok(out);
    let page = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let html = std::fs::read_to_string(page).unwrap();
    assert!(
        html.contains("data-status=\"running\""),
        "the running trial is drawn"
    );
}

/// The importance each parameter gets on the page, from its bars' `data-value`.
fn importance(html: &str, param: &str) -> f64 {
    let key = format!("data-param=\"{param}\" data-value=\"");
    let start = html.find(&key).expect("an importance bar per parameter") + key.len();
    html[start..start + html[start..].find('"').unwrap()]
        .parse()
        .unwrap()
}

#[test]
fn a_parameter_without_effect_gets_no_importance() {
    let dir = tempdir();
    let mut spec = tiny_spec(2);
    spec["search"]["trials"] = serde_json::json!(30);
    spec["search"]["space"] = serde_json::json!({
        "batch_size": [32],
        "learning_rate": { "low": 1e-4, "high": 1e-1, "log": true },
        "weight_decay": { "low": 1e-9, "high": 2e-9 }
    });
    ok(run(&write_spec(dir.path(), &spec)));
    let html = std::fs::read_to_string(dir.path().join("runs/tiny/report.html")).unwrap();
    let (lr, wd) = (
        importance(&html, "learning_rate"),
        importance(&html, "weight_decay"),
    );
    eprintln!("importance: learning rate {lr}, weight decay {wd}");
    assert!(
        lr >= 0.3 && wd <= 0.15 && lr > wd + 0.25,
        "learning rate {lr}, weight decay {wd}"
    );
}

/// Several objectives: the front and the hypervolume are drawn, with every trial with values in
/// the front's plot, and the page runs without a console error.
#[test]
fn a_report_of_several_objectives_draws_the_front() {
    let dir = tempdir();
    let mut spec = tiny_spec(2);
    spec["search"]["space"]["hidden_width"] = serde_json::json!([2, 8, 32]);
    spec["objectives"] = serde_json::json!([{ "metric": "val_loss" }, { "metric": "flops" }]);
    spec["constraints"] = serde_json::json!([{ "metric": "parameters", "max": 300 }]);
    let spec = write_spec(dir.path(), &spec);
    ok(run(&spec));
    let page = dir.path().join("runs/tiny/report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let front = &html[html
        .find("id=\"front-val_loss-flops\"")
        .expect("the front's plot")..];
    let front = &front[..front.find("</svg>").unwrap()];
    assert_eq!(front.matches("class=\"trial\"").count(), 6, "{front}");
    assert!(html.contains("id=\"hypervolume\""));
    assert!(html.contains("constraint parameters ≤ 300"));
    let Some(chrome) = chromium() else {
        eprintln!("skipping the browser check: chromium not found (apt-get install chromium)");
        return;
    };
    self_check(&chrome, &page);
}
