//! The password policy of a tenant, or of one application overriding it:
//! what a new password must be, how many old ones it may not repeat, when
//! passwords expire and how failed logins are slowed down.
//!
//! Passwords are NFKC-normalised before anything looks at them (length,
//! rules, lists, hashing), so the same password typed on two keyboards is
//! one password; they are never truncated.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// The longest password accepted, in code points after normalisation.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// The policy document, as stored and as the admin endpoints speak it.
/// Every field is optional on input; an omitted one takes its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Whether passwords may be set at all (else `auth_password_policy_disabled`).
    #[schema(default = true)]
    pub enabled: bool,
    /// Fewest code points (after NFKC), 8 to 256.
    #[schema(default = 15, minimum = 8, maximum = 256)]
    pub min_length: u32,
    /// Composition rules, off by default; skipped by `enforce_complexity=false`.
    pub require_lowercase: bool,
    pub require_uppercase: bool,
    pub require_digit: bool,
    pub require_symbol: bool,
    /// A new password may not be any of the newest N, the current one
    /// included (0 to 24).
    #[schema(default = 5, maximum = 24)]
    pub history_depth: u32,
    /// Days after which a password must be changed at the next login;
    /// `null` (the default): never.
    #[schema(minimum = 1, maximum = 1096)]
    pub expiry_days: Option<u32>,
    /// Failed logins in a row on one identifier before logins on it are
    /// delayed (1 to 100).
    #[schema(default = 5, minimum = 1, maximum = 100)]
    pub lockout_threshold: u32,
    /// The first delay once the threshold is reached, in seconds; each
    /// further failure doubles it, up to `lockout_max_secs`. Never a
    /// permanent lock.
    #[schema(default = 30, minimum = 1, maximum = 86400)]
    pub lockout_duration_secs: u32,
    #[schema(default = 900, minimum = 1, maximum = 86400)]
    pub lockout_max_secs: u32,
    /// Hours a temporary password (`force_replace`) can be used to log in
    /// and change it (1 to 8760).
    #[schema(default = 72, minimum = 1, maximum = 8760)]
    pub temporary_password_validity_hours: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            min_length: 15,
            require_lowercase: false,
            require_uppercase: false,
            require_digit: false,
            require_symbol: false,
            history_depth: 5,
            expiry_days: None,
            lockout_threshold: 5,
            lockout_duration_secs: 30,
            lockout_max_secs: 900,
            temporary_password_validity_hours: 72,
        }
    }
}

/// Why a password was refused, as the spec's error codes tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// `auth_password_policy_disabled`
    Disabled,
    /// `auth_password_weak`, with what to change.
    Weak(String),
    /// `auth_password_breached`
    Breached,
}

/// A kind of character a composition rule asks for.
type CharClass = fn(char) -> bool;

/// The form every check and every hash sees.
pub fn normalize(password: &str) -> String {
    password.nfkc().collect()
}

impl PasswordPolicy {
    /// What is wrong with the document itself; empty when it is valid.
    pub fn problems(&self) -> Vec<String> {
        let ranges: [(&str, u32, u32, u32); 6] = [
            ("min_length", self.min_length, 8, MAX_PASSWORD_CHARS as u32),
            ("history_depth", self.history_depth, 0, 24),
            ("lockout_threshold", self.lockout_threshold, 1, 100),
            (
                "lockout_duration_secs",
                self.lockout_duration_secs,
                1,
                86_400,
            ),
            ("lockout_max_secs", self.lockout_max_secs, 1, 86_400),
            (
                "temporary_password_validity_hours",
                self.temporary_password_validity_hours,
                1,
                8_760,
            ),
        ];
        let mut problems: Vec<String> = ranges
            .iter()
            .filter(|(_, v, lo, hi)| v < lo || v > hi)
            .map(|(name, _, lo, hi)| format!("{name} must be between {lo} and {hi}"))
            .collect();
        if let Some(days) = self.expiry_days
            && !(1..=1096).contains(&days)
        {
            problems.push("expiry_days must be between 1 and 1096, or null".into());
        }
        if self.lockout_max_secs < self.lockout_duration_secs {
            problems.push("lockout_max_secs must be at least lockout_duration_secs".into());
        }
        problems
    }

    /// Length, cap and (when `enforce_complexity`) the composition rules,
    /// on a normalised password. The lists are checked by the caller.
    pub fn check_rules(&self, normalized: &str, enforce_complexity: bool) -> Result<(), Rejection> {
        if !self.enabled {
            return Err(Rejection::Disabled);
        }
        let chars = normalized.chars().count();
        if chars < self.min_length as usize {
            return Err(Rejection::Weak(format!(
                "the password must be at least {} characters long; a passphrase of a few words is easiest",
                self.min_length
            )));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(Rejection::Weak(format!(
                "the password must be at most {MAX_PASSWORD_CHARS} characters long"
            )));
        }
        if enforce_complexity && let Some(missing) = self.missing_class(normalized) {
            return Err(Rejection::Weak(format!(
                "the password must contain {missing}"
            )));
        }
        Ok(())
    }

