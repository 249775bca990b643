//! Identifiers. New ids are UUIDv7 (time-ordered, so index inserts stay
//! local); imported records may keep their own ids within a safe alphabet.

/// Longest id accepted from outside.
pub const MAX_ID_LEN: usize = 128;

/// A fresh, time-ordered id in lower-case hex without dashes.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Whether `s` may be used as an id: 1..=128 characters of
/// `[A-Za-z0-9._|:@-]`. Anything else (spaces, slashes, quotes, control
/// characters) is refused before it reaches a query or a log line.
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._|:@-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_valid_distinct_and_time_ordered() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert!(is_valid_id(&a) && is_valid_id(&b));
        assert_eq!(a.len(), 32);
        assert!(a < b, "{a} should sort before {b}");
    }

    #[test]
    fn ids_outside_the_alphabet_or_length_are_refused() {
        for bad in ["", "a b", "a/b", "x'--", "\u{0}", "é", &"a".repeat(129)] {
            assert!(!is_valid_id(bad), "{bad:?} accepted");
        }
        for good in ["abc", "A.b_c|d:e@f-g", &"a".repeat(128)] {
            assert!(is_valid_id(good), "{good:?} refused");
        }
    }
}
