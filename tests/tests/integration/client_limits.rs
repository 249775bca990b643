//! What an application's own clients may change about the tenant's users:
//! the spec's `[appId]:edit` lets them change anything; an operator can
//! deny identifier, status and profile changes per application.

use actix_web::http::Method;
use idstore_tests::app::TestApp;
use idstore_tests::spec::idstore_spec;
use serde_json::{Value, json};

async fn limits(app: &TestApp, admin: &str, app_id: &str, body: Value) -> Value {
    let res = app
        .call(
            Method::PUT,
            &format!("/v1/admin/applications/{app_id}/user-permissions"),
            Some(admin),
            Some(&body),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.json()["result"].clone()
}

async fn update(app: &TestApp, token: &str, user_id: &str, body: Value) -> u16 {
    let res = app
        .call(
            Method::PUT,
            &format!("/v1/users/{user_id}"),
            Some(token),
            Some(&body),
        )
        .await;
    idstore_spec().assert_http_response("updateUser", &res);
    res.status.as_u16()
}

#[actix_web::test]
async fn a_client_changes_what_its_application_is_allowed_and_nothing_else() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (app_id, client) = app.create_app(&admin, "partner").await;
    let token = app.token_for(&client).await;
    let user = app.new_user(&admin, "ann@example.com").await;

    // The spec's default: anything goes.
    let res = app
        .with_token(
            Method::GET,
            &format!("/v1/admin/applications/{app_id}/user-permissions"),
            &admin,
        )
        .await;
    assert_eq!(
        res.json()["result"],
        json!({"edit_profiles": true, "change_identifiers": true, "change_status": true})
    );
    assert_eq!(
        update(&app, &token, &user, json!({"language": "fr"})).await,
        200
    );

    let now = limits(&app, &admin, &app_id, json!({"change_identifiers": false})).await;
    assert_eq!(
        now,
        json!({"edit_profiles": true, "change_identifiers": false, "change_status": true}),
        "a permission left out keeps its value"
    );
    for body in [
        json!({"email": "taken-over@evil.example"}),
        json!({"phone_number": "+12125550199"}),
        json!({"secondary_emails": ["second@evil.example"]}),
        json!({"external_user_id": "x"}),
    ] {
        assert_eq!(
            update(&app, &token, &user, body.clone()).await,
            403,
            "{body}"
        );
    }
    let res = app
        .call(
            Method::POST,
            &format!("/v1/users/{user}/emails/ann@example.com/verify"),
            Some(&token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(
        res.status, 403,
        "verifying is an identifier change: {}",
        res.text
    );
    assert!(res.text.contains("user-permissions"), "{}", res.text);
    // What it may still do.
    assert_eq!(
        update(&app, &token, &user, json!({"name": {"first_name": "Ann"}})).await,
        200
    );
    assert_eq!(
        update(&app, &token, &user, json!({"custom_app_data": {"tier": 1}})).await,
        200
    );
    assert_eq!(
        update(&app, &token, &user, json!({"status": "Disabled"})).await,
        200
    );

    limits(
        &app,
        &admin,
        &app_id,
        json!({"change_status": false, "edit_profiles": false}),
    )
    .await;
    assert_eq!(
        update(&app, &token, &user, json!({"status": "Active"})).await,
        403
    );
    assert_eq!(
        update(&app, &token, &user, json!({"custom_data": {"k": 1}})).await,
        403
    );
    assert_eq!(
        update(&app, &token, &user, json!({"custom_app_data": {"tier": 2}})).await,
        200
    );

    // Nothing refused was written; admin tokens are not limited.
    let res = app
        .with_token(Method::GET, &format!("/v1/users/{user}"), &admin)
        .await;
    let u = &res.json()["result"];
    assert_eq!(u["email"]["value"], "ann@example.com");
    assert_eq!(u["email"]["email_verified"], false);
    assert_eq!(u["status"], "Disabled");
    assert!(
        u.get("custom_data").is_none_or(|d| d.get("k").is_none()),
        "{u}"
    );
    assert_eq!(
        update(&app, &admin, &user, json!({"email": "ann2@example.com"})).await,
        200
    );
}

#[actix_web::test]
async fn user_permissions_take_only_their_three_booleans_and_stay_in_the_tenant() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (app_id, _) = app.create_app(&admin, "partner").await;
    let path = format!("/v1/admin/applications/{app_id}/user-permissions");
    for body in [json!({"change_status": "no"}), json!({"admin": true})] {
        let res = app
            .call(Method::PUT, &path, Some(&admin), Some(&body))
            .await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
    }
    let (_, other) = app.second_tenant("other").await;
    let res = app
        .call(
            Method::PUT,
            &path,
            Some(&other),
            Some(&json!({"change_status": false})),
        )
        .await;
    assert_eq!(res.status, 404, "{}", res.text);
    let res = app.with_token(Method::GET, &path, &admin).await;
    assert_eq!(res.json()["result"]["change_status"], true);
}
