//! Applications on the vendor's Applications API paths and shapes:
//! `createApp`, `getAllApps`, `getAppsList`, `getAppById`, `updateApp`,
//! `deleteApp` (answers in `{"result": ...}`, as the vendor's are). Every
//! query is confined to the caller's tenant, so another tenant's ids are
//! simply not found.

mod input;
mod wire;

use actix_web::{HttpResponse, web};
use idstore_auth::{policy, secret};
use idstore_domain::id::new_id;
use idstore_store::applications::{self, AppChange, Application, NewApplication};
use idstore_store::clients::{self, Client, NewClient};
use secrecy::SecretString;
use serde_json::Value;
use utoipa::OpenApi;

use self::input::{AppInput, UserPermissionsInput};
use self::wire::{ApiApp, ApiBasicApp, UserPermissions};
use crate::auth::Authorized;
use crate::clients::lifetime;
use crate::input::{Body, path_id};
use crate::openapi::{BadRequestMessages, ErrorMessage};
use crate::routes::Routes;
use crate::wire::{Many, One};
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(
    paths(
        create_app,
        list_apps,
        list_basic_apps,
        get_app,
        update_app,
        delete_app,
        get_user_permissions,
        set_user_permissions
    ),
    components(schemas(UserPermissions, UserPermissionsInput))
)]
pub struct Doc;

policy!(AppsCreate = "apps:create");
policy!(AppsList = "apps:read", "apps:list");
policy!(
    AppsListBasic = "apps:list",
    "users:read",
    "organizations:read",
    "roles:read",
    "orgs:read"
);
policy!(AppsRead = "apps:read");
policy!(AppsEdit = "apps:edit");
policy!(AppsDelete = "apps:delete");

pub fn routes(r: &mut Routes) {
    r.at("/v1/applications").post(create_app).get(list_apps);
    // Before `{app_id}`, which would otherwise take "list" for an id.
    r.at("/v1/applications/list").get(list_basic_apps);
    r.at("/v1/applications/{app_id}")
        .get(get_app)
        .put(update_app)
        .delete(delete_app);
    r.at("/v1/admin/applications/{app_id}/user-permissions")
        .get(get_user_permissions)
        .put(set_user_permissions);
}

/// The application named in a path, when it exists in the caller's tenant.
pub(crate) async fn app_of(
    state: &AppState,
    tenant_id: &str,
    app_id: &str,
) -> Result<Application, ApiError> {
    path_id("app_id", app_id)?;
    Ok(state
        .within(tenant_id, async |db| {
            applications::get(db, tenant_id, app_id).await
        })
        .await?)
}

/// The application and the id of one of its clients or roles, both named
/// in a path; `field` names the second.
pub(crate) async fn app_and_child(
    state: &AppState,
    tenant_id: &str,
    (app_id, child_id): (String, String),
    field: &str,
) -> Result<(Application, String), ApiError> {
    path_id(field, &child_id)?;
    Ok((app_of(state, tenant_id, &app_id).await?, child_id))
}

/// A fresh client id and secret; the secret is shown once and stored hashed.
pub(crate) async fn new_credentials(
    state: &AppState,
) -> Result<(String, SecretString, String), ApiError> {
    let id = secret::generate_client_id().map_err(ApiError::internal)?;
    let secret = secret::generate_client_secret().map_err(ApiError::internal)?;
    let hash = state.auth.hashes.hash(secret.clone()).await?;
    Ok((id, secret, hash))
}

