//! The audit trail: who changed what, when, through which request.
//!
//! Every mutating store function records its event itself, in the same
//! transaction as its change, so an event exists exactly when the change
//! was committed. Functions of one statement fold the event into it as a
//! data-modifying CTE ([`audited!`]): no extra round trip on hot paths
//! such as creating a user. Those that own a transaction add one
//! statement to it ([`record`]). The event is written by the Rust code
//! rather than by triggers, because triggers would need the actor passed
//! through a session setting (an extra statement, and a transaction around
//! every single-statement write) and could not tell a verification from
//! an update; and bulk loads (`idstore seed`) would fire them for millions
//! of rows.
//!
//! Events name fields, never their values: the actor and request, an
//! action, the id of what it acted on, the names of the fields that
//! changed and the ids of related resources.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool};

use crate::{StoreError, tenancy};

/// Who acted, and through which request.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// `admin`, `client`, `user`, `org_admin` (a token's kind) or `cli`.
    pub kind: &'static str,
    pub client_id: Option<String>,
    /// The token's `sub`.
    pub subject: Option<String>,
    pub request_id: Option<String>,
    /// `METHOD /route/{pattern}` (never the path: paths carry emails and
    /// phone numbers), or the command that acted.
    pub route: Option<String>,
}

impl Actor {
    /// An operator at the command line, running `command`.
    pub fn cli(command: &str) -> Self {
        Self {
            kind: "cli",
            route: Some(command.to_owned()),
            ..Self::default()
        }
    }
}

/// What was done, as `<subject kind>.<verb>`; the event's subject id
/// names a resource of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    UserCreate,
    UserUpdate,
    UserDelete,
    /// The user's association with the caller's application ended.
    UserAppRemove,
    UserEmailRemove,
    UserPhoneRemove,
    UserEmailVerify,
    UserPhoneVerify,
    /// A password login succeeded.
    UserLogin,
    UserPasswordAdd,
    UserPasswordUpdate,
    /// A user replaced its temporary or expired password to finish a login.
    UserPasswordReset,
    /// An administrator ended a user's login lockout.
    UserUnlock,
    UserDeviceKeyAdd,
    UserDeviceKeyRevoke,
    PasswordPolicyUpdate,
    PasswordPolicyDelete,
    GroupCreate,
    GroupDelete,
    GroupMembersAdd,
    GroupMemberRemove,
    OrganizationCreate,
    OrganizationUpdate,
    OrganizationDelete,
    /// Applications the organization's members may use were added.
    OrganizationAppsAdd,
    OrganizationAppsRemove,
    /// An existing user became a member (a new one is `UserCreate`, naming
    /// the organization).
    MemberAdd,
    MemberUpdate,
    MemberRemove,
    /// A member's roles for one application replaced.
    MemberRolesSet,
    InvitationResend,
    InvitationRevoke,
    /// The invited user followed the link; subject: the invitation.
    InvitationAccept,
    RoleGroupCreate,
    RoleGroupDelete,
    /// An organization's role groups for one application replaced.
    OrganizationRoleGroupsSet,
    ApplicationCreate,
    ApplicationUpdate,
    /// What the application's clients may change about users.
    ApplicationUserPermissionsUpdate,
    ApplicationDelete,
    /// Every client of the application deleted at once.
    ApplicationClientsDelete,
    ClientCreate,
    ClientUpdate,
    ClientDelete,
    ClientSecretRotate,
    RoleCreate,
    RoleDelete,
    SigningKeyRotate,
    /// A token without the permission an operation requires; the subject
    /// is the policy's name.
    AccessDenied,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreate => "user.create",
            Self::UserUpdate => "user.update",
            Self::UserDelete => "user.delete",
            Self::UserAppRemove => "user.app.remove",
            Self::UserEmailRemove => "user.email.remove",
            Self::UserPhoneRemove => "user.phone_number.remove",
            Self::UserEmailVerify => "user.email.verify",
            Self::UserPhoneVerify => "user.phone_number.verify",
            Self::UserLogin => "user.login",
            Self::UserPasswordAdd => "user.password.add",
            Self::UserPasswordUpdate => "user.password.update",
            Self::UserPasswordReset => "user.password.reset",
            Self::UserUnlock => "user.unlock",
            Self::UserDeviceKeyAdd => "user.device_key.add",
            Self::UserDeviceKeyRevoke => "user.device_key.revoke",
            Self::PasswordPolicyUpdate => "password_policy.update",
            Self::PasswordPolicyDelete => "password_policy.delete",
            Self::GroupCreate => "group.create",
            Self::GroupDelete => "group.delete",
            Self::GroupMembersAdd => "group.members.add",
            Self::GroupMemberRemove => "group.member.remove",
            Self::OrganizationCreate => "organization.create",
            Self::OrganizationUpdate => "organization.update",
            Self::OrganizationDelete => "organization.delete",
            Self::OrganizationAppsAdd => "organization.apps.add",
            Self::OrganizationAppsRemove => "organization.apps.remove",
            Self::MemberAdd => "member.add",
            Self::MemberUpdate => "member.update",
            Self::MemberRemove => "member.remove",
            Self::MemberRolesSet => "member.roles.set",
            Self::InvitationResend => "invitation.resend",
            Self::InvitationRevoke => "invitation.revoke",
            Self::InvitationAccept => "invitation.accept",
            Self::RoleGroupCreate => "role_group.create",
            Self::RoleGroupDelete => "role_group.delete",
            Self::OrganizationRoleGroupsSet => "organization.role_groups.set",
            Self::ApplicationCreate => "application.create",
            Self::ApplicationUpdate => "application.update",
            Self::ApplicationUserPermissionsUpdate => "application.user_permissions.update",
            Self::ApplicationDelete => "application.delete",
            Self::ApplicationClientsDelete => "application.clients.delete",
            Self::ClientCreate => "client.create",
            Self::ClientUpdate => "client.update",
            Self::ClientDelete => "client.delete",
            Self::ClientSecretRotate => "client.secret.rotate",
            Self::RoleCreate => "role.create",
            Self::RoleDelete => "role.delete",
            Self::SigningKeyRotate => "signing_key.rotate",
            Self::AccessDenied => "access.denied",
        }
    }
}

