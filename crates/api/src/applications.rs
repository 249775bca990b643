//! Applications, their clients and roles: admin-token endpoints following
//! the vendor's Applications API paths where it has them. Every query is
//! confined to the caller's tenant, so another tenant's ids are simply not
//! found.

use actix_web::{HttpResponse, web};
use idstore_auth::policy;
use idstore_auth::secret;
use idstore_domain::id::new_id;
use idstore_store::applications::{self, Application, NewApplication};
use idstore_store::clients::{self, Client, NewClient};
use idstore_store::roles::{self, NewRole, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Authorized;
use crate::input::{millis, not_found, path_id, text};
use crate::{ApiError, AppState};

policy!(AppsCreate = "apps:create");
policy!(AppsList = "apps:list");
policy!(AppsRead = "apps:read");
policy!(AppsEdit = "apps:edit");
policy!(AppsDelete = "apps:delete");
policy!(RolesCreate = "roles:create");
policy!(RolesRead = "roles:read");
policy!(RolesDelete = "roles:delete");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/applications")
            .post(create_app)
            .get(list_apps),
    )
    .service(
        web::resource("/v1/applications/{app_id}")
            .get(get_app)
            .delete(delete_app),
    )
    .service(
        web::resource("/v1/applications/{app_id}/clients")
            .post(create_client)
            .get(list_clients),
    )
    .service(web::resource("/v1/applications/{app_id}/clients/{client_id}").delete(delete_client))
    .service(
        web::resource("/v1/admin/applications/{app_id}/clients/{client_id}/rotate-secret")
            .post(rotate_client_secret),
    )
    .service(
        web::resource("/v1/applications/{app_id}/roles")
            .post(create_role)
            .get(list_roles),
    )
    .service(web::resource("/v1/applications/{app_id}/roles/{role_id}").delete(delete_role));
}

fn app_json(a: &Application) -> Value {
    json!({
        "app_id": a.app_id,
        "name": a.name,
        "description": a.description,
        "is_management": a.is_management,
        "created_at": millis(a.created_at),
        "updated_at": millis(a.updated_at),
    })
}

fn client_json(c: &Client) -> Value {
    json!({
        "client_id": c.client_id,
        "app_id": c.app_id,
        "name": c.name,
        "created_at": millis(c.created_at),
        "secret_rotated_at": c.rotated_at.map(millis),
    })
}

fn role_json(r: &Role) -> Value {
    json!({
        "role_id": r.role_id,
        "app_id": r.app_id,
        "name": r.name,
        "description": r.description,
        "permissions": r.permissions.0,
        "created_at": millis(r.created_at),
        "updated_at": millis(r.updated_at),
    })
}

