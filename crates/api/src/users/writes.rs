//! Creating, updating and deleting users, and ending their association
//! with an application.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use idstore_domain::id::new_id;
use idstore_domain::scope::{Reach, Scope};
use idstore_domain::user::{Profile, ProfilePatch, Touches};
use idstore_store::StoreError;
use idstore_store::applications;
use idstore_store::audit::Action;
use idstore_store::users::{self, Delegation, NewUser, PasswordHash, UserRow};

use super::input::{self, CreateUserInput, UpdateUserInput};
use super::{UsersCreate, UsersDelete, UsersEdit, one};
use crate::auth::Authorized;
use crate::input::{Body, path_id};
use crate::passwords::setting::refusal;
use crate::passwords::vetted;
use crate::{ApiError, AppState};

#[utoipa::path(
    post,
    path = "/v1/users",
    operation_id = "createUser",
    tag = "Users",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #4: `birthday` is answered as YYYY-MM-DD; accepted as YYYY-MM-DD or a full date-time (its date in UTC)",
        "SPEC_READINGS #5: `maximum` on `ApiUserName`/`ApiAddress` strings bounds their length, on input too (400 beyond)",
        "SPEC_READINGS #14: `username` only together with `credentials` (400 otherwise)",
        "SPEC_READINGS #21: `ApiAddress.updated_at` is output only; `identity_providers` is never sent; `identities` is always an array; `groupIds` always present",
    ]))),
)]
pub async fn create_user(
    auth: Authorized<UsersCreate>,
    state: web::Data<AppState>,
    body: Body<CreateUserInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().validate()?;
    let prepared = Prepared::of(&state, &auth.scope, &input).await?;
    let user_id = new_id();
    let new_user = prepared.new_user(&user_id, &input);
    let actor = auth.actor();
    let user = users::create(
        &state.pool,
        &auth.scope,
        new_user,
        input.app.clone(),
        &actor,
    )
    .await?;
    Ok(one(&user, StatusCode::CREATED))
}

/// A new user's profile and password hash, checked and hashed as every
/// creation does (the Users API's, and the Members API's create-or-assign).
pub(crate) struct Prepared {
    profile: Profile,
    password: Option<(String, bool)>,
}

impl Prepared {
    /// The policy of the caller's application vets the password, which is
    /// then hashed off the async runtime.
    pub(crate) async fn of(
        state: &AppState,
        scope: &idstore_domain::scope::Scope,
        input: &input::NewUserInput,
    ) -> Result<Self, ApiError> {
        let password = match &input.password {
            Some((password, temporary)) => {
                let context = context_words(&input.patch);
                let normalized = vetted(state, &scope.tenant_id, &scope.app_id, password, &context)
                    .await?
                    .map_err(|r| match refusal(r) {
                        ApiError::CodedBadRequest(c) => {
                            ApiError::bad_request(format!("credentials.password: {}", c.message))
                        }
                        other => other,
                    })?;
                Some((
                    state.auth.hashes.hash_password(normalized).await?,
                    *temporary,
                ))
            }
            None => None,
        };
        let mut profile = Profile::empty();
        profile.apply(input.patch.clone(), users::now_millis());
        Ok(Self { profile, password })
    }

    /// A user created by an invitation waits, Pending, until it accepts
    /// (SPEC_READINGS #43).
    pub(crate) fn invited(mut self) -> Self {
        self.profile.status = idstore_domain::user::Status::Pending;
        self
    }

    pub(crate) fn new_user<'a>(
        &'a self,
        user_id: &'a str,
        input: &'a input::NewUserInput,
    ) -> NewUser<'a> {
        NewUser {
            user_id,
            profile: &self.profile,
            delegated_access: input.delegated_access.as_ref().map(|d| Delegation {
                actor_id: &d.actor_id,
                permissions: &d.permissions,
            }),
            password: self.password.as_ref().map(|(phc, temporary)| PasswordHash {
                phc,
                temporary: *temporary,
            }),
        }
    }
}

