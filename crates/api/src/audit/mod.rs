//! The audit trail, read by an admin: `GET /v1/admin/audit-events`, an
//! extension of the vendor's API (hence under `/v1/admin`). Events are
//! written by the store functions that make each change; this only pages
//! through them, confined to the caller's tenant.

mod input;
mod wire;

use actix_web::{HttpResponse, web};
use idstore_auth::policy;
use idstore_store::audit;
use utoipa::OpenApi;

use self::input::PageParams;
use self::wire::{ApiAuditEvent, AuditPage};
use crate::auth::Authorized;
use crate::input::Params;
use crate::openapi::BadRequestMessages;
use crate::routes::Routes;
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(paths(list_events), components(schemas(AuditPage)))]
pub struct Doc;

policy!(
    /// Admin tokens only: the trail names every client and user that acted.
    AuditRead = "audit:read"
);

pub fn routes(r: &mut Routes) {
    r.at("/v1/admin/audit-events").get(list_events);
}

/// One page of events after `after`; `next_after` is what to pass for the
/// next one (the same value when nothing new was there yet).
#[utoipa::path(
    get,
    path = "/v1/admin/audit-events",
    operation_id = "getAuditEvents",
    tag = "idstore extension",
    params(PageParams),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, body = BadRequestMessages),
    ),
    security(("AdminAccessToken" = [])),
)]
async fn list_events(
    auth: Authorized<AuditRead>,
    state: web::Data<AppState>,
    params: Params<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let page = params.into_inner().validate()?;
    let events = audit::list(&state.pool, auth.tenant_id(), page.after, page.limit).await?;
    let next_after = events.last().map(|e| e.event_id).or(page.after);
    Ok(HttpResponse::Ok().json(AuditPage {
        result: events.iter().map(ApiAuditEvent::from).collect(),
        next_after,
    }))
}
