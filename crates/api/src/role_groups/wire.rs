//! Role groups as answered: the vendor's `ApiRoleGroup`.

use idstore_store::role_groups::RoleGroup;
use serde::Serialize;

use crate::roles::wire::ApiRole;

#[derive(Serialize)]
pub struct ApiRoleGroup<'a> {
    group_id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    roles: Vec<ApiRole<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
}

impl<'a> From<&'a RoleGroup> for ApiRoleGroup<'a> {
    fn from(g: &'a RoleGroup) -> Self {
        Self {
            group_id: &g.group_id,
            name: &g.name,
            description: g.description.as_deref(),
            roles: g.roles.iter().map(ApiRole::from).collect(),
            display_name: g.display_name.as_deref(),
        }
    }
}

/// The vendor's `RoleGroupsAndDefaultOrgRolesDto`: idstore has no default
/// organization roles, so that list is empty.
#[derive(Serialize)]
pub struct AssignedRoleGroups<'a> {
    role_groups: Vec<ApiRoleGroup<'a>>,
    default_organization_roles: [(); 0],
}

impl<'a> AssignedRoleGroups<'a> {
    pub fn of(groups: &'a [RoleGroup]) -> Self {
        Self {
            role_groups: groups.iter().map(ApiRoleGroup::from).collect(),
            default_organization_roles: [],
        }
    }
}
