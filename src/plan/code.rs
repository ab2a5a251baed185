//! A program's files, hashed (`code` in the fingerprint): the script its command names and the
//! files `trainer.code`'s globs match, relative to `trainer.cwd`. A resume after one of them
//! changed is refused unless `--allow-code-change` (src/driver/code.rs).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use crate::error::{Error, Result};

/// Each file's path (relative to `trainer.cwd`, `/`-separated) and the CRC-32 of its bytes, hex.
pub type CodeFiles = BTreeMap<String, String>;

/// The most files a program's code may hold: beyond, the globs are surely too wide.
pub const MAX_CODE_FILES: usize = 10_000;

/// The files of the program `command` run in `cwd` with `globs` (`trainer.code`), hashed, none
/// under the study folder `out` (its journal changes with every run); `file` is the spec, for
/// messages.
pub fn hash(
    file: &Path,
    command: &[String],
    globs: &[String],
    cwd: &Path,
    out: &Path,
) -> Result<CodeFiles> {
    let mut paths: Vec<String> = script(command, cwd).into_iter().collect();
    let skip = out.canonicalize().ok();
    for (i, g) in globs.iter().enumerate() {
        let at = format!("trainer.code[{i}]");
        let segs = parse(g).map_err(|m| Error::spec(file, &at, m))?;
        let before = paths.len();
        expand(cwd, "", &segs, &mut paths, &skip)
            .map_err(|e| Error::spec(file, &at, format!("cannot be listed: {e}")))?;
        if paths.len() == before {
            let msg = format!("\"{g}\" matches no file in {}", cwd.display());
            return Err(Error::spec(file, &at, msg));
        }
        if paths.len() > MAX_CODE_FILES {
            let msg = format!("matches more than {MAX_CODE_FILES} files: narrow the globs");
            return Err(Error::spec(file, "trainer.code", msg));
        }
    }
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .map(|p| {
            let crc = crc_of(&cwd.join(&p)).map_err(|e| {
                Error::spec(file, "trainer.code", format!("{p} cannot be read: {e}"))
            })?;
            Ok((p, format!("{crc:08x}")))
        })
        .collect()
}

/// One hash of all of `files` (paths and contents), for a short name of a version.
pub fn digest(files: &CodeFiles) -> String {
    let mut h = crc32fast::Hasher::new();
    for (p, c) in files {
        h.update(p.as_bytes());
        h.update(&[0]);
        h.update(c.as_bytes());
    }
    format!("{:08x}", h.finalize())
}

/// The script `command` runs: `command[0]` when it is a relative path to a file, else its first
/// argument that is a file relative to `cwd` (`train.py` of `python3 -u train.py`).
fn script(command: &[String], cwd: &Path) -> Option<String> {
    let is_file = |a: &String| !a.is_empty() && cwd.join(a).is_file();
    let first = command
        .first()
        .filter(|c| c.contains('/') && !c.starts_with('/'));
    first
        .filter(|c| is_file(c))
        .or_else(|| command.iter().skip(1).find(|a| is_file(a)))
        .map(|a| normal(a))
}

/// `path` without `.` components, `/`-separated.
fn normal(path: &str) -> String {
    let p = Path::new(path);
    let parts: Vec<String> = p
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match p.is_absolute() {
        true => format!("/{}", parts[1..].join("/")),
        false => parts.join("/"),
    }
}

/// The CRC-32 of the file at `path`'s bytes.
fn crc_of(path: &Path) -> std::io::Result<u32> {
    let mut f = std::fs::File::open(path)?;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf)? {
            0 => return Ok(h.finalize()),
            n => h.update(&buf[..n]),
        }
    }
}

/// One `/`-separated part of a glob.
#[derive(Debug, PartialEq)]
enum Seg {
    /// `**`: any number of folders, none included.
    Any,
    /// A name, with `*`, `?` and `[...]` in it or not.
    Name(String),
}

