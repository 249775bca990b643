//! An application's clients (client_id + hashed secret) on the vendor's
//! Applications API paths: `createAppClient`, `getAppClients`,
//! `getAppClientById`, `updateAppClient`, `deleteAppClient`,
//! `deleteAppClients`; they answer the bare client (no `result` envelope),
//! as the vendor's document says. Rotating a secret is an extension.

pub(crate) mod input;
pub mod wire;

use actix_web::{HttpResponse, web};
use idstore_auth::policy;
use idstore_store::clients::{self, ClientChange, ClientOptions, NewClient};
use serde_json::Value;

use self::input::{ClientInput, ClientSpec};
use self::wire::ApiOidcClient;
use crate::applications::{AppsEdit, AppsRead, app_and_child, app_of, new_credentials};
use crate::auth::Authorized;
use crate::input::Body;
use crate::routes::Routes;
use crate::{ApiError, AppState};

policy!(ClientsWrite = "apps:create", "apps:edit");
policy!(ClientsDelete = "apps:delete", "apps:create", "apps:edit");

pub fn routes(r: &mut Routes) {
    r.at("/v1/applications/{app_id}/clients")
        .post(create_client)
        .get(list_clients)
        .delete(delete_clients);
    r.at("/v1/applications/{app_id}/clients/{client_id}")
        .get(get_client)
        .put(update_client)
        .delete(delete_client);
    r.at("/v1/admin/applications/{app_id}/clients/{client_id}/rotate-secret")
        .post(rotate_client_secret);
}

/// The server's token lifetime in seconds: a client's default and cap.
pub(crate) fn lifetime(state: &AppState) -> u64 {
    state.auth.settings().lifetime.as_secs()
}

impl ClientSpec {
    /// The options of a new client made from this spec.
    pub(crate) fn options<'a>(&'a self, settings: &'a Value) -> ClientOptions<'a> {
        ClientOptions {
            description: self.description.as_deref(),
            redirect_uris: self.redirect_uris.as_deref().unwrap_or_default(),
            resources: self.resources.as_deref().unwrap_or_default(),
            access_token_ttl: self.access_token_ttl.flatten(),
            settings: Some(settings),
        }
    }

    /// This spec as a change to an existing client.
    pub(crate) fn change<'a>(&'a self, settings: &'a Value) -> ClientChange<'a> {
        ClientChange {
            name: self.name.as_deref(),
            description: self.description.as_deref(),
            redirect_uris: self.redirect_uris.as_deref(),
            resources: self.resources.as_deref(),
            access_token_ttl: self.access_token_ttl,
            settings: Some(settings),
        }
    }

    /// Whether any field was given.
    pub(crate) fn changes_anything(&self) -> bool {
        self.name.is_some()
            || self.description.is_some()
            || self.redirect_uris.is_some()
            || self.resources.is_some()
            || self.access_token_ttl.is_some()
            || !self.settings.is_empty()
    }

    pub(crate) fn settings_value(&self) -> Value {
        Value::Object(self.settings.clone())
    }
}

async fn create_client(
    auth: Authorized<ClientsWrite>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<ClientInput>,
) -> Result<HttpResponse, ApiError> {
    let spec = body.into_inner().validate_new(lifetime(&state))?;
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let (client_id, client_secret, secret_hash) = new_credentials(&state).await?;
    let settings = spec.settings_value();
    let client = state
        .within(auth.tenant_id(), async |db| {
            clients::create(
                db,
                NewClient {
                    tenant_id: auth.tenant_id(),
                    app_id: &app.app_id,
                    client_id: &client_id,
                    name: spec.name.as_deref().unwrap_or_default(),
                    secret_hash: &secret_hash,
                    options: spec.options(&settings),
                },
                Some(&auth.actor()),
            )
            .await
        })
        .await?;
    Ok(HttpResponse::Created().json(ApiOidcClient::with_secret(
        &client,
        lifetime(&state),
        &client_secret,
    )))
}

async fn list_clients(
    auth: Authorized<AppsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let list = state
        .within(auth.tenant_id(), async |db| {
            clients::list(db, auth.tenant_id(), &app.app_id).await
        })
        .await?;
    let lifetime = lifetime(&state);
    Ok(HttpResponse::Ok().json(
        list.iter()
            .map(|c| ApiOidcClient::new(c, lifetime))
            .collect::<Vec<_>>(),
    ))
}

async fn get_client(
    auth: Authorized<AppsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app, client_id) =
        app_and_child(&state, auth.tenant_id(), path.into_inner(), "client_id").await?;
    let client = state
        .within(auth.tenant_id(), async |db| {
            clients::get(db, auth.tenant_id(), &app.app_id, &client_id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(ApiOidcClient::new(&client, lifetime(&state))))
}

/// Fields given replace the stored ones whole (objects too, as the
/// vendor's document says); fields left out keep their values.
async fn update_client(
    auth: Authorized<ClientsWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body<ClientInput>,
) -> Result<HttpResponse, ApiError> {
    let spec = body.into_inner().validate_change(lifetime(&state))?;
    let (app, client_id) =
        app_and_child(&state, auth.tenant_id(), path.into_inner(), "client_id").await?;
    let settings = spec.settings_value();
    let client = state
        .within(auth.tenant_id(), async |db| {
            clients::update(
                db,
                auth.tenant_id(),
                &app.app_id,
                &client_id,
                &spec.change(&settings),
                Some(&auth.actor()),
            )
            .await
        })
        .await?;
    Ok(HttpResponse::Ok().json(ApiOidcClient::new(&client, lifetime(&state))))
}

async fn delete_client(
    auth: Authorized<ClientsDelete>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app, client_id) =
        app_and_child(&state, auth.tenant_id(), path.into_inner(), "client_id").await?;
    let actor = auth.actor();
    clients::delete(
        &state.pool,
        auth.tenant_id(),
        &app.app_id,
        Some(&client_id),
        &actor,
    )
    .await?;
    state.auth.refresh_revocations().await;
    Ok(HttpResponse::NoContent().finish())
}

async fn delete_clients(
    auth: Authorized<ClientsDelete>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let actor = auth.actor();
    clients::delete(&state.pool, auth.tenant_id(), &app.app_id, None, &actor).await?;
    state.auth.refresh_revocations().await;
    Ok(HttpResponse::NoContent().finish())
}

async fn rotate_client_secret(
    auth: Authorized<AppsEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app, client_id) =
        app_and_child(&state, auth.tenant_id(), path.into_inner(), "client_id").await?;
    let (_, client_secret, secret_hash) = new_credentials(&state).await?;
    let client = clients::rotate_secret(
        &state.pool,
        auth.tenant_id(),
        &app.app_id,
        &client_id,
        &secret_hash,
        &auth.actor(),
    )
    .await?;
    state.auth.refresh_revocations().await;
    Ok(HttpResponse::Ok().json(ApiOidcClient::with_secret(
        &client,
        lifetime(&state),
        &client_secret,
    )))
}
