//! Request bodies of the group endpoints.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiError;
use crate::input::{path_id, text};

/// Largest `custom_data` accepted, serialized.
const MAX_CUSTOM_DATA_BYTES: usize = idstore_domain::user::MAX_CUSTOM_DATA_BYTES;
/// Most users one request may add.
const MAX_MEMBERS_PER_REQUEST: usize = 1000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupInput {
    pub name: String,
    pub description: Option<String>,
    pub custom_data: Option<Value>,
}

/// A checked [`CreateGroupInput`].
pub struct NewGroupInput {
    pub name: String,
    pub description: Option<String>,
    /// Always an object.
    pub custom_data: Value,
}

impl CreateGroupInput {
    pub fn validate(self) -> Result<NewGroupInput, ApiError> {
        text("name", &self.name, 100)?;
        if let Some(d) = &self.description {
            text("description", d, 1000)?;
        }
        if let Some(data) = &self.custom_data {
            custom_data(data)?;
        }
        Ok(NewGroupInput {
            name: self.name,
            description: self.description,
            custom_data: self.custom_data.unwrap_or_else(|| json!({})),
        })
    }
}

fn custom_data(data: &Value) -> Result<(), ApiError> {
    if !data.is_object() {
        return Err(ApiError::bad_request("custom_data must be an object"));
    }
    if crate::input::json_has_nul(data) {
        return Err(ApiError::bad_request(
            "custom_data may not contain NUL characters",
        ));
    }
    if data.to_string().len() > MAX_CUSTOM_DATA_BYTES {
        return Err(ApiError::bad_request(format!(
            "custom_data must serialize to at most {MAX_CUSTOM_DATA_BYTES} bytes"
        )));
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMembersInput {
    user_ids: Vec<String>,
}

impl AddMembersInput {
    /// The user ids, checked.
    pub fn validate(self) -> Result<Vec<String>, ApiError> {
        if self.user_ids.is_empty() || self.user_ids.len() > MAX_MEMBERS_PER_REQUEST {
            return Err(ApiError::bad_request(format!(
                "user_ids must list 1 to {MAX_MEMBERS_PER_REQUEST} ids"
            )));
        }
        self.user_ids
            .iter()
            .try_for_each(|id| path_id("user_ids[]", id))?;
        Ok(self.user_ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_data_must_be_a_small_object_without_nul() {
        assert!(custom_data(&json!({"a": 1})).is_ok());
        assert!(custom_data(&json!([1])).is_err());
        assert!(custom_data(&json!("x")).is_err());
        assert!(custom_data(&json!({"a": "x\u{0}y"})).is_err());
        let big = json!({ "k": "x".repeat(MAX_CUSTOM_DATA_BYTES) });
        assert!(custom_data(&big).is_err());
    }
}
