//! Applications as answered: the vendor's `ApiApp` (`ApiAppWithoutLogo`
//! in lists) and `ApiBasicApp`. The deprecated client fields describe the
//! default client, the application's first; its secret is in the answer
//! only when the application was just created.

use idstore_store::applications::{Application, ClientUserPermissions};
use idstore_store::clients::Client;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Value, json};

use crate::clients::wire::device_authorization;
use crate::input::date_time;

/// Who created an application that no client's token created (bootstrap
/// and `idstore seed`).
const SYSTEM: &str = "idstore";

#[derive(Serialize)]
pub struct ApiBasicApp<'a> {
    app_id: &'a str,
    tenant_id: &'a str,
    app_name: &'a str,
    app_description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    login_uri: Option<&'a Value>,
}

impl<'a> From<&'a Application> for ApiBasicApp<'a> {
    fn from(a: &'a Application) -> Self {
        Self {
            app_id: &a.app_id,
            tenant_id: &a.tenant_id,
            app_name: &a.name,
            app_description: a.description.as_deref().unwrap_or_default(),
            login_uri: a.settings.get("login_uri"),
        }
    }
}

#[derive(Serialize)]
pub struct ApiApp<'a> {
    #[serde(flatten)]
    basic: ApiBasicApp<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logo: Option<Value>,
    login_preferences: Value,
    created_at: String,
    created_by: &'a str,
    updated_at: String,
    service_providers: Value,
    authenticator_preferences: Value,
    allow_public_signup: Value,
    invite_member_email_expiration_minutes: Value,
    signing_key_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    invite_member_uri: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invite_client_id: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subdomain: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_domain: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token_invalidation_trigger_configuration: Option<&'a Value>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    default_client: Option<DefaultClient<'a>>,
}

/// The vendor's deprecated per-application client fields.
#[derive(Serialize)]
struct DefaultClient<'a> {
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    client_display_name: &'a str,
    client_description: &'a str,
    client_type: Value,
    redirect_uris: &'a [String],
    resources: &'a [String],
    client_auth_method: &'static str,
    device_authorization: Value,
    ciba_authorization: Value,
}

impl<'a> ApiApp<'a> {
    /// `with_logo` false is the list's `ApiAppWithoutLogo`.
    pub fn new(a: &'a Application, default_client: Option<&'a Client>, with_logo: bool) -> Self {
        let kept = |key: &str, default: Value| a.settings.get(key).cloned().unwrap_or(default);
        Self {
            basic: ApiBasicApp::from(a),
            logo: with_logo.then(|| kept("logo", json!(""))),
            login_preferences: json!({"auth_methods": {}}),
            created_at: date_time(a.created_at),
            created_by: a.created_by.as_deref().unwrap_or(SYSTEM),
            updated_at: date_time(a.updated_at),
            service_providers: kept("service_providers", json!([])),
            authenticator_preferences: kept(
                "authenticator_preferences",
                json!({"is_centralized": false, "login_uri": ""}),
            ),
            allow_public_signup: kept("allow_public_signup", json!(false)),
            invite_member_email_expiration_minutes: kept(
                "invite_member_email_expiration_minutes",
                json!(2880),
            ),
            signing_key_enabled: false,
            invite_member_uri: a.settings.get("invite_member_uri"),
            invite_client_id: a.settings.get("invite_client_id"),
            subdomain: a.settings.get("subdomain"),
            // Kept, never verified: idstore serves no custom domains.
            custom_domain: a.settings.get("custom_domain").map(|domain| {
                json!({"domain": domain, "updated_at": date_time(a.updated_at), "status": "pending"})
            }),
            refresh_token_invalidation_trigger_configuration: a
                .settings
                .get("refresh_token_invalidation_trigger_configuration"),
            default_client: default_client.map(DefaultClient::from),
        }
    }

    /// A new application with its default client's secret, shown once.
    pub fn created(a: &'a Application, client: &'a Client, secret: &'a SecretString) -> Self {
        let mut app = Self::new(a, Some(client), true);
        if let Some(c) = app.default_client.as_mut() {
            c.client_secret = Some(secret.expose_secret());
        }
        app
    }
}

impl<'a> From<&'a Client> for DefaultClient<'a> {
    fn from(c: &'a Client) -> Self {
        let kept = |key: &str, default: Value| c.settings.get(key).cloned().unwrap_or(default);
        Self {
            client_id: &c.client_id,
            client_secret: None,
            client_display_name: &c.name,
            client_description: c.description.as_deref().unwrap_or_default(),
            client_type: kept("client_type", json!("web")),
            redirect_uris: &c.redirect_uris,
            resources: &c.resources,
            client_auth_method: "client_secret_basic",
            device_authorization: device_authorization(c),
            ciba_authorization: kept("ciba_authorization", json!({"enabled": false})),
        }
    }
}

/// What an application's clients may change about users.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserPermissions {
    edit_profiles: bool,
    change_identifiers: bool,
    change_status: bool,
}

impl From<&ClientUserPermissions> for UserPermissions {
    fn from(p: &ClientUserPermissions) -> Self {
        Self {
            edit_profiles: p.edit_profiles,
            change_identifiers: p.change_identifiers,
            change_status: p.change_status,
        }
    }
}
