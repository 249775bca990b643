//! Request bodies of the client endpoints: the vendor's
//! `ApiCreateOidcClientInput` / `ApiUpdateOidcClientInput`.
//!
//! Each field is honoured, kept, or refused (docs/SPEC_READINGS.md,
//! "Applications and clients"): name, description, redirect_uris,
//! resources and `token_expiration.access_token_ttl` change what idstore
//! does; descriptive settings are stored as given and answered back; a
//! setting that would promise a protection or flow idstore does not have
//! (SAML, PKCE, PAR, FAPI, mTLS or private-key-JWT client authentication,
//! device or CIBA flows, ID-token encryption) is a 400 that says so, since
//! accepting it would let an operator believe it is in force.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ApiError;
use crate::input::{keep, no_nul, optional_text, text};
use crate::oidc::valid_resource;

/// Most redirect URIs or resources one client may list.
const MAX_URIS: usize = 100;

/// Claims the vendor lets a client ask for by default.
const CLAIMS: &[&str] = &[
    "tid",
    "fname",
    "lname",
    "mname",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "groups",
    "new_user",
    "birthday",
    "language",
    "city",
    "address",
    "country",
    "street_address",
    "address_type",
    "webauthn",
    "roles",
    "ts_roles",
    "role_values",
    "ts_permissions",
    "permissions",
    "approval_data",
    "custom_group_data",
    "username",
    "secondary_phone_numbers",
    "secondary_emails",
    "picture",
    "created_at",
    "last_auth",
    "auth_time",
    "external_account_id",
    "external_user_id",
    "app_name",
    "custom_data",
    "custom_app_data",
    "ai_actor",
];

/// A `number` at the vendor that only makes sense whole (seconds,
/// minutes, counts): `60` and `60.0` are accepted, `1.5` is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Whole(pub u32);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = f64::deserialize(d)?;
        if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) {
            Ok(Self(n as u32))
        } else {
            Err(serde::de::Error::custom(format!(
                "{n} is not a whole number from 0 to {}",
                u32::MAX
            )))
        }
    }
}

/// The vendor's device-flow switch; idstore has no device flow, so only
/// "off" is kept.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceAuthorization {
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    success_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_uri: Option<String>,
}

