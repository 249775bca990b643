//! Organizations of a tenant and the applications their members may use.
//! Every query names the tenant.

use chrono::{DateTime, Utc};
use idstore_domain::scope::{ORG_ADMIN_ROLE, ORG_CREATOR_ROLE, Reach, Scope};
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};

use crate::audit::{self, Action, Actor, Event, audited_delete};
use crate::error::Entity;
use crate::{StoreError, keyed, tenancy};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Organization {
    pub organization_id: String,
    pub name: String,
    pub domains: Vec<String>,
    pub enabled: bool,
    pub alias_name: Option<String>,
    /// In the order they were added.
    pub app_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The organization's columns and its applications, from `organizations o`.
macro_rules! columns {
    () => {
        "o.organization_id, o.name, o.domains, o.enabled, o.alias_name, o.created_at, o.updated_at,
         ARRAY(SELECT a.app_id FROM organization_apps a
                WHERE a.tenant_id = o.tenant_id AND a.organization_id = o.organization_id
                ORDER BY a.created_at, a.app_id) AS app_ids"
    };
}

pub struct NewOrganization<'a> {
    pub tenant_id: &'a str,
    pub organization_id: &'a str,
    pub name: &'a str,
    pub domains: &'a [String],
    pub enabled: bool,
    pub alias_name: Option<&'a str>,
    pub app_ids: &'a [String],
    /// An organization creator's user, who becomes the new organization's
    /// admin for its application.
    pub creator: Option<Creator<'a>>,
}

/// Who creates an organization with an OrgAdminAccessToken.
#[derive(Debug, Clone, Copy)]
pub struct Creator<'a> {
    pub user_id: &'a str,
    /// The application the creator signed in to: the organization gets it.
    pub app_id: &'a str,
    /// The name of the application's role that makes its holder the
    /// organization's admin.
    pub admin_role: &'a str,
}

/// What an update changes; `None` keeps the stored value.
#[derive(Debug, Default)]
pub struct OrganizationChanges<'a> {
    pub name: Option<&'a str>,
    pub domains: Option<&'a [String]>,
    /// Put first in the domains (the others stay).
    pub first_domain: Option<&'a str>,
    pub enabled: Option<bool>,
    pub alias_name: Option<&'a str>,
}

