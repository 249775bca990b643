//! The permission matrix: every registered route, called with every kind
//! of token. The routes come from the API's own table (each with the
//! policy its handler's signature demands), so a route added anywhere is
//! tested here, and one whose policy has no row below fails.

use actix_web::http::Method;
use idstore_auth::principal::TokenKind;
use idstore_tests::TestApp;
use idstore_tests::tokens::{claims_like, read_claims, sign, signing_key};
use serde_json::json;

const ADMIN: &[TokenKind] = &[TokenKind::Admin];
const ADMIN_OR_CLIENT: &[TokenKind] = &[TokenKind::Admin, TokenKind::Client];
const USER: &[TokenKind] = &[TokenKind::User, TokenKind::OrgAdmin];
const ADMIN_OR_ORG: &[TokenKind] = &[TokenKind::Admin, TokenKind::OrgAdmin];
const ADMIN_CLIENT_OR_ORG: &[TokenKind] =
    &[TokenKind::Admin, TokenKind::Client, TokenKind::OrgAdmin];

/// Who each policy admits.
const POLICIES: &[(&str, &[TokenKind])] = &[
    ("AppsCreate", ADMIN),
    ("AppsList", ADMIN),
    ("AppsListBasic", ADMIN),
    ("ClientsWrite", ADMIN),
    ("ClientsDelete", ADMIN),
    ("AppsRead", ADMIN),
    ("AppsDelete", ADMIN),
    ("AppsEdit", ADMIN),
    ("RolesCreate", ADMIN),
    ("RolesRead", ADMIN),
    ("RolesDelete", ADMIN),
    ("GroupsCreate", ADMIN),
    ("GroupsList", ADMIN),
    ("GroupsRead", ADMIN),
    ("GroupsEdit", ADMIN),
    ("GroupsDelete", ADMIN),
    ("UserGroupsRead", ADMIN_OR_CLIENT),
    ("OrgsCreate", ADMIN_OR_ORG),
    ("OrgsList", ADMIN_OR_ORG),
    ("OrgsRead", ADMIN_OR_ORG),
    ("OrgsEdit", ADMIN_OR_ORG),
    ("OrgAppsEdit", ADMIN),
    ("OrgsDelete", ADMIN),
    ("MembersCreate", ADMIN_OR_ORG),
    ("MembersRead", ADMIN_CLIENT_OR_ORG),
    ("MembersEdit", ADMIN_OR_ORG),
    ("MembersDelete", ADMIN_CLIENT_OR_ORG),
    ("RoleGroupsCreate", ADMIN),
    ("RoleGroupsRead", ADMIN),
    ("RoleGroupsDelete", ADMIN),
    ("UsersCount", ADMIN_OR_CLIENT),
    ("UsersCreate", ADMIN_OR_CLIENT),
    ("UsersList", ADMIN_OR_CLIENT),
    ("UsersRead", ADMIN_OR_CLIENT),
    ("UsersEdit", ADMIN_OR_CLIENT),
    ("UsersDelete", ADMIN),
    ("AuditRead", ADMIN),
    ("PasswordAdd", ADMIN_OR_CLIENT),
    ("PasswordUpdate", ADMIN_OR_CLIENT),
    ("PasswordPolicyRead", ADMIN),
    ("PasswordPolicyEdit", ADMIN),
    ("PasswordLogin", ADMIN_OR_CLIENT),
    ("UsersUnlock", ADMIN),
    ("Me", USER),
];

/// The routes open without a token; any other route without a policy is
/// a handler that lost its `Authorized<P>`.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/oidc/token"),
    ("GET", "/oidc/jwks"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/{file:.*}"),
];

/// Values for placeholders that name no resource the test creates.
const VALUES: &[(&str, &str)] = &[
    ("{email}", "a@x.io"),
    ("{phone_number}", "+12125550100"),
    ("{username}", "u1"),
    ("{external_user_id}", "e1"),
    ("{file:.*}", "index.html"),
    ("{key_id}", "k1"),
    // An invitation's id reaches the handler's body (a 404 for it, or
    // without a mail transport a 400 for a resend).
    ("{invitation_id}", "i1"),
];

/// Query strings routes need to reach their handler's body.
const QUERIES: &[(&str, &str)] = &[(
    "/v1/users/identifier",
    "?identifier_name=email&identifier_value=a%40x.io",
)];

fn admitted(policy: &str) -> &'static [TokenKind] {
    POLICIES
        .iter()
        .find(|(name, _)| *name == policy)
        .map(|(_, kinds)| *kinds)
        .unwrap_or_else(|| panic!("policy {policy} has no row in POLICIES: say who it admits"))
}

#[test]
fn every_policy_row_names_a_policy_some_route_uses() {
    let table = idstore_api::route_table();
    for (name, _) in POLICIES {
        assert!(
            table.iter().any(|r| r.policy == Some(*name)),
            "POLICIES lists {name}, which no route uses"
        );
    }
}

#[test]
fn only_the_known_public_routes_are_open_without_a_token() {
    let mut open: Vec<(String, &str)> = idstore_api::route_table()
        .into_iter()
        .filter(|r| r.policy.is_none())
        .map(|r| (r.method.to_string(), r.path))
        .collect();
    open.sort();
    let mut expected: Vec<(String, &str)> =
        PUBLIC.iter().map(|(m, p)| ((*m).to_owned(), *p)).collect();
    expected.sort();
    assert_eq!(open, expected);
}