/// One event, before it is written.
#[derive(Debug)]
pub struct Event<'a> {
    /// The tenant whose data changed.
    pub tenant_id: &'a str,
    pub actor: &'a Actor,
    pub action: Action,
    pub subject_id: &'a str,
    /// Names of the fields that changed.
    pub changed: Vec<String>,
    /// Ids of related resources, by what they are (`{"app_id": ...}`).
    pub refs: Option<Value>,
}

impl<'a> Event<'a> {
    pub fn new(tenant_id: &'a str, actor: &'a Actor, action: Action, subject_id: &'a str) -> Self {
        Self {
            tenant_id,
            actor,
            action,
            subject_id,
            changed: Vec::new(),
            refs: None,
        }
    }

    pub fn changed(mut self, changed: Vec<String>) -> Self {
        self.changed = changed;
        self
    }

    pub fn refs(mut self, refs: Value) -> Self {
        self.refs = Some(refs);
        self
    }

    /// The event as the one JSON parameter [`audit_insert!`] reads.
    pub(crate) fn param(&self) -> Json<Record<'_>> {
        Json(Record {
            tenant_id: self.tenant_id,
            actor_kind: self.actor.kind,
            actor_client_id: self.actor.client_id.as_deref(),
            actor_subject: self.actor.subject.as_deref(),
            request_id: self.actor.request_id.as_deref(),
            route: self.actor.route.as_deref(),
            action: self.action.as_str(),
            subject_id: self.subject_id,
            changed: &self.changed,
            refs: self.refs.as_ref(),
        })
    }
}

/// The columns of an event as one JSON object: one bind parameter
/// whatever the statement it joins, so the same SQL fragment serves them
/// all.
#[derive(Serialize)]
pub(crate) struct Record<'a> {
    tenant_id: &'a str,
    actor_kind: &'a str,
    actor_client_id: Option<&'a str>,
    actor_subject: Option<&'a str>,
    request_id: Option<&'a str>,
    route: Option<&'a str>,
    action: &'a str,
    subject_id: &'a str,
    changed: &'a [String],
    refs: Option<&'a Value>,
}