/// Creates an organization with its applications and records `actor`'s
/// event, in one transaction. A name already used in the tenant is a
/// conflict on [`crate::Identifier::OrganizationName`]; an application the
/// tenant does not have is [`StoreError::Invalid`], naming it.
#[tracing::instrument(name = "store.organizations.create", skip_all, fields(db.system.name = "postgresql"))]
pub async fn create(
    pool: &PgPool,
    org: NewOrganization<'_>,
    actor: &Actor,
) -> Result<Organization, StoreError> {
    let mut tx = tenancy::begin(pool, org.tenant_id).await?;
    require_apps(&mut tx, org.tenant_id, org.app_ids).await?;
    sqlx::query(
        "INSERT INTO organizations (tenant_id, organization_id, name, domains, enabled, alias_name)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(org.tenant_id)
    .bind(org.organization_id)
    .bind(org.name)
    .bind(org.domains)
    .bind(org.enabled)
    .bind(org.alias_name)
    .execute(&mut *tx)
    .await?;
    insert_apps(&mut tx, org.tenant_id, org.organization_id, org.app_ids).await?;
    if let Some(creator) = org.creator {
        make_admin(&mut tx, org.tenant_id, org.organization_id, creator).await?;
    }
    let mut changed: Vec<String> = ["name", "domains", "enabled", "app_ids"]
        .map(String::from)
        .into();
    if org.alias_name.is_some() {
        changed.push("alias_name".into());
    }
    let event = Event::new(
        org.tenant_id,
        actor,
        Action::OrganizationCreate,
        org.organization_id,
    )
    .changed(changed);
    audit::record(&mut *tx, &event).await?;
    let created = get(&mut *tx, org.tenant_id, org.organization_id).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(created)
}

/// Makes `creator` the new organization's admin: the organization gets the
/// creator's application and that application's first role group holding
/// its admin role, and the creator that role as a member.
async fn make_admin(
    conn: &mut PgConnection,
    tenant_id: &str,
    organization_id: &str,
    creator: Creator<'_>,
) -> Result<(), StoreError> {
    let admin: Option<(String, String)> = sqlx::query_as(
        "SELECT r.role_id, gr.group_id FROM roles r
           JOIN role_group_roles gr ON gr.tenant_id = r.tenant_id AND gr.app_id = r.app_id
                                   AND gr.role_id = r.role_id
          WHERE r.tenant_id = $1 AND r.app_id = $2 AND r.name = $3
          ORDER BY gr.group_id LIMIT 1",
    )
    .bind(tenant_id)
    .bind(creator.app_id)
    .bind(creator.admin_role)
    .fetch_optional(&mut *conn)
    .await?;
    let (role_id, group_id) = admin.ok_or_else(|| {
        StoreError::Invalid(format!(
            "the application has no role group with a role named {}, which would make you the \
             new organization's admin; ask a tenant admin to create one",
            creator.admin_role
        ))
    })?;
    sqlx::query(
        "INSERT INTO organization_apps (tenant_id, organization_id, app_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(organization_id)
    .bind(creator.app_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO organization_role_groups (tenant_id, organization_id, app_id, group_id)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(tenant_id)
    .bind(organization_id)
    .bind(creator.app_id)
    .bind(&group_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO organization_members (tenant_id, organization_id, user_id)
         VALUES ($1, $2, $3)",
    )
    .bind(tenant_id)
    .bind(organization_id)
    .bind(creator.user_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO member_roles (tenant_id, organization_id, user_id, app_id, role_id)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant_id)
    .bind(organization_id)
    .bind(creator.user_id)
    .bind(creator.app_id)
    .bind(&role_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The tenant's organizations by name, or only the one named `name`.
#[tracing::instrument(name = "store.organizations.list", skip_all, fields(db.system.name = "postgresql"))]
pub async fn list(
    executor: impl PgExecutor<'_>,
    scope: &Scope,
    name: Option<&str>,
) -> Result<Vec<Organization>, StoreError> {
    let mut qb = QueryBuilder::new(concat!(
        "SELECT ",
        columns!(),
        " FROM organizations o WHERE o.tenant_id = "
    ));
    qb.push_bind(scope.tenant_id.clone());
    if let Some(name) = name {
        qb.push(" AND o.name = ").push_bind(name.to_owned());
    }
    reach(&mut qb, scope);
    qb.push(" ORDER BY o.name");
    Ok(qb.build_query_as().fetch_all(executor).await?)
}

/// The organization `organization_id` when the scope reaches it.
#[tracing::instrument(name = "store.organizations.get_reached", skip_all, fields(db.system.name = "postgresql"))]
pub async fn get_reached(
    executor: impl PgExecutor<'_>,
    scope: &Scope,
    organization_id: &str,
) -> Result<Organization, StoreError> {
    one_reached(
        executor,
        scope,
        " AND o.organization_id = ",
        organization_id,
    )
    .await
}

/// The organization named `name` when the scope reaches it.
#[tracing::instrument(name = "store.organizations.get_by_name", skip_all, fields(db.system.name = "postgresql"))]
pub async fn get_by_name(
    executor: impl PgExecutor<'_>,
    scope: &Scope,
    name: &str,
) -> Result<Organization, StoreError> {
    one_reached(executor, scope, " AND o.name = ", name).await
}

async fn one_reached(
    executor: impl PgExecutor<'_>,
    scope: &Scope,
    condition: &'static str,
    value: &str,
) -> Result<Organization, StoreError> {
    let mut qb = QueryBuilder::new(concat!(
        "SELECT ",
        columns!(),
        " FROM organizations o WHERE o.tenant_id = "
    ));
    qb.push_bind(scope.tenant_id.clone())
        .push(condition)
        .push_bind(value.to_owned());
    reach(&mut qb, scope);
    qb.build_query_as()
        .fetch_optional(executor)
        .await?
        .ok_or(StoreError::NotFound(Entity::Organization))
}

#[tracing::instrument(name = "store.organizations.get", skip_all, fields(db.system.name = "postgresql"))]
pub async fn get(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    organization_id: &str,
) -> Result<Organization, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM organizations o WHERE o.tenant_id = $1 AND o.organization_id = $2"
    );
    keyed::get(
        executor,
        SQL,
        &[tenant_id, organization_id],
        Entity::Organization,
    )
    .await
}

/// Changes what `changes` gives, under a row lock, and records `actor`'s
/// event naming the fields whose values differ.
#[tracing::instrument(name = "store.organizations.update", skip_all, fields(db.system.name = "postgresql"))]
pub async fn update(
    pool: &PgPool,
    scope: &Scope,
    organization_id: &str,
    changes: OrganizationChanges<'_>,
    actor: &Actor,
) -> Result<Organization, StoreError> {
    let tenant_id = scope.tenant_id.as_str();
    let mut tx = tenancy::begin(pool, tenant_id).await?;
    reachable(&mut tx, scope, organization_id, false).await?;
    let before = locked(&mut tx, tenant_id, organization_id).await?;
    let mut changed = Vec::new();
    if changes.name.is_some_and(|n| n != before.name) {
        changed.push("name".to_owned());
    }
    let domains = domains_after(&before.domains, &changes);
    if domains.as_ref().is_some_and(|d| *d != before.domains) {
        changed.push("domains".into());
    }
    if changes.enabled.is_some_and(|e| e != before.enabled) {
        changed.push("enabled".into());
    }
    if changes
        .alias_name
        .is_some_and(|a| Some(a) != before.alias_name.as_deref())
    {
        changed.push("alias_name".into());
    }
    if !changed.is_empty() {
        sqlx::query(
            "UPDATE organizations SET
                 name = COALESCE($3, name),
                 domains = COALESCE($4, domains),
                 enabled = COALESCE($5, enabled),
                 alias_name = COALESCE($6, alias_name),
                 updated_at = date_trunc('milliseconds', now())
              WHERE tenant_id = $1 AND organization_id = $2",
        )
        .bind(tenant_id)
        .bind(organization_id)
        .bind(changes.name)
        .bind(domains)
        .bind(changes.enabled)
        .bind(changes.alias_name)
        .execute(&mut *tx)
        .await?;
    }
    let event = Event::new(
        tenant_id,
        actor,
        Action::OrganizationUpdate,
        organization_id,
    )
    .changed(changed);
    audit::record(&mut *tx, &event).await?;
    let after = get(&mut *tx, tenant_id, organization_id).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(after)
}

/// The domains an update leaves, when it changes them.
fn domains_after(before: &[String], changes: &OrganizationChanges<'_>) -> Option<Vec<String>> {
    if changes.domains.is_none() && changes.first_domain.is_none() {
        return None;
    }
    let mut domains = changes.domains.unwrap_or(before).to_vec();
    if let Some(first) = changes.first_domain {
        domains.retain(|d| d != first);
        domains.insert(0, first.to_owned());
    }
    Some(domains)
}

/// Deletes an organization and, by cascade, its applications and
/// memberships, recording `actor`'s event in the same statement.
#[tracing::instrument(name = "store.organizations.delete", skip_all, fields(db.system.name = "postgresql"))]
pub async fn delete(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    organization_id: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    const SQL: &str = audited_delete!(
        "DELETE FROM organizations WHERE tenant_id = $1 AND organization_id = $2",
        "$3"
    );
    let event = Event::new(
        tenant_id,
        actor,
        Action::OrganizationDelete,
        organization_id,
    );
    keyed::delete_audited(
        executor,
        SQL,
        &[tenant_id, organization_id],
        Entity::Organization,
        &event,
    )
    .await
}

/// Lets the organization's members use `app_ids` too (those it has stay),
/// all or none.
#[tracing::instrument(name = "store.organizations.add_apps", skip_all, fields(db.system.name = "postgresql"))]
pub async fn add_apps(
    pool: &PgPool,
    tenant_id: &str,
    organization_id: &str,
    app_ids: &[String],
    actor: &Actor,
) -> Result<(), StoreError> {
    let mut tx = tenancy::begin(pool, tenant_id).await?;
    locked(&mut tx, tenant_id, organization_id).await?;
    require_apps(&mut tx, tenant_id, app_ids).await?;
    insert_apps(&mut tx, tenant_id, organization_id, app_ids).await?;
    apps_changed(
        &mut tx,
        tenant_id,
        organization_id,
        app_ids,
        actor,
        Action::OrganizationAppsAdd,
    )
    .await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(())
}

/// Takes `app_ids` from the organization (ids it does not have are
/// ignored).
#[tracing::instrument(name = "store.organizations.remove_apps", skip_all, fields(db.system.name = "postgresql"))]
pub async fn remove_apps(
    pool: &PgPool,
    tenant_id: &str,
    organization_id: &str,
    app_ids: &[String],
    actor: &Actor,
) -> Result<(), StoreError> {
    let mut tx = tenancy::begin(pool, tenant_id).await?;
    locked(&mut tx, tenant_id, organization_id).await?;
    sqlx::query(
        "DELETE FROM organization_apps
          WHERE tenant_id = $1 AND organization_id = $2 AND app_id = ANY($3)",
    )
    .bind(tenant_id)
    .bind(organization_id)
    .bind(app_ids)
    .execute(&mut *tx)
    .await?;
    apps_changed(
        &mut tx,
        tenant_id,
        organization_id,
        app_ids,
        actor,
        Action::OrganizationAppsRemove,
    )
    .await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(())
}

/// The organization, locked until the transaction ends.
async fn locked(
    conn: &mut PgConnection,
    tenant_id: &str,
    organization_id: &str,
) -> Result<Organization, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM organizations o WHERE o.tenant_id = $1 AND o.organization_id = $2 FOR UPDATE"
    );
    keyed::get(
        conn,
        SQL,
        &[tenant_id, organization_id],
        Entity::Organization,
    )
    .await
}

/// [`StoreError::Invalid`] naming the ids of `app_ids` the tenant has no
/// application of; the others are key-share locked until the transaction
/// ends, so none can be deleted under the insert that follows.
async fn require_apps(
    conn: &mut PgConnection,
    tenant_id: &str,
    app_ids: &[String],
) -> Result<(), StoreError> {
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT app_id FROM applications WHERE tenant_id = $1 AND app_id = ANY($2) FOR KEY SHARE",
    )
    .bind(tenant_id)
    .bind(app_ids)
    .fetch_all(&mut *conn)
    .await?;
    let missing: Vec<&str> = app_ids
        .iter()
        .map(String::as_str)
        .filter(|id| !found.iter().any(|f| f == id))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "app_ids names no application of this tenant: {}",
            missing.join(", ")
        )))
    }
}

