//! Application clients (client_id + hashed secret).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool};

use crate::error::Entity;
use crate::revocations::{self, Cut};
use crate::{StoreError, keyed};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Client {
    pub tenant_id: String,
    pub client_id: String,
    pub app_id: String,
    pub name: String,
    pub description: Option<String>,
    pub redirect_uris: Vec<String>,
    pub resources: Vec<String>,
    /// Seconds; `None` is the server's token lifetime.
    pub access_token_ttl: Option<i32>,
    /// Settings kept as given (the vendor's field names), an object.
    pub settings: Json<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
}

macro_rules! columns {
    () => {
        "tenant_id, client_id, app_id, name, description, redirect_uris, resources, \
         access_token_ttl, settings, created_at, updated_at, rotated_at"
    };
}

pub struct NewClient<'a> {
    pub tenant_id: &'a str,
    pub app_id: &'a str,
    pub client_id: &'a str,
    pub name: &'a str,
    pub secret_hash: &'a str,
    pub options: ClientOptions<'a>,
}

/// What a client is configured with besides its name and secret.
#[derive(Default)]
pub struct ClientOptions<'a> {
    pub description: Option<&'a str>,
    pub redirect_uris: &'a [String],
    pub resources: &'a [String],
    pub access_token_ttl: Option<i32>,
    /// An object; `None` is `{}`.
    pub settings: Option<&'a Value>,
}

pub async fn create(executor: impl PgExecutor<'_>, c: NewClient<'_>) -> Result<Client, StoreError> {
    let empty = Value::Object(Default::default());
    let o = &c.options;
    sqlx::query_as(concat!(
        "INSERT INTO clients (tenant_id, client_id, app_id, name, secret_hash, description,
                              redirect_uris, resources, access_token_ttl, settings)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ",
        columns!()
    ))
    .bind(c.tenant_id)
    .bind(c.client_id)
    .bind(c.app_id)
    .bind(c.name)
    .bind(c.secret_hash)
    .bind(o.description)
    .bind(o.redirect_uris)
    .bind(o.resources)
    .bind(o.access_token_ttl)
    .bind(Json(o.settings.unwrap_or(&empty)))
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

pub async fn get(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    app_id: &str,
    client_id: &str,
) -> Result<Client, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM clients WHERE tenant_id = $1 AND app_id = $2 AND client_id = $3"
    );
    keyed::get(
        executor,
        SQL,
        &[tenant_id, app_id, client_id],
        Entity::Client,
    )
    .await
}

/// The first client of each application of the tenant (the vendor's
/// "default client"), by application id.
pub async fn defaults(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
) -> Result<Vec<Client>, StoreError> {
    const SQL: &str = concat!(
        "SELECT DISTINCT ON (app_id) ",
        columns!(),
        " FROM clients WHERE tenant_id = $1 ORDER BY app_id, created_at, client_id"
    );
    keyed::list(executor, SQL, &[tenant_id]).await
}

/// A change to a client: `None` keeps a field; `settings` is merged key by
/// key (a given key replaces the stored one whole).
#[derive(Default)]
pub struct ClientChange<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub redirect_uris: Option<&'a [String]>,
    pub resources: Option<&'a [String]>,
    /// `Some(None)` goes back to the server's lifetime.
    pub access_token_ttl: Option<Option<i32>>,
    /// An object; `None` changes nothing.
    pub settings: Option<&'a Value>,
}

