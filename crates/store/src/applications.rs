//! Applications of a tenant. Every query names the tenant.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool};

use crate::audit::{self, Action, Actor, Event};
use crate::clients::{self, Client, ClientChange, NewClient, given_fields};
use crate::error::Entity;
use crate::revocations::{self, Cut};
use crate::{StoreError, keyed, tenancy};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Application {
    pub tenant_id: String,
    pub app_id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_management: bool,
    /// The client whose token created it; `None` for bootstrap and seed.
    pub created_by: Option<String>,
    /// Settings kept as given (the vendor's field names), an object.
    pub settings: Json<Value>,
    #[sqlx(flatten)]
    pub clients_may: ClientUserPermissions,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the application's own clients may change about users, beyond its
/// own `custom_app_data` (which they always may).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ClientUserPermissions {
    /// Names, address, birthday, picture, language, custom_data.
    #[sqlx(rename = "clients_edit_profiles")]
    pub edit_profiles: bool,
    /// Emails, phone numbers (and their verification), username,
    /// external_user_id.
    #[sqlx(rename = "clients_change_identifiers")]
    pub change_identifiers: bool,
    /// Status (enabling, disabling).
    #[sqlx(rename = "clients_change_status")]
    pub change_status: bool,
}

macro_rules! columns {
    () => {
        "tenant_id, app_id, name, description, is_management, created_by, settings, \
         clients_edit_profiles, clients_change_identifiers, clients_change_status, \
         created_at, updated_at"
    };
}

pub struct NewApplication<'a> {
    pub tenant_id: &'a str,
    pub app_id: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub is_management: bool,
    pub created_by: Option<&'a str>,
    /// An object; `None` is `{}`.
    pub settings: Option<&'a Value>,
}

#[tracing::instrument(name = "store.applications.create", skip_all, fields(db.system.name = "postgresql"))]
pub async fn create(
    executor: impl PgExecutor<'_>,
    app: NewApplication<'_>,
) -> Result<Application, StoreError> {
    let empty = Value::Object(Default::default());
    Ok(sqlx::query_as(concat!(
        "INSERT INTO applications (tenant_id, app_id, name, description, is_management,
                                   created_by, settings)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        columns!()
    ))
    .bind(app.tenant_id)
    .bind(app.app_id)
    .bind(app.name)
    .bind(app.description)
    .bind(app.is_management)
    .bind(app.created_by)
    .bind(Json(app.settings.unwrap_or(&empty)))
    .fetch_one(executor)
    .await?)
}

/// Creates an application and its first client in one transaction: an
/// application nobody can authenticate for is never left behind. One
/// event of `actor`'s records both.
#[tracing::instrument(name = "store.applications.create_with_client", skip_all, fields(db.system.name = "postgresql"))]
pub async fn create_with_client(
    pool: &PgPool,
    app: NewApplication<'_>,
    client: NewClient<'_>,
    actor: &Actor,
) -> Result<(Application, Client), StoreError> {
    let fields = [
        ("app_name", true),
        ("app_description", app.description.is_some()),
    ];
    let mut changed = given_fields(&fields, app.settings);
    changed.extend(client.given().into_iter().map(|f| format!("client.{f}")));
    let event = Event::new(app.tenant_id, actor, Action::ApplicationCreate, app.app_id)
        .changed(changed)
        .refs(serde_json::json!({ "client_id": client.client_id }));
    let mut tx = tenancy::begin(pool, app.tenant_id).await?;
    let app = create(&mut *tx, app).await?;
    let client = clients::create(&mut *tx, client, None).await?;
    audit::record(&mut *tx, &event).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok((app, client))
}

#[tracing::instrument(name = "store.applications.list", skip_all, fields(db.system.name = "postgresql"))]
pub async fn list(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
) -> Result<Vec<Application>, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM applications WHERE tenant_id = $1 ORDER BY created_at, app_id"
    );
    keyed::list(executor, SQL, &[tenant_id]).await
}

#[tracing::instrument(name = "store.applications.get", skip_all, fields(db.system.name = "postgresql"))]
pub async fn get(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    app_id: &str,
) -> Result<Application, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM applications WHERE tenant_id = $1 AND app_id = $2"
    );
    keyed::get(executor, SQL, &[tenant_id, app_id], Entity::Application).await
}

/// A change to an application: `None` keeps a field; `settings` is merged
/// key by key (a given key replaces the stored one whole).
#[derive(Default)]
pub struct AppChange<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub settings: Option<&'a Value>,
}

