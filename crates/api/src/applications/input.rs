//! Request bodies of the applications endpoints: the vendor's
//! `ApiCreateAppInput` / `ApiUpdateAppInput`.
//!
//! Honoured: `app_name`, `app_description`, and the deprecated fields of
//! the default client (`client_display_name`, `client_description`,
//! `client_type`, `redirect_uris`, `resources`) or `first_client`. Kept as
//! given and answered back: the descriptive settings. Refused with a 400
//! that says so: what would promise a feature idstore lacks (SAML, an
//! authentication hub, app-specific signing keys, PKCE, device and CIBA
//! flows, client authentication other than a secret).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ApiError;
use crate::clients::input::{ClientInput, ClientSpec, Whole, one_of, web_uri};
use crate::input::{keep, no_nul, optional_text, text};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticatorPreferences {
    is_centralized: bool,
    login_uri: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshTokenInvalidation {
    #[serde(skip_serializing_if = "Option::is_none")]
    invalidate_on_member_suspension: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invalidate_on_member_password_reset: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invalidate_on_member_role_update: Option<bool>,
}

/// One body for create and update: the vendor's two schemas are the same
/// but for create's required `app_name`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppInput {
    app_name: Option<String>,
    app_description: Option<String>,
    // Kept as given:
    service_providers: Option<Vec<String>>,
    allow_public_signup: Option<bool>,
    authenticator_preferences: Option<AuthenticatorPreferences>,
    login_uri: Option<String>,
    invite_member_uri: Option<String>,
    invite_member_email_expiration_minutes: Option<Whole>,
    refresh_token_invalidation_trigger_configuration: Option<RefreshTokenInvalidation>,
    logo: Option<String>,
    subdomain: Option<String>,
    custom_domain: Option<String>,
    invite_client_id: Option<String>,
    signing_key_enabled: Option<bool>,
    /// Only meaningful with app signing keys, which idstore does not have.
    #[allow(dead_code)]
    should_delete_signing_key: Option<bool>,
    // The default client's (deprecated at the vendor, still honoured):
    client_type: Option<String>,
    client_display_name: Option<String>,
    client_description: Option<String>,
    redirect_uris: Option<Vec<String>>,
    resources: Option<Vec<String>>,
    device_authorization: Option<Value>,
    ciba_authorization: Option<Value>,
    client_auth_method: Option<String>,
    pkce: Option<String>,
    first_client_authentication_protocol: Option<String>,
    first_client: Option<Value>,
}

/// A checked [`AppInput`]: `None` is "not given".
#[derive(Debug)]
pub struct AppSpec {
    pub name: Option<String>,
    pub description: Option<String>,
    /// The kept settings that were given, by the vendor's names.
    pub settings: Map<String, Value>,
    /// What the body says of the default client.
    pub client: ClientSpec,
}

impl AppInput {
    /// Checks a create body; `max_ttl` is the server's token lifetime.
    pub fn validate_new(self, max_ttl: u64) -> Result<AppSpec, ApiError> {
        if self.app_name.is_none() {
            return Err(ApiError::bad_request("app_name is required"));
        }
        let first = self.first_client(max_ttl)?;
        let mut spec = self.validate(max_ttl)?;
        if let Some(first) = first {
            spec.client = first;
        }
        if spec.client.name.is_none() {
            // The vendor requires `client_display_name`; idstore names the
            // default client when it is left out.
            spec.client.name = Some("default".into());
        }
        Ok(spec)
    }

    /// Checks an update body (every field optional).
    pub fn validate_change(self, max_ttl: u64) -> Result<AppSpec, ApiError> {
        if self.first_client.is_some() {
            return Err(ApiError::bad_request(
                "first_client applies when an application is created; change its clients \
                 through /v1/applications/{app_id}/clients",
            ));
        }
        // Only `oidc` exists, so naming it changes nothing.
        self.first_client(max_ttl)?;
        self.validate(max_ttl)
    }

