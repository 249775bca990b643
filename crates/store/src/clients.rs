//! Application clients (client_id + hashed secret), and the throttle on
//! their authentication.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::error::Entity;
use crate::{StoreError, keyed};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Client {
    pub tenant_id: String,
    pub client_id: String,
    pub app_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
}

macro_rules! columns {
    () => {
        "tenant_id, client_id, app_id, name, created_at, rotated_at"
    };
}

pub struct NewClient<'a> {
    pub tenant_id: &'a str,
    pub app_id: &'a str,
    pub client_id: &'a str,
    pub name: &'a str,
    pub secret_hash: &'a str,
}

pub async fn create(executor: impl PgExecutor<'_>, c: NewClient<'_>) -> Result<Client, StoreError> {
    sqlx::query_as(concat!(
        "INSERT INTO clients (tenant_id, client_id, app_id, name, secret_hash)
         VALUES ($1, $2, $3, $4, $5) RETURNING ",
        columns!()
    ))
    .bind(c.tenant_id)
    .bind(c.client_id)
    .bind(c.app_id)
    .bind(c.name)
    .bind(c.secret_hash)
    .fetch_one(executor)
    .await
    .map_err(StoreError::unsure)
}

pub async fn list(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    app_id: &str,
) -> Result<Vec<Client>, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM clients WHERE tenant_id = $1 AND app_id = $2 ORDER BY created_at, client_id"
    );
    keyed::list(executor, SQL, &[tenant_id, app_id]).await
}

pub async fn delete(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    app_id: &str,
    client_id: &str,
) -> Result<(), StoreError> {
    const SQL: &str = "DELETE FROM clients WHERE tenant_id = $1 AND app_id = $2 AND client_id = $3";
    keyed::delete(
        executor,
        SQL,
        &[tenant_id, app_id, client_id],
        Entity::Client,
    )
    .await
}

/// Replaces a client's secret hash; the old secret stops working at once.
pub async fn rotate_secret(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    app_id: &str,
    client_id: &str,
    secret_hash: &str,
) -> Result<Client, StoreError> {
    sqlx::query_as(concat!(
        "UPDATE clients SET secret_hash = $4, rotated_at = now(), auth_attempts = 0
          WHERE tenant_id = $1 AND app_id = $2 AND client_id = $3 RETURNING ",
        columns!()
    ))
    .bind(tenant_id)
    .bind(app_id)
    .bind(client_id)
    .bind(secret_hash)
    .fetch_optional(executor)
    .await?
    .ok_or(StoreError::NotFound(Entity::Client))
}

/// An authentication attempt, reserved against the client's budget.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuthAttempt {
    pub tenant_id: String,
    pub app_id: String,
    pub is_management: bool,
    pub secret_hash: String,
    /// Attempts in the window, this one included.
    pub attempts: i32,
    /// Seconds until the window resets.
    pub retry_after: i64,
}

/// Counts an attempt for `client_id` before its secret is checked. The
/// increment is one atomic UPDATE (row lock), so concurrent guesses are all
/// counted. `None` when no such client exists.
pub async fn reserve_auth_attempt(
    executor: impl PgExecutor<'_>,
    client_id: &str,
    window_secs: i64,
) -> Result<Option<AuthAttempt>, StoreError> {
    Ok(sqlx::query_as(
        "WITH bumped AS (
            UPDATE clients c SET
                auth_attempts = CASE WHEN c.auth_window_start IS NULL
                                       OR c.auth_window_start < now() - make_interval(secs => $2)
                                     THEN 1 ELSE c.auth_attempts + 1 END,
                auth_window_start = CASE WHEN c.auth_window_start IS NULL
                                           OR c.auth_window_start < now() - make_interval(secs => $2)
                                         THEN now() ELSE c.auth_window_start END
             WHERE c.client_id = $1
         RETURNING c.tenant_id, c.app_id, c.secret_hash, c.auth_attempts, c.auth_window_start
         )
         SELECT b.tenant_id, b.app_id, a.is_management, b.secret_hash,
                b.auth_attempts AS attempts,
                GREATEST(1, ceil(extract(epoch FROM
                    b.auth_window_start + make_interval(secs => $2) - now())))::bigint AS retry_after
           FROM bumped b
           JOIN applications a ON a.tenant_id = b.tenant_id AND a.app_id = b.app_id",
    )
    .bind(client_id)
    .bind(window_secs as f64)
    .fetch_optional(executor)
    .await?)
}

/// Gives back the attempt of a successful authentication.
pub async fn release_auth_attempt(
    executor: impl PgExecutor<'_>,
    client_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE clients SET auth_attempts = GREATEST(auth_attempts - 1, 0) WHERE client_id = $1",
    )
    .bind(client_id)
    .execute(executor)
    .await?;
    Ok(())
}
