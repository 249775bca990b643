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
use utoipa::OpenApi;

use self::input::{ClientInput, ClientSpec};
use self::wire::ApiOidcClient;
use crate::applications::{AppsEdit, AppsRead, app_and_child, app_of, new_credentials};
use crate::auth::Authorized;
use crate::input::Body;
use crate::openapi::ErrorMessage;
use crate::routes::Routes;
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(paths(
    create_client,
    list_clients,
    get_client,
    update_client,
    delete_client,
    delete_clients,
    rotate_client_secret
))]
pub struct Doc;

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

#[utoipa::path(
    post,
    path = "/v1/applications/{app_id}/clients",
    operation_id = "createAppClient",
    tag = "Applications",
    responses(
        (status = 404, description = "No such application (SPEC_READINGS #26)", body = ref("#/components/schemas/NotFoundHttpError")),
    ),
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #27: only admin tokens manage clients; `[appId]:*` permissions are not honoured",
        "SPEC_READINGS #25: answers the bare client, without `{\"result\": ...}`",
        "SPEC_READINGS #26: an unknown application is a 404",
        "SPEC_READINGS, per field: SAML clients and the features idstore lacks are refused with a 400 naming the field",
    ]))),
)]
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

#[utoipa::path(
    get,
    path = "/v1/applications/{app_id}/clients",
    operation_id = "getAppClients",
    tag = "Applications",
    responses(
        (status = 404, description = "No such application (SPEC_READINGS #26)", body = ref("#/components/schemas/NotFoundHttpError")),
    ),
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #27: only admin tokens manage clients; `[appId]:*` permissions are not honoured",
        "SPEC_READINGS #24: `client_secret` is left out (only a hash of it is stored); only createAppClient, createApp and the rotate-secret extension show it",
        "SPEC_READINGS #26: an unknown application is a 404",
    ]))),
)]
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

#[utoipa::path(
    get,
    path = "/v1/applications/{app_id}/clients/{client_id}",
    operation_id = "getAppClientById",
    tag = "Applications",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #27: only admin tokens manage clients; `[appId]:*` permissions are not honoured",
        "SPEC_READINGS #25: answers the bare client, without `{\"result\": ...}`",
        "SPEC_READINGS #24: `client_secret` is left out (only a hash of it is stored); only createAppClient, createApp and the rotate-secret extension show it",
    ]))),
)]
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
#[utoipa::path(
    put,
    path = "/v1/applications/{app_id}/clients/{client_id}",
    operation_id = "updateAppClient",
    tag = "Applications",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #27: only admin tokens manage clients; `[appId]:*` permissions are not honoured",
        "SPEC_READINGS #25: answers the bare client, without `{\"result\": ...}`",
        "SPEC_READINGS #24: `client_secret` is left out (only a hash of it is stored); only createAppClient, createApp and the rotate-secret extension show it",
        "SPEC_READINGS #29: a given field replaces the stored one (objects whole), a field left out keeps its value",
        "SPEC_READINGS #32: counting `number` fields take whole numbers only",
    ]))),
)]
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

#[utoipa::path(
    delete,
    path = "/v1/applications/{app_id}/clients/{client_id}",
    operation_id = "deleteAppClient",
    tag = "Applications",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #27: only admin tokens manage clients; `[appId]:*` permissions are not honoured",
        "SPEC_READINGS #30: refused (400) on the management application when it would leave it no client",
    ]))),
)]
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

#[utoipa::path(
    delete,
    path = "/v1/applications/{app_id}/clients",
    operation_id = "deleteAppClients",
    tag = "Applications",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #27: only admin tokens manage clients; `[appId]:*` permissions are not honoured",
        "SPEC_READINGS #30: refused (400) on the management application",
    ]))),
)]
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

/// Gives the client a new secret, shown in this answer only; the old one
/// stops working at once.
#[utoipa::path(
    post,
    path = "/v1/admin/applications/{app_id}/clients/{client_id}/rotate-secret",
    operation_id = "rotateAppClientSecret",
    tag = "idstore extension",
    params(("app_id" = String, Path), ("client_id" = String, Path)),
    responses(
        (status = 200, description = "The vendor's `ApiOidcClient`, bare, with its new `client_secret`", body = ref("#/components/schemas/ApiOidcClient")),
        (status = 404, description = "No such application or client", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
    extensions(("x-idstore-note" = json!(["SPEC_READINGS #24"]))),
)]
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