#[test]
fn the_route_table_holds_every_route_once() {
    let table = idstore_api::route_table();
    assert!(table.len() >= 40, "{} routes", table.len());
    for (i, r) in table.iter().enumerate() {
        assert!(
            !table[..i]
                .iter()
                .any(|o| o.method == r.method && o.path == r.path),
            "{} {} registered twice",
            r.method,
            r.path
        );
    }
}

#[actix_web::test]
async fn every_route_admits_exactly_the_token_kinds_its_policy_allows() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, shop_client) = app.create_app(&admin, "shop").await;
    let client = app.token_for(&shop_client).await;
    let template = read_claims(&admin);
    let (kid, private) = signing_key(&mut app.db.connect().await, &app.kek, &template.tid).await;
    // User and org-admin tokens, even claiming admin scope, hold no
    // management permission; an org admin holds its organization's
    // (a creator's, every one: the targets are other organizations).
    let user = sign(&claims_like(&template, TokenKind::User), &kid, &private);
    let org = app.new_org(&admin, "matrix-home").await;
    let mut org_claims = claims_like(&template, TokenKind::OrgAdmin);
    org_claims.scope = format!("{} org:read org:edit org:create", template.scope);
    org_claims.org_id = Some(org);
    let org_admin = sign(&org_claims, &kid, &private);
    let tokens = [
        (TokenKind::Admin, admin.clone()),
        (TokenKind::Client, client),
        (TokenKind::User, user),
        (TokenKind::OrgAdmin, org_admin),
    ];

    for route in idstore_api::route_table() {
        let method: Method = route.method.clone();
        let pattern = with_query(route.path);
        let body = json!({"name": "matrix"});
        let Some(policy) = route.policy else {
            let res = app
                .call(method.clone(), &fixed(&pattern), None, Some(&body))
                .await;
            assert!(
                ![401, 403, 404, 405].contains(&res.status.as_u16()),
                "{method} {pattern} should be public: {} {}",
                res.status,
                res.text
            );
            continue;
        };
        let kinds = admitted(policy);
        let res = app
            .call(
                method.clone(),
                &fresh_target(&app, &admin, &pattern).await,
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
            let path = fresh_target(&app, &admin, &pattern).await;
            let res = app
                .call(method.clone(), &path, Some(token), Some(&body))
                .await;
            let status = res.status.as_u16();
            if kinds.contains(kind) {
                assert!(
                    ![401, 403].contains(&status),
                    "{kind:?} refused on {method} {pattern} ({policy}): {}",
                    res.text
                );
                assert!(status < 500, "{method} {pattern}: {}", res.text);
            } else {
                assert_eq!(
                    status, 403,
                    "{kind:?} on {method} {pattern} ({policy}): {}",
                    res.text
                );
            }
        }
    }
}

fn with_query(path: &str) -> String {
    let query = QUERIES
        .iter()
        .find(|(p, _)| *p == path)
        .map_or("", |(_, q)| *q);
    format!("{path}{query}")
}

/// `pattern` with the placeholders that name no created resource filled in.
fn fixed(pattern: &str) -> String {
    VALUES
        .iter()
        .fold(pattern.to_owned(), |path, (name, value)| {
            path.replace(name, value)
        })
}

/// `pattern` with its placeholders bound to a new app, client, role, group
/// and user; the user is a member of the group.
async fn fresh_target(app: &TestApp, admin: &str, pattern: &str) -> String {
    let pattern = fixed(pattern);
    if !pattern.contains('{') {
        return pattern;
    }
    let (app_id, client) = app
        .create_app(admin, &format!("target-{}", idstore_domain::id::new_id()))
        .await;
    let role = app
        .with_body(
            Method::POST,
            &format!("/v1/applications/{app_id}/roles"),
            admin,
            &json!({"role_name": "r"}),
        )
        .await;
    let role_id = role.json()["result"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut path = pattern
        .replace("{app_id}", &app_id)
        .replace("{client_id}", &client.client_id)
        .replace("{role_id}", &role_id);
    if path.contains("{member_id}") {
        let member = fresh_user(app, admin).await;
        path = path.replace("{member_id}", &member);
    }
    let user_id = if path.contains("{user_id}") {
        Some(fresh_user(app, admin).await)
    } else {
        None
    };
    if path.contains("{organization_id}") || path.contains("{organization_name}") {
        let name = format!("target-{}", idstore_domain::id::new_id());
        let org_id = app.new_org(admin, &name).await;
        path = path
            .replace("{organization_id}", &org_id)
            .replace("{organization_name}", &name);
    }
    if path.contains("{group_id}") {
        let group_id = fresh_group(app, admin, user_id.as_deref()).await;
        path = path.replace("{group_id}", &group_id);
    }
    let path = match user_id {
        Some(user_id) => path.replace("{user_id}", &user_id),
        None => path,
    };
    assert!(!path.contains('{'), "no value for a placeholder in {path}");
    path
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
        .with_body(
            Method::POST,
            "/v1/admin/groups",
            admin,
            &json!({"name": name}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let group_id = res.json()["result"]["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    if let Some(user_id) = member {
        let res = app
            .with_body(
                Method::POST,
                &format!("/v1/admin/groups/{group_id}/members"),
                admin,
                &json!({"user_ids": [user_id]}),
            )
            .await;
        assert_eq!(res.status, 204, "{}", res.text);
    }
    group_id
}
