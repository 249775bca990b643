//! The password login: a code for the registered redirect URI, exchanged
//! once for a UserAccessToken and a rotating refresh token; one answer
//! and one cost for every failure; lockout in PostgreSQL; rehashing of
//! imported hashes; revocation reaching another process.

use std::time::{Duration, Instant};

use actix_web::http::Method as M;
use idstore_auth::password::hash::{Argon2Params, hash_password};
use idstore_tests::login::{PASSWORD, REDIRECT, code_of};
use idstore_tests::spec::idstore_spec;
use idstore_tests::tokens::read_claims;
use idstore_tests::{TestApp, TestResponse};
use serde_json::json;

use crate::process::{Served, serve_on};

/// The value of a counter series on `/metrics` (0 when absent).
async fn counter(app: &TestApp, series: &str) -> f64 {
    let text = app.get("/metrics").await.text;
    text.lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn stored_hash(app: &TestApp, user_id: &str) -> String {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&mut app.db.connect().await)
        .await
        .unwrap()
}

fn refused(res: &TestResponse) {
    assert_eq!(res.status, 401, "{}", res.text);
    assert_eq!(
        res.json(),
        json!({"message": "Invalid credentials", "error_code": 401})
    );
    idstore_spec().assert_http_response("passwordLogin", res);
}

