//! Roles an application defines.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use sqlx::types::Json;

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

/// A name already used in the application is a conflict on
/// [`crate::Identifier::RoleName`].
pub async fn create(executor: impl PgExecutor<'_>, r: NewRole<'_>) -> Result<Role, StoreError> {
    Ok(sqlx::query_as(concat!(
        "INSERT INTO roles (tenant_id, app_id, role_id, name, display_name, description, permissions)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        columns!()
    ))
    .bind(r.tenant_id)
    .bind(r.app_id)
    .bind(r.role_id)
    .bind(r.name)
    .bind(r.display_name)
    .bind(r.description)
    .bind(Json(r.permissions))
    .fetch_one(executor)
    .await?)
}

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

pub async fn delete(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    app_id: &str,
    role_id: &str,
) -> Result<(), StoreError> {
    const SQL: &str = "DELETE FROM roles WHERE tenant_id = $1 AND app_id = $2 AND role_id = $3";
    keyed::delete(executor, SQL, &[tenant_id, app_id, role_id], Entity::Role).await
}
