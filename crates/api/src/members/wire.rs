//! Members as answered: the Users API's `ApiUser` with the membership's
//! `organization_information` (the spec's inferred `ApiMember`).

use idstore_store::members::Membership;
use idstore_store::users::UserRow;
use serde::Serialize;

use crate::users::wire::ApiUser;

#[derive(Serialize)]
pub struct ApiMember<'a> {
    #[serde(flatten)]
    user: ApiUser<'a>,
    organization_information: OrganizationInformation<'a>,
}

/// The spec's `ApiMemberOrganizationInformation`; absent details are
/// omitted, never null.
#[derive(Serialize)]
struct OrganizationInformation<'a> {
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    department: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manager: Option<&'a str>,
    role_ids: &'a [String],
}

impl<'a> ApiMember<'a> {
    pub fn new(user: &'a UserRow, m: &'a Membership) -> Self {
        Self {
            user: ApiUser::from(user),
            organization_information: OrganizationInformation {
                enabled: m.enabled,
                department: m.department.as_deref(),
                title: m.title.as_deref(),
                manager: m.manager.as_deref(),
                role_ids: &m.role_ids,
            },
        }
    }
}
