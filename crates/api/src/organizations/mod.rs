//! Organizations (the vendor's Organizations API): a tenant's business
//! customers and partners, and the applications their members may use.
//! Admin tokens manage them; every query is confined to the caller's
//! tenant, so another tenant's ids are not found.

mod input;
mod wire;

use actix_web::{HttpResponse, web};
use idstore_auth::policy;
use idstore_domain::id::new_id;
use idstore_domain::scope::Reach;
use idstore_store::organizations::{self, Creator, NewOrganization, OrganizationChanges};
use serde::Deserialize;
use utoipa::OpenApi;

use self::input::{AppIdsInput, CreateOrganizationInput, UpdateOrganizationInput};
use self::wire::ApiOrganization;
use crate::auth::Authorized;
use crate::input::{Body, path_id, text, text_problem};
use crate::routes::Routes;
use crate::wire::{Many, One};
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(paths(
    create_org,
    list_orgs,
    get_org,
    get_org_by_name,
    update_org,
    delete_org,
    add_apps,
    remove_apps
))]
pub struct Doc;

// `[orgId]:x`: an OrgAdminAccessToken, confined to its own organization
// (a creator's may create organizations, of which it becomes the admin).
policy!(
    OrgsCreate = "organizations:create",
    "orgs:create",
    "[orgId]:create"
);
policy!(
    OrgsList = "organizations:read",
    "orgs:read",
    "organizations:list",
    "orgs:list",
    "[orgId]:read"
);
policy!(OrgsRead = "organizations:read", "orgs:read", "[orgId]:read");
policy!(OrgsEdit = "organizations:edit", "orgs:edit", "[orgId]:edit");
// Which applications and role groups an organization has stays the
// tenant's admins' to say: an organization's admin cannot widen it.
policy!(OrgAppsEdit = "organizations:edit", "orgs:edit");
policy!(OrgsDelete = "organizations:delete", "orgs:delete");

pub fn routes(r: &mut Routes) {
    r.at("/v1/organizations").post(create_org).get(list_orgs);
    // Before `{organization_id}/apps`, which has the same shape.
    r.at("/v1/organizations/name/{organization_name}")
        .get(get_org_by_name);
    r.at("/v1/organizations/{organization_id}")
        .get(get_org)
        .put(update_org)
        .delete(delete_org);
    r.at("/v1/organizations/{organization_id}/apps")
        .put(add_apps)
        .delete(remove_apps);
}

/// Longest name `getOrganizationByName` and the list's filter look up.
const MAX_NAME_CHARS: usize = 100;

#[utoipa::path(
    post,
    path = "/v1/organizations",
    operation_id = "createOrganization",
    tag = "Organizations",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #15: the deprecated `domain` is accepted (as the first domain), not required",
        "SPEC_READINGS #39: `domains` and `app_ids` are required and may be empty; domains are host names, stored in lower case; an unknown app id is a 400 naming it",
    ]))),
)]
async fn create_org(
    auth: Authorized<OrgsCreate>,
    state: web::Data<AppState>,
    body: Body<CreateOrganizationInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().validate()?;
    // A creator's organization gets the creator's application, no other:
    // which applications an organization has is the tenant's admins' say.
    if matches!(auth.scope.reach, Reach::Org { .. })
        && input.app_ids.iter().any(|a| *a != auth.scope.app_id)
    {
        return Err(ApiError::bad_request(
            "app_ids: an organization's creator gives it the application it signed in to only; \
             leave app_ids empty",
        ));
    }
    let org = organizations::create(
        &state.pool,
        NewOrganization {
            tenant_id: auth.tenant_id(),
            organization_id: &new_id(),
            name: &input.name,
            domains: &input.domains,
            enabled: input.enabled,
            alias_name: input.alias_name.as_deref(),
            app_ids: &input.app_ids,
            // A creator's OrgAdminAccessToken: the creator becomes its admin.
            creator: matches!(auth.scope.reach, Reach::Org { .. }).then(|| Creator {
                user_id: &auth.principal.subject,
                app_id: &auth.scope.app_id,
                admin_role: idstore_auth::permission::ORG_ADMIN_ROLE,
            }),
        },
        &auth.actor(),
    )
    .await?;
    Ok(HttpResponse::Created().json(One::of(ApiOrganization::from(&org))))
}

