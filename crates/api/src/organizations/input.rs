//! Request bodies of the organization endpoints.

use serde::Deserialize;

use crate::ApiError;
use crate::users::input::Problems;

/// Longest organization name or alias.
const MAX_NAME_CHARS: usize = 100;
/// Most domains an organization has.
const MAX_DOMAINS: usize = 50;
/// Most applications one request names.
const MAX_APP_IDS: usize = 100;

/// The vendor's `ApiCreateOrganizationInput`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationInput {
    name: Option<String>,
    /// Deprecated: one more domain, put first (CONTRADICTIONS #15: accepted,
    /// not required).
    domain: Option<String>,
    domains: Option<Vec<String>>,
    app_ids: Option<Vec<String>>,
    enabled: Option<bool>,
    alias_name: Option<String>,
}

/// A checked [`CreateOrganizationInput`].
pub struct NewOrganizationInput {
    pub name: String,
    pub domains: Vec<String>,
    pub app_ids: Vec<String>,
    pub enabled: bool,
    pub alias_name: Option<String>,
}

impl CreateOrganizationInput {
    pub fn validate(self) -> Result<NewOrganizationInput, ApiError> {
        let mut p = Problems::default();
        if self.name.is_none() {
            p.add("name is required");
        }
        p.text("name", self.name.as_deref(), MAX_NAME_CHARS);
        p.text("alias_name", self.alias_name.as_deref(), MAX_NAME_CHARS);
        if self.domains.is_none() {
            p.add("domains is required (it may be empty)");
        }
        if self.app_ids.is_none() {
            p.add("app_ids is required (it may be empty)");
        }
        let domains = domains(&mut p, self.domain, self.domains.unwrap_or_default());
        let app_ids = p.ids("app_ids", self.app_ids.unwrap_or_default(), MAX_APP_IDS);
        p.finish()?;
        Ok(NewOrganizationInput {
            name: self.name.unwrap_or_default(),
            domains,
            app_ids,
            enabled: self.enabled.unwrap_or(true),
            alias_name: self.alias_name,
        })
    }
}

/// The vendor's `ApiUpdateOrganizationInput`: what is given replaces the
/// stored value; what is left out stays.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationInput {
    name: Option<String>,
    /// Deprecated: becomes the first domain, the others stay.
    domain: Option<String>,
    domains: Option<Vec<String>>,
    enabled: Option<bool>,
    alias_name: Option<String>,
}

/// A checked [`UpdateOrganizationInput`].
pub struct OrganizationUpdate {
    pub name: Option<String>,
    /// With `domain` first when both were given.
    pub domains: Option<Vec<String>>,
    /// `domain` alone: put first in the stored domains.
    pub first_domain: Option<String>,
    pub enabled: Option<bool>,
    pub alias_name: Option<String>,
}

impl UpdateOrganizationInput {
    pub fn validate(self) -> Result<OrganizationUpdate, ApiError> {
        let mut p = Problems::default();
        p.text("name", self.name.as_deref(), MAX_NAME_CHARS);
        p.text("alias_name", self.alias_name.as_deref(), MAX_NAME_CHARS);
        let (domains, first_domain) = match (self.domains, self.domain) {
            (Some(list), first) => (Some(domains(&mut p, first, list)), None),
            (None, Some(first)) => (None, domains(&mut p, Some(first), Vec::new()).pop()),
            (None, None) => (None, None),
        };
        p.finish()?;
        Ok(OrganizationUpdate {
            name: self.name,
            domains,
            first_domain,
            enabled: self.enabled,
            alias_name: self.alias_name,
        })
    }
}

/// The vendor's `ApiAppIds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppIdsInput {
    app_ids: Option<Vec<String>>,
}

impl AppIdsInput {
    /// The ids, checked, each once.
    pub fn validate(self) -> Result<Vec<String>, ApiError> {
        let mut p = Problems::default();
        let Some(ids) = self.app_ids else {
            return Err(ApiError::bad_request("app_ids is required"));
        };
        let ids = p.ids("app_ids", ids, MAX_APP_IDS);
        p.finish()?;
        Ok(ids)
    }
}

/// `first` (the deprecated `domain`) then `list`, lowercased, each once;
/// a problem for each that is not a host name.
fn domains(p: &mut Problems, first: Option<String>, list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in first.into_iter().chain(list) {
        let lower = d.to_ascii_lowercase();
        if !is_domain(&lower) {
            p.add(format!(
                "domains: `{}` is not a domain name (labels of letters, digits and hyphens, joined by dots)",
                d.chars().take(60).collect::<String>()
            ));
        } else if !out.contains(&lower) {
            out.push(lower);
        }
    }
    if out.len() > MAX_DOMAINS {
        p.add(format!("domains: at most {MAX_DOMAINS}"));
    }
    out
}

/// A DNS host name of at least two labels, in lower case.
fn is_domain(d: &str) -> bool {
    let label = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    d.len() <= 253 && d.contains('.') && d.split('.').all(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_host_names_lowercased_once_with_the_deprecated_one_first() {
        let mut p = Problems::default();
        let got = domains(
            &mut p,
            Some("Acme.example".into()),
            vec!["shop.acme.example".into(), "acme.EXAMPLE".into()],
        );
        assert_eq!(got, ["acme.example", "shop.acme.example"]);
        assert!(p.finish().is_ok());
        for bad in [
            "localhost",
            "-a.example",
            "a..example",
            "a b.example",
            "ü.example",
            "",
        ] {
            let mut p = Problems::default();
            domains(&mut p, None, vec![bad.into()]);
            assert!(p.finish().is_err(), "{bad:?}");
        }
    }
}
