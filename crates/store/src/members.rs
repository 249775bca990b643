//! Members of organizations: a user's membership of one organization and
//! its details. Every query names the tenant; a caller reaching one
//! application (its client's token) reaches only the organizations that
//! have that application, by a predicate inside each statement.

use chrono::{DateTime, Utc};
use idstore_domain::scope::{ORG_CREATOR_ROLE, Reach, Scope};
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::audit::{self, Action, Actor, Event};
use crate::error::Entity;
use crate::users::{self, AppData, NewUser, UserRow};
use crate::{StoreError, invitations, organizations, role_groups, tenancy};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Membership {
    pub organization_id: String,
    pub user_id: String,
    pub enabled: bool,
    pub department: Option<String>,
    pub title: Option<String>,
    pub manager: Option<String>,
    pub added_at: DateTime<Utc>,
    /// Of every application, by application then id.
    pub role_ids: Vec<String>,
}

macro_rules! columns {
    () => {
        concat!(
            "m.organization_id, m.user_id, m.enabled, m.department, m.title, m.manager, m.added_at,
             ARRAY(SELECT mr.role_id FROM member_roles mr
                    WHERE mr.tenant_id = m.tenant_id AND mr.organization_id = m.organization_id
                      AND mr.user_id = m.user_id AND",
            crate::role_groups::backed!(),
            "ORDER BY mr.app_id, mr.role_id) AS role_ids"
        )
    };
}

/// Membership details a write sets; `None` keeps (or, on creation,
/// leaves unset) the value.
#[derive(Debug, Clone, Default)]
pub struct MemberDetails {
    pub enabled: Option<bool>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub manager: Option<String>,
}

impl MemberDetails {
    fn given(&self) -> Vec<String> {
        [
            ("enabled", self.enabled.is_some()),
            ("department", self.department.is_some()),
            ("title", self.title.is_some()),
            ("manager", self.manager.is_some()),
        ]
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(name, _)| name.to_owned())
        .collect()
    }
}

