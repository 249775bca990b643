//! Users' device public keys (JWKs), read by `/users/me/device-keys`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::StoreError;
use crate::audit::{self, Event};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceKey {
    pub key_id: String,
    pub public_jwk: Json<Value>,
    pub status: String,
    pub display_name: Option<String>,
    pub custom_data: Json<Map<String, Value>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "key_id, public_jwk, status, display_name, custom_data, created_at, updated_at"
    };
}

pub struct NewDeviceKey<'a> {
    pub key_id: &'a str,
    pub public_jwk: &'a Value,
    pub display_name: Option<&'a str>,
    pub custom_data: &'a Map<String, Value>,
}

/// Registers a key for the user and records `event`.
#[tracing::instrument(name = "store.device_keys.add", skip_all, fields(db.system.name = "postgresql"))]
pub async fn add(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    key: NewDeviceKey<'_>,
    event: &Event<'_>,
) -> Result<DeviceKey, StoreError> {
    const SQL: &str = concat!(
        "INSERT INTO device_keys (tenant_id, key_id, user_id, public_jwk, display_name, custom_data)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        columns!()
    );
    let row = sqlx::query_as(SQL)
        .bind(tenant_id)
        .bind(key.key_id)
        .bind(user_id)
        .bind(Json(key.public_jwk))
        .bind(key.display_name)
        .bind(Json(key.custom_data))
        .fetch_one(&mut *conn)
        .await?;
    audit::record(conn, event).await?;
    Ok(row)
}

/// The user's newest key, if it has any.
#[tracing::instrument(name = "store.device_keys.newest", skip_all, fields(db.system.name = "postgresql"))]
pub async fn newest(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<Option<DeviceKey>, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM device_keys WHERE tenant_id = $1 AND user_id = $2
          ORDER BY created_at DESC, key_id DESC LIMIT 1"
    );
    Ok(sqlx::query_as(SQL)
        .bind(tenant_id)
        .bind(user_id)
        .fetch_optional(conn)
        .await?)
}

/// Removes one of the user's keys and records `event`; `false` when the
/// user has no such key.
#[tracing::instrument(name = "store.device_keys.revoke", skip_all, fields(db.system.name = "postgresql"))]
pub async fn revoke(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    key_id: &str,
    event: &Event<'_>,
) -> Result<bool, StoreError> {
    let deleted = sqlx::query(
        "DELETE FROM device_keys WHERE tenant_id = $1 AND user_id = $2 AND key_id = $3",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(key_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if deleted > 0 {
        audit::record(conn, event).await?;
    }
    Ok(deleted > 0)
}
