//! OrgAdminAccessTokens: a member holding the organizationAdmin role (of
//! the application it signs in to) gets one when it signs in to its
//! organization, and acts inside that organization only; an
//! organizationCreator may also create organizations, and becomes their
//! admin.

use actix_web::http::Method;
use idstore_auth::principal::TokenKind;
use idstore_tests::login::{LoginApp, PASSWORD, code_of};
use idstore_tests::spec::answered_as;
use idstore_tests::tokens::read_claims;
use idstore_tests::{TestApp, TestResponse};
use serde_json::{Value, json};

/// Two organizations of one application, each with a role group holding
/// the application's organizationAdmin, organizationCreator and buyer
/// roles, and members: `ann` (organizationAdmin) and `bob` (buyer) in A,
/// `carl` (organizationCreator) in A, `cat` (buyer) in B.
struct World {
    shop: LoginApp,
    org_a: String,
    org_b: String,
    group: String,
    roles: Roles,
    bob: String,
    cat: String,
}

struct Roles {
    admin: String,
    creator: String,
    buyer: String,
}

async fn role(app: &TestApp, admin: &str, app_id: &str, name: &str) -> String {
    let res = app
        .with_body(
            Method::POST,
            &format!("/v1/applications/{app_id}/roles"),
            admin,
            &json!({"role_name": name}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.json()["result"]["role_id"].as_str().unwrap().to_owned()
}

async fn member(app: &TestApp, admin: &str, org: &str, email: &str, roles: &[&str]) -> String {
    let user = app.user_with_password(admin, email, PASSWORD).await;
    let res = app
        .with_body(
            Method::POST,
            &format!("/v1/organizations/{org}/members"),
            admin,
            &json!({"email": email, "role_ids": roles}),
        )
        .await;
    answered_as("createMember", &res, 200);
    user
}

async fn world(app: &TestApp, admin: &str) -> World {
    let shop = app.login_app(admin, "shop").await;
    let org_admin = role(app, admin, &shop.app_id, "organizationAdmin").await;
    let creator = role(app, admin, &shop.app_id, "organizationCreator").await;
    let buyer = role(app, admin, &shop.app_id, "buyer").await;
    let res = app
        .with_body(
            Method::POST,
            &format!("/v1/applications/{}/role-groups", shop.app_id),
            admin,
            &json!({"name": "staff", "role_ids": [org_admin, creator, buyer]}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let group = res.json()["result"]["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut orgs = Vec::new();
    for name in ["Acme", "Bolt"] {
        let body = json!({"name": name, "domains": [], "app_ids": [shop.app_id]});
        let res = app
            .with_body(Method::POST, "/v1/organizations", admin, &body)
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        let org = res.json()["result"]["organization_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let res = app
            .with_body(
                Method::POST,
                &format!(
                    "/v1/applications/{}/organizations/{org}/role-groups/set",
                    shop.app_id
                ),
                admin,
                &json!({"role_group_ids": [group]}),
            )
            .await;
        answered_as("setAssignedRoleGroups", &res, 202);
        orgs.push(org);
    }
    let (org_a, org_b) = (orgs[0].clone(), orgs[1].clone());
    member(app, admin, &org_a, "ann@example.com", &[&org_admin]).await;
    let bob = member(app, admin, &org_a, "bob@example.com", &[&buyer]).await;
    member(app, admin, &org_a, "carl@example.com", &[&creator]).await;
    let cat = member(app, admin, &org_b, "cat@example.com", &[&buyer]).await;
    World {
        shop,
        org_a,
        org_b,
        group,
        roles: Roles {
            admin: org_admin,
            creator,
            buyer,
        },
        bob,
        cat,
    }
}

/// The tokens of `email` signed in to `org`.
async fn sign_in(app: &TestApp, shop: &LoginApp, email: &str, org: &str) -> Value {
    let res = app
        .login_with(
            shop,
            json!({"email": email, "password": PASSWORD, "org_id": org}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app.exchange(shop, &code_of(&res)).await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.json()
}

fn access(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn an_organization_admin_manages_its_own_organization_and_nothing_else() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let w = world(&app, &admin).await;
    let tokens = sign_in(&app, &w.shop, "ann@example.com", &w.org_a).await;
    let ann = access(&tokens);
    let claims = read_claims(&ann);
    assert_eq!(claims.kind, TokenKind::OrgAdmin);
    assert_eq!(claims.org_id.as_deref(), Some(w.org_a.as_str()));
    assert_eq!(claims.roles, ["organizationAdmin"]);
    assert_eq!(claims.scope, "org:read org:edit");
    // A member without the role gets a user token.
    let bob_token = access(&sign_in(&app, &w.shop, "bob@example.com", &w.org_a).await);
    assert_eq!(read_claims(&bob_token).kind, TokenKind::User);

    let a = format!("/v1/organizations/{}", w.org_a);
    let ok = |res: &TestResponse, op: &str, status: u16| {
        answered_as(op, res, status);
    };
    ok(
        &app.with_token(Method::GET, &a, &ann).await,
        "getOrganization",
        200,
    );
    let listed = app.with_token(Method::GET, "/v1/organizations", &ann).await;
    let names: Vec<Value> = answered_as("getAllOrganizations", &listed, 200)["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].clone())
        .collect();
    assert_eq!(names, [json!("Acme")], "its own organization only");
    let res = app
        .with_body(Method::PUT, &a, &ann, &json!({"alias_name": "acme-co"}))
        .await;
    ok(&res, "updateOrganization", 200);
    let res = app
        .with_token(Method::GET, &format!("{a}/members"), &ann)
        .await;
    assert_eq!(
        answered_as("getMembers", &res, 200)["result"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let res = app
        .with_body(
            Method::POST,
            &format!("{a}/members"),
            &ann,
            &json!({"email": "dan@example.com", "role_ids": [w.roles.buyer]}),
        )
        .await;
    ok(&res, "createMember", 200);
    // Another user of the tenant is not pulled in (nor shown): taken.
    let res = app
        .with_body(
            Method::POST,
            &format!("{a}/members"),
            &ann,
            &json!({"email": "cat@example.com", "role_ids": []}),
        )
        .await;
    let body = answered_as("createMember", &res, 409);
    assert!(!body.to_string().contains(&w.cat), "{body}");
    let bob = format!("{a}/members/{}", w.bob);
    ok(
        &app.with_body(Method::PUT, &bob, &ann, &json!({"title": "Buyer"}))
            .await,
        "updateMember",
        200,
    );
    let roles = format!(
        "/v1/applications/{}/organizations/{}/members/{}/roles",
        w.shop.app_id, w.org_a, w.bob
    );
    let res = app
        .with_body(
            Method::POST,
            &roles,
            &ann,
            &json!({"role_ids": [w.roles.admin]}),
        )
        .await;
    ok(&res, "setMemberRoles", 204);
    // Not organizationCreator: an admin cannot make creators.
    let res = app
        .with_body(
            Method::POST,
            &roles,
            &ann,
            &json!({"role_ids": [w.roles.creator]}),
        )
        .await;
    ok(&res, "setMemberRoles", 400);
    let res = app
        .with_token(Method::GET, &format!("{a}/invitations"), &ann)
        .await;
    assert_eq!(res.status, 200, "{}", res.text);

    // Never: users' tenant profiles, deleting users, the tenant's lists,
    // the organization's applications, role groups or its deletion, or
    // creating organizations (a creator's).
    let profile = format!("/v1/users/{}", w.bob);
    let denied = [
        app.with_body(
            Method::PUT,
            &profile,
            &ann,
            &json!({"name": {"first_name": "X"}}),
        )
        .await,
        app.with_token(Method::GET, &profile, &ann).await,
        app.with_token(Method::DELETE, &format!("/v1/manage/users/{}", w.bob), &ann)
            .await,
        app.with_token(Method::GET, "/v1/users", &ann).await,
        app.with_token(Method::DELETE, &a, &ann).await,
        app.with_body(
            Method::PUT,
            &format!("{a}/apps"),
            &ann,
            &json!({"app_ids": []}),
        )
        .await,
        app.with_body(
            Method::POST,
            &format!(
                "/v1/applications/{}/organizations/{}/role-groups/set",
                w.shop.app_id, w.org_a
            ),
            &ann,
            &json!({"role_group_ids": [w.group]}),
        )
        .await,
        app.with_body(
            Method::POST,
            "/v1/organizations",
            &ann,
            &json!({"name": "Mine", "domains": [], "app_ids": []}),
        )
        .await,
    ];
    for res in &denied {
        assert_eq!(res.status, 403, "{}", res.text);
    }

    // The role taken, the next token is a user's.
    let res = app
        .with_body(
            Method::POST,
            &format!(
                "/v1/applications/{}/organizations/{}/members/{}/roles",
                w.shop.app_id, w.org_a, claims.sub
            ),
            &admin,
            &json!({"role_ids": []}),
        )
        .await;
    answered_as("setMemberRoles", &res, 204);
    // At once, with the token it still holds.
    let res = app
        .with_token(Method::GET, &format!("{a}/members"), &ann)
        .await;
    assert_eq!(res.status, 404, "a demoted admin: {}", res.text);
    let res = app
        .with_body(
            Method::POST,
            &roles,
            &ann,
            &json!({"role_ids": [w.roles.admin]}),
        )
        .await;
    assert_eq!(res.status, 404, "cannot restore itself: {}", res.text);
    let refreshed = app
        .refresh(&w.shop, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_eq!(
        read_claims(&access(&refreshed.json())).kind,
        TokenKind::User
    );
}

/// A fingerprint of everything an organization's admin could write.
async fn written(app: &TestApp) -> String {
    let mut db = app.db.connect().await;
    let mut all = String::new();
    for table in [
        "organizations",
        "organization_apps",
        "organization_members",
        "organization_role_groups",
        "member_roles",
        "invitations",
        "mail_outbox",
        "users",
        "user_apps",
        "roles",
        "role_groups",
        "applications",
        "clients",
        "groups",
        "group_members",
        "role_group_roles",
        "refresh_tokens",
        "device_keys",
        "password_history",
        "audit_events",
    ] {
        // Refusals are recorded, and are no writes of the attacker's.
        let only = if table == "audit_events" {
            " WHERE t.action <> 'access.denied'"
        } else {
            ""
        };
        let sql = format!(
            "SELECT COALESCE(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {table} t{only}"
        );
        let digest: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut db)
            .await
            .unwrap();
        all.push_str(&format!("{table}:{digest} "));
    }
    all
}

/// Every route, with organization B's ids where it takes any, called with
/// the admin of A: refused or not found, and nothing written.
#[actix_web::test]
async fn an_organization_admin_reaches_nothing_of_another_organization() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let w = world(&app, &admin).await;
    let ann = access(&sign_in(&app, &w.shop, "ann@example.com", &w.org_a).await);
    let before = written(&app).await;
    let mut tried = 0;
    for route in idstore_api::route_table() {
        if route.policy.is_none() || route.path.contains("/users/me") {
            // Public, or the admin's own user (its token is a user's too).
            continue;
        }
        let path = route
            .path
            .replace("{organization_id}", &w.org_b)
            .replace("{organization_name}", "Bolt")
            .replace("{user_id}", &w.cat)
            .replace("{member_id}", &w.cat)
            .replace("{app_id}", &w.shop.app_id)
            .replace("{client_id}", &w.shop.client.client_id)
            .replace("{role_id}", &w.roles.buyer)
            .replace("{group_id}", &w.group)
            .replace("{invitation_id}", "i1")
            .replace("{email}", "cat@example.com")
            .replace("{phone_number}", "+12125550100")
            .replace("{username}", "cat")
            .replace("{external_user_id}", "cat")
            .replace("{key_id}", "k1");
        assert!(!path.contains('{'), "a placeholder this test lacks: {path}");
        // Bodies a handler would accept, so that only the reach refuses.
        let body = match (route.method.as_str(), route.path) {
            ("POST", p) if p.ends_with("/members") => {
                json!({"email": "intruder@example.com", "role_ids": []})
            }
            ("PUT", p) if p.ends_with("/members/{user_id}") => json!({"title": "Owned"}),
            ("POST", p) if p.ends_with("/roles") && p.contains("/members/") => {
                json!({"role_ids": [w.roles.admin]})
            }
            ("PUT", "/v1/organizations/{organization_id}") => json!({"alias_name": "owned"}),
            _ => json!({"name": "matrix"}),
        };
        let res = app
            .call(route.method.clone(), &path, Some(&ann), Some(&body))
            .await;
        let status = res.status.as_u16();
        // A list of its own (its organizations) may answer, showing
        // nothing of B's.
        if status == 200 && route.method == Method::GET && !route.path.contains('{') {
            assert!(
                !res.text.contains(&w.org_b) && !res.text.contains(&w.cat),
                "{} {}: {}",
                route.method,
                route.path,
                res.text
            );
            tried += 1;
            continue;
        }
        assert!(
            [403, 404].contains(&status)
                || (status == 400 && !route.path.contains("{organization_id}")),
            "{} {}: {status} {}",
            route.method,
            route.path,
            res.text
        );
        tried += 1;
    }
    assert!(tried > 60, "{tried} routes");
    assert_eq!(written(&app).await, before, "something was written");
}

#[actix_web::test]
async fn an_organization_creator_creates_organizations_and_becomes_their_admin() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let w = world(&app, &admin).await;
    let carl = access(&sign_in(&app, &w.shop, "carl@example.com", &w.org_a).await);
    let claims = read_claims(&carl);
    assert_eq!(claims.kind, TokenKind::OrgAdmin);
    assert_eq!(claims.scope, "org:read org:edit org:create");
    let res = app
        .with_body(
            Method::POST,
            "/v1/organizations",
            &carl,
            &json!({"name": "Carl Co", "domains": [], "app_ids": []}),
        )
        .await;
    let created = answered_as("createOrganization", &res, 201)["result"].clone();
    let org = created["organization_id"].as_str().unwrap().to_owned();
    assert_eq!(created["app_ids"], json!([w.shop.app_id]), "{created}");

    // Its admin, through the application's organizationAdmin role.
    let tokens = sign_in(&app, &w.shop, "carl@example.com", &org).await;
    let claims = read_claims(&access(&tokens));
    assert_eq!(
        (claims.kind, claims.roles),
        (TokenKind::OrgAdmin, vec!["organizationAdmin".to_owned()])
    );
    let res = app
        .with_token(
            Method::GET,
            &format!("/v1/organizations/{org}/members"),
            &access(&tokens),
        )
        .await;
    let members = answered_as("getMembers", &res, 200)["result"].clone();
    assert_eq!(members.as_array().unwrap().len(), 1);
    assert_eq!(
        members[0]["organization_information"]["role_ids"],
        json!([w.roles.admin])
    );
    // A name the tenant has is taken, for creators too.
    let res = app
        .with_body(
            Method::POST,
            "/v1/organizations",
            &carl,
            &json!({"name": "Bolt", "domains": [], "app_ids": []}),
        )
        .await;
    answered_as("createOrganization", &res, 409);
}
