//! Liveness and readiness, for load balancers and orchestrators.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use idstore_store::SchemaState;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::routes::Routes;
use crate::{ApiError, AppState};

/// Readiness must answer quickly even when the database hangs.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(OpenApi)]
#[openapi(paths(healthz, readyz), components(schemas(Probe, BreachedDetail)))]
pub struct Doc;

/// What a probe answers: `ok`, `ready`, or (with a 503) `not_ready`.
#[derive(Serialize, ToSchema)]
pub struct Probe {
    #[schema(example = "ok")]
    status: &'static str,
    /// Readiness only: the imported breached-password list.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    breached_passwords: Option<BreachedDetail>,
}

/// The breached-password list this replica checks against.
#[derive(Serialize, ToSchema)]
pub struct BreachedDetail {
    /// Entries of the list `idstore breached import` loaded; 0 when none was.
    #[schema(example = 1000000)]
    entries: u64,
}

impl Probe {
    fn status(status: &'static str) -> Self {
        Self {
            status,
            breached_passwords: None,
        }
    }
}

pub fn routes(r: &mut Routes) {
    r.at("/healthz").public(Method::GET, healthz);
    r.at("/readyz").public(Method::GET, readyz);
}

/// The process is up and serving HTTP. Touches nothing else.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "getLiveness",
    tag = "idstore extension",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Probe))
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Probe::status("ok"))
}

/// The database answers, its schema is the one this binary expects, the
/// key-encryption key opens signing keys, and the process is not draining
/// before it stops.
/// Anyone may ask, so the answer is only ready or not: why not is in the
/// log line of the request (with its id), for the operator. A ready answer
/// also says how many entries the imported breached-password list has
/// (a count only: nothing of the list itself).
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "getReadiness",
    tag = "idstore extension",
    responses(
        (status = 200, description = "`{\"status\": \"ready\", \"breached_passwords\": {\"entries\": N}}`", body = Probe),
        (status = 503, description = "`{\"status\": \"not_ready\"}`", body = Probe),
    )
)]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(ApiError::NotReady(
            "draining: shutting down, the listener closes after drain_delay".to_owned(),
        ));
    }
    let checked = actix_web::rt::time::timeout(
        READINESS_TIMEOUT,
        idstore_store::schema_state(&state.readiness),
    )
    .await
    .ok();
    match checked {
        Some(Ok(SchemaState::Current(_))) if state.auth.kek_opens_none() => {
            Err(ApiError::NotReady(crate::auth::KEK_OPENS_NONE.to_owned()))
        }
        Some(Ok(SchemaState::Current(_))) => Ok(HttpResponse::Ok().json(Probe {
            status: "ready",
            breached_passwords: Some(BreachedDetail {
                entries: state.breached.entries(),
            }),
        })),
        Some(Ok(SchemaState::Behind { database, binary })) => Err(ApiError::NotReady(format!(
            "database schema is at version {}, this binary needs {binary}; run `idstore migrate`",
            database.map_or_else(|| "none".to_owned(), |v| v.to_string())
        ))),
        Some(Ok(SchemaState::Ahead { database, binary })) => Err(ApiError::NotReady(format!(
            "database schema is at version {database}, newer than this binary's {binary}; upgrade idstore"
        ))),
        Some(Err(e)) => Err(ApiError::NotReady(format!("database unreachable: {e}"))),
        None => Err(ApiError::NotReady(format!(
            "database did not answer within {} s",
            READINESS_TIMEOUT.as_secs()
        ))),
    }
}
