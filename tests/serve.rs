//! `tune serve`: the JSON API read back against the leaderboard and the trials' `curve.csv`, no
//! request target reaching a file (`..`, encoded, double-encoded, absolute, backslashes), and the
//! live page in headless chromium (skipped with a message where it is absent): it loads without a
//! console error, and a boundary journalled while it is open appears in its plot.

mod common;
use common::serving::*;
use common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn float(s: &str) -> f64 {
    s.parse().unwrap_or(f64::NAN)
}

#[test]
fn the_api_says_what_the_leaderboard_and_curves_say() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(2));
    ok(run(&spec));
    let server = serve(&spec, &[]);
    let addr = &server.addr;
    let out = dir.path().join("runs/tiny");
    let (header, rows) = read_csv(&out.join("leaderboard.csv"));
    let col =
        |row: &Vec<String>, name: &str| row[header.iter().position(|h| h == name).unwrap()].clone();

    let study = json(addr, "/api/study");
    assert_eq!(study["name"], "tiny");
    assert_eq!(study["metric"], "val_loss");
    assert_eq!(study["goal"], "min");
    assert_eq!(study["trials_started"], 6);
    assert_eq!(study["counts"]["complete"], 6, "{study}");
    let first = rows.iter().find(|r| col(r, "rank") == "1").unwrap();
    assert_eq!(study["best"]["trial"].to_string(), col(first, "trial"));
    assert_eq!(
        study["best"]["value"].as_f64(),
        Some(float(&col(first, "best_val_loss")))
    );

    let trials = json(addr, "/api/trials");
    let trials = trials.as_array().unwrap();
    assert_eq!(trials.len(), rows.len());
    for row in &rows {
        let n: u64 = col(row, "trial").parse().unwrap();
        let t = trials.iter().find(|t| t["trial"] == n).unwrap();
        assert_eq!(t["state"], col(row, "status").as_str());
        assert_eq!(t["rank"].to_string(), col(row, "rank"));
        assert_eq!(t["examples_seen"].to_string(), col(row, "examples_seen"));
        assert_eq!(t["value"].as_f64(), Some(float(&col(row, "best_val_loss"))));
        for p in ["batch_size", "learning_rate"] {
            assert_eq!(t["params"][p].as_f64(), Some(float(&col(row, p))), "{t}");
        }
        // The curve, against the trial's curve.csv, column by column.
        let curve = json(addr, &format!("/api/trials/{n}/curve"));
        let (names, lines) = read_csv(&out.join(format!("trials/{n}/curve.csv")));
        let got = curve["rows"].as_array().unwrap();
        assert_eq!(got.len(), lines.len());
        for (r, line) in got.iter().zip(&lines) {
            for (name, cell) in names.iter().zip(line) {
                assert_eq!(r[name].as_f64(), Some(float(cell)), "trial {n} {name}: {r}");
            }
        }
    }
    let (status, _) = get(addr, "/api/trials/6/curve");
    assert_eq!(status, 404, "a trial the study does not have");
    let (status, page) = get(addr, "/");
    assert_eq!(status, 200);
    assert!(page.contains("<svg") && page.contains("name=\"tune-version\""));
}

#[test]
fn no_request_reaches_a_file() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(1));
    ok(run(&spec));
    // Beside the study folder, and above it.
    let secret = "not-for-the-web-7341";
    std::fs::write(dir.path().join("secret.txt"), secret).unwrap();
    std::fs::write(dir.path().join("runs/secret.txt"), secret).unwrap();
    let server = serve(&spec, &[]);
    let addr = &server.addr;
    let abs = dir.path().join("secret.txt");
    let targets = [
        "/secret.txt".to_string(),
        "/../secret.txt".into(),
        "/../../secret.txt".into(),
        "/../../../../../../etc/passwd".into(),
        "/%2e%2e/secret.txt".into(),
        "/%2e%2e%2fsecret.txt".into(),
        "/..%2f..%2fsecret.txt".into(),
        "/%252e%252e%252fsecret.txt".into(),
        "/%25252e%25252e/secret.txt".into(),
        "/api/trials/..%2f..%2f..%2fsecret.txt/curve".into(),
        "/api/trials/0/curve/../../../../secret.txt".into(),
        "/api/trials/%2e%2e/curve".into(),
        "/api/../../secret.txt".into(),
        "/..\\..\\secret.txt".into(),
        "/%5c..%5c..%5csecret.txt".into(),
        "\\..\\..\\secret.txt".into(),
        format!("{}", abs.display()),
        format!("/{}", abs.display()),
        format!("file://{}", abs.display()),
        format!("http://{addr}/../secret.txt"),
        format!("http://{addr}{}", abs.display()),
        "/journal.jsonl".into(),
        "/runs/tiny/journal.jsonl".into(),
        "/study.json".into(),
        "/etc/passwd".into(),
        "//etc/passwd".into(),
        "/./secret.txt".into(),
        "/%00".into(),
        "/api/trials/0%2fcurve".into(),
        "/api/trials/0/curve%00".into(),
        "/api/version?after=../../secret.txt".into(),
    ];
    for target in &targets {
        let (status, body) = get(addr, target);
        assert!(
            [400, 404].contains(&status),
            "{target}: answered {status}: {body}"
        );
        for leak in [secret, "study_created", "root:", "\"quality\""] {
            assert!(!body.contains(leak), "{target}: the answer holds {leak}");
        }
    }
    for method in ["POST", "PUT", "DELETE"] {
        assert_eq!(request(addr, method, "/api/study", addr).0, 405);
    }
    // A page elsewhere, under a DNS name of its own pointing here, cannot read the study.
    assert_eq!(request(addr, "GET", "/api/study", "evil.example").0, 400);
    assert_eq!(request(addr, "GET", "/api/study", "localhost").0, 200);
}

