//! Permissions as the specs name them, and policies: the any-of lists of
//! grants an operation accepts.
//!
//! Tenant permissions (`users:list`, `apps:read`, ...) reach the whole
//! tenant. `[appId]:x` is permission `x` on the caller's own application:
//! a token carries it as `<its app id>:x`.

/// Every tenant-wide permission a management (admin) client holds.
pub const TENANT_PERMISSIONS: &[&str] = &[
    "users:list",
    "users:read",
    "users:create",
    "users:edit",
    "users:delete",
    "apps:list",
    "apps:read",
    "apps:create",
    "apps:edit",
    "apps:delete",
    "groups:list",
    "groups:read",
    "groups:create",
    "groups:edit",
    "groups:delete",
    "roles:list",
    "roles:read",
    "roles:create",
    "roles:edit",
    "roles:delete",
    "organizations:list",
    "organizations:read",
    "organizations:create",
    "organizations:edit",
    "organizations:delete",
    "orgs:list",
    "orgs:read",
    "orgs:create",
    "orgs:edit",
    "orgs:delete",
    "authenticators:create",
    "authenticators:edit",
    // idstore's own: reading the audit trail.
    "audit:read",
];

/// The actions an application's own client holds on that application.
pub const APP_ACTIONS: &[&str] = &["list", "read", "create", "edit", "delete"];

/// The roles (by name, of the signing-in application, given in the
/// organization) that make a member's token an OrgAdminAccessToken.
pub use idstore_domain::scope::{ORG_ADMIN_ROLE, ORG_CREATOR_ROLE};

/// What an organization's admin holds on its own organization, as
/// `org:<action>`: reading it, and editing it and its members.
pub const ORG_ADMIN_ACTIONS: &[&str] = &["read", "edit"];
/// What a creator holds besides: creating organizations.
pub const ORG_CREATOR_ACTIONS: &[&str] = &["read", "edit", "create"];

/// One way to satisfy a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// A tenant-wide permission, e.g. `users:list`.
    Tenant(&'static str),
    /// `[appId]:action`: the action on the caller's own application.
    OwnApp(&'static str),
    /// `[orgId]:action`: the action on the caller's own organization (an
    /// OrgAdminAccessToken's), confining the operation to it.
    OwnOrg(&'static str),
    /// `[me]`: an end user's own token (UserAccessToken), on itself only.
    Me,
}

impl Grant {
    /// Parses the spec's notation: `[appId]:list` or `users:list`, and
    /// idstore's `[me]` for the `/users/me` operations and `[orgId]:edit`
    /// for an organization admin's.
    pub const fn parse(s: &'static str) -> Grant {
        if starts_with(s, "[me]") && s.len() == 4 {
            Grant::Me
        } else if starts_with(s, "[appId]:") && s.len() > 8 {
            Grant::OwnApp(s.split_at(8).1)
        } else if starts_with(s, "[orgId]:") && s.len() > 8 {
            Grant::OwnOrg(s.split_at(8).1)
        } else {
            Grant::Tenant(s)
        }
    }
}

/// `str::starts_with`, usable in a `const fn`.
const fn starts_with(s: &str, prefix: &str) -> bool {
    let (s, prefix) = (s.as_bytes(), prefix.as_bytes());
    if s.len() < prefix.len() {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if s[i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// What an operation requires. Implemented by zero-sized marker types so
/// that the requirement is part of the handler's signature.
pub trait Policy: 'static {
    /// Any one of these suffices.
    const ANY_OF: &'static [Grant];
    /// Name used in logs and the permission matrix.
    const NAME: &'static str;
}

/// Declares a policy type: `policy!(UsersList = "users:list", "apps:list", "[appId]:list");`
#[macro_export]
macro_rules! policy {
    ($(#[$doc:meta])* $name:ident = $($perm:literal),+ $(,)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl $crate::permission::Policy for $name {
            const ANY_OF: &'static [$crate::permission::Grant] =
                &[$($crate::permission::Grant::parse($perm)),+];
            const NAME: &'static str = stringify!($name);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_notation_parses_into_grants() {
        assert_eq!(Grant::parse("[appId]:list"), Grant::OwnApp("list"));
        assert_eq!(Grant::parse("users:list"), Grant::Tenant("users:list"));
        assert_eq!(Grant::parse("[appId]"), Grant::Tenant("[appId]"));
        assert_eq!(Grant::parse("[me]"), Grant::Me);
        assert_eq!(Grant::parse("[orgId]:edit"), Grant::OwnOrg("edit"));
    }

    policy!(Sample = "users:list", "[appId]:list");

    #[test]
    fn the_policy_macro_keeps_the_spec_order() {
        assert_eq!(
            Sample::ANY_OF,
            &[Grant::Tenant("users:list"), Grant::OwnApp("list")]
        );
        assert_eq!(Sample::NAME, "Sample");
    }
}
