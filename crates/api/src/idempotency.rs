//! `Idempotency-Key` on the create operations: a client that lost an
//! answer retries with the same key and body and gets the first answer
//! back, and nothing is created twice. The same key with another body is
//! 422; a retry while the first request is still served is 409. Keys are
//! per tenant and caller, and expire (`idempotency_key_lifetime`).
//!
//! The first request is served on a task of its own, so that nothing
//! cancelling the request (a client hanging up, whatever the HTTP layer
//! does about it) can cut it between the create and the keeping of its
//! answer; only 2xx answers are kept (anything else created nothing, and
//! the key is freed for a retry).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};
use idstore_store::idempotency::{self, KeyUse, Reservation};
use sha2::{Digest, Sha256};

use crate::auth::bearer;
use crate::{ApiError, AppState};

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Marks an answer replayed from an earlier request with the same key.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The operations that take a key: every create.
const CREATES: &[&str] = &[
    "/v1/users",
    "/v1/applications",
    "/v1/applications/{app_id}/clients",
];

/// Longest key accepted.
const MAX_KEY: usize = 255;

pub async fn idempotency(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Every request passes here: the route is matched (an allocation)
    // only for a POST that carries a key.
    let key = match req.headers().get(&IDEMPOTENCY_KEY) {
        Some(v) if req.method() == Method::POST => v.to_str().map(str::to_owned),
        _ => return Ok(next.call(req).await?.map_into_boxed_body()),
    };
    let applies = req
        .match_pattern()
        .is_some_and(|p| CREATES.contains(&p.as_str()));
    if !applies {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let key = match key {
        Ok(k) if valid_key(&k) => k,
        _ => {
            return Ok(refuse(
                req,
                ApiError::bad_request(format!(
                    "Idempotency-Key must be 1 to {MAX_KEY} visible ASCII characters"
                )),
            ));
        }
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // An unusable token: the handler answers 401 as always, keeping nothing.
    let principal = match bearer(req.request()) {
        Some(token) => state.auth.verifier.verify(&token).await.ok(),
        None => None,
    };
    let Some(principal) = principal.filter(|p| !state.auth.revocations.refuses(p)) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // A replay never reaches the extractor that records it (`auth`).
    tracing::Span::current().record("tenant", principal.tenant_id.as_str());
    let (mut req, body) = {
        let mut req = req;
        let body = match req.extract::<web::Bytes>().await {
            Ok(body) => body,
            Err(e) => return Ok(req.error_response(e)),
        };
        (req, body)
    };
    req.set_payload(actix_web::dev::Payload::from(body.clone()));
    let fingerprint = fingerprint(req.method(), req.path(), &body);
    let owned = OwnedKey {
        tenant_id: principal.tenant_id.clone(),
        principal: principal.subject.clone(),
        key,
        fingerprint,
    };
    let reservation = idempotency::reserve(
        &state.pool,
        &owned.key_use(),
        state.idempotency_lifetime_secs,
    )
    .await;
    match reservation {
        Err(e) => Ok(refuse(req, e.into())),
        Ok(Reservation::Fresh) => serve_first(req, next, state, owned).await,
        Ok(Reservation::Replay { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let res = HttpResponse::build(status)
                .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
                .insert_header((REPLAYED, HeaderValue::from_static("true")))
                .body(body);
            Ok(req.into_response(res))
        }
        Ok(Reservation::Mismatch) => Ok(refuse(
            req,
            ApiError::Unprocessable(
                "This Idempotency-Key was first used with another request; use a new key for a new request"
                    .into(),
            ),
        )),
        Ok(Reservation::InFlight) => Ok(refuse(
            req,
            ApiError::Conflict(
                "A request with this Idempotency-Key is still being served; retry once it has been answered"
                    .into(),
            ),
        )),
    }
}

/// Runs the first request to its end even if its client hangs up, keeps a
/// 2xx answer and frees the key otherwise.
async fn serve_first(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    state: web::Data<AppState>,
    owned: OwnedKey,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The task runs in the request's span: its store calls and log lines
    // belong to the request (the extractor records the tenant on it).
    let task = actix_web::rt::spawn(tracing::Instrument::in_current_span(async move {
        let res = next.call(req).await?;
        let (req, res) = res.into_parts();
        let (res, body) = res.into_parts();
        let bytes = actix_web::body::to_bytes(body)
            .await
            .map_err(|e| ApiError::internal(Into::<Box<dyn std::error::Error>>::into(e)))?;
        let kept = if res.status().is_success() {
            idempotency::complete(&state.pool, &owned.key_use(), res.status().as_u16(), &bytes)
                .await
        } else {
            idempotency::release(&state.pool, &owned.key_use()).await
        };
        if let Err(e) = kept {
            // The answer itself stands; a retry will find the key in flight
            // until it is taken as abandoned.
            tracing::warn!(error = %e, "could not keep an idempotent answer");
        }
        Ok::<_, actix_web::Error>(ServiceResponse::new(
            req,
            res.set_body(bytes).map_into_boxed_body(),
        ))
    }));
    task.await
        .map_err(|e| actix_web::Error::from(ApiError::internal(e)))?
}

fn refuse(req: ServiceRequest, e: ApiError) -> ServiceResponse<BoxBody> {
    let res = e.error_response();
    req.into_response(res)
}

fn valid_key(k: &str) -> bool {
    (1..=MAX_KEY).contains(&k.len()) && k.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

fn fingerprint(method: &Method, path: &str, body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    h.finalize().to_vec()
}

struct OwnedKey {
    tenant_id: String,
    principal: String,
    key: String,
    fingerprint: Vec<u8>,
}

impl OwnedKey {
    fn key_use(&self) -> KeyUse<'_> {
        KeyUse {
            tenant_id: &self.tenant_id,
            principal: &self.principal,
            key: &self.key,
            fingerprint: &self.fingerprint,
        }
    }
}
