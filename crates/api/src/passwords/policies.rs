//! The password policy endpoints (extension): the tenant's document, and
//! an application's override of it. A document left out field by field
//! takes the defaults; PUT replaces the whole document.

use actix_web::{HttpResponse, web};
use idstore_auth::password::policy::PasswordPolicy;
use idstore_auth::policy;
use idstore_store::audit::{Action, Event};
use idstore_store::password_policies;
use serde::Serialize;
use utoipa::ToSchema;

use crate::applications::app_of;
use crate::auth::Authorized;
use crate::input::Body;
use crate::openapi::{BadRequestMessages, ErrorMessage};
use crate::routes::Routes;
use crate::wire::One;
use crate::{ApiError, AppState};

policy!(PasswordPolicyRead = "apps:read");
policy!(PasswordPolicyEdit = "apps:edit");

pub fn routes(r: &mut Routes) {
    r.at("/v1/admin/password-policy")
        .get(get_tenant_policy)
        .put(put_tenant_policy);
    r.at("/v1/admin/applications/{app_id}/password-policy")
        .get(get_app_policy)
        .put(put_app_policy)
        .delete(delete_app_policy);
}

/// A policy and where it comes from.
#[derive(Serialize, ToSchema)]
pub struct PolicyAnswer {
    policy: PasswordPolicy,
    /// `default` (nothing stored), `tenant`, or `application` (the
    /// application's own override).
    #[schema(example = "tenant")]
    source: &'static str,
}

async fn answer(
    state: &AppState,
    tenant_id: &str,
    app_id: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let stored = state
        .within(tenant_id, async |db| {
            password_policies::effective(db, tenant_id, app_id).await
        })
        .await?;
    let (policy, source) = match stored {
        None => (PasswordPolicy::default(), "default"),
        Some((doc, own)) => (
            serde_json::from_value(doc).map_err(ApiError::internal)?,
            if own { "application" } else { "tenant" },
        ),
    };
    Ok(HttpResponse::Ok().json(One::of(PolicyAnswer { policy, source })))
}

fn checked(policy: PasswordPolicy) -> Result<serde_json::Value, ApiError> {
    let problems = policy.problems();
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    serde_json::to_value(policy).map_err(ApiError::internal)
}

async fn store(
    state: &AppState,
    auth_tenant: &str,
    app_id: Option<&str>,
    doc: serde_json::Value,
    actor: &idstore_store::audit::Actor,
) -> Result<(), ApiError> {
    let subject = app_id.unwrap_or(auth_tenant);
    let event = Event::new(auth_tenant, actor, Action::PasswordPolicyUpdate, subject);
    state
        .within(auth_tenant, async |db| {
            password_policies::put(db, auth_tenant, app_id, &doc, &event).await
        })
        .await?;
    Ok(())
}

/// The tenant's password policy, which applies to every application
/// without its own.
#[utoipa::path(
    get,
    path = "/v1/admin/password-policy",
    operation_id = "getPasswordPolicy",
    tag = "idstore extension",
    responses((status = 200, description = "`{\"result\": PolicyAnswer}`", body = inline(One<PolicyAnswer>))),
    security(("AdminAccessToken" = [])),
)]
pub async fn get_tenant_policy(
    auth: Authorized<PasswordPolicyRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    answer(&state, auth.tenant_id(), None).await
}

/// Replaces the tenant's password policy; omitted fields take their defaults.
#[utoipa::path(
    put,
    path = "/v1/admin/password-policy",
    operation_id = "setPasswordPolicy",
    tag = "idstore extension",
    request_body = PasswordPolicy,
    responses(
        (status = 200, description = "`{\"result\": PolicyAnswer}`", body = inline(One<PolicyAnswer>)),
        (status = 400, body = BadRequestMessages),
    ),
    security(("AdminAccessToken" = [])),
)]
pub async fn put_tenant_policy(
    auth: Authorized<PasswordPolicyEdit>,
    state: web::Data<AppState>,
    body: Body<PasswordPolicy>,
) -> Result<HttpResponse, ApiError> {
    let doc = checked(body.into_inner())?;
    store(&state, auth.tenant_id(), None, doc, &auth.actor()).await?;
    answer(&state, auth.tenant_id(), None).await
}

/// The policy an application's users are held to: its own, else the tenant's.
#[utoipa::path(
    get,
    path = "/v1/admin/applications/{app_id}/password-policy",
    operation_id = "getAppPasswordPolicy",
    tag = "idstore extension",
    params(("app_id" = String, Path)),
    responses(
        (status = 200, description = "`{\"result\": PolicyAnswer}`", body = inline(One<PolicyAnswer>)),
        (status = 404, description = "No such application", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
pub async fn get_app_policy(
    auth: Authorized<PasswordPolicyRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    app_of(&state, auth.tenant_id(), &path).await?;
    answer(&state, auth.tenant_id(), Some(&path)).await
}

/// Gives an application a policy of its own, overriding the tenant's.
#[utoipa::path(
    put,
    path = "/v1/admin/applications/{app_id}/password-policy",
    operation_id = "setAppPasswordPolicy",
    tag = "idstore extension",
    params(("app_id" = String, Path)),
    request_body = PasswordPolicy,
    responses(
        (status = 200, description = "`{\"result\": PolicyAnswer}`", body = inline(One<PolicyAnswer>)),
        (status = 400, body = BadRequestMessages),
        (status = 404, description = "No such application", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
pub async fn put_app_policy(
    auth: Authorized<PasswordPolicyEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<PasswordPolicy>,
) -> Result<HttpResponse, ApiError> {
    let doc = checked(body.into_inner())?;
    app_of(&state, auth.tenant_id(), &path).await?;
    store(&state, auth.tenant_id(), Some(&path), doc, &auth.actor()).await?;
    answer(&state, auth.tenant_id(), Some(&path)).await
}

/// Removes an application's own policy: the tenant's applies again.
#[utoipa::path(
    delete,
    path = "/v1/admin/applications/{app_id}/password-policy",
    operation_id = "deleteAppPasswordPolicy",
    tag = "idstore extension",
    params(("app_id" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such application, or it has no policy of its own", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
pub async fn delete_app_policy(
    auth: Authorized<PasswordPolicyEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    app_of(&state, auth.tenant_id(), &path).await?;
    let tenant_id = auth.tenant_id();
    let actor = auth.actor();
    let event = Event::new(tenant_id, &actor, Action::PasswordPolicyDelete, &path);
    let deleted = state
        .within(tenant_id, async |db| {
            password_policies::delete(db, tenant_id, &path, &event).await
        })
        .await?;
    if !deleted {
        return Err(ApiError::NotFound(
            "This application has no password policy of its own".into(),
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}