#[utoipa::path(
    put,
    path = "/v1/users/{user_id}",
    operation_id = "updateUser",
    tag = "Users",
    responses(
        (status = 409, description = "SPEC_READINGS #13", body = ref("#/components/schemas/IdentifierIsTakenHttpError")),
    ),
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #1: `secondary_emails`/`secondary_phone_numbers` are appended and de-duplicated, not replaced",
        "SPEC_READINGS #2: `custom_data` and `custom_app_data` are shallow-merged; `null` deletes a key",
        "SPEC_READINGS #13: a change that collides with another user's unique identifier is a 409 `IdentifierIsTaken`",
        "SPEC_READINGS #4: `birthday` is answered as YYYY-MM-DD; accepted as YYYY-MM-DD or a full date-time (its date in UTC)",
        "SPEC_READINGS #5: `maximum` on `ApiUserName`/`ApiAddress` strings bounds their length, on input too (400 beyond)",
        "SPEC_READINGS #21: `ApiAddress.updated_at` is output only; `identity_providers` is never sent; `identities` is always an array; `groupIds` always present",
        "SPEC_READINGS #33: an application's clients may be denied this change by the extension `PUT /v1/admin/applications/{app_id}/user-permissions` (403, nothing written)",
    ]))),
)]
pub async fn update_user(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Body<UpdateUserInput>,
) -> Result<HttpResponse, ApiError> {
    let (patch, app) = body.into_inner().validate()?;
    path_id("user_id", &path)?;
    clients_may(&state, &auth.scope, patch.touches()).await?;
    let change = |current: &UserRow, profile: &mut Profile| {
        check_username(current, &patch)?;
        profile.apply(patch, users::now_millis());
        input::check_totals(profile)
    };
    let audit = (&auth.actor(), Action::UserUpdate);
    let user = users::update(&state.pool, &auth.scope, &path, change, app, audit).await?;
    Ok(one(&user, StatusCode::OK))
}

/// An application's clients change only what the operator lets them
/// (docs/SPEC_READINGS.md #33); admin tokens are not limited.
pub(crate) async fn clients_may(
    state: &AppState,
    scope: &Scope,
    touches: Touches,
) -> Result<(), ApiError> {
    let Reach::App(app_id) = &scope.reach else {
        return Ok(());
    };
    let may = match state
        .within(&scope.tenant_id, async |db| {
            applications::get(db, &scope.tenant_id, app_id).await
        })
        .await
    {
        Ok(app) => app.clients_may,
        // The token outlived its application (revocation will refuse it).
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::Unauthorized(
                "Invalid or expired access token".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let refused = [
        (
            touches.identifiers && !may.change_identifiers,
            "identifiers (emails, phone numbers, username, external_user_id)",
        ),
        (touches.status && !may.change_status, "status"),
        (
            touches.profile && !may.edit_profiles,
            "tenant profile (name, address, birthday, picture, language, custom_data)",
        ),
    ];
    match refused.iter().find(|(refused, _)| *refused) {
        None => Ok(()),
        Some((_, what)) => Err(ApiError::Forbidden(format!(
            "This application's clients may not change users' {what}; an administrator can \
             allow it with PUT /v1/admin/applications/{app_id}/user-permissions"
        ))),
    }
}

/// The words a new user's password may not contain.
fn context_words(patch: &ProfilePatch) -> Vec<String> {
    let local = patch
        .email
        .as_ref()
        .map(|e| e.as_str().split('@').next().unwrap_or_default().to_owned());
    let username = patch.username.as_ref().map(|u| u.as_str().to_owned());
    local.into_iter().chain(username).collect()
}

/// A username names a password login (CONTRADICTIONS #14).
fn check_username(current: &UserRow, patch: &ProfilePatch) -> Result<(), ApiError> {
    if patch.username.is_some() && current.password_updated_at.is_none() {
        return Err(ApiError::bad_request(
            "username can only be set for a user with a password; add credentials first",
        ));
    }
    Ok(())
}

#[utoipa::path(
    delete,
    path = "/v1/users/{user_id}/apps",
    operation_id = "removeUserFromApp",
    tag = "Users"
)]
pub async fn remove_from_app(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("user_id", &path)?;
    state
        .within(&auth.scope.tenant_id, async |db| {
            users::remove_from_app(db, &auth.scope, &path, &auth.actor()).await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/v1/manage/users/{user_id}",
    operation_id = "deleteTenantUser",
    tag = "Users",
    responses(
        (status = 400, description = "SPEC_READINGS #19", body = ref("#/components/schemas/BadRequestHttpError")),
    ),
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #8: admin tokens with `users:delete` only",
        "SPEC_READINGS #19: a malformed path value or body is a 400 in the `BadRequestHttpError` shape",
    ]))),
)]
pub async fn delete_user(
    auth: Authorized<UsersDelete>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("user_id", &path)?;
    users::delete(&state.pool, &auth.scope, &path, &auth.actor()).await?;
    Ok(HttpResponse::NoContent().finish())
}
