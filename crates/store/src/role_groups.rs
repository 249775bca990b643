//! Role groups: an application's roles bundled, and the groups attached to
//! an organization for that application. A member may hold the roles of
//! its organization's groups, and only those.

use chrono::{DateTime, Utc};
use idstore_domain::scope::Scope;
use sqlx::{PgConnection, PgPool};

use crate::audit::{self, Action, Actor, Event, audited_delete};
use crate::error::Entity;
use crate::groups::missing_ids as missing;
use crate::roles::Role;
use crate::{StoreError, keyed, organizations, tenancy};

/// The condition a member's role `mr` (of `member_roles`) must meet to
/// count: a role group the organization has for the application gives it.
/// Reads apply it, so a role a racing detach left behind grants nothing.
macro_rules! backed {
    () => {
        " EXISTS (SELECT 1 FROM organization_role_groups og
                    JOIN role_group_roles gr
                      ON gr.tenant_id = og.tenant_id AND gr.app_id = og.app_id
                     AND gr.group_id = og.group_id
                   WHERE og.tenant_id = mr.tenant_id AND og.organization_id = mr.organization_id
                     AND og.app_id = mr.app_id AND gr.role_id = mr.role_id) "
    };
}
pub(crate) use backed;

#[derive(Debug, Clone)]
pub struct RoleGroup {
    pub app_id: String,
    pub group_id: String,
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    /// By name.
    pub roles: Vec<Role>,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    app_id: String,
    group_id: String,
    name: String,
    display_name: Option<String>,
    description: Option<String>,
    created_at: DateTime<Utc>,
}

/// A role of a group, as read with its group's id.
#[derive(sqlx::FromRow)]
struct GroupRole {
    group_id: String,
    #[sqlx(flatten)]
    role: Role,
}

pub struct NewRoleGroup<'a> {
    pub tenant_id: &'a str,
    pub app_id: &'a str,
    pub group_id: &'a str,
    pub name: &'a str,
    pub display_name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub role_ids: &'a [String],
}

/// Creates a role group of the application's roles and records `actor`'s
/// event, in one transaction. A name the application's groups use is a
/// conflict on [`crate::Identifier::RoleGroupName`]; a role the application
/// does not have is [`StoreError::Invalid`], naming it.
#[tracing::instrument(name = "store.role_groups.create", skip_all, fields(db.system.name = "postgresql"))]
pub async fn create(
    pool: &PgPool,
    g: NewRoleGroup<'_>,
    actor: &Actor,
) -> Result<RoleGroup, StoreError> {
    let mut tx = tenancy::begin(pool, g.tenant_id).await?;
    require_roles(&mut tx, g.tenant_id, g.app_id, g.role_ids).await?;
    sqlx::query(
        "INSERT INTO role_groups (tenant_id, app_id, group_id, name, display_name, description)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(g.tenant_id)
    .bind(g.app_id)
    .bind(g.group_id)
    .bind(g.name)
    .bind(g.display_name)
    .bind(g.description)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO role_group_roles (tenant_id, app_id, group_id, role_id)
         SELECT $1, $2, $3, id FROM unnest($4::text[]) AS id ON CONFLICT DO NOTHING",
    )
    .bind(g.tenant_id)
    .bind(g.app_id)
    .bind(g.group_id)
    .bind(g.role_ids)
    .execute(&mut *tx)
    .await?;
    let given = [
        ("name", true),
        ("display_name", g.display_name.is_some()),
        ("description", g.description.is_some()),
        ("roles", true),
    ];
    let changed = given
        .iter()
        .filter(|(_, given)| *given)
        .map(|(name, _)| (*name).to_owned())
        .collect();
    let event = Event::new(g.tenant_id, actor, Action::RoleGroupCreate, g.group_id)
        .changed(changed)
        .refs(serde_json::json!({ "app_id": g.app_id, "role_ids": g.role_ids }));
    audit::record(&mut *tx, &event).await?;
    let mut created = with_roles(&mut tx, g.tenant_id, g.app_id, &[g.group_id.to_owned()]).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    created.pop().ok_or(StoreError::NotFound(Entity::RoleGroup))
}

/// The application's role groups, by name.
#[tracing::instrument(name = "store.role_groups.list", skip_all, fields(db.system.name = "postgresql"))]
pub async fn list(
    conn: &mut PgConnection,
    tenant_id: &str,
    app_id: &str,
) -> Result<Vec<RoleGroup>, StoreError> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT group_id FROM role_groups WHERE tenant_id = $1 AND app_id = $2")
            .bind(tenant_id)
            .bind(app_id)
            .fetch_all(&mut *conn)
            .await?;
    with_roles(conn, tenant_id, app_id, &ids).await
}