    /// `first_client`, an OIDC client body, stands in for the deprecated
    /// default-client fields; giving both is ambiguous.
    fn first_client(&self, max_ttl: u64) -> Result<Option<ClientSpec>, ApiError> {
        if let Some(p) = &self.first_client_authentication_protocol {
            one_of("first_client_authentication_protocol", p, &["oidc"]).map_err(|_| {
                ApiError::bad_request("SAML clients are not supported by idstore; use oidc")
            })?;
        }
        let Some(body) = &self.first_client else {
            return Ok(None);
        };
        let deprecated = [
            self.client_type.is_some(),
            self.client_display_name.is_some(),
            self.client_description.is_some(),
            self.redirect_uris.is_some(),
            self.resources.is_some(),
            self.device_authorization.is_some(),
            self.ciba_authorization.is_some(),
        ];
        if deprecated.contains(&true) {
            return Err(ApiError::bad_request(
                "give the first client either as first_client or through the deprecated \
                 client_* fields, not both",
            ));
        }
        let input: ClientInput = serde_json::from_value(body.clone())
            .map_err(|e| ApiError::bad_request(format!("first_client: {e}")))?;
        input.validate_new(max_ttl).map(Some)
    }

    fn validate(self, max_ttl: u64) -> Result<AppSpec, ApiError> {
        if let Some(name) = &self.app_name {
            text("app_name", name, 100)?;
        }
        if let Some(d) = &self.app_description {
            optional_text("app_description", d, 1000)?;
        }
        self.refused()?;
        self.kept_values()?;
        let client = self.default_client(max_ttl)?;
        let mut settings = Map::new();
        keep!(
            settings,
            self,
            service_providers,
            allow_public_signup,
            authenticator_preferences,
            login_uri,
            invite_member_uri,
            invite_member_email_expiration_minutes,
            refresh_token_invalidation_trigger_configuration,
            logo,
            subdomain,
            custom_domain,
            invite_client_id,
            signing_key_enabled,
        );
        no_nul(&settings)?;
        Ok(AppSpec {
            name: self.app_name,
            description: self.app_description,
            settings,
            client,
        })
    }

    /// The deprecated default-client fields, checked as a client body.
    fn default_client(&self, max_ttl: u64) -> Result<ClientSpec, ApiError> {
        let mut body = Map::new();
        for (key, value) in [
            ("name", self.client_display_name.clone().map(Value::from)),
            (
                "description",
                self.client_description.clone().map(Value::from),
            ),
            ("client_type", self.client_type.clone().map(Value::from)),
            ("redirect_uris", self.redirect_uris.clone().map(Value::from)),
            ("resources", self.resources.clone().map(Value::from)),
            ("device_authorization", self.device_authorization.clone()),
            ("ciba_authorization", self.ciba_authorization.clone()),
        ] {
            if let Some(v) = value {
                body.insert(key.to_owned(), v);
            }
        }
        let input: ClientInput = serde_json::from_value(Value::Object(body))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        // Each field is optional here, as in a client update; errors name
        // the fields as this body calls them.
        input.validate_change(max_ttl).map_err(|e| match e {
            ApiError::BadRequest(messages) => ApiError::BadRequest(
                messages
                    .into_iter()
                    .map(|m| match m.split_once(' ') {
                        Some(("name", rest)) => format!("client_display_name {rest}"),
                        Some(("description", rest)) => format!("client_description {rest}"),
                        _ => m,
                    })
                    .collect(),
            ),
            other => other,
        })
    }

    fn refused(&self) -> Result<(), ApiError> {
        let refuse = |what: &str| {
            Err(ApiError::bad_request(format!(
                "{what} is not supported by idstore; leave it out"
            )))
        };
        if self
            .authenticator_preferences
            .as_ref()
            .is_some_and(|p| p.is_centralized)
        {
            return refuse("authenticator_preferences.is_centralized=true (an authentication hub)");
        }
        if self.signing_key_enabled == Some(true) {
            return refuse("signing_key_enabled=true (application signing keys)");
        }
        if self.pkce.is_some() {
            return refuse("pkce");
        }
        if self
            .client_auth_method
            .as_deref()
            .is_some_and(|m| m != "client_secret_basic")
        {
            return refuse("client_auth_method other than client_secret_basic");
        }
        Ok(())
    }

