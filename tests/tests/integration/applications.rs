//! The vendor's Applications API, as a client written from its document
//! calls it: applications, their clients and token lifetimes, roles. Every
//! answer is checked against the vendor's schemas.

use std::time::Duration;

use actix_web::http::Method;
use idstore_tests::app::{ClientCredentials, TestApp, TestResponse};
use idstore_tests::spec::idstore_spec;
use serde_json::{Value, json};

const APPS: &str = "/v1/applications";

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> TestResponse {
    app.call(method, path, Some(token), body.as_ref()).await
}

/// `call`, checked against `operation_id`'s documented answer for its status.
async fn checked(
    app: &TestApp,
    operation_id: &str,
    (method, path): (Method, &str),
    token: &str,
    body: Option<Value>,
) -> TestResponse {
    let res = call(app, method, path, token, body).await;
    idstore_spec().assert_http_response(operation_id, &res);
    res
}

fn credentials(of: &Value) -> ClientCredentials {
    ClientCredentials {
        client_id: of["client_id"].as_str().unwrap().to_owned(),
        client_secret: of["client_secret"].as_str().unwrap().to_owned(),
    }
}

/// The vendor's example body, with most of what a console sends.
fn vendor_app() -> Value {
    json!({
        "app_name": "Shop",
        "app_description": "Our web shop",
        "client_display_name": "Shop web",
        "client_description": "The storefront",
        "client_type": "web",
        "redirect_uris": ["https://shop.example.com/callback"],
        "login_uri": "https://shop.example.com/login",
        "invite_member_uri": "https://shop.example.com/invite",
        "invite_member_email_expiration_minutes": 60,
        "logo": "https://shop.example.com/logo.png",
        "service_providers": ["sp-1"],
        "allow_public_signup": false,
        "authenticator_preferences": {"is_centralized": false, "login_uri": ""},
        "refresh_token_invalidation_trigger_configuration": {"invalidateOnMemberSuspension": true},
        "subdomain": "shop",
        "custom_domain": "shop.example.com",
        "signing_key_enabled": false,
        "should_delete_signing_key": false,
        "client_auth_method": "client_secret_basic",
    })
}

