//! The token endpoint (`client_credentials`), the published keys, and the
//! discovery document.

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use idstore_auth::principal::TokenKind;
use idstore_auth::{Claims, Principal, secret, token};
use idstore_domain::id::new_id;
use idstore_store::{clients, signing_keys};
use serde_json::json;

use crate::error::OAuthError;
use crate::{ApiError, AppState};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oidc/token").post(token))
        .service(web::resource("/oidc/jwks").get(jwks))
        .service(web::resource("/.well-known/openid-configuration").get(discovery));
}

/// The parameters of a token request.
#[derive(Debug, Default)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    resource: Option<String>,
}

fn parse_form(req: &HttpRequest, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let form_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(OAuthError::InvalidRequest(
            "Content-Type must be application/x-www-form-urlencoded".into(),
        ));
    }
    let mut parsed = TokenRequest::default();
    for (key, value) in url::form_urlencoded::parse(body) {
        let slot = match key.as_ref() {
            "grant_type" => &mut parsed.grant_type,
            "client_id" => &mut parsed.client_id,
            "client_secret" => &mut parsed.client_secret,
            "resource" => &mut parsed.resource,
            _ => continue, // RFC 6749 §3.2: unknown parameters are ignored
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(OAuthError::InvalidRequest(format!(
                "parameter {key} repeated"
            )));
        }
    }
    Ok(parsed)
}

/// Client credentials from HTTP Basic (RFC 6749 §2.3.1: form-encoded
/// parts) or the body, never both.
fn client_credentials(
    req: &HttpRequest,
    form: &TokenRequest,
) -> Result<(String, String), OAuthError> {
    let basic = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .map(|b64| -> Result<(String, String), OAuthError> {
            let bad = || OAuthError::InvalidClient("Malformed HTTP Basic credentials".into());
            let decoded = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
            let text = String::from_utf8(decoded).map_err(|_| bad())?;
            let (id, secret) = text.split_once(':').ok_or_else(bad)?;
            let unescape = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Ok((unescape(id), unescape(secret)))
        })
        .transpose()?;
    match (basic, &form.client_id, &form.client_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(OAuthError::InvalidRequest(
            "Client credentials given both in the Authorization header and the body".into(),
        )),
        (Some(pair), None, None) => Ok(pair),
        (None, Some(id), Some(secret)) => Ok((id.clone(), secret.clone())),
        _ => Err(OAuthError::InvalidClient(
            "Client authentication required".into(),
        )),
    }
}

async fn token(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let form = parse_form(&req, &body)?;
    match form.grant_type.as_deref() {
        None => return Err(OAuthError::InvalidRequest("grant_type is required".into())),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::UnsupportedGrantType(format!(
                "grant_type {other:?} is not supported"
            )));
        }
    }
    let audience = match &form.resource {
        None => state.auth.settings().audience.clone(),
        Some(r) if valid_resource(r) => r.clone(),
        Some(_) => {
            return Err(OAuthError::InvalidTarget(
                "resource must be an absolute URI".into(),
            ));
        }
    };
    let (client_id, client_secret) = client_credentials(&req, &form)?;
    let client = authenticate(&state, &client_id, client_secret).await?;

    let kind = if client.is_management {
        TokenKind::Admin
    } else {
        TokenKind::Client
    };
    let settings = state.auth.settings();
    let now = chrono::Utc::now().timestamp();
    let lifetime = settings.lifetime.as_secs() as i64;
    let claims = Claims {
        iss: settings.issuer.clone(),
        sub: client_id.clone(),
        aud: audience,
        iat: now,
        exp: now + lifetime,
        nbf: None,
        jti: new_id(),
        tid: client.tenant_id.clone(),
        app_id: client.app_id.clone(),
        client_id,
        roles: Vec::new(),
        scope: Principal::scope_for(kind, &client.app_id),
        org_id: None,
        kind,
    };
    let key = signing_keys::active(&state.pool, &client.tenant_id)
        .await
        .map_err(server_error)?;
    let private = state
        .auth
        .kek
        .open(&key.kid, &key.private_key_sealed)
        .map_err(server_error)?;
    let access_token = token::sign(&claims, &key.kid, &private).map_err(server_error)?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .insert_header(("pragma", "no-cache"))
        .json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": claims.scope,
        })))
}

/// Checks a client's secret within its attempt budget.
async fn authenticate(
    state: &AppState,
    client_id: &str,
    candidate: String,
) -> Result<clients::AuthAttempt, OAuthError> {
    let throttle = state.auth.throttle;
    let refused = || OAuthError::InvalidClient("Client authentication failed".into());
    if !idstore_domain::id::is_valid_id(client_id) || candidate.len() > 512 {
        return Err(refused());
    }
    let window = throttle.window.as_secs() as i64;
    let attempt = clients::reserve_auth_attempt(&state.pool, client_id, window)
        .await
        .map_err(server_error)?;
    let Some(attempt) = attempt else {
        // Unknown client: spend the same time as a wrong secret.
        state
            .auth
            .hashes
            .verify(secret::dummy_hash().to_owned(), candidate)
            .await;
        return Err(refused());
    };
    if attempt.attempts > throttle.max_attempts {
        tracing::warn!(
            client_id,
            attempts = attempt.attempts,
            "client authentication throttled"
        );
        return Err(OAuthError::Throttled {
            retry_after: attempt.retry_after,
        });
    }
    if !state
        .auth
        .hashes
        .verify(attempt.secret_hash.clone(), candidate)
        .await
    {
        tracing::info!(client_id, "client authentication failed");
        return Err(refused());
    }
    clients::release_auth_attempt(&state.pool, client_id)
        .await
        .map_err(server_error)?;
    Ok(attempt)
}

fn valid_resource(r: &str) -> bool {
    r.len() <= 512
        && !r.contains('#')
        && (r.starts_with("https://") || r.starts_with("http://") || r.starts_with("urn:"))
}

fn server_error(e: impl std::fmt::Display) -> OAuthError {
    tracing::error!(error = %e, "token issuance failed");
    OAuthError::Server(e.to_string())
}

async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let lifetime = state.auth.settings().lifetime.as_secs() as i64;
    let keys = signing_keys::published(&state.pool, lifetime)
        .await
        .map_err(ApiError::internal)?;
    let keys: Vec<_> = keys
        .iter()
        .map(|k| idstore_auth::keys::jwk(&k.kid, &k.public_key))
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=60"))
        .json(json!({ "keys": keys })))
}

async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    let issuer = &state.auth.settings().issuer;
    HttpResponse::Ok().json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oidc/token"),
        "jwks_uri": format!("{issuer}/oidc/jwks"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
    }))
}
