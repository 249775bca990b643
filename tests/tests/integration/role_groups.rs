//! Role groups: made under an application (extension), attached to an
//! organization (`setAssignedRoleGroups`), and the only source of the roles
//! a member may hold (`setMemberRoles`, `createMember`'s `role_ids`).

use actix_web::http::Method;
use idstore_tests::TestApp;
use idstore_tests::spec::answered_as;
use serde_json::{Value, json};

/// An application with two roles, an organization that has it, and a member.
struct Fixture {
    app_id: String,
    roles: [String; 2],
    org: String,
    member: String,
}

async fn fixture(app: &TestApp, admin: &str) -> Fixture {
    let (app_id, _) = app.create_app(admin, "shop").await;
    let mut roles = Vec::new();
    for name in ["viewer", "editor"] {
        let res = app
            .with_body(
                Method::POST,
                &format!("/v1/applications/{app_id}/roles"),
                admin,
                &json!({"role_name": name}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        roles.push(res.json()["result"]["role_id"].as_str().unwrap().to_owned());
    }
    let org = app.new_org(admin, "Acme").await;
    let res = app
        .with_body(
            Method::PUT,
            &format!("/v1/organizations/{org}/apps"),
            admin,
            &json!({"app_ids": [app_id]}),
        )
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    let res = app
        .with_body(
            Method::POST,
            &format!("/v1/organizations/{org}/members"),
            admin,
            &json!({"email": "ann@example.com", "role_ids": []}),
        )
        .await;
    let member = answered_as("createMember", &res, 200)["result"]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    Fixture {
        app_id,
        roles: [roles[0].clone(), roles[1].clone()],
        org,
        member,
    }
}

async fn new_group(
    app: &TestApp,
    admin: &str,
    app_id: &str,
    name: &str,
    roles: &[&String],
) -> Value {
    let res = app
        .with_body(
            Method::POST,
            &format!("/v1/applications/{app_id}/role-groups"),
            admin,
            &json!({"name": name, "role_ids": roles}),
        )
        .await;
    answered_as("createRoleGroup", &res, 201)["result"].clone()
}

async fn member_roles(app: &TestApp, admin: &str, f: &Fixture) -> Value {
    let res = app
        .with_token(
            Method::GET,
            &format!("/v1/organizations/{}/members/{}", f.org, f.member),
            admin,
        )
        .await;
    answered_as("getMember", &res, 200)["result"]["organization_information"]["role_ids"].clone()
}

#[actix_web::test]
async fn a_member_holds_only_the_roles_of_its_organizations_role_groups() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let f = fixture(&app, &admin).await;
    let [viewer, editor] = &f.roles;
    let viewers = new_group(&app, &admin, &f.app_id, "viewers", &[viewer]).await;
    assert_eq!(viewers["name"], "viewers");
    assert_eq!(viewers["roles"][0]["role_id"], viewer.as_str());
    let group = viewers["group_id"].as_str().unwrap().to_owned();
    let in_org = format!("/v1/applications/{}/organizations/{}", f.app_id, f.org);
    let set_roles = format!("{in_org}/members/{}/roles", f.member);

    // Not yet attached: no role can be given.
    let res = app
        .with_body(
            Method::POST,
            &set_roles,
            &admin,
            &json!({"role_ids": [viewer]}),
        )
        .await;
    let refused = answered_as("setMemberRoles", &res, 400);
    assert!(refused.to_string().contains(viewer.as_str()), "{refused}");

    let res = app
        .with_body(
            Method::POST,
            &format!("{in_org}/role-groups/set"),
            &admin,
            &json!({"role_group_ids": [group]}),
        )
        .await;
    answered_as("setAssignedRoleGroups", &res, 202);
    let res = app
        .with_token(Method::GET, &format!("{in_org}/role-groups"), &admin)
        .await;
    let assigned = answered_as("getAssignedRoleGroups", &res, 200)["result"].clone();
    assert_eq!(assigned["role_groups"][0]["group_id"], group.as_str());
    assert_eq!(assigned["default_organization_roles"], json!([]));

    let res = app
        .with_body(
            Method::POST,
            &set_roles,
            &admin,
            &json!({"role_ids": [viewer]}),
        )
        .await;
    answered_as("setMemberRoles", &res, 204);
    assert_eq!(member_roles(&app, &admin, &f).await, json!([viewer]));
    // All or none: the editor role is in no attached group.
    let res = app
        .with_body(
            Method::POST,
            &set_roles,
            &admin,
            &json!({"role_ids": [viewer, editor]}),
        )
        .await;
    let refused = answered_as("setMemberRoles", &res, 400);
    assert!(refused.to_string().contains(editor.as_str()), "{refused}");
    assert_eq!(member_roles(&app, &admin, &f).await, json!([viewer]));
    let res = app
        .with_body(Method::POST, &set_roles, &admin, &json!({"role_ids": []}))
        .await;
    answered_as("setMemberRoles", &res, 204);
    assert_eq!(member_roles(&app, &admin, &f).await, json!([]));

    // createMember's role_ids follow the same rule.
    let members = format!("/v1/organizations/{}/members", f.org);
    let res = app
        .with_body(
            Method::POST,
            &members,
            &admin,
            &json!({"email": "bob@example.com", "role_ids": [editor]}),
        )
        .await;
    answered_as("createMember", &res, 400);
    let res = app
        .with_body(
            Method::POST,
            &members,
            &admin,
            &json!({"email": "bob@example.com", "role_ids": [viewer]}),
        )
        .await;
    let bob = answered_as("createMember", &res, 200)["result"].clone();
    assert_eq!(bob["organization_information"]["role_ids"], json!([viewer]));
}

#[actix_web::test]
async fn detaching_or_deleting_a_group_or_its_role_takes_the_roles_it_gave() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let f = fixture(&app, &admin).await;
    let [viewer, editor] = &f.roles;
    let both = new_group(&app, &admin, &f.app_id, "both", &[viewer, editor]).await;
    let editors = new_group(&app, &admin, &f.app_id, "editors", &[editor]).await;
    let in_org = format!("/v1/applications/{}/organizations/{}", f.app_id, f.org);
    let attach = async |groups: Value| {
        let res = app
            .with_body(
                Method::POST,
                &format!("{in_org}/role-groups/set"),
                &admin,
                &json!({"role_group_ids": groups}),
            )
            .await;
        answered_as("setAssignedRoleGroups", &res, 202);
    };
    attach(json!([both["group_id"], editors["group_id"]])).await;
    let set_roles = format!("{in_org}/members/{}/roles", f.member);
    let res = app
        .with_body(
            Method::POST,
            &set_roles,
            &admin,
            &json!({"role_ids": [viewer, editor]}),
        )
        .await;
    answered_as("setMemberRoles", &res, 204);
    let mut want = vec![viewer.clone(), editor.clone()];
    want.sort();
    assert_eq!(member_roles(&app, &admin, &f).await, json!(want));

    // Only "editors" left: the viewer role goes, the editor role stays.
    attach(json!([editors["group_id"]])).await;
    assert_eq!(member_roles(&app, &admin, &f).await, json!([editor]));
    // Deleting the group that gave it takes it.
    let res = app
        .with_token(
            Method::DELETE,
            &format!(
                "/v1/applications/{}/role-groups/{}",
                f.app_id,
                editors["group_id"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    assert_eq!(member_roles(&app, &admin, &f).await, json!([]));
    let res = app
        .with_token(Method::GET, &format!("{in_org}/role-groups"), &admin)
        .await;
    assert_eq!(
        answered_as("getAssignedRoleGroups", &res, 200)["result"]["role_groups"],
        json!([])
    );

    // A role deleted leaves the groups and the members.
    attach(json!([both["group_id"]])).await;
    let res = app
        .with_body(
            Method::POST,
            &set_roles,
            &admin,
            &json!({"role_ids": [viewer]}),
        )
        .await;
    answered_as("setMemberRoles", &res, 204);
    let res = app
        .with_token(
            Method::DELETE,
            &format!("/v1/applications/{}/roles/{viewer}", f.app_id),
            &admin,
        )
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    assert_eq!(member_roles(&app, &admin, &f).await, json!([]));
    let res = app
        .with_token(
            Method::GET,
            &format!("/v1/applications/{}/role-groups", f.app_id),
            &admin,
        )
        .await;
    let list = res.json()["result"].clone();
    assert_eq!(list[0]["name"], "both");
    assert_eq!(list[0]["roles"].as_array().unwrap().len(), 1, "{list}");
}

#[actix_web::test]
async fn bad_role_group_requests_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let f = fixture(&app, &admin).await;
    let [viewer, _] = &f.roles;
    let (other_app, _) = app.create_app(&admin, "crm").await;
    let groups = format!("/v1/applications/{}/role-groups", f.app_id);
    // A role of another application, a taken name, an unknown application.
    let res = app
        .with_body(
            Method::POST,
            &format!("/v1/applications/{other_app}/role-groups"),
            &admin,
            &json!({"name": "g", "role_ids": [viewer]}),
        )
        .await;
    answered_as("createRoleGroup", &res, 400);
    new_group(&app, &admin, &f.app_id, "g", &[viewer]).await;
    let res = app
        .with_body(
            Method::POST,
            &groups,
            &admin,
            &json!({"name": "g", "role_ids": []}),
        )
        .await;
    answered_as("createRoleGroup", &res, 409);
    let res = app
        .with_body(
            Method::POST,
            "/v1/applications/nosuchapp/role-groups",
            &admin,
            &json!({"name": "h", "role_ids": []}),
        )
        .await;
    answered_as("createRoleGroup", &res, 404);

    // Attaching: an organization without the application, an unknown group.
    let other_group = new_group(&app, &admin, &other_app, "crm-group", &[]).await;
    let to_other = format!(
        "/v1/applications/{other_app}/organizations/{}/role-groups/set",
        f.org
    );
    let res = app
        .with_body(
            Method::POST,
            &to_other,
            &admin,
            &json!({"role_group_ids": [other_group["group_id"]]}),
        )
        .await;
    answered_as("setAssignedRoleGroups", &res, 400);
    let set = format!(
        "/v1/applications/{}/organizations/{}/role-groups/set",
        f.app_id, f.org
    );
    let res = app
        .with_body(
            Method::POST,
            &set,
            &admin,
            &json!({"role_group_ids": [other_group["group_id"]]}),
        )
        .await;
    let body = answered_as("setAssignedRoleGroups", &res, 400);
    assert!(
        body.to_string()
            .contains(other_group["group_id"].as_str().unwrap()),
        "{body}"
    );
    let res = app
        .with_body(
            Method::POST,
            &format!(
                "/v1/applications/{}/organizations/nosuchorg/role-groups/set",
                f.app_id
            ),
            &admin,
            &json!({"role_group_ids": []}),
        )
        .await;
    answered_as("setAssignedRoleGroups", &res, 404);
    let res = app
        .with_token(
            Method::GET,
            &format!(
                "/v1/applications/{}/organizations/{}/role-groups",
                f.app_id, f.org
            ),
            &admin,
        )
        .await;
    assert_eq!(
        answered_as("getAssignedRoleGroups", &res, 200)["result"]["role_groups"],
        json!([])
    );

    // Roles of someone who is not a member.
    let outsider = app.new_user(&admin, "out@example.com").await;
    let res = app
        .with_body(
            Method::POST,
            &format!(
                "/v1/applications/{}/organizations/{}/members/{outsider}/roles",
                f.app_id, f.org
            ),
            &admin,
            &json!({"role_ids": []}),
        )
        .await;
    answered_as("setMemberRoles", &res, 404);
}

/// Signing in to an organization: the tokens carry `org_id` and the
/// member's role names for the application, read at each issue, so a
/// disabled membership's next token has none and an ended one gets none.
#[actix_web::test]
async fn a_member_signed_in_to_its_organization_gets_tokens_with_its_roles_there() {
    use idstore_tests::login::{PASSWORD, code_of};
    use idstore_tests::tokens::read_claims;

    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let shop = app.login_app(&admin, "shop").await;
    let user = app
        .user_with_password(&admin, "ann@example.com", PASSWORD)
        .await;
    let role = app
        .with_body(
            Method::POST,
            &format!("/v1/applications/{}/roles", shop.app_id),
            &admin,
            &json!({"role_name": "buyer"}),
        )
        .await;
    let role_id = role.json()["result"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let org = app.new_org(&admin, "Acme").await;
    let outside = app.new_org(&admin, "Elsewhere").await;
    for o in [&org, &outside] {
        let res = app
            .with_body(
                Method::PUT,
                &format!("/v1/organizations/{o}/apps"),
                &admin,
                &json!({"app_ids": [shop.app_id]}),
            )
            .await;
        assert_eq!(res.status, 204, "{}", res.text);
    }
    let group = new_group(&app, &admin, &shop.app_id, "buyers", &[&role_id]).await;
    let in_org = format!("/v1/applications/{}/organizations/{org}", shop.app_id);
    let res = app
        .with_body(
            Method::POST,
            &format!("{in_org}/role-groups/set"),
            &admin,
            &json!({"role_group_ids": [group["group_id"]]}),
        )
        .await;
    answered_as("setAssignedRoleGroups", &res, 202);
    let members = format!("/v1/organizations/{org}/members");
    let res = app
        .with_body(
            Method::POST,
            &members,
            &admin,
            &json!({"email": "ann@example.com", "role_ids": [role_id]}),
        )
        .await;
    assert_eq!(
        answered_as("createMember", &res, 200)["result"]["user_id"],
        user.as_str()
    );

    let login = async |org_id: &str| {
        app.login_with(
            &shop,
            json!({"email": "ann@example.com", "password": PASSWORD, "org_id": org_id}),
        )
        .await
    };
    let res = login(&org).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let tokens = app.exchange(&shop, &code_of(&res)).await.json();
    let claims = read_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims.org_id.as_deref(), Some(org.as_str()));
    assert_eq!(claims.roles, ["buyer"]);
    assert_eq!(claims.sub, user);

    // Not a member there: the same refusal as a wrong password.
    let res = login(&outside).await;
    assert_eq!(res.status, 401, "{}", res.text);
    assert_eq!(res.json()["message"], "Invalid credentials");
    let res = login("nosuchorg").await;
    assert_eq!(res.status, 400, "{}", res.text);

    // Disabled: the next token (a refresh) holds no role, but still the organization.
    let res = app
        .with_body(
            Method::PUT,
            &format!("{members}/{user}"),
            &admin,
            &json!({"enabled": false}),
        )
        .await;
    answered_as("updateMember", &res, 200);
    let refreshed = app
        .refresh(&shop, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let refreshed = refreshed.json();
    let claims = read_claims(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims.org_id.as_deref(), Some(org.as_str()));
    assert!(claims.roles.is_empty(), "{:?}", claims.roles);

    // Removed: no further token for that organization.
    let res = app
        .with_token(Method::DELETE, &format!("{members}/{user}"), &admin)
        .await;
    answered_as("deleteMember", &res, 204);
    let res = app
        .refresh(&shop, refreshed["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert_eq!(res.json()["error"], "invalid_grant", "{}", res.text);
}

#[actix_web::test]
async fn an_organization_that_loses_the_application_loses_its_groups_and_roles_for_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let f = fixture(&app, &admin).await;
    let [viewer, _] = &f.roles;
    let group = new_group(&app, &admin, &f.app_id, "viewers", &[viewer]).await;
    let in_org = format!("/v1/applications/{}/organizations/{}", f.app_id, f.org);
    let res = app
        .with_body(
            Method::POST,
            &format!("{in_org}/role-groups/set"),
            &admin,
            &json!({"role_group_ids": [group["group_id"]]}),
        )
        .await;
    answered_as("setAssignedRoleGroups", &res, 202);
    let res = app
        .with_body(
            Method::POST,
            &format!("{in_org}/members/{}/roles", f.member),
            &admin,
            &json!({"role_ids": [viewer]}),
        )
        .await;
    answered_as("setMemberRoles", &res, 204);
    let apps = format!("/v1/organizations/{}/apps", f.org);
    let res = app
        .with_body(
            Method::DELETE,
            &apps,
            &admin,
            &json!({"app_ids": [f.app_id]}),
        )
        .await;
    answered_as("removeAppsFromOrganization", &res, 204);
    assert_eq!(member_roles(&app, &admin, &f).await, json!([]));
    let res = app
        .with_token(Method::GET, &format!("{in_org}/role-groups"), &admin)
        .await;
    assert_eq!(
        answered_as("getAssignedRoleGroups", &res, 200)["result"]["role_groups"],
        json!([])
    );
    // Given back, the application comes without them.
    let res = app
        .with_body(Method::PUT, &apps, &admin, &json!({"app_ids": [f.app_id]}))
        .await;
    answered_as("addAppsToOrganization", &res, 204);
    assert_eq!(member_roles(&app, &admin, &f).await, json!([]));
}
