//! Request bodies of the role group endpoints.

use serde::Deserialize;

use crate::ApiError;
use crate::users::input::Problems;

/// Most ids one request lists.
const MAX_IDS: usize = 100;

/// A role group, in the vendor's `ApiRoleGroup` names (`role_ids` for its
/// roles).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleGroupInput {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// Roles of the application.
    pub role_ids: Vec<String>,
}

impl CreateRoleGroupInput {
    pub fn validate(mut self) -> Result<Self, ApiError> {
        let mut p = Problems::default();
        p.text("name", Some(&self.name), 100);
        p.text("display_name", self.display_name.as_deref(), 100);
        p.text("description", self.description.as_deref(), 1000);
        self.role_ids = p.ids("role_ids", std::mem::take(&mut self.role_ids), MAX_IDS);
        p.finish()?;
        Ok(self)
    }
}

/// The vendor's `ApiRoleGroupIds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleGroupIdsInput {
    role_group_ids: Option<Vec<String>>,
}

impl RoleGroupIdsInput {
    pub fn validate(self) -> Result<Vec<String>, ApiError> {
        let mut p = Problems::default();
        let Some(list) = self.role_group_ids else {
            return Err(ApiError::bad_request(
                "role_group_ids is required (it may be empty)",
            ));
        };
        let list = p.ids("role_group_ids", list, MAX_IDS);
        p.finish()?;
        Ok(list)
    }
}

/// The vendor's `ApiSetMemberRolesInput`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleIdsInput {
    role_ids: Option<Vec<String>>,
}

impl RoleIdsInput {
    pub fn validate(self) -> Result<Vec<String>, ApiError> {
        let mut p = Problems::default();
        let Some(list) = self.role_ids else {
            return Err(ApiError::bad_request(
                "role_ids is required (it may be empty)",
            ));
        };
        let list = p.ids("role_ids", list, MAX_IDS);
        p.finish()?;
        Ok(list)
    }
}