/// Changes an application and, in the same transaction, its default client
/// when `default_client` says how (the vendor's deprecated per-app client
/// fields), recording `actor`'s event. Returns the default client, `None`
/// when the application has none left; asking to change it then is
/// [`StoreError::Invalid`].
#[tracing::instrument(name = "store.applications.update", skip_all, fields(db.system.name = "postgresql"))]
pub async fn update(
    pool: &PgPool,
    tenant_id: &str,
    app_id: &str,
    change: &AppChange<'_>,
    default_client: Option<&ClientChange<'_>>,
    actor: &Actor,
) -> Result<(Application, Option<Client>), StoreError> {
    let empty = Value::Object(Default::default());
    let mut tx = tenancy::begin(pool, tenant_id).await?;
    let app: Application = sqlx::query_as(concat!(
        "UPDATE applications SET
             name = COALESCE($3, name),
             description = COALESCE($4, description),
             settings = settings || $5,
             updated_at = now()
          WHERE tenant_id = $1 AND app_id = $2 RETURNING ",
        columns!()
    ))
    .bind(tenant_id)
    .bind(app_id)
    .bind(change.name)
    .bind(change.description)
    .bind(Json(change.settings.unwrap_or(&empty)))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound(Entity::Application))?;
    let first = clients::list(&mut *tx, tenant_id, app_id)
        .await?
        .into_iter()
        .next();
    let client = match (first, default_client) {
        (Some(first), Some(change)) => Some(
            clients::update(&mut *tx, tenant_id, app_id, &first.client_id, change, None).await?,
        ),
        (first, None) => first,
        (None, Some(_)) => {
            return Err(StoreError::Invalid(
                "The application has no client for the client_* fields to change: create one \
                 through /v1/applications/{app_id}/clients"
                    .into(),
            ));
        }
    };
    let fields = [
        ("app_name", change.name.is_some()),
        ("app_description", change.description.is_some()),
    ];
    let mut changed = given_fields(&fields, change.settings);
    let mut event = Event::new(tenant_id, actor, Action::ApplicationUpdate, app_id);
    if let (Some(client), Some(change)) = (&client, default_client) {
        changed.extend(change.given().into_iter().map(|f| format!("client.{f}")));
        event = event.refs(serde_json::json!({ "client_id": client.client_id }));
    }
    audit::record(&mut *tx, &event.changed(changed)).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok((app, client))
}

/// Sets what the application's clients may change about users; `None`
/// keeps a permission as it is. Recorded as `actor`'s event.
#[tracing::instrument(name = "store.applications.set_client_user_permissions", skip_all, fields(db.system.name = "postgresql"))]
pub async fn set_client_user_permissions(
    pool: &PgPool,
    tenant_id: &str,
    app_id: &str,
    permissions: [Option<bool>; 3],
    actor: &Actor,
) -> Result<Application, StoreError> {
    let [edit_profiles, change_identifiers, change_status] = permissions;
    let mut tx = tenancy::begin(pool, tenant_id).await?;
    let app = sqlx::query_as(concat!(
        "UPDATE applications SET
             clients_edit_profiles = COALESCE($3, clients_edit_profiles),
             clients_change_identifiers = COALESCE($4, clients_change_identifiers),
             clients_change_status = COALESCE($5, clients_change_status),
             updated_at = now()
          WHERE tenant_id = $1 AND app_id = $2 RETURNING ",
        columns!()
    ))
    .bind(tenant_id)
    .bind(app_id)
    .bind(edit_profiles)
    .bind(change_identifiers)
    .bind(change_status)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound(Entity::Application))?;
    let changed = [
        ("edit_profiles", edit_profiles),
        ("change_identifiers", change_identifiers),
        ("change_status", change_status),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_some())
    .map(|(name, _)| name.to_owned())
    .collect();
    let event = Event::new(
        tenant_id,
        actor,
        Action::ApplicationUserPermissionsUpdate,
        app_id,
    )
    .changed(changed);
    audit::record(&mut *tx, &event).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(app)
}

/// Deletes an application and, by cascade, its clients, roles and user
/// associations, revoking its clients' tokens and recording `actor`'s
/// event. The management application is never deleted: asking for it is
/// [`StoreError::Invalid`].
#[tracing::instrument(name = "store.applications.delete", skip_all, fields(db.system.name = "postgresql"))]
pub async fn delete(
    pool: &PgPool,
    tenant_id: &str,
    app_id: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    let mut tx = tenancy::begin(pool, tenant_id).await?;
    if get(&mut *tx, tenant_id, app_id).await?.is_management {
        return Err(StoreError::Invalid(
            "The management application cannot be deleted".into(),
        ));
    }
    // The row lock keeps a client from being added (its foreign key
    // shares the row) between the revocation and the delete.
    sqlx::query("SELECT 1 FROM applications WHERE tenant_id = $1 AND app_id = $2 FOR UPDATE")
        .bind(tenant_id)
        .bind(app_id)
        .execute(&mut *tx)
        .await?;
    revocations::revoke_clients(&mut *tx, tenant_id, app_id, None, Cut::Inclusive).await?;
    const SQL: &str =
        "DELETE FROM applications WHERE tenant_id = $1 AND app_id = $2 AND NOT is_management";
    keyed::delete(&mut *tx, SQL, &[tenant_id, app_id], Entity::Application).await?;
    audit::record(
        &mut *tx,
        &Event::new(tenant_id, actor, Action::ApplicationDelete, app_id),
    )
    .await?;
    tx.commit().await.map_err(StoreError::commit)
}
