//! What a PostgreSQL connection string may show: [`hide_password`] is the one door every message,
//! progress line and resume command passes a storage location through, whatever its form (a URL,
//! its query's parameters, libpq's `key=value` words, or something neither parses as).

/// Whether `location` names a PostgreSQL server: a `postgresql://` (or `postgres://`) URL, or
/// libpq's `key=value` words (`host=db user=tune password='a b'`).
pub fn is_url(location: &str) -> bool {
    location.starts_with("postgresql://")
        || location.starts_with("postgres://")
        || words(location).is_some_and(|w| !w.is_empty())
}

/// `location` with every password replaced by `***`, for messages: a URL's `user:password@`, a
/// `password` parameter of its query, a `password` word of libpq's `key=value` form (quoted or
/// not). What parses as neither is shown only up to the first `password` it holds.
pub fn hide_password(location: &str) -> String {
    if let Some((scheme, rest)) = location.split_once("://") {
        return format!("{scheme}://{}", hide_in_url(rest));
    }
    match words(location) {
        Some(words) => {
            let mut shown = location.to_string();
            // Right to left, so that the spans before stay where they were.
            for w in words.iter().rev().filter(|w| secret(w.key)) {
                shown.replace_range(w.value.clone(), "***");
            }
            shown
        }
        None => match location.to_ascii_lowercase().find("password") {
            Some(at) => format!("{}***", &location[..at]),
            None => location.to_string(),
        },
    }
}

/// Whether a parameter named `key` holds a secret (`password`, and libpq's `sslpassword`).
fn secret(key: &str) -> bool {
    key.to_ascii_lowercase().ends_with("password")
}

/// A URL after its `scheme://`, its password and secret query parameters hidden. The credentials
/// end at the last `@` before the host's end: a password with an unencoded `@`, `/` or `?` is
/// hidden whole (PostgreSQL's client would misread it, but its text stays out of messages).
fn hide_in_url(rest: &str) -> String {
    let (creds, after) = match rest.find('@') {
        Some(first) => {
            let end = rest[first..]
                .find(['/', '?'])
                .map_or(rest.len(), |i| first + i);
            let at = rest[..end].rfind('@').expect("one @ at least");
            (Some(&rest[..at]), &rest[at + 1..])
        }
        None => (None, rest),
    };
    let mut shown = match creds {
        Some(creds) => match creds.split_once(':') {
            Some((user, _)) => format!("{user}:***@"),
            None => format!("{creds}@"),
        },
        None => String::new(),
    };
    match after.split_once('?') {
        Some((place, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if secret(&decoded(k)) => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            shown += &format!("{place}?{}", params.join("&"));
        }
        None => shown += after,
    }
    shown
}

/// `text` with its `%XX` escapes decoded (a key may be spelled `pass%77ord`).
fn decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One `key=value` word of libpq's form: its key, and where its value is in the text (quotes
/// included).
struct Word<'a> {
    key: &'a str,
    value: std::ops::Range<usize>,
}

