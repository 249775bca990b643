//! A signed-in user's device keys: `getDeviceKeysForTenant` (the Users
//! spec; one object, CONTRADICTIONS #7), and the extensions that register
//! and revoke a device's public key, so that there is something to read.
//! Public keys only: a JWK carrying a private part is refused.

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idstore_domain::id::new_id;
use idstore_store::audit::{Action, Event};
use idstore_store::device_keys::{self, DeviceKey, NewDeviceKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{OpenApi, ToSchema};

use crate::auth::Authorized;
use crate::input::{Body, date_time, json_has_nul, optional_text, path_id};
use crate::openapi::{BadRequestMessages, ErrorMessage};
use crate::passwords::Me;
use crate::routes::Routes;
use crate::wire::One;
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(
    paths(get_device_key, add_device_key, revoke_device_key),
    components(schemas(DeviceKeyInput))
)]
pub struct Doc;

pub fn routes(r: &mut Routes) {
    r.at("/v1/users/me/device-keys")
        .get(get_device_key)
        .post(add_device_key);
    r.at("/v1/users/me/device-keys/{key_id}")
        .delete(revoke_device_key);
}

/// A device's public key to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceKeyInput {
    /// A public JWK: `{"kty": "OKP", "crv": "Ed25519", "x"}` or
    /// `{"kty": "EC", "crv": "P-256", "x", "y"}`.
    #[schema(value_type = Object)]
    public_key: Value,
    display_name: Option<String>,
    #[schema(value_type = Object)]
    custom_data: Option<Map<String, Value>>,
}

/// `DeviceKeyResponseDto`: its times as ISO strings (CONTRADICTIONS #7).
#[derive(Serialize)]
struct DeviceKeyResponse {
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    custom_data: Map<String, Value>,
    key_id: String,
    created_at: String,
    updated_at: String,
}

impl From<DeviceKey> for DeviceKeyResponse {
    fn from(k: DeviceKey) -> Self {
        Self {
            status: k.status,
            display_name: k.display_name,
            custom_data: k.custom_data.0,
            key_id: k.key_id,
            created_at: date_time(k.created_at),
            updated_at: date_time(k.updated_at),
        }
    }
}

const MAX_CUSTOM_DATA_BYTES: usize = 4096;

/// Whether `jwk` is an Ed25519 or P-256 public key, and only that: its
/// coordinates decode to a point of the curve.
fn public_jwk(jwk: &Value) -> Result<Value, ApiError> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let coordinate = |name: &str| -> Option<[u8; 32]> {
        let bytes = URL_SAFE_NO_PAD.decode(field(name)?).ok()?;
        bytes.try_into().ok()
    };
    let bad = |why: &str| Err(ApiError::bad_request(format!("public_key: {why}")));
    if jwk.get("d").is_some() {
        return bad("this is a private key; send the public key only");
    }
    let off_curve = "its coordinates are not a point of the curve";
    match (field("kty"), field("crv"), coordinate("x"), coordinate("y")) {
        (Some("OKP"), Some("Ed25519"), Some(x), _) => {
            if ed25519_dalek::VerifyingKey::from_bytes(&x).is_err() {
                return bad(off_curve);
            }
            Ok(json!({"kty": "OKP", "crv": "Ed25519", "x": field("x")}))
        }
        (Some("EC"), Some("P-256"), Some(x), Some(y)) => {
            let sec1 = [&[0x04][..], &x, &y].concat();
            if p256::PublicKey::from_sec1_bytes(&sec1).is_err() {
                return bad(off_curve);
            }
            Ok(json!({"kty": "EC", "crv": "P-256", "x": field("x"), "y": field("y")}))
        }
        _ => bad(
            "must be an Ed25519 (kty OKP) or P-256 (kty EC) public JWK with base64url coordinates of 32 bytes",
        ),
    }
}

#[utoipa::path(
    get,
    path = "/v1/users/me/device-keys",
    operation_id = "getDeviceKeysForTenant",
    tag = "Users",
    extensions(("x-idstore-note" = json!([
        "CONTRADICTIONS #7: `result` is one object (the newest key), its times ISO 8601 strings; 404 when the user has registered none",
    ]))),
)]
async fn get_device_key(
    auth: Authorized<Me>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = auth.tenant_id();
    let user_id = &auth.principal.subject;
    let key = state
        .within(tenant_id, async |db| {
            device_keys::newest(db, tenant_id, user_id).await
        })
        .await?
        .ok_or_else(|| ApiError::NotFound("This user has no device key".into()))?;
    Ok(HttpResponse::Ok().json(One::of(DeviceKeyResponse::from(key))))
}