async fn insert_apps(
    conn: &mut PgConnection,
    tenant_id: &str,
    organization_id: &str,
    app_ids: &[String],
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO organization_apps (tenant_id, organization_id, app_id)
         SELECT $1, $2, id FROM unnest($3::text[]) AS id
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(organization_id)
    .bind(app_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the organization updated and records the change of its apps.
async fn apps_changed(
    conn: &mut PgConnection,
    tenant_id: &str,
    organization_id: &str,
    app_ids: &[String],
    actor: &Actor,
    action: Action,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE organizations SET updated_at = date_trunc('milliseconds', now())
          WHERE tenant_id = $1 AND organization_id = $2",
    )
    .bind(tenant_id)
    .bind(organization_id)
    .execute(&mut *conn)
    .await?;
    let event = Event::new(tenant_id, actor, action, organization_id)
        .changed(vec!["app_ids".into()])
        .refs(serde_json::json!({ "app_ids": app_ids }));
    audit::record(conn, &event).await
}

/// Appends the predicate that confines `organizations o` to what the scope
/// reaches: every organization of the tenant, or those that have the
/// caller's application.
pub(crate) fn reach(qb: &mut QueryBuilder<Postgres>, scope: &Scope) {
    match &scope.reach {
        Reach::Tenant => {}
        Reach::App(app_id) => {
            qb.push(
                " AND EXISTS (SELECT 1 FROM organization_apps oa
                               WHERE oa.tenant_id = o.tenant_id
                                 AND oa.organization_id = o.organization_id AND oa.app_id = ",
            )
            .push_bind(app_id.clone())
            .push(")");
        }
        Reach::Org { org_ids, admin } => {
            qb.push(" AND o.organization_id = ANY(")
                .push_bind(org_ids.clone())
                .push(
                    ") AND EXISTS (
                     SELECT 1 FROM organization_members am
                       JOIN member_roles mr ON mr.tenant_id = am.tenant_id
                                           AND mr.organization_id = am.organization_id
                                           AND mr.user_id = am.user_id
                       JOIN roles ar ON ar.tenant_id = mr.tenant_id AND ar.app_id = mr.app_id
                                    AND ar.role_id = mr.role_id
                      WHERE am.tenant_id = o.tenant_id AND am.organization_id = o.organization_id
                        AND am.enabled AND am.user_id = ",
                )
                .push_bind(admin.clone())
                .push(" AND mr.app_id = ")
                .push_bind(scope.app_id.clone())
                .push(" AND ar.name = ANY(")
                .push_bind(vec![ORG_ADMIN_ROLE.to_owned(), ORG_CREATOR_ROLE.to_owned()])
                .push(") AND")
                .push(crate::role_groups::backed!())
                .push(")");
        }
        Reach::Me(_) => {
            qb.push(" AND false");
        }
    }
}

/// [`Entity::Organization`] not found unless the scope reaches the
/// organization; key-share locked until the
/// transaction ends when `lock`, so it cannot be deleted under a write.
pub async fn reachable(
    conn: &mut PgConnection,
    scope: &Scope,
    organization_id: &str,
    lock: bool,
) -> Result<(), StoreError> {
    let mut qb = QueryBuilder::new("SELECT 1 FROM organizations o WHERE o.tenant_id = ");
    qb.push_bind(scope.tenant_id.clone())
        .push(" AND o.organization_id = ")
        .push_bind(organization_id.to_owned());
    reach(&mut qb, scope);
    if lock {
        qb.push(" FOR KEY SHARE");
    }
    qb.build()
        .fetch_optional(conn)
        .await?
        .map(drop)
        .ok_or(StoreError::NotFound(Entity::Organization))
}