#[derive(Deserialize)]
struct ListQuery {
    name: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/organizations",
    operation_id = "getAllOrganizations",
    tag = "Organizations",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #40: every organization, by name, unpaged as the vendor's; `name` keeps the one of that exact name",
    ]))),
)]
async fn list_orgs(
    auth: Authorized<OrgsList>,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    // A name no organization could have matches none.
    if let Some(name) = &query.name
        && text_problem("name", name, MAX_NAME_CHARS).is_some()
    {
        return Ok(HttpResponse::Ok().json(Many::of(Vec::<ApiOrganization>::new())));
    }
    let list = state
        .within(auth.tenant_id(), async |db| {
            organizations::list(db, &auth.scope, query.name.as_deref()).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(Many::of(list.iter().map(ApiOrganization::from))))
}

#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}",
    operation_id = "getOrganization",
    tag = "Organizations",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #37: a malformed organization_id is a 400",
    ]))),
    responses((status = 400, description = "A malformed organization_id (SPEC_READINGS #37)", body = ref("#/components/schemas/BadRequestHttpError"))),
)]
async fn get_org(
    auth: Authorized<OrgsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("organization_id", &path)?;
    let org = state
        .within(auth.tenant_id(), async |db| {
            organizations::get_reached(db, &auth.scope, &path).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(One::of(ApiOrganization::from(&org))))
}

#[utoipa::path(
    get,
    path = "/v1/organizations/name/{organization_name}",
    operation_id = "getOrganizationByName",
    tag = "Organizations",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #37: a name no organization could have (empty, too long, control characters) is a 400",
    ]))),
    responses((status = 400, description = "A name no organization could have (SPEC_READINGS #37)", body = ref("#/components/schemas/BadRequestHttpError"))),
)]
async fn get_org_by_name(
    auth: Authorized<OrgsRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    text("organization_name", &path, MAX_NAME_CHARS)?;
    let org = state
        .within(auth.tenant_id(), async |db| {
            organizations::get_by_name(db, &auth.scope, &path).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(One::of(ApiOrganization::from(&org))))
}

#[utoipa::path(
    put,
    path = "/v1/organizations/{organization_id}",
    operation_id = "updateOrganization",
    tag = "Organizations",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #38: a field given replaces the stored one, one left out stays; the deprecated `domain` alone becomes the first domain; a name another organization has is a 409",
    ]))),
    responses((status = 409, description = "Another organization has that name (SPEC_READINGS #38)", body = ref("#/components/schemas/IdentifierIsTakenHttpError"))),
)]
async fn update_org(
    auth: Authorized<OrgsEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<UpdateOrganizationInput>,
) -> Result<HttpResponse, ApiError> {
    path_id("organization_id", &path)?;
    let input = body.into_inner().validate()?;
    let org = organizations::update(
        &state.pool,
        &auth.scope,
        &path,
        OrganizationChanges {
            name: input.name.as_deref(),
            domains: input.domains.as_deref(),
            first_domain: input.first_domain.as_deref(),
            enabled: input.enabled,
            alias_name: input.alias_name.as_deref(),
        },
        &auth.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(One::of(ApiOrganization::from(&org))))
}

#[utoipa::path(
    delete,
    path = "/v1/organizations/{organization_id}",
    operation_id = "deleteOrganization",
    tag = "Organizations",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #37: the vendor lists no success status: 204, without a body; the organization's applications and memberships go with it",
    ]))),
    responses((status = 204, description = "Deleted (SPEC_READINGS #37)")),
)]
async fn delete_org(
    auth: Authorized<OrgsDelete>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("organization_id", &path)?;
    state
        .within(auth.tenant_id(), async |db| {
            organizations::delete(db, auth.tenant_id(), &path, &auth.actor()).await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    put,
    path = "/v1/organizations/{organization_id}/apps",
    operation_id = "addAppsToOrganization",
    tag = "Organizations",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #39: all or none; an unknown app id is a 400 naming it; apps the organization has stay",
    ]))),
)]
async fn add_apps(
    auth: Authorized<OrgAppsEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<AppIdsInput>,
) -> Result<HttpResponse, ApiError> {
    path_id("organization_id", &path)?;
    let app_ids = body.into_inner().validate()?;
    organizations::add_apps(
        &state.pool,
        auth.tenant_id(),
        &path,
        &app_ids,
        &auth.actor(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/v1/organizations/{organization_id}/apps",
    operation_id = "removeAppsFromOrganization",
    tag = "Organizations",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #39: ids the organization does not have are ignored",
    ]))),
)]
async fn remove_apps(
    auth: Authorized<OrgAppsEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<AppIdsInput>,
) -> Result<HttpResponse, ApiError> {
    path_id("organization_id", &path)?;
    let app_ids = body.into_inner().validate()?;
    organizations::remove_apps(
        &state.pool,
        auth.tenant_id(),
        &path,
        &app_ids,
        &auth.actor(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