/// The parts of `glob`, or why it is not one.
fn parse(glob: &str) -> std::result::Result<Vec<Seg>, String> {
    let bad = |why: &str| {
        Err(format!(
            "\"{glob}\" is not a glob relative to trainer.cwd: {why}"
        ))
    };
    if glob.is_empty() {
        return bad("it is empty");
    }
    if glob.starts_with('/') {
        return bad("it is absolute");
    }
    if glob.contains('\0') {
        return bad("it holds a NUL character");
    }
    let mut segs = vec![];
    for s in glob.split('/').filter(|s| !s.is_empty() && *s != ".") {
        if s == ".." {
            return bad("`..` leaves the folder");
        }
        if s == "**" {
            segs.push(Seg::Any);
            continue;
        }
        if s.contains("**") {
            return bad("`**` must be a whole part, as in `models/**/*.py`");
        }
        if let Err(why) = matches(s, "") {
            return bad(&why);
        }
        segs.push(Seg::Name(s.to_string()));
    }
    match segs.last() {
        None => bad("it names no file"),
        Some(Seg::Any) => bad("it ends in `**`: add the files' part, as in `**/*.py`"),
        Some(_) => Ok(segs),
    }
}

/// Whether `name` matches the glob part `pat` (`*`, `?`, `[abc]`, `[a-z]`, `[!a]`); an error for a
/// `[` never closed. A leading `.` is matched only by a leading `.`.
fn matches(pat: &str, name: &str) -> std::result::Result<bool, String> {
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    if n.first() == Some(&'.') && p.first() != Some(&'.') {
        // Still checks the pattern's classes.
        return matches(pat, "").map(|_| false);
    }
    // Backtracking over the last `*`: linear in practice, quadratic at worst.
    let (mut i, mut j, mut star): (usize, usize, Option<(usize, usize)>) = (0, 0, None);
    loop {
        if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
            continue;
        }
        let step = match p.get(i) {
            None => None,
            Some('?') => (j < n.len()).then_some(1),
            Some('[') => {
                let (ok, len) = class(&p[i..], n.get(j).copied())?;
                ok.then_some(len)
            }
            Some(c) => (n.get(j) == Some(c)).then_some(1),
        };
        match step {
            Some(len) => {
                i += len;
                j += 1;
            }
            None if i == p.len() && j == n.len() => return Ok(true),
            None => match star {
                Some((si, sj)) if sj < n.len() => {
                    star = Some((si, sj + 1));
                    i = si + 1;
                    j = sj + 1;
                }
                _ => {
                    // The rest of the pattern is checked for unclosed classes all the same.
                    return check_rest(&p[i..]).map(|_| false);
                }
            },
        }
    }
}

/// Every class in `p` closed, or the error.
fn check_rest(p: &[char]) -> std::result::Result<(), String> {
    let mut k = 0;
    while k < p.len() {
        k += match p[k] {
            '[' => class(&p[k..], None)?.1,
            _ => 1,
        };
    }
    Ok(())
}

/// Whether `c` is in the class at the start of `p` (`[...]`), and the class's length.
fn class(p: &[char], c: Option<char>) -> std::result::Result<(bool, usize), String> {
    let negate = matches!(p.get(1), Some('!') | Some('^'));
    let start = if negate { 2 } else { 1 };
    // A `]` right after the opening is a member, not the end.
    let end = (start + 1..p.len())
        .find(|&k| p[k] == ']')
        .ok_or("a `[` is never closed by `]`")?;
    let set = &p[start..end];
    let Some(c) = c else {
        return Ok((false, end + 1));
    };
    let mut hit = false;
    let mut k = 0;
    while k < set.len() {
        if k + 2 < set.len() && set[k + 1] == '-' {
            hit |= (set[k]..=set[k + 2]).contains(&c);
            k += 3;
        } else {
            hit |= set[k] == c;
            k += 1;
        }
    }
    Ok((hit != negate && c != '/', end + 1))
}

/// Adds to `out` the files under `dir` (named `rel` from `trainer.cwd`) that `segs` match, none
/// under `skip`, stopping once more than [`MAX_CODE_FILES`] are found.
fn expand(
    dir: &Path,
    rel: &str,
    segs: &[Seg],
    out: &mut Vec<String>,
    skip: &Option<std::path::PathBuf>,
) -> std::io::Result<()> {
    if skip.is_some() && dir.canonicalize().ok() == *skip {
        return Ok(());
    }
    let join = |name: &str| match rel {
        "" => name.to_string(),
        _ => format!("{rel}/{name}"),
    };
    let Some((seg, rest)) = segs.split_first() else {
        return Ok(());
    };
    if out.len() > MAX_CODE_FILES {
        return Ok(());
    }
    match seg {
        Seg::Any => {
            expand(dir, rel, rest, out, skip)?;
            for (name, kind) in entries(dir)? {
                // Not into hidden folders, nor through links (no cycles).
                if kind.is_dir() && !name.starts_with('.') {
                    expand(&dir.join(&name), &join(&name), segs, out, skip)?;
                }
            }
        }
        Seg::Name(pat) => {
            let wild = pat.contains(['*', '?', '[']);
            let names = match wild {
                true => entries(dir)?,
                false if dir.join(pat).exists() => {
                    vec![(pat.clone(), dir.join(pat).metadata()?.file_type())]
                }
                false => vec![],
            };
            for (name, _) in names {
                if wild && !matches(pat, &name).unwrap_or(false) {
                    continue;
                }
                let path = dir.join(&name);
                match rest.is_empty() {
                    true if path.is_file() => out.push(join(&name)),
                    true => {}
                    false if path.is_dir() => expand(&path, &join(&name), rest, out, skip)?,
                    false => {}
                }
            }
        }
    }
    Ok(())
}

