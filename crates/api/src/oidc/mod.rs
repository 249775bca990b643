//! The token endpoint (`client_credentials`, and the password login's
//! `authorization_code` and `refresh_token`), the published keys, and the
//! discovery document. All three are open without a token.

mod input;
mod wire;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use idstore_store::{StoreError, signing_keys};
use utoipa::{OpenApi, ToSchema};

pub(crate) use self::input::valid_resource;
use self::input::{Grant, TokenRequest, client_credentials};
use self::wire::{Discovery, Jwks, TokenResponse};
use crate::auth::{ClientAuthError, IssueError};
use crate::error::OAuthError;
use crate::openapi::{ErrorMessage, OAuthErrorBody};
use crate::routes::Routes;
use crate::source::Source;
use crate::{ApiError, AppState};
use crate::{login, prometheus};

#[derive(OpenApi)]
#[openapi(
    paths(token, jwks, discovery),
    components(schemas(TokenForm, TokenResponse, Jwks, Discovery))
)]
pub struct Doc;

/// The token request's form (RFC 6749 §4.4, §4.1.3, §6). The client
/// authenticates with HTTP Basic or with `client_id` and `client_secret`
/// in the form.
#[derive(ToSchema)]
pub struct TokenForm {
    /// `client_credentials`, `authorization_code` (a password login's code)
    /// or `refresh_token`.
    pub grant_type: String,
    /// `authorization_code`: the code of the login's redirect URL.
    pub code: Option<String>,
    /// `authorization_code`: the `redirect_uri` the login named.
    pub redirect_uri: Option<String>,
    /// `refresh_token`: the refresh token last issued.
    pub refresh_token: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// The audience asked for (RFC 8707): one of the client's `resources`;
    /// idstore itself when left out.
    pub resource: Option<String>,
}

pub fn routes(r: &mut Routes) {
    r.at("/oidc/token").public(Method::POST, token);
    r.at("/oidc/jwks").public(Method::GET, jwks);
    r.at("/.well-known/openid-configuration")
        .public(Method::GET, discovery);
}

/// Issues an access token to a client (`client_credentials`), or a
/// UserAccessToken and a refresh token for a password login
/// (`authorization_code`, then `refresh_token`).
#[utoipa::path(
    post,
    path = "/oidc/token",
    operation_id = "issueToken",
    tag = "idstore extension",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "`invalid_request`, `unsupported_grant_type`, `invalid_target`, `invalid_grant` (a code or refresh token that is unknown, expired, used, or another client's)", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = OAuthErrorBody),
        (status = 429, description = "Too many requests or failed authentications; see `Retry-After`", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable`; see `Retry-After`", body = OAuthErrorBody),
    )
)]
async fn token(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    // Before anything costs a query or a hash.
    let source = Source::of(&req, &state.proxies).to_string();
    state.token_rate.admit(&source).map_err(|retry_after| {
        tracing::warn!(source, "token requests over the rate limit");
        OAuthError::Throttled {
            retry_after: retry_after as i64,
        }
    })?;
    let form = TokenRequest::parse(&req, &body)?;
    let audience = form.audience(&state.auth.settings().audience)?;
    let (client_id, client_secret) = client_credentials(&req, &form)?;
    let client = state
        .auth
        .authenticate_client(&client_id, &source, client_secret)
        .await
        .map_err(|e| match e {
            ClientAuthError::Refused => {
                metrics::counter!(prometheus::CLIENT_AUTH_FAILURES).increment(1);
                OAuthError::InvalidClient("Client authentication failed".into())
            }
            ClientAuthError::Throttled { retry_after } => OAuthError::Throttled { retry_after },
            ClientAuthError::Busy(_) => OAuthError::Unavailable,
            ClientAuthError::Store(e) => store_error(e),
        })?;
    let user_tokens = match form.grant() {
        Grant::ClientCredentials => None,
        Grant::AuthorizationCode { code, redirect_uri } => Some(
            login::tokens::exchange_code(&state, &client_id, &client, code, redirect_uri).await?,
        ),
        Grant::RefreshToken(refresh_token) => {
            Some(login::tokens::refresh(&state, &client_id, &client, refresh_token).await?)
        }
    };
    if let Some(tokens) = user_tokens {
        metrics::counter!(prometheus::TOKENS_ISSUED, "kind" => "user").increment(1);
        return Ok(HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .insert_header(("pragma", "no-cache"))
            .json(TokenResponse::for_user(
                &tokens.issued,
                &tokens.refresh_token,
            )));
    }
    if audience != state.auth.settings().audience && !client.resources.contains(&audience) {
        return Err(OAuthError::InvalidTarget(
            "resource is not one this client may ask for: list it in the client's resources".into(),
        ));
    }
    let issued = state
        .auth
        .issue_client_token(&client_id, &client, audience)
        .await
        .map_err(|e| match e {
            IssueError::Store(e) => store_error(e),
            // A 500 would tell the caller nothing, and this is no write whose
            // outcome is unknown: another replica, or this one once given the
            // right key, signs.
            e @ IssueError::Unsealable { .. } => {
                tracing::error!(error = %e, "token not issued: this replica's key-encryption key is not the one that sealed the tenant's signing key");
                OAuthError::SigningKeyUnavailable(e.to_string())
            }
            other => server_error(other),
        })?;
    let kind = match issued.claims.kind {
        idstore_auth::TokenKind::Admin => "admin",
        idstore_auth::TokenKind::Client => "client",
        idstore_auth::TokenKind::User => "user",
        idstore_auth::TokenKind::OrgAdmin => "org_admin",
    };
    metrics::counter!(prometheus::TOKENS_ISSUED, "kind" => kind).increment(1);
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .insert_header(("pragma", "no-cache"))
        .json(TokenResponse::new(&issued)))
}

pub(crate) fn store_error(e: StoreError) -> OAuthError {
    match e {
        StoreError::Unavailable(cause) => {
            tracing::warn!(error = %cause, "token endpoint: database unavailable");
            OAuthError::Unavailable
        }
        other => server_error(other),
    }
}

pub(crate) fn server_error(e: impl std::fmt::Display) -> OAuthError {
    tracing::error!(error = %e, "token issuance failed");
    OAuthError::Server(e.to_string())
}

/// The public keys tokens are signed with.
#[utoipa::path(
    get,
    path = "/oidc/jwks",
    operation_id = "getJwks",
    tag = "idstore extension",
    responses(
        (status = 200, body = Jwks),
        (status = 503, description = "The database is busy or unreachable", body = ErrorMessage),
    )
)]
async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let lifetime = state.auth.settings().lifetime.as_secs() as i64;
    let keys = signing_keys::published(&state.pool, lifetime).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=60"))
        .json(Jwks::of(&keys)))
}

/// OpenID Connect discovery.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    operation_id = "getOpenIdConfiguration",
    tag = "idstore extension",
    responses((status = 200, body = Discovery))
)]
async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Discovery::for_issuer(&state.auth.settings().issuer))
}
