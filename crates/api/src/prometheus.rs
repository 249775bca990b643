//! `/metrics` in the Prometheus text format: requests and their latency by
//! route template and status, the database pools, the hash queue, token
//! issuance and failed client authentications.
//!
//! The recorder is process-wide (the `metrics` crate has one); gauges of
//! pools and queues are read when scraped, so they cost nothing between
//! scrapes. A second recorder may sit beside Prometheus's ([`install`]):
//! the OTLP exporter's, fed by the same calls.

use std::sync::OnceLock;

use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use utoipa::OpenApi;

use crate::AppState;
use crate::openapi::ErrorMessage;
use crate::routes::Routes;

/// Request latency buckets, in seconds: from a cached lookup to a timeout.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub const REQUESTS: &str = "idstore_http_requests_total";
pub const REQUEST_SECONDS: &str = "idstore_http_request_duration_seconds";
pub const TOKENS_ISSUED: &str = "idstore_tokens_issued_total";
pub const CLIENT_AUTH_FAILURES: &str = "idstore_client_auth_failures_total";
/// Failed password logins, by why (`credentials`, `locked`).
pub const LOGIN_FAILURES: &str = "idstore_login_failures_total";
/// Passwords checked against a user's stored hash at login (not the
/// dummy verifications that make failures cost the same): what a
/// lockout bounds.
pub const PASSWORD_CHECKS: &str = "idstore_password_checks_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use; `None` if another
/// recorder was installed first (then `/metrics` says so).
pub fn handle() -> Option<&'static PrometheusHandle> {
    install::<metrics::NoopRecorder>(None)
}

/// Installs the process's recorder, Prometheus's with `beside` (every
/// metric goes to both), unless one is installed already: call it before
/// the first metric is recorded.
pub fn install<R>(beside: Option<R>) -> Option<&'static PrometheusHandle>
where
    R: metrics::Recorder + Sync + 'static,
{
    HANDLE
        .get_or_init(|| {
            let prometheus = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_SECONDS.into()), LATENCY_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = prometheus.handle();
            let installed = match beside {
                None => metrics::set_global_recorder(prometheus).map_err(|e| e.to_string()),
                Some(other) => metrics::set_global_recorder(
                    metrics_util::layers::FanoutBuilder::default()
                        .add_recorder(prometheus)
                        .add_recorder(other)
                        .build(),
                )
                .map_err(|e| e.to_string()),
            };
            installed
                .inspect_err(|e| tracing::warn!(error = %e, "no metrics recorder"))
                .ok()?;
            Some(handle)
        })
        .as_ref()
}

#[derive(OpenApi)]
#[openapi(paths(scrape))]
pub struct Doc;

pub fn routes(r: &mut Routes) {
    r.at("/metrics")
        .public(actix_web::http::Method::GET, scrape);
}

/// Prometheus's text format; open without a token, like the probes (keep it
/// off the public listener).
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "idstore extension",
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4"),
        (status = 503, description = "No metrics recorder in this process", body = ErrorMessage),
    )
)]
async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let Some(handle) = handle() else {
        return HttpResponse::ServiceUnavailable().body("no metrics recorder in this process\n");
    };
    read_gauges(&state);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}

/// Folds the histograms' recent samples into their buckets, which a
/// scrape does too: without it, a process nobody scrapes (metrics pushed
/// over OTLP, or not read at all) would keep every sample. Call it every
/// few seconds.
pub fn upkeep() {
    if let Some(handle) = handle() {
        handle.run_upkeep();
    }
}

/// Sets the gauges of the database pools and the hash queue to their
/// present values: at each scrape, and periodically while metrics are
/// pushed over OTLP (nothing scrapes then).
pub fn read_gauges(state: &AppState) {
    for (pool, name) in [(&state.pool, "serving"), (&state.readiness, "readiness")] {
        let size = f64::from(pool.size());
        let idle = pool.num_idle() as f64;
        metrics::gauge!("idstore_db_pool_connections", "pool" => name, "state" => "idle").set(idle);
        metrics::gauge!("idstore_db_pool_connections", "pool" => name, "state" => "in_use")
            .set(size - idle);
        metrics::gauge!("idstore_db_pool_max_connections", "pool" => name)
            .set(f64::from(pool.options().get_max_connections()));
    }
    metrics::gauge!("idstore_hash_queue_depth").set(state.auth.hashes.depth() as f64);
}