/// `INSERT INTO audit_events ...` of the event in JSON parameter `$p`
/// (a literal such as `"$3"`).
macro_rules! audit_insert {
    ($p:literal) => {
        concat!(
            "INSERT INTO audit_events (tenant_id, actor_kind, actor_client_id, actor_subject,
                                       request_id, route, action, subject_id, changed, refs)
             SELECT e.tenant_id, e.actor_kind, e.actor_client_id, e.actor_subject,
                    e.request_id, e.route, e.action, e.subject_id, e.changed, e.refs
               FROM jsonb_to_record(",
            $p,
            "::jsonb) AS e(tenant_id text, actor_kind text, actor_client_id text,
                            actor_subject text, request_id text, route text, action text,
                            subject_id text, changed text[], refs jsonb)"
        )
    };
}
pub(crate) use audit_insert;

/// `$statement` (which must `RETURNING` something) as the CTE `done`,
/// followed by the CTE `ev` recording the event in parameter `$p` when
/// `done` returned a row: the caller appends the final `SELECT ... FROM
/// done`. One statement, so the change and its event commit together
/// even on a bare pool connection, at no extra round trip.
macro_rules! audited {
    ($statement:expr, $p:literal) => {
        concat!(
            "WITH done AS (",
            $statement,
            "), ev AS (",
            $crate::audit::audit_insert!($p),
            " WHERE EXISTS (SELECT 1 FROM done)) "
        )
    };
}
pub(crate) use audited;

/// A `DELETE` (without `RETURNING`) and its event in parameter `$p`, as
/// [`crate::keyed::delete_audited`] runs it: the event is written only
/// when a row was deleted, and the statement answers how many were.
macro_rules! audited_delete {
    ($statement:expr, $p:literal) => {
        concat!(
            $crate::audit::audited!(concat!($statement, " RETURNING 1"), $p),
            "SELECT count(*) FROM done"
        )
    };
}
pub(crate) use audited_delete;

/// Records `event` on `executor`: inside the caller's transaction.
#[tracing::instrument(name = "store.audit.record", skip_all, fields(db.system.name = "postgresql"))]
pub async fn record(executor: impl PgExecutor<'_>, event: &Event<'_>) -> Result<(), StoreError> {
    sqlx::query(audit_insert!("$1"))
        .bind(event.param())
        .execute(executor)
        .await?;
    Ok(())
}

/// Records a refused permission, on its own: nothing is being changed.
/// Best effort: a failure is logged, never returned, so a refusal is
/// answered as a refusal whatever the database does.
#[tracing::instrument(name = "store.audit.record_denial", skip_all, fields(db.system.name = "postgresql"))]
pub async fn record_denial(pool: &PgPool, tenant_id: &str, actor: &Actor, policy: &str) {
    let event = Event::new(tenant_id, actor, Action::AccessDenied, policy);
    let recorded = tenancy::within(pool, tenant_id, async |conn| record(conn, &event).await);
    if let Err(e) = recorded.await {
        tracing::warn!(error = %e, policy, "could not record a permission denial");
    }
}

/// Most keys of one object named one by one (`custom_data.tier`); an
/// object with more changed keys, or with a key that does not look like a
/// field name, is named whole, so that neither the row's size nor a key
/// that is itself a value (an email used as a key) gets into the trail.
const MAX_NAMED_KEYS: usize = 20;
const MAX_KEY_CHARS: usize = 64;

/// The names `field.key` for `keys`, or `field` alone (see [`MAX_NAMED_KEYS`]).
pub fn key_names<'k>(field: &str, keys: impl IntoIterator<Item = &'k String>) -> Vec<String> {
    let keys: Vec<&String> = keys.into_iter().collect();
    let nameable = keys.len() <= MAX_NAMED_KEYS && keys.iter().all(|k| looks_like_a_name(k));
    match (keys.is_empty(), nameable) {
        (true, _) => Vec::new(),
        (false, true) => keys.iter().map(|k| format!("{field}.{k}")).collect(),
        (false, false) => vec![field.to_owned()],
    }
}

