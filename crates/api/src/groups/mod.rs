//! Groups of users. Managing them is an extension of the vendor's API, so it
//! lives under `/v1/admin/groups` (DESIGN §4) for admin tokens only; reading
//! a user's groups is the Users API's `getUserGroups`. Every query is
//! confined to the caller's tenant, so another tenant's ids are not found.

mod input;
mod wire;

use actix_web::{HttpResponse, web};
use idstore_auth::policy;
use idstore_domain::id::new_id;
use idstore_store::groups::{self, AddMembers, NewGroup};
use utoipa::OpenApi;

use self::input::{AddMembersInput, CreateGroupInput};
use self::wire::{ApiGroup, users_not_found};
use crate::auth::Authorized;
use crate::input::{Body, path_id};
use crate::openapi::{BadRequestMessages, ErrorMessage};
use crate::routes::Routes;
use crate::wire::{Many, One};
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(
    paths(
        create_group,
        list_groups,
        get_group,
        delete_group,
        add_members,
        remove_member,
        user_groups
    ),
    components(schemas(CreateGroupInput, AddMembersInput))
)]
pub struct Doc;

policy!(GroupsCreate = "groups:create");
policy!(GroupsList = "groups:list");
policy!(GroupsRead = "groups:read");
policy!(GroupsEdit = "groups:edit");
policy!(GroupsDelete = "groups:delete");
policy!(UserGroupsRead = "apps:read", "[appId]:read", "groups:read");

pub fn routes(r: &mut Routes) {
    r.at("/v1/admin/groups").post(create_group).get(list_groups);
    r.at("/v1/admin/groups/{group_id}")
        .get(get_group)
        .delete(delete_group);
    r.at("/v1/admin/groups/{group_id}/members")
        .post(add_members);
    r.at("/v1/admin/groups/{group_id}/members/{user_id}")
        .delete(remove_member);
    r.at("/v1/users/{user_id}/groups").get(user_groups);
}

#[utoipa::path(
    post,
    path = "/v1/admin/groups",
    operation_id = "createGroup",
    tag = "idstore extension",
    request_body = CreateGroupInput,
    responses(
        (status = 201, description = "`{\"result\": ApiGroup}`", body = inline(One<crate::openapi::ApiGroup>)),
        (status = 400, body = BadRequestMessages),
        (status = 409, description = "A group of that name exists", body = ref("#/components/schemas/IdentifierIsTakenHttpError")),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn create_group(
    auth: Authorized<GroupsCreate>,
    state: web::Data<AppState>,
    body: Body<CreateGroupInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().validate()?;
    let group = state
        .within(auth.tenant_id(), async |db| {
            groups::create(
                db,
                NewGroup {
                    tenant_id: auth.tenant_id(),
                    group_id: &new_id(),
                    name: &input.name,
                    description: input.description.as_deref(),
                    custom_data: &input.custom_data,
                },
                &auth.actor(),
            )
            .await
        })
        .await?;
    Ok(HttpResponse::Created().json(One::of(ApiGroup::from(&group))))
}

#[utoipa::path(
    get,
    path = "/v1/admin/groups",
    operation_id = "getGroups",
    tag = "idstore extension",
    responses(
        (status = 200, description = "`{\"result\": [ApiGroup]}`", body = inline(Many<crate::openapi::ApiGroup>)),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn list_groups(
    auth: Authorized<GroupsList>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let list = state
        .within(auth.tenant_id(), async |db| {
            groups::list(db, auth.tenant_id()).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(Many::of(list.iter().map(ApiGroup::from))))
}

#[utoipa::path(
    get,
    path = "/v1/admin/groups/{group_id}",
    operation_id = "getGroupById",
    tag = "idstore extension",
    params(("group_id" = String, Path)),
    responses(
        (status = 200, description = "`{\"result\": ApiGroup}`", body = inline(One<crate::openapi::ApiGroup>)),
        (status = 400, body = BadRequestMessages),
        (status = 404, description = "No such group", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn get_group(
    auth: Authorized<GroupsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("group_id", &path)?;
    let group = state
        .within(auth.tenant_id(), async |db| {
            groups::get(db, auth.tenant_id(), &path).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(One::of(ApiGroup::from(&group))))
}

#[utoipa::path(
    delete,
    path = "/v1/admin/groups/{group_id}",
    operation_id = "deleteGroup",
    tag = "idstore extension",
    params(("group_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, body = BadRequestMessages),
        (status = 404, description = "No such group", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn delete_group(
    auth: Authorized<GroupsDelete>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("group_id", &path)?;
    state
        .within(auth.tenant_id(), async |db| {
            groups::delete(db, auth.tenant_id(), &path, &auth.actor()).await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Adds users to a group, all or none; users already in it stay.
#[utoipa::path(
    post,
    path = "/v1/admin/groups/{group_id}/members",
    operation_id = "addGroupMembers",
    tag = "idstore extension",
    params(("group_id" = String, Path)),
    request_body = AddMembersInput,
    responses(
        (status = 204, description = "Added (users already in the group stay)"),
        (status = 400, body = BadRequestMessages),
        (status = 404, description = "No such group, or users not found (named in the message); none is added", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn add_members(
    auth: Authorized<GroupsEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<AddMembersInput>,
) -> Result<HttpResponse, ApiError> {
    path_id("group_id", &path)?;
    let user_ids = body.into_inner().validate()?;
    let actor = auth.actor();
    match groups::add_members(&state.pool, auth.tenant_id(), &path, &user_ids, &actor).await? {
        AddMembers::Done => Ok(HttpResponse::NoContent().finish()),
        AddMembers::MissingUsers(missing) => Err(ApiError::NotFound(users_not_found(&missing))),
    }
}

#[utoipa::path(
    delete,
    path = "/v1/admin/groups/{group_id}/members/{user_id}",
    operation_id = "removeGroupMember",
    tag = "idstore extension",
    params(("group_id" = String, Path), ("user_id" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, body = BadRequestMessages),
        (status = 404, description = "No such group or member", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn remove_member(
    auth: Authorized<GroupsEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (group_id, user_id) = path.into_inner();
    path_id("user_id", &user_id)?;
    path_id("group_id", &group_id)?;
    let group = state
        .within(auth.tenant_id(), async |db| {
            groups::get(db, auth.tenant_id(), &group_id).await
        })
        .await?;
    let actor = auth.actor();
    state
        .within(auth.tenant_id(), async |db| {
            groups::remove_member(db, auth.tenant_id(), &group.group_id, &user_id, &actor).await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `getUserGroups`. Groups are tenant-wide, so an application's client sees
/// the groups of any user of its tenant.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/groups",
    operation_id = "getUserGroups",
    tag = "Users"
)]
async fn user_groups(
    auth: Authorized<UserGroupsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("user_id", &path)?;
    let list = state
        .within(auth.tenant_id(), async |db| {
            groups::of_user(db, auth.tenant_id(), &path).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(Many::of(list.iter().map(ApiGroup::from))))
}
