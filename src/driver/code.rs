//! A resume checks the program's files (the fingerprint's `code`, src/plan/code.rs) against the
//! version the study last ran: a change is refused, naming the files, unless
//! `--allow-code-change`, which journals it (`code_changed`) and goes on. A study made before the
//! files were recorded records them, from the next trial on.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::plan::code::CodeFiles;
use crate::plan::StudyPlan;
use crate::storage::{Event, History};

/// The most files a refusal names; the rest are counted.
const NAMED: usize = 5;

/// What a resume of `history` under `plan` journals about the program's files (`None`: nothing,
/// they are the study's), with a note to show; an error when they changed and `allow` is false.
/// `shared`: the study is kept in PostgreSQL (`--restart` does not apply).
pub(super) fn check(
    plan: &StudyPlan,
    history: &History,
    allow: bool,
    shared: bool,
) -> Result<Option<(Event, String)>> {
    let Some(new) = plan.command.as_ref().map(|c| &c.code) else {
        return Ok(None);
    };
    let last = history.code.last();
    if last.is_some_and(|v| &v.files == new) {
        return Ok(None);
    }
    let from_trial = history.trials.keys().last().map_or(0, |n| n + 1);
    let resumed: Vec<u64> = history
        .trials
        .values()
        .filter(|t| !t.status.ended())
        .map(|t| t.trial)
        .collect();
    let Some(old) = last.map(|v| &v.files) else {
        let event = Event::CodeChanged {
            from_trial,
            changed: new
                .iter()
                .map(|(p, c)| (p.clone(), Some(c.clone())))
                .collect(),
            code: new.clone(),
            resumed,
        };
        let note = format!(
            "the program's files were not recorded when this study began: recorded now ({} files), for trials from {from_trial} on",
            new.len()
        );
        return Ok(Some((event, note)));
    };
    let changed = changes(old, new);
    let named = names(old, &changed);
    if !allow {
        let restart = match shared {
            true => "",
            false => ", or --restart to start over",
        };
        return Err(Error::Study(format!(
            "{}: the program's files changed since this study last ran ({named}): restore them, give --allow-code-change to go on with trials from {from_trial} on under the new code (journalled){restart}",
            plan.spec_file.display()
        )));
    }
    let version = history.code.len() + 1;
    let event = Event::CodeChanged {
        from_trial,
        changed,
        code: new.clone(),
        resumed,
    };
    let note = format!(
        "the program's files changed ({named}): code version {version} from trial {from_trial} on (--allow-code-change, journalled)"
    );
    Ok(Some((event, note)))
}

/// Each file of `old` or `new` whose CRC-32 differs: its new one, `None` when removed.
fn changes(old: &CodeFiles, new: &CodeFiles) -> BTreeMap<String, Option<String>> {
    let removed = old.keys().filter(|p| !new.contains_key(*p));
    let removed: Vec<(String, Option<String>)> = removed.map(|p| (p.clone(), None)).collect();
    new.iter()
        .filter(|(p, c)| old.get(*p) != Some(c))
        .map(|(p, c)| (p.clone(), Some(c.clone())))
        .chain(removed)
        .collect()
}

/// `changed train.py, added util.py, removed old.py`, at most [`NAMED`] of them and a count.
fn names(old: &CodeFiles, changed: &BTreeMap<String, Option<String>>) -> String {
    let mut parts: Vec<String> = changed
        .iter()
        .take(NAMED)
        .map(|(p, c)| match c {
            None => format!("removed {p}"),
            Some(_) if old.contains_key(p) => format!("changed {p}"),
            Some(_) => format!("added {p}"),
        })
        .collect();
    if changed.len() > NAMED {
        parts.push(format!("{} more", changed.len() - NAMED));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(v: &[(&str, &str)]) -> CodeFiles {
        v.iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect()
    }

    #[test]
    fn a_change_names_each_file_changed_added_or_removed_and_counts_the_rest() {
        let old = files(&[("a.py", "1"), ("b.py", "2"), ("c.py", "3")]);
        let new = files(&[("a.py", "1"), ("b.py", "9"), ("d.py", "4")]);
        let changed = changes(&old, &new);
        assert_eq!(changed["b.py"], Some("9".into()));
        assert_eq!(changed["c.py"], None);
        assert_eq!(changed["d.py"], Some("4".into()));
        assert!(!changed.contains_key("a.py"));
        assert_eq!(
            names(&old, &changed),
            "changed b.py, removed c.py, added d.py"
        );
        let many: CodeFiles = (0..8).map(|i| (format!("m{i}.py"), "0".into())).collect();
        let named = names(&CodeFiles::new(), &changes(&CodeFiles::new(), &many));
        assert!(named.ends_with("added m4.py, 3 more"), "{named}");
    }
}