/// The keys whose values differ between `before` and `after`, named as
/// [`key_names`] does.
pub fn changed_keys(
    field: &str,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> Vec<String> {
    let mut keys: Vec<&String> = before
        .keys()
        .chain(after.keys().filter(|k| !before.contains_key(*k)))
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    keys.sort();
    key_names(field, keys)
}

/// A letter or `_` first, then letters, digits, `_` or `-`.
fn looks_like_a_name(key: &str) -> bool {
    let mut chars = key.chars();
    key.len() <= MAX_KEY_CHARS
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// An event as read back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEvent {
    pub event_id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_client_id: Option<String>,
    pub actor_subject: Option<String>,
    pub request_id: Option<String>,
    pub route: Option<String>,
    pub action: String,
    pub subject_id: Option<String>,
    pub changed: Vec<String>,
    pub refs: Option<Json<Value>>,
}

macro_rules! columns {
    () => {
        "event_id, occurred_at, actor_kind, actor_client_id, actor_subject, request_id, route, \
         action, subject_id, changed, refs"
    };
}

/// The first transaction id whose events may not all be visible yet: the
/// oldest transaction of this database still running when the statement's
/// snapshot was taken, or the next id to be handed out when none is. Any
/// event of an older transaction is committed (or never will be), so no
/// later commit can add one before the last event a reader was given.
/// Running transactions of other databases (which never write here) are
/// left out, so a long one elsewhere on the server does not hold the trail
/// back; one that `pg_stat_activity` no longer shows (it ended after the
/// snapshot) counts, which errs on the side of waiting.
macro_rules! horizon {
    () => {
        "(SELECT COALESCE(
                   (SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
                     WHERE NOT EXISTS (
                           SELECT 1 FROM pg_stat_activity a
                            WHERE a.backend_xid = x::xid
                              AND a.datid <> (SELECT oid FROM pg_database
                                               WHERE datname = current_database()))),
                   pg_snapshot_xmax(pg_current_snapshot())))"
    };
}

/// Up to `limit` of the tenant's events after the event `after` (from the
/// first when `None`), in the order their transactions began, then by id:
/// paging on with the last id read returns every event exactly once, even
/// while mutations are committing. An `after` that names no event of the
/// tenant is [`StoreError::Invalid`].
#[tracing::instrument(name = "store.audit.list", skip_all, fields(db.system.name = "postgresql"))]
pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEvent>, StoreError> {
    const FIRST: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM audit_events
          WHERE tenant_id = $1 AND txn < ",
        horizon!(),
        " ORDER BY txn, event_id LIMIT $2"
    );
    const AFTER: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM audit_events
          WHERE tenant_id = $1
            AND (txn, event_id) > (SELECT txn, event_id FROM audit_events
                                    WHERE tenant_id = $1 AND event_id = $3)
            AND txn < ",
        horizon!(),
        " ORDER BY txn, event_id LIMIT $2"
    );
    let mut tx = tenancy::begin(pool, tenant_id).await?;
    let Some(after) = after else {
        return Ok(sqlx::query_as(FIRST)
            .bind(tenant_id)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?);
    };
    let events: Vec<AuditEvent> = sqlx::query_as(AFTER)
        .bind(tenant_id)
        .bind(limit)
        .bind(after)
        .fetch_all(&mut *tx)
        .await?;
    // Nothing after it, or no such event: only an empty page asks which.
    if events.is_empty() {
        let known: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM audit_events WHERE tenant_id = $1 AND event_id = $2)",
        )
        .bind(tenant_id)
        .bind(after)
        .fetch_one(&mut *tx)
        .await?;
        if !known {
            return Err(StoreError::Invalid(
                "after names no audit event of this tenant; pass the next_after of an earlier page"
                    .into(),
            ));
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn changed_keys_name_the_keys_whose_values_differ() {
        let before = map(json!({"tier": "gold", "seen": true, "same": 1}));
        let after = map(json!({"seen": false, "same": 1, "new": "x"}));
        assert_eq!(
            changed_keys("custom_data", &before, &after),
            ["custom_data.new", "custom_data.seen", "custom_data.tier"]
        );
        assert!(changed_keys("custom_data", &before, &before).is_empty());
    }

    #[test]
    fn a_key_that_looks_like_a_value_names_the_object_whole() {
        let before = map(json!({}));
        for key in ["ann@example.com", "+12125550100", "12125550100", "a b", ""] {
            let after = map(json!({ key: 1 }));
            assert_eq!(
                changed_keys("custom_data", &before, &after),
                ["custom_data"],
                "{key:?}"
            );
        }
    }

    #[test]
    fn many_changed_keys_name_the_object_whole() {
        let after = Map::from_iter((0..=MAX_NAMED_KEYS).map(|i| (format!("k{i}"), json!(i))));
        assert_eq!(
            changed_keys("custom_data", &Map::new(), &after),
            ["custom_data"]
        );
    }
}
