//! The permission matrix: every route, called with every kind of token.
//! A route added anywhere joins `ROUTES`.

use actix_web::http::Method;
use idstore_auth::principal::TokenKind;
use idstore_tests::TestApp;
use idstore_tests::tokens::{claims_like, read_claims, sign, signing_key};
use serde_json::json;

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Allowed {
    /// Anyone, without a token.
    Public,
    Kinds(&'static [TokenKind]),
}

const ADMIN: Allowed = Allowed::Kinds(&[TokenKind::Admin]);
const ADMIN_OR_CLIENT: Allowed = Allowed::Kinds(&[TokenKind::Admin, TokenKind::Client]);

/// (method, path with `{app}`, `{client}`, `{role}`, `{group}`, `{user}` placeholders, who).
const ROUTES: &[(&str, &str, Allowed)] = &[
    ("GET", "/healthz", Allowed::Public),
    ("GET", "/readyz", Allowed::Public),
    ("GET", "/oidc/jwks", Allowed::Public),
    ("GET", "/.well-known/openid-configuration", Allowed::Public),
    ("POST", "/oidc/token", Allowed::Public),
    ("POST", "/v1/applications", ADMIN),
    ("GET", "/v1/applications", ADMIN),
    ("GET", "/v1/applications/{app}", ADMIN),
    ("DELETE", "/v1/applications/{app}", ADMIN),
    ("POST", "/v1/applications/{app}/clients", ADMIN),
    ("GET", "/v1/applications/{app}/clients", ADMIN),
    ("DELETE", "/v1/applications/{app}/clients/{client}", ADMIN),
    (
        "POST",
        "/v1/admin/applications/{app}/clients/{client}/rotate-secret",
        ADMIN,
    ),
    ("POST", "/v1/applications/{app}/roles", ADMIN),
    ("GET", "/v1/applications/{app}/roles", ADMIN),
    ("DELETE", "/v1/applications/{app}/roles/{role}", ADMIN),
    ("POST", "/v1/admin/groups", ADMIN),
    ("GET", "/v1/admin/groups", ADMIN),
    ("GET", "/v1/admin/groups/{group}", ADMIN),
    ("DELETE", "/v1/admin/groups/{group}", ADMIN),
    ("POST", "/v1/admin/groups/{group}/members", ADMIN),
    ("DELETE", "/v1/admin/groups/{group}/members/{user}", ADMIN),
    ("GET", "/v1/users/{user}/groups", ADMIN_OR_CLIENT),
    ("GET", "/v1/users/count", ADMIN_OR_CLIENT),
    ("POST", "/v1/users", ADMIN_OR_CLIENT),
    ("GET", "/v1/users", ADMIN_OR_CLIENT),
    (
        "GET",
        "/v1/users/identifier?identifier_name=email&identifier_value=a%40x.io",
        ADMIN_OR_CLIENT,
    ),
    ("GET", "/v1/users/{user}", ADMIN_OR_CLIENT),
    ("PUT", "/v1/users/{user}", ADMIN_OR_CLIENT),
    ("GET", "/v1/users/email/a@x.io", ADMIN_OR_CLIENT),
    ("GET", "/v1/users/external-user-id/e1", ADMIN_OR_CLIENT),
    ("GET", "/v1/users/username/u1", ADMIN_OR_CLIENT),
    (
        "GET",
        "/v1/users/phone-number/+12125550100",
        ADMIN_OR_CLIENT,
    ),
    ("GET", "/v1/users/phone/+12125550100", ADMIN_OR_CLIENT),
    ("DELETE", "/v1/users/{user}/apps", ADMIN_OR_CLIENT),
    ("DELETE", "/v1/users/{user}/emails/a@x.io", ADMIN_OR_CLIENT),
    (
        "DELETE",
        "/v1/users/{user}/phone-numbers/+12125550100",
        ADMIN_OR_CLIENT,
    ),
    (
        "POST",
        "/v1/users/{user}/emails/a@x.io/verify",
        ADMIN_OR_CLIENT,
    ),
    (
        "POST",
        "/v1/users/{user}/phone-numbers/+12125550100/verify",
        ADMIN_OR_CLIENT,
    ),
    ("DELETE", "/v1/manage/users/{user}", ADMIN),
];

#[actix_web::test]
async fn every_route_admits_exactly_the_token_kinds_it_allows() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, shop_client) = app.create_app(&admin, "shop").await;
    let client = app.token_for(&shop_client).await;
    let template = read_claims(&admin);
    let (kid, private) = signing_key(&mut app.db.connect().await, &app.kek, &template.tid).await;
    // User and org-admin tokens, even claiming admin scope, hold no management permission.
    let user = sign(&claims_like(&template, TokenKind::User), &kid, &private);
    let org_admin = sign(&claims_like(&template, TokenKind::OrgAdmin), &kid, &private);
    let tokens = [
        (TokenKind::Admin, admin.clone()),
        (TokenKind::Client, client),
        (TokenKind::User, user),
        (TokenKind::OrgAdmin, org_admin),
    ];

    for &(method, pattern, allowed) in ROUTES {
        let method: Method = method.parse().unwrap();
        let body = json!({"name": "matrix"});
        match allowed {
            Allowed::Public => {
                let res = app.call(method.clone(), pattern, None, Some(&body)).await;
                assert!(
                    ![401, 403, 404, 405].contains(&res.status.as_u16()),
                    "{method} {pattern} should be public: {} {}",
                    res.status,
                    res.text
                );
            }
            Allowed::Kinds(kinds) => {
                let res = app
                    .call(
                        method.clone(),
                        &fresh_target(&app, &admin, pattern).await,
                        None,
                        Some(&body),
                    )
                    .await;
                assert_eq!(
                    res.status, 401,
                    "{method} {pattern} without a token: {}",
                    res.text
                );
                for (kind, token) in &tokens {
                    // Each call gets its own target: an allowed DELETE must not starve the next.
                    let path = fresh_target(&app, &admin, pattern).await;
                    let res = app
                        .call(method.clone(), &path, Some(token), Some(&body))
                        .await;
                    let status = res.status.as_u16();
                    if kinds.contains(kind) {
                        assert!(
                            ![401, 403].contains(&status),
                            "{kind:?} refused on {method} {pattern}: {}",
                            res.text
                        );
                        assert!(status < 500, "{method} {pattern}: {}", res.text);
                    } else {
                        assert_eq!(status, 403, "{kind:?} on {method} {pattern}: {}", res.text);
                    }
                }
            }
        }
    }
}

