//! The HTTP skeleton: health, readiness, request ids, error shapes.

use std::time::{Duration, Instant};

use actix_web::http::Method;
use idstore_tests::app::test_config;
use idstore_tests::db::{empty_database, fresh_database};
use idstore_tests::proxy::{DbProxy, Mode};
use idstore_tests::{TestApp, TestResponse};
use serde_json::json;

fn assert_error_shape(res: &TestResponse, status: u16) {
    assert_eq!(res.status.as_u16(), status, "{}", res.text);
    assert!(
        res.header("content-type")
            .is_some_and(|v| v.starts_with("application/json")),
        "error is not JSON: {:?}",
        res.headers
    );
    let body = res.json();
    assert_eq!(body["error_code"], json!(status), "{body}");
    if status == 400 {
        assert!(
            body["message"].as_array().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    } else {
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
}

#[actix_web::test]
async fn healthz_answers_while_the_process_is_up() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), json!({"status": "ok"}));
}

#[actix_web::test]
async fn readyz_tells_an_anonymous_caller_only_that_it_is_ready_and_the_breached_list_size() {
    let app = TestApp::spawn().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.json(),
        json!({"status": "ready", "breached_passwords": {"entries": 0}})
    );
}

async fn wait_for_status(app: &TestApp, path: &str, status: u16, within: Duration) -> TestResponse {
    let deadline = Instant::now() + within;
    loop {
        let res = app.get(path).await;
        if res.status.as_u16() == status || Instant::now() > deadline {
            return res;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn readyz_is_503_while_the_database_is_unreachable_and_200_once_it_is_back() {
    let db = fresh_database().await;
    let proxy = DbProxy::start(&db.options).await;
    let app = TestApp::start(db.clone(), &test_config(&proxy.url_for(&db.options)))
        .await
        .unwrap();
    assert_eq!(app.get("/readyz").await.status, 200);

    proxy.set(Mode::Down);
    let down = wait_for_status(&app, "/readyz", 503, Duration::from_secs(10)).await;
    assert_eq!(down.status, 503, "{}", down.text);
    assert_eq!(down.json(), json!({"status": "not_ready"}));
    assert_eq!(
        app.get("/healthz").await.status,
        200,
        "liveness must not depend on the database"
    );

    proxy.set(Mode::Up);
    let back = wait_for_status(&app, "/readyz", 200, Duration::from_secs(15)).await;
    assert_eq!(back.status, 200, "{}", back.text);
}

#[actix_web::test]
async fn readyz_is_503_while_migrations_are_pending_and_tells_an_anonymous_caller_no_more() {
    let db = empty_database().await;
    let mut config = test_config(&db.url());
    config.migrate = false;
    let app = TestApp::start(db, &config).await.unwrap();
    let res = app.get("/readyz").await;
    assert_eq!(res.status, 503, "{}", res.text);
    assert_eq!(res.json(), json!({"status": "not_ready"}));
}

#[actix_web::test]
async fn an_unknown_route_is_a_404_in_the_spec_shape() {
    let app = TestApp::spawn().await;
    let res = app.get("/v1/nothing/here").await;
    assert_error_shape(&res, 404);
}

#[actix_web::test]
async fn a_wrong_method_is_a_405_in_the_spec_shape() {
    let app = TestApp::spawn().await;
    let res = app
        .send(app.request(Method::DELETE, "/healthz"), None)
        .await;
    assert_error_shape(&res, 405);
    let res = app.post_json("/readyz", &json!({})).await;
    assert_error_shape(&res, 405);
}

#[actix_web::test]
async fn a_sane_request_id_is_echoed() {
    let app = TestApp::spawn().await;
    let req = app
        .request(Method::GET, "/healthz")
        .insert_header(("x-request-id", "trace-42.a:b"));
    let res = app.send(req, None).await;
    assert_eq!(res.header("x-request-id"), Some("trace-42.a:b"));
}

#[actix_web::test]
async fn a_request_id_is_generated_when_missing_or_unsafe() {
    let app = TestApp::spawn().await;
    let first = app.get("/healthz").await;
    let second = app.get("/v1/unknown").await;
    let (a, b) = (
        first.header("x-request-id").unwrap(),
        second.header("x-request-id").unwrap(),
    );
    assert!(
        a.len() >= 16 && a != b,
        "ids {a:?} and {b:?} should be fresh and distinct"
    );
    assert!(
        second.status.is_client_error(),
        "error responses carry the id too"
    );

    let long = "x".repeat(200);
    for unsafe_id in ["has space", "quote\"d", "<script>", "a/b", long.as_str()] {
        let req = app
            .request(Method::GET, "/healthz")
            .insert_header(("x-request-id", unsafe_id));
        let res = app.send(req, None).await;
        let echoed = res.header("x-request-id").unwrap();
        assert_ne!(echoed, unsafe_id, "unsafe id was echoed");
        assert!(
            echoed.chars().all(|c| c.is_ascii_alphanumeric()),
            "{echoed:?}"
        );
    }
}

#[actix_web::test]
async fn stopping_the_application_closes_its_listener() {
    let app = TestApp::spawn().await;
    let address = app.address;
    app.stop().await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "still accepting after stop"
    );
}

#[actix_web::test]
async fn an_api_request_is_a_503_with_retry_after_while_the_database_is_unreachable() {
    let db = fresh_database().await;
    let proxy = DbProxy::start(&db.options).await;
    let app = TestApp::start(db.clone(), &test_config(&proxy.url_for(&db.options)))
        .await
        .unwrap();
    let admin = app.admin_token().await;
    let path = "/v1/users/count";
    let ok = app.with_token(Method::GET, path, &admin).await;
    assert_eq!(ok.status, 200, "{}", ok.text);

    proxy.set(Mode::Down);
    let down = app.with_token(Method::GET, path, &admin).await;
    assert_error_shape(&down, 503);
    assert_eq!(
        down.headers.get("retry-after").map(|v| v.to_str().unwrap()),
        Some("2"),
        "{:?}",
        down.headers
    );

    proxy.set(Mode::Up);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = app.with_token(Method::GET, path, &admin).await;
        if res.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {}", res.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn the_token_endpoint_is_a_503_temporarily_unavailable_while_the_database_is_unreachable() {
    let db = fresh_database().await;
    let proxy = DbProxy::start(&db.options).await;
    let config = test_config(&proxy.url_for(&db.options));
    let app = TestApp::start(db.clone(), &config).await.unwrap();
    app.admin_token().await;

    proxy.set(Mode::Down);
    app.authenticate(&app.admin)
        .await
        .assert_temporarily_unavailable();

    proxy.set(Mode::Up);
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.authenticate(&app.admin).await.status != 200 {
        assert!(Instant::now() < deadline, "no recovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn every_answer_is_uncacheable_unsniffable_json_with_a_charset() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let answers = [
        ("/healthz", app.get("/healthz").await),
        ("/v1/users unauthenticated", app.get("/v1/users").await),
        ("/v1/nothing", app.get("/v1/nothing").await),
        (
            "/v1/users/count",
            app.with_token(Method::GET, "/v1/users/count", &admin).await,
        ),
        ("/oidc/jwks", app.get("/oidc/jwks").await),
    ];
    for (what, res) in &answers {
        assert_eq!(
            res.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(
            res.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{what}"
        );
        let cache = if *what == "/oidc/jwks" {
            "public, max-age=60"
        } else {
            "no-store"
        };
        assert_eq!(res.header("cache-control"), Some(cache), "{what}");
    }
}
