//! Application clients (client_id + hashed secret).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool};

use crate::audit::{self, Action, Actor, Event, audited};
use crate::error::Entity;
use crate::revocations::{self, Cut};
use crate::{StoreError, keyed, tenancy};

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

impl NewClient<'_> {
    /// The names of the fields it sets, as the request named them.
    pub(crate) fn given(&self) -> Vec<String> {
        let o = &self.options;
        let mut names = vec!["name".to_owned()];
        let fields = [
            ("description", o.description.is_some()),
            ("redirect_uris", !o.redirect_uris.is_empty()),
            ("resources", !o.resources.is_empty()),
            ("token_expiration", o.access_token_ttl.is_some()),
        ];
        names.extend(given_fields(&fields, o.settings));
        names
    }
}

impl ClientChange<'_> {
    /// The names of the fields it changes, as the request named them.
    pub(crate) fn given(&self) -> Vec<String> {
        let fields = [
            ("name", self.name.is_some()),
            ("description", self.description.is_some()),
            ("redirect_uris", self.redirect_uris.is_some()),
            ("resources", self.resources.is_some()),
            ("token_expiration", self.access_token_ttl.is_some()),
        ];
        given_fields(&fields, self.settings)
    }
}

/// The names of `fields` that were given, then the keys of `settings`
/// (the vendor's own field names, kept as given), each once.
pub(crate) fn given_fields(fields: &[(&str, bool)], settings: Option<&Value>) -> Vec<String> {
    let mut names: Vec<String> = fields
        .iter()
        .filter(|(_, given)| *given)
        .map(|(name, _)| (*name).to_owned())
        .collect();
    let keys = settings.and_then(Value::as_object).into_iter().flatten();
    for (key, _) in keys {
        if !names.contains(key) {
            names.push(key.clone());
        }
    }
    names
}

/// Creates a client. `actor` is whose event to record with it, in the
/// same statement; `None` when the caller records the change the client
/// is part of (an application created with its first client) or nobody
/// acts through the API yet (bootstrap).
#[tracing::instrument(name = "store.clients.create", skip_all, fields(db.system.name = "postgresql"))]
pub async fn create(
    executor: impl PgExecutor<'_>,
    c: NewClient<'_>,
    actor: Option<&Actor>,
) -> Result<Client, StoreError> {
    macro_rules! insert_client {
        () => {
            concat!(
                "INSERT INTO clients (tenant_id, client_id, app_id, name, secret_hash, description,
                                      redirect_uris, resources, access_token_ttl, settings)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ",
                columns!()
            )
        };
    }
    const PLAIN: &str = insert_client!();
    const AUDITED: &str = concat!(audited!(insert_client!(), "$11"), "SELECT * FROM done");
    let empty = Value::Object(Default::default());
    let event = actor.map(|actor| {
        Event::new(c.tenant_id, actor, Action::ClientCreate, c.client_id)
            .changed(c.given())
            .refs(serde_json::json!({ "app_id": c.app_id }))
    });
    let o = &c.options;
    let query = sqlx::query_as(if event.is_some() { AUDITED } else { PLAIN })
        .bind(c.tenant_id)
        .bind(c.client_id)
        .bind(c.app_id)
        .bind(c.name)
        .bind(c.secret_hash)
        .bind(o.description)
        .bind(o.redirect_uris)
        .bind(o.resources)
        .bind(o.access_token_ttl)
        .bind(Json(o.settings.unwrap_or(&empty)));
    let query = match &event {
        Some(event) => query.bind(event.param()),
        None => query,
    };
    query.fetch_one(executor).await.map_err(StoreError::unsure)
}

#[tracing::instrument(name = "store.clients.list", skip_all, fields(db.system.name = "postgresql"))]
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

#[tracing::instrument(name = "store.clients.get", skip_all, fields(db.system.name = "postgresql"))]
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
#[tracing::instrument(name = "store.clients.defaults", skip_all, fields(db.system.name = "postgresql"))]
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

