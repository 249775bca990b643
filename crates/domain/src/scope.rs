//! Whose data a caller may reach. The token extractor derives a [`Scope`]
//! from the verified token and the operation's policy; store queries take
//! it as an argument and turn it into their predicate, so confinement is
//! part of every query rather than a check after the fetch.

/// A caller's reach inside its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub tenant_id: String,
    /// The application whose view of a user is shown (its own
    /// `custom_app_data`, `app_name`...). For an admin token it is the
    /// management application.
    pub app_id: String,
    pub reach: Reach,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Every user and application of the tenant (admin tokens).
    Tenant,
    /// What belongs to this application (its clients' tokens): lists and
    /// counts cover only users associated with it.
    App(String),
    /// Members of these organizations (org-admin tokens).
    Org(Vec<String>),
    /// Only this user (user tokens on `/users/me`).
    Me(String),
}

impl Scope {
    /// The whole tenant, viewed through `app_id`: what an admin token and
    /// internal jobs (bootstrap, seed) act with.
    pub fn tenant(tenant_id: impl Into<String>, app_id: impl Into<String>) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            app_id: app_id.into(),
            reach: Reach::Tenant,
        }
    }
}
