//! `idstore seed`, run as the real binary against a fresh database, then
//! read back through the real API.

use actix_web::http::Method;
use idstore_server::Config;
use idstore_tests::TestApp;
use idstore_tests::app::test_config;
use idstore_tests::db::{self, TestDb};
use idstore_tests::spec::idstore_spec;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::process::idstore;

/// Runs `idstore seed --users N --output json` with `config`'s database,
/// key-encryption key and admin client; its JSON result.
async fn seed(config: &Config, users: u64) -> Value {
    let cwd = tempfile::tempdir().unwrap();
    let secret = |s: &Option<secrecy::SecretString>| s.as_ref().unwrap().expose_secret().to_owned();
    let out = idstore(cwd.path())
        .args(["seed", "--users", &users.to_string(), "--output", "json"])
        .args(["--log-level", "warn"])
        .env(
            "DATABASE_URL",
            config.database_url.as_ref().unwrap().expose_secret(),
        )
        .env(
            "IDSTORE_KEY_ENCRYPTION_KEY",
            secret(&config.key_encryption_key),
        )
        .env(
            "IDSTORE_BOOTSTRAP_CLIENT_ID",
            config.bootstrap_client_id.as_ref().unwrap(),
        )
        .env(
            "IDSTORE_BOOTSTRAP_CLIENT_SECRET",
            secret(&config.bootstrap_client_secret),
        )
        .output()
        .await
        .expect("run idstore seed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "idstore seed failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON line ({e}): {:?}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

async fn fresh_database_and_config() -> (TestDb, Config) {
    let db = db::fresh_database().await;
    let config = test_config(&db.url());
    (db, config)
}

async fn count(db: &TestDb, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&mut db.connect().await)
        .await
        .unwrap()
}

#[actix_web::test]
async fn seeding_again_continues_after_the_highest_seed_number_without_collisions() {
    let (db, config) = fresh_database_and_config().await;

    let first = seed(&config, 3000).await;
    let again = seed(&config, 500).await;

    assert_eq!(
        (&first["first"], &first["last"], &first["users"]),
        (&json!(1), &json!(3000), &json!(3000))
    );
    assert_eq!(
        (&again["first"], &again["last"], &again["users"]),
        (&json!(3001), &json!(3500), &json!(500))
    );
    assert_eq!(again["tenant_id"], first["tenant_id"]);
    assert_eq!(again["app_id"], first["app_id"], "the app is reused");
    assert_eq!(count(&db, "SELECT count(*) FROM users").await, 3500);
    assert_eq!(
        count(&db, "SELECT count(DISTINCT phone_number) FROM users").await,
        3500
    );
    assert_eq!(count(&db, "SELECT count(*) FROM user_apps").await, 3500);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM applications WHERE name = 'bench'"
        )
        .await,
        1
    );
}

#[actix_web::test]
async fn the_api_serves_seeded_users_to_the_admin_and_to_a_client_of_the_seeded_app() {
    let (db, config) = fresh_database_and_config().await;
    let seeded = seed(&config, 3000).await;
    let app = TestApp::start(db, &config).await.expect("start idstore");
    let admin = app.admin_token().await;

    let by_id = get(&app, "getUserById", "/v1/users/seed000000001", &admin).await;
    assert_eq!(by_id["user_id"], "seed000000001");
    assert_eq!(by_id["email"]["value"], "user1@example.com");
    assert_eq!(by_id["status"], "Active");
    assert_eq!(by_id["custom_data"], json!({ "n": 1, "tier": "silver" }));
    assert!(by_id["name"]["first_name"].is_string(), "{by_id}");
    let phone = by_id["phone_number"]["value"].as_str().unwrap().to_owned();
    let by_email = get(
        &app,
        "getUserByEmail",
        "/v1/users/email/user1@example.com",
        &admin,
    )
    .await;
    assert_eq!(by_email["user_id"], "seed000000001");
    let by_phone = get(
        &app,
        "getUserByPhone",
        &format!("/v1/users/phone-number/{phone}"),
        &admin,
    )
    .await;
    assert_eq!(by_phone["user_id"], "seed000000001");

    let app_id = seeded["app_id"].as_str().unwrap();
    let client = app_client(&app, &admin, app_id).await;
    let as_app = get(&app, "getUserById", "/v1/users/seed000003000", &client).await;
    assert_eq!(as_app["app_name"], "bench");
    assert_eq!(as_app["external_account_id"], "acct3000");
    assert_eq!(as_app["custom_app_data"], json!({ "plan": "basic" }));
    let listed = app
        .with_token(Method::GET, "/v1/users/count", &client)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json()["result"]["user_count"], 3000);
}

/// A successful, spec-conforming single-user read; its `result`.
async fn get(app: &TestApp, operation_id: &str, path: &str, token: &str) -> Value {
    let res = app.with_token(Method::GET, path, token).await;
    assert_eq!(res.status, 200, "{path}: {}", res.text);
    idstore_spec().assert_http_response(operation_id, &res);
    res.json()["result"].clone()
}

/// A token of a new client of application `app_id`.
async fn app_client(app: &TestApp, admin: &str, app_id: &str) -> String {
    let (credentials, _) = app
        .create_client(
            admin,
            app_id,
            &json!({ "name": "bench-client", "redirect_uris": [] }),
        )
        .await;
    app.token_for(&credentials).await
}

#[actix_web::test]
async fn seed_refuses_a_user_count_outside_one_to_fifty_million() {
    let cwd = tempfile::tempdir().unwrap();
    for users in ["0", "50000001", "many"] {
        let out = idstore(cwd.path())
            .args(["seed", "--users", users])
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--users {users} was accepted");
        assert!(
            stderr.contains("--users <N>") && stderr.contains(users),
            "--users {users}: {stderr}"
        );
    }
}