/// Who a create-or-assign names.
pub enum Member<'a> {
    /// An existing user of the tenant.
    Existing(&'a str),
    /// A user to create.
    New(NewUser<'a>, AppData),
}

/// [`get`] in one statement on the hit path: a member found is answered at
/// once; a miss asks, in a transaction, which of the organization, the
/// membership and the user is missing.
#[tracing::instrument(name = "store.members.get_one", skip_all, fields(db.system.name = "postgresql"))]
pub async fn get_one(
    pool: &PgPool,
    scope: &Scope,
    organization_id: &str,
    user_id: &str,
) -> Result<(UserRow, Membership), StoreError> {
    if let Some(row) = users::get_member(pool, scope, organization_id, user_id).await? {
        let membership = Membership {
            organization_id: organization_id.to_owned(),
            user_id: row.user.user_id.clone(),
            enabled: row.om_enabled,
            department: row.om_department,
            title: row.om_title,
            manager: row.om_manager,
            added_at: row.om_added_at,
            role_ids: row.om_role_ids,
        };
        return Ok((row.user, membership));
    }
    let mut tx = tenancy::begin(pool, &scope.tenant_id).await?;
    let found = get(&mut tx, scope, organization_id, user_id).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(found)
}

/// The membership of `user_id`: [`Entity::Organization`] not found when
/// the scope reaches no such organization, [`Entity::Member`] when the user
/// is not one of its members.
#[tracing::instrument(name = "store.members.get", skip_all, fields(db.system.name = "postgresql"))]
pub async fn get(
    conn: &mut PgConnection,
    scope: &Scope,
    organization_id: &str,
    user_id: &str,
) -> Result<(UserRow, Membership), StoreError> {
    organizations::reachable(conn, scope, organization_id, false).await?;
    let membership = membership(
        &mut *conn,
        &scope.tenant_id,
        organization_id,
        user_id,
        false,
    )
    .await?;
    let user = users::get(&mut *conn, scope, users::Lookup::Id(user_id)).await?;
    Ok((user, membership))
}

async fn membership(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    organization_id: &str,
    user_id: &str,
    lock: bool,
) -> Result<Membership, StoreError> {
    macro_rules! one {
        ($tail:literal) => {
            concat!(
                "SELECT ",
                columns!(),
                " FROM organization_members m
                  WHERE m.tenant_id = $1 AND m.organization_id = $2 AND m.user_id = $3",
                $tail
            )
        };
    }
    // NO KEY UPDATE: it serializes the member's writes without waiting on
    // (or blocking) the key-share locks of rows that refer to it.
    let sql = if lock {
        one!(" FOR NO KEY UPDATE")
    } else {
        one!("")
    };
    sqlx::query_as(sql)
        .bind(tenant_id)
        .bind(organization_id)
        .bind(user_id)
        .fetch_optional(executor)
        .await?
        .ok_or(StoreError::NotFound(Entity::Member))
}

/// Up to `limit` members of the organization in the order they were
/// added, after the member `after` (from the first when `None`), with
/// their users: two statements, whatever the page's size.
#[tracing::instrument(name = "store.members.list", skip_all, fields(db.system.name = "postgresql"))]
pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    organization_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<(UserRow, Membership)>, StoreError> {
    let mut tx = tenancy::begin(pool, &scope.tenant_id).await?;
    organizations::reachable(&mut tx, scope, organization_id, false).await?;
    // Two statement texts, not `$3 IS NULL OR ...`: a prepared statement
    // runs on a generic plan, which could not use the cursor as an index
    // bound and walked the organization from its first member (7-22 ms at
    // 100k members instead of 0.3). The cursor row is found through the
    // user's memberships (`|| ''` keeps the planner off the organization's
    // index, where the user id is no leading column).
    let page: Vec<Membership> = match after {
        None => sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM organization_members m
              WHERE m.tenant_id = $1 AND m.organization_id = $2
              ORDER BY m.added_at, m.user_id LIMIT $3"
        ))
        .bind(&scope.tenant_id)
        .bind(organization_id)
        .bind(limit),
        Some(after) => sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM organization_members m
              WHERE m.tenant_id = $1 AND m.organization_id = $2
                AND (m.added_at, m.user_id) > (
                     SELECT c.added_at, c.user_id FROM organization_members c
                      WHERE c.tenant_id = $1 AND c.user_id = $4
                        AND c.organization_id || '' = $2)
              ORDER BY m.added_at, m.user_id LIMIT $3"
        ))
        .bind(&scope.tenant_id)
        .bind(organization_id)
        .bind(limit)
        .bind(after),
    }
    .fetch_all(&mut *tx)
    .await?;
    if page.is_empty()
        && let Some(after) = after
    {
        // Nothing after it, or no such member: only an empty page asks which.
        membership(&mut *tx, &scope.tenant_id, organization_id, after, false)
            .await
            .map_err(|_| {
                StoreError::Invalid(
                    "after names no member of this organization (removed since?); pass the \
                     x-idstore-next-after of an earlier page, or start again without after"
                        .into(),
                )
            })?;
    }
    let ids: Vec<String> = page.iter().map(|m| m.user_id.clone()).collect();
    let mut found = users::get_many(&mut *tx, scope, &ids).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(page
        .into_iter()
        .filter_map(|m| {
            let i = found.iter().position(|u| u.user_id == m.user_id)?;
            Some((found.swap_remove(i), m))
        })
        .collect())
}

/// What a new membership comes with.
pub struct Joining<'a> {
    pub details: &'a MemberDetails,
    /// Roles of the organization's role groups, of any application.
    pub role_ids: &'a [String],
    /// Invite the member to the organization's applications (by mail).
    pub send_invite: bool,
}

