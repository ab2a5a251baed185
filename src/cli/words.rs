//! The command line's first word when it is neither a command nor a file: a mistyped command gets
//! the closest one, instead of being read as a spec file.
//! Tested from outside, in tests/cli.rs (the binary has no unit tests).

use std::ffi::OsString;
use std::path::Path;

/// The commands, as `tune help` lists them.
const COMMANDS: [&str; 12] = [
    "run",
    "worker",
    "status",
    "report",
    "leaderboard",
    "check",
    "predict",
    "export",
    "retrain",
    "serve",
    "replay",
    "help",
];

/// The sentence that refuses the first argument that is not an option, when it looks like a word
/// (letters, digits, `-`, `_`; no `.` or `/` as a file's name has), is no command and names no
/// file; `None` when it is fine or absent. `takes_value` says which options take the next
/// argument as their value.
pub fn refusal(args: &[OsString], takes_value: impl Fn(&str) -> bool) -> Option<String> {
    let word = first_word(args, takes_value)?.to_str()?;
    let word_like = word.starts_with(|c: char| c.is_ascii_alphabetic())
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !word_like || COMMANDS.contains(&word) {
        return None;
    }
    if Path::new(word).exists() {
        return None;
    }
    let closest = COMMANDS
        .iter()
        .map(|c| (distance(word, c), *c))
        .min()
        .filter(|&(d, c)| d <= 2 && d < c.len());
    Some(match closest {
        Some((_, c)) => format!("unknown command `{word}`: did you mean `{c}`?"),
        None => format!(
            "unknown command `{word}`, and no file of that name: the commands are {}, and `tune STUDY.json` runs a study",
            listed()
        ),
    })
}

/// The commands but `help`, as a sentence lists them.
fn listed() -> String {
    let c: Vec<&str> = COMMANDS.iter().copied().filter(|&c| c != "help").collect();
    format!("{} and {}", c[..c.len() - 1].join(", "), c[c.len() - 1])
}

/// The first argument after the program's name that is not an option or an option's value.
fn first_word(args: &[OsString], takes_value: impl Fn(&str) -> bool) -> Option<&OsString> {
    let mut rest = args.iter().skip(1);
    while let Some(a) = rest.next() {
        let Some(s) = a.to_str() else {
            return Some(a);
        };
        if s == "--" {
            return rest.next();
        }
        if let Some(long) = s.strip_prefix("--") {
            if !long.contains('=') && takes_value(long) {
                rest.next();
            }
        } else if !s.starts_with('-') || s == "-" {
            return Some(a);
        }
    }
    None
}

/// The edit distance of `a` and `b` counting a swap of neighbours as one edit (optimal string
/// alignment): `stauts` is one edit from `status`.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}
