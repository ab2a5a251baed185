//! Strings that live as long as the process, one copy of each: the labels of categorical
//! parameters and the names of metrics a user's program reports. Interned, they are `Copy` like the
//! numbers beside them, and equal strings are one pointer. A study holds a few dozen.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// The one `'static` copy of `s`.
pub fn intern(s: &str) -> &'static str {
    static SET: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = SET.get_or_init(Default::default).lock().unwrap();
    if let Some(&v) = set.get(s) {
        return v;
    }
    let v: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(v);
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn equal_strings_are_one_copy() {
        let a = super::intern(&String::from("relu"));
        let b = super::intern("relu");
        assert!(std::ptr::eq(a, b));
        assert_ne!(super::intern("tanh"), a);
    }
}