    fn kept_values(&self) -> Result<(), ApiError> {
        if let Some(Whole(minutes)) = self.invite_member_email_expiration_minutes
            && !(1..=525_600).contains(&minutes)
        {
            return Err(ApiError::bad_request(
                "invite_member_email_expiration_minutes must be from 1 to 525600 (a year)",
            ));
        }
        for (field, value) in [
            ("login_uri", &self.login_uri),
            ("invite_member_uri", &self.invite_member_uri),
            ("logo", &self.logo),
        ] {
            if let Some(uri) = value.as_ref().filter(|u| !u.is_empty()) {
                web_uri(field, uri)?;
            }
        }
        if let Some(p) = &self.authenticator_preferences {
            optional_text("authenticator_preferences.login_uri", &p.login_uri, 2000)?;
        }
        for (field, value) in [
            ("subdomain", &self.subdomain),
            ("custom_domain", &self.custom_domain),
            ("invite_client_id", &self.invite_client_id),
        ] {
            if let Some(v) = value {
                optional_text(field, v, 253)?;
            }
        }
        let providers = self.service_providers.as_deref().unwrap_or_default();
        if providers.len() > 100 {
            return Err(ApiError::bad_request(
                "service_providers may list at most 100 entries",
            ));
        }
        for p in providers {
            text("service_providers", p, 200)?;
        }
        Ok(())
    }
}

/// What an application's clients may change about users (an extension).
/// A permission left out keeps its value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPermissionsInput {
    pub edit_profiles: Option<bool>,
    pub change_identifiers: Option<bool>,
    pub change_status: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_app(body: Value) -> Result<AppSpec, String> {
        serde_json::from_value::<AppInput>(body)
            .map_err(|e| e.to_string())?
            .validate_new(3600)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_deprecated_fields_describe_the_default_client() {
        let spec = new_app(serde_json::json!({
            "app_name": "shop", "client_display_name": "web", "client_type": "native",
            "redirect_uris": ["https://shop.example/cb"], "logo": "https://shop.example/l.png",
            "invite_member_email_expiration_minutes": 60,
        }))
        .unwrap();
        assert_eq!(spec.client.name.as_deref(), Some("web"));
        assert_eq!(
            spec.client.redirect_uris.unwrap(),
            ["https://shop.example/cb"]
        );
        assert_eq!(spec.client.settings["client_type"], "native");
        assert_eq!(spec.settings["logo"], "https://shop.example/l.png");
        assert_eq!(spec.settings["invite_member_email_expiration_minutes"], 60);
    }

    #[test]
    fn first_client_replaces_the_deprecated_fields_and_excludes_them() {
        let spec = new_app(serde_json::json!({
            "app_name": "shop", "first_client_authentication_protocol": "oidc",
            "first_client": {"name": "api", "redirect_uris": [], "token_expiration": {"access_token_ttl": 5}},
        }))
        .unwrap();
        assert_eq!(spec.client.name.as_deref(), Some("api"));
        assert_eq!(spec.client.access_token_ttl, Some(Some(5)));
        let err = new_app(serde_json::json!({
            "app_name": "shop", "client_display_name": "web",
            "first_client": {"name": "api", "redirect_uris": []},
        }))
        .unwrap_err();
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn features_idstore_lacks_are_refused_by_name() {
        for (body, says) in [
            (
                serde_json::json!({"first_client_authentication_protocol": "saml"}),
                "SAML",
            ),
            (
                serde_json::json!({"authenticator_preferences": {"is_centralized": true, "login_uri": ""}}),
                "authentication hub",
            ),
            (
                serde_json::json!({"signing_key_enabled": true}),
                "signing keys",
            ),
            (
                serde_json::json!({"pkce": "enforcePkceInsteadOfClientCredentials"}),
                "pkce",
            ),
            (
                serde_json::json!({"client_auth_method": "none"}),
                "client_auth_method",
            ),
            (
                serde_json::json!({"device_authorization": {"enabled": true}}),
                "device_authorization",
            ),
            (
                serde_json::json!({"invite_member_email_expiration_minutes": 0}),
                "invite_member",
            ),
            (serde_json::json!({"login_uri": "nope"}), "login_uri"),
            (serde_json::json!({"name": "shop"}), "unknown field `name`"),
            (
                serde_json::json!({"client_display_name": ""}),
                "client_display_name must",
            ),
            (serde_json::json!({"logo": "javascript:alert(1)"}), "logo"),
        ] {
            let mut body = body;
            body["app_name"] = "shop".into();
            let err = new_app(body.clone()).unwrap_err();
            assert!(err.contains(says), "{body}: {err}");
        }
        assert!(
            new_app(serde_json::json!({}))
                .unwrap_err()
                .contains("app_name")
        );
    }
}
