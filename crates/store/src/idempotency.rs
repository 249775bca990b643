//! Idempotency keys of create operations: the first request with a key
//! reserves it, its answer is kept, and a retry gets that answer back.

use sqlx::{PgConnection, PgPool};

use crate::{StoreError, tenancy};

/// Who uses a key, and how.
pub struct KeyUse<'a> {
    pub tenant_id: &'a str,
    pub principal: &'a str,
    pub key: &'a str,
    pub fingerprint: &'a [u8],
}

/// What a request with a key should do.
#[derive(Debug, PartialEq, Eq)]
pub enum Reservation {
    /// The key is this request's: serve it, then [`complete`] or [`release`].
    Fresh,
    /// The first request with this key was answered: answer the same.
    Replay { status: u16, body: Vec<u8> },
    /// The key was first used for another request.
    Mismatch,
    /// The first request with this key is still being served.
    InFlight,
}

/// Seconds after which a first request still unanswered is taken to have
/// died with its process (requests are bounded by the statement and pool
/// timeouts, far below this), so the key may be used again.
const ABANDONED_AFTER_SECS: f64 = 60.0;

/// Reserves `key` for this request, or says what the earlier one left.
#[tracing::instrument(name = "store.idempotency.reserve", skip_all, fields(db.system.name = "postgresql"))]
pub async fn reserve(
    pool: &PgPool,
    k: &KeyUse<'_>,
    lifetime_secs: i64,
) -> Result<Reservation, StoreError> {
    // Committed at once (each statement its own snapshot), so a retry
    // arriving meanwhile finds the reservation.
    tenancy::within(pool, k.tenant_id, async |conn| {
        reserve_in(conn, k, lifetime_secs).await
    })
    .await
}

async fn reserve_in(
    conn: &mut PgConnection,
    k: &KeyUse<'_>,
    lifetime_secs: i64,
) -> Result<Reservation, StoreError> {
    // Takes the key when it is new, expired, or abandoned unanswered.
    let taken: Option<bool> = sqlx::query_scalar(
        "INSERT INTO idempotency_keys AS k (tenant_id, principal, key, fingerprint, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
         ON CONFLICT (tenant_id, principal, key) DO UPDATE
            SET fingerprint = EXCLUDED.fingerprint, status = NULL, body = NULL,
                started_at = now(), expires_at = EXCLUDED.expires_at
          WHERE k.expires_at < now()
             OR (k.status IS NULL AND k.started_at < now() - make_interval(secs => $6))
         RETURNING true",
    )
    .bind(k.tenant_id)
    .bind(k.principal)
    .bind(k.key)
    .bind(k.fingerprint)
    .bind(lifetime_secs as f64)
    .bind(ABANDONED_AFTER_SECS)
    .fetch_optional(&mut *conn)
    .await?;
    if taken.is_some() {
        return Ok(Reservation::Fresh);
    }
    let earlier: Option<Earlier> = sqlx::query_as(
        "SELECT fingerprint, status, body FROM idempotency_keys
          WHERE tenant_id = $1 AND principal = $2 AND key = $3",
    )
    .bind(k.tenant_id)
    .bind(k.principal)
    .bind(k.key)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match earlier {
        // Released between the two statements: the caller may retry.
        None => Reservation::InFlight,
        Some(e) if e.fingerprint != k.fingerprint => Reservation::Mismatch,
        Some(Earlier {
            status: Some(status),
            body: Some(body),
            ..
        }) => Reservation::Replay {
            status: status as u16,
            body,
        },
        Some(_) => Reservation::InFlight,
    })
}

#[derive(sqlx::FromRow)]
struct Earlier {
    fingerprint: Vec<u8>,
    status: Option<i16>,
    body: Option<Vec<u8>>,
}

/// Keeps the first request's answer for the retries.
#[tracing::instrument(name = "store.idempotency.complete", skip_all, fields(db.system.name = "postgresql"))]
pub async fn complete(
    pool: &PgPool,
    k: &KeyUse<'_>,
    status: u16,
    body: &[u8],
) -> Result<(), StoreError> {
    let mut tx = tenancy::begin(pool, k.tenant_id).await?;
    sqlx::query(
        "UPDATE idempotency_keys SET status = $4, body = $5
          WHERE tenant_id = $1 AND principal = $2 AND key = $3",
    )
    .bind(k.tenant_id)
    .bind(k.principal)
    .bind(k.key)
    .bind(status as i16)
    .bind(body)
    .execute(&mut *tx)
    .await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(())
}

/// Frees the key of a request that failed on the server's side, so that
/// a retry runs again.
#[tracing::instrument(name = "store.idempotency.release", skip_all, fields(db.system.name = "postgresql"))]
pub async fn release(pool: &PgPool, k: &KeyUse<'_>) -> Result<(), StoreError> {
    let mut tx = tenancy::begin(pool, k.tenant_id).await?;
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND principal = $2 AND key = $3",
    )
    .bind(k.tenant_id)
    .bind(k.principal)
    .bind(k.key)
    .execute(&mut *tx)
    .await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(())
}

/// Forgets expired keys.
#[tracing::instrument(name = "store.idempotency.purge", skip_all, fields(db.system.name = "postgresql"))]
pub async fn purge(pool: &PgPool) -> Result<u64, StoreError> {
    tenancy::service(pool, async |conn| {
        Ok(
            sqlx::query("DELETE FROM idempotency_keys WHERE expires_at < now()")
                .execute(conn)
                .await?
                .rows_affected(),
        )
    })
    .await
}