/// Makes `member` a member as `joining` says: an existing user keeps its
/// profile; a new one is created in the same transaction. One event: the
/// user's creation (naming the organization), or the membership's.
/// [`StoreError::Conflict`] on [`crate::Identifier::Member`] when the user
/// is a member already.
#[tracing::instrument(name = "store.members.add", skip_all, fields(db.system.name = "postgresql"))]
pub async fn add(
    pool: &PgPool,
    scope: &Scope,
    organization_id: &str,
    member: Member<'_>,
    joining: &Joining<'_>,
    actor: &Actor,
) -> Result<(UserRow, Membership), StoreError> {
    let Joining {
        details,
        role_ids,
        send_invite,
    } = *joining;
    let mut tx = tenancy::begin(pool, &scope.tenant_id).await?;
    organizations::reachable(&mut tx, scope, organization_id, true).await?;
    let roles =
        role_groups::assignable(&mut tx, &scope.tenant_id, organization_id, None, role_ids).await?;
    admin_may_give(&mut tx, scope, &roles).await?;
    let mut refs = serde_json::json!({ "organization_id": organization_id, "role_ids": role_ids });
    let tenant_wide = Scope {
        reach: match &scope.reach {
            Reach::Org { .. } => Reach::Tenant,
            other => other.clone(),
        },
        ..scope.clone()
    };
    if send_invite {
        refs["send_invite"] = true.into();
    }
    let user = match member {
        // Not a member yet: an organization's admin reaches the user only
        // once it is, so it is made and read with the tenant's reach.
        Member::New(user, app) => {
            users::create_in(&mut tx, &tenant_wide, user, app, actor, refs).await?
        }
        Member::Existing(user_id) => {
            let user = users::get(&mut *tx, &tenant_wide, users::Lookup::Id(user_id)).await?;
            let mut changed = vec!["membership".to_owned()];
            changed.extend(details.given());
            if !role_ids.is_empty() {
                changed.push("role_ids".into());
            }
            let event = Event::new(&scope.tenant_id, actor, Action::MemberAdd, user_id)
                .changed(changed)
                .refs(refs);
            audit::record(&mut *tx, &event).await?;
            user
        }
    };
    let added: Option<String> = sqlx::query_scalar(
        "INSERT INTO organization_members
             (tenant_id, organization_id, user_id, enabled, department, title, manager)
         VALUES ($1, $2, $3, COALESCE($4, true), $5, $6, $7)
         ON CONFLICT DO NOTHING RETURNING user_id",
    )
    .bind(&scope.tenant_id)
    .bind(organization_id)
    .bind(&user.user_id)
    .bind(details.enabled)
    .bind(&details.department)
    .bind(&details.title)
    .bind(&details.manager)
    .fetch_optional(&mut *tx)
    .await?;
    added.ok_or(StoreError::Conflict(crate::Identifier::Member))?;
    insert_roles(
        &mut tx,
        &scope.tenant_id,
        organization_id,
        &user.user_id,
        &roles,
    )
    .await?;
    if send_invite {
        let email = user.email.as_deref().ok_or_else(|| {
            StoreError::Invalid(
                "send_invite: the member has no email address to send the invitation to; give \
                 one, or leave send_invite out"
                    .into(),
            )
        })?;
        invitations::invite(&mut tx, scope, organization_id, &user.user_id, email).await?;
    }
    let membership = membership(
        &mut *tx,
        &scope.tenant_id,
        organization_id,
        &user.user_id,
        false,
    )
    .await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok((user, membership))
}

/// What an organization's admin may not give: roles of another
/// application than the one it signed in to, and organizationCreator
/// (which would let it make itself or others creators).
async fn admin_may_give(
    conn: &mut PgConnection,
    scope: &Scope,
    roles: &[(String, String)],
) -> Result<(), StoreError> {
    if !matches!(scope.reach, Reach::Org { .. }) {
        return Ok(());
    }
    if roles.iter().any(|(app_id, _)| *app_id != scope.app_id) {
        return Err(StoreError::Invalid(
            "role_ids: an organization's admin gives roles of the application it signed in to \
             only"
                .into(),
        ));
    }
    let ids: Vec<String> = roles.iter().map(|(_, id)| id.clone()).collect();
    let creator: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM roles
                         WHERE tenant_id = $1 AND app_id = $2 AND role_id = ANY($3) AND name = $4)",
    )
    .bind(&scope.tenant_id)
    .bind(&scope.app_id)
    .bind(&ids)
    .bind(ORG_CREATOR_ROLE)
    .fetch_one(conn)
    .await?;
    if creator {
        return Err(StoreError::Invalid(format!(
            "role_ids: {ORG_CREATOR_ROLE} is given by the tenant's admins only"
        )));
    }
    Ok(())
}

