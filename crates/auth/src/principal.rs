//! The caller, as proven by a verified access token.

use std::collections::BTreeSet;

use idstore_domain::scope::{Reach, Scope};

use crate::permission::{APP_ACTIONS, Grant, ORG_CREATOR_ACTIONS, Policy, TENANT_PERMISSIONS};
use crate::token::Claims;

/// The four token kinds of the specs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A management application's client: the whole tenant.
    Admin,
    /// An application's client: that application.
    Client,
    /// An end user after login: `/users/me/*`.
    User,
    /// A user or client confined to its organization(s).
    OrgAdmin,
}

impl TokenKind {
    pub const ALL: [TokenKind; 4] = [Self::Admin, Self::Client, Self::User, Self::OrgAdmin];
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub kind: TokenKind,
    pub tenant_id: String,
    pub app_id: String,
    pub client_id: String,
    /// `sub`: the client id for client tokens, the user id for user tokens.
    pub subject: String,
    pub org_id: Option<String>,
    pub roles: Vec<String>,
    /// `iat`: revocations refuse tokens issued before a point in time.
    pub issued_at: i64,
    permissions: BTreeSet<String>,
}

impl Principal {
    /// The principal a verified token proves, keeping only the permissions
    /// its kind may ever hold, whatever the token says: a client token can
    /// never reach the tenant, a user token holds no management permission.
    pub fn from_claims(claims: Claims) -> Self {
        let permissions = claims
            .scope
            .split_ascii_whitespace()
            .filter(|p| Self::within_ceiling(claims.kind, &claims.app_id, p))
            .map(str::to_owned)
            .collect();
        Self {
            kind: claims.kind,
            tenant_id: claims.tid,
            app_id: claims.app_id,
            client_id: claims.client_id,
            subject: claims.sub,
            org_id: claims.org_id,
            roles: claims.roles,
            issued_at: claims.iat,
            permissions,
        }
    }

    /// The permissions a token of `kind` for `app_id` is issued with.
    pub fn ceiling(kind: TokenKind, app_id: &str) -> BTreeSet<String> {
        match kind {
            TokenKind::Admin => TENANT_PERMISSIONS.iter().map(|p| (*p).to_owned()).collect(),
            TokenKind::Client => APP_ACTIONS
                .iter()
                .map(|a| format!("{app_id}:{a}"))
                .collect(),
            TokenKind::OrgAdmin => ORG_CREATOR_ACTIONS
                .iter()
                .map(|a| format!("org:{a}"))
                .collect(),
            TokenKind::User => BTreeSet::new(),
        }
    }

    /// Whether a token of `kind` for `app_id` may hold `permission`; the
    /// same rule as [`Principal::ceiling`], without building the set (this
    /// runs on every request).
    fn within_ceiling(kind: TokenKind, app_id: &str, permission: &str) -> bool {
        match kind {
            TokenKind::Admin => TENANT_PERMISSIONS.contains(&permission),
            TokenKind::Client => permission
                .strip_prefix(app_id)
                .and_then(|rest| rest.strip_prefix(':'))
                .is_some_and(|action| APP_ACTIONS.contains(&action)),
            TokenKind::OrgAdmin => permission
                .strip_prefix("org:")
                .is_some_and(|action| ORG_CREATOR_ACTIONS.contains(&action)),
            TokenKind::User => false,
        }
    }

