//! What the token endpoint, the key set and discovery answer.

use idstore_store::signing_keys::PublishedKey;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::IssuedToken;

/// RFC 6749 §5.1.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse<'a> {
    access_token: &'a str,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    expires_in: i64,
    scope: &'a str,
    /// With a user's tokens: the refresh token (single use, rotating).
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

impl<'a> TokenResponse<'a> {
    pub fn new(issued: &'a IssuedToken) -> Self {
        Self {
            access_token: &issued.access_token,
            token_type: "Bearer",
            expires_in: issued.claims.exp - issued.claims.iat,
            scope: &issued.claims.scope,
            refresh_token: None,
        }
    }

    pub fn for_user(issued: &'a IssuedToken, refresh_token: &'a str) -> Self {
        Self {
            refresh_token: Some(refresh_token),
            ..Self::new(issued)
        }
    }
}

/// RFC 7517 key set.
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    /// JWKs (RFC 7517) of Ed25519 keys.
    keys: Vec<Value>,
}

impl Jwks {
    pub fn of(keys: &[PublishedKey]) -> Self {
        Self {
            keys: keys
                .iter()
                .map(|k| idstore_auth::keys::jwk(&k.kid, &k.public_key))
                .collect(),
        }
    }
}

/// The OpenID Provider metadata idstore can honour.
#[derive(Serialize, ToSchema)]
pub struct Discovery<'a> {
    issuer: &'a str,
    token_endpoint: String,
    jwks_uri: String,
    #[schema(value_type = Vec<String>)]
    grant_types_supported: [&'static str; 3],
    #[schema(value_type = Vec<String>)]
    token_endpoint_auth_methods_supported: [&'static str; 2],
    #[schema(value_type = Vec<String>)]
    id_token_signing_alg_values_supported: [&'static str; 1],
    #[schema(value_type = Vec<String>)]
    response_types_supported: [&'static str; 1],
    #[schema(value_type = Vec<String>)]
    subject_types_supported: [&'static str; 1],
}

impl<'a> Discovery<'a> {
    pub fn for_issuer(issuer: &'a str) -> Self {
        Self {
            issuer,
            token_endpoint: format!("{issuer}/oidc/token"),
            jwks_uri: format!("{issuer}/oidc/jwks"),
            grant_types_supported: ["client_credentials", "authorization_code", "refresh_token"],
            token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
            id_token_signing_alg_values_supported: ["EdDSA"],
            response_types_supported: ["token"],
            subject_types_supported: ["public"],
        }
    }
}
