//! A program's report at a boundary: the line `TUNE {"examples": …, "checkpoint": …, metrics…}`
//! on its stdout, read and checked. Python's `json.dumps` writes NaN and infinities as bare
//! `NaN`, `Infinity` and `-Infinity`, which JSON has not: they are read as the numbers they mean.

use std::collections::BTreeMap;

pub use crate::error::cut;

/// What a report line says.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub examples: u64,
    pub checkpoint: String,
    /// Its optimiser steps so far, when it says (`"steps"`, also among the metrics).
    pub steps: Option<u64>,
    /// Every other field, each a number (NaN and infinities included).
    pub metrics: BTreeMap<String, f64>,
}

/// The prefix of a report line.
pub const PREFIX: &str = "TUNE ";

/// The most characters of a bad line quoted in a trial's reason.
const QUOTE: usize = 200;

/// `line` quoted for a reason, cut to [`QUOTE`] characters.
pub fn quote(line: &str) -> String {
    format!("`{}`", cut(line, QUOTE))
}

/// `text` as one line of at most `max` characters: line breaks become ` | `, other control
/// characters are dropped (a reason is one line of the journal, the leaderboard and the terminal).
pub fn one_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    let mut chars = 0;
    let mut rest = text.trim().chars().peekable();
    while let Some(c) = rest.next() {
        if chars >= max {
            out.push('…');
            break;
        }
        if c == '\n' || c == '\r' {
            while rest.peek().is_some_and(|c| *c == '\n' || *c == '\r') {
                rest.next();
            }
            out.push_str(" | ");
            chars += 3;
        } else if !c.is_control() {
            out.push(c);
            chars += 1;
        }
    }
    out
}

/// Why a trial fails when its program printed a report line over [`MAX_LINE`] bytes.
///
/// [`MAX_LINE`]: super::lines::MAX_LINE
pub fn overlong() -> String {
    format!(
        "it printed a report line longer than {} KiB, the most a report may take",
        super::lines::MAX_LINE / 1024
    )
}

/// The report line `body` (without its prefix) of virtual epoch `k`, which ends at `want`
/// examples, checked as every report is: JSON, the boundary's examples, the study's `metric`,
/// finite numbers, its checkpoint inside the checkpoint folder `work` (see [`confine`]). The
/// report and its checkpoint's place, or why the trial fails.
///
/// [`confine`]: super::confine
pub fn accept(
    body: &str,
    k: u32,
    want: u64,
    metric: &str,
    work: &std::path::Path,
) -> Result<(Report, std::path::PathBuf), String> {
    let r = parse(body)
        .map_err(|why| format!("its report {} {why}", quote(&format!("{PREFIX}{body}"))))?;
    if r.examples != want {
        return Err(format!(
            "it reported \"examples\": {} where virtual epoch {k} ends at {want} examples (TUNE_BOUNDARIES)",
            r.examples
        ));
    }
    if !r.metrics.contains_key(metric) {
        return Err(format!(
            "its report at {want} examples has no \"{metric}\", the study's metric (it has: {})",
            names(&r.metrics)
        ));
    }
    if let Some((name, v)) = r.metrics.iter().find(|(_, v)| !v.is_finite()) {
        return Err(format!("{name} became {v} at virtual epoch {k}"));
    }
    let path = super::confine::resolve(work, &r.checkpoint).map_err(|why| {
        let shown = cut(&r.checkpoint, 200);
        format!("its checkpoint \"{shown}\" reported at {want} examples {why}")
    })?;
    Ok((r, path))
}