/// Creates an application with a default client; the client secret is in
/// this response only.
#[utoipa::path(
    post,
    path = "/v1/applications",
    operation_id = "createApp",
    tag = "Applications",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #27: only admin tokens manage applications; `[appId]:read/edit/delete` are not honoured",
        "SPEC_READINGS #15: the deprecated `client_display_name` is accepted, not required",
        "SPEC_READINGS #28: the deprecated `client_*`, `redirect_uris`, `resources`, `device_authorization`, `ciba_authorization` fields describe the default client, or `first_client` does (not both)",
        "SPEC_READINGS #24: the default client's `client_secret` is shown in this answer only",
        "SPEC_READINGS #32: counting `number` fields take whole numbers only",
        "SPEC_READINGS, per field: SAML, an authentication hub, application signing keys, `pkce`, `enforce_par: true`, FAPI, device and CIBA flows, ID token encryption and client authentication other than `client_secret_basic` are refused with a 400 naming the field",
    ]))),
)]
async fn create_app(
    auth: Authorized<AppsCreate>,
    state: web::Data<AppState>,
    body: Body<AppInput>,
) -> Result<HttpResponse, ApiError> {
    let spec = body.into_inner().validate_new(lifetime(&state))?;
    let (client_id, client_secret, secret_hash) = new_credentials(&state).await?;
    let app_id = new_id();
    let settings = Value::Object(spec.settings.clone());
    let client_settings = spec.client.settings_value();
    let (app, client) = applications::create_with_client(
        &state.pool,
        NewApplication {
            tenant_id: auth.tenant_id(),
            app_id: &app_id,
            name: spec.name.as_deref().unwrap_or_default(),
            description: spec.description.as_deref(),
            is_management: false,
            created_by: Some(&auth.principal.client_id),
            settings: Some(&settings),
        },
        NewClient {
            tenant_id: auth.tenant_id(),
            app_id: &app_id,
            client_id: &client_id,
            name: spec.client.name.as_deref().unwrap_or_default(),
            secret_hash: &secret_hash,
            options: spec.client.options(&client_settings),
        },
        &auth.actor(),
    )
    .await?;
    Ok(HttpResponse::Created().json(One::of(ApiApp::created(&app, &client, &client_secret))))
}

/// Each application with its default client (`ApiAppWithoutLogo`).
#[utoipa::path(
    get,
    path = "/v1/applications",
    operation_id = "getAllApps",
    tag = "Applications",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #27: only admin tokens manage applications; `[appId]:read/edit/delete` are not honoured",
    ]))),
)]
async fn list_apps(
    auth: Authorized<AppsList>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let apps = state
        .within(auth.tenant_id(), async |db| {
            applications::list(db, auth.tenant_id()).await
        })
        .await?;
    let defaults = state
        .within(auth.tenant_id(), async |db| {
            clients::defaults(db, auth.tenant_id()).await
        })
        .await?;
    let default_of = |a: &Application| defaults.iter().find(|c| c.app_id == a.app_id);
    Ok(HttpResponse::Ok().json(Many::of(
        apps.iter().map(|a| ApiApp::new(a, default_of(a), false)),
    )))
}

#[utoipa::path(
    get,
    path = "/v1/applications/list",
    operation_id = "getAppsList",
    tag = "Applications",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #27: only admin tokens manage applications; `[appId]:read/edit/delete` are not honoured",
    ]))),
)]
async fn list_basic_apps(
    auth: Authorized<AppsListBasic>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let apps = state
        .within(auth.tenant_id(), async |db| {
            applications::list(db, auth.tenant_id()).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(Many::of(apps.iter().map(ApiBasicApp::from))))
}

/// The application's first client, the vendor's "default client".
async fn default_client(state: &AppState, app: &Application) -> Result<Option<Client>, ApiError> {
    let list = state
        .within(&app.tenant_id, async |db| {
            clients::list(db, &app.tenant_id, &app.app_id).await
        })
        .await?;
    Ok(list.into_iter().next())
}

#[utoipa::path(
    get,
    path = "/v1/applications/{app_id}",
    operation_id = "getAppById",
    tag = "Applications",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #27: only admin tokens manage applications; `[appId]:read/edit/delete` are not honoured",
    ]))),
)]
async fn get_app(
    auth: Authorized<AppsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let client = default_client(&state, &app).await?;
    Ok(HttpResponse::Ok().json(One::of(ApiApp::new(&app, client.as_ref(), true))))
}

