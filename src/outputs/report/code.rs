//! The report's code section: which version of a command trainer's files each trial ran (the
//! fingerprint's `code`, and each change journalled with `--allow-code-change`).

use super::plot::esc;
use crate::storage::History;

/// The section, or nothing when the study has one version of its files or none recorded.
pub fn section(history: &History) -> String {
    if !history.code_varies() {
        return String::new();
    }
    let unrecorded = history
        .trials
        .keys()
        .any(|&t| history.code_label(t).is_some_and(|l| l.starts_with('-')));
    let mut rows = String::new();
    if unrecorded {
        rows += &row(
            "—",
            &trials(history, "-"),
            "not recorded (study made by an earlier build)",
        );
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
            esc(&trials(history, &version)),
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

/// The trials that ran `version` (`-`: one not recorded), first or resumed under it (`4 (1→2)`).
fn trials(history: &History, version: &str) -> String {
    let shown: Vec<String> = history
        .trials
        .keys()
        .filter_map(|&t| {
            let label = history.code_label(t)?;
            let ran = label.split('→').any(|x| x == version);
            ran.then(|| match label.contains('→') {
                true => format!("{t} ({label})"),
                false => t.to_string(),
            })
        })
        .collect();
    shown.join(", ")
}