/// The `key = value` words of `text` as libpq (and PostgreSQL's Rust client) reads them: values
/// plain up to a space or in single quotes, a backslash escaping the next character. `None` when
/// the text is not such words.
fn words(text: &str) -> Option<Vec<Word<'_>>> {
    let bytes = text.as_bytes();
    let skip = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut words = vec![];
    let mut i = skip(0);
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' {
            i += 1;
        }
        let key = &text[start..i];
        i = skip(i);
        if key.is_empty() || bytes.get(i) != Some(&b'=') {
            return None;
        }
        i = skip(i + 1);
        let from = i;
        let quoted = bytes.get(i) == Some(&b'\'');
        if quoted {
            i += 1;
        }
        loop {
            match bytes.get(i) {
                None if quoted => return None,
                None => break,
                Some(b'\\') => i += 2,
                Some(b'\'') if quoted => {
                    i += 1;
                    break;
                }
                Some(c) if !quoted && c.is_ascii_whitespace() => break,
                Some(_) => i += 1,
            }
        }
        // A backslash as the last character stands for nothing.
        let to = i.min(bytes.len());
        if to == from {
            return None;
        }
        words.push(Word {
            key,
            value: from..to,
        });
        i = skip(to);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `shown` hides `secret` (and any part of it longer than two characters) and keeps `kept`.
    fn hides(location: &str, secret: &str, kept: &[&str]) {
        let shown = hide_password(location);
        for part in secret.split([' ', '@', '/', '?', '\'']) {
            assert!(
                part.len() < 3 || !shown.contains(part),
                "{location} shown as {shown}"
            );
        }
        for k in kept {
            assert!(
                shown.contains(k),
                "{location} shown as {shown}: {k} missing"
            );
        }
    }

    #[test]
    fn url_passwords_are_hidden() {
        assert_eq!(
            hide_password("postgresql://u:secret@h:5/db"),
            "postgresql://u:***@h:5/db"
        );
        assert_eq!(hide_password("postgresql://h/db"), "postgresql://h/db");
        assert_eq!(hide_password("postgresql://u@h/db"), "postgresql://u@h/db");
        hides("postgres://u:se%40cret@h/db", "se%40cret", &["u:***@h/db"]);
        hides("postgresql://u:sec@ret@h/db", "sec@ret", &["@h/db"]);
        hides("postgresql://u:sec/ret?x@h/db", "sec/ret?x", &["@h/db"]);
        hides("mysql://u:secret@h/db", "secret", &["mysql://u:***@h/db"]);
        hides(
            "postgresql://u:secret@h1:5,h2:6/db",
            "secret",
            &["h1:5,h2:6"],
        );
    }

    #[test]
    fn query_passwords_are_hidden() {
        assert_eq!(
            hide_password("postgresql://u@h/db?password=secret&sslmode=disable"),
            "postgresql://u@h/db?password=***&sslmode=disable"
        );
        hides(
            "postgresql://h/db?application_name=a&PASSWORD=secret",
            "secret",
            &["application_name=a", "PASSWORD=***"],
        );
        hides("postgresql://h/db?pass%77ord=secret", "secret", &["h/db"]);
        hides(
            "postgresql:///db?host=/run&sslpassword=secret",
            "secret",
            &["host=/run"],
        );
        hides(
            "postgresql://u:one@h/db?password=two",
            "one two",
            &["u:***@h/db?password=***"],
        );
    }

    #[test]
    fn key_value_passwords_are_hidden() {
        assert_eq!(
            hide_password("host=h password=secret user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(
            hide_password("host=h password='a b' user=u"),
            "host=h password=*** user=u"
        );
        hides(
            "password = 'it\\'s mine' host=h",
            "it\\'s mine",
            &["host=h"],
        );
        hides("host=h password=sec\\ ret", "sec\\ ret", &["host=h"]);
        hides("host=h  PassWord=secret\tdbname=d", "secret", &["dbname=d"]);
        hides("password=one host=h password=two", "one two", &["host=h"]);
        hides("host=h sslpassword=secret", "secret", &["host=h"]);
    }

    #[test]
    fn unparsable_strings_stop_before_a_password() {
        hides("host=h password='secret", "secret", &["host=h"]);
        hides("junk host=h password=secret", "secret", &["junk host=h"]);
        assert_eq!(hide_password("runs/x"), "runs/x");
    }

    #[test]
    fn urls_and_key_value_words_name_a_server() {
        assert!(is_url("postgres://h/db") && is_url("postgresql://u:p@h/db"));
        assert!(is_url("host=h user=u password='a b'"));
        assert!(!is_url("runs/x") && !is_url("") && !is_url("host=h junk"));
        assert!(!is_url("mysql://u@h/db") && !is_url("password='open"));
    }
}
