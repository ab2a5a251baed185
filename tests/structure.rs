//! The structure check (issue 29): `src/` keeps rooms a reader can hold. It fails on an import
//! cycle between `src/`'s top-level modules (from `crate::` paths), a file over 600 lines or a
//! function over 120, tests excluded (the items under `#[cfg(test)]`, wherever they are: stricter
//! than `../shared/tools/structure.py`, which drops a file's lines from its first `#[cfg(test)]`
//! on, so a `#[cfg(test)] mod tests;` at the top hid the whole file); a second test shows the check
//! catching a cycle, a long function and a long file added on purpose. Run alone: `cargo test --release --test structure`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE: usize = 600;
const MAX_FN: usize = 120;

/// What the check found.
#[derive(Debug, Default)]
struct Figures {
    /// Files over [`MAX_FILE`] lines: (lines, path).
    files: Vec<(usize, String)>,
    /// Functions over [`MAX_FN`] lines: (lines, path:name).
    functions: Vec<(usize, String)>,
    /// Import cycles between top-level modules, each as `a->b->a`.
    cycles: Vec<String>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src` belongs to.
fn top(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The name of the function a line declares (`pub(crate) async unsafe const fn name`), if any.
fn declares_fn(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for word in ["pub", "async", "unsafe", "const"] {
        if let Some(r) = rest.strip_prefix(word) {
            let r = match (word, r.strip_prefix('(')) {
                ("pub", Some(inner)) => inner.split_once(')')?.1,
                _ => r,
            };
            if r.starts_with(char::is_whitespace) {
                rest = r.trim_start();
            }
        }
    }
    let name = rest.strip_prefix("fn")?;
    if !name.starts_with(char::is_whitespace) {
        return None;
    }
    let name = name.trim_start();
    let end = name
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(name.len());
    (end > 0).then(|| &name[..end])
}

/// The lines of the function declared at `body[i]`, by its braces; `None` for a declaration
/// without a body.
fn fn_lines(body: &[&str], i: usize) -> Option<usize> {
    let (mut depth, mut started) = (0i64, false);
    for (j, line) in body.iter().enumerate().skip(i) {
        depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
        started |= line.contains('{');
        if started && depth <= 0 {
            return Some(j - i + 1);
        }
        if !started && line.trim_end().ends_with(';') {
            return None;
        }
    }
    started.then_some(body.len() - i)
}

/// `lines` without the items under `#[cfg(test)]` (a `mod tests;` line, or a block to its closing
/// brace): tests do not count, wherever they are in the file.
fn without_tests<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].trim_start().starts_with("#[cfg(test)]") {
            out.push(lines[i]);
            i += 1;
            continue;
        }
        // The item the attribute applies to, from the next line on.
        i += 1;
        let (mut depth, mut started) = (0i64, false);
        while i < lines.len() {
            let line = lines[i];
            i += 1;
            depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
            started |= line.contains('{');
            if (started && depth <= 0) || (!started && line.trim_end().ends_with(';')) {
                break;
            }
        }
    }
    out
}

/// The modules each top-level module names through `crate::`.
fn note_edges(me: &str, body: &str, edges: &mut BTreeMap<String, BTreeSet<String>>) {
    for (at, _) in body.match_indices("crate::") {
        let before = body[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = body[at + 7..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && name != me {
            edges.entry(me.to_string()).or_default().insert(name);
        }
    }
}

/// Every cycle through `start` of at most five modules, each set of modules once.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn walk(
        edges: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<BTreeSet<String>>,
        out: &mut Vec<String>,
    ) {
        let node = path.last().unwrap().clone();
        for next in edges.get(&node).into_iter().flatten() {
            if next == start && path.len() > 1 {
                let key: BTreeSet<String> = path.iter().cloned().collect();
                if seen.insert(key) {
                    out.push(format!("{}->{start}", path.join("->")));
                }
            } else if !path.contains(next) && path.len() < 5 {
                path.push(next.clone());
                walk(edges, start, path, seen, out);
                path.pop();
            }
        }
    }
    let (mut seen, mut out) = (BTreeSet::new(), vec![]);
    for start in edges.keys() {
        walk(edges, start, &mut vec![start.clone()], &mut seen, &mut out);
    }
    out
}

fn check(src: &Path) -> Figures {
    let mut files = vec![];
    rust_files(src, &mut files);
    files.sort();
    let mut out = Figures::default();
    let mut edges = BTreeMap::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        let body = &without_tests(&lines)[..];
        let rel = f.strip_prefix(src).unwrap().display().to_string();
        if body.len() > MAX_FILE {
            out.files.push((body.len(), rel.clone()));
        }
        for (i, line) in body.iter().enumerate() {
            if let (Some(name), Some(n)) = (declares_fn(line), fn_lines(body, i)) {
                if n > MAX_FN {
                    out.functions.push((n, format!("{rel}:{name}")));
                }
            }
        }
        note_edges(&top(src, f), &body.join("\n"), &mut edges);
    }
    out.cycles = cycles(&edges);
    out
}

#[test]
fn src_has_no_import_cycle_no_file_over_600_lines_and_no_function_over_120() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let f = check(&src);
    assert!(
        f.files.is_empty() && f.functions.is_empty() && f.cycles.is_empty(),
        "src/ outgrew its rooms (see docs/design.md, \"Where a new one goes\"):\n\
         files over {MAX_FILE} lines: {:?}\nfunctions over {MAX_FN} lines: {:?}\nimport cycles: {:?}",
        f.files,
        f.functions,
        f.cycles
    );
}

/// The check on a copy of `src/` with a cycle, a long function and a long file added on purpose.
#[test]
fn the_check_catches_a_cycle_a_long_function_and_a_long_file_added_on_purpose() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let dir = std::env::temp_dir().join(format!("tune-structure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut files = vec![];
    rust_files(&src, &mut files);
    for f in &files {
        let to = dir.join(f.strip_prefix(&src).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(f, to).unwrap();
    }
    // `budget` is a leaf that `plan` uses: naming `plan` from it closes a cycle.
    let budget = dir.join("budget.rs");
    let text = std::fs::read_to_string(&budget).unwrap();
    std::fs::write(&budget, format!("use crate::plan::StudyPlan;\n{text}")).unwrap();
    let long: String = (0..130)
        .map(|i| format!("    let _x{i} = {i};\n"))
        .collect();
    std::fs::write(dir.join("long.rs"), format!("fn long() {{\n{long}}}\n")).unwrap();
    let big: String = (0..610).map(|i| format!("// line {i}\n")).collect();
    std::fs::write(dir.join("big.rs"), big).unwrap();
    let f = check(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        f.cycles
            .iter()
            .any(|c| c.contains("budget") && c.contains("plan")),
        "{:?}",
        f.cycles
    );
    assert!(
        f.functions
            .iter()
            .any(|(n, at)| *n == 132 && at == "long.rs:long"),
        "{:?}",
        f.functions
    );
    assert!(
        f.files.iter().any(|(n, at)| *n == 611 && at == "big.rs"),
        "{:?}",
        f.files
    );
}
