//! The breached-password filter (migration V16): one per installation,
//! its bits in chunks. Only the owner writes it (`idstore breached
//! import`); every replica reads it.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use crate::StoreError;

/// Bytes per stored chunk: small enough that writing one never holds a
/// second copy of much of the filter in memory.
pub const CHUNK_BYTES: usize = 8 << 20;

/// The filter's columns, besides its bits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredFilter {
    pub entries: u64,
    pub false_positive_rate: f64,
    pub bits: u64,
    pub hashes: u32,
    pub imported_at: DateTime<Utc>,
}

/// The shape of a filter to store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewFilter {
    pub entries: u64,
    pub false_positive_rate: f64,
    pub bits: u64,
    pub hashes: u32,
}

/// Replaces the stored filter with `filter` and its `bytes`, in one
/// transaction: until it commits every reader keeps the old one; a
/// failure leaves the old one. Two imports at once run one after the
/// other. Returns the new `imported_at`.
#[tracing::instrument(name = "store.breached.replace", skip_all, fields(db.system.name = "postgresql"))]
pub async fn replace(
    pool: &PgPool,
    filter: NewFilter,
    bytes: &[u8],
    mut progress: impl FnMut(usize),
) -> Result<DateTime<Utc>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("LOCK TABLE breached_password_filter IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM breached_password_chunks")
        .execute(&mut *tx)
        .await?;
    let imported_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO breached_password_filter (entries, false_positive_rate, bits, hashes)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE
            SET entries = EXCLUDED.entries, false_positive_rate = EXCLUDED.false_positive_rate,
                bits = EXCLUDED.bits, hashes = EXCLUDED.hashes, imported_at = clock_timestamp()
         RETURNING imported_at",
    )
    .bind(to_i64(filter.entries)?)
    .bind(filter.false_positive_rate)
    .bind(to_i64(filter.bits)?)
    .bind(filter.hashes as i32)
    .fetch_one(&mut *tx)
    .await?;
    let mut written = 0;
    for (seq, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
        sqlx::query("INSERT INTO breached_password_chunks (seq, data) VALUES ($1, $2)")
            .bind(seq as i32)
            .bind(chunk)
            .execute(&mut *tx)
            .await?;
        written += chunk.len();
        progress(written);
    }
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(imported_at)
}

fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("{n} does not fit the database")))
}

/// When the stored filter was imported, if there is one: what a replica
/// polls to learn of a new import without reading the bits.
#[tracing::instrument(name = "store.breached.imported_at", skip_all, fields(db.system.name = "postgresql"))]
pub async fn imported_at(pool: &PgPool) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT imported_at FROM breached_password_filter")
            .fetch_optional(pool)
            .await?,
    )
}

/// The stored filter and its bits, read in one snapshot so that an import
/// committing meanwhile cannot mix two filters.
#[tracing::instrument(name = "store.breached.load", skip_all, fields(db.system.name = "postgresql"))]
pub async fn load(pool: &PgPool) -> Result<Option<(StoredFilter, Vec<u8>)>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query(
        "SELECT entries, false_positive_rate, bits, hashes, imported_at
           FROM breached_password_filter",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let stored = StoredFilter {
        entries: row.try_get::<i64, _>("entries")? as u64,
        false_positive_rate: row.try_get("false_positive_rate")?,
        bits: row.try_get::<i64, _>("bits")? as u64,
        hashes: row.try_get::<i32, _>("hashes")? as u32,
        imported_at: row.try_get("imported_at")?,
    };
    let mut bytes = Vec::with_capacity(stored.bits.div_ceil(8) as usize);
    let seqs: Vec<i32> =
        sqlx::query_scalar("SELECT seq FROM breached_password_chunks ORDER BY seq")
            .fetch_all(&mut *tx)
            .await?;
    // One chunk a statement: a result set holding every chunk would be a
    // second copy of the filter in memory.
    for seq in seqs {
        let chunk: Vec<u8> =
            sqlx::query_scalar("SELECT data FROM breached_password_chunks WHERE seq = $1")
                .bind(seq)
                .fetch_one(&mut *tx)
                .await?;
        bytes.extend_from_slice(&chunk);
    }
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(Some((stored, bytes)))
}