#[actix_web::test]
async fn a_temporary_password_logs_in_resets_and_gets_a_user_token_for_users_me() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let shop = app.login_app(&admin, "shop").await;
    let body = json!({"email": "tom@example.com", "username": "tom",
                      "credentials": {"password": "temporary-passphrase-1"}});
    let res = app.with_body(M::POST, "/v1/users", &admin, &body).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let user = res.json()["result"]["user_id"].as_str().unwrap().to_owned();

    let res = app
        .login_with(
            &shop,
            json!({"username": "TOM", "password": "temporary-passphrase-1"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let answer = &res.json()["result"];
    assert_eq!(answer["password_change_required"], true, "{answer}");
    assert_eq!(answer["reason"], "temporary");
    assert!(answer.get("url").is_none(), "no code before the change");
    let reset = json!({"reset_token": answer["reset_token"], "password": PASSWORD});
    let res = app
        .with_body(M::POST, "/v1/auth/password/reset", &shop.token, &reset)
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let code = code_of(&res);
    let again = app
        .with_body(M::POST, "/v1/auth/password/reset", &shop.token, &reset)
        .await;
    assert_eq!(
        again.status, 400,
        "a reset ticket is single use: {}",
        again.text
    );

    let res = app.exchange(&shop, &code).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let tokens = res.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let claims = read_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims.sub, user);
    assert_eq!(claims.kind, idstore_auth::TokenKind::User);
    assert_eq!(claims.exp - claims.iat, 900, "15 minutes by default");
    assert_eq!(claims.client_id, shop.client.client_id);

    let me = tokens["access_token"].as_str().unwrap();
    let keys = app.with_token(M::GET, "/v1/users/me/device-keys", me).await;
    assert_eq!(keys.status, 404, "accepted, and no key yet: {}", keys.text);
    idstore_spec().assert_http_response("getDeviceKeysForTenant", &keys);
    let key = json!({"public_key": {"kty": "OKP", "crv": "Ed25519",
                                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
                     "display_name": "Tom's phone"});
    let res = app
        .with_body(M::POST, "/v1/users/me/device-keys", me, &key)
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let keys = app.with_token(M::GET, "/v1/users/me/device-keys", me).await;
    assert_eq!(keys.status, 200, "{}", keys.text);
    idstore_spec().assert_http_response("getDeviceKeysForTenant", &keys);
    assert_eq!(keys.json()["result"]["display_name"], "Tom's phone");
    assert_eq!(keys.json()["result"]["status"], "Active");
    let private = json!({"public_key": {"kty": "OKP", "crv": "Ed25519", "d": "x",
                                        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}});
    let res = app
        .with_body(M::POST, "/v1/users/me/device-keys", me, &private)
        .await;
    assert_eq!(res.status, 400, "a private key is refused: {}", res.text);
    // A user token reaches nothing of the management API.
    let res = app
        .with_token(M::GET, &format!("/v1/users/{user}"), me)
        .await;
    assert_eq!(res.status, 403, "{}", res.text);

    let read = app
        .with_token(M::GET, &format!("/v1/users/{user}"), &admin)
        .await;
    let user = &read.json()["result"];
    assert!(
        user["last_auth"].is_string(),
        "a login sets last_auth: {user}"
    );
    assert_eq!(user["password_information"]["temporary"], false);
}

#[actix_web::test]
async fn codes_are_single_use_short_lived_and_bound_to_their_client_and_redirect_uri() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let shop = app.login_app(&admin, "shop").await;
    let other = app.login_app(&admin, "other").await;
    app.user_with_password(&admin, "uma@example.com", PASSWORD)
        .await;

    // An unregistered redirect URI is refused before any password check.
    let checks = counter(&app, "idstore_password_checks_total").await;
    let res = app
        .login_with(
            &shop,
            json!({"email": "uma@example.com", "password": PASSWORD,
                                  "redirect_uri": "https://evil.example/cb"}),
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    let mut foreign = json!({"email": "uma@example.com", "password": PASSWORD});
    foreign["client_id"] = json!(other.client.client_id);
    foreign["redirect_uri"] = json!(REDIRECT);
    let res = app
        .with_body(M::POST, "/v1/auth/password/login", &shop.token, &foreign)
        .await;
    assert_eq!(
        res.status, 400,
        "another application's client: {}",
        res.text
    );
    assert_eq!(counter(&app, "idstore_password_checks_total").await, checks);

    let code = code_of(&app.login(&shop, "uma@example.com", PASSWORD).await);
    let res = app.exchange(&other, &code).await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert_eq!(res.json()["error"], "invalid_grant");
    let res = app.exchange(&shop, &code).await;
    assert_eq!(
        res.status, 400,
        "a code tried by another client is spent: {}",
        res.text
    );

    let code = code_of(&app.login(&shop, "uma@example.com", PASSWORD).await);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://app.example/other"),
        ("client_id", shop.client.client_id.as_str()),
        ("client_secret", shop.client.client_secret.as_str()),
    ];
    let res = app.token_request(&form, None).await;
    assert_eq!(res.json()["error"], "invalid_grant", "{}", res.text);

    // Reuse: the second exchange fails and revokes what the first got.
    let code = code_of(&app.login(&shop, "uma@example.com", PASSWORD).await);
    let first = app.exchange(&shop, &code).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second = app.exchange(&shop, &code).await;
    assert_eq!(second.json()["error"], "invalid_grant", "{}", second.text);
    let refresh = first.json()["refresh_token"].as_str().unwrap().to_owned();
    let res = app.refresh(&shop, &refresh).await;
    assert_eq!(
        res.json()["error"],
        "invalid_grant",
        "the code's tokens are revoked: {}",
        res.text
    );

    // Expired.
    let code = code_of(&app.login(&shop, "uma@example.com", PASSWORD).await);
    sqlx::query("UPDATE login_tickets SET expires_at = now() - interval '1 second', created_at = now() - interval '61 seconds' WHERE used_at IS NULL")
        .execute(&mut app.db.connect().await)
        .await
        .unwrap();
    let res = app.exchange(&shop, &code).await;
    assert_eq!(res.json()["error"], "invalid_grant", "{}", res.text);
}

#[actix_web::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let shop = app.login_app(&admin, "shop").await;
    app.user_with_password(&admin, "rae@example.com", PASSWORD)
        .await;
    let tokens = app.sign_in(&shop, "rae@example.com", PASSWORD).await;
    let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let res = app.refresh(&shop, &r1).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let r2 = res.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2, "rotated");
    assert!(res.json()["access_token"].is_string());
    let res = app.refresh(&shop, &r1).await;
    assert_eq!(res.json()["error"], "invalid_grant", "reuse: {}", res.text);
    let res = app.refresh(&shop, &r2).await;
    assert_eq!(
        res.json()["error"],
        "invalid_grant",
        "the family is revoked: {}",
        res.text
    );
    // Another login is another family.
    let tokens = app.sign_in(&shop, "rae@example.com", PASSWORD).await;
    let res = app
        .refresh(&shop, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
}

