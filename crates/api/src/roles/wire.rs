//! Roles as answered.

use idstore_store::roles::Role;
use serde::Serialize;

use crate::input::millis;

#[derive(Serialize)]
pub struct ApiRole<'a> {
    role_id: &'a str,
    app_id: &'a str,
    name: &'a str,
    description: Option<&'a str>,
    permissions: &'a [String],
    created_at: i64,
    updated_at: i64,
}

impl<'a> From<&'a Role> for ApiRole<'a> {
    fn from(r: &'a Role) -> Self {
        Self {
            role_id: &r.role_id,
            app_id: &r.app_id,
            name: &r.name,
            description: r.description.as_deref(),
            permissions: &r.permissions.0,
            created_at: millis(r.created_at),
            updated_at: millis(r.updated_at),
        }
    }
}
