//! The HTTP face of idstore: routes per resource, extractors, wire DTOs
//! spelled exactly as the specs spell them, and the mapping of every error to
//! the specs' error shapes. Handlers hold no SQL.

pub mod error;
pub mod health;
pub mod middleware;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, web};

pub use error::ApiError;

/// What every handler may reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: idstore_store::PgPool,
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct ApiSettings {
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self { body_limit: 256 * 1024 }
    }
}

/// The whole application: routes, extractor settings and middleware. The
/// server and the tests build it through this one function.
pub fn app(
    state: AppState,
    settings: ApiSettings,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .configure(|cfg| extractor_settings(cfg, settings))
        .configure(health::routes)
        .default_service(web::to(unknown_route))
        .wrap(from_fn(middleware::json_errors))
        .wrap(from_fn(middleware::request_id))
}

/// Extractor failures answer in the spec's 400 shape instead of actix's text.
pub fn extractor_settings(cfg: &mut web::ServiceConfig, settings: ApiSettings) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(settings.body_limit)
            .error_handler(|e, _| ApiError::from(e).into()),
    )
    .app_data(
        web::FormConfig::default()
            .limit(settings.body_limit)
            .error_handler(|e, _| ApiError::from(e).into()),
    )
    .app_data(web::PayloadConfig::default().limit(settings.body_limit))
    .app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::from(e).into()))
    .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::from(e).into()));
}

async fn unknown_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("Cannot {} {}", req.method(), req.path())))
}