#[actix_web::test]
async fn every_failure_is_one_answer_unknown_wrong_disabled_locked() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let shop = app.login_app(&admin, "shop").await;
    let dan = app
        .user_with_password(&admin, "dan@example.com", PASSWORD)
        .await;
    app.new_user(&admin, "nopass@example.com").await;
    refused(&app.login(&shop, "nobody@example.com", PASSWORD).await);
    refused(
        &app.login(&shop, "dan@example.com", "not-dans-password")
            .await,
    );
    refused(&app.login(&shop, "dan@example.com", "").await);
    refused(&app.login(&shop, "nopass@example.com", PASSWORD).await);
    let res = app
        .with_body(
            M::PUT,
            &format!("/v1/users/{dan}"),
            &admin,
            &json!({"status": "Disabled"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    refused(&app.login(&shop, "dan@example.com", PASSWORD).await);
}

/// `method path` on a served process with `token` and a JSON body.
async fn call(
    base: &str,
    method: M,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let req = awc::Client::default()
        .request(method, format!("{base}{path}"))
        .insert_header(("authorization", format!("Bearer {token}")));
    let mut res = match body {
        Some(b) => req.send_json(&b).await,
        None => req.send().await,
    }
    .expect("answered");
    let bytes = res.body().await.unwrap();
    (
        res.status().as_u16(),
        serde_json::from_slice(&bytes).unwrap_or_default(),
    )
}

/// Run in a process of its own: the counter of password checks on its
/// `/metrics` then counts this test's logins only.
#[actix_web::test]
async fn fifty_concurrent_guesses_get_no_more_checks_than_the_lockout_allows() {
    let db = idstore_tests::db::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = idstore_tests::tokens::new_client_secret();
    let mut cmd = serve_on(dir.path(), &db.url());
    cmd.env(
        "IDSTORE_KEY_ENCRYPTION_KEY",
        idstore_tests::app::random_kek(),
    )
    .env("IDSTORE_BOOTSTRAP_CLIENT_ID", "lockout-admin")
    .env("IDSTORE_BOOTSTRAP_CLIENT_SECRET", &secret);
    let served = Served::start(cmd, Duration::from_secs(30)).await;
    let base = served.url("");
    let admin = crate::process::client_token(&base, "lockout-admin", &secret).await;
    let (status, created) = call(
        &base,
        M::POST,
        "/v1/applications",
        &admin,
        Some(json!({"app_name": "shop", "client_display_name": "shop"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (app_id, client_id) = (
        created["result"]["app_id"].as_str().unwrap(),
        created["result"]["client_id"].as_str().unwrap(),
    );
    let client_secret = created["result"]["client_secret"].as_str().unwrap();
    let (status, _) = call(
        &base,
        M::PUT,
        &format!("/v1/applications/{app_id}/clients/{client_id}"),
        &admin,
        Some(json!({"redirect_uris": [REDIRECT]})),
    )
    .await;
    assert_eq!(status, 200);
    let client = crate::process::client_token(&base, client_id, client_secret).await;
    let body = json!({"email": "lou@example.com", "credentials": {"password": PASSWORD, "force_replace": false}});
    let (status, user) = call(&base, M::POST, "/v1/users", &admin, Some(body)).await;
    assert_eq!(status, 201, "{user}");
    let user = user["result"]["user_id"].as_str().unwrap().to_owned();
    let login = |password: String| {
        let (base, client) = (base.clone(), client.clone());
        let body = json!({"email": "lou@example.com", "password": password,
                          "client_id": client_id, "redirect_uri": REDIRECT});
        async move {
            call(
                &base,
                M::POST,
                "/v1/auth/password/login",
                &client,
                Some(body),
            )
            .await
        }
    };
    let checks = async || {
        let mut res = awc::Client::default()
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap();
        let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
        text.lines()
            .filter(|l| l.starts_with("idstore_password_checks_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };

    let guesses = (0..50).map(|i| login(format!("guess-number-{i}")));
    let answers = futures_util::future::join_all(guesses).await;
    for (status, body) in &answers {
        assert!([401, 503].contains(status), "{status} {body}");
    }
    let checked = checks().await;
    assert!(
        checked <= 5.0,
        "{checked} passwords were checked; the threshold is 5"
    );
    assert!(checked >= 1.0, "some guesses were checked");
    // Locked: even the right password is refused, in the same words.
    let (status, body) = login(PASSWORD.into()).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"message": "Invalid credentials", "error_code": 401})
        )
    );
    assert_eq!(
        checks().await,
        checked,
        "a locked identifier's password is not checked"
    );
    let (status, _) = call(
        &base,
        M::POST,
        &format!("/v1/admin/users/{user}/unlock"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = login(PASSWORD.into()).await;
    assert_eq!(status, 200, "unlocked: {body}");
}

#[actix_web::test]
async fn unknown_and_known_users_take_the_same_time_to_refuse() {
    let app = TestApp::spawn_with(|c| c.trusted_proxies = "127.0.0.1".into()).await;
    let admin = app.admin_token().await;
    let res = app
        .with_body(
            M::PUT,
            "/v1/admin/password-policy",
            &admin,
            &json!({"lockout_threshold": 100}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let shop = app.login_app(&admin, "shop").await;
    let user = app
        .user_with_password(&admin, "kim@example.com", PASSWORD)
        .await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..200 {
        // Each from its own address, so the per-source limit stays out of it.
        let source = format!("10.9.{}.{}", i / 250, i % 250 + 1);
        for (email, times) in [
            ("kim@example.com", &mut known),
            ("nobody@example.com", &mut unknown),
        ] {
            let body = json!({"email": email, "password": "wrong-password-here",
                              "client_id": shop.client.client_id, "redirect_uri": REDIRECT});
            let req = app
                .request(M::POST, "/v1/auth/password/login")
                .insert_header(("authorization", format!("Bearer {}", shop.token)))
                .insert_header(("x-forwarded-for", source.as_str()))
                .content_type("application/json");
            let started = Instant::now();
            let res = app.send(req, Some(body.to_string().into_bytes())).await;
            times.push(started.elapsed());
            refused(&res);
        }
        if i % 90 == 89 {
            let unlock = format!("/v1/admin/users/{user}/unlock");
            assert_eq!(app.with_token(M::POST, &unlock, &admin).await.status, 204);
        }
    }
    let median = |t: &mut Vec<Duration>| {
        t.sort();
        t[t.len() / 2].as_secs_f64()
    };
    let (k, u) = (median(&mut known), median(&mut unknown));
    let ratio = k / u;
    assert!(
        (0.8..1.25).contains(&ratio),
        "known {k:.4} s, unknown {u:.4} s: ratio {ratio:.2}"
    );
}

#[actix_web::test]
async fn imported_and_outdated_hashes_log_in_and_are_stored_as_argon2id_with_todays_costs() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let shop = app.login_app(&admin, "shop").await;
    // Known answers: "correct horse battery staple" (see the hash tests).
    let password = "correct horse battery staple";
    let old_costs = hash_password(
        Argon2Params {
            memory_kib: 4096,
            iterations: 1,
            parallelism: 1,
        },
        password,
    );
    let imported = [
        "$2b$04$W8tgpHnS3WUjt.g8Qgypp.JaLG4nSXh04w4Ps7Qtr/oB8vwhsaYq.",
        "$pbkdf2-sha256$i=1000,l=32$AAECAwQFBgcICQoLDA0ODw$ppsXnjrdPB4KryJ6DrOqKqhkWrhv7PbKAMF1Eml8cZ4",
        old_costs.as_str(),
    ];
    for (i, phc) in imported.iter().enumerate() {
        let email = format!("imported-{i}@example.com");
        let user = app
            .user_with_password(&admin, &email, "placeholder-passphrase")
            .await;
        sqlx::query("UPDATE users SET password_hash = $2 WHERE user_id = $1")
            .bind(&user)
            .bind(phc)
            .execute(&mut app.db.connect().await)
            .await
            .unwrap();
        let res = app.login(&shop, &email, password).await;
        assert_eq!(res.status, 200, "{phc}: {}", res.text);
        let stored = stored_hash(&app, &user).await;
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{phc} became {stored}"
        );
        let res = app.login(&shop, &email, password).await;
        assert_eq!(res.status, 200, "the new hash verifies: {}", res.text);
        assert_eq!(stored_hash(&app, &user).await, stored, "rehashed once");
    }
}

#[actix_web::test]
async fn a_temporary_password_past_its_validity_opens_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let shop = app.login_app(&admin, "shop").await;
    let body =
        json!({"email": "tia@example.com", "credentials": {"password": "temporary-passphrase-1"}});
    let res = app.with_body(M::POST, "/v1/users", &admin, &body).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let user = res.json()["result"]["user_id"].as_str().unwrap().to_owned();
    sqlx::query(
        "UPDATE users SET password_updated_at = now() - interval '73 hours' WHERE user_id = $1",
    )
    .bind(&user)
    .execute(&mut app.db.connect().await)
    .await
    .unwrap();
    refused(
        &app.login(&shop, "tia@example.com", "temporary-passphrase-1")
            .await,
    );
}

#[actix_web::test]
async fn an_expired_password_must_be_changed_at_login() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let res = app
        .with_body(
            M::PUT,
            "/v1/admin/password-policy",
            &admin,
            &json!({"expiry_days": 30}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let shop = app.login_app(&admin, "shop").await;
    let user = app
        .user_with_password(&admin, "old@example.com", PASSWORD)
        .await;
    assert_eq!(
        app.login(&shop, "old@example.com", PASSWORD).await.status,
        200
    );
    sqlx::query(
        "UPDATE users SET password_updated_at = now() - interval '31 days' WHERE user_id = $1",
    )
    .bind(&user)
    .execute(&mut app.db.connect().await)
    .await
    .unwrap();
    let res = app.login(&shop, "old@example.com", PASSWORD).await;
    assert_eq!(res.json()["result"]["reason"], "expired", "{}", res.text);
    let reset = json!({"reset_token": res.json()["result"]["reset_token"], "password": PASSWORD});
    let res = app
        .with_body(M::POST, "/v1/auth/password/reset", &shop.token, &reset)
        .await;
    assert_eq!(
        res.json()["error_code"],
        "auth_password_recently_used",
        "{}",
        res.text
    );
    let reset = json!({"reset_token": reset["reset_token"], "password": "a-fresh-new-passphrase"});
    let res = app
        .with_body(M::POST, "/v1/auth/password/reset", &shop.token, &reset)
        .await;
    assert_eq!(
        res.status, 200,
        "the ticket survives a refused password: {}",
        res.text
    );
    code_of(&res);
}

/// A user token accepted by a second process stops working there within
/// five seconds of the user's being disabled, or its password changed,
/// through the first.
#[actix_web::test]
async fn disabling_or_changing_a_password_signs_the_user_out_of_every_replica_within_5_s() {
    let db = idstore_tests::db::fresh_database().await;
    let mut config = idstore_tests::app::test_config(&db.url());
    config.public_url = Some("https://id.example.test".into());
    let kek = {
        use secrecy::ExposeSecret;
        config
            .key_encryption_key
            .as_ref()
            .unwrap()
            .expose_secret()
            .to_owned()
    };
    let app = TestApp::start(db.clone(), &config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_on(dir.path(), &db.url());
    cmd.args(["--public-url", "https://id.example.test"])
        .env("IDSTORE_KEY_ENCRYPTION_KEY", &kek);
    let other = Served::start(cmd, Duration::from_secs(30)).await;
    let admin = app.admin_token().await;
    let shop = app.login_app(&admin, "shop").await;
    let awc = awc::Client::default();
    let accepted_there = |token: String| {
        let awc = awc.clone();
        let url = other.url("/v1/users/me/device-keys");
        async move {
            let res = awc
                .get(url)
                .insert_header(("authorization", format!("Bearer {token}")))
                .send()
                .await
                .unwrap();
            res.status().as_u16() != 401
        }
    };
    let signed_out_within = async |token: String| {
        let start = Instant::now();
        while accepted_there(token.clone()).await {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "still accepted after 5 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        start.elapsed()
    };

    let ivy = app
        .user_with_password(&admin, "ivy@example.com", PASSWORD)
        .await;
    let token = app.sign_in(&shop, "ivy@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        accepted_there(token.clone()).await,
        "the other process accepts the token"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = app
        .with_body(
            M::PUT,
            &format!("/v1/users/{ivy}/password"),
            &admin,
            &json!({"password": "a-changed-passphrase", "force_replace": false}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    signed_out_within(token).await;

    let token = app
        .sign_in(&shop, "ivy@example.com", "a-changed-passphrase")
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(accepted_there(token.clone()).await);
    let res = app
        .with_body(
            M::PUT,
            &format!("/v1/users/{ivy}"),
            &admin,
            &json!({"status": "Disabled"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    signed_out_within(token).await;
    drop(other);
}

/// A password change ends what a login handed out before it: a code not
/// yet exchanged, and the reset tickets of the same temporary password
/// (one ticket sets one password; the change ends the others).
#[actix_web::test]
async fn codes_and_reset_tickets_issued_before_a_password_change_open_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let shop = app.login_app(&admin, "shop").await;
    let kim = app
        .user_with_password(&admin, "kim@example.com", PASSWORD)
        .await;
    let res = app.login(&shop, "kim@example.com", PASSWORD).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let kept = code_of(&res);
    let res = app
        .with_body(
            M::PUT,
            &format!("/v1/users/{kim}/password"),
            &admin,
            &json!({"password": "temporary-passphrase-2"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app.exchange(&shop, &kept).await;
    assert_eq!(res.status, 400, "a code outlived the change: {}", res.text);
    assert_eq!(res.json()["error"], "invalid_grant", "{}", res.text);

    // Two logins with the temporary password: two reset tickets.
    let tickets: Vec<String> = futures_util::future::join_all(
        (0..2).map(|_| app.login(&shop, "kim@example.com", "temporary-passphrase-2")),
    )
    .await
    .iter()
    .map(|res| {
        assert_eq!(res.status, 200, "{}", res.text);
        res.json()["result"]["reset_token"]
            .as_str()
            .unwrap()
            .to_owned()
    })
    .collect();
    let (app, shop) = (&app, &shop);
    let reset = |ticket: &str, password: &str| {
        let body = json!({"reset_token": ticket, "password": password});
        async move {
            app.with_body(M::POST, "/v1/auth/password/reset", &shop.token, &body)
                .await
        }
    };
    // A password the policy refuses leaves the ticket usable.
    let res = reset(&tickets[0], "short").await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert_eq!(
        res.json()["error_code"],
        "auth_password_weak",
        "{}",
        res.text
    );
    let res = reset(&tickets[0], "kims-own-new-passphrase").await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = reset(&tickets[1], "someone-elses-passphrase").await;
    assert_eq!(
        res.status, 400,
        "the other ticket set a second password: {}",
        res.text
    );
    let res = app
        .login(shop, "kim@example.com", "kims-own-new-passphrase")
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(res.json()["result"]["url"].is_string(), "{}", res.text);
}

/// One address failing logins on many identifiers is told to wait, with
/// the wait its streak has earned in `Retry-After` (1 s after the 100th
/// failure), and another address is not.
#[actix_web::test]
async fn a_source_over_its_failed_logins_waits_as_long_as_retry_after_says() {
    let app = TestApp::spawn_with(|c| c.trusted_proxies = "127.0.0.1".into()).await;
    let admin = app.admin_token().await;
    let shop = app.login_app(&admin, "shop").await;
    let from = |source: &'static str, n: usize| {
        let body = json!({"email": format!("nobody{n}@example.com"), "password": "guess",
                          "client_id": shop.client.client_id, "redirect_uri": REDIRECT});
        let req = app
            .request(M::POST, "/v1/auth/password/login")
            .insert_header(("authorization", format!("Bearer {}", shop.token)))
            .insert_header(("x-forwarded-for", source))
            .content_type("application/json");
        app.send(req, Some(body.to_string().into_bytes()))
    };
    for n in 0..100 {
        let res = from("203.0.113.7", n).await;
        assert_eq!(res.status, 401, "failure {n}: {}", res.text);
    }
    let res = from("203.0.113.7", 100).await;
    assert_eq!(res.status, 429, "{}", res.text);
    assert_eq!(res.header("retry-after"), Some("1"), "{}", res.text);
    idstore_spec().assert_http_response("passwordLogin", &res);
    // The refused attempt counted nothing against the identifier it named.
    let counted = async |n: usize| -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM client_auth_throttle WHERE client_id LIKE $1")
            .bind(format!("login/%/email:nobody{n}@example.com"))
            .fetch_one(&mut app.db.connect().await)
            .await
            .unwrap()
    };
    assert_eq!((counted(99).await, counted(100).await), (1, 0));
    let res = from("198.51.100.8", 0).await;
    assert_eq!(
        res.status, 401,
        "another address is not held back: {}",
        res.text
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = from("203.0.113.7", 101).await;
    assert_eq!(
        res.status, 401,
        "checked again after the wait: {}",
        res.text
    );
    let res = from("203.0.113.7", 102).await;
    assert_eq!(
        res.header("retry-after"),
        Some("2"),
        "the wait doubles: {}",
        res.text
    );
}

/// A correct password ends the identifier's streak and gives the source
/// its attempt back: four wrong, one right, four wrong again, and the
/// fifth failure in a row (the lockout threshold) is still to come.
#[actix_web::test]
async fn a_correct_password_ends_the_streak_and_gives_the_source_its_attempt_back() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let shop = app.login_app(&admin, "shop").await;
    app.user_with_password(&admin, "eve@example.com", PASSWORD)
        .await;
    let source_failures = async || -> i32 {
        sqlx::query_scalar(
            "SELECT COALESCE(sum(failures), 0)::int FROM client_auth_throttle
              WHERE client_id LIKE 'login-source/%'",
        )
        .fetch_one(&mut app.db.connect().await)
        .await
        .unwrap()
    };
    for round in 0..2 {
        for _ in 0..4 {
            refused(&app.login(&shop, "eve@example.com", "wrong-guess").await);
        }
        assert_eq!(source_failures().await, 4 * (round + 1));
        let res = app.login(&shop, "eve@example.com", PASSWORD).await;
        assert_eq!(res.status, 200, "round {round}: {}", res.text);
        assert_eq!(
            source_failures().await,
            4 * (round + 1),
            "the right password's own attempt is given back, the failures stay"
        );
    }
    let streak: Vec<i32> = sqlx::query_scalar(
        "SELECT failures FROM client_auth_throttle WHERE client_id LIKE 'login/%/email:eve@example.com'",
    )
    .fetch_all(&mut app.db.connect().await)
    .await
    .unwrap();
    assert!(streak.is_empty(), "the streak ended: {streak:?}");
}