/// The vendor's CIBA switch; as [`DeviceAuthorization`].
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CibaAuthorization {
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    login_uri: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenExpiration {
    /// A number at the vendor; whole seconds here, checked by [`ttl`].
    #[serde(skip_serializing)]
    access_token_ttl: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token_ttl: Option<Whole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_refresh_rotate: Option<Whole>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticationConfiguration {
    method: String,
    #[serde(default, skip_serializing)]
    tls_client_auth: Option<Value>,
    #[serde(default, rename = "isMtlsCertTokenBound", skip_serializing)]
    is_mtls_cert_token_bound: Option<bool>,
    #[serde(default, skip_serializing)]
    jwks: Option<Value>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdTokenEncryption {
    enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwks: Option<Value>,
}

/// One body for create and update: the two vendor schemas differ only in
/// what create requires (`name`, `redirect_uris`) and create's
/// `authentication_protocol`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    name: Option<String>,
    description: Option<String>,
    resources: Option<Vec<String>>,
    authentication_protocol: Option<String>,
    redirect_uris: Option<Vec<String>>,
    token_expiration: Option<TokenExpiration>,
    // Kept as given:
    client_group_id: Option<String>,
    default_custom_claims: Option<Vec<String>>,
    default_user_info_claims: Option<Vec<String>>,
    sync_id_token_claims_to_userinfo: Option<bool>,
    short_cookies_samesite_type: Option<String>,
    client_type: Option<String>,
    is_third_party: Option<bool>,
    allowed_scopes: Option<Vec<String>>,
    consent_uri: Option<String>,
    consent_validity_period: Option<Whole>,
    supported_prompts: Option<Vec<String>>,
    session_expiration: Option<Whole>,
    role_ids: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    authentication_configuration: Option<AuthenticationConfiguration>,
    // Refused unless switched off:
    device_authorization: Option<DeviceAuthorization>,
    ciba_authorization: Option<CibaAuthorization>,
    pkce: Option<String>,
    enforce_par: Option<bool>,
    fapi_version_compliancy: Option<bool>,
    id_token_encryption: Option<IdTokenEncryption>,
}

/// A checked [`ClientInput`]: `None` is "not given".
#[derive(Debug, Default)]
pub struct ClientSpec {
    pub name: Option<String>,
    pub description: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub resources: Option<Vec<String>>,
    /// `Some` when `token_expiration` was given: its `access_token_ttl`.
    pub access_token_ttl: Option<Option<i32>>,
    /// The kept settings that were given, by the vendor's names.
    pub settings: Map<String, Value>,
}

impl ClientInput {
    /// Checks a create body; `max_ttl` is the server's token lifetime.
    pub fn validate_new(self, max_ttl: u64) -> Result<ClientSpec, ApiError> {
        if self.name.is_none() {
            return Err(ApiError::bad_request("name is required"));
        }
        if self.redirect_uris.is_none() {
            return Err(ApiError::bad_request(
                "redirect_uris is required (an empty list is allowed)",
            ));
        }
        self.validate(max_ttl)
    }

    /// Checks an update body (every field optional).
    pub fn validate_change(self, max_ttl: u64) -> Result<ClientSpec, ApiError> {
        if self.authentication_protocol.is_some() {
            return Err(ApiError::bad_request(
                "authentication_protocol cannot be changed",
            ));
        }
        self.validate(max_ttl)
    }

    fn validate(self, max_ttl: u64) -> Result<ClientSpec, ApiError> {
        if let Some(name) = &self.name {
            text("name", name, 100)?;
        }
        if let Some(d) = &self.description {
            optional_text("description", d, 1000)?;
        }
        if let Some(uris) = &self.redirect_uris {
            redirect_uris(uris)?;
        }
        if let Some(resources) = &self.resources {
            limited("resources", resources)?;
            if let Some(bad) = resources.iter().find(|r| !valid_resource(r)) {
                return Err(ApiError::bad_request(format!(
                    "resources must be http(s) or urn: URIs without a fragment, at most 512 \
                     characters (what a token request's resource may name); {bad:?} is not one"
                )));
            }
        }
        self.refused()?;
        self.kept_values()?;
        let access_token_ttl = match &self.token_expiration {
            Some(te) => Some(ttl(te.access_token_ttl, max_ttl)?),
            None => None,
        };
        let mut settings = Map::new();
        keep!(
            settings,
            self,
            client_group_id,
            default_custom_claims,
            default_user_info_claims,
            sync_id_token_claims_to_userinfo,
            short_cookies_samesite_type,
            client_type,
            is_third_party,
            allowed_scopes,
            consent_uri,
            consent_validity_period,
            supported_prompts,
            session_expiration,
            role_ids,
            response_types,
            token_endpoint_auth_method,
            authentication_configuration,
            device_authorization,
            ciba_authorization,
            enforce_par,
            fapi_version_compliancy,
            id_token_encryption,
            token_expiration,
        );
        no_nul(&settings)?;
        Ok(ClientSpec {
            name: self.name,
            description: self.description,
            redirect_uris: self.redirect_uris,
            resources: self.resources,
            access_token_ttl,
            settings,
        })
    }

    /// Settings idstore cannot honour are refused unless they say "off".
    fn refused(&self) -> Result<(), ApiError> {
        let refuse = |what: &str| {
            Err(ApiError::bad_request(format!(
                "{what} is not supported by idstore; leave it out"
            )))
        };
        if self
            .authentication_protocol
            .as_deref()
            .is_some_and(|p| p != "oidc")
        {
            return refuse("authentication_protocol other than oidc (SAML)");
        }
        if self.pkce.is_some() {
            return refuse("pkce");
        }
        if self.enforce_par == Some(true) {
            return refuse("enforce_par=true");
        }
        if self.fapi_version_compliancy == Some(true) {
            return refuse("fapi_version_compliancy=true");
        }
        if self
            .device_authorization
            .as_ref()
            .is_some_and(|f| f.enabled)
        {
            return refuse("device_authorization.enabled=true");
        }
        if self.ciba_authorization.as_ref().is_some_and(|f| f.enabled) {
            return refuse("ciba_authorization.enabled=true");
        }
        if self.id_token_encryption.as_ref().is_some_and(|e| e.enabled) {
            return refuse("id_token_encryption.enabled=true");
        }
        if self
            .token_endpoint_auth_method
            .as_deref()
            .is_some_and(|m| m != "client_secret_basic")
        {
            return refuse("token_endpoint_auth_method other than client_secret_basic");
        }
        if let Some(c) = &self.authentication_configuration
            && (c.method != "client_secret_basic"
                || c.tls_client_auth.is_some()
                || c.jwks.is_some()
                || c.is_mtls_cert_token_bound == Some(true))
        {
            return refuse("authentication_configuration other than client_secret_basic");
        }
        Ok(())
    }

    /// The kept settings' values are the vendor's.
    fn kept_values(&self) -> Result<(), ApiError> {
        for (field, list) in [
            ("default_custom_claims", &self.default_custom_claims),
            ("default_user_info_claims", &self.default_user_info_claims),
        ] {
            for claim in list.iter().flatten() {
                one_of(field, claim, CLAIMS)?;
            }
        }
        if self.sync_id_token_claims_to_userinfo == Some(true)
            && self.default_user_info_claims.is_some()
        {
            return Err(ApiError::bad_request(
                "default_user_info_claims and sync_id_token_claims_to_userinfo=true exclude each other",
            ));
        }
        if let Some(s) = &self.short_cookies_samesite_type {
            one_of("short_cookies_samesite_type", s, &["lax", "none"])?;
        }
        if let Some(t) = &self.client_type {
            one_of("client_type", t, &["web", "native"])?;
        }
        for p in self.supported_prompts.iter().flatten() {
            one_of("supported_prompts", p, &["login", "consent", "none"])?;
        }
        for r in self.response_types.iter().flatten() {
            one_of("response_types", r, &["code", "id_token"])?;
        }
        let device = self.device_authorization.as_ref();
        let ciba = self.ciba_authorization.as_ref();
        for (field, value) in [
            ("client_group_id", self.client_group_id.as_ref()),
            ("consent_uri", self.consent_uri.as_ref()),
            (
                "device_authorization.approval_uri",
                device.and_then(|d| d.approval_uri.as_ref()),
            ),
            (
                "device_authorization.success_uri",
                device.and_then(|d| d.success_uri.as_ref()),
            ),
            (
                "device_authorization.input_uri",
                device.and_then(|d| d.input_uri.as_ref()),
            ),
            (
                "ciba_authorization.login_uri",
                ciba.and_then(|c| c.login_uri.as_ref()),
            ),
        ] {
            if let Some(v) = value {
                optional_text(field, v, 2000)?;
            }
        }
        for (field, list) in [
            ("allowed_scopes", &self.allowed_scopes),
            ("role_ids", &self.role_ids),
        ] {
            let list = list.as_deref().unwrap_or_default();
            if list.len() > MAX_URIS {
                return Err(ApiError::bad_request(format!(
                    "{field} may list at most {MAX_URIS} entries"
                )));
            }
            for v in list {
                text(field, v, 200)?;
            }
        }
        Ok(())
    }
}

/// `access_token_ttl`: from 1 s to the server's lifetime, which is also
/// the cap (verification keys stay published for that long).
fn ttl(seconds: Option<f64>, max: u64) -> Result<Option<i32>, ApiError> {
    match seconds {
        None => Ok(None),
        Some(s) if s.fract() == 0.0 && s >= 1.0 && s <= max as f64 => Ok(Some(s as i32)),
        Some(_) => Err(ApiError::bad_request(format!(
            "token_expiration.access_token_ttl must be a whole number of seconds from 1 to {max} (the server's token_lifetime)"
        ))),
    }
}

pub(crate) fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field} must be one of {}",
            allowed.join(", ")
        )))
    }
}