/// The points of trial `n`'s line in the curves plot of the page `dom`.
fn curve_points(dom: &str, n: u64) -> usize {
    let plot = &dom[dom.find("id=\"curves\"").expect("the curves plot")..];
    let plot = &plot[..plot.find("</svg>").unwrap()];
    let series = &plot[plot
        .find(&format!("class=\"series\" data-trial=\"{n}\""))
        .unwrap_or_else(|| panic!("no line for trial {n}"))..];
    let points = &series[series.find("points=\"").unwrap() + 8..];
    points[..points.find('"').unwrap()]
        .split_whitespace()
        .count()
}

/// The JSON in the attribute `name` of the page `dom` (as chromium dumps it).
fn attribute(dom: &str, name: &str) -> serde_json::Value {
    let key = format!("{name}=\"");
    let start = dom.find(&key).unwrap_or_else(|| panic!("no {name}")) + key.len();
    let raw = &dom[start..start + dom[start..].find('"').unwrap()];
    serde_json::from_str(&raw.replace("&quot;", "\"").replace("&amp;", "&")).unwrap()
}

#[test]
fn the_page_follows_a_running_study_in_a_browser() {
    let Some(chrome) = chromium() else {
        eprintln!("skipping the browser check: chromium not found (apt-get install chromium)");
        return;
    };
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(1));
    stop_after(&spec, 2);
    let server = serve(&spec, &[]);
    let addr = server.addr.clone();
    let before = json(&addr, "/api/trials/0/curve")["rows"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, 2);
    // The page's time runs only while no request is pending: it waits on the server in real
    // time, and dumps its DOM after three of its own seconds (one update, one wait after it).
    let (mut cmd, _profile) = chromium_command(
        &chrome,
        &format!("http://{addr}/"),
        &[
            "--dump-dom",
            "--window-size=1280,2400",
            "--virtual-time-budget=2500",
        ],
    );
    let browser = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Once the page waits for a change, one more boundary is journalled.
    let start = Instant::now();
    while json(&addr, "/api/study")["watching"] == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the page never loaded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop_after(&spec, 1);
    let dom = browser.wait_with_output().unwrap();
    let version = json(&addr, "/api/version")["version"].clone();
    let dom = String::from_utf8_lossy(&dom.stdout);
    let live = attribute(&dom, "data-live");
    assert!(live["updates"].as_u64() >= Some(1), "{live}");
    assert_eq!(live["version"], version, "{live}");
    let check = attribute(&dom, "data-selfcheck");
    assert_eq!(
        check["errors"],
        serde_json::json!([]),
        "console errors: {check}"
    );
    assert_eq!(
        curve_points(&dom, 0),
        before + 1,
        "the boundary journalled while the page was open is in its plot"
    );
}

