//! Role groups: an application's roles bundled (idstore's extension under
//! the application: the vendor's documents only attach them), and the
//! vendor's operations that attach them to an organization
//! (`setAssignedRoleGroups`, `getAssignedRoleGroups`).

mod input;
mod wire;

use actix_web::{HttpResponse, web};
use idstore_auth::policy;
use idstore_domain::id::new_id;
use idstore_store::role_groups::{self, NewRoleGroup};
use utoipa::OpenApi;

pub(crate) use self::input::RoleIdsInput;
use self::input::{CreateRoleGroupInput, RoleGroupIdsInput};
use self::wire::{ApiRoleGroup, AssignedRoleGroups};
use crate::applications::app_of;
use crate::auth::Authorized;
use crate::input::{Body, path_id};
use crate::openapi::{BadRequestMessages, ErrorMessage};
use crate::organizations::{OrgAppsEdit, OrgsRead};
use crate::routes::Routes;
use crate::wire::{Many, One};
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(
    paths(
        create_role_group,
        list_role_groups,
        delete_role_group,
        set_assigned,
        get_assigned
    ),
    components(schemas(CreateRoleGroupInput))
)]
pub struct Doc;

policy!(RoleGroupsCreate = "roles:create");
policy!(RoleGroupsRead = "roles:read");
policy!(RoleGroupsDelete = "roles:delete");

pub fn routes(r: &mut Routes) {
    r.at("/v1/applications/{app_id}/role-groups")
        .post(create_role_group)
        .get(list_role_groups);
    r.at("/v1/applications/{app_id}/role-groups/{group_id}")
        .delete(delete_role_group);
    r.at("/v1/applications/{app_id}/organizations/{organization_id}/role-groups/set")
        .post(set_assigned);
    r.at("/v1/applications/{app_id}/organizations/{organization_id}/role-groups")
        .get(get_assigned);
}

/// A role group of the application's roles.
#[utoipa::path(
    post,
    path = "/v1/applications/{app_id}/role-groups",
    operation_id = "createRoleGroup",
    tag = "idstore extension",
    params(("app_id" = String, Path)),
    request_body = CreateRoleGroupInput,
    responses(
        (status = 201, description = "`{\"result\": ApiRoleGroup}`", body = inline(One<crate::openapi::ApiRoleGroup>)),
        (status = 400, description = "Malformed, or a role the application does not have (named)", body = BadRequestMessages),
        (status = 404, description = "No such application", body = ErrorMessage),
        (status = 409, description = "The application has a role group of that name", body = ref("#/components/schemas/IdentifierIsTakenHttpError")),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn create_role_group(
    auth: Authorized<RoleGroupsCreate>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<CreateRoleGroupInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().validate()?;
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let group = role_groups::create(
        &state.pool,
        NewRoleGroup {
            tenant_id: auth.tenant_id(),
            app_id: &app.app_id,
            group_id: &new_id(),
            name: &input.name,
            display_name: input.display_name.as_deref(),
            description: input.description.as_deref(),
            role_ids: &input.role_ids,
        },
        &auth.actor(),
    )
    .await?;
    Ok(HttpResponse::Created().json(One::of(ApiRoleGroup::from(&group))))
}

#[utoipa::path(
    get,
    path = "/v1/applications/{app_id}/role-groups",
    operation_id = "getRoleGroups",
    tag = "idstore extension",
    params(("app_id" = String, Path)),
    responses(
        (status = 200, description = "`{\"result\": [ApiRoleGroup]}`, by name", body = inline(Many<crate::openapi::ApiRoleGroup>)),
        (status = 404, description = "No such application", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn list_role_groups(
    auth: Authorized<RoleGroupsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = app_of(&state, auth.tenant_id(), &path).await?;
    let list = state
        .within(auth.tenant_id(), async |db| {
            role_groups::list(db, auth.tenant_id(), &app.app_id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(Many::of(list.iter().map(ApiRoleGroup::from))))
}

/// Deletes a role group: the organizations that had it lose it, and their
/// members the roles only it gave them.
#[utoipa::path(
    delete,
    path = "/v1/applications/{app_id}/role-groups/{group_id}",
    operation_id = "deleteRoleGroup",
    tag = "idstore extension",
    params(("app_id" = String, Path), ("group_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, body = BadRequestMessages),
        (status = 404, description = "No such application or role group", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn delete_role_group(
    auth: Authorized<RoleGroupsDelete>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, group_id) = path.into_inner();
    path_id("group_id", &group_id)?;
    let app = app_of(&state, auth.tenant_id(), &app_id).await?;
    role_groups::delete(
        &state.pool,
        auth.tenant_id(),
        &app.app_id,
        &group_id,
        &auth.actor(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/v1/applications/{app_id}/organizations/{organization_id}/role-groups/set",
    operation_id = "setAssignedRoleGroups",
    tag = "Applications",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #42: replaces the organization's role groups for the application (an empty list clears them); the organization must have the application; members lose the roles no attached group gives any more",
    ]))),
    responses(
        (status = 400, description = "Malformed, a role group the application does not have (named), or an organization without the application (SPEC_READINGS #42)", body = ref("#/components/schemas/BadRequestHttpError")),
        (status = 404, description = "No such application or organization (SPEC_READINGS #42)", body = ErrorMessage),
    ),
)]
async fn set_assigned(
    auth: Authorized<OrgAppsEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body<RoleGroupIdsInput>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, org) = path.into_inner();
    path_id("organization_id", &org)?;
    let group_ids = body.into_inner().validate()?;
    let app = app_of(&state, auth.tenant_id(), &app_id).await?;
    role_groups::set_for_organization(
        &state.pool,
        &auth.scope,
        &app.app_id,
        &org,
        &group_ids,
        &auth.actor(),
    )
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

#[utoipa::path(
    get,
    path = "/v1/applications/{app_id}/organizations/{organization_id}/role-groups",
    operation_id = "getAssignedRoleGroups",
    tag = "Applications",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #42: `default_organization_roles` is always empty (idstore has none)",
    ]))),
    responses(
        (status = 400, description = "A malformed id (SPEC_READINGS #42)", body = ref("#/components/schemas/BadRequestHttpError")),
        (status = 404, description = "No such application or organization (SPEC_READINGS #42)", body = ErrorMessage),
    ),
)]
async fn get_assigned(
    auth: Authorized<OrgsRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, org) = path.into_inner();
    path_id("organization_id", &org)?;
    let app = app_of(&state, auth.tenant_id(), &app_id).await?;
    let groups = state
        .within(auth.tenant_id(), async |db| {
            role_groups::of_organization(db, &auth.scope, &app.app_id, &org).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(One::of(AssignedRoleGroups::of(&groups))))
}
