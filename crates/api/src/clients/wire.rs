//! Clients as answered: the vendor's `ApiOidcClient`. The secret is in the
//! answer only right after it was made: idstore keeps a hash of it, so a
//! read has none to give (docs/SPEC_READINGS.md).

use idstore_store::clients::Client;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Value, json};

use crate::input::date_time;

#[derive(Serialize)]
pub struct ApiOidcClient<'a> {
    app_id: &'a str,
    tenant_id: &'a str,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    name: &'a str,
    description: &'a str,
    resources: &'a [String],
    created_at: String,
    updated_at: String,
    authentication_protocol: &'static str,
    client_group_id: Value,
    default_custom_claims: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_user_info_claims: Option<&'a Value>,
    sync_id_token_claims_to_userinfo: Value,
    short_cookies_samesite_type: Value,
    redirect_uris: &'a [String],
    client_type: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_types: Option<&'a Value>,
    token_endpoint_auth_method: Value,
    device_authorization: Value,
    ciba_authorization: Value,
    supported_prompts: Value,
    authentication_configuration: Value,
    token_expiration: Value,
    session_expiration: Value,
    enforce_par: Value,
    fapi_version_compliancy: Value,
    id_token_encryption: Value,
}

impl<'a> ApiOidcClient<'a> {
    /// `lifetime` is the server's token lifetime, the one a client without
    /// its own `access_token_ttl` gets, and the most any client gets (a
    /// stored TTL over a since-lowered lifetime is answered as it works).
    pub fn new(c: &'a Client, lifetime: u64) -> Self {
        let kept = |key: &str, default: Value| c.settings.get(key).cloned().unwrap_or(default);
        let mut token_expiration = kept("token_expiration", json!({}));
        token_expiration["access_token_ttl"] = json!(
            c.access_token_ttl
                .map_or(lifetime, |s| (s as u64).min(lifetime))
        );
        Self {
            app_id: &c.app_id,
            tenant_id: &c.tenant_id,
            client_id: &c.client_id,
            client_secret: None,
            name: &c.name,
            description: c.description.as_deref().unwrap_or_default(),
            resources: &c.resources,
            created_at: date_time(c.created_at),
            updated_at: date_time(c.updated_at),
            authentication_protocol: "oidc",
            client_group_id: kept("client_group_id", json!("")),
            default_custom_claims: kept("default_custom_claims", json!([])),
            default_user_info_claims: c.settings.get("default_user_info_claims"),
            sync_id_token_claims_to_userinfo: kept(
                "sync_id_token_claims_to_userinfo",
                json!(false),
            ),
            short_cookies_samesite_type: kept("short_cookies_samesite_type", json!("lax")),
            redirect_uris: &c.redirect_uris,
            client_type: kept("client_type", json!("web")),
            response_types: c.settings.get("response_types"),
            token_endpoint_auth_method: json!("client_secret_basic"),
            device_authorization: device_authorization(c),
            ciba_authorization: kept("ciba_authorization", json!({"enabled": false})),
            supported_prompts: kept("supported_prompts", json!([])),
            authentication_configuration: json!({"method": "client_secret_basic"}),
            token_expiration,
            // idstore has no sessions: 0 says none was set.
            session_expiration: kept("session_expiration", json!(0)),
            enforce_par: json!(false),
            fapi_version_compliancy: json!(false),
            id_token_encryption: json!({"enabled": false}),
        }
    }

    /// The client with its new secret, shown this once.
    pub fn with_secret(c: &'a Client, lifetime: u64, secret: &'a SecretString) -> Self {
        Self {
            client_secret: Some(secret.expose_secret()),
            ..Self::new(c, lifetime)
        }
    }
}

/// The client's device-flow switch; the vendor requires each of its URIs,
/// so an unset one is "".
pub(crate) fn device_authorization(c: &Client) -> Value {
    let mut switch = c
        .settings
        .get("device_authorization")
        .cloned()
        .unwrap_or_else(|| json!({"enabled": false}));
    for key in ["approval_uri", "success_uri", "input_uri"] {
        if switch.get(key).is_none() {
            switch[key] = json!("");
        }
    }
    switch
}