#[test]
fn a_busy_port_or_a_study_not_run_is_refused_in_one_sentence() {
    let dir = tempdir();
    let spec = write_spec(dir.path(), &tiny_spec(1));
    let out = tune(&[
        "serve".as_ref(),
        spec.as_os_str(),
        "--port".as_ref(),
        "0".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no study has run here yet"), "{err}");
    ok(run(&spec));
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = tune(&[
        "serve".as_ref(),
        spec.as_os_str(),
        "--port".as_ref(),
        port.as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("tune: --port: cannot listen on 127.0.0.1:{port}"))
            && err.lines().count() == 1,
        "{err}"
    );
    let out = tune(&[
        "serve".as_ref(),
        spec.as_os_str(),
        "--port".as_ref(),
        "70000".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// The trials drawn in the page's front plot of `a` against `b`.
fn front_marks(page: &str, a: &str, b: &str) -> usize {
    let plot = &page[page
        .find(&format!("id=\"front-{a}-{b}\""))
        .expect("the front's plot")..];
    plot[..plot.find("</svg>").unwrap()]
        .matches("class=\"trial\" data-trial=")
        .count()
}

/// Two objectives and a constraint: `/api/study` gives the front as `pareto.csv` does, its
/// hypervolume recomputed from those points against the worst feasible values, and the feasible
/// counts of the leaderboard; the page's front plot follows the study as it runs.
#[test]
fn the_api_and_the_page_show_the_front_of_several_objectives() {
    let dir = tempdir();
    let mut spec = tiny_spec(1);
    spec["model"] = serde_json::json!({});
    spec["objectives"] = serde_json::json!([{ "metric": "val_loss" }, { "metric": "parameters" }]);
    spec["constraints"] = serde_json::json!([{ "metric": "parameters", "max": 1500 }]);
    spec["search"]["space"]["hidden_width"] = serde_json::json!([4, 16, 64]);
    let spec = write_spec(dir.path(), &spec);
    stop_after(&spec, 6);
    let server = serve(&spec, &[]);
    let addr = &server.addr;
    let (_, page) = get(addr, "/");
    let early = front_marks(&page, "val_loss", "parameters");
    assert!((1..6).contains(&early), "{early}");
    let version = json(addr, "/api/study")["version"].clone();
    ok(run(&spec));
    let start = Instant::now();
    let study = loop {
        let s = json(addr, "/api/study");
        if s["version"] != version && s["counts"]["complete"] == 6 {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{s}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (_, page) = get(addr, "/");
    assert_eq!(front_marks(&page, "val_loss", "parameters"), 6);

    let front = &study["front"];
    assert_eq!(
        front["objectives"],
        serde_json::json!([
            { "metric": "val_loss", "goal": "min", "reference": null },
            { "metric": "parameters", "goal": "min", "reference": null }
        ])
    );
    assert_eq!(
        front["constraints"],
        serde_json::json!([{ "metric": "parameters", "min": null, "max": 1500.0 }])
    );
    let out = dir.path().join("runs/tiny");
    let (_, pareto) = read_csv(&out.join("pareto.csv"));
    let (header, board) = read_csv(&out.join("leaderboard.csv"));
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let trials = front["trials"].as_array().unwrap();
    assert_eq!(trials.len(), pareto.len());
    let mut points = vec![];
    for (t, row) in trials.iter().zip(&pareto) {
        assert_eq!(t["trial"].to_string(), row[0]);
        let (l, p) = (
            t["values"]["val_loss"].as_f64().unwrap(),
            t["values"]["parameters"].as_f64().unwrap(),
        );
        assert_eq!((l, p), (float(&row[4]), float(&row[5])), "{t}");
        points.push((l, p));
    }
    for t in json(addr, "/api/trials").as_array().unwrap() {
        let row = board
            .iter()
            .find(|r| r[at("trial")].parse::<u64>().ok() == t["trial"].as_u64())
            .unwrap();
        assert_eq!(t["feasible"].to_string(), row[at("feasible")]);
        let rank = t["pareto_rank"]
            .as_u64()
            .map_or(String::new(), |r| r.to_string());
        assert_eq!(rank, row[at("pareto_rank")], "{t}");
    }
    let feasible: Vec<&Vec<String>> = board
        .iter()
        .filter(|r| r[at("feasible")] == "true")
        .collect();
    assert_eq!(front["feasible"], feasible.len());
    assert_eq!(front["infeasible"], board.len() - feasible.len());
    assert_eq!(front["without_value"], 0);
    // The reference: the worst feasible value of each; the area the front dominates below it.
    let worst = |c: &str| {
        feasible
            .iter()
            .map(|r| float(&r[at(c)]))
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let reference = (worst("best_val_loss"), worst("best_parameters"));
    assert_eq!(
        front["reference"],
        serde_json::json!([reference.0, reference.1])
    );
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut hv = 0.0;
    for (i, &(l, p)) in points.iter().enumerate() {
        let next = points.get(i + 1).map_or(reference.0, |q| q.0);
        hv += (next - l) * (reference.1 - p);
    }
    let got = front["hypervolume"].as_f64().unwrap();
    assert!((got - hv).abs() <= 1e-9 * hv.max(1.0), "{got} vs {hv}");
    assert!(hv > 0.0 || points.len() == 1, "{hv}");
}
