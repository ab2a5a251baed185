//! Data files that are almost right: a typo in a column of numbers is refused naming its cells
//! (not one-hot encoded), cells are quoted short, and a data file's long name does not become a
//! study name too long for its folder.

mod common;
use common::*;

use std::path::{Path, PathBuf};

/// The wine data as `name` in `dir`, with `edit(line, column, cell)` changing cells (lines count
/// from 1, the header's; columns from 0), written by a CSV writer (which quotes `1,5`).
fn wine_with(dir: &Path, name: &str, edit: impl Fn(usize, usize, &mut String)) -> PathBuf {
    let (header, mut rows) = read_csv(&wine());
    for (r, row) in rows.iter_mut().enumerate() {
        for (c, cell) in row.iter_mut().enumerate() {
            edit(r + 2, c, cell);
        }
    }
    let path = dir.join(name);
    let mut w = csv::Writer::from_path(&path).unwrap();
    w.write_record(&header).unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
    path
}

/// A one-trial study of `data` (its `data` section's other fields: `more`) in `dir`.
fn spec(dir: &Path, data: &Path, more: serde_json::Value) -> PathBuf {
    let mut s = tiny_spec(1);
    s["data"]["path"] = serde_json::json!(data);
    for (k, v) in more.as_object().unwrap() {
        s["data"][k] = v.clone();
    }
    s["search"]["trials"] = serde_json::json!(1);
    write_spec(dir, &s)
}

