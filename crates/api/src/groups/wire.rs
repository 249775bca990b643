//! Groups as answered.

use idstore_store::groups::Group;
use serde::Serialize;
use serde_json::Value;

use crate::input::millis;

/// Most missing ids a 404 names; the rest are counted.
const MAX_NAMED_MISSING: usize = 20;

/// The spec's `ApiGroup`: `description` is omitted when absent, never null.
#[derive(Serialize)]
pub struct ApiGroup<'a> {
    group_id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    created_at: i64,
    updated_at: i64,
    custom_data: &'a Value,
}

impl<'a> From<&'a Group> for ApiGroup<'a> {
    fn from(g: &'a Group) -> Self {
        Self {
            group_id: &g.group_id,
            name: &g.name,
            description: g.description.as_deref(),
            created_at: millis(g.created_at),
            updated_at: millis(g.updated_at),
            custom_data: &g.custom_data,
        }
    }
}

/// Names the missing users, up to a bound that keeps the message small.
pub fn users_not_found(missing: &[String]) -> String {
    let named = missing[..missing.len().min(MAX_NAMED_MISSING)].join(", ");
    match missing.len().saturating_sub(MAX_NAMED_MISSING) {
        0 => format!("Users not found: {named}"),
        more => format!("Users not found: {named} and {more} more"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::One;
    use serde_json::json;

    #[test]
    fn a_missing_users_message_names_at_most_twenty_and_counts_the_rest() {
        let few: Vec<String> = vec!["a".into(), "b".into()];
        assert_eq!(users_not_found(&few), "Users not found: a, b");
        let many: Vec<String> = (0..25).map(|i| format!("u{i}")).collect();
        let message = users_not_found(&many);
        assert!(message.ends_with("u19 and 5 more"), "{message}");
        assert!(!message.contains("u20"), "{message}");
    }

    #[test]
    fn an_api_group_omits_an_absent_description() {
        let group = Group {
            tenant_id: "t".into(),
            group_id: "g".into(),
            name: "n".into(),
            description: None,
            custom_data: json!({}),
            created_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            updated_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_456).unwrap(),
        };
        assert_eq!(
            serde_json::to_value(One::of(ApiGroup::from(&group))).unwrap(),
            json!({"result": {"group_id": "g", "name": "n", "created_at": 1_700_000_000_123_i64,
                              "updated_at": 1_700_000_000_456_i64, "custom_data": {}}})
        );
    }
}
