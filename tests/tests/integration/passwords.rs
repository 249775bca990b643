//! The Users spec's password operations and the policy behind them: every
//! error code over HTTP in the spec's shape, the history, and one table
//! of cases run over every path that sets a password.

use std::time::{Duration, Instant};

use actix_web::http::Method as M;
use idstore_auth::TokenKind;
use idstore_auth::password::breached::BreachFilter;
use idstore_tests::login::{LoginApp, PASSWORD};
use idstore_tests::spec::idstore_spec;
use idstore_tests::tokens::{claims_like, read_claims, sign, signing_key};
use idstore_tests::{TestApp, TestResponse};
use serde_json::{Value, json};

/// The error code of a password operation's error, after checking the
/// answer against the operation's schema.
fn code(operation: &str, res: &TestResponse) -> String {
    idstore_spec().assert_http_response(operation, res);
    res.json()["error_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn add(app: &TestApp, token: &str, user: &str, body: Value) -> TestResponse {
    app.with_body(M::POST, &format!("/v1/users/{user}/password"), token, &body)
        .await
}

async fn replace(app: &TestApp, token: &str, user: &str, body: Value) -> TestResponse {
    app.with_body(M::PUT, &format!("/v1/users/{user}/password"), token, &body)
        .await
}

async fn set_policy(app: &TestApp, admin: &str, policy: Value) {
    let res = app
        .with_body(M::PUT, "/v1/admin/password-policy", admin, &policy)
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
}

/// A UserAccessToken for `user_id`, signed with the tenant's key as a
/// login would (for users who have no password to log in with).
async fn user_token(app: &TestApp, admin: &str, user_id: &str) -> String {
    let template = read_claims(admin);
    let (kid, private) = signing_key(&mut app.db.connect().await, &app.kek, &template.tid).await;
    let mut claims = claims_like(&template, TokenKind::User);
    claims.sub = user_id.to_owned();
    claims.iat = chrono::Utc::now().timestamp();
    claims.exp = claims.iat + 900;
    sign(&claims, &kid, &private)
}

#[actix_web::test]
async fn every_error_code_of_the_admin_operations_is_answered_in_the_specs_shape() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ann = app.new_user(&admin, "annabel@example.com").await;
    let add_code = |res: TestResponse| code("addPasswordCredential", &res);

    let res = add(&app, &admin, "nosuchuser", json!({"password": PASSWORD})).await;
    assert_eq!(
        (res.status.as_u16(), add_code(res)),
        (404, "user_not_found".into())
    );
    let res = add(&app, &admin, &ann, json!({"pasword": PASSWORD})).await;
    assert_eq!(
        (res.status.as_u16(), add_code(res)),
        (400, "system_invalid_input".into())
    );
    let res = add(&app, &admin, &ann, json!({"password": "too short"})).await;
    assert_eq!(
        (res.status.as_u16(), add_code(res)),
        (400, "auth_password_weak".into())
    );
    let res = add(
        &app,
        &admin,
        &ann,
        json!({"password": "i-am-annabel-from-accounts"}),
    )
    .await;
    assert!(
        res.json()["message"]
            .as_str()
            .unwrap()
            .contains("username or email"),
        "{}",
        res.text
    );
    assert_eq!(
        add_code(res),
        "auth_password_weak",
        "the email's local part is refused"
    );
    // The tenant's name ("default") and the application's ("Management").
    for password in ["our-default-tenant-password", "the-MANAGEMENT-app-password"] {
        let res = add(&app, &admin, &ann, json!({"password": password})).await;
        assert_eq!(add_code(res), "auth_password_weak", "{password}");
    }
    set_policy(&app, &admin, json!({"enabled": false})).await;
    let res = add(&app, &admin, &ann, json!({"password": PASSWORD})).await;
    assert_eq!(add_code(res), "auth_password_policy_disabled");
    set_policy(&app, &admin, json!({"min_length": 8})).await;
    let res = add(&app, &admin, &ann, json!({"password": "password1"})).await;
    assert!(
        res.json()["message"].as_str().unwrap().contains("common"),
        "{}",
        res.text
    );
    assert_eq!(add_code(res), "auth_password_weak", "a common password");
    set_policy(&app, &admin, json!({})).await;

    let replace_code = |res: TestResponse| code("updatePasswordCredential", &res);
    let res = replace(&app, &admin, &ann, json!({"password": PASSWORD})).await;
    assert_eq!(
        (res.status.as_u16(), replace_code(res)),
        (409, "auth_password_already_configured".into()),
        "CONTRADICTIONS #3: no password to replace"
    );
    let res = add(&app, &admin, &ann, json!({"password": PASSWORD})).await;
    assert_eq!(res.status, 201, "{}", res.text);
    idstore_spec().assert_http_response("addPasswordCredential", &res);
    assert_eq!(
        res.json(),
        json!({"result": {"message": "Password registered"}})
    );
    let res = add(&app, &admin, &ann, json!({"password": PASSWORD})).await;
    assert_eq!(
        (res.status.as_u16(), add_code(res)),
        (409, "auth_password_already_configured".into())
    );
    let user = app
        .with_token(M::GET, &format!("/v1/users/{ann}"), &admin)
        .await;
    assert_eq!(
        user.json()["result"]["password_information"]["temporary"],
        true,
        "force_replace defaults to true"
    );

    let res = replace(
        &app,
        &admin,
        &ann,
        json!({"password": "another-strong-passphrase", "force_replace": false}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    idstore_spec().assert_http_response("updatePasswordCredential", &res);
    let user = app
        .with_token(M::GET, &format!("/v1/users/{ann}"), &admin)
        .await;
    assert_eq!(
        user.json()["result"]["password_information"]["temporary"],
        false
    );
    let res = replace(&app, &admin, "nosuchuser", json!({"password": PASSWORD})).await;
    assert_eq!(
        (res.status.as_u16(), replace_code(res)),
        (404, "user_not_found".into())
    );

    let disable = json!({"status": "Disabled"});
    let res = app
        .with_body(M::PUT, &format!("/v1/users/{ann}"), &admin, &disable)
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = replace(
        &app,
        &admin,
        &ann,
        json!({"password": "yet-another-passphrase"}),
    )
    .await;
    assert_eq!(replace_code(res), "auth_not_active");

    // Nothing names this user at a login (as a user imported without
    // identifiers would be: the API always keeps an email or phone).
    let nameless = app
        .user_with_password(&admin, "nameless@example.com", PASSWORD)
        .await;
    sqlx::query("UPDATE users SET email = NULL, email_normalized = NULL WHERE user_id = $1")
        .bind(&nameless)
        .execute(&mut app.db.connect().await)
        .await
        .unwrap();
    let res = replace(
        &app,
        &admin,
        &nameless,
        json!({"password": "yet-another-passphrase"}),
    )
    .await;
    assert_eq!(replace_code(res), "auth_password_incomplete_credentials");
}

#[actix_web::test]
async fn the_history_blocks_each_of_the_last_n_passwords_and_allows_the_one_before() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    set_policy(&app, &admin, json!({"history_depth": 3})).await;
    let user = app.new_user(&admin, "hal@example.com").await;
    let passwords = [
        "first-long-passphrase",
        "second-long-passphrase",
        "third-long-passphrase",
    ];
    let res = add(&app, &admin, &user, json!({"password": passwords[0]})).await;
    assert_eq!(res.status, 201, "{}", res.text);
    for p in &passwords[1..] {
        let res = replace(&app, &admin, &user, json!({"password": p})).await;
        assert_eq!(res.status, 200, "{}", res.text);
    }
    for p in passwords {
        let res = replace(&app, &admin, &user, json!({"password": p})).await;
        assert_eq!(
            code("updatePasswordCredential", &res),
            "auth_password_recently_used",
            "{p}"
        );
    }
    let res = replace(
        &app,
        &admin,
        &user,
        json!({"password": "fourth-long-passphrase"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    // The first is now the fourth newest: allowed again.
    let res = replace(&app, &admin, &user, json!({"password": passwords[0]})).await;
    assert_eq!(res.status, 200, "{}", res.text);
}

#[actix_web::test]
async fn enforce_complexity_false_skips_only_the_composition_rules_and_is_recorded() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    set_policy(
        &app,
        &admin,
        json!({"require_digit": true, "require_uppercase": true}),
    )
    .await;
    let user = app.new_user(&admin, "cat@example.com").await;
    let plain = "no digits and no capitals here";
    let res = add(&app, &admin, &user, json!({"password": plain})).await;
    assert_eq!(code("addPasswordCredential", &res), "auth_password_weak");
    let res = add(
        &app,
        &admin,
        &user,
        json!({"password": "short", "enforce_complexity": false}),
    )
    .await;
    assert_eq!(
        code("addPasswordCredential", &res),
        "auth_password_weak",
        "length still applies"
    );
    let res = add(
        &app,
        &admin,
        &user,
        json!({"password": "password", "enforce_complexity": false}),
    )
    .await;
    assert_eq!(code("addPasswordCredential", &res), "auth_password_weak");
    let res = add(
        &app,
        &admin,
        &user,
        json!({"password": plain, "enforce_complexity": false}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let refs: Value = sqlx::query_scalar(
        "SELECT refs FROM audit_events WHERE action = 'user.password.add' AND subject_id = $1",
    )
    .bind(&user)
    .fetch_one(&mut app.db.connect().await)
    .await
    .unwrap();
    assert_eq!(refs["enforce_complexity"], false, "{refs}");
    assert!(
        !refs.to_string().contains(plain),
        "no password in the trail"
    );
}

/// Stores a breached-password filter holding `passwords` and waits until
/// the running server has read it.
async fn import_breached(app: &TestApp, passwords: &[&str]) {
    let mut filter = BreachFilter::with_capacity(1000, 0.001).unwrap();
    for p in passwords {
        filter.insert_password(p);
    }
    let shape = filter.shape();
    let stored = idstore_store::breached::NewFilter {
        entries: passwords.len() as u64,
        false_positive_rate: shape.false_positive_rate,
        bits: shape.bits,
        hashes: shape.hashes,
    };
    let owner = sqlx::PgPool::connect(&app.db.url()).await.unwrap();
    idstore_store::breached::replace(&owner, stored, filter.bits(), |_| {})
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = app.get("/readyz").await.json();
        if ready["breached_passwords"]["entries"] == passwords.len() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the filter never reached the server: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a path that sets a password made of one: `ok`, or the reason.
async fn outcome(res: TestResponse) -> String {
    if res.status.is_success() {
        return "ok".into();
    }
    let body = res.json();
    match &body["error_code"] {
        Value::String(code) => code.clone(),
        // User creation answers in the Users API's generic 400 shape.
        _ => {
            let text = body["message"].to_string();
            let reason = ["too weak", "breached", "disabled"]
                .into_iter()
                .find(|r| text.contains(r))
                .unwrap_or_else(|| panic!("{text}"));
            match reason {
                "too weak" => "auth_password_weak",
                "breached" => "auth_password_breached",
                _ => "auth_password_policy_disabled",
            }
            .into()
        }
    }
}

/// A user ready to have its password set through one of the five paths.
enum Prepared {
    Create(String),
    Add(String),
    Update(String),
    Me(String),
    Reset(Value),
}

/// Makes a fresh user ready for `path`.
async fn prepare(app: &TestApp, admin: &str, shop: &LoginApp, path: &str, n: usize) -> Prepared {
    let email = format!("{path}-{n}@example.com");
    match path {
        "create" => Prepared::Create(email),
        "add" => Prepared::Add(app.new_user(admin, &email).await),
        "update" => Prepared::Update(
            app.user_with_password(admin, &email, "the-first-passphrase-1")
                .await,
        ),
        "me" => {
            let user = app.new_user(admin, &email).await;
            Prepared::Me(user_token(app, admin, &user).await)
        }
        "reset" => {
            let body =
                json!({"email": email, "credentials": {"password": "temporary-passphrase-1"}});
            let res = app.with_body(M::POST, "/v1/users", admin, &body).await;
            assert_eq!(res.status, 201, "{}", res.text);
            let res = app.login(shop, &email, "temporary-passphrase-1").await;
            assert_eq!(res.status, 200, "{}", res.text);
            Prepared::Reset(res.json()["result"]["reset_token"].clone())
        }
        other => unreachable!("{other}"),
    }
}

/// Sets `password` the prepared way: `ok`, or the reason it was refused.
async fn set(
    app: &TestApp,
    admin: &str,
    shop: &LoginApp,
    prepared: Prepared,
    password: &str,
) -> String {
    let res = match prepared {
        Prepared::Create(email) => {
            let body = json!({"email": email, "credentials": {"password": password}});
            app.with_body(M::POST, "/v1/users", admin, &body).await
        }
        Prepared::Add(user) => add(app, admin, &user, json!({"password": password})).await,
        Prepared::Update(user) => replace(app, admin, &user, json!({"password": password})).await,
        Prepared::Me(token) => {
            let body = json!({"password": password});
            app.with_body(M::POST, "/v1/users/me/password-credentials", &token, &body)
                .await
        }
        Prepared::Reset(ticket) => {
            let body = json!({"reset_token": ticket, "password": password});
            app.with_body(M::POST, "/v1/auth/password/reset", &shop.token, &body)
                .await
        }
    };
    outcome(res).await
}

#[actix_web::test]
async fn the_same_policy_applies_on_every_path_that_sets_a_password() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let shop = app.login_app(&admin, "paths").await;
    let breached = "a-breached-but-long-passphrase";
    import_breached(&app, &[breached]).await;
    let too_long = "x".repeat(257);
    let cases: &[(&str, &str)] = &[
        ("short", "auth_password_weak"),
        (&too_long, "auth_password_weak"),
        ("1qaz2wsx3edc4rfv", "auth_password_weak"),
        (breached, "auth_password_breached"),
        ("a passphrase nobody has typed", "ok"),
    ];
    let mut failures = Vec::new();
    for path in ["create", "add", "update", "me", "reset"] {
        for (n, (password, expected)) in cases.iter().enumerate() {
            let prepared = prepare(&app, &admin, &shop, path, n).await;
            let got = set(&app, &admin, &shop, prepared, password).await;
            if got != *expected {
                failures.push(format!("{path} {password:?}: {got}, expected {expected}"));
            }
        }
        // A disabled policy refuses on every path.
        let prepared = prepare(&app, &admin, &shop, path, 99).await;
        set_policy(&app, &admin, json!({"enabled": false})).await;
        let got = set(
            &app,
            &admin,
            &shop,
            prepared,
            "a passphrase nobody has typed",
        )
        .await;
        if got != "auth_password_policy_disabled" {
            failures.push(format!("{path} with the policy disabled: {got}"));
        }
        set_policy(&app, &admin, json!({})).await;
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[actix_web::test]
async fn an_application_policy_overrides_the_tenants_for_its_clients() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let shop = app.login_app(&admin, "strict").await;
    let path = format!("/v1/admin/applications/{}/password-policy", shop.app_id);
    let res = app
        .with_body(M::PUT, &path, &admin, &json!({"min_length": 24}))
        .await;
    assert_eq!(
        res.json()["result"]["source"],
        "application",
        "{}",
        res.text
    );
    let user = app.new_user(&admin, "dee@example.com").await;
    let twenty = "twenty chars exactly";
    let res = add(&app, &shop.token, &user, json!({"password": twenty})).await;
    assert_eq!(code("addPasswordCredential", &res), "auth_password_weak");
    let res = add(&app, &admin, &user, json!({"password": twenty})).await;
    assert_eq!(
        res.status, 201,
        "the tenant's policy applies to the admin: {}",
        res.text
    );
    let res = app
        .with_body(M::PUT, &path, &admin, &json!({"min_length": 4}))
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    let res = app.with_token(M::DELETE, &path, &admin).await;
    assert_eq!(res.status, 204, "{}", res.text);
    let res = app.with_token(M::GET, &path, &admin).await;
    assert_eq!(res.json()["result"]["source"], "default", "{}", res.text);
}

#[actix_web::test]
async fn a_user_adds_its_own_first_password_only_and_it_is_never_temporary() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let user = app.new_user(&admin, "eve@example.com").await;
    let token = user_token(&app, &admin, &user).await;
    // Tokens carry whole seconds: this one must predate the change.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let me = "/v1/users/me/password-credentials";
    let res = app
        .with_body(M::POST, me, &token, &json!({"password": PASSWORD}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    idstore_spec().assert_http_response("addPasswordCredentialsToCurrentUser", &res);
    let read = app
        .with_token(M::GET, &format!("/v1/users/{user}"), &admin)
        .await;
    assert_eq!(
        read.json()["result"]["password_information"]["temporary"],
        false
    );
    // The change signs out the user's earlier tokens.
    let res = app
        .with_body(
            M::POST,
            me,
            &token,
            &json!({"password": "another-first-passphrase"}),
        )
        .await;
    assert_eq!(res.status, 401, "{}", res.text);
    // A fresh token of a user with a password is refused a second one.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let token = user_token(&app, &admin, &user).await;
    let res = app
        .with_body(
            M::POST,
            me,
            &token,
            &json!({"password": "another-first-passphrase"}),
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    idstore_spec().assert_http_response("addPasswordCredentialsToCurrentUser", &res);
}