/// `pattern` with its placeholders bound to a new app, client, role, group
/// and user; the user is a member of the group.
async fn fresh_target(app: &TestApp, admin: &str, pattern: &str) -> String {
    if !pattern.contains('{') {
        return pattern.to_owned();
    }
    let (app_id, client) = app
        .create_app(admin, &format!("target-{}", idstore_domain::id::new_id()))
        .await;
    let role = app
        .call(
            Method::POST,
            &format!("/v1/applications/{app_id}/roles"),
            Some(admin),
            Some(&json!({"name": "r"})),
        )
        .await;
    let role_id = role.json()["result"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut path = pattern
        .replace("{app}", &app_id)
        .replace("{client}", &client.client_id)
        .replace("{role}", &role_id);
    let user_id = if path.contains("{user}") {
        Some(fresh_user(app, admin).await)
    } else {
        None
    };
    if path.contains("{group}") {
        let group_id = fresh_group(app, admin, user_id.as_deref()).await;
        path = path.replace("{group}", &group_id);
    }
    match user_id {
        Some(user_id) => path.replace("{user}", &user_id),
        None => path,
    }
}

/// A user made in SQL, in the admin's tenant.
async fn fresh_user(app: &TestApp, admin: &str) -> String {
    let user_id = idstore_domain::id::new_id();
    sqlx::query(
        "INSERT INTO users (tenant_id, user_id, email, email_normalized) VALUES ($1, $2, $3, $3)",
    )
    .bind(read_claims(admin).tid)
    .bind(&user_id)
    .bind(format!("{user_id}@example.com"))
    .execute(&mut app.db.connect().await)
    .await
    .unwrap();
    user_id
}

/// A group made over the API, with `member` in it when given.
async fn fresh_group(app: &TestApp, admin: &str, member: Option<&str>) -> String {
    let name = format!("target-{}", idstore_domain::id::new_id());
    let res = app
        .call(
            Method::POST,
            "/v1/admin/groups",
            Some(admin),
            Some(&json!({"name": name})),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let group_id = res.json()["result"]["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    if let Some(user_id) = member {
        let res = app
            .call(
                Method::POST,
                &format!("/v1/admin/groups/{group_id}/members"),
                Some(admin),
                Some(&json!({"user_ids": [user_id]})),
            )
            .await;
        assert_eq!(res.status, 204, "{}", res.text);
    }
    group_id
}
