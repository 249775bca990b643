//! The HTTP face of idstore: one module per resource (routes and
//! handlers in `mod.rs`, bodies in `input.rs`, answers in `wire.rs`),
//! extractors, and the mapping of every error to the specs' error shapes.
//! Handlers parse, authorize, call one store or auth function and render;
//! they hold no SQL (this crate does not depend on sqlx).

pub mod applications;
pub mod audit;
pub mod auth;
pub mod breached;
pub mod clients;
pub mod devices;
pub mod error;
pub mod groups;
pub mod health;
pub mod idempotency;
pub mod input;
pub mod invitations;
pub mod limits;
pub mod login;
pub mod members;
pub mod middleware;
pub mod oidc;
pub mod openapi;
pub mod organizations;
pub mod passwords;
pub mod prometheus;
pub mod revocation;
pub mod role_groups;
pub mod roles;
pub mod routes;
pub mod source;
pub mod users;
pub mod wire;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, web};

pub use error::ApiError;
pub use routes::RouteInfo;

/// What every handler may reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: idstore_store::PgPool,
    /// Readiness checks' own connection, so that a busy main pool does not
    /// take every replica out of its load balancer.
    pub readiness: idstore_store::PgPool,
    /// Set once shutdown began: `/readyz` then says not ready, so that load
    /// balancers stop sending requests before the listener closes.
    pub draining: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub auth: std::sync::Arc<auth::AuthContext>,
    /// The imported breached-password list, if any.
    pub breached: std::sync::Arc<breached::BreachedPasswords>,
    pub searches: limits::SearchLimit,
    /// The token endpoint's limits, checked before any work.
    pub token_rate: std::sync::Arc<limits::TokenRate>,
    /// Whose `X-Forwarded-For` names a request's source.
    pub proxies: std::sync::Arc<source::TrustedProxies>,
    /// How long an `Idempotency-Key` is remembered, in seconds.
    pub idempotency_lifetime_secs: i64,
    /// Largest user list answer, in bytes of JSON.
    pub list_body_limit: usize,
    /// Lifetimes of what a password login hands out.
    pub login: login::LoginSettings,
    /// Whether `send_invite` can mail, and the mail worker's wake-up.
    pub invitation_mail: invitations::InvitationMail,
}

impl AppState {
    /// Runs `work` in a transaction row-level security confines to
    /// `tenant_id`'s rows (`idstore_store::tenancy`), and commits it: the
    /// form of every statement a handler runs that does not confine itself.
    pub async fn within<T>(
        &self,
        tenant_id: &str,
        work: impl AsyncFnOnce(&mut idstore_store::PgConnection) -> Result<T, idstore_store::StoreError>,
    ) -> Result<T, idstore_store::StoreError> {
        idstore_store::tenancy::within(&self.pool, tenant_id, work).await
    }
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct ApiSettings {
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            body_limit: 256 * 1024,
        }
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
    // Installed before the first request, so that none goes uncounted.
    prometheus::handle();
    App::new()
        .app_data(web::Data::new(state))
        .configure(|cfg| extractor_settings(cfg, settings))
        .service(routes())
        .default_service(web::to(unknown_route))
        .wrap(from_fn(middleware::json_errors))
        .wrap(from_fn(idempotency::idempotency))
        .wrap(from_fn(middleware::request_id))
}

/// Every route of the API, in the order they match.
pub fn routes() -> routes::Routes {
    let mut r = routes::Routes::default();
    health::routes(&mut r);
    prometheus::routes(&mut r);
    oidc::routes(&mut r);
    applications::routes(&mut r);
    clients::routes(&mut r);
    roles::routes(&mut r);
    // Users first: its fixed paths (`/v1/users/username/{username}`...)
    // must win over groups' `/v1/users/{user_id}/groups`.
    // Before the Users routes: `/v1/users/me/...` is not a user id.
    passwords::routes(&mut r);
    login::routes(&mut r);
    devices::routes(&mut r);
    users::routes(&mut r);
    groups::routes(&mut r);
    organizations::routes(&mut r);
    members::routes(&mut r);
    role_groups::routes(&mut r);
    invitations::routes(&mut r);
    audit::routes(&mut r);
    openapi::routes(&mut r);
    r
}

/// Every route with the policy its handler demands: what the permission
/// matrix is built from.
pub fn route_table() -> Vec<RouteInfo> {
    routes().table()
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
    Err(ApiError::NotFound(format!(
        "Cannot {} {}",
        req.method(),
        req.path()
    )))
}

#[cfg(test)]
mod tests {
    //! The error contract every route inherits from [`app`]: a probe route
    //! that takes JSON stands in for the resource routes of later modules.

