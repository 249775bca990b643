//! The password login (extension): an application's backend, with its
//! client token, signs a user in with an identifier and a password and
//! gets a redirect URL carrying a one-time code, which the client
//! exchanges at `/oidc/token` (`grant_type=authorization_code`, in
//! `tokens.rs`) for a UserAccessToken and a refresh token.
//!
//! Every failure (unknown user, wrong password, no password, disabled
//! user, locked identifier) is one 401 with one body, and costs one hash
//! verification: the dummy hash stands in where there is nothing to
//! verify. Failed attempts are counted in PostgreSQL per identifier (the
//! policy's lockout) and per source address, before the check, so
//! concurrent guesses cannot slip past the limit.

mod throttle;
pub(crate) mod tokens;

use actix_web::{HttpRequest, HttpResponse, web};
use idstore_auth::password::policy::{PasswordPolicy, normalize};
use idstore_auth::policy;
use idstore_auth::ticket;
use idstore_domain::contact::{Email, Phone, Username};
use idstore_domain::scope::{Reach, Scope};
use idstore_store::audit::{Action, Event};
use idstore_store::credentials::{self, Credential};
use idstore_store::login::{self, Ticket, TicketKind};
use idstore_store::users::Lookup;
use idstore_store::{PgConnection, StoreError, clients, members, organizations, tenancy};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use self::throttle::Attempt;
use crate::auth::Authorized;
use crate::input::{Body, path_id};
use crate::openapi::{BadRequestMessages, CodedError, ErrorMessage};
use crate::passwords::setting::{policy_in, stale_reset_token};
use crate::passwords::{Mode, SetPassword, set_password};
use crate::prometheus;
use crate::routes::Routes;
use crate::source::Source;
use crate::wire::One;
use crate::{ApiError, AppState};

policy!(PasswordLogin = "[appId]:read", "apps:read");
policy!(UsersUnlock = "users:edit");

/// How long what a login hands out lives.
#[derive(Debug, Clone, Copy)]
pub struct LoginSettings {
    /// A UserAccessToken's lifetime, in seconds.
    pub user_token_lifetime: u64,
    /// A refresh token's lifetime, in seconds.
    pub refresh_token_lifetime: i64,
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            user_token_lifetime: 900,
            refresh_token_lifetime: 14 * 24 * 3600,
        }
    }
}

/// An authorization code lives this long (RFC 6749 §4.1.2 recommends at
/// most ten minutes; the exchange follows the redirect at once).
const CODE_SECS: i64 = 60;
/// A reset ticket: time to type a new password.
const RESET_SECS: i64 = 600;

#[derive(OpenApi)]
#[openapi(
    paths(password_login, password_reset, unlock),
    components(schemas(LoginInput, ResetInput, LoginAnswer))
)]
pub struct Doc;

pub fn routes(r: &mut Routes) {
    r.at("/v1/auth/password/login").post(password_login);
    r.at("/v1/auth/password/reset").post(password_reset);
    r.at("/v1/admin/users/{user_id}/unlock").post(unlock);
}

/// One of `username`, `email`, `phone_number` names the user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    username: Option<String>,
    email: Option<String>,
    phone_number: Option<String>,
    #[schema(value_type = String)]
    password: SecretString,
    /// One of the calling application's clients.
    client_id: String,
    /// One of that client's `redirect_uris`, exactly.
    redirect_uri: String,
    /// Sign in to this organization, which must have the calling
    /// application and the user as a member: the user's tokens carry
    /// `org_id` and the member's roles for the application (none while the
    /// membership is disabled).
    org_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetInput {
    /// The `reset_token` a login with a temporary or expired password answered.
    reset_token: String,
    /// The new password (the policy applies).
    #[schema(value_type = String)]
    password: SecretString,
}

/// A login's answer: where to send the user, or (`password_change_required`)
/// the ticket to set a new password with first.
#[derive(Serialize, ToSchema)]
pub struct LoginAnswer {
    /// `redirect_uri` with `code` added.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_change_required: Option<bool>,
    /// `temporary` or `expired`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    /// Single use, for `POST /v1/auth/password/reset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reset_token: Option<String>,
}

/// The identifier a login names, parsed as stored.
enum Identifier {
    Username(Username),
    Email(Email),
    Phone(Phone),
}