    fn missing_class(&self, password: &str) -> Option<&'static str> {
        let has = |f: fn(char) -> bool| password.chars().any(f);
        let rules: [(bool, CharClass, &'static str); 4] = [
            (
                self.require_lowercase,
                char::is_lowercase,
                "a lowercase letter",
            ),
            (
                self.require_uppercase,
                char::is_uppercase,
                "an uppercase letter",
            ),
            (self.require_digit, |c| c.is_numeric(), "a digit"),
            (
                self.require_symbol,
                |c| !c.is_alphanumeric() && !c.is_whitespace(),
                "a symbol",
            ),
        ];
        rules
            .iter()
            .find(|(required, class, _)| *required && !has(*class))
            .map(|(_, _, name)| *name)
    }

    /// Whether a password set at `set_at` must be changed at login now:
    /// it is older than `expiry_days`.
    pub fn expired(&self, set_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.expiry_days
            .is_some_and(|days| now - set_at >= Duration::days(i64::from(days)))
    }

    /// Whether a temporary password set at `set_at` can no longer be used.
    pub fn temporary_lapsed(&self, set_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - set_at >= Duration::hours(i64::from(self.temporary_password_validity_hours))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weak(r: Result<(), Rejection>) -> bool {
        matches!(r, Err(Rejection::Weak(_)))
    }

    #[test]
    fn the_default_wants_fifteen_code_points_and_nothing_else() {
        let p = PasswordPolicy::default();
        assert!(p.problems().is_empty());
        assert!(weak(p.check_rules("fourteen chars", true)));
        assert_eq!(p.check_rules("fifteen chars!!", true), Ok(()));
        assert_eq!(p.check_rules("alllowercaseletters", true), Ok(()));
        // Fifteen code points, more bytes: length counts characters.
        assert_eq!(p.check_rules("ééééééééééééééé", true), Ok(()));
    }

    #[test]
    fn normalisation_makes_compatible_forms_one_password() {
        // U+FB01 (the "fi" ligature) and a full-width digit.
        assert_eq!(normalize("\u{FB01}le\u{FF11}"), "file1");
        assert_eq!(normalize("e\u{301}"), "\u{e9}");
    }

    #[test]
    fn the_cap_refuses_without_truncating() {
        let p = PasswordPolicy::default();
        assert_eq!(p.check_rules(&"a".repeat(256), true), Ok(()));
        assert!(weak(p.check_rules(&"a".repeat(257), true)));
        assert!(
            weak(p.check_rules(&"a".repeat(257), false)),
            "the cap always applies"
        );
    }

    #[test]
    fn composition_rules_apply_only_when_enforced() {
        let p = PasswordPolicy {
            require_uppercase: true,
            require_digit: true,
            require_symbol: true,
            ..PasswordPolicy::default()
        };
        assert!(weak(p.check_rules("no upper case here", true)));
        assert!(weak(p.check_rules("No digits in this one", true)));
        assert!(weak(p.check_rules("No symbols in this 1", true)));
        assert_eq!(p.check_rules("Has all of them: 1", true), Ok(()));
        assert_eq!(p.check_rules("no upper case here", false), Ok(()));
        assert!(weak(p.check_rules("short", false)), "length still applies");
    }

    #[test]
    fn a_disabled_policy_refuses_every_password() {
        let p = PasswordPolicy {
            enabled: false,
            ..PasswordPolicy::default()
        };
        assert_eq!(
            p.check_rules("a perfectly fine passphrase", true),
            Err(Rejection::Disabled)
        );
    }

    #[test]
    fn out_of_range_documents_are_refused_with_every_problem() {
        let p = PasswordPolicy {
            min_length: 4,
            history_depth: 25,
            expiry_days: Some(0),
            lockout_duration_secs: 100,
            lockout_max_secs: 10,
            ..PasswordPolicy::default()
        };
        assert_eq!(p.problems().len(), 4, "{:?}", p.problems());
        let parsed: Result<PasswordPolicy, _> = serde_json::from_str(r#"{"min_lenght": 20}"#);
        assert!(parsed.is_err(), "unknown fields are refused");
        let parsed: PasswordPolicy = serde_json::from_str(r#"{"min_length": 20}"#).unwrap();
        assert_eq!(parsed.min_length, 20);
        assert_eq!(parsed.history_depth, 5, "omitted fields take their default");
    }

    #[test]
    fn expiry_and_temporary_validity() {
        let now = Utc::now();
        let p = PasswordPolicy::default();
        assert!(
            !p.expired(now - Duration::days(5000), now),
            "off by default"
        );
        let p = PasswordPolicy {
            expiry_days: Some(90),
            ..p
        };
        assert!(!p.expired(now - Duration::days(89), now));
        assert!(p.expired(now - Duration::days(90), now));
        assert!(!p.temporary_lapsed(now - Duration::hours(71), now));
        assert!(p.temporary_lapsed(now - Duration::hours(72), now));
    }
}
