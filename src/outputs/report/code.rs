//! The report's code section: which version of a command trainer's files each trial ran (the
//! fingerprint's `code`, and each change journalled with `--allow-code-change`).

use super::plot::esc;
use crate::storage::History;

/// The section, or nothing when the study has one version of its files or none recorded.
pub fn section(history: &History) -> String {
    let unrecorded = history.trials.keys().any(|&t| history.code_label(t).is_none());
    if history.code.len() < 2 && !(unrecorded && !history.code.is_empty()) {
        return String::new();
    }
    let mut rows = String::new();
    if unrecorded {
        rows += &row("—", &trials(history, None), "not recorded (study made by an earlier build)");
    }
    for (i, v) in history.code.iter().enumerate() {
        let files: Vec<String> = v.files.iter().map(|(p, c)| format!("{p} {c}")).collect();
        let version = (i + 1).to_string();
        let what = format!(
            "{} ({} files, from trial {})",
            crate::plan::code::digest(&v.files),
            v.files.len(),
            v.from_trial
        );
        rows += &format!(
            "<tr data-code=\"{version}\"><td>{version}</td><td>{}</td><td title=\"{}\">{}</td></tr>\n",
            esc(&trials(history, Some(&version))),
            esc(&files.join("\n")),
            esc(&what)
        );
    }
    format!(
        "<h2>Code</h2>\n<p class=\"legend\">The program's files changed during the study (resumed with --allow-code-change): the trials each version ran (<code>1→2</code>: begun under 1, resumed under 2). Hover a version for its files' CRC-32s.</p>\n<table id=\"code\"><thead><tr><th>version</th><th>trials</th><th>files</th></tr></thead><tbody>\n{rows}</tbody></table>\n"
    )
}

/// One row with `version`, its `trials` and `what`.
fn row(version: &str, trials: &str, what: &str) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        esc(version),
        esc(trials),
        esc(what)
    )
}

/// The trials that ran `version` (first, or resumed under it: `4 (1→2)`); `None`: unrecorded.
fn trials(history: &History, version: Option<&str>) -> String {
    let shown: Vec<String> = history
        .trials
        .keys()
        .filter_map(|&t| {
            let label = history.code_label(t);
            let ran = match (&label, version) {
                (None, None) => true,
                (Some(l), Some(v)) => l.split('→').any(|x| x == v),
                _ => false,
            };
            ran.then(|| match label.filter(|l| l.contains('→')) {
                Some(l) => format!("{t} ({l})"),
                None => t.to_string(),
            })
        })
        .collect();
    shown.join(", ")
}