/// Deletes a role group; the organizations that had it lose it, and their
/// members the roles only it gave them. `actor`'s event is in the same
/// statement.
#[tracing::instrument(name = "store.role_groups.delete", skip_all, fields(db.system.name = "postgresql"))]
pub async fn delete(
    pool: &PgPool,
    tenant_id: &str,
    app_id: &str,
    group_id: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    const SQL: &str = audited_delete!(
        "DELETE FROM role_groups WHERE tenant_id = $1 AND app_id = $2 AND group_id = $3",
        "$4"
    );
    let event = Event::new(tenant_id, actor, Action::RoleGroupDelete, group_id)
        .refs(serde_json::json!({ "app_id": app_id }));
    let mut tx = tenancy::begin(pool, tenant_id).await?;
    keyed::delete_audited(
        &mut *tx,
        SQL,
        &[tenant_id, app_id, group_id],
        Entity::RoleGroup,
        &event,
    )
    .await?;
    drop_unbacked_roles(&mut tx, tenant_id, None, app_id).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(())
}

/// Replaces the role groups the organization has for the application (an
/// empty list clears them); members lose the roles no group backs any
/// more. [`StoreError::Invalid`] names groups the application does not
/// have, or says the organization lacks the application.
#[tracing::instrument(name = "store.role_groups.set_for_organization", skip_all, fields(db.system.name = "postgresql"))]
pub async fn set_for_organization(
    pool: &PgPool,
    scope: &Scope,
    app_id: &str,
    organization_id: &str,
    group_ids: &[String],
    actor: &Actor,
) -> Result<(), StoreError> {
    let tenant_id = &scope.tenant_id;
    let mut tx = tenancy::begin(pool, tenant_id).await?;
    organizations::reachable(&mut tx, scope, organization_id, true).await?;
    // The organization's link to the application, locked: concurrent
    // replacements of its role groups run one after the other.
    let has_app = sqlx::query(
        "SELECT 1 FROM organization_apps
          WHERE tenant_id = $1 AND organization_id = $2 AND app_id = $3 FOR NO KEY UPDATE",
    )
    .bind(tenant_id)
    .bind(organization_id)
    .bind(app_id)
    .fetch_optional(&mut *tx)
    .await?
    .is_some();
    if !has_app {
        return Err(StoreError::Invalid(
            "the organization does not have this application; add it to the organization first"
                .into(),
        ));
    }
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT group_id FROM role_groups
          WHERE tenant_id = $1 AND app_id = $2 AND group_id = ANY($3) FOR KEY SHARE",
    )
    .bind(tenant_id)
    .bind(app_id)
    .bind(group_ids)
    .fetch_all(&mut *tx)
    .await?;
    let missing = missing(group_ids, &found);
    if !missing.is_empty() {
        return Err(StoreError::Invalid(format!(
            "role_group_ids names no role group of this application: {}",
            missing.join(", ")
        )));
    }
    sqlx::query(
        "DELETE FROM organization_role_groups
          WHERE tenant_id = $1 AND organization_id = $2 AND app_id = $3",
    )
    .bind(tenant_id)
    .bind(organization_id)
    .bind(app_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO organization_role_groups (tenant_id, organization_id, app_id, group_id)
         SELECT $1, $2, $3, id FROM unnest($4::text[]) AS id ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(organization_id)
    .bind(app_id)
    .bind(group_ids)
    .execute(&mut *tx)
    .await?;
    drop_unbacked_roles(&mut tx, tenant_id, Some(organization_id), app_id).await?;
    let event = Event::new(
        tenant_id,
        actor,
        Action::OrganizationRoleGroupsSet,
        organization_id,
    )
    .changed(vec!["role_groups".into()])
    .refs(serde_json::json!({ "app_id": app_id, "role_group_ids": group_ids }));
    audit::record(&mut *tx, &event).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(())
}

/// The role groups the organization has for the application, by name.
#[tracing::instrument(name = "store.role_groups.of_organization", skip_all, fields(db.system.name = "postgresql"))]
pub async fn of_organization(
    conn: &mut PgConnection,
    scope: &Scope,
    app_id: &str,
    organization_id: &str,
) -> Result<Vec<RoleGroup>, StoreError> {
    organizations::reachable(conn, scope, organization_id, false).await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT group_id FROM organization_role_groups
          WHERE tenant_id = $1 AND organization_id = $2 AND app_id = $3",
    )
    .bind(&scope.tenant_id)
    .bind(organization_id)
    .bind(app_id)
    .fetch_all(&mut *conn)
    .await?;
    with_roles(conn, &scope.tenant_id, app_id, &ids).await
}