    /// The `scope` claim for a fresh token of this kind.
    pub fn scope_for(kind: TokenKind, app_id: &str) -> String {
        Self::ceiling(kind, app_id)
            .into_iter()
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn has(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }

    /// The scope the first grant of `P` this principal holds gives it;
    /// `None` when it holds none.
    pub fn authorize<P: Policy>(&self) -> Option<Scope> {
        let reach = P::ANY_OF.iter().find_map(|grant| match grant {
            Grant::Tenant(p) if self.has(p) => Some(Reach::Tenant),
            Grant::OwnApp(action) if self.has_own_app(action) => {
                Some(Reach::App(self.app_id.clone()))
            }
            Grant::OwnOrg(action) if self.has_own_org(action) => Some(Reach::Org {
                org_ids: vec![self.org_id.clone()?],
                admin: self.subject.clone(),
            }),
            // An org admin's token is its user's token too.
            Grant::Me if matches!(self.kind, TokenKind::User | TokenKind::OrgAdmin) => {
                Some(Reach::Me(self.subject.clone()))
            }
            _ => None,
        })?;
        Some(Scope {
            tenant_id: self.tenant_id.clone(),
            app_id: self.app_id.clone(),
            reach,
        })
    }

    /// Whether an OrgAdminAccessToken with an organization holds
    /// `org:<action>`.
    fn has_own_org(&self, action: &str) -> bool {
        self.kind == TokenKind::OrgAdmin
            && self.org_id.is_some()
            && self
                .permissions
                .iter()
                .any(|p| p.strip_prefix("org:") == Some(action))
    }

    /// Whether the principal holds `<its app id>:<action>`, without
    /// building the string (this runs on every request).
    fn has_own_app(&self, action: &str) -> bool {
        self.permissions.iter().any(|p| {
            p.strip_prefix(self.app_id.as_str())
                .and_then(|rest| rest.strip_prefix(':'))
                == Some(action)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy;

    policy!(UsersList = "users:list", "apps:list", "[appId]:list");
    policy!(UsersDelete = "users:delete");

    fn reach<P: Policy>(p: &Principal) -> Option<Reach> {
        p.authorize::<P>().map(|scope| {
            assert_eq!(
                (scope.tenant_id.as_str(), scope.app_id.as_str()),
                ("t1", "app1")
            );
            scope.reach
        })
    }

    fn principal(kind: TokenKind, scope: &str) -> Principal {
        Principal::from_claims(Claims {
            iss: "https://idstore.test".into(),
            sub: "c1".into(),
            aud: "https://idstore.test".into(),
            iat: 0,
            exp: 0,
            nbf: None,
            jti: "j".into(),
            tid: "t1".into(),
            app_id: "app1".into(),
            client_id: "c1".into(),
            roles: vec![],
            scope: scope.into(),
            org_id: None,
            kind,
        })
    }

    #[test]
    fn an_admin_reaches_the_tenant() {
        let p = principal(
            TokenKind::Admin,
            &Principal::scope_for(TokenKind::Admin, "app1"),
        );
        assert_eq!(reach::<UsersList>(&p), Some(Reach::Tenant));
        assert_eq!(reach::<UsersDelete>(&p), Some(Reach::Tenant));
    }

    #[test]
    fn a_client_reaches_only_its_own_app() {
        let p = principal(
            TokenKind::Client,
            &Principal::scope_for(TokenKind::Client, "app1"),
        );
        assert_eq!(reach::<UsersList>(&p), Some(Reach::App("app1".into())));
        assert_eq!(p.authorize::<UsersDelete>(), None);
    }

    #[test]
    fn a_client_token_claiming_tenant_permissions_gets_none_of_them() {
        let p = principal(TokenKind::Client, "users:list users:delete app2:list");
        assert_eq!(p.authorize::<UsersList>(), None);
        assert_eq!(p.authorize::<UsersDelete>(), None);
    }

    #[test]
    fn the_fast_ceiling_check_agrees_with_the_ceiling_set() {
        let candidates = Principal::scope_for(TokenKind::Admin, "app1")
            + " "
            + &Principal::scope_for(TokenKind::Client, "app1")
            + " app2:list app1:drop app1 app1: :list";
        for kind in TokenKind::ALL {
            let set = Principal::ceiling(kind, "app1");
            for p in candidates.split(' ') {
                assert_eq!(
                    Principal::within_ceiling(kind, "app1", p),
                    set.contains(p),
                    "{kind:?} {p}"
                );
            }
        }
    }

    policy!(Myself = "[me]");

    #[test]
    fn only_a_user_token_reaches_itself() {
        // An org admin's token is its user's token too.
        for kind in [TokenKind::User, TokenKind::OrgAdmin] {
            let user = principal(kind, "");
            assert_eq!(reach::<Myself>(&user), Some(Reach::Me("c1".into())));
        }
        for kind in [TokenKind::Admin, TokenKind::Client] {
            let p = principal(kind, &Principal::scope_for(kind, "app1"));
            assert_eq!(p.authorize::<Myself>(), None, "{kind:?}");
        }
    }

    policy!(OrgMembers = "organizations:edit", "[orgId]:edit");

    #[test]
    fn an_org_admin_reaches_its_own_organization_only() {
        let mut admin = principal(TokenKind::OrgAdmin, "org:read org:edit users:delete");
        assert_eq!(reach::<OrgMembers>(&admin), None, "no organization named");
        admin.org_id = Some("o1".into());
        assert_eq!(
            reach::<OrgMembers>(&admin),
            Some(Reach::Org {
                org_ids: vec!["o1".into()],
                admin: "c1".into()
            })
        );
        assert!(!admin.has("users:delete"), "beyond an org admin's ceiling");
        assert!(!admin.has("organizations:edit"));
        // The same scope in another kind of token gives nothing.
        let mut client = principal(TokenKind::Client, "org:read org:edit");
        client.org_id = Some("o1".into());
        assert_eq!(reach::<OrgMembers>(&client), None);
    }

    #[test]
    fn user_tokens_hold_no_management_permission() {
        let p = principal(
            TokenKind::User,
            &Principal::scope_for(TokenKind::Admin, "app1"),
        );
        assert_eq!(p.authorize::<UsersList>(), None);
    }
}
