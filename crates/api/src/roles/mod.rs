//! Roles an application defines: admin-token endpoints under the
//! application, in the vendor's `ApiRole` shape (the vendor's role paths
//! are organization role groups, which come with organizations).

mod input;
pub(crate) mod wire;

use actix_web::{HttpResponse, web};
use idstore_auth::policy;
use idstore_domain::id::new_id;
use idstore_store::roles::{self, NewRole};
use utoipa::OpenApi;

use self::input::CreateRoleInput;
use self::wire::ApiRole;
use crate::applications::{app_and_child, app_of};
use crate::auth::Authorized;
use crate::input::Body;
use crate::openapi::{BadRequestMessages, ErrorMessage};
use crate::routes::Routes;
use crate::wire::{Many, One};
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(
    paths(create_role, list_roles, delete_role),
    components(schemas(CreateRoleInput))
)]
pub struct Doc;

policy!(RolesCreate = "roles:create");
policy!(RolesRead = "roles:read");
policy!(RolesDelete = "roles:delete");

pub fn routes(r: &mut Routes) {
    r.at("/v1/applications/{app_id}/roles")
        .post(create_role)
        .get(list_roles);
    r.at("/v1/applications/{app_id}/roles/{role_id}")
        .delete(delete_role);
}

#[utoipa::path(
    post,
    path = "/v1/applications/{app_id}/roles",
    operation_id = "createAppRole",
    tag = "idstore extension",
    params(("app_id" = String, Path)),
    request_body = CreateRoleInput,
    responses(
        (status = 201, description = "`{\"result\": ApiRole}`", body = inline(One<crate::openapi::ApiRole>)),
        (status = 400, body = BadRequestMessages),
        (status = 404, description = "No such application", body = ErrorMessage),
        (status = 409, description = "The application has a role of that name", body = ref("#/components/schemas/IdentifierIsTakenHttpError")),
    ),
    security(("AdminAccessToken" = [])),
    extensions(("x-idstore-note" = json!(["SPEC_READINGS #31: an application's own roles, in the vendor's `ApiRole` shape (`display_name` is the name when unset)"]))),
)]
async fn create_role(
    auth: Authorized<RolesCreate>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<CreateRoleInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().validate()?;
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let role = state
        .within(auth.tenant_id(), async |db| {
            roles::create(
                db,
                NewRole {
                    tenant_id: auth.tenant_id(),
                    app_id: &app.app_id,
                    role_id: &new_id(),
                    name: &input.role_name,
                    display_name: input.display_name.as_deref(),
                    description: input.description.as_deref(),
                    permissions: &input.permissions,
                },
                &auth.actor(),
            )
            .await
        })
        .await?;
    Ok(HttpResponse::Created().json(One::of(ApiRole::from(&role))))
}

#[utoipa::path(
    get,
    path = "/v1/applications/{app_id}/roles",
    operation_id = "getAppRoles",
    tag = "idstore extension",
    params(("app_id" = String, Path)),
    responses(
        (status = 200, description = "`{\"result\": [ApiRole]}`", body = inline(Many<crate::openapi::ApiRole>)),
        (status = 404, description = "No such application", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
    extensions(("x-idstore-note" = json!(["SPEC_READINGS #31"]))),
)]
async fn list_roles(
    auth: Authorized<RolesRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let list = state
        .within(auth.tenant_id(), async |db| {
            roles::list(db, auth.tenant_id(), &app.app_id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(Many::of(list.iter().map(ApiRole::from))))
}

#[utoipa::path(
    delete,
    path = "/v1/applications/{app_id}/roles/{role_id}",
    operation_id = "deleteAppRole",
    tag = "idstore extension",
    params(("app_id" = String, Path), ("role_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such application or role", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn delete_role(
    auth: Authorized<RolesDelete>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app, role_id) =
        app_and_child(&state, auth.tenant_id(), path.into_inner(), "role_id").await?;
    let actor = auth.actor();
    state
        .within(auth.tenant_id(), async |db| {
            roles::delete(db, auth.tenant_id(), &app.app_id, &role_id, &actor).await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
