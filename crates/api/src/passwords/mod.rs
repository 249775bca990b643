//! Passwords: the Users spec's password operations (`addPasswordCredential`,
//! `updatePasswordCredential`, `addPasswordCredentialsToCurrentUser`), the
//! tenant's and applications' password policy (extension, `policies.rs`),
//! and the one way every path sets a password ([`set_password`]): the
//! policy's rules, its lists, the history, the hash, then the change in one
//! transaction.

mod policies;
pub(crate) mod setting;

use actix_web::{HttpResponse, web};
use idstore_auth::policy;
use idstore_domain::contact::Username;
use idstore_store::audit::Action;
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use utoipa::OpenApi;

pub(crate) use self::setting::{Mode, SetPassword, set_password, vetted};
use crate::auth::Authorized;
use crate::error::Coded;
use crate::input::{AfterAuth, path_id};
use crate::openapi::CodedError;
use crate::routes::Routes;
use crate::{ApiError, AppState};

policy!(
    PasswordAdd = "apps:create",
    "[appId]:create",
    "authenticators:create"
);
policy!(
    PasswordUpdate = "apps:edit",
    "[appId]:edit",
    "authenticators:edit"
);
policy!(
    /// An end user on itself, with its UserAccessToken.
    Me = "[me]"
);

#[derive(OpenApi)]
#[openapi(
    paths(
        add_password,
        update_password,
        add_my_password,
        policies::get_tenant_policy,
        policies::put_tenant_policy,
        policies::get_app_policy,
        policies::put_app_policy,
        policies::delete_app_policy,
    ),
    components(schemas(idstore_auth::password::policy::PasswordPolicy, policies::PolicyAnswer))
)]
pub struct Doc;

pub fn routes(r: &mut Routes) {
    r.at("/v1/users/me/password-credentials")
        .post(add_my_password);
    r.at("/v1/users/{user_id}/password")
        .post(add_password)
        .put(update_password);
    policies::routes(r);
}

/// `ApiAddPassword`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddPasswordInput {
    password: SecretString,
    force_replace: Option<bool>,
    username: Option<String>,
    enforce_complexity: Option<bool>,
}

/// `ApiUpdatePassword`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePasswordInput {
    password: SecretString,
    force_replace: Option<bool>,
}

/// `ApiMeAddPassword`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MeAddPasswordInput {
    password: SecretString,
    username: Option<String>,
}

/// These operations answer invalid input as
/// `{"error_code": "system_invalid_input", "message"}` (their 400 schema),
/// so they read their body themselves rather than through `Body`.
fn coded_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| invalid(format!("Invalid request body: {e}")))
}

pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::CodedBadRequest(Coded::new("system_invalid_input", message))
}

fn username(raw: Option<String>) -> Result<Option<Username>, ApiError> {
    raw.map(|u| Username::parse(&u).map_err(|e| invalid(format!("username: {e}"))))
        .transpose()
}

fn registered() -> serde_json::Value {
    json!({ "result": { "message": "Password registered" } })
}

#[utoipa::path(
    post,
    path = "/v1/users/{user_id}/password",
    operation_id = "addPasswordCredential",
    tag = "Users",
    extensions(("x-idstore-note" = json!([
        "CONTRADICTIONS #6: `force_replace` decides whether the password is temporary; it defaults to true",
        "SPEC_READINGS #35: what each error code means; `enforce_complexity: false` skips the composition rules only",
        "SPEC_READINGS #36: without `username` the user logs in with its primary email or phone number; a taken username is a 409 `IdentifierIsTaken`",
    ]))),
)]
async fn add_password(
    auth: Authorized<PasswordAdd>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: AfterAuth<web::Bytes>,
) -> Result<HttpResponse, ApiError> {
    path_id("user_id", &path).map_err(|_| invalid("user_id is not a valid identifier"))?;
    let input: AddPasswordInput = coded_body(&body)?;
    let actor = auth.actor();
    set_password(
        &state,
        SetPassword {
            tenant_id: auth.tenant_id(),
            app_id: &auth.scope.app_id,
            user_id: &path,
            password: input.password,
            temporary: input.force_replace.unwrap_or(true),
            enforce_complexity: input.enforce_complexity.unwrap_or(true),
            username: username(input.username)?,
            mode: Mode::First,
            actor: &actor,
            action: Action::UserPasswordAdd,
            reset_ticket: None,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(registered()))
}

#[utoipa::path(
    put,
    path = "/v1/users/{user_id}/password",
    operation_id = "updatePasswordCredential",
    tag = "Users",
    extensions(("x-idstore-note" = json!([
        "CONTRADICTIONS #3: 409 `auth_password_already_configured` when the user has no password yet",
        "`force_replace` defaults to true: the user must replace the password at its next login",
        "SPEC_READINGS #35: what each error code means; `auth_not_active`: the user is not Active; `auth_password_incomplete_credentials`: nothing names the user at a login (no username, email or phone number)",
        "Every earlier token of the user is refused from now on",
    ]))),
)]
async fn update_password(
    auth: Authorized<PasswordUpdate>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: AfterAuth<web::Bytes>,
) -> Result<HttpResponse, ApiError> {
    path_id("user_id", &path).map_err(|_| invalid("user_id is not a valid identifier"))?;
    let input: UpdatePasswordInput = coded_body(&body)?;
    let actor = auth.actor();
    set_password(
        &state,
        SetPassword {
            tenant_id: auth.tenant_id(),
            app_id: &auth.scope.app_id,
            user_id: &path,
            password: input.password,
            temporary: input.force_replace.unwrap_or(true),
            enforce_complexity: true,
            username: None,
            mode: Mode::Replace,
            actor: &actor,
            action: Action::UserPasswordUpdate,
            reset_ticket: None,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(registered()))
}

#[utoipa::path(
    post,
    path = "/v1/users/me/password-credentials",
    operation_id = "addPasswordCredentialsToCurrentUser",
    tag = "Users",
    responses(
        (status = 400, description = "SPEC_READINGS #34: the password breaks the policy: `{\"error_code\": \"auth_password_weak\" | \"auth_password_breached\" | \"auth_password_policy_disabled\" | \"system_invalid_input\", \"message\"}`", body = CodedError),
    ),
    extensions(("x-idstore-note" = json!([
        "Only for a user without a password (else 403); the password is never temporary",
        "SPEC_READINGS #34: the 400s (not listed by the vendor) are those of `addPasswordCredential`",
        "SPEC_READINGS #36: `username` as in `addPasswordCredential`",
    ]))),
)]
async fn add_my_password(
    auth: Authorized<Me>,
    state: web::Data<AppState>,
    body: AfterAuth<web::Bytes>,
) -> Result<HttpResponse, ApiError> {
    let input: MeAddPasswordInput = coded_body(&body)?;
    let actor = auth.actor();
    set_password(
        &state,
        SetPassword {
            tenant_id: auth.tenant_id(),
            app_id: &auth.scope.app_id,
            user_id: &auth.principal.subject,
            password: input.password,
            temporary: false,
            enforce_complexity: true,
            username: username(input.username)?,
            mode: Mode::Mine,
            actor: &actor,
            action: Action::UserPasswordAdd,
            reset_ticket: None,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(registered()))
}
