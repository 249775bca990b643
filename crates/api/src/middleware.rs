//! Middleware applied to every route.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use idstore_domain::id::{is_valid_id, new_id};
use tracing::Instrument;

use crate::error::{ApiError, for_status};
use crate::prometheus;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, as echoed in `x-request-id` and attached to its logs.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Takes the caller's `x-request-id` when it is a sane token (so ids can be
/// followed across services), otherwise makes one; runs the request inside a
/// span carrying it; logs the outcome, with the cause of any 5xx, and echoes
/// the id on the response.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_valid_id(v))
        .map_or_else(new_id, str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    // The route pattern, not the path: paths carry emails, phone numbers and
    // usernames, which do not belong in logs or traces. The tenant is
    // recorded once a token names it (`auth`), the status at the end.
    // The pattern comes from the app's resource map, before routing.
    let route = req.match_pattern().unwrap_or_else(|| "(no route)".into());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        route = %route,
        status = tracing::field::Empty,
        tenant = tracing::field::Empty,
        // For the OpenTelemetry export: the span's name ("GET /v1/users")
        // and kind, as trace views expect of a server span. A name must be
        // known when the span starts: the exporter keeps the first.
        otel.name = %format_args!("{} {route}", req.method()),
        otel.kind = "server",
    );
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;

    let status = res.status().as_u16();
    span.record("status", status);
    let elapsed = started.elapsed().as_secs_f64();
    let elapsed_ms = elapsed * 1000.0;
    let method = res.request().method().to_string();
    metrics::counter!(prometheus::REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!(prometheus::REQUEST_SECONDS, "route" => route, "method" => method)
        .record(elapsed);
    if res.status().is_server_error() {
        let cause = res
            .response()
            .error()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::error!(parent: &span, status, elapsed_ms, cause, "request failed");
    } else {
        tracing::info!(parent: &span, status, elapsed_ms, "request served");
    }
    // The id passed is_valid_id or was generated, so it is a valid header value.
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    harden(res.headers_mut());
    Ok(res)
}

/// Answers carry personal data and tokens: no cache may keep them (unless
/// a route chose otherwise, as the public key set does), no browser may
/// sniff them into something executable, and JSON says its charset.
fn harden(headers: &mut actix_web::http::header::HeaderMap) {
    use actix_web::http::header::{CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS};
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/json")
    {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
}

/// Replaces any error response that is not already JSON (actix's own 404,
/// 405, 413 pages, a bare status from a library) with the spec's error shape,
/// so that clients only ever parse one format.
pub async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return Ok(res.map_into_left_body());
    }
    let error = match res.response().error() {
        // Keep the cause so that the request log can report it.
        Some(cause) if status.is_server_error() => ApiError::internal(cause),
        _ => for_status(status),
    };
    let (req, _) = res.into_parts();
    Ok(ServiceResponse::new(req, error.error_response()).map_into_right_body())
}
