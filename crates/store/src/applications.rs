//! Applications of a tenant. Every query names the tenant.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::StoreError;
use crate::error::one_row;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Application {
    pub tenant_id: String,
    pub app_id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_management: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "tenant_id, app_id, name, description, is_management, created_at, updated_at";

pub struct NewApplication<'a> {
    pub tenant_id: &'a str,
    pub app_id: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub is_management: bool,
}

pub async fn create(
    conn: &mut PgConnection,
    app: NewApplication<'_>,
) -> Result<Application, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO applications (tenant_id, app_id, name, description, is_management)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    )))
    .bind(app.tenant_id)
    .bind(app.app_id)
    .bind(app.name)
    .bind(app.description)
    .bind(app.is_management)
    .fetch_one(conn)
    .await
    .map_err(StoreError::from_write)
}

pub async fn list(pool: &PgPool, tenant_id: &str) -> Result<Vec<Application>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM applications WHERE tenant_id = $1 ORDER BY created_at, app_id"
    )))
    .bind(tenant_id)
    .fetch_all(pool)
    .await?)
}

pub async fn get(pool: &PgPool, tenant_id: &str, app_id: &str) -> Result<Application, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM applications WHERE tenant_id = $1 AND app_id = $2"
    )))
    .bind(tenant_id)
    .bind(app_id)
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Deletes an application and, by cascade, its clients, roles and user
/// associations. The management application cannot be deleted.
pub async fn delete(pool: &PgPool, tenant_id: &str, app_id: &str) -> Result<(), StoreError> {
    one_row(
        sqlx::query(
            "DELETE FROM applications WHERE tenant_id = $1 AND app_id = $2 AND NOT is_management",
        )
        .bind(tenant_id)
        .bind(app_id)
        .execute(pool)
        .await?,
    )
}
