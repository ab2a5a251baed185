//! The strict reading of spec text into a JSON value, before serde maps it onto
//! [`super::StudySpec`]: serde_json alone keeps the last of two equal keys, stops reading after the
//! first value, and serde's derived structs take an array as their fields by position. Each of
//! those would run a study other than the one the file seems to say, so each is refused with its
//! place.

use std::cell::RefCell;
use std::fmt;
use std::path::Path;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::{clean_serde_message, display_path};
use crate::error::{Error, Result};

/// Where the spec expects an object (a struct of [`super::StudySpec`], or the space's map).
/// Space entries are not here: a list of values there is an array on purpose.
const OBJECTS: &[&str] = &[
    "",
    "data",
    "model",
    "trainer",
    "trainer.env",
    "budget",
    "search",
    "search.space",
    "early_stopping",
    "scheduler",
    "tracking",
];

/// Lists whose every entry is such an object.
const LISTS_OF_OBJECTS: &[&str] = &["objectives", "constraints"];

/// The one JSON value of `text`, refusing duplicate keys and anything after the value.
pub fn parse(file: &Path, text: &str) -> Result<Value> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let read = Strict {
        path: String::new(),
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    // Recorded before the visitor fails, so that the message names the path, not the line.
    if let Some((path, key)) = duplicate.into_inner() {
        return Err(Error::spec(
            file,
            display_path(&path),
            format!("duplicate key \"{key}\""),
        ));
    }
    read.map_err(|e| {
        let msg = match clean_serde_message(&e) {
            m if m == "trailing characters" => format!("{m} after the spec"),
            m => m,
        };
        Error::spec(
            file,
            format!("line {}, column {}", e.line(), e.column()),
            format!("malformed JSON: {msg}"),
        )
    })
}

/// Refuses an array where the spec expects an object. Other wrong types are left to serde,
/// whose messages already name them.
pub fn check_objects(file: &Path, spec: &Value) -> Result<()> {
    for path in OBJECTS {
        let at = path
            .split('.')
            .filter(|k| !k.is_empty())
            .try_fold(spec, |v, k| v.get(k));
        if let Some(Value::Array(_)) = at {
            return Err(Error::spec(
                file,
                display_path(path),
                "expected an object with named fields, found an array",
            ));
        }
    }
    for list in LISTS_OF_OBJECTS {
        let entries = spec.get(list).and_then(Value::as_array);
        for (i, e) in entries.into_iter().flatten().enumerate() {
            if e.is_array() {
                return Err(Error::spec(
                    file,
                    format!("{list}[{i}]"),
                    "expected an object with named fields, found an array",
                ));
            }
        }
    }
    Ok(())
}

/// Reads one JSON value at `path` (serde_path_to_error's notation), as serde_json's `Value`
/// does, but records the first duplicate key and stops there.
struct Strict<'a> {
    path: String,
    duplicate: &'a RefCell<Option<(String, String)>>,
}

impl<'a> Strict<'a> {
    fn at(&self, path: String) -> Strict<'a> {
        Strict {
            path,
            duplicate: self.duplicate,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::from(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::from(u))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Number::from_f64(f).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) =
            seq.next_element_seed(self.at(format!("{}[{}]", self.path, out.len())))?
        {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some((self.path, key));
                return Err(A::Error::custom("duplicate key"));
            }
            let path = match self.path.as_str() {
                "" => key.clone(),
                p => format!("{p}.{key}"),
            };
            let v = map.next_value_seed(self.at(path))?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        let file = Path::new("s.json");
        let e = parse(file, text)
            .and_then(|v| check_objects(file, &v).map(|()| v))
            .unwrap_err();
        e.to_string().trim_start_matches("s.json: ").to_string()
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert_eq!(
            err(r#"{"a": 1, "a": 2}"#),
            r#"(top level): duplicate key "a""#
        );
        assert_eq!(
            err(r#"{"search": {"space": {"b": {"low": 1, "low": 2}}}}"#),
            r#"search.space.b: duplicate key "low""#
        );
        assert_eq!(
            err(r#"{"x": [{"y": 1}, {"y": 1, "y": 1}]}"#),
            r#"x[1]: duplicate key "y""#
        );
    }

    #[test]
    fn trailing_content_is_refused_with_its_place() {
        assert_eq!(
            err("{\"a\": 1}\n{\"a\": 2}"),
            "line 2, column 1: malformed JSON: trailing characters after the spec"
        );
        assert_eq!(
            err("{}  x"),
            "line 1, column 5: malformed JSON: trailing characters after the spec"
        );
    }

    #[test]
    fn arrays_in_place_of_objects_are_refused() {
        assert_eq!(
            err("[1, 2]"),
            "(top level): expected an object with named fields, found an array"
        );
        assert_eq!(
            err(r#"{"search": {"space": []}}"#),
            "search.space: expected an object with named fields, found an array"
        );
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let text = r#"{"a": [1, -2, 3.5e300, "s", null, true], "b": {"c": {}}, "d": 1e-7}"#;
        let v = parse(Path::new("s.json"), text).unwrap();
        assert_eq!(v, serde_json::from_str::<Value>(text).unwrap());
        assert!(check_objects(Path::new("s.json"), &v).is_ok());
    }
}
