//! Applications: admin-token endpoints following the vendor's Applications
//! API paths. Every query is confined to the caller's tenant, so another
//! tenant's ids are simply not found.

mod input;
mod wire;

use actix_web::{HttpResponse, web};
use idstore_auth::{policy, secret};
use idstore_domain::id::new_id;
use idstore_store::applications::{self, Application, NewApplication};
use idstore_store::clients::NewClient;
use secrecy::SecretString;

use self::input::CreateAppInput;
use self::wire::{ApiApp, CreatedApp};
use crate::auth::Authorized;
use crate::input::{Body, path_id};
use crate::routes::Routes;
use crate::wire::{Many, One};
use crate::{ApiError, AppState};

policy!(AppsCreate = "apps:create");
policy!(AppsList = "apps:list");
policy!(AppsRead = "apps:read");
policy!(AppsEdit = "apps:edit");
policy!(AppsDelete = "apps:delete");

pub fn routes(r: &mut Routes) {
    r.at("/v1/applications").post(create_app).get(list_apps);
    r.at("/v1/applications/{app_id}")
        .get(get_app)
        .delete(delete_app);
}

/// The application named in a path, when it exists in the caller's tenant.
pub(crate) async fn app_of(
    state: &AppState,
    tenant_id: &str,
    app_id: &str,
) -> Result<Application, ApiError> {
    path_id("app_id", app_id)?;
    Ok(applications::get(&state.pool, tenant_id, app_id).await?)
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
async fn create_app(
    auth: Authorized<AppsCreate>,
    state: web::Data<AppState>,
    body: Body<CreateAppInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().validate()?;
    let (client_id, client_secret, secret_hash) = new_credentials(&state).await?;
    let app_id = new_id();
    let (app, client) = applications::create_with_client(
        &state.pool,
        NewApplication {
            tenant_id: auth.tenant_id(),
            app_id: &app_id,
            name: &input.name,
            description: input.description.as_deref(),
            is_management: false,
        },
        NewClient {
            tenant_id: auth.tenant_id(),
            app_id: &app_id,
            client_id: &client_id,
            name: &input.client_name,
            secret_hash: &secret_hash,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(One::of(CreatedApp::new(&app, &client, &client_secret))))
}

async fn list_apps(
    auth: Authorized<AppsList>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let apps = applications::list(&state.pool, auth.tenant_id()).await?;
    Ok(HttpResponse::Ok().json(Many::of(apps.iter().map(ApiApp::from))))
}

async fn get_app(
    auth: Authorized<AppsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    Ok(HttpResponse::Ok().json(One::of(ApiApp::from(&app))))
}

async fn delete_app(
    auth: Authorized<AppsDelete>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("app_id", &path)?;
    applications::delete(&state.pool, auth.tenant_id(), &path).await?;
    Ok(HttpResponse::NoContent().finish())
}
