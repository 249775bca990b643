//! Organizations as answered.

use idstore_store::organizations::Organization;
use serde::Serialize;

use crate::input::millis;

/// The vendor's `ApiOrganization`. The deprecated `domain`, which the
/// schema requires, is the first of `domains` (empty when there is none).
#[derive(Serialize)]
pub struct ApiOrganization<'a> {
    organization_id: &'a str,
    app_ids: &'a [String],
    name: &'a str,
    domain: &'a str,
    domains: &'a [String],
    created_at: i64,
    updated_at: i64,
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    alias_name: Option<&'a str>,
}

impl<'a> From<&'a Organization> for ApiOrganization<'a> {
    fn from(o: &'a Organization) -> Self {
        Self {
            organization_id: &o.organization_id,
            app_ids: &o.app_ids,
            name: &o.name,
            domain: o.domains.first().map_or("", String::as_str),
            domains: &o.domains,
            created_at: millis(o.created_at),
            updated_at: millis(o.updated_at),
            enabled: o.enabled,
            alias_name: o.alias_name.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_domain_is_the_deprecated_domain_and_an_absent_alias_is_omitted() {
        let at = chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        let mut org = Organization {
            organization_id: "o".into(),
            name: "Acme".into(),
            domains: vec!["acme.example".into(), "shop.acme.example".into()],
            enabled: true,
            alias_name: None,
            app_ids: vec!["a".into()],
            created_at: at,
            updated_at: at,
        };
        assert_eq!(
            serde_json::to_value(ApiOrganization::from(&org)).unwrap(),
            json!({"organization_id": "o", "app_ids": ["a"], "name": "Acme",
                   "domain": "acme.example", "domains": ["acme.example", "shop.acme.example"],
                   "created_at": 1_700_000_000_123_i64, "updated_at": 1_700_000_000_123_i64,
                   "enabled": true})
        );
        org.domains.clear();
        org.alias_name = Some("acme".into());
        let v = serde_json::to_value(ApiOrganization::from(&org)).unwrap();
        assert_eq!(
            (v["domain"].clone(), v["alias_name"].clone()),
            (json!(""), json!("acme"))
        );
    }
}
