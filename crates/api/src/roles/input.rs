//! Request bodies of the role endpoints, in the vendor's `ApiRole` names.

use serde::Deserialize;

use crate::ApiError;
use crate::input::{optional_text, text};

/// Most permissions one role may carry.
const MAX_PERMISSIONS: usize = 100;

/// A role, in the vendor's `ApiRole` names.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleInput {
    pub role_name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
}

impl CreateRoleInput {
    pub fn validate(self) -> Result<Self, ApiError> {
        text("role_name", &self.role_name, 100)?;
        if let Some(d) = &self.display_name {
            text("display_name", d, 100)?;
        }
        if let Some(d) = &self.description {
            optional_text("description", d, 1000)?;
        }
        if self.permissions.len() > MAX_PERMISSIONS {
            return Err(ApiError::bad_request(format!(
                "permissions may list at most {MAX_PERMISSIONS} entries"
            )));
        }
        for p in &self.permissions {
            text("permissions[]", p, 100)?;
        }
        Ok(self)
    }
}