impl Identifier {
    fn of(input: &LoginInput) -> Result<Self, ApiError> {
        let given = [&input.username, &input.email, &input.phone_number];
        if given.iter().filter(|g| g.is_some()).count() != 1 {
            return Err(ApiError::bad_request(
                "give exactly one of username, email and phone_number",
            ));
        }
        let bad = |field: &str, e: String| ApiError::bad_request(format!("{field}: {e}"));
        if let Some(u) = &input.username {
            return Username::parse(u)
                .map(Self::Username)
                .map_err(|e| bad("username", e));
        }
        if let Some(e) = &input.email {
            return Email::parse(e)
                .map(Self::Email)
                .map_err(|m| bad("email", m));
        }
        let phone = input.phone_number.as_deref().unwrap_or_default();
        Phone::parse(phone)
            .map(Self::Phone)
            .map_err(|e| bad("phone_number", e))
    }

    fn lookup(&self) -> Lookup<'_> {
        match self {
            Self::Username(u) => Lookup::Username(u),
            Self::Email(e) => Lookup::Email(e),
            Self::Phone(p) => Lookup::Phone(p),
        }
    }

    /// What failures are counted under: the identifier as compared.
    fn key(&self) -> String {
        match self {
            Self::Username(u) => format!("username:{}", u.key()),
            Self::Email(e) => format!("email:{}", e.as_str()),
            Self::Phone(p) => format!("phone:{}", p.as_str()),
        }
    }
}

/// The one answer of every failed login.
fn refused() -> ApiError {
    ApiError::Unauthorized("Invalid credentials".into())
}

/// The client a login names, when it is one of the caller's application's
/// and `redirect_uri` is one of its own: checked before any password, in
/// `db`'s transaction.
async fn client_for(
    db: &mut PgConnection,
    tenant_id: &str,
    app_id: &str,
    client_id: &str,
    redirect_uri: &str,
) -> Result<(), ApiError> {
    path_id("client_id", client_id)?;
    let client = clients::get(db, tenant_id, app_id, client_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => {
                ApiError::bad_request("client_id is not a client of the calling application")
            }
            e => e.into(),
        })?;
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(ApiError::bad_request(
            "redirect_uri is not one of the client's redirect_uris; register it on the client first",
        ));
    }
    Ok(())
}

/// `redirect_uri` with `code` added to its query.
fn with_code(redirect_uri: &str, code: &str) -> String {
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{separator}code={code}")
}

