//! The token endpoint, published keys, rotation and tenancy.

use std::time::Duration;

use actix_web::http::Method;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idstore_tests::TestApp;
use idstore_tests::app::{ClientCredentials, test_config};
use serde_json::{Value, json};

/// A token request's form fields.
type Form<'a> = Vec<(&'a str, &'a str)>;

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[actix_web::test]
async fn the_bootstrapped_admin_client_gets_an_eddsa_access_token() {
    let app = TestApp::spawn().await;
    let res = app.authenticate(&app.admin).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let header = decode_part(token, 0);
    assert_eq!(
        (header["alg"].as_str(), header["typ"].as_str()),
        (Some("EdDSA"), Some("at+jwt"))
    );
    let claims = decode_part(token, 1);
    let issuer = format!("http://{}", app.address);
    assert_eq!(claims["iss"], json!(issuer));
    assert_eq!(claims["aud"], json!(issuer));
    assert_eq!(claims["sub"], json!(app.admin.client_id));
    assert_eq!(claims["client_id"], json!(app.admin.client_id));
    assert_eq!(claims["kind"], "admin");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    for claim in ["jti", "tid", "app_id", "roles", "scope"] {
        assert!(!claims[claim].is_null(), "claim {claim} missing: {claims}");
    }
    // The JWKS publishes the signing key.
    let jwks = app.get("/oidc/jwks").await.json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&header["kid"].as_str().unwrap()), "{jwks}");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "private part published!"
    );
}

#[actix_web::test]
async fn http_basic_authenticates_as_well_as_the_body() {
    let app = TestApp::spawn().await;
    let res = app
        .token_request(
            &[("grant_type", "client_credentials")],
            Some((&app.admin.client_id, &app.admin.client_secret)),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let token = res.json()["access_token"].as_str().unwrap().to_owned();
    let listed = app
        .with_token(Method::GET, "/v1/applications", &token)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
}

#[actix_web::test]
async fn discovery_names_the_issuer_token_endpoint_and_jwks() {
    let app = TestApp::spawn().await;
    let doc = app.get("/.well-known/openid-configuration").await.json();
    let issuer = format!("http://{}", app.address);
    assert_eq!(doc["issuer"], json!(issuer));
    assert_eq!(doc["token_endpoint"], json!(format!("{issuer}/oidc/token")));
    assert_eq!(doc["jwks_uri"], json!(format!("{issuer}/oidc/jwks")));
}

#[actix_web::test]
async fn token_errors_follow_rfc_6749() {
    let app = TestApp::spawn().await;
    let (id, secret) = (
        app.admin.client_id.as_str(),
        app.admin.client_secret.as_str(),
    );
    let cases: Vec<(Form, u16, &str)> = vec![
        (
            vec![("client_id", id), ("client_secret", secret)],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", id),
                ("client_secret", secret),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", "wrong"),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", secret),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
                ("resource", "not a uri"),
            ],
            400,
            "invalid_target",
        ),
    ];
    for (form, status, error) in cases {
        let res = app.token_request(&form, None).await;
        assert_eq!(res.status.as_u16(), status, "{form:?}: {}", res.text);
        assert_eq!(res.json()["error"], error, "{form:?}");
        assert!(res.json()["error_description"].is_string());
    }
    let both = app
        .token_request(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ],
            Some((id, secret)),
        )
        .await;
    assert_eq!(
        (both.status.as_u16(), both.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let json_body = app
        .post_json("/oidc/token", &json!({"grant_type": "client_credentials"}))
        .await;
    assert_eq!(
        (
            json_body.status.as_u16(),
            json_body.json()["error"].as_str()
        ),
        (400, Some("invalid_request"))
    );
}

#[actix_web::test]
async fn a_resource_parameter_becomes_the_audience_and_such_a_token_is_not_for_idstore() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (app_id, _) = app.create_app(&admin, "orders").await;
    let (client, _) = app
        .create_client(
            &admin,
            &app_id,
            &json!({"name": "orders-api", "redirect_uris": [],
                    "resources": ["https://orders.example.com"]}),
        )
        .await;
    let ask = |resource: &'static str| {
        let app = &app;
        let client = &client;
        async move {
            app.token_request(
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &client.client_id),
                    ("client_secret", &client.client_secret),
                    ("resource", resource),
                ],
                None,
            )
            .await
        }
    };
    let res = ask("https://orders.example.com").await;
    assert_eq!(res.status, 200, "{}", res.text);
    let token = res.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(decode_part(&token, 1)["aud"], "https://orders.example.com");
    let res = app.with_token(Method::GET, "/v1/users", &token).await;
    assert_eq!(res.status, 401, "a token for another audience was accepted");

    // Only the listed resources: RFC 8707's invalid_target for any other,
    // the admin's included (it lists none).
    let res = ask("https://payments.example.com").await;
    assert_eq!(
        (res.status.as_u16(), res.json()["error"].as_str()),
        (400, Some("invalid_target")),
        "{}",
        res.text
    );
    let res = app
        .token_request(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app.admin.client_id),
                ("client_secret", &app.admin.client_secret),
                ("resource", "https://orders.example.com"),
            ],
            None,
        )
        .await;
    assert_eq!(res.json()["error"], "invalid_target", "{}", res.text);
}

