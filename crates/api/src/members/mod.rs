//! The Members API: the users of an organization and their membership
//! details. Admin tokens reach every organization of the tenant; an
//! application's client reaches the organizations that have its
//! application (CONTRADICTIONS #11), by a predicate inside each query.

mod input;
mod wire;

use actix_web::{HttpResponse, web};
use idstore_auth::policy;
use idstore_domain::id::new_id;
use idstore_domain::scope::Reach;
use idstore_store::members::{self, Member};
use idstore_store::users::Lookup;
use idstore_store::{Identifier, StoreError};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::OpenApi;

use self::input::{UpdateMemberInput, new_member};
use self::wire::ApiMember;
use crate::applications::app_of;
use crate::auth::Authorized;
use crate::input::{Body, path_id};
use crate::role_groups::RoleIdsInput;
use crate::routes::Routes;
use crate::users::input::Problems;
use crate::users::writes::Prepared;
use crate::wire::{Many, One};
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(paths(
    create_member,
    list_members,
    get_member,
    update_member,
    delete_member,
    set_member_roles
))]
pub struct Doc;

// `[orgId]:x`: an organization's admin, on its own organization's members.
policy!(
    MembersCreate = "organizations:edit",
    "orgs:edit",
    "[orgId]:edit"
);
policy!(
    MembersRead = "organizations:read",
    "orgs:read",
    "[appId]:read",
    "[orgId]:read"
);
policy!(
    MembersEdit = "organizations:edit",
    "orgs:edit",
    "[orgId]:edit"
);
policy!(
    MembersDelete = "organizations:edit",
    "orgs:edit",
    "[appId]:delete",
    "[orgId]:edit"
);

pub fn routes(r: &mut Routes) {
    r.at("/v1/organizations/{organization_id}/members")
        .post(create_member)
        .get(list_members);
    r.at("/v1/organizations/{organization_id}/members/{user_id}")
        .get(get_member)
        .put(update_member)
        .delete(delete_member);
    r.at("/v1/applications/{app_id}/organizations/{organization_id}/members/{member_id}/roles")
        .post(set_member_roles);
}

/// Most members one page of `getMembers` holds, and its default.
const MAX_PAGE_LIMIT: i64 = 1000;
/// The header that carries the cursor of the next page.
const NEXT_AFTER: &str = "x-idstore-next-after";

fn one(user: &idstore_store::users::UserRow, m: &members::Membership) -> HttpResponse {
    HttpResponse::Ok().json(One::of(ApiMember::new(user, m)))
}

#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/members",
    operation_id = "createMember",
    tag = "Members",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #12: invalid input is a 400 in the Users error shape; create or assign answers 200",
        "SPEC_READINGS #41: an existing user is matched by any identifier given (email, phone_number, username, external_user_id) and keeps its profile; otherwise the user is created as `createUser` creates one. A user who is a member already is a 409",
        "SPEC_READINGS #43: `send_invite` mails one invitation per application of the organization; a user it creates starts Pending until it accepts",
    ]))),
    responses(
        (status = 400, description = "Invalid input (SPEC_READINGS #12)", body = ref("#/components/schemas/BadRequestHttpError")),
        (status = 404, description = "No such organization (SPEC_READINGS #41)", body = crate::openapi::ErrorMessage),
    ),
)]
async fn create_member(
    auth: Authorized<MembersCreate>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    path_id("organization_id", &path)?;
    let input = new_member(body.into_inner())?;
    if input.send_invite {
        state.invitation_mail.check()?;
    }
    let patch = &input.user.patch;
    let lookups: Vec<Lookup<'_>> = [
        patch.email.as_ref().map(Lookup::Email),
        patch.phone_number.as_ref().map(Lookup::Phone),
        patch.username.as_ref().map(Lookup::Username),
        patch
            .external_user_id
            .as_deref()
            .map(Lookup::ExternalUserId),
    ]
    .into_iter()
    .flatten()
    .collect();
    let actor = auth.actor();
    let add = async |member| {
        members::add(
            &state.pool,
            &auth.scope,
            &path,
            member,
            &members::Joining {
                details: &input.details,
                role_ids: &input.role_ids,
                send_invite: input.send_invite,
            },
            &actor,
        )
        .await
    };
    let existing = members::match_user(&state.pool, &auth.scope, &lookups).await?;
    // An organization's admin adds new users only: assigning the tenant's
    // others would let it pull anyone into its organization and read
    // their profiles. They are taken, as createUser would say.
    let confined = matches!(auth.scope.reach, Reach::Org { .. });
    let taken = |lookups: &[Lookup<'_>]| match lookups.first() {
        Some(Lookup::Phone(_)) => Identifier::PhoneNumber,
        Some(Lookup::Username(_)) => Identifier::Username,
        Some(Lookup::ExternalUserId(_)) => Identifier::ExternalUserId,
        _ => Identifier::Email,
    };
    let added = match existing {
        Some(_) if confined => Err(StoreError::Conflict(taken(&lookups))),
        Some(user_id) => add(Member::Existing(&user_id)).await,
        None => {
            let mut prepared = Prepared::of(&state, &auth.scope, &input.user).await?;
            if input.send_invite {
                prepared = prepared.invited();
            }
            let user_id = new_id();
            let new_user = prepared.new_user(&user_id, &input.user);
            match add(Member::New(new_user, input.user.app.clone())).await {
                // Created meanwhile by another request: assign that user.
                Err(StoreError::Conflict(
                    Identifier::Email
                    | Identifier::PhoneNumber
                    | Identifier::Username
                    | Identifier::ExternalUserId,
                )) if !confined => {
                    match members::match_user(&state.pool, &auth.scope, &lookups).await? {
                        Some(user_id) => add(Member::Existing(&user_id)).await,
                        None => Err(StoreError::Conflict(Identifier::Internal)),
                    }
                }
                other => other,
            }
        }
    };
    let (user, membership) = added?;
    if input.send_invite {
        state.invitation_mail.due.notify_one();
    }
    Ok(one(&user, &membership))
}