/// Fields given replace the stored ones whole (objects too, as the
/// vendor's document says); fields left out keep their values. The
/// deprecated client fields change the default client, in the same
/// transaction.
#[utoipa::path(
    put,
    path = "/v1/applications/{app_id}",
    operation_id = "updateApp",
    tag = "Applications",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #27: only admin tokens manage applications; `[appId]:read/edit/delete` are not honoured",
        "SPEC_READINGS #29: a given field replaces the stored one (objects whole), a field left out keeps its value; the default client changes only when a `client_*`-style field is given (400 when the application has no client left); `first_client` is refused",
        "SPEC_READINGS #28: the deprecated client fields describe the default client (its oldest)",
        "SPEC_READINGS #32: counting `number` fields take whole numbers only",
    ]))),
)]
async fn update_app(
    auth: Authorized<AppsEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<AppInput>,
) -> Result<HttpResponse, ApiError> {
    let spec = body.into_inner().validate_change(lifetime(&state))?;
    path_id("app_id", &path)?;
    let settings = Value::Object(spec.settings.clone());
    let client_settings = spec.client.settings_value();
    let (app, client) = applications::update(
        &state.pool,
        auth.tenant_id(),
        &path,
        &AppChange {
            name: spec.name.as_deref(),
            description: spec.description.as_deref(),
            settings: Some(&settings),
        },
        spec.client
            .changes_anything()
            .then(|| spec.client.change(&client_settings))
            .as_ref(),
        &auth.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(One::of(ApiApp::new(&app, client.as_ref(), true))))
}

#[utoipa::path(
    delete,
    path = "/v1/applications/{app_id}",
    operation_id = "deleteApp",
    tag = "Applications",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #27: only admin tokens manage applications; `[appId]:read/edit/delete` are not honoured",
    ]))),
)]
async fn delete_app(
    auth: Authorized<AppsDelete>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("app_id", &path)?;
    applications::delete(&state.pool, auth.tenant_id(), &path, &auth.actor()).await?;
    state.auth.refresh_revocations().await;
    Ok(HttpResponse::NoContent().finish())
}

/// What the application's clients may change about the tenant's users (an
/// extension; docs/SPEC_READINGS.md #33).
#[utoipa::path(
    get,
    path = "/v1/admin/applications/{app_id}/user-permissions",
    operation_id = "getAppUserPermissions",
    tag = "idstore extension",
    params(("app_id" = String, Path)),
    responses(
        (status = 200, description = "`{\"result\": UserPermissions}`", body = inline(One<UserPermissions>)),
        (status = 404, description = "No such application", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
    extensions(("x-idstore-note" = json!(["SPEC_READINGS #33"]))),
)]
async fn get_user_permissions(
    auth: Authorized<AppsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    Ok(HttpResponse::Ok().json(One::of(UserPermissions::from(&app.clients_may))))
}

/// A permission left out keeps its value.
#[utoipa::path(
    put,
    path = "/v1/admin/applications/{app_id}/user-permissions",
    operation_id = "setAppUserPermissions",
    tag = "idstore extension",
    params(("app_id" = String, Path)),
    request_body = UserPermissionsInput,
    responses(
        (status = 200, description = "`{\"result\": UserPermissions}`", body = inline(One<UserPermissions>)),
        (status = 400, body = BadRequestMessages),
        (status = 404, description = "No such application", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
    extensions(("x-idstore-note" = json!(["SPEC_READINGS #33"]))),
)]
async fn set_user_permissions(
    auth: Authorized<AppsEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<UserPermissionsInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    path_id("app_id", &path)?;
    let app = applications::set_client_user_permissions(
        &state.pool,
        auth.tenant_id(),
        &path,
        [
            input.edit_profiles,
            input.change_identifiers,
            input.change_status,
        ],
        &auth.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(One::of(UserPermissions::from(&app.clients_may))))
}
