//! Roles an application defines.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use sqlx::types::Json;

use crate::audit::{Action, Actor, Event, audited, audited_delete};
use crate::error::Entity;
use crate::{StoreError, keyed};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Role {
    pub tenant_id: String,
    pub app_id: String,
    pub role_id: String,
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub permissions: Json<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "tenant_id, app_id, role_id, name, display_name, description, permissions, created_at, \
         updated_at"
    };
}

pub struct NewRole<'a> {
    pub tenant_id: &'a str,
    pub app_id: &'a str,
    pub role_id: &'a str,
    pub name: &'a str,
    pub display_name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub permissions: &'a [String],
}

/// Creates a role and records `actor`'s event, in one statement. A name
/// already used in the application is a conflict on
/// [`crate::Identifier::RoleName`].
#[tracing::instrument(name = "store.roles.create", skip_all, fields(db.system.name = "postgresql"))]
pub async fn create(
    executor: impl PgExecutor<'_>,
    r: NewRole<'_>,
    actor: &Actor,
) -> Result<Role, StoreError> {
    const SQL: &str = concat!(
        audited!(
            concat!(
                "INSERT INTO roles (tenant_id, app_id, role_id, name, display_name, description,
                                    permissions)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
                columns!()
            ),
            "$8"
        ),
        "SELECT * FROM done"
    );
    // The names the request gave them in (the vendor's `ApiRole`).
    let given = [
        ("role_name", true),
        ("display_name", r.display_name.is_some()),
        ("description", r.description.is_some()),
        ("permissions", !r.permissions.is_empty()),
    ];
    let changed = given
        .iter()
        .filter(|(_, given)| *given)
        .map(|(name, _)| (*name).to_owned())
        .collect();
    let event = Event::new(r.tenant_id, actor, Action::RoleCreate, r.role_id)
        .changed(changed)
        .refs(serde_json::json!({ "app_id": r.app_id }));
    Ok(sqlx::query_as(SQL)
        .bind(r.tenant_id)
        .bind(r.app_id)
        .bind(r.role_id)
        .bind(r.name)
        .bind(r.display_name)
        .bind(r.description)
        .bind(Json(r.permissions))
        .bind(event.param())
        .fetch_one(executor)
        .await?)
}

#[tracing::instrument(name = "store.roles.list", skip_all, fields(db.system.name = "postgresql"))]
pub async fn list(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    app_id: &str,
) -> Result<Vec<Role>, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM roles WHERE tenant_id = $1 AND app_id = $2 ORDER BY name"
    );
    keyed::list(executor, SQL, &[tenant_id, app_id]).await
}

/// Deletes a role, recording `actor`'s event in the same statement.
#[tracing::instrument(name = "store.roles.delete", skip_all, fields(db.system.name = "postgresql"))]
pub async fn delete(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    app_id: &str,
    role_id: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    const SQL: &str = audited_delete!(
        "DELETE FROM roles WHERE tenant_id = $1 AND app_id = $2 AND role_id = $3",
        "$4"
    );
    let event = Event::new(tenant_id, actor, Action::RoleDelete, role_id)
        .refs(serde_json::json!({ "app_id": app_id }));
    let keys = [tenant_id, app_id, role_id];
    keyed::delete_audited(executor, SQL, &keys, Entity::Role, &event).await
}