#[actix_web::test]
async fn repeated_wrong_secrets_are_throttled_even_when_concurrent() {
    let app = TestApp::spawn().await;
    let (_, client) = app.create_app(&app.admin_token().await, "victim").await;
    let guesses = (0..25).map(|i| {
        let app = &app;
        let id = client.client_id.clone();
        async move {
            let guess = format!("guess-{i}");
            app.token_request(
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &id),
                    ("client_secret", &guess),
                ],
                None,
            )
            .await
            .status
            .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let verified = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(verified + throttled, 25, "{statuses:?}");
    assert!(
        verified <= 5,
        "{verified} guesses were checked; a source gets 5 before delays"
    );
    assert!(throttled >= 20, "{statuses:?}");
    // Other clients are unaffected.
    app.admin_token().await;
}

#[actix_web::test]
async fn successful_authentications_do_not_use_up_the_budget() {
    let app = TestApp::spawn().await;
    for _ in 0..15 {
        app.admin_token().await;
    }
}

#[actix_web::test]
async fn a_client_token_is_refused_on_admin_only_routes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (app_id, client) = app.create_app(&admin, "shop").await;
    let token = app.token_for(&client).await;
    assert_eq!(decode_part(&token, 1)["kind"], "client");
    for (method, path) in [
        (Method::GET, "/v1/applications".to_owned()),
        (Method::POST, format!("/v1/applications/{app_id}/clients")),
        (Method::DELETE, format!("/v1/applications/{app_id}")),
    ] {
        let res = app
            .call(
                method.clone(),
                &path,
                Some(&token),
                Some(&json!({"name": "x"})),
            )
            .await;
        assert_eq!(res.status, 403, "{method} {path}: {}", res.text);
        assert_eq!(res.json()["error_code"], 403);
    }
    // The refused delete changed nothing.
    let res = app
        .with_token(Method::GET, &format!("/v1/applications/{app_id}"), &admin)
        .await;
    assert_eq!(res.status, 200);
}

