//! `Idempotency-Key` on creates: a retry gets the first answer and
//! creates nothing; another body is 422; a retry during the first is 409;
//! keys are per tenant and caller, and expire.

use std::time::Duration;

use actix_web::http::Method;
use idstore_tests::app::{TestApp, TestResponse};
use idstore_tests::spec::idstore_spec;
use serde_json::{Value, json};
use sqlx::Connection;

async fn post(
    app: &TestApp,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> TestResponse {
    let mut req = app
        .request(Method::POST, path)
        .insert_header(("authorization", format!("Bearer {token}")))
        .content_type("application/json");
    if let Some(key) = key {
        req = req.insert_header(("idempotency-key", key));
    }
    app.send(req, Some(body.to_string().into_bytes())).await
}

async fn users_with_email(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE email_normalized = $1")
        .bind(email)
        .fetch_one(&mut app.db.connect().await)
        .await
        .unwrap()
}

/// An app whose writes wait up to 10 s for a lock, so a test can hold one.
async fn patient() -> TestApp {
    TestApp::spawn_with(|c| c.lock_timeout_ms = 10_000).await
}

/// Holds the tenant's row so that creating a user (whose foreign key
/// shares it) waits until the returned transaction ends.
async fn hold_tenant(app: &TestApp, token: &str) -> sqlx::PgConnection {
    let tenant = idstore_tests::tokens::read_claims(token).tid;
    let mut conn = app.db.connect().await;
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query("SELECT 1 FROM tenants WHERE tenant_id = $1 FOR UPDATE")
        .bind(tenant)
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

#[actix_web::test]
async fn a_retry_with_the_same_key_gets_the_first_answer_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = json!({"email": "once@example.com"});
    let first = post(&app, "/v1/users", &admin, Some("create-once-1"), &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert!(first.header("idempotent-replayed").is_none());
    let again = post(&app, "/v1/users", &admin, Some("create-once-1"), &body).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.json(), first.json(), "the very same answer");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    idstore_spec().assert_http_response("createUser", &again);
    assert_eq!(users_with_email(&app, "once@example.com").await, 1);

    // The same key with another body is another request: 422.
    let other = post(
        &app,
        "/v1/users",
        &admin,
        Some("create-once-1"),
        &json!({"email": "twice@example.com"}),
    )
    .await;
    assert_eq!(other.status, 422, "{}", other.text);
    assert_eq!(other.json()["error_code"], 422);
    assert_eq!(users_with_email(&app, "twice@example.com").await, 0);

    // Without a key, a repeat is a new request (here a 409 on the email).
    let plain = post(&app, "/v1/users", &admin, None, &body).await;
    assert_eq!(plain.status, 409, "{}", plain.text);
}

#[actix_web::test]
async fn applications_and_clients_are_created_once_per_key_too() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = json!({"app_name": "once"});
    let first = post(&app, "/v1/applications", &admin, Some("app-1"), &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = post(&app, "/v1/applications", &admin, Some("app-1"), &body).await;
    assert_eq!(again.json(), first.json());
    let apps = app
        .with_token(Method::GET, "/v1/applications", &admin)
        .await;
    assert_eq!(
        apps.json()["result"].as_array().unwrap().len(),
        2,
        "management + once"
    );

    let app_id = first.json()["result"]["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let clients = format!("/v1/applications/{app_id}/clients");
    let body = json!({"name": "c", "redirect_uris": []});
    let c1 = post(&app, &clients, &admin, Some("client-1"), &body).await;
    let c2 = post(&app, &clients, &admin, Some("client-1"), &body).await;
    assert_eq!((c1.status.as_u16(), c2.json()), (201, c1.json()));
    let listed = app.with_token(Method::GET, &clients, &admin).await;
    assert_eq!(listed.json().as_array().unwrap().len(), 2, "default + c");
}

#[actix_web::test]
async fn a_retry_while_the_first_is_served_is_409_and_then_replays() {
    let app = patient().await;
    let admin = app.admin_token().await;
    let body = json!({"email": "slow@example.com"});
    let lock = hold_tenant(&app, &admin).await;
    let first = post(&app, "/v1/users", &admin, Some("slow-1"), &body);
    let retry = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let res = post(&app, "/v1/users", &admin, Some("slow-1"), &body).await;
        lock.close().await.unwrap();
        res
    };
    let (first, retry) = tokio::join!(first, retry);
    assert_eq!(retry.status, 409, "{}", retry.text);
    assert_eq!(retry.json()["error_code"], 409);
    assert_eq!(first.status, 201, "{}", first.text);
    let later = post(&app, "/v1/users", &admin, Some("slow-1"), &body).await;
    assert_eq!(later.json(), first.json());
    assert_eq!(users_with_email(&app, "slow@example.com").await, 1);
}

#[actix_web::test]
async fn a_client_that_hangs_up_can_retry_and_gets_the_answer_it_missed() {
    let app = patient().await;
    let admin = app.admin_token().await;
    let body = json!({"email": "dropped@example.com"});
    let lock = hold_tenant(&app, &admin).await;
    let impatient = awc::Client::builder()
        .timeout(Duration::from_millis(300))
        .finish();
    let gave_up = impatient
        .post(app.url("/v1/users"))
        .insert_header(("authorization", format!("Bearer {admin}")))
        .insert_header(("idempotency-key", "dropped-1"))
        .content_type("application/json")
        .send_body(body.to_string())
        .await;
    assert!(gave_up.is_err(), "the client was meant to time out");
    lock.close().await.unwrap();
    // The request went on without its client and recorded its answer.
    let mut replay = None;
    for _ in 0..50 {
        let res = post(&app, "/v1/users", &admin, Some("dropped-1"), &body).await;
        if res.status != 409 {
            replay = Some(res);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let replay = replay.expect("the first request never finished");
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(users_with_email(&app, "dropped@example.com").await, 1);
}

#[actix_web::test]
async fn keys_belong_to_their_caller_and_expire() {
    let app = TestApp::spawn_with(|c| c.idempotency_key_lifetime = 1).await;
    let admin = app.admin_token().await;
    let (_, client) = app.create_app(&admin, "other-caller").await;
    let other = app.token_for(&client).await;
    let a = post(
        &app,
        "/v1/users",
        &admin,
        Some("shared-key"),
        &json!({"email": "a@example.com"}),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    // Another caller's identical key is its own.
    let b = post(
        &app,
        "/v1/users",
        &other,
        Some("shared-key"),
        &json!({"email": "b@example.com"}),
    )
    .await;
    assert_eq!(b.status, 201, "{}", b.text);
    assert_ne!(a.json()["result"]["user_id"], b.json()["result"]["user_id"]);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = post(
        &app,
        "/v1/users",
        &admin,
        Some("shared-key"),
        &json!({"email": "c@example.com"}),
    )
    .await;
    assert_eq!(
        after.status, 201,
        "an expired key starts afresh: {}",
        after.text
    );
    assert!(after.header("idempotent-replayed").is_none());
}

#[actix_web::test]
async fn a_failed_first_request_frees_its_key_and_a_bad_key_is_400() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let bad = json!({"email": "not an email"});
    let first = post(&app, "/v1/users", &admin, Some("fails-1"), &bad).await;
    assert_eq!(first.status, 400, "{}", first.text);
    // Nothing was kept: the same key may carry the corrected request.
    let fixed = post(
        &app,
        "/v1/users",
        &admin,
        Some("fails-1"),
        &json!({"email": "fixed@example.com"}),
    )
    .await;
    assert_eq!(fixed.status, 201, "{}", fixed.text);

    for key in ["", "has space", &"k".repeat(256)] {
        let res = post(
            &app,
            "/v1/users",
            &admin,
            Some(key),
            &json!({"email": "k@example.com"}),
        )
        .await;
        assert_eq!(res.status, 400, "{key:?}: {}", res.text);
        assert!(res.text.contains("Idempotency-Key"), "{}", res.text);
    }
    assert_eq!(users_with_email(&app, "k@example.com").await, 0);
    // Without a valid token the key changes nothing: 401 as always.
    let res = post(
        &app,
        "/v1/users",
        "not-a-token",
        Some("k-401"),
        &json!({"email": "k@example.com"}),
    )
    .await;
    assert_eq!(res.status, 401, "{}", res.text);
}
