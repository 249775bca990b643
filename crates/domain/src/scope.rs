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
    /// Members of these organizations (org-admin tokens), while `admin`,
    /// the token's user, is still an enabled member holding an admin role
    /// there (for the scope's application): a demotion takes effect at
    /// once, not when the token expires.
    Org { org_ids: Vec<String>, admin: String },
    /// Only this user (user tokens on `/users/me`).
    Me(String),
}

/// The role names (of an application, given in an organization) that make
/// a member its admin, as the vendor names them; a creator may also create
/// organizations.
pub const ORG_ADMIN_ROLE: &str = "organizationAdmin";
pub const ORG_CREATOR_ROLE: &str = "organizationCreator";

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
