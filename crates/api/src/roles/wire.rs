//! Roles as answered: the vendor's `ApiRole`.

use idstore_store::roles::Role;
use serde::Serialize;

#[derive(Serialize)]
pub struct ApiRole<'a> {
    role_id: &'a str,
    role_name: &'a str,
    permissions: &'a [String],
    app_id: &'a str,
    description: &'a str,
    display_name: &'a str,
}

impl<'a> From<&'a Role> for ApiRole<'a> {
    fn from(r: &'a Role) -> Self {
        Self {
            role_id: &r.role_id,
            role_name: &r.name,
            permissions: &r.permissions.0,
            app_id: &r.app_id,
            description: r.description.as_deref().unwrap_or_default(),
            // The vendor shows the name where no display name was given.
            display_name: r.display_name.as_deref().unwrap_or(&r.name),
        }
    }
}
