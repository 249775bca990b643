//! Tenants.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::{StoreError, keyed};

/// Any constant works as long as every idstore uses the same one.
const BOOTSTRAP_LOCK_KEY: i64 = 0x1d57_0e00_0000_0002;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tenant {
    pub tenant_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "tenant_id, name, created_at"
    };
}

#[tracing::instrument(name = "store.tenants.create", skip_all, fields(db.system.name = "postgresql"))]
pub async fn create(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    name: &str,
) -> Result<Tenant, StoreError> {
    Ok(sqlx::query_as(concat!(
        "INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) RETURNING ",
        columns!()
    ))
    .bind(tenant_id)
    .bind(name)
    .fetch_one(executor)
    .await?)
}

#[tracing::instrument(name = "store.tenants.list", skip_all, fields(db.system.name = "postgresql"))]
pub async fn list(executor: impl PgExecutor<'_>) -> Result<Vec<Tenant>, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM tenants ORDER BY created_at, tenant_id"
    );
    keyed::list(executor, SQL, &[]).await
}

/// Holds a transaction-scoped lock so that replicas starting together
/// bootstrap once.
#[tracing::instrument(name = "store.tenants.lock_bootstrap", skip_all, fields(db.system.name = "postgresql"))]
pub async fn lock_bootstrap(executor: impl PgExecutor<'_>) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(BOOTSTRAP_LOCK_KEY)
        .execute(executor)
        .await?;
    Ok(())
}

/// The oldest tenant, if there is any.
#[tracing::instrument(name = "store.tenants.first", skip_all, fields(db.system.name = "postgresql"))]
pub async fn first(executor: impl PgExecutor<'_>) -> Result<Option<Tenant>, StoreError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM tenants ORDER BY created_at, tenant_id LIMIT 1"
    ))
    .fetch_optional(executor)
    .await?)
}