/// The names of `m`, quoted, for a message.
fn names(m: &BTreeMap<String, f64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.keys()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a report line (without its prefix), or says what is wrong with it.
pub fn parse(body: &str) -> Result<Report, String> {
    let json = bare_numbers_quoted(body);
    let value: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| format!("is not a JSON object ({e})"))?;
    let serde_json::Value::Object(fields) = value else {
        return Err("is not a JSON object".into());
    };
    let mut examples = None;
    let mut checkpoint = None;
    let mut metrics = BTreeMap::new();
    for (k, v) in fields {
        match k.as_str() {
            "examples" => {
                examples = Some(v.as_u64().ok_or_else(|| {
                    format!("\"examples\" is {v}, not a whole number of examples")
                })?)
            }
            "checkpoint" => match v {
                serde_json::Value::String(s) if !s.is_empty() => checkpoint = Some(s),
                v => return Err(format!("\"checkpoint\" is {v}, not a path")),
            },
            _ => {
                let x = match &v {
                    serde_json::Value::Number(n) => n.as_f64(),
                    serde_json::Value::String(s) => special(s),
                    _ => None,
                };
                let x = x.ok_or_else(|| format!("metric \"{k}\" is {v}, not a number"))?;
                metrics.insert(k, x);
            }
        }
    }
    let steps = match metrics.get("steps") {
        None => None,
        Some(&s) if s >= 0.0 && s.fract() == 0.0 && s <= 9.0e15 => Some(s as u64),
        Some(s) => return Err(format!("\"steps\" is {s}, not a count of steps")),
    };
    Ok(Report {
        examples: examples.ok_or("has no \"examples\"")?,
        checkpoint: checkpoint.ok_or("has no \"checkpoint\"")?,
        steps,
        metrics,
    })
}

/// The numbers the bare words stand for; other strings are not numbers.
fn special(s: &str) -> Option<f64> {
    match s {
        "\u{0}NaN" => Some(f64::NAN),
        "\u{0}Infinity" => Some(f64::INFINITY),
        "\u{0}-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// `text` with the bare words `NaN`, `Infinity` and `-Infinity` outside strings made strings
/// marked by a leading NUL (escaped), so that serde_json reads them.
fn bare_numbers_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        let word = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|w| rest.starts_with(w));
        if let Some(w) = word {
            out.push_str("\"\\u0000");
            out.push_str(w);
            out.push('"');
            rest = &rest[w.len()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_report_with_pythons_special_numbers() {
        let r = parse(r#"{"examples": 6400, "checkpoint": "ckpt-6400.pt", "val_loss": 0.52, "train_loss": NaN, "x": -Infinity, "note_NaN": 1}"#).unwrap();
        assert_eq!(r.examples, 6400);
        assert_eq!(r.checkpoint, "ckpt-6400.pt");
        assert_eq!(r.metrics["val_loss"], 0.52);
        assert!(r.metrics["train_loss"].is_nan());
        assert_eq!(r.metrics["x"], f64::NEG_INFINITY);
        assert_eq!(r.metrics["note_NaN"], 1.0);
    }

    #[test]
    fn says_what_is_wrong() {
        let e = |s: &str| parse(s).unwrap_err();
        assert!(e("{\"examples\": 1").contains("is not a JSON object"));
        assert!(e("[1]").contains("is not a JSON object"));
        assert_eq!(e(r#"{"checkpoint": "c"}"#), "has no \"examples\"");
        assert_eq!(e(r#"{"examples": 5}"#), "has no \"checkpoint\"");
        assert!(e(r#"{"examples": 5.5, "checkpoint": "c"}"#).contains("not a whole number"));
        assert_eq!(
            e(r#"{"examples": 5, "checkpoint": "c", "acc": "high"}"#),
            "metric \"acc\" is \"high\", not a number"
        );
        assert_eq!(
            e(r#"{"examples": 5, "checkpoint": "c", "acc": "NaN"}"#),
            "metric \"acc\" is \"NaN\", not a number"
        );
        for bad in ["-3", "2.5", "NaN", "1e300"] {
            let line = format!(r#"{{"examples": 5, "checkpoint": "c", "steps": {bad}}}"#);
            assert!(e(&line).contains("not a count of steps"), "{bad}");
        }
        let r = parse(r#"{"examples": 5, "checkpoint": "c", "steps": 12}"#).unwrap();
        assert_eq!(r.steps, Some(12));
    }

    #[test]
    fn reasons_are_one_short_line() {
        assert_eq!(one_line("a\nb\r\n\nc\u{7}d", 100), "a | b | cd");
        assert_eq!(one_line("  padded\n", 100), "padded");
        let long = "x".repeat(5000);
        let r = one_line(&long, 600);
        assert_eq!(r.chars().count(), 601);
        assert!(r.ends_with('…'));
        assert_eq!(cut("héllo", 2), "hé…");
        assert_eq!(cut("hé", 2), "hé");
    }
}
