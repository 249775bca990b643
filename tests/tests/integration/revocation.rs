//! Tokens end with what issued them: a deleted client or application, or a
//! rotated secret, takes its earlier tokens along, on every replica.

use std::time::{Duration, Instant};

use actix_web::http::Method;
use idstore_tests::app::{ClientCredentials, TestApp, random_kek};
use idstore_tests::db::fresh_database;
use serde_json::{Value, json};

use crate::process::{Served, client_token, idstore};

const APPS: &str = "/v1/applications";

async fn users_status(app: &TestApp, token: &str) -> u16 {
    app.with_token(Method::GET, "/v1/users", token)
        .await
        .status
        .as_u16()
}

#[actix_web::test]
async fn deleting_a_client_refuses_its_earlier_tokens_at_once_and_spares_its_siblings() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (app_id, first) = app.create_app(&admin, "crm").await;
    let (second, _) = app
        .create_client(&admin, &app_id, &json!({"name": "b", "redirect_uris": []}))
        .await;
    let (t1, t2) = (app.token_for(&first).await, app.token_for(&second).await);
    assert_eq!(users_status(&app, &t1).await, 200);

    let res = app
        .with_token(
            Method::DELETE,
            &format!("{APPS}/{app_id}/clients/{}", first.client_id),
            &admin,
        )
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    assert_eq!(
        users_status(&app, &t1).await,
        401,
        "a deleted client's token"
    );
    assert_eq!(users_status(&app, &t2).await, 200, "its sibling's token");
    assert_eq!(users_status(&app, &admin).await, 200);
}

#[actix_web::test]
async fn a_deleted_applications_token_creating_a_user_is_401_not_500() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (app_id, client) = app.create_app(&admin, "gone").await;
    let token = app.token_for(&client).await;
    let res = app
        .with_token(Method::DELETE, &format!("{APPS}/{app_id}"), &admin)
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    let res = app
        .call(
            Method::POST,
            "/v1/users",
            Some(&token),
            Some(&json!({"email": "late@example.com"})),
        )
        .await;
    assert_eq!(res.status, 401, "{}", res.text);
    assert_eq!(res.json()["error_code"], 401);
    // Nothing was written.
    let res = app
        .with_token(Method::GET, "/v1/users/email/late@example.com", &admin)
        .await;
    assert_eq!(res.status, 404, "{}", res.text);
}

#[actix_web::test]
async fn rotating_a_secret_refuses_the_tokens_issued_before_it_and_not_after() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (app_id, client) = app.create_app(&admin, "rotating").await;
    let before = app.token_for(&client).await;
    // Token times are whole seconds; a rotation spares its own second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = app
        .with_token(
            Method::POST,
            &format!(
                "/v1/admin/applications/{app_id}/clients/{}/rotate-secret",
                client.client_id
            ),
            &admin,
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let after = app
        .token_for(&ClientCredentials {
            client_id: client.client_id.clone(),
            client_secret: rotated.json()["client_secret"].as_str().unwrap().to_owned(),
        })
        .await;
    assert_eq!(users_status(&app, &before).await, 401);
    assert_eq!(users_status(&app, &after).await, 200);
}

async fn send(method: Method, url: String, token: &str, body: Option<Value>) -> (u16, Value) {
    let req = awc::Client::default()
        .request(method, url)
        .insert_header(("authorization", format!("Bearer {token}")));
    let mut res = match body {
        Some(b) => req.send_json(&b).await.unwrap(),
        None => req.send().await.unwrap(),
    };
    let bytes = res.body().await.unwrap();
    (
        res.status().as_u16(),
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[actix_web::test]
async fn a_client_deleted_through_one_replica_is_refused_by_another_within_five_seconds() {
    let db = fresh_database().await;
    let kek = random_kek();
    let secret = idstore_tests::tokens::new_client_secret();
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut cmd = idstore(dir.path());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--workers", "1"])
            .args(["--database-url", &db.url()])
            .args(["--public-url", "https://id.example.test"])
            .env("IDSTORE_KEY_ENCRYPTION_KEY", &kek)
            .env("IDSTORE_BOOTSTRAP_CLIENT_ID", "replica-admin")
            .env("IDSTORE_BOOTSTRAP_CLIENT_SECRET", &secret);
        Served::start(cmd, Duration::from_secs(30))
    };
    let mut a = start().await;
    let mut b = start().await;
    let (base_a, base_b) = (a.url(""), b.url(""));
    let admin = client_token(&base_a, "replica-admin", &secret).await;

    let (status, created) = send(
        Method::POST,
        format!("{base_a}{APPS}"),
        &admin,
        Some(json!({"app_name": "replicated"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let app_id = created["result"]["app_id"].as_str().unwrap();
    let client_id = created["result"]["client_id"].as_str().unwrap();
    let client_secret = created["result"]["client_secret"].as_str().unwrap();
    let client_token = client_token(&base_b, client_id, client_secret).await;
    let users_on_b = || {
        send(
            Method::GET,
            format!("{base_b}/v1/users"),
            &client_token,
            None,
        )
    };
    assert_eq!(users_on_b().await.0, 200);

    let (status, body) = send(
        Method::DELETE,
        format!("{base_a}{APPS}/{app_id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let deleted = Instant::now();
    loop {
        let (status, _) = users_on_b().await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            deleted.elapsed() < Duration::from_secs(5),
            "replica B still accepts the deleted application's token after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.signal("TERM");
    b.signal("TERM");
    assert!(a.wait(Duration::from_secs(20)).await.success());
    assert!(b.wait(Duration::from_secs(20)).await.success());
}