/// Confirms the application exists in the caller's tenant.
async fn app_of(state: &AppState, tenant_id: &str, app_id: &str) -> Result<Application, ApiError> {
    path_id("app_id", app_id)?;
    applications::get(&state.pool, tenant_id, app_id)
        .await
        .map_err(not_found("Application"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAppInput {
    name: String,
    description: Option<String>,
    /// Deprecated in the vendor's API: accepted, not required.
    client_display_name: Option<String>,
}

/// Creates an application with a default client; the client secret is in
/// this response only.
async fn create_app(
    auth: Authorized<AppsCreate>,
    state: web::Data<AppState>,
    body: web::Json<CreateAppInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    text("name", &input.name, 100)?;
    if let Some(d) = &input.description {
        text("description", d, 1000)?;
    }
    let client_name = input.client_display_name.as_deref().unwrap_or("default");
    text("client_display_name", client_name, 100)?;
    let (client_id, client_secret) = new_credentials()?;
    let hash = state.auth.hashes.hash(client_secret.clone()).await;
    let app_id = new_id();
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    let app = applications::create(
        &mut tx,
        NewApplication {
            tenant_id: auth.tenant_id(),
            app_id: &app_id,
            name: &input.name,
            description: input.description.as_deref(),
            is_management: false,
        },
    )
    .await
    .map_err(not_found("Application"))?;
    clients::create(
        &mut tx,
        NewClient {
            tenant_id: auth.tenant_id(),
            app_id: &app_id,
            client_id: &client_id,
            name: client_name,
            secret_hash: &hash,
        },
    )
    .await
    .map_err(not_found("Client"))?;
    tx.commit().await.map_err(ApiError::internal)?;
    let mut result = app_json(&app);
    result["client_id"] = json!(client_id);
    result["client_secret"] = json!(client_secret);
    Ok(HttpResponse::Created().json(json!({ "result": result })))
}

fn new_credentials() -> Result<(String, String), ApiError> {
    let id = secret::generate_client_id().map_err(ApiError::internal)?;
    let secret = secret::generate_client_secret().map_err(ApiError::internal)?;
    Ok((id, secret))
}

async fn list_apps(
    auth: Authorized<AppsList>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let apps = applications::list(&state.pool, auth.tenant_id())
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(json!({ "result": apps.iter().map(app_json).collect::<Vec<_>>() })))
}

async fn get_app(
    auth: Authorized<AppsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    Ok(HttpResponse::Ok().json(json!({ "result": app_json(&app) })))
}

async fn delete_app(
    auth: Authorized<AppsDelete>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    if app.is_management {
        return Err(ApiError::bad_request(
            "The management application cannot be deleted",
        ));
    }
    applications::delete(&state.pool, auth.tenant_id(), &app.app_id)
        .await
        .map_err(not_found("Application"))?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateClientInput {
    name: String,
}

async fn create_client(
    auth: Authorized<AppsEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CreateClientInput>,
) -> Result<HttpResponse, ApiError> {
    text("name", &body.name, 100)?;
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let (client_id, client_secret) = new_credentials()?;
    let hash = state.auth.hashes.hash(client_secret.clone()).await;
    let mut conn = state.pool.acquire().await.map_err(ApiError::internal)?;
    let client = clients::create(
        &mut conn,
        NewClient {
            tenant_id: auth.tenant_id(),
            app_id: &app.app_id,
            client_id: &client_id,
            name: &body.name,
            secret_hash: &hash,
        },
    )
    .await
    .map_err(not_found("Client"))?;
    let mut result = client_json(&client);
    result["client_secret"] = json!(client_secret);
    Ok(HttpResponse::Created().json(json!({ "result": result })))
}

async fn list_clients(
    auth: Authorized<AppsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let list = clients::list(&state.pool, auth.tenant_id(), &app.app_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .json(json!({ "result": list.iter().map(client_json).collect::<Vec<_>>() })))
}

async fn delete_client(
    auth: Authorized<AppsEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, client_id) = path.into_inner();
    path_id("client_id", &client_id)?;
    let app = app_of(&state, auth.tenant_id(), &app_id).await?;
    clients::delete(&state.pool, auth.tenant_id(), &app.app_id, &client_id)
        .await
        .map_err(not_found("Client"))?;
    Ok(HttpResponse::NoContent().finish())
}

async fn rotate_client_secret(
    auth: Authorized<AppsEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, client_id) = path.into_inner();
    path_id("client_id", &client_id)?;
    let app = app_of(&state, auth.tenant_id(), &app_id).await?;
    let client_secret = secret::generate_client_secret().map_err(ApiError::internal)?;
    let hash = state.auth.hashes.hash(client_secret.clone()).await;
    let client = clients::rotate_secret(
        &state.pool,
        auth.tenant_id(),
        &app.app_id,
        &client_id,
        &hash,
    )
    .await
    .map_err(not_found("Client"))?;
    let mut result = client_json(&client);
    result["client_secret"] = json!(client_secret);
    Ok(HttpResponse::Ok().json(json!({ "result": result })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRoleInput {
    name: String,
    description: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

async fn create_role(
    auth: Authorized<RolesCreate>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CreateRoleInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    text("name", &input.name, 100)?;
    if let Some(d) = &input.description {
        text("description", d, 1000)?;
    }
    if input.permissions.len() > 100 {
        return Err(ApiError::bad_request(
            "permissions may list at most 100 entries",
        ));
    }
    for p in &input.permissions {
        text("permissions[]", p, 100)?;
    }
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let role = roles::create(
        &state.pool,
        NewRole {
            tenant_id: auth.tenant_id(),
            app_id: &app.app_id,
            role_id: &new_id(),
            name: &input.name,
            description: input.description.as_deref(),
            permissions: &input.permissions,
        },
    )
    .await
    .map_err(not_found("Role"))?;
    Ok(HttpResponse::Created().json(json!({ "result": role_json(&role) })))
}

async fn list_roles(
    auth: Authorized<RolesRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let list = roles::list(&state.pool, auth.tenant_id(), &app.app_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(
        HttpResponse::Ok()
            .json(json!({ "result": list.iter().map(role_json).collect::<Vec<_>>() })),
    )
}

async fn delete_role(
    auth: Authorized<RolesDelete>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, role_id) = path.into_inner();
    path_id("role_id", &role_id)?;
    let app = app_of(&state, auth.tenant_id(), &app_id).await?;
    roles::delete(&state.pool, auth.tenant_id(), &app.app_id, &role_id)
        .await
        .map_err(not_found("Role"))?;
    Ok(HttpResponse::NoContent().finish())
}