/// The entries of `dir` with their kinds (links not followed), sorted; none when it is no folder.
fn entries(dir: &Path) -> std::io::Result<Vec<(String, std::fs::FileType)>> {
    if !dir.is_dir() {
        return Ok(vec![]);
    }
    let mut v = vec![];
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        v.push((e.file_name().to_string_lossy().into_owned(), e.file_type()?));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names_as_a_shell_does() {
        let m = |p: &str, n: &str| matches(p, n).unwrap();
        assert!(m("*.py", "train.py"));
        assert!(!m("*.py", "train.pyc"));
        assert!(!m("*.py", ".hidden.py"));
        assert!(m(".*.py", ".hidden.py"));
        assert!(m("t?ain.py", "train.py"));
        assert!(m("[a-c]x", "bx") && !m("[a-c]x", "dx"));
        assert!(m("[!a]x", "bx") && !m("[!a]x", "ax"));
        assert!(m("a*b*c", "aXbYbZc") && !m("a*b*c", "aXbY"));
        assert!(matches("[ab", "a").is_err());
        assert!(matches("x*[ab", "y").is_err());
    }

    #[test]
    fn malformed_globs_are_refused_with_the_reason() {
        for (g, why) in [
            ("", "empty"),
            ("/etc/*.py", "absolute"),
            ("../x.py", "leaves"),
            ("a**/x.py", "whole part"),
            ("models/**", "ends in"),
            ("[x.py", "never closed"),
        ] {
            let e = parse(g).unwrap_err();
            assert!(e.contains(why), "{g}: {e}");
        }
        assert_eq!(
            parse("./models/**/*.py").unwrap(),
            vec![
                Seg::Name("models".into()),
                Seg::Any,
                Seg::Name("*.py".into())
            ]
        );
    }

    #[test]
    fn the_script_and_the_globbed_files_are_hashed_by_path_and_contents() {
        let dir = crate::testutil::TempDir::new();
        let d = dir.path();
        std::fs::create_dir_all(d.join("models/deep")).unwrap();
        std::fs::create_dir_all(d.join(".git")).unwrap();
        std::fs::create_dir_all(d.join("runs/s")).unwrap();
        for (p, text) in [
            ("train.py", "a"),
            ("util.py", "b"),
            ("models/m.py", "c"),
            ("models/deep/n.py", "d"),
            ("models/deep/n.txt", "e"),
            (".git/x.py", "f"),
            ("runs/s/journal.py", "g"),
        ] {
            std::fs::write(d.join(p), text).unwrap();
        }
        let cmd = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let spec = d.join("s.json");
        let files = hash(
            &spec,
            &cmd(&["python3", "-u", "./train.py"]),
            &[],
            d,
            &d.join("runs/s"),
        )
        .unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["train.py"]);
        assert_eq!(files["train.py"], format!("{:08x}", crc32fast::hash(b"a")));
        let globs = cmd(&["models/**/*.py", "**/*.py"]);
        let files = hash(
            &spec,
            &cmd(&["python3", "train.py"]),
            &globs,
            d,
            &d.join("runs/s"),
        )
        .unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["models/deep/n.py", "models/m.py", "train.py", "util.py"]
        );
        let e = hash(
            &spec,
            &cmd(&["python3"]),
            &cmd(&["*.rs"]),
            d,
            &d.join("runs/s"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("trainer.code[0]"), "{e}");
        assert!(e.to_string().contains("matches no file"), "{e}");
        let before = digest(&files);
        std::fs::write(d.join("util.py"), "B").unwrap();
        let after = hash(
            &spec,
            &cmd(&["python3", "train.py"]),
            &globs,
            d,
            &d.join("runs/s"),
        )
        .unwrap();
        assert_ne!(digest(&after), before);
    }
}