    use actix_web::http::StatusCode;
    use actix_web::test::{TestRequest, call_service, init_service, read_body};
    use serde_json::{Value, json};

    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        name: String,
        count: u32,
    }

    async fn probe(_: web::Json<Probe>) -> HttpResponse {
        HttpResponse::Ok().json(json!({"ok": true}))
    }

    async fn failing() -> Result<HttpResponse, ApiError> {
        Err(ApiError::internal(
            "connection to 10.0.0.7 refused, password=hunter2",
        ))
    }

    async fn failing_plain() -> Result<HttpResponse, actix_web::Error> {
        Err(actix_web::error::ErrorInternalServerError("raw actix text"))
    }

    async fn call(req: TestRequest) -> (StatusCode, Option<String>, Value) {
        let pool =
            idstore_store::PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
        let settings = idstore_auth::TokenSettings {
            issuer: "http://idstore.test".into(),
            audience: "http://idstore.test".into(),
            lifetime: std::time::Duration::from_secs(3600),
            leeway: 30,
        };
        let kek = idstore_auth::keys::Kek::generate().unwrap();
        let hashes = idstore_auth::secret::HashPool::sized(0, 8);
        let auth = auth::AuthContext::new(
            pool.clone(),
            settings,
            kek,
            auth::Throttle::default(),
            hashes,
        );
        let app = init_service(
            app(
                AppState {
                    readiness: pool.clone(),
                    draining: Default::default(),
                    pool,
                    auth,
                    breached: Default::default(),
                    searches: limits::SearchLimit::new(4),
                    token_rate: std::sync::Arc::new(limits::TokenRate::new(100, 100)),
                    proxies: Default::default(),
                    idempotency_lifetime_secs: 60,
                    list_body_limit: 1 << 20,
                    login: Default::default(),
                    invitation_mail: Default::default(),
                },
                ApiSettings { body_limit: 1024 },
            )
            .route("/probe", web::post().to(probe))
            .route("/fail", web::get().to(failing))
            .route("/fail-plain", web::get().to(failing_plain)),
        )
        .await;
        let res = call_service(&app, req.to_request()).await;
        let status = res.status();
        let id = res
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = read_body(res).await;
        let json = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
        (status, id, json)
    }

    fn post(body: &'static str, content_type: &'static str) -> TestRequest {
        TestRequest::post()
            .uri("/probe")
            .insert_header(("content-type", content_type))
            .set_payload(body)
    }

    fn assert_bad_request(body: &Value, mentions: &str) {
        assert_eq!(body["error_code"], 400, "{body}");
        let messages = body["message"].as_array().expect("message is an array");
        assert!(
            messages
                .iter()
                .any(|m| m.as_str().unwrap().contains(mentions)),
            "{body}"
        );
    }

    #[actix_web::test]
    async fn well_formed_json_reaches_the_handler() {
        let (status, _, body) = call(post(r#"{"name":"a","count":1}"#, "application/json")).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"ok": true})));
    }

    #[actix_web::test]
    async fn malformed_json_is_a_400_in_the_spec_shape() {
        let (status, _, body) = call(post(r#"{"name": "a", "count": "#, "application/json")).await;
        assert_eq!(status, 400);
        assert_bad_request(&body, "Malformed JSON");
    }

    #[actix_web::test]
    async fn wrong_types_and_unknown_fields_are_400s_naming_the_problem() {
        let (status, _, body) = call(post(r#"{"name":"a","count":"x"}"#, "application/json")).await;
        assert_eq!(status, 400);
        assert_bad_request(&body, "invalid type");
        let (status, _, body) = call(post(
            r#"{"name":"a","count":1,"admin":true}"#,
            "application/json",
        ))
        .await;
        assert_eq!(status, 400);
        assert_bad_request(&body, "unknown field `admin`");
    }

    #[actix_web::test]
    async fn a_wrong_content_type_is_a_400_in_the_spec_shape() {
        let (status, _, body) = call(post(r#"{"name":"a","count":1}"#, "text/plain")).await;
        assert_eq!(status, 400);
        assert_bad_request(&body, "Content-Type must be application/json");
    }

    #[actix_web::test]
    async fn a_body_over_the_cap_is_a_413_with_the_limit() {
        let big: &'static str =
            Box::leak(format!(r#"{{"name":"{}","count":1}}"#, "x".repeat(2000)).into_boxed_str());
        let (status, _, body) = call(post(big, "application/json")).await;
        assert_eq!(status, 413);
        assert_eq!(body["error_code"], 413);
        assert!(
            body["message"].as_str().unwrap().contains("1024 bytes"),
            "{body}"
        );
    }

    #[actix_web::test]
    async fn a_500_shows_no_internal_text_and_carries_the_request_id() {
        for path in ["/fail", "/fail-plain"] {
            let (status, id, body) = call(TestRequest::get().uri(path)).await;
            assert_eq!(status, 500);
            assert_eq!(body["error_code"], 500);
            let text = body.to_string();
            assert!(
                !text.contains("hunter2")
                    && !text.contains("10.0.0.7")
                    && !text.contains("raw actix"),
                "{text}"
            );
            assert!(id.is_some_and(|id| text.contains("x-request-id") && !id.is_empty()));
        }
    }
}