#[derive(Deserialize)]
struct ListQuery {
    page_limit: Option<String>,
    after: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/members",
    operation_id = "getMembers",
    tag = "Members",
    params(
        ("page_limit" = Option<String>, Query, description = "Members per page, 1 to 1000 (default 1000): an extension, SPEC_READINGS #41"),
        ("after" = Option<String>, Query, description = "The `x-idstore-next-after` of the previous page: an extension, SPEC_READINGS #41"),
    ),
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #41: members in the order they were added, at most `page_limit` (default and most 1000) a page; a full page carries the next page's `after` in the `x-idstore-next-after` header",
        "SPEC_READINGS #11: an application's client reaches the organizations that have its application",
    ]))),
    responses(
        (status = 400, description = "A malformed organization_id, page_limit or after (SPEC_READINGS #41)", body = ref("#/components/schemas/BadRequestHttpError")),
        (status = 404, description = "No such organization (SPEC_READINGS #41)", body = crate::openapi::ErrorMessage),
    ),
)]
async fn list_members(
    auth: Authorized<MembersRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    path_id("organization_id", &path)?;
    let mut p = Problems::default();
    let limit = p.page_limit(query.page_limit.as_deref(), MAX_PAGE_LIMIT);
    if let Some(after) = &query.after
        && path_id("after", after).is_err()
    {
        p.add("after is not a valid identifier; pass the x-idstore-next-after of a page");
    }
    p.finish()?;
    let page = members::list(
        &state.pool,
        &auth.scope,
        &path,
        query.after.as_deref(),
        limit,
    )
    .await?;
    let mut res = HttpResponse::Ok();
    if page.len() as i64 == limit
        && let Some((user, _)) = page.last()
    {
        res.insert_header((NEXT_AFTER, user.user_id.clone()));
    }
    Ok(res.json(Many::of(page.iter().map(|(u, m)| ApiMember::new(u, m)))))
}

#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/members/{user_id}",
    operation_id = "getMember",
    tag = "Members",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #11: an application's client reaches the organizations that have its application",
    ]))),
)]
async fn get_member(
    auth: Authorized<MembersRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org, user_id) = path.into_inner();
    path_id("organization_id", &org)?;
    path_id("user_id", &user_id)?;
    let (user, membership) = members::get_one(&state.pool, &auth.scope, &org, &user_id).await?;
    Ok(one(&user, &membership))
}

#[utoipa::path(
    put,
    path = "/v1/organizations/{organization_id}/members/{user_id}",
    operation_id = "updateMember",
    tag = "Members",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #41: a field given replaces the stored one, one left out (`enabled` too) keeps its value",
    ]))),
    responses(
        (status = 400, description = "Invalid input (SPEC_READINGS #41)", body = ref("#/components/schemas/BadRequestHttpError")),
        (status = 404, description = "No such organization, or the user is not a member (SPEC_READINGS #41)", body = crate::openapi::ErrorMessage),
    ),
)]
async fn update_member(
    auth: Authorized<MembersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body<UpdateMemberInput>,
) -> Result<HttpResponse, ApiError> {
    let (org, user_id) = path.into_inner();
    path_id("organization_id", &org)?;
    path_id("user_id", &user_id)?;
    let details = body.into_inner().validate()?;
    let (user, membership) = members::update(
        &state.pool,
        &auth.scope,
        &org,
        &user_id,
        &details,
        &auth.actor(),
    )
    .await?;
    Ok(one(&user, &membership))
}

#[utoipa::path(
    delete,
    path = "/v1/organizations/{organization_id}/members/{user_id}",
    operation_id = "deleteMember",
    tag = "Members",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #11: the membership ends; the user stays",
    ]))),
    responses(
        (status = 400, description = "A malformed id (SPEC_READINGS #41)", body = ref("#/components/schemas/BadRequestHttpError")),
        (status = 404, description = "No such organization, or the user is not a member (SPEC_READINGS #41)", body = crate::openapi::ErrorMessage),
    ),
)]
async fn delete_member(
    auth: Authorized<MembersDelete>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org, user_id) = path.into_inner();
    path_id("organization_id", &org)?;
    path_id("user_id", &user_id)?;
    members::delete(&state.pool, &auth.scope, &org, &user_id, &auth.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/v1/applications/{app_id}/organizations/{organization_id}/members/{member_id}/roles",
    operation_id = "setMemberRoles",
    tag = "Members",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #42: replaces the member's roles for the application, all or none (an empty list clears them); each must be a role of a role group the organization has for the application, else a 400 naming it",
    ]))),
    responses(
        (status = 400, description = "Malformed, or a role no attached role group gives (named) (SPEC_READINGS #42)", body = ref("#/components/schemas/BadRequestHttpError")),
        (status = 404, description = "No such application or organization, or the user is not a member (SPEC_READINGS #42)", body = crate::openapi::ErrorMessage),
    ),
)]
async fn set_member_roles(
    auth: Authorized<MembersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: Body<RoleIdsInput>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, org, user_id) = path.into_inner();
    path_id("organization_id", &org)?;
    path_id("member_id", &user_id)?;
    let role_ids = body.into_inner().validate()?;
    let app = app_of(&state, auth.tenant_id(), &app_id).await?;
    members::set_roles(
        &state.pool,
        &auth.scope,
        &app.app_id,
        &org,
        &user_id,
        &role_ids,
        &auth.actor(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