#[actix_web::test]
async fn an_application_is_created_read_listed_and_updated_in_the_vendors_shapes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;

    let created = checked(
        &app,
        "createApp",
        (Method::POST, APPS),
        &admin,
        Some(vendor_app()),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let r = created.json()["result"].clone();
    for (field, expected) in [
        ("app_name", json!("Shop")),
        ("app_description", json!("Our web shop")),
        ("client_display_name", json!("Shop web")),
        ("client_description", json!("The storefront")),
        (
            "redirect_uris",
            json!(["https://shop.example.com/callback"]),
        ),
        ("login_uri", json!("https://shop.example.com/login")),
        ("invite_member_email_expiration_minutes", json!(60)),
        ("logo", json!("https://shop.example.com/logo.png")),
        ("service_providers", json!(["sp-1"])),
        ("created_by", json!(app.admin.client_id)),
    ] {
        assert_eq!(r[field], expected, "{field}: {r}");
    }
    assert_eq!(r["custom_domain"]["domain"], "shop.example.com");
    let app_id = r["app_id"].as_str().unwrap().to_owned();
    // The default client's secret, shown this once, works.
    let default_client = credentials(&r);
    app.token_for(&default_client).await;

    let one = format!("{APPS}/{app_id}");
    let got = checked(&app, "getAppById", (Method::GET, &one), &admin, None).await;
    assert_eq!(got.status, 200);
    let got = got.json()["result"].clone();
    assert_eq!(got["client_id"], default_client.client_id.as_str());
    assert!(
        got.get("client_secret").is_none(),
        "a read shows no secret: {got}"
    );
    assert_eq!(
        got["refresh_token_invalidation_trigger_configuration"],
        vendor_app()["refresh_token_invalidation_trigger_configuration"]
    );

    let all = checked(&app, "getAllApps", (Method::GET, APPS), &admin, None).await;
    let names: Vec<Value> = all.json()["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["app_name"].clone())
        .collect();
    assert_eq!(names, [json!("Management"), json!("Shop")]);
    assert!(!all.text.contains(&default_client.client_secret));
    let basic = checked(
        &app,
        "getAppsList",
        (Method::GET, "/v1/applications/list"),
        &admin,
        None,
    )
    .await;
    assert_eq!(basic.json()["result"][1]["app_id"], app_id.as_str());

    // PUT: what is given replaces (objects whole), what is left out stays;
    // the deprecated client fields change the default client.
    let updated = checked(
        &app,
        "updateApp",
        (Method::PUT, &one),
        &admin,
        Some(json!({
            "app_name": "Shop 2",
            "redirect_uris": ["https://shop2.example.com/cb"],
            "refresh_token_invalidation_trigger_configuration": {"invalidateOnMemberRoleUpdate": false},
        })),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let u = updated.json()["result"].clone();
    assert_eq!(u["app_name"], "Shop 2");
    assert_eq!(u["app_description"], "Our web shop");
    assert_eq!(u["logo"], "https://shop.example.com/logo.png");
    assert_eq!(u["redirect_uris"], json!(["https://shop2.example.com/cb"]));
    assert_eq!(u["client_display_name"], "Shop web");
    assert_eq!(
        u["refresh_token_invalidation_trigger_configuration"],
        json!({"invalidateOnMemberRoleUpdate": false})
    );
    let client = call(
        &app,
        Method::GET,
        &format!("{one}/clients/{}", default_client.client_id),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        client.json()["redirect_uris"],
        json!(["https://shop2.example.com/cb"])
    );

    let missing = checked(
        &app,
        "updateApp",
        (Method::PUT, &format!("{APPS}/nope")),
        &admin,
        Some(json!({"app_name": "x"})),
    )
    .await;
    assert_eq!(missing.status, 404);
}

#[actix_web::test]
async fn settings_idstore_cannot_honour_are_refused_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for (change, says) in [
        (
            json!({"first_client_authentication_protocol": "saml"}),
            "SAML",
        ),
        (
            json!({"authenticator_preferences": {"is_centralized": true, "login_uri": "https://hub.example"}}),
            "authentication hub",
        ),
        (json!({"signing_key_enabled": true}), "signing keys"),
        (
            json!({"pkce": "enforcePkceAlongsideClientCredentials"}),
            "pkce",
        ),
        (
            json!({"client_auth_method": "private_key_jwt"}),
            "client_auth_method",
        ),
        (
            json!({"device_authorization": {"enabled": true, "approval_uri": "https://a", "success_uri": "https://a", "input_uri": "https://a"}}),
            "device_authorization",
        ),
        (
            json!({"redirect_uris": ["https://shop.example.com/#fragment"]}),
            "redirect_uris",
        ),
        (json!({"name": "Shop"}), "unknown field `name`"),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "redirect_uris",
        ),
        (json!({"logo": "data:image/png;base64,AAAA"}), "logo"),
        (json!({"app_name": ""}), "app_name"),
    ] {
        let mut body = vendor_app();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = checked(&app, "createApp", (Method::POST, APPS), &admin, Some(body)).await;
        assert_eq!(res.status, 400, "{change}: {}", res.text);
        assert!(res.text.contains(says), "{change}: {}", res.text);
    }
    let all = call(&app, Method::GET, APPS, &admin, None).await;
    assert_eq!(
        all.json()["result"].as_array().unwrap().len(),
        1,
        "{}",
        all.text
    );
}