/// Signs a user in with a password.
#[utoipa::path(
    post,
    path = "/v1/auth/password/login",
    operation_id = "passwordLogin",
    tag = "idstore extension",
    request_body = LoginInput,
    responses(
        (status = 200, description = "`{\"result\": LoginAnswer}`", body = inline(One<LoginAnswer>)),
        (status = 400, description = "Malformed input, or a client or redirect URI the caller may not use", body = BadRequestMessages),
        (status = 401, description = "Invalid credentials: unknown user, wrong password, disabled user or locked identifier alike", body = ErrorMessage),
        (status = 429, description = "Too many failed logins from this address; see `Retry-After`", body = ErrorMessage),
    ),
    security(("ClientAccessToken" = [])),
)]
async fn password_login(
    auth: Authorized<PasswordLogin>,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Body<LoginInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    let identifier = Identifier::of(&input)?;
    let tenant_id = auth.tenant_id();
    let app_id = &auth.scope.app_id;
    let source = Source::of(&req, &state.proxies).to_string();
    // Everything read before the check, and the attempt counted, in one
    // transaction: it commits before the hash is verified.
    let mut tx = tenancy::begin(&state.pool, tenant_id).await?;
    client_for(
        &mut tx,
        tenant_id,
        app_id,
        &input.client_id,
        &input.redirect_uri,
    )
    .await?;
    if let Some(org) = &input.org_id {
        path_id("org_id", org)?;
        // The organization must have the calling application, whatever the
        // caller's own reach.
        let through_app = Scope {
            reach: Reach::App(app_id.clone()),
            ..auth.scope.clone()
        };
        organizations::reachable(&mut tx, &through_app, org, false)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => ApiError::bad_request(
                    "org_id names no organization that has the calling application",
                ),
                e => e.into(),
            })?;
    }
    let policy = policy_in(&mut tx, tenant_id, Some(app_id)).await?;
    let user = match credentials::find(&mut tx, tenant_id, identifier.lookup()).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    // Read whatever the password turns out to be, so that a member and a
    // non-member take the same time to be refused.
    let member = match (&input.org_id, &user) {
        (Some(org), Some(u)) => members::token_roles(&mut *tx, tenant_id, org, &u.user_id, app_id)
            .await?
            .is_some(),
        _ => true,
    };
    let attempt = Attempt::reserve(&mut tx, tenant_id, &identifier.key(), &source, &policy).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    let password = SecretString::from(normalize(input.password.expose_secret()));
    let verified = attempt
        .check(&state, user.as_ref(), password.clone())
        .await?;
    // A lapsed temporary password counts as a wrong one: the streak goes
    // on, and the answer is the same; so does signing in to an
    // organization the user is not a member of.
    let Some((user, verified)) = user
        .zip(verified)
        .filter(|(u, _)| u.is_active() && !lapsed(&policy, u) && member)
    else {
        metrics::counter!(prometheus::LOGIN_FAILURES, "reason" => attempt.reason()).increment(1);
        tracing::info!(source, "password login refused");
        return Err(refused());
    };
    let ticket = Ticket {
        user_id: user.user_id.clone(),
        client_id: input.client_id,
        redirect_uri: input.redirect_uri,
        org_id: input.org_id,
    };
    let answer = if let Some(reason) = change_required(&policy, &user) {
        let (reset_token, digest) = ticket::new_ticket().map_err(ApiError::internal)?;
        state
            .within(tenant_id, async |db| {
                login::issue_ticket(
                    &mut *db,
                    tenant_id,
                    TicketKind::Reset,
                    &digest,
                    &ticket,
                    RESET_SECS,
                )
                .await?;
                attempt.succeeded(db).await
            })
            .await?;
        LoginAnswer {
            url: None,
            password_change_required: Some(true),
            reason: Some(reason),
            reset_token: Some(reset_token),
        }
    } else {
        let actor = auth.actor();
        let event = Event::new(tenant_id, &actor, Action::UserLogin, &user.user_id)
            .refs(serde_json::json!({ "client_id": ticket.client_id }));
        // The rehash is an upgrade, not a condition: with the hash pool
        // full, the login succeeds on the old hash.
        let rehash = if verified.needs_rehash {
            state.auth.hashes.hash_password(password).await.ok()
        } else {
            None
        };
        let url = signed_in(
            &state,
            tenant_id,
            &user,
            Some((&event, &attempt)),
            rehash,
            &ticket,
        )
        .await?;
        LoginAnswer {
            url: Some(url),
            password_change_required: None,
            reason: None,
            reset_token: None,
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(One::of(answer)))
}

/// Whether the user's password is a temporary one past its validity: it
/// opens nothing any more (an administrator sets a new one).
fn lapsed(policy: &PasswordPolicy, user: &Credential) -> bool {
    user.password_temporary == Some(true)
        && user
            .password_updated_at
            .is_some_and(|at| policy.temporary_lapsed(at, chrono::Utc::now()))
}

/// Why the user must set a new password before it is signed in.
fn change_required(policy: &PasswordPolicy, user: &Credential) -> Option<&'static str> {
    let set_at = user.password_updated_at?;
    let now = chrono::Utc::now();
    if user.password_temporary == Some(true) {
        Some("temporary")
    } else if policy.expired(set_at, now) {
        Some("expired")
    } else {
        None
    }
}

