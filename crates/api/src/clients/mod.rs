//! An application's clients (client_id + hashed secret): admin-token
//! endpoints under the application they belong to.

mod input;
pub mod wire;

use actix_web::{HttpResponse, web};
use idstore_store::clients::{self, NewClient};

use self::input::CreateClientInput;
use self::wire::{ApiClient, WithSecret};
use crate::applications::{AppsEdit, AppsRead, app_and_child, app_of, new_credentials};
use crate::auth::Authorized;
use crate::input::Body;
use crate::routes::Routes;
use crate::wire::{Many, One};
use crate::{ApiError, AppState};

pub fn routes(r: &mut Routes) {
    r.at("/v1/applications/{app_id}/clients")
        .post(create_client)
        .get(list_clients);
    r.at("/v1/applications/{app_id}/clients/{client_id}")
        .delete(delete_client);
    r.at("/v1/admin/applications/{app_id}/clients/{client_id}/rotate-secret")
        .post(rotate_client_secret);
}

async fn create_client(
    auth: Authorized<AppsEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<CreateClientInput>,
) -> Result<HttpResponse, ApiError> {
    let name = body.into_inner().validate()?;
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let (client_id, client_secret, secret_hash) = new_credentials(&state).await?;
    let client = clients::create(
        &state.pool,
        NewClient {
            tenant_id: auth.tenant_id(),
            app_id: &app.app_id,
            client_id: &client_id,
            name: &name,
            secret_hash: &secret_hash,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(One::of(WithSecret::new(&client, &client_secret))))
}

async fn list_clients(
    auth: Authorized<AppsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let list = clients::list(&state.pool, auth.tenant_id(), &app.app_id).await?;
    Ok(HttpResponse::Ok().json(Many::of(list.iter().map(ApiClient::from))))
}

async fn delete_client(
    auth: Authorized<AppsEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app, client_id) =
        app_and_child(&state, auth.tenant_id(), path.into_inner(), "client_id").await?;
    clients::delete(&state.pool, auth.tenant_id(), &app.app_id, &client_id).await?;
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
    )
    .await?;
    Ok(HttpResponse::Ok().json(One::of(WithSecret::new(&client, &client_secret))))
}
