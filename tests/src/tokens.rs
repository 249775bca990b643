//! Tokens a test makes itself with a tenant's real signing key: the kinds
//! no endpoint issues yet (user, org admin), and forgeries.

use idstore_auth::keys::Kek;
use idstore_auth::principal::TokenKind;
use idstore_auth::{Claims, token};
use sqlx::PgConnection;

/// The tenant's current signing key, opened with the KEK.
pub async fn signing_key(conn: &mut PgConnection, kek: &Kek, tenant_id: &str) -> (String, Vec<u8>) {
    let key = idstore_store::signing_keys::active(conn, tenant_id)
        .await
        .unwrap();
    let private = kek
        .open(&key.kid, &key.private_key_sealed)
        .unwrap()
        .to_vec();
    (key.kid, private)
}

/// Claims like those of `template` (a real token's), as `kind`.
pub fn claims_like(template: &Claims, kind: TokenKind) -> Claims {
    Claims {
        kind,
        jti: idstore_domain::id::new_id(),
        ..template.clone()
    }
}

pub fn sign(claims: &Claims, kid: &str, private: &[u8]) -> String {
    token::sign(claims, kid, private).unwrap()
}

/// The claims of a token, unverified.
pub fn read_claims(token: &str) -> Claims {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A fresh client secret as plain text, for tests that pass it to a
/// process or a form.
pub fn new_client_secret() -> String {
    use secrecy::ExposeSecret;
    idstore_auth::secret::generate_client_secret()
        .unwrap()
        .expose_secret()
        .to_owned()
}