/// Replaces the member's roles for one application, all or none (an empty
/// list clears them): each must be a role of a role group the organization
/// has for that application, else [`StoreError::Invalid`] names it.
#[tracing::instrument(name = "store.members.set_roles", skip_all, fields(db.system.name = "postgresql"))]
pub async fn set_roles(
    pool: &PgPool,
    scope: &Scope,
    app_id: &str,
    organization_id: &str,
    user_id: &str,
    role_ids: &[String],
    actor: &Actor,
) -> Result<(), StoreError> {
    let tenant_id = &scope.tenant_id;
    let mut tx = tenancy::begin(pool, tenant_id).await?;
    organizations::reachable(&mut tx, scope, organization_id, false).await?;
    // An organization's admin sets the roles of its own application only.
    if matches!(scope.reach, Reach::Org { .. }) && app_id != scope.app_id {
        return Err(StoreError::NotFound(Entity::Application));
    }
    membership(&mut *tx, tenant_id, organization_id, user_id, true).await?;
    let roles =
        role_groups::assignable(&mut tx, tenant_id, organization_id, Some(app_id), role_ids)
            .await?;
    admin_may_give(&mut tx, scope, &roles).await?;
    sqlx::query(
        "DELETE FROM member_roles
          WHERE tenant_id = $1 AND organization_id = $2 AND user_id = $3 AND app_id = $4",
    )
    .bind(tenant_id)
    .bind(organization_id)
    .bind(user_id)
    .bind(app_id)
    .execute(&mut *tx)
    .await?;
    insert_roles(&mut tx, tenant_id, organization_id, user_id, &roles).await?;
    let event = Event::new(tenant_id, actor, Action::MemberRolesSet, user_id)
        .changed(vec!["role_ids".into()])
        .refs(serde_json::json!({
            "organization_id": organization_id, "app_id": app_id, "role_ids": role_ids
        }));
    audit::record(&mut *tx, &event).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(())
}

/// What a token signed in to an organization carries for its member:
/// `None` when the user is not a member or the organization no longer has
/// the application; the names of its roles for the
/// application when the membership is enabled, none when it is disabled.
#[tracing::instrument(name = "store.members.token_roles", skip_all, fields(db.system.name = "postgresql"))]
pub async fn token_roles(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    organization_id: &str,
    user_id: &str,
    app_id: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    Ok(sqlx::query_scalar(concat!(
        "SELECT ARRAY(SELECT r.name FROM member_roles mr
                        JOIN roles r ON r.tenant_id = mr.tenant_id AND r.app_id = mr.app_id
                                    AND r.role_id = mr.role_id
                       WHERE m.enabled AND mr.tenant_id = m.tenant_id
                         AND mr.organization_id = m.organization_id AND mr.user_id = m.user_id
                         AND mr.app_id = $4 AND",
        crate::role_groups::backed!(),
        "ORDER BY r.name)
           FROM organization_members m
          WHERE m.tenant_id = $1 AND m.organization_id = $2 AND m.user_id = $3
            AND EXISTS (SELECT 1 FROM organization_apps oa
                         WHERE oa.tenant_id = m.tenant_id
                           AND oa.organization_id = m.organization_id AND oa.app_id = $4)"
    ))
    .bind(tenant_id)
    .bind(organization_id)
    .bind(user_id)
    .bind(app_id)
    .fetch_optional(executor)
    .await?)
}

