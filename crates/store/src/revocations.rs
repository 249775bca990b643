//! Token revocations: a subject's tokens issued before its `not_before`
//! are refused by every replica, which reads the changes every second.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

use crate::{StoreError, tenancy};

/// How far a revocation reaches into the current second. Token times
/// (`iat`) are whole seconds, so a cut inside a second either spares the
/// tokens issued earlier in it or refuses those issued later in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Refuses every token of the current second too: for a client that is
    /// gone and can be issued nothing more.
    Inclusive,
    /// Spares the current second, so a token issued right after a secret
    /// rotation works; one issued before it within the same second does too.
    Exclusive,
}

impl Cut {
    fn seconds(self) -> f64 {
        match self {
            Self::Inclusive => 1.0,
            Self::Exclusive => 0.0,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Revocation {
    pub subject_kind: String,
    pub subject_id: String,
    pub not_before: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// Revokes the tokens of an application's clients (one when `client_id`
/// is given). Runs before the clients are deleted, in the same
/// transaction, so it sees them.
#[tracing::instrument(name = "store.revocations.revoke_clients", skip_all, fields(db.system.name = "postgresql"))]
pub async fn revoke_clients(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    app_id: &str,
    client_id: Option<&str>,
    cut: Cut,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO token_revocations (subject_kind, subject_id, tenant_id, not_before)
         SELECT 'client', client_id, tenant_id, now() + make_interval(secs => $4)
           FROM clients
          WHERE tenant_id = $1 AND app_id = $2 AND ($3::text IS NULL OR client_id = $3)
         ON CONFLICT (tenant_id, subject_kind, subject_id) DO UPDATE
            SET not_before = GREATEST(token_revocations.not_before, EXCLUDED.not_before),
                recorded_at = clock_timestamp()",
    )
    .bind(tenant_id)
    .bind(app_id)
    .bind(client_id)
    .bind(cut.seconds())
    .execute(executor)
    .await?;
    Ok(())
}

/// Refuses the user's access tokens issued before now (this second
/// included with [`Cut::Inclusive`]) and revokes its refresh tokens and
/// its unused login codes and reset tickets: a
/// disabled or deleted user, or one whose password changed, is signed out
/// everywhere.
pub async fn revoke_user(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    user_id: &str,
    cut: Cut,
) -> Result<(), StoreError> {
    sqlx::query(
        "WITH refresh AS (
             UPDATE refresh_tokens SET revoked_at = now()
              WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL
         ), tickets AS (
             -- A login's code or reset ticket issued before the change
             -- would open a session the change was meant to end.
             UPDATE login_tickets SET used_at = now()
              WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL
         )
         INSERT INTO token_revocations (subject_kind, subject_id, tenant_id, not_before)
         VALUES ('user', $2, $1, now() + make_interval(secs => $3))
         ON CONFLICT (tenant_id, subject_kind, subject_id) DO UPDATE
            SET not_before = GREATEST(token_revocations.not_before, EXCLUDED.not_before),
                recorded_at = clock_timestamp()",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(cut.seconds())
    .execute(executor)
    .await?;
    Ok(())
}

/// Revocations recorded after `since` (all that still matter when `None`).
/// Rows are re-read from a minute before `since`: a transaction that
/// recorded one may commit after a later one was already read.
#[tracing::instrument(name = "store.revocations.changed_since", skip_all, fields(db.system.name = "postgresql"))]
pub async fn changed_since(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
    horizon_secs: i64,
) -> Result<Vec<Revocation>, StoreError> {
    // Every replica enforces every tenant's revocations.
    tenancy::service(pool, async |conn| {
        Ok(sqlx::query_as(
            "SELECT subject_kind, subject_id, not_before, recorded_at FROM token_revocations
              WHERE CASE WHEN $1::timestamptz IS NULL
                         THEN not_before > now() - make_interval(secs => $2)
                         ELSE recorded_at > $1 - interval '60 seconds' END",
        )
        .bind(since)
        .bind(horizon_secs as f64)
        .fetch_all(conn)
        .await?)
    })
    .await
}

/// Forgets revocations older than every token they could still refuse.
#[tracing::instrument(name = "store.revocations.purge", skip_all, fields(db.system.name = "postgresql"))]
pub async fn purge(pool: &PgPool, horizon_secs: i64) -> Result<u64, StoreError> {
    tenancy::service(pool, async |conn| {
        Ok(sqlx::query(
            "DELETE FROM token_revocations WHERE not_before < now() - make_interval(secs => $1)",
        )
        .bind(horizon_secs as f64)
        .execute(conn)
        .await?
        .rows_affected())
    })
    .await
}