/// Records the sign-in (`last_auth`, the login's event and its attempt's
/// success when given, the password's new hash when it had outdated
/// parameters or another algorithm) and issues the code, in one
/// transaction; answers the URL to redirect to.
async fn signed_in(
    state: &AppState,
    tenant_id: &str,
    user: &Credential,
    login: Option<(&Event<'_>, &Attempt)>,
    rehash: Option<String>,
    ticket: &Ticket,
) -> Result<String, ApiError> {
    let (code, digest) = ticket::new_ticket().map_err(ApiError::internal)?;
    let mut tx = tenancy::begin(&state.pool, tenant_id).await?;
    login::signed_in(&mut *tx, tenant_id, &user.user_id).await?;
    if let (Some(new), Some(old)) = (rehash, &user.password_hash) {
        credentials::rehash(&mut tx, tenant_id, &user.user_id, old, &new).await?;
    }
    if let Some((event, _)) = login {
        idstore_store::audit::record(&mut *tx, event).await?;
    }
    login::issue_ticket(
        &mut *tx,
        tenant_id,
        TicketKind::Code,
        &digest,
        ticket,
        CODE_SECS,
    )
    .await?;
    // Last, so the source's row (shared by every login behind one address)
    // is locked for one round trip. A sign-in that fails after the check
    // (an outage: 503) keeps its attempt counted as a failure.
    if let Some((_, attempt)) = login {
        attempt.succeeded(&mut tx).await?;
    }
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(with_code(&ticket.redirect_uri, &code))
}

/// Sets the new password a login asked for, and completes that login.
#[utoipa::path(
    post,
    path = "/v1/auth/password/reset",
    operation_id = "passwordReset",
    tag = "idstore extension",
    request_body = ResetInput,
    responses(
        (status = 200, description = "`{\"result\": {\"url\": ...}}`, as a login answers", body = inline(One<LoginAnswer>)),
        (status = 400, description = "An unknown, used or expired `reset_token` (`system_invalid_input`), or a password the policy refuses (`auth_password_weak`, `auth_password_breached`, `auth_password_recently_used`...), in the `{\"error_code\", \"message\"}` shape", body = CodedError),
    ),
    security(("ClientAccessToken" = [])),
)]
async fn password_reset(
    auth: Authorized<PasswordLogin>,
    state: web::Data<AppState>,
    body: Body<ResetInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    let tenant_id = auth.tenant_id();
    let digest = ticket::digest(&input.reset_token);
    let mut tx = tenancy::begin(&state.pool, tenant_id).await?;
    let ticket = login::peek_ticket(&mut *tx, tenant_id, TicketKind::Reset, &digest)
        .await?
        .ok_or_else(stale_reset_token)?;
    // The ticket belongs to a client of the caller's application.
    client_for(
        &mut tx,
        tenant_id,
        &auth.scope.app_id,
        &ticket.client_id,
        &ticket.redirect_uri,
    )
    .await
    .map_err(|e| match e {
        // Refused: no longer a client of the caller, or its redirect_uri
        // went. An outage stays an outage (503), retried as such.
        ApiError::BadRequest(_) => stale_reset_token(),
        e => e,
    })?;
    tx.commit().await.map_err(StoreError::commit)?;
    let actor = auth.actor();
    set_password(
        &state,
        SetPassword {
            tenant_id,
            app_id: &auth.scope.app_id,
            user_id: &ticket.user_id,
            password: input.password,
            temporary: false,
            enforce_complexity: true,
            username: None,
            mode: Mode::Reset,
            actor: &actor,
            action: Action::UserPasswordReset,
            reset_ticket: Some(&digest),
        },
    )
    .await?;
    let user = state
        .within(tenant_id, async |db| {
            credentials::find(db, tenant_id, Lookup::Id(&ticket.user_id)).await
        })
        .await?;
    // One event a request: the reset's `user.password_reset` stands for
    // the login it completes.
    let url = signed_in(&state, tenant_id, &user, None, None, &ticket).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(One::of(LoginAnswer {
            url: Some(url),
            password_change_required: None,
            reason: None,
            reset_token: None,
        })))
}

/// Ends a user's login lockout at once (it also ends by itself).
#[utoipa::path(
    post,
    path = "/v1/admin/users/{user_id}/unlock",
    operation_id = "unlockUser",
    tag = "idstore extension",
    params(("user_id" = String, Path)),
    responses(
        (status = 204, description = "The user's failed logins are forgotten"),
        (status = 404, description = "No such user", body = ErrorMessage),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn unlock(
    auth: Authorized<UsersUnlock>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("user_id", &path)?;
    let tenant_id = auth.tenant_id();
    let user = state
        .within(tenant_id, async |db| {
            credentials::find(db, tenant_id, Lookup::Id(&path)).await
        })
        .await?;
    throttle::forget(&state, tenant_id, &user).await?;
    let actor = auth.actor();
    let event = Event::new(tenant_id, &actor, Action::UserUnlock, &path);
    state
        .within(tenant_id, async |db| {
            idstore_store::audit::record(db, &event).await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