fn limited(field: &str, uris: &[String]) -> Result<(), ApiError> {
    if uris.len() > MAX_URIS {
        return Err(ApiError::bad_request(format!(
            "{field} may list at most {MAX_URIS} URIs"
        )));
    }
    Ok(())
}

/// An absolute URI without a fragment (RFC 6749 §3.1.2), at most 2000
/// characters, parsed.
fn absolute(uri: &str) -> Option<url::Url> {
    url::Url::parse(uri).ok().filter(|u| {
        uri.len() <= 2000
            && u.fragment().is_none()
            && !uri.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

/// Where a login may send a user back (RFC 8252 §7, OAuth 2.0 Security
/// BCP): https anywhere, http only to this machine's loopback, or an app's
/// private-use scheme (a reverse domain name, so it has a dot). Anything
/// else (`javascript:`, `data:`, `file:`) could run or read in the user's
/// browser.
fn redirect_uris(uris: &[String]) -> Result<(), ApiError> {
    limited("redirect_uris", uris)?;
    for uri in uris {
        let acceptable = absolute(uri).is_some_and(|u| match u.scheme() {
            "https" => u.host().is_some(),
            "http" => matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")),
            scheme => scheme.contains('.'),
        });
        if !acceptable {
            return Err(ApiError::bad_request(format!(
                "redirect_uris must be https URIs, http URIs to localhost, or an app's own \
                 scheme such as com.example.app:/callback, without a fragment; {uri:?} is not one"
            )));
        }
    }
    Ok(())
}

/// Web addresses shown to users (logos, login pages): http(s) only.
pub(crate) fn web_uri(field: &str, uri: &str) -> Result<(), ApiError> {
    if absolute(uri).is_some_and(|u| matches!(u.scheme(), "https" | "http")) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field} must be an http(s) URI without a fragment; {uri:?} is not one"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(body: Value) -> Result<ClientSpec, String> {
        serde_json::from_value::<ClientInput>(body)
            .map_err(|e| e.to_string())?
            .validate_new(3600)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_vendor_body_is_split_into_honoured_fields_and_kept_settings() {
        let spec = input(serde_json::json!({
            "name": "web", "description": "", "redirect_uris": ["https://a.example/cb"],
            "resources": ["https://api.example"],
            "token_expiration": {"access_token_ttl": 5, "refresh_token_ttl": 60},
            "client_type": "native", "default_custom_claims": ["email", "roles"],
            "device_authorization": {"enabled": false, "input_uri": "https://a.example/d"},
            "enforce_par": false,
        }))
        .unwrap();
        assert_eq!(spec.access_token_ttl, Some(Some(5)));
        assert_eq!(spec.redirect_uris.unwrap(), ["https://a.example/cb"]);
        assert_eq!(spec.settings["client_type"], "native");
        assert_eq!(
            spec.settings["token_expiration"],
            serde_json::json!({"refresh_token_ttl": 60})
        );
        assert_eq!(
            spec.settings["device_authorization"]["input_uri"],
            "https://a.example/d"
        );
        assert!(!spec.settings.contains_key("name"));
    }

    #[test]
    fn settings_idstore_cannot_honour_are_refused_by_name() {
        for (body, says) in [
            (
                serde_json::json!({"authentication_protocol": "saml"}),
                "SAML",
            ),
            (
                serde_json::json!({"pkce": "enforcePkceAlongsideClientCredentials"}),
                "pkce",
            ),
            (serde_json::json!({"enforce_par": true}), "enforce_par"),
            (serde_json::json!({"fapi_version_compliancy": true}), "fapi"),
            (
                serde_json::json!({"device_authorization": {"enabled": true}}),
                "device_authorization",
            ),
            (
                serde_json::json!({"ciba_authorization": {"enabled": true}}),
                "ciba",
            ),
            (
                serde_json::json!({"id_token_encryption": {"enabled": true}}),
                "id_token_encryption",
            ),
            (
                serde_json::json!({"token_endpoint_auth_method": "private_key_jwt"}),
                "token_endpoint_auth_method",
            ),
            (
                serde_json::json!({"authentication_configuration": {"method": "tls_client_auth"}}),
                "authentication_configuration",
            ),
        ] {
            let mut body = body;
            body["name"] = "c".into();
            body["redirect_uris"] = serde_json::json!([]);
            let err = input(body.clone()).unwrap_err();
            assert!(
                err.contains(says) && err.contains("not supported"),
                "{body}: {err}"
            );
        }
    }

    #[test]
    fn lifetimes_uris_and_enums_are_checked() {
        for (body, says) in [
            (
                serde_json::json!({"token_expiration": {"access_token_ttl": 0}}),
                "access_token_ttl",
            ),
            (
                serde_json::json!({"token_expiration": {"access_token_ttl": 3601}}),
                "access_token_ttl",
            ),
            (
                serde_json::json!({"token_expiration": {"access_token_ttl": 1.5}}),
                "access_token_ttl",
            ),
            (
                serde_json::json!({"redirect_uris": ["/relative"]}),
                "redirect_uris",
            ),
            (
                serde_json::json!({"redirect_uris": ["https://a.example/#frag"]}),
                "redirect_uris",
            ),
            (serde_json::json!({"resources": ["not a uri"]}), "resources"),
            (
                serde_json::json!({"resources": ["api://orders"]}),
                "resources",
            ),
            (
                serde_json::json!({"redirect_uris": ["javascript:alert(1)"]}),
                "redirect_uris",
            ),
            (
                serde_json::json!({"redirect_uris": ["data:text/html,x"]}),
                "redirect_uris",
            ),
            (
                serde_json::json!({"redirect_uris": ["http://evil.example/cb"]}),
                "redirect_uris",
            ),
            (
                serde_json::json!({"session_expiration": 1.5}),
                "whole number",
            ),
            (serde_json::json!({"client_type": "desktop"}), "client_type"),
            (
                serde_json::json!({"default_custom_claims": ["shoe_size"]}),
                "default_custom_claims",
            ),
            (serde_json::json!({"colour": "red"}), "colour"),
        ] {
            let mut full = serde_json::json!({"name": "c", "redirect_uris": []});
            for (k, v) in body.as_object().unwrap() {
                full[k] = v.clone();
            }
            let err = input(full).unwrap_err();
            assert!(err.contains(says), "{body}: {err}");
        }
        assert!(
            input(serde_json::json!({"name": "c"}))
                .unwrap_err()
                .contains("redirect_uris")
        );
        assert!(
            input(serde_json::json!({"redirect_uris": []}))
                .unwrap_err()
                .contains("name")
        );
    }
}
