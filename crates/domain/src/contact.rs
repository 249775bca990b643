//! Emails, phone numbers and usernames: how they are validated and the one
//! normal form each is stored, compared and made unique in. Look-alikes
//! must not slip past uniqueness: emails are ASCII (international domains in
//! their `xn--` form), usernames are NFKC-folded and limited to letters,
//! digits and `._-@+`, so invisible and full-width characters can't make a
//! second `ann`.

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Longest email accepted (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest username accepted.
pub const MAX_USERNAME_LEN: usize = 128;

/// A valid email address in its stored form (lower-cased). Only
/// [`Email::parse`] makes one from outside input; reading one back from
/// storage trusts what was stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

/// A valid phone number in E.164.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

/// A valid username, as given; [`Username::key`] is the form it is
/// compared and made unique in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        normalize_email(raw).map(Self)
    }
}

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        normalize_phone(raw).map(Self)
    }

    /// A phone number from a URL path, where a leading `+` is often lost
    /// (sent as a space, or never sent): it is put back.
    pub fn parse_path(raw: &str) -> Result<Self, String> {
        let raw = raw.trim_start_matches(' ');
        if raw.starts_with('+') {
            Self::parse(raw)
        } else {
            Self::parse(&format!("+{raw}"))
        }
    }
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        normalize_username(raw).map(|_| Self(raw.to_owned()))
    }

    /// The compared form: NFKC and lower case.
    pub fn key(&self) -> String {
        username_key(&self.0)
    }
}

macro_rules! string_value {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// A value read back from idstore's own storage, which only
            /// ever held parsed values.
            pub fn from_storage(stored: String) -> Self {
                Self(stored)
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
string_value!(Email, Phone, Username);

/// An email in its stored form: lower-cased, so `Ann@X.io` and `ann@x.io`
/// are one identifier. Refuses what no mail system would deliver to.
fn normalize_email(raw: &str) -> Result<String, String> {
    let invalid = || format!("`{}` is not a valid email address", shorten(raw));
    if raw.is_empty() || raw.chars().count() > MAX_EMAIL_LEN {
        return Err(format!(
            "email must be 1 to {MAX_EMAIL_LEN} characters, like name@example.com"
        ));
    }
    if !raw.is_ascii() {
        return Err(format!(
            "`{}` is not a valid email address: only ASCII is accepted; give an international domain in its xn-- form",
            shorten(raw)
        ));
    }
    let (local, domain) = raw.rsplit_once('@').ok_or_else(invalid)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let domain_ok = domain.contains('.')
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(raw.to_lowercase())
    } else {
        Err(invalid())
    }
}

/// A phone number in E.164 (`+12125550100`), validated against the
/// numbering plan of its country. Spaces, dashes and parentheses are
/// accepted on input and dropped.
fn normalize_phone(raw: &str) -> Result<String, String> {
    let invalid = || {
        format!(
            "`{}` is not a valid phone number; give it in E.164 format, like +12125550100",
            shorten(raw)
        )
    };
    if !raw.starts_with('+') || raw.len() > 32 {
        return Err(invalid());
    }
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    if !compact[1..].chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid());
    }
    let number = phonenumber::parse(None, &compact).map_err(|_| invalid())?;
    if !phonenumber::is_valid(&number) {
        return Err(invalid());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// A username in its compared form ([`username_key`]); usernames are 1 to
/// 128 letters, digits and `._-@+`.
fn normalize_username(raw: &str) -> Result<String, String> {
    let key = username_key(raw);
    let len = key.chars().count();
    let allowed = |c: char| c.is_alphanumeric() || "._-@+".contains(c);
    if len == 0 || len > MAX_USERNAME_LEN || !key.chars().all(allowed) {
        return Err(format!(
            "username must be 1 to {MAX_USERNAME_LEN} letters, digits or . _ - @ +"
        ));
    }
    Ok(key)
}

/// The form usernames are compared and made unique in: NFKC (full-width
/// and other compatibility forms fold to one) and lower case.
pub fn username_key(raw: &str) -> String {
    raw.nfkc().collect::<String>().to_lowercase()
}

/// Echoing a 10 kB value back in an error helps nobody.
fn shorten(s: &str) -> String {
    const KEEP: usize = 64;
    if s.chars().count() <= KEEP {
        s.to_owned()
    } else {
        s.chars().take(KEEP).chain("…".chars()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_stored_lower_cased() {
        assert_eq!(
            normalize_email("Ann.Lee+x@Example.COM").unwrap(),
            "ann.lee+x@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.io",
            "ann@x",
            "ann@@x.io",
            "a b@x.io",
            "ann@x..io",
            ".ann@x.io",
            "ann@-x.io",
            "ann@x.io\n",
            "ann\"@x.io",
            "ann@ｘ.io",
            "аnn@x.io",
            &format!("{}@x.io", "a".repeat(65)),
            &format!("a@{}.io", "b".repeat(260)),
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn phones_are_stored_in_e164() {
        assert_eq!(
            normalize_phone("+1 (212) 555-0100").unwrap(),
            "+12125550100"
        );
        assert_eq!(normalize_phone("+447911123456").unwrap(), "+447911123456");
        assert_eq!(
            normalize_phone("+33 6 12 34 56 78").unwrap(),
            "+33612345678"
        );
    }

    #[test]
    fn phones_without_a_country_code_or_with_letters_are_refused() {
        for bad in [
            "",
            "2125550100",
            "+1",
            "+1212555010O",
            "+999123",
            "+12125550100999999",
            "+1 212; DROP",
            "++12125550100",
        ] {
            let err = normalize_phone(bad).unwrap_err();
            assert!(err.contains("E.164"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn usernames_compare_case_insensitively_and_refuse_spaces() {
        assert_eq!(normalize_username("Ann_Lee").unwrap(), "ann_lee");
        assert_eq!(
            normalize_username("ａｎｎ").unwrap(),
            "ann",
            "full-width folds to ASCII"
        );
        for bad in [
            "",
            "ann lee",
            "ann\t",
            "ann\u{200b}",
            "\u{feff}ann",
            "an\u{ad}n",
            &"a".repeat(129),
        ] {
            assert!(normalize_username(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn errors_do_not_echo_huge_values() {
        let err = normalize_phone(&format!("+1{}", "x".repeat(10_000))).unwrap_err();
        assert!(err.len() < 200, "{err}");
    }
}
