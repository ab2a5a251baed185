//! What the binary tells a person to type: commands quoted for a POSIX shell.

use std::path::Path;

/// The command that resumes the study: `spec`, `--out` and `--storage` (its password hidden) as
/// given (relative to the same folder), each quoted for a POSIX shell where it needs to be.
pub fn resume_command(spec: &Path, out: Option<&Path>, storage: Option<&str>) -> String {
    let mut cmd = String::from("tune");
    if let Some(out) = out {
        cmd += &format!(" --out {}", shell_word(out));
    }
    if let Some(url) = storage {
        // The password stays out of the terminal: the user has it.
        let url = tune::storage::postgres::hide_password(url);
        cmd += &format!(" --storage {}", shell_word(Path::new(&url)));
    }
    cmd + " " + &shell_word(spec)
}

/// `path` as one word of a POSIX shell command: as it is when it is made only of characters no
/// shell treats specially, otherwise in single quotes (a single quote inside becoming `'\''`). A
/// relative path that starts with `-` gets `./` in front, so that it is not read as an option.
pub fn shell_word(path: &Path) -> String {
    let mut text = path.to_string_lossy().into_owned();
    if text.starts_with('-') {
        text = format!("./{text}");
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-+=.,/:@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return text;
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}