/// Registers a device's public key for the signed-in user.
#[utoipa::path(
    post,
    path = "/v1/users/me/device-keys",
    operation_id = "addDeviceKey",
    tag = "idstore extension",
    request_body = DeviceKeyInput,
    responses(
        (status = 201, description = "`{\"result\": DeviceKeyResponseDto}`", body = inline(One<Value>)),
        (status = 400, body = BadRequestMessages),
    ),
    security(("UserAccessToken" = [])),
)]
async fn add_device_key(
    auth: Authorized<Me>,
    state: web::Data<AppState>,
    body: Body<DeviceKeyInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    let jwk = public_jwk(&input.public_key)?;
    if let Some(name) = &input.display_name {
        optional_text("display_name", name, 100)?;
    }
    let custom_data = input.custom_data.unwrap_or_default();
    let size = serde_json::to_vec(&custom_data).map_or(0, |v| v.len());
    if size > MAX_CUSTOM_DATA_BYTES || json_has_nul(&Value::Object(custom_data.clone())) {
        return Err(ApiError::bad_request(format!(
            "custom_data must be at most {MAX_CUSTOM_DATA_BYTES} bytes of JSON without NUL"
        )));
    }
    let tenant_id = auth.tenant_id();
    let user_id = &auth.principal.subject;
    let key_id = new_id();
    let actor = auth.actor();
    let event = Event::new(tenant_id, &actor, Action::UserDeviceKeyAdd, user_id)
        .refs(json!({ "key_id": key_id }));
    let key = NewDeviceKey {
        key_id: &key_id,
        public_jwk: &jwk,
        display_name: input.display_name.as_deref(),
        custom_data: &custom_data,
    };
    let added = state
        .within(tenant_id, async |db| {
            device_keys::add(db, tenant_id, user_id, key, &event).await
        })
        .await?;
    Ok(HttpResponse::Created().json(One::of(DeviceKeyResponse::from(added))))
}

/// Revokes (removes) one of the signed-in user's device keys.
#[utoipa::path(
    delete,
    path = "/v1/users/me/device-keys/{key_id}",
    operation_id = "revokeDeviceKey",
    tag = "idstore extension",
    params(("key_id" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "The user has no such key", body = ErrorMessage),
    ),
    security(("UserAccessToken" = [])),
)]
async fn revoke_device_key(
    auth: Authorized<Me>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("key_id", &path)?;
    let tenant_id = auth.tenant_id();
    let user_id = &auth.principal.subject;
    let actor = auth.actor();
    let event = Event::new(tenant_id, &actor, Action::UserDeviceKeyRevoke, user_id)
        .refs(json!({ "key_id": *path }));
    let revoked = state
        .within(tenant_id, async |db| {
            device_keys::revoke(db, tenant_id, user_id, &path, &event).await
        })
        .await?;
    if !revoked {
        return Err(ApiError::NotFound(
            "This user has no such device key".into(),
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037's Ed25519 key and RFC 7517's P-256 key.
    const ED25519_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const P256_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const P256_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    #[test]
    fn public_keys_on_their_curve_are_kept_and_others_refused() {
        let ed = json!({"kty": "OKP", "crv": "Ed25519", "x": ED25519_X, "use": "sig"});
        assert_eq!(
            public_jwk(&ed).unwrap(),
            json!({"kty": "OKP", "crv": "Ed25519", "x": ED25519_X})
        );
        let ec = json!({"kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y});
        assert_eq!(public_jwk(&ec).unwrap(), ec);

        // y = 2 has no x on edwards25519; the last bit of y flipped takes
        // the P-256 point off its curve.
        let off = [
            json!({"kty": "OKP", "crv": "Ed25519", "x": "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
            json!({"kty": "EC", "crv": "P-256", "x": P256_X,
                   "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5aw"}),
        ];
        for jwk in off {
            let e = format!("{:?}", public_jwk(&jwk).unwrap_err());
            assert!(e.contains("not a point of the curve"), "{jwk}: {e}");
        }
        for jwk in [
            json!({"kty": "OKP", "crv": "Ed25519", "x": "c2hvcnQ"}),
            json!({"kty": "EC", "crv": "P-256", "x": P256_X}),
            json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
        ] {
            assert!(public_jwk(&jwk).is_err(), "{jwk}");
        }
    }
}
