//! Token signing keys per tenant. Private keys arrive already sealed: this
//! module never sees them in the clear.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

use crate::audit::{self, Action, Actor, Event};
use crate::error::Entity;
use crate::{StoreError, tenancy};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedKey {
    pub tenant_id: String,
    pub kid: String,
    pub private_key_sealed: Vec<u8>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PublishedKey {
    pub tenant_id: String,
    pub kid: String,
    pub public_key: Vec<u8>,
    pub retired_at: Option<DateTime<Utc>>,
}

pub struct NewKey<'a> {
    pub tenant_id: &'a str,
    pub kid: &'a str,
    pub public_key: &'a [u8],
    pub private_key_sealed: &'a [u8],
}

/// A key that signs from now on: a new tenant's first.
#[tracing::instrument(name = "store.signing_keys.create", skip_all, fields(db.system.name = "postgresql"))]
pub async fn create(executor: impl PgExecutor<'_>, key: NewKey<'_>) -> Result<(), StoreError> {
    insert(executor, key, Duration::ZERO).await?;
    Ok(())
}

/// Inserts `key`, signing `ahead` from now; returns when it starts to.
async fn insert(
    executor: impl PgExecutor<'_>,
    key: NewKey<'_>,
    ahead: Duration,
) -> Result<DateTime<Utc>, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO signing_keys
                (tenant_id, kid, algorithm, public_key, private_key_sealed, activates_at)
         VALUES ($1, $2, 'EdDSA', $3, $4, now() + make_interval(secs => $5))
         RETURNING activates_at",
    )
    .bind(key.tenant_id)
    .bind(key.kid)
    .bind(key.public_key)
    .bind(key.private_key_sealed)
    .bind(ahead.as_secs_f64())
    .fetch_one(executor)
    .await?)
}

/// The key that signs new tokens for `tenant_id`: of those whose time to
/// sign has come and not gone, the latest to start.
#[tracing::instrument(name = "store.signing_keys.active", skip_all, fields(db.system.name = "postgresql"))]
pub async fn active(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
) -> Result<SealedKey, StoreError> {
    // Confined in the statement (see `tenancy`): a token request's round trip.
    sqlx::query_as(concat!(
        tenancy::confined_head!(),
        "SELECT k.tenant_id, k.kid, k.private_key_sealed FROM signing_keys k
              WHERE k.tenant_id = ctx.tenant_id AND k.activates_at <= now()
                AND (k.retired_at IS NULL OR k.retired_at > now())
              ORDER BY k.activates_at DESC, k.created_at DESC LIMIT 1 OFFSET 0) q"
    ))
    .bind(tenant_id)
    .fetch_optional(executor)
    .await?
    .ok_or(StoreError::NotFound(Entity::SigningKey))
}

/// Every tenant's keys that sign new tokens now or will: what a
/// key-encryption key must be able to open.
#[tracing::instrument(name = "store.signing_keys.signing", skip_all, fields(db.system.name = "postgresql"))]
pub async fn signing(pool: &PgPool) -> Result<Vec<SealedKey>, StoreError> {
    tenancy::service(pool, async |conn| {
        Ok(sqlx::query_as(
            "SELECT tenant_id, kid, private_key_sealed FROM signing_keys
              WHERE retired_at IS NULL OR retired_at > now()",
        )
        .fetch_all(conn)
        .await?)
    })
    .await
}

/// Installs `key` as the tenant's next signing key, published at once and
/// signing `ahead` from now, when the keys signing until then retire, and
/// records `actor`'s event (the key ids, public); in one transaction.
/// Returns when it starts to sign.
#[tracing::instrument(name = "store.signing_keys.rotate", skip_all, fields(db.system.name = "postgresql"))]
pub async fn rotate(
    pool: &PgPool,
    key: NewKey<'_>,
    ahead: Duration,
    actor: &Actor,
) -> Result<DateTime<Utc>, StoreError> {
    let mut tx = tenancy::begin(pool, key.tenant_id).await?;
    let retired: Vec<String> = sqlx::query_scalar(
        "UPDATE signing_keys SET retired_at = now() + make_interval(secs => $2)
          WHERE tenant_id = $1 AND retired_at IS NULL
         RETURNING kid",
    )
    .bind(key.tenant_id)
    .bind(ahead.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    let event = Event::new(key.tenant_id, actor, Action::SigningKeyRotate, key.kid)
        .refs(serde_json::json!({ "retired_kids": retired }));
    audit::record(&mut *tx, &event).await?;
    let signs_from = insert(&mut *tx, key, ahead).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(signs_from)
}

/// Every key that may still verify a token: unretired (including one not
/// signing yet, so that verifiers know it before its first token), or
/// retired less than `lifetime_secs` ago.
#[tracing::instrument(name = "store.signing_keys.published", skip_all, fields(db.system.name = "postgresql"))]
pub async fn published(pool: &PgPool, lifetime_secs: i64) -> Result<Vec<PublishedKey>, StoreError> {
    tenancy::service(pool, async |conn| {
        Ok(sqlx::query_as(
            "SELECT tenant_id, kid, public_key, retired_at FROM signing_keys
              WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
              ORDER BY created_at DESC",
        )
        .bind(lifetime_secs as f64)
        .fetch_all(conn)
        .await?)
    })
    .await
}