/// Runs `spec`, expecting the user's mistake: exit 2 and one line on stderr, returned.
fn refused(spec: &Path) -> String {
    let out = run(spec);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

/// The model's inputs, as recorded.
fn inputs(dir: &Path) -> Vec<String> {
    let prep = std::fs::read(dir.join("runs/tiny/preprocessing.json")).unwrap();
    let prep: serde_json::Value = serde_json::from_slice(&prep).unwrap();
    serde_json::from_value(prep["inputs"].clone()).unwrap()
}

#[test]
fn a_typo_in_a_column_of_numbers_is_refused_naming_its_line_and_column() {
    // The cell, the column (0-based) and how the message quotes the cell; the NUL byte was
    // reported 419 lines late, where the column's levels passed data.max_levels.
    let cases = [
        ("7.4e", 0, "\"7.4e\""),
        ("0x10", 2, "\"0x10\""),
        ("1,5", 5, "\"1,5\""),
        ("three", 10, "\"three\""),
        ("0.\u{0}7", 1, "\"0.\\u{0}7\""),
    ];
    for (i, (bad, col, quoted)) in cases.into_iter().enumerate() {
        let dir = tempdir();
        let line = 10 + 100 * i;
        let data = wine_with(dir.path(), "wine.csv", |l, c, cell| {
            if (l, c) == (line, col) {
                *cell = bad.to_string();
            }
        });
        let err = refused(&spec(dir.path(), &data, serde_json::json!({})));
        let name = read_csv(&data).0[col].clone();
        let place = format!("line {line}, column {} (\"{name}\"): {quoted}", col + 1);
        assert!(err.contains(&place), "{bad:?}: {err}");
        assert!(
            err.contains("1598 of its 1599 cells are numbers but 1 is not"),
            "{err}"
        );
        assert!(
            err.contains(&format!("list \"{name}\" in data.categorical")),
            "{err}"
        );
        assert!(!dir.path().join("runs/tiny/preprocessing.json").exists());
    }
}

#[test]
fn three_typos_are_named_and_the_others_counted() {
    let dir = tempdir();
    let data = wine_with(dir.path(), "wine.csv", |l, c, cell| {
        if c == 3 && [40, 20, 30, 50, 60].contains(&l) {
            *cell = format!("x{l}");
        }
    });
    let err = refused(&spec(dir.path(), &data, serde_json::json!({})));
    let cell = |l: usize| format!("line {l}, column 4 (\"residual sugar\"): \"x{l}\"");
    let named = format!("({}; {}; {}; and 2 more)", cell(20), cell(30), cell(40));
    assert!(err.contains(&named), "{err}");
    assert!(
        err.contains("1594 of its 1599 cells are numbers but 5 are not"),
        "{err}"
    );
    assert!(!err.contains("line 50"), "{err}");
}

#[test]
fn a_declared_category_a_listed_gap_or_a_column_mostly_text_is_read() {
    let one_typo = |l: usize, c: usize, cell: &mut String| {
        if (l, c) == (10, 0) {
            *cell = "three".into();
        }
    };
    // Declared: one-hot encoded, the typo a level.
    let dir = tempdir();
    let data = wine_with(dir.path(), "wine.csv", one_typo);
    let spec1 = spec(
        dir.path(),
        &data,
        serde_json::json!({"categorical": ["fixed acidity"]}),
    );
    ok(run(&spec1));
    assert!(inputs(dir.path()).contains(&"fixed acidity=three".into()));
    // Listed as a gap: filled, the column numbers.
    let dir = tempdir();
    let data = wine_with(dir.path(), "wine.csv", one_typo);
    let more = serde_json::json!({"missing_values": ["", "three"]});
    ok(run(&spec(dir.path(), &data, more)));
    let got = inputs(dir.path());
    assert!(got.contains(&"fixed acidity".into()), "{got:?}");
    // Mostly text: a category, found without being declared.
    let dir = tempdir();
    let data = wine_with(dir.path(), "wine.csv", |l, c, cell| {
        if c == 0 {
            *cell = ["low", "high", "7.5"][l % 3].into();
        }
    });
    ok(run(&spec(dir.path(), &data, serde_json::json!({}))));
    let got = inputs(dir.path());
    for level in ["7.5", "high", "low"] {
        assert!(got.contains(&format!("fixed acidity={level}")), "{got:?}");
    }
}

#[test]
fn a_huge_number_is_quoted_short() {
    for (i, digits) in [400, 41].into_iter().enumerate() {
        let dir = tempdir();
        let huge = format!("-9{}", "0".repeat(digits - 1));
        let data = wine_with(dir.path(), "wine.csv", |l, c, cell| {
            if (l, c) == (7 + i, 4) {
                *cell = huge.clone();
            }
        });
        let err = refused(&spec(dir.path(), &data, serde_json::json!({})));
        let cut = format!(
            "\"{}…\" is outside the range of the 32-bit floats",
            &huge[..40]
        );
        assert!(err.contains(&cut), "{err}");
        assert!(err.contains(&format!("line {}, column \"chlorides\"", 7 + i)));
        assert!(err.len() < 300, "{err}");
    }
}

#[test]
fn a_data_file_with_a_long_name_is_retrained_on() {
    for name in ["tiny".to_string(), "n".repeat(250)] {
        let dir = tempdir();
        let mut s = tiny_spec(1);
        s["name"] = serde_json::json!(name);
        s["search"]["trials"] = serde_json::json!(1);
        let spec = write_spec(dir.path(), &s);
        ok(run(&spec));
        let stem = "d".repeat(246);
        let data = wine_with(dir.path(), &format!("{stem}.csv"), |_, _, _| {});
        let out = tune(&[
            "retrain".as_ref(),
            spec.as_os_str(),
            "--data".as_ref(),
            data.as_os_str(),
            "-q".as_ref(),
        ]);
        let out = ok(out);
        assert!(String::from_utf8_lossy(&out.stdout).contains("epoch"));
        let retrained: Vec<String> = std::fs::read_dir(dir.path().join("runs").join(&name))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name() == "retrain")
            .flat_map(|e| std::fs::read_dir(e.path()).unwrap().flatten())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(retrained.len(), 1, "{retrained:?}");
        let folder = &retrained[0];
        assert!(
            folder.starts_with(&format!("trial-0-{}-", &stem[..100])),
            "{folder}"
        );
        assert_eq!(folder.len(), "trial-0-".len() + 100 + 9, "{folder}");
    }
}