/// Gives the member `roles`, each `(app_id, role_id)`.
async fn insert_roles(
    conn: &mut PgConnection,
    tenant_id: &str,
    organization_id: &str,
    user_id: &str,
    roles: &[(String, String)],
) -> Result<(), StoreError> {
    let (apps, ids): (Vec<String>, Vec<String>) = roles.iter().cloned().unzip();
    sqlx::query(
        "INSERT INTO member_roles (tenant_id, organization_id, user_id, app_id, role_id)
         SELECT $1, $2, $3, r.app_id, r.role_id FROM unnest($4::text[], $5::text[]) AS r (app_id, role_id)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(organization_id)
    .bind(user_id)
    .bind(apps)
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Changes what `details` gives of a membership, under a row lock, and
/// records `actor`'s event naming the fields whose values differ.
#[tracing::instrument(name = "store.members.update", skip_all, fields(db.system.name = "postgresql"))]
pub async fn update(
    pool: &PgPool,
    scope: &Scope,
    organization_id: &str,
    user_id: &str,
    details: &MemberDetails,
    actor: &Actor,
) -> Result<(UserRow, Membership), StoreError> {
    let mut tx = tenancy::begin(pool, &scope.tenant_id).await?;
    organizations::reachable(&mut tx, scope, organization_id, false).await?;
    let before = membership(&mut *tx, &scope.tenant_id, organization_id, user_id, true).await?;
    let differs = [
        (
            "enabled",
            details.enabled.is_some_and(|e| e != before.enabled),
        ),
        (
            "department",
            details.department.is_some() && details.department != before.department,
        ),
        (
            "title",
            details.title.is_some() && details.title != before.title,
        ),
        (
            "manager",
            details.manager.is_some() && details.manager != before.manager,
        ),
    ];
    let changed: Vec<String> = differs
        .into_iter()
        .filter(|(_, d)| *d)
        .map(|(name, _)| name.to_owned())
        .collect();
    let after: Membership = sqlx::query_as(concat!(
        "UPDATE organization_members AS m SET
             enabled = COALESCE($4, enabled),
             department = COALESCE($5, department),
             title = COALESCE($6, title),
             manager = COALESCE($7, manager)
          WHERE m.tenant_id = $1 AND m.organization_id = $2 AND m.user_id = $3
          RETURNING ",
        columns!()
    ))
    .bind(&scope.tenant_id)
    .bind(organization_id)
    .bind(user_id)
    .bind(details.enabled)
    .bind(&details.department)
    .bind(&details.title)
    .bind(&details.manager)
    .fetch_one(&mut *tx)
    .await?;
    let event = Event::new(&scope.tenant_id, actor, Action::MemberUpdate, user_id)
        .changed(changed)
        .refs(serde_json::json!({ "organization_id": organization_id }));
    audit::record(&mut *tx, &event).await?;
    let user = users::get(&mut *tx, scope, users::Lookup::Id(user_id)).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok((user, after))
}

/// Ends a membership (the user stays), recording `actor`'s event.
#[tracing::instrument(name = "store.members.delete", skip_all, fields(db.system.name = "postgresql"))]
pub async fn delete(
    pool: &PgPool,
    scope: &Scope,
    organization_id: &str,
    user_id: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    let mut tx = tenancy::begin(pool, &scope.tenant_id).await?;
    organizations::reachable(&mut tx, scope, organization_id, false).await?;
    let done = sqlx::query(
        "DELETE FROM organization_members
          WHERE tenant_id = $1 AND organization_id = $2 AND user_id = $3",
    )
    .bind(&scope.tenant_id)
    .bind(organization_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    crate::error::one_row(done, Entity::Member)?;
    let event = Event::new(&scope.tenant_id, actor, Action::MemberRemove, user_id)
        .changed(vec!["membership".into()])
        .refs(serde_json::json!({ "organization_id": organization_id }));
    audit::record(&mut *tx, &event).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(())
}

/// The user an identifier names, for create-or-assign: the first of
/// `lookups` that finds one. [`StoreError::Invalid`] when two name
/// different users.
#[tracing::instrument(name = "store.members.match_user", skip_all, fields(db.system.name = "postgresql"))]
pub async fn match_user(
    pool: &PgPool,
    scope: &Scope,
    lookups: &[users::Lookup<'_>],
) -> Result<Option<String>, StoreError> {
    let mut tx = tenancy::begin(pool, &scope.tenant_id).await?;
    let tenant_wide = Scope {
        reach: Reach::Tenant,
        ..scope.clone()
    };
    let mut found: Option<String> = None;
    for lookup in lookups {
        match users::get(&mut *tx, &tenant_wide, *lookup).await {
            Ok(user) => match &found {
                Some(id) if *id != user.user_id => {
                    return Err(StoreError::Invalid(
                        "the identifiers given name different users; give those of one".into(),
                    ));
                }
                _ => found = Some(user.user_id),
            },
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(found)
}