#[actix_web::test]
async fn an_update_changes_the_default_client_only_when_asked_and_says_when_there_is_none() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (app_id, client) = app.create_app(&admin, "quiet").await;
    let one = format!("{APPS}/{app_id}");
    let client_path = format!("{one}/clients/{}", client.client_id);
    let before = call(&app, Method::GET, &client_path, &admin, None)
        .await
        .json();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let renamed = checked(
        &app,
        "updateApp",
        (Method::PUT, &one),
        &admin,
        Some(json!({"app_name": "loud"})),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    let after = call(&app, Method::GET, &client_path, &admin, None)
        .await
        .json();
    assert_eq!(
        before["updated_at"], after["updated_at"],
        "a rename left the client alone"
    );

    call(
        &app,
        Method::DELETE,
        &format!("{one}/clients"),
        &admin,
        None,
    )
    .await;
    let res = checked(
        &app,
        "updateApp",
        (Method::PUT, &one),
        &admin,
        Some(json!({"redirect_uris": ["https://a.example/cb"]})),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.text.contains("no client"), "{}", res.text);
    let res = checked(
        &app,
        "updateApp",
        (Method::PUT, &one),
        &admin,
        Some(json!({"app_description": "still fine", "first_client_authentication_protocol": "oidc"})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
}

#[actix_web::test]
async fn first_client_makes_the_default_client_with_its_own_settings() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let res = checked(
        &app,
        "createApp",
        (Method::POST, APPS),
        &admin,
        Some(json!({
            "app_name": "API",
            "first_client_authentication_protocol": "oidc",
            "first_client": {"name": "api", "redirect_uris": [], "token_expiration": {"access_token_ttl": 60}},
        })),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let r = res.json()["result"].clone();
    assert_eq!(r["client_display_name"], "api");
    let token = app
        .token_request(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", r["client_id"].as_str().unwrap()),
                ("client_secret", r["client_secret"].as_str().unwrap()),
            ],
            None,
        )
        .await;
    assert_eq!(token.json()["expires_in"], 60, "{}", token.text);
}

#[actix_web::test]
async fn clients_are_created_read_updated_and_deleted_in_the_vendors_shapes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (app_id, default_client) = app.create_app(&admin, "crm").await;
    let clients = format!("{APPS}/{app_id}/clients");

    let body = json!({
        "name": "batch", "description": "nightly jobs",
        "redirect_uris": ["https://crm.example.com/cb"],
        "resources": ["https://reports.example.com"],
        "client_type": "native", "default_custom_claims": ["email", "roles"],
        "supported_prompts": ["login"], "session_expiration": 3600,
        "token_expiration": {"access_token_ttl": 600, "refresh_token_ttl": 86400},
        "device_authorization": {"enabled": false},
        "enforce_par": false, "is_third_party": false, "role_ids": [],
    });
    let created = checked(
        &app,
        "createAppClient",
        (Method::POST, &clients),
        &admin,
        Some(body),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let c = created.json();
    for (field, expected) in [
        ("name", json!("batch")),
        ("description", json!("nightly jobs")),
        ("app_id", json!(app_id)),
        ("redirect_uris", json!(["https://crm.example.com/cb"])),
        ("resources", json!(["https://reports.example.com"])),
        ("client_type", json!("native")),
        ("default_custom_claims", json!(["email", "roles"])),
        ("session_expiration", json!(3600)),
        (
            "token_expiration",
            json!({"access_token_ttl": 600, "refresh_token_ttl": 86400}),
        ),
    ] {
        assert_eq!(c[field], expected, "{field}: {c}");
    }
    let batch = credentials(&c);
    let token = app.authenticate(&batch).await;
    assert_eq!(token.json()["expires_in"], 600, "{}", token.text);

    let one = format!("{clients}/{}", batch.client_id);
    let got = checked(&app, "getAppClientById", (Method::GET, &one), &admin, None).await;
    assert_eq!(got.status, 200);
    assert!(got.json().get("client_secret").is_none(), "{}", got.text);
    assert_eq!(got.json()["name"], "batch");
    let listed = checked(&app, "getAppClients", (Method::GET, &clients), &admin, None).await;
    let ids: Vec<String> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        [default_client.client_id.clone(), batch.client_id.clone()]
    );
    assert!(!listed.text.contains(&batch.client_secret));

    let updated = checked(
        &app,
        "updateAppClient",
        (Method::PUT, &one),
        &admin,
        Some(json!({"redirect_uris": [], "token_expiration": {"max_refresh_rotate": 3}})),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let u = updated.json();
    assert_eq!(u["redirect_uris"], json!([]));
    assert_eq!(u["description"], "nightly jobs", "left out, kept");
    // The object was replaced whole: its lifetime is the server's again.
    assert_eq!(
        u["token_expiration"],
        json!({"access_token_ttl": 3600, "max_refresh_rotate": 3})
    );
    assert_eq!(app.authenticate(&batch).await.json()["expires_in"], 3600);

    let refused = checked(
        &app,
        "updateAppClient",
        (Method::PUT, &one),
        &admin,
        Some(json!({"enforce_par": true})),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert!(refused.text.contains("enforce_par"), "{}", refused.text);

    let gone = checked(
        &app,
        "deleteAppClient",
        (Method::DELETE, &one),
        &admin,
        None,
    )
    .await;
    assert_eq!(gone.status, 204);
    let res = checked(&app, "getAppClientById", (Method::GET, &one), &admin, None).await;
    assert_eq!(res.status, 404);
    assert_eq!(app.authenticate(&batch).await.status, 401);
    let res = checked(
        &app,
        "deleteAppClient",
        (Method::DELETE, &one),
        &admin,
        None,
    )
    .await;
    assert_eq!(res.status, 404);

    let all_gone = checked(
        &app,
        "deleteAppClients",
        (Method::DELETE, &clients),
        &admin,
        None,
    )
    .await;
    assert_eq!(all_gone.status, 204);
    let listed = checked(&app, "getAppClients", (Method::GET, &clients), &admin, None).await;
    assert_eq!(listed.json(), json!([]));
    assert_eq!(app.authenticate(&default_client).await.status, 401);
    // The application stays, without a default client.
    let res = checked(
        &app,
        "getAppById",
        (Method::GET, &format!("{APPS}/{app_id}")),
        &admin,
        None,
    )
    .await;
    assert!(
        res.json()["result"].get("client_id").is_none(),
        "{}",
        res.text
    );

    let nowhere = checked(
        &app,
        "createAppClient",
        (Method::POST, &format!("{APPS}/nope/clients")),
        &admin,
        Some(json!({"name": "x", "redirect_uris": []})),
    )
    .await;
    assert_eq!(nowhere.status, 404);
    let nameless = checked(
        &app,
        "createAppClient",
        (Method::POST, &clients),
        &admin,
        Some(json!({"redirect_uris": []})),
    )
    .await;
    assert_eq!(nameless.status, 400);
}

#[actix_web::test]
async fn the_management_application_keeps_its_last_client() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let all = call(&app, Method::GET, APPS, &admin, None).await;
    let mgmt = all.json()["result"][0]["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let clients = format!("{APPS}/{mgmt}/clients");
    for (operation, path) in [
        ("deleteAppClients", clients.clone()),
        (
            "deleteAppClient",
            format!("{clients}/{}", app.admin.client_id),
        ),
    ] {
        let res = checked(&app, operation, (Method::DELETE, &path), &admin, None).await;
        assert_eq!(res.status, 400, "{operation}: {}", res.text);
        assert!(res.text.contains("at least one client"), "{}", res.text);
    }
    app.admin_token().await;
    // With a second admin client, the first may go.
    let (second, _) = app
        .create_client(&admin, &mgmt, &json!({"name": "ops", "redirect_uris": []}))
        .await;
    let res = call(
        &app,
        Method::DELETE,
        &format!("{clients}/{}", app.admin.client_id),
        &admin,
        None,
    )
    .await;
    assert_eq!(res.status, 204, "{}", res.text);
    let ops = app.token_for(&second).await;
    assert_eq!(call(&app, Method::GET, APPS, &ops, None).await.status, 200);
}

#[actix_web::test]
async fn a_five_second_client_token_works_until_it_expires() {
    let app = TestApp::spawn_with(|c| c.token_leeway = 1).await;
    let admin = app.admin_token().await;
    let (app_id, _) = app.create_app(&admin, "short").await;
    let (client, c) = app
        .create_client(&admin, &app_id, &json!({"name": "quick", "redirect_uris": [], "token_expiration": {"access_token_ttl": 5}}))
        .await;
    assert_eq!(c["token_expiration"]["access_token_ttl"], 5);
    let issued = app.authenticate(&client).await;
    assert_eq!(issued.json()["expires_in"], 5, "{}", issued.text);
    let token = issued.json()["access_token"].as_str().unwrap().to_owned();
    let claims = idstore_tests::tokens::read_claims(&token);
    assert_eq!(claims.exp - claims.iat, 5);
    assert_eq!(
        app.with_token(Method::GET, "/v1/users", &token)
            .await
            .status,
        200
    );

    // Past `exp` plus the one-second leeway, with a second to spare.
    let wait = (claims.exp + 2 - chrono::Utc::now().timestamp()).max(0) as u64;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let res = app.with_token(Method::GET, "/v1/users", &token).await;
    assert_eq!(res.status, 401, "{}", res.text);

    for ttl in [json!(0), json!(3601), json!(2.5)] {
        let res = call(
            &app,
            Method::POST,
            &format!("{APPS}/{app_id}/clients"),
            &admin,
            Some(json!({"name": "x", "redirect_uris": [], "token_expiration": {"access_token_ttl": ttl}})),
        )
        .await;
        assert_eq!(res.status, 400, "{ttl}: {}", res.text);
        assert!(res.text.contains("access_token_ttl"), "{}", res.text);
    }
}

#[actix_web::test]
async fn roles_answer_in_the_vendors_api_role_shape() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (app_id, _) = app.create_app(&admin, "docs").await;
    let roles = format!("{APPS}/{app_id}/roles");
    let created = call(
        &app,
        Method::POST,
        &roles,
        &admin,
        Some(
            json!({"role_name": "editor", "display_name": "Editor", "description": "edits",
                    "permissions": ["docs:edit"]}),
        ),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let role = created.json()["result"].clone();
    idstore_spec().check_schema("ApiRole", &role).unwrap();
    assert_eq!(
        (&role["role_name"], &role["display_name"], &role["app_id"]),
        (&json!("editor"), &json!("Editor"), &json!(app_id))
    );
    call(
        &app,
        Method::POST,
        &roles,
        &admin,
        Some(json!({"role_name": "viewer"})),
    )
    .await;
    let listed = call(&app, Method::GET, &roles, &admin, None).await;
    for role in listed.json()["result"].as_array().unwrap() {
        idstore_spec().check_schema("ApiRole", role).unwrap();
    }
    assert_eq!(listed.json()["result"][1]["display_name"], "viewer");
    let old_shape = call(
        &app,
        Method::POST,
        &roles,
        &admin,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(old_shape.status, 400, "{}", old_shape.text);
}

#[actix_web::test]
async fn another_tenants_admin_finds_none_of_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (app_id, client) = app.create_app(&admin, "mine").await;
    let (_, theirs) = app.second_tenant("other").await;
    for (method, path, body) in [
        (Method::GET, format!("{APPS}/{app_id}"), None),
        (
            Method::PUT,
            format!("{APPS}/{app_id}"),
            Some(json!({"app_name": "taken"})),
        ),
        (Method::GET, format!("{APPS}/{app_id}/clients"), None),
        (
            Method::GET,
            format!("{APPS}/{app_id}/clients/{}", client.client_id),
            None,
        ),
        (
            Method::PUT,
            format!("{APPS}/{app_id}/clients/{}", client.client_id),
            Some(json!({"name": "taken"})),
        ),
        (
            Method::DELETE,
            format!("{APPS}/{app_id}/clients/{}", client.client_id),
            None,
        ),
        (Method::DELETE, format!("{APPS}/{app_id}/clients"), None),
        (
            Method::POST,
            format!("{APPS}/{app_id}/clients"),
            Some(json!({"name": "x", "redirect_uris": []})),
        ),
        (Method::DELETE, format!("{APPS}/{app_id}"), None),
    ] {
        let res = call(&app, method.clone(), &path, &theirs, body).await;
        assert_eq!(res.status, 404, "{method} {path}: {}", res.text);
    }
    app.token_for(&client).await;
    let mine = call(&app, Method::GET, &format!("{APPS}/{app_id}"), &admin, None).await;
    assert_eq!(mine.json()["result"]["app_name"], "mine");
}