pub async fn update(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    app_id: &str,
    client_id: &str,
    c: &ClientChange<'_>,
) -> Result<Client, StoreError> {
    let empty = Value::Object(Default::default());
    sqlx::query_as(concat!(
        "UPDATE clients SET
             name = COALESCE($4, name),
             description = COALESCE($5, description),
             redirect_uris = COALESCE($6, redirect_uris),
             resources = COALESCE($7, resources),
             access_token_ttl = CASE WHEN $8 THEN $9 ELSE access_token_ttl END,
             settings = settings || $10,
             updated_at = now()
          WHERE tenant_id = $1 AND app_id = $2 AND client_id = $3 RETURNING ",
        columns!()
    ))
    .bind(tenant_id)
    .bind(app_id)
    .bind(client_id)
    .bind(c.name)
    .bind(c.description)
    .bind(c.redirect_uris)
    .bind(c.resources)
    .bind(c.access_token_ttl.is_some())
    .bind(c.access_token_ttl.flatten())
    .bind(Json(c.settings.unwrap_or(&empty)))
    .fetch_optional(executor)
    .await?
    .ok_or(StoreError::NotFound(Entity::Client))
}

/// Deletes one client (`Some`) or every client (`None`) of an application,
/// revoking the tokens they were issued.
/// The management application keeps at least one client, or nobody could
/// administer the tenant again: taking its last is [`StoreError::Invalid`].
pub async fn delete(
    pool: &PgPool,
    tenant_id: &str,
    app_id: &str,
    client_id: Option<&str>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    // The application's row lock orders concurrent deletes, so two of them
    // cannot each leave the other's client as the last one and take it.
    let is_management: bool = sqlx::query_scalar(
        "SELECT is_management FROM applications WHERE tenant_id = $1 AND app_id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(app_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound(Entity::Application))?;
    revocations::revoke_clients(&mut *tx, tenant_id, app_id, client_id, Cut::Inclusive).await?;
    let deleted = sqlx::query(
        "DELETE FROM clients WHERE tenant_id = $1 AND app_id = $2
            AND ($3::text IS NULL OR client_id = $3)",
    )
    .bind(tenant_id)
    .bind(app_id)
    .bind(client_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if client_id.is_some() && deleted == 0 {
        return Err(StoreError::NotFound(Entity::Client));
    }
    if is_management {
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM clients WHERE tenant_id = $1 AND app_id = $2")
                .bind(tenant_id)
                .bind(app_id)
                .fetch_one(&mut *tx)
                .await?;
        if left == 0 {
            return Err(StoreError::Invalid(
                "The management application keeps at least one client: create another \
                 admin client before deleting this one"
                    .into(),
            ));
        }
    }
    tx.commit().await.map_err(StoreError::commit)
}

/// Replaces a client's secret hash; the old secret stops working at once,
/// and tokens issued before the rotation are revoked.
pub async fn rotate_secret(
    pool: &PgPool,
    tenant_id: &str,
    app_id: &str,
    client_id: &str,
    secret_hash: &str,
) -> Result<Client, StoreError> {
    let mut tx = pool.begin().await?;
    let client = sqlx::query_as(concat!(
        "UPDATE clients SET secret_hash = $4, rotated_at = now(), updated_at = now()
          WHERE tenant_id = $1 AND app_id = $2 AND client_id = $3 RETURNING ",
        columns!()
    ))
    .bind(tenant_id)
    .bind(app_id)
    .bind(client_id)
    .bind(secret_hash)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound(Entity::Client))?;
    revocations::revoke_clients(&mut *tx, tenant_id, app_id, Some(client_id), Cut::Exclusive)
        .await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(client)
}

/// What authenticating a client needs to know of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KnownClient {
    pub tenant_id: String,
    pub app_id: String,
    pub is_management: bool,
    pub secret_hash: String,
    /// The client's own token lifetime in seconds, if it has one.
    pub access_token_ttl: Option<i32>,
    /// Audiences the client may ask for besides idstore itself.
    pub resources: Vec<String>,
}

/// The client a token request names, if it exists.
pub async fn for_authentication(
    executor: impl PgExecutor<'_>,
    client_id: &str,
) -> Result<Option<KnownClient>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT c.tenant_id, c.app_id, a.is_management, c.secret_hash, c.access_token_ttl,
                c.resources
           FROM clients c
           JOIN applications a ON a.tenant_id = c.tenant_id AND a.app_id = c.app_id
          WHERE c.client_id = $1",
    )
    .bind(client_id)
    .fetch_optional(executor)
    .await?)
}
