//! Password policies as stored: one document per tenant and at most one
//! per application overriding it. The documents are opaque here (their
//! shape and rules are `idstore_auth::password_policy`).

use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::StoreError;
use crate::audit::{self, Event};
use crate::error::Entity;

/// The documents that decide the policy for `app_id`: the application's
/// own when it has one, the tenant's otherwise (`None`: the defaults).
/// Returns the document and whether it is the application's.
#[tracing::instrument(name = "store.password_policies.effective", skip_all, fields(db.system.name = "postgresql"))]
pub async fn effective(
    conn: &mut PgConnection,
    tenant_id: &str,
    app_id: Option<&str>,
) -> Result<Option<(Value, bool)>, StoreError> {
    let row: Option<(Json<Value>, bool)> = sqlx::query_as(
        "SELECT policy, app_id IS NOT NULL FROM password_policies
          WHERE tenant_id = $1 AND (app_id IS NULL OR app_id = $2)
          ORDER BY app_id NULLS LAST LIMIT 1",
    )
    .bind(tenant_id)
    .bind(app_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(policy, own)| (policy.0, own)))
}

/// Stores the tenant's (`app_id: None`) or an application's document and
/// records `event`. An application that does not exist is
/// [`StoreError::NotFound`].
#[tracing::instrument(name = "store.password_policies.put", skip_all, fields(db.system.name = "postgresql"))]
pub async fn put(
    conn: &mut PgConnection,
    tenant_id: &str,
    app_id: Option<&str>,
    policy: &Value,
    event: &Event<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO password_policies (tenant_id, app_id, policy) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, app_id) DO UPDATE SET policy = EXCLUDED.policy, updated_at = now()",
    )
    .bind(tenant_id)
    .bind(app_id)
    .bind(Json(policy))
    .execute(&mut *conn)
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            StoreError::NotFound(Entity::Application)
        }
        e => e.into(),
    })?;
    audit::record(conn, event).await
}

/// Removes an application's override (its applications then follow the
/// tenant's document) and records `event`; `false` when it had none.
#[tracing::instrument(name = "store.password_policies.delete", skip_all, fields(db.system.name = "postgresql"))]
pub async fn delete(
    conn: &mut PgConnection,
    tenant_id: &str,
    app_id: &str,
    event: &Event<'_>,
) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM password_policies WHERE tenant_id = $1 AND app_id = $2")
        .bind(tenant_id)
        .bind(app_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if deleted > 0 {
        audit::record(conn, event).await?;
    }
    Ok(deleted > 0)
}

/// The tenant's name and `app_id`'s: words a password of its users may
/// not contain.
#[tracing::instrument(name = "store.password_policies.names", skip_all, fields(db.system.name = "postgresql"))]
pub async fn names(
    conn: &mut PgConnection,
    tenant_id: &str,
    app_id: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT name FROM tenants WHERE tenant_id = $1
         UNION ALL
         SELECT name FROM applications WHERE tenant_id = $1 AND app_id = $2",
    )
    .bind(tenant_id)
    .bind(app_id)
    .fetch_all(conn)
    .await?)
}
