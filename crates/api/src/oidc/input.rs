//! The token request: its form, and the client's credentials.

use actix_web::HttpRequest;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;

use crate::error::OAuthError;

/// The parameters of a token request.
#[derive(Debug, Default)]
pub struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    resource: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    refresh_token: Option<String>,
}

/// What a token request asks for.
pub enum Grant<'a> {
    ClientCredentials,
    AuthorizationCode {
        code: &'a str,
        redirect_uri: &'a str,
    },
    RefreshToken(&'a str),
}

impl TokenRequest {
    /// Reads the form and checks the grant type and its parameters.
    pub fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, OAuthError> {
        let form = parse_form(req, body)?;
        let missing = |p: &str| OAuthError::InvalidRequest(format!("{p} is required"));
        match form.grant_type.as_deref() {
            None => Err(missing("grant_type")),
            Some("client_credentials") => Ok(form),
            Some("authorization_code") if form.code.is_none() => Err(missing("code")),
            Some("authorization_code") if form.redirect_uri.is_none() => {
                Err(missing("redirect_uri"))
            }
            Some("authorization_code") => Ok(form),
            Some("refresh_token") if form.refresh_token.is_none() => Err(missing("refresh_token")),
            Some("refresh_token") => Ok(form),
            Some(other) => Err(OAuthError::UnsupportedGrantType(format!(
                "grant_type {other:?} is not supported"
            ))),
        }
    }

    /// The grant [`TokenRequest::parse`] checked.
    pub fn grant(&self) -> Grant<'_> {
        match (
            self.grant_type.as_deref(),
            &self.code,
            &self.redirect_uri,
            &self.refresh_token,
        ) {
            (Some("authorization_code"), Some(code), Some(redirect_uri), _) => {
                Grant::AuthorizationCode { code, redirect_uri }
            }
            (Some("refresh_token"), _, _, Some(token)) => Grant::RefreshToken(token),
            _ => Grant::ClientCredentials,
        }
    }

    /// The token's audience: `resource` when given, else idstore itself.
    pub fn audience(&self, default: &str) -> Result<String, OAuthError> {
        match &self.resource {
            None => Ok(default.to_owned()),
            Some(r) if valid_resource(r) => Ok(r.clone()),
            Some(_) => Err(OAuthError::InvalidTarget(
                "resource must be an absolute URI".into(),
            )),
        }
    }
}

/// What a token request's `resource` may be (and so a client's
/// `resources`): an http(s) or `urn:` URI without a fragment.
pub(crate) fn valid_resource(r: &str) -> bool {
    r.len() <= 512
        && !r.contains('#')
        && (r.starts_with("https://") || r.starts_with("http://") || r.starts_with("urn:"))
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
        let repeated = match key.as_ref() {
            "grant_type" => parsed.grant_type.replace(value.into_owned()).is_some(),
            "client_id" => parsed.client_id.replace(value.into_owned()).is_some(),
            "client_secret" => parsed
                .client_secret
                .replace(SecretString::from(value.into_owned()))
                .is_some(),
            "resource" => parsed.resource.replace(value.into_owned()).is_some(),
            "code" => parsed.code.replace(value.into_owned()).is_some(),
            "redirect_uri" => parsed.redirect_uri.replace(value.into_owned()).is_some(),
            "refresh_token" => parsed.refresh_token.replace(value.into_owned()).is_some(),
            _ => continue, // RFC 6749 §3.2: unknown parameters are ignored
        };
        if repeated {
            return Err(OAuthError::InvalidRequest(format!(
                "parameter {key} repeated"
            )));
        }
    }
    Ok(parsed)
}

/// Client credentials from HTTP Basic (RFC 6749 §2.3.1: form-encoded
/// parts) or the body, never both.
pub fn client_credentials(
    req: &HttpRequest,
    form: &TokenRequest,
) -> Result<(String, SecretString), OAuthError> {
    let basic = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .map(|b64| -> Result<(String, SecretString), OAuthError> {
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
            Ok((unescape(id), SecretString::from(unescape(secret))))
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