#[actix_web::test]
async fn applications_clients_and_roles_can_be_managed_with_an_admin_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (app_id, default_client) = app.create_app(&admin, "crm").await;
    app.token_for(&default_client).await;

    let (batch, _) = app
        .create_client(
            &admin,
            &app_id,
            &json!({"name": "batch", "redirect_uris": []}),
        )
        .await;
    app.token_for(&batch).await;
    let listed = app
        .with_token(
            Method::GET,
            &format!("/v1/applications/{app_id}/clients"),
            &admin,
        )
        .await;
    assert_eq!(listed.json().as_array().unwrap().len(), 2);
    assert!(
        !listed.text.contains(&batch.client_secret),
        "secrets are shown once only"
    );

    let rotated = app
        .with_token(
            Method::POST,
            &format!(
                "/v1/admin/applications/{app_id}/clients/{}/rotate-secret",
                batch.client_id
            ),
            &admin,
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new_secret = rotated.json()["client_secret"].as_str().unwrap().to_owned();
    let old = app.authenticate(&batch).await;
    assert_eq!(old.status, 401, "the old secret still works");
    app.token_for(&ClientCredentials {
        client_id: batch.client_id.clone(),
        client_secret: new_secret,
    })
    .await;

    let role = app
        .with_body(
            Method::POST,
            &format!("/v1/applications/{app_id}/roles"),
            &admin,
            &json!({"role_name": "editor", "permissions": ["docs:edit"]}),
        )
        .await;
    assert_eq!(role.status, 201, "{}", role.text);
    let dup = app
        .with_body(
            Method::POST,
            &format!("/v1/applications/{app_id}/roles"),
            &admin,
            &json!({"role_name": "editor"}),
        )
        .await;
    assert_eq!(
        (dup.status.as_u16(), dup.json()["ts_error_code"].as_str()),
        (409, Some("IdentifierIsTaken"))
    );
    let role_id = role.json()["result"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let roles = app
        .with_token(
            Method::GET,
            &format!("/v1/applications/{app_id}/roles"),
            &admin,
        )
        .await;
    assert_eq!(
        roles.json()["result"][0]["permissions"],
        json!(["docs:edit"])
    );
    let gone = app
        .with_token(
            Method::DELETE,
            &format!("/v1/applications/{app_id}/roles/{role_id}"),
            &admin,
        )
        .await;
    assert_eq!(gone.status, 204);

    let bad = app
        .with_body(
            Method::POST,
            "/v1/applications",
            &admin,
            &json!({"app_name": ""}),
        )
        .await;
    assert_eq!(bad.status, 400);
    let unknown = app
        .with_body(
            Method::POST,
            "/v1/applications",
            &admin,
            &json!({"app_name": "a", "x": 1}),
        )
        .await;
    assert_eq!(unknown.status, 400);

    let deleted = app
        .with_token(
            Method::DELETE,
            &format!("/v1/applications/{app_id}"),
            &admin,
        )
        .await;
    assert_eq!(deleted.status, 204);
    let res = app.authenticate(&default_client).await;
    assert_eq!(
        res.status, 401,
        "a deleted application's client still authenticates"
    );
}

#[actix_web::test]
async fn the_management_application_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mgmt = decode_part(&admin, 1)["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .with_token(Method::DELETE, &format!("/v1/applications/{mgmt}"), &admin)
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    app.admin_token().await;
}

#[actix_web::test]
async fn a_token_of_tenant_a_cannot_reach_tenant_b() {
    let app = TestApp::spawn().await;
    let admin_a = app.admin_token().await;
    let (app_a, _) = app.create_app(&admin_a, "a-app").await;

    let (creds_b, admin_b) = app.second_tenant("tenant-b").await;
    assert_eq!(decode_part(&admin_b, 1)["tid"], json!(creds_b.tenant_id));

    let res = app
        .with_token(Method::GET, &format!("/v1/applications/{app_a}"), &admin_b)
        .await;
    assert_eq!(
        res.status, 404,
        "tenant B read tenant A's app: {}",
        res.text
    );
    let res = app
        .with_token(
            Method::DELETE,
            &format!("/v1/applications/{app_a}"),
            &admin_b,
        )
        .await;
    assert_eq!(res.status, 404);
    let listed = app
        .with_token(Method::GET, "/v1/applications", &admin_b)
        .await;
    assert!(
        !listed.text.contains(&app_a),
        "tenant B lists tenant A's app"
    );
    let res = app
        .with_token(Method::GET, &format!("/v1/applications/{app_a}"), &admin_a)
        .await;
    assert_eq!(res.status, 200, "tenant A lost its app");
}

fn kid_of(token: &str) -> String {
    decode_part(token, 0)["kid"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_rotated_in_key_is_published_before_it_signs_and_the_old_key_signs_until_then() {
    use std::sync::Arc;
    use std::time::Instant;

    use idstore_auth::{KeyCache, TokenSettings, Verifier};
    let app = TestApp::spawn().await;
    let old_token = app.admin_token().await;
    let old_kid = kid_of(&old_token);
    let pool = idstore_store::connect_pool(
        &app.db.options,
        &idstore_store::PoolSettings::for_commands(1),
    );
    // Long enough for the token request below, short enough to wait for.
    let ahead = Duration::from_secs(3);
    let before = Instant::now();
    let rotated = idstore_server::bootstrap::rotate_keys(&pool, &app.kek, None, ahead)
        .await
        .unwrap();
    // Another replica's verifier, which read the keys just after the
    // rotation and does not read them again: neither on its interval nor
    // for a kid it does not know.
    let lifetime = Duration::from_secs(3600);
    let source = Arc::new(idstore_api::auth::StoredKeys::new(pool.clone(), lifetime));
    let elsewhere = Verifier::new(
        TokenSettings {
            issuer: app.url(""),
            audience: app.url(""),
            lifetime,
            leeway: 30,
        },
        KeyCache::new(source, lifetime, lifetime),
    );
    elsewhere.verify(&old_token).await.unwrap();

    let meanwhile = app.admin_token().await;
    assert!(before.elapsed() < ahead, "too slow to see the old key sign");
    assert_eq!(
        kid_of(&meanwhile),
        old_kid,
        "the new key signed before verifiers elsewhere could know it"
    );
    let first = loop {
        let token = app.admin_token().await;
        if kid_of(&token) != old_kid {
            break token;
        }
        assert!(
            before.elapsed() < ahead + Duration::from_secs(10),
            "the new key never signed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        before.elapsed() >= ahead,
        "the new key signed before its time"
    );
    assert_eq!(kid_of(&first), rotated[0].kid);
    for token in [&meanwhile, &first] {
        let verified = elsewhere.verify(token).await;
        assert!(verified.is_ok(), "{verified:?}: a token refused elsewhere");
    }
}

#[actix_web::test]
async fn rotation_keeps_old_tokens_valid_until_their_key_ages_out() {
    let app = TestApp::spawn().await;
    let old_token = app.admin_token().await;
    let old_kid = kid_of(&old_token);

    let pool = idstore_store::connect_pool(
        &app.db.options,
        &idstore_store::PoolSettings::for_commands(1),
    );
    // A rotation that signs at once, as `keys rotate` does five minutes on.
    let rotated = idstore_server::bootstrap::rotate_keys(&pool, &app.kek, None, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(rotated.len(), 1);
    let new_token = app.admin_token().await;
    let new_kid = kid_of(&new_token);
    assert_ne!(old_kid, new_kid, "new tokens are signed with the new key");
    assert_eq!(new_kid, rotated[0].kid);

    // An unknown kid reloads the keys at most once a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for token in [&old_token, &new_token] {
        let res = app.with_token(Method::GET, "/v1/applications", token).await;
        assert_eq!(res.status, 200, "{}", res.text);
    }
    let jwks = app.get("/oidc/jwks").await.text;
    assert!(jwks.contains(&old_kid) && jwks.contains(&new_kid), "{jwks}");

    // Once the old key retired longer ago than a token lives, it is gone.
    sqlx::query("UPDATE signing_keys SET retired_at = now() - interval '2 hours' WHERE kid = $1")
        .bind(&old_kid)
        .execute(&pool)
        .await
        .unwrap();
    let jwks = app.get("/oidc/jwks").await.text;
    assert!(!jwks.contains(&old_kid), "retired key still published");
    let mut config = test_config(&app.db.url());
    config.key_encryption_key = Some(app.kek.to_base64().to_string().into());
    config.bootstrap = false;
    config.public_url = Some(format!("http://{}", app.address));
    let fresh = TestApp::start(app.db.clone(), &config).await.unwrap();
    let res = fresh
        .with_token(Method::GET, "/v1/applications", &old_token)
        .await;
    assert_eq!(res.status, 401, "a token of a rotated-out key was accepted");
    let res = fresh
        .with_token(Method::GET, "/v1/applications", &new_token)
        .await;
    assert_ne!(res.status, 401, "the current key stopped working");
}