/// Changes a client. `actor` is whose event to record with it, in the same
/// statement; `None` when the caller records the change this is part of
/// (an application's update of its default client).
#[tracing::instrument(name = "store.clients.update", skip_all, fields(db.system.name = "postgresql"))]
pub async fn update(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    app_id: &str,
    client_id: &str,
    c: &ClientChange<'_>,
    actor: Option<&Actor>,
) -> Result<Client, StoreError> {
    macro_rules! update_client {
        () => {
            concat!(
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
            )
        };
    }
    const PLAIN: &str = update_client!();
    const AUDITED: &str = concat!(audited!(update_client!(), "$11"), "SELECT * FROM done");
    let empty = Value::Object(Default::default());
    let event = actor.map(|actor| {
        Event::new(tenant_id, actor, Action::ClientUpdate, client_id)
            .changed(c.given())
            .refs(serde_json::json!({ "app_id": app_id }))
    });
    let query = sqlx::query_as(if event.is_some() { AUDITED } else { PLAIN })
        .bind(tenant_id)
        .bind(app_id)
        .bind(client_id)
        .bind(c.name)
        .bind(c.description)
        .bind(c.redirect_uris)
        .bind(c.resources)
        .bind(c.access_token_ttl.is_some())
        .bind(c.access_token_ttl.flatten())
        .bind(Json(c.settings.unwrap_or(&empty)));
    let query = match &event {
        Some(event) => query.bind(event.param()),
        None => query,
    };
    query
        .fetch_optional(executor)
        .await?
        .ok_or(StoreError::NotFound(Entity::Client))
}

/// Deletes one client (`Some`) or every client (`None`) of an application,
/// revoking the tokens they were issued and recording `actor`'s event.
/// The management application keeps at least one client, or nobody could
/// administer the tenant again: taking its last is [`StoreError::Invalid`].
#[tracing::instrument(name = "store.clients.delete", skip_all, fields(db.system.name = "postgresql"))]
pub async fn delete(
    pool: &PgPool,
    tenant_id: &str,
    app_id: &str,
    client_id: Option<&str>,
    actor: &Actor,
) -> Result<(), StoreError> {
    let mut tx = tenancy::begin(pool, tenant_id).await?;
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
    let deleted: Vec<String> = sqlx::query_scalar(
        "DELETE FROM clients WHERE tenant_id = $1 AND app_id = $2
            AND ($3::text IS NULL OR client_id = $3)
         RETURNING client_id",
    )
    .bind(tenant_id)
    .bind(app_id)
    .bind(client_id)
    .fetch_all(&mut *tx)
    .await?;
    if client_id.is_some() && deleted.is_empty() {
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
    let event = match client_id {
        Some(client_id) => Event::new(tenant_id, actor, Action::ClientDelete, client_id)
            .refs(serde_json::json!({ "app_id": app_id })),
        None => Event::new(tenant_id, actor, Action::ApplicationClientsDelete, app_id)
            .changed(vec!["clients".into()])
            .refs(serde_json::json!({ "client_ids": deleted })),
    };
    audit::record(&mut *tx, &event).await?;
    tx.commit().await.map_err(StoreError::commit)
}

/// Replaces a client's secret hash; the old secret stops working at once,
/// and tokens issued before the rotation are revoked. `actor`'s event
/// names the secret, never its value or hash.
#[tracing::instrument(name = "store.clients.rotate_secret", skip_all, fields(db.system.name = "postgresql"))]
pub async fn rotate_secret(
    pool: &PgPool,
    tenant_id: &str,
    app_id: &str,
    client_id: &str,
    secret_hash: &str,
    actor: &Actor,
) -> Result<Client, StoreError> {
    let mut tx = tenancy::begin(pool, tenant_id).await?;
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
    let event = Event::new(tenant_id, actor, Action::ClientSecretRotate, client_id)
        .changed(vec!["client_secret".into()])
        .refs(serde_json::json!({ "app_id": app_id }));
    audit::record(&mut *tx, &event).await?;
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

/// The client a token request names, if it exists. The tenant is not
/// known yet: the transaction first sees this one client whatever its
/// tenant (row-level security's `presented_client` policy), then is
/// confined to the tenant it belongs to.
#[tracing::instrument(name = "store.clients.for_authentication", skip_all, fields(db.system.name = "postgresql"))]
pub async fn for_authentication(
    pool: &PgPool,
    client_id: &str,
) -> Result<Option<KnownClient>, StoreError> {
    let mut tx = pool.begin().await?;
    tenancy::reveal_client(&mut tx, client_id).await?;
    let tenant_id: Option<String> =
        sqlx::query_scalar("SELECT tenant_id FROM clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(tenant_id) = tenant_id else {
        return Ok(None);
    };
    tenancy::confine(&mut tx, &tenant_id).await?;
    let known = sqlx::query_as(
        "SELECT c.tenant_id, c.app_id, a.is_management, c.secret_hash, c.access_token_ttl,
                c.resources
           FROM clients c
           JOIN applications a ON a.tenant_id = c.tenant_id AND a.app_id = c.app_id
          WHERE c.tenant_id = $1 AND c.client_id = $2",
    )
    .bind(&tenant_id)
    .bind(client_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(known)
}
