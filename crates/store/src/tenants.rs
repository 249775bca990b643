//! Tenants.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::StoreError;

/// Any constant works as long as every idstore uses the same one.
const BOOTSTRAP_LOCK_KEY: i64 = 0x1d57_0e00_0000_0002;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tenant {
    pub tenant_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

pub async fn create(
    conn: &mut PgConnection,
    tenant_id: &str,
    name: &str,
) -> Result<Tenant, StoreError> {
    sqlx::query_as("INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) RETURNING tenant_id, name, created_at")
        .bind(tenant_id)
        .bind(name)
        .fetch_one(conn)
        .await
        .map_err(StoreError::from_write)
}

pub async fn list(pool: &PgPool) -> Result<Vec<Tenant>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT tenant_id, name, created_at FROM tenants ORDER BY created_at, tenant_id",
    )
    .fetch_all(pool)
    .await?)
}

/// Holds a transaction-scoped lock so that replicas starting together
/// bootstrap once.
pub async fn lock_bootstrap(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(BOOTSTRAP_LOCK_KEY)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn first(conn: &mut PgConnection) -> Result<Option<Tenant>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT tenant_id, name, created_at FROM tenants ORDER BY created_at, tenant_id LIMIT 1",
    )
    .fetch_optional(conn)
    .await?)
}