/// `(app_id, role_id)` of each of `role_ids` the organization's role groups
/// give (of `app_id` only, when given); [`StoreError::Invalid`] naming
/// those they do not.
pub(crate) async fn assignable(
    conn: &mut PgConnection,
    tenant_id: &str,
    organization_id: &str,
    app_id: Option<&str>,
    role_ids: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    // No lock: a detach racing this write may leave a role behind, which
    // `backed!` keeps out of every answer and token until it is cleaned.
    let mut found: Vec<(String, String)> = sqlx::query_as(
        "SELECT gr.app_id, gr.role_id
           FROM organization_role_groups og
           JOIN role_group_roles gr
             ON gr.tenant_id = og.tenant_id AND gr.app_id = og.app_id AND gr.group_id = og.group_id
          WHERE og.tenant_id = $1 AND og.organization_id = $2
            AND ($3::text IS NULL OR og.app_id = $3) AND gr.role_id = ANY($4)
          ORDER BY gr.app_id, gr.role_id",
    )
    .bind(tenant_id)
    .bind(organization_id)
    .bind(app_id)
    .bind(role_ids)
    .fetch_all(&mut *conn)
    .await?;
    found.dedup();
    let ids: Vec<String> = found.iter().map(|(_, r)| r.clone()).collect();
    let missing = missing(role_ids, &ids);
    if !missing.is_empty() {
        return Err(StoreError::Invalid(format!(
            "role_ids: not a role of a role group the organization has for the application: {}; \
             attach a role group with it first",
            missing.join(", ")
        )));
    }
    Ok(found)
}

/// Takes from members the roles of `app_id` no role group of their
/// organization (of `organization_id` only, when given) gives any more.
async fn drop_unbacked_roles(
    conn: &mut PgConnection,
    tenant_id: &str,
    organization_id: Option<&str>,
    app_id: &str,
) -> Result<(), StoreError> {
    // Two texts: `$3 IS NULL OR ...` would keep a prepared statement's
    // generic plan off the organization's index.
    macro_rules! unbacked {
        ($org:literal) => {
            concat!(
                "DELETE FROM member_roles mr
                  WHERE mr.tenant_id = $1 AND mr.app_id = $2",
                $org,
                " AND NOT EXISTS (
                    SELECT 1 FROM organization_role_groups og
                      JOIN role_group_roles gr
                        ON gr.tenant_id = og.tenant_id AND gr.app_id = og.app_id
                       AND gr.group_id = og.group_id
                     WHERE og.tenant_id = mr.tenant_id AND og.organization_id = mr.organization_id
                       AND og.app_id = mr.app_id AND gr.role_id = mr.role_id)"
            )
        };
    }
    match organization_id {
        Some(org) => sqlx::query(unbacked!(" AND mr.organization_id = $3"))
            .bind(tenant_id)
            .bind(app_id)
            .bind(org),
        None => sqlx::query(unbacked!("")).bind(tenant_id).bind(app_id),
    }
    .execute(conn)
    .await?;
    Ok(())
}

/// [`StoreError::Invalid`] naming the ids of `role_ids` the application
/// has no role of; the others are key-share locked until the transaction
/// ends.
async fn require_roles(
    conn: &mut PgConnection,
    tenant_id: &str,
    app_id: &str,
    role_ids: &[String],
) -> Result<(), StoreError> {
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT role_id FROM roles
          WHERE tenant_id = $1 AND app_id = $2 AND role_id = ANY($3) FOR KEY SHARE",
    )
    .bind(tenant_id)
    .bind(app_id)
    .bind(role_ids)
    .fetch_all(&mut *conn)
    .await?;
    let missing = missing(role_ids, &found);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "role_ids names no role of this application: {}",
            missing.join(", ")
        )))
    }
}

/// The groups `group_ids` of the application with their roles, by name
/// (two statements, whatever their number).
async fn with_roles(
    conn: &mut PgConnection,
    tenant_id: &str,
    app_id: &str,
    group_ids: &[String],
) -> Result<Vec<RoleGroup>, StoreError> {
    let groups: Vec<GroupRow> = sqlx::query_as(
        "SELECT app_id, group_id, name, display_name, description, created_at FROM role_groups
          WHERE tenant_id = $1 AND app_id = $2 AND group_id = ANY($3) ORDER BY name",
    )
    .bind(tenant_id)
    .bind(app_id)
    .bind(group_ids)
    .fetch_all(&mut *conn)
    .await?;
    let roles: Vec<GroupRole> = sqlx::query_as(
        "SELECT gr.group_id, r.tenant_id, r.app_id, r.role_id, r.name, r.display_name,
                r.description, r.permissions, r.created_at, r.updated_at
           FROM role_group_roles gr
           JOIN roles r ON r.tenant_id = gr.tenant_id AND r.app_id = gr.app_id AND r.role_id = gr.role_id
          WHERE gr.tenant_id = $1 AND gr.app_id = $2 AND gr.group_id = ANY($3)
          ORDER BY r.name",
    )
    .bind(tenant_id)
    .bind(app_id)
    .bind(group_ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(groups
        .into_iter()
        .map(|g| RoleGroup {
            roles: roles
                .iter()
                .filter(|r| r.group_id == g.group_id)
                .map(|r| r.role.clone())
                .collect(),
            app_id: g.app_id,
            group_id: g.group_id,
            name: g.name,
            display_name: g.display_name,
            description: g.description,
            created_at: g.created_at,
        })
        .collect())
}
