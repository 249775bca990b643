//! Organizations: the vendor's Organizations API (create, list, get, get
//! by name, update, delete, add and remove apps).

use actix_web::http::Method;
use idstore_tests::TestApp;
use idstore_tests::spec::answered_as;
use idstore_tests::tokens::read_claims;
use serde_json::{Value, json};

const ORGS: &str = "/v1/organizations";

/// Every organization row, application and membership, for checking that a
/// refused request changed nothing.
async fn snapshot(app: &TestApp) -> Value {
    sqlx::query_scalar(
        "SELECT jsonb_build_object(
            'orgs', (SELECT COALESCE(jsonb_agg(o ORDER BY tenant_id, organization_id), '[]')
                       FROM organizations o),
            'apps', (SELECT COALESCE(jsonb_agg(a ORDER BY tenant_id, organization_id, app_id), '[]')
                       FROM organization_apps a),
            'members', (SELECT COALESCE(jsonb_agg(m ORDER BY tenant_id, organization_id, user_id), '[]')
                          FROM organization_members m))",
    )
    .fetch_one(&mut app.db.connect().await)
    .await
    .unwrap()
}

#[actix_web::test]
async fn an_admin_runs_an_organizations_whole_lifecycle_in_the_vendors_shapes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (shop, _) = app.create_app(&admin, "shop").await;
    let (crm, _) = app.create_app(&admin, "crm").await;

    let body = json!({"name": "Acme", "domain": "Acme.example", "domains": ["shop.acme.example"],
                      "app_ids": [shop], "alias_name": "acme"});
    let res = app.with_body(Method::POST, ORGS, &admin, &body).await;
    let created = answered_as("createOrganization", &res, 201)["result"].clone();
    let org = created["organization_id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "Acme");
    assert_eq!(created["domain"], "acme.example");
    assert_eq!(
        created["domains"],
        json!(["acme.example", "shop.acme.example"])
    );
    assert_eq!(created["app_ids"], json!([shop]));
    assert_eq!(
        (created["enabled"].clone(), created["alias_name"].clone()),
        (json!(true), json!("acme"))
    );
    assert_eq!(created["created_at"], created["updated_at"]);

    let path = format!("{ORGS}/{org}");
    let res = app.with_token(Method::GET, &path, &admin).await;
    assert_eq!(answered_as("getOrganization", &res, 200)["result"], created);
    let res = app
        .with_token(Method::GET, &format!("{ORGS}/name/Acme"), &admin)
        .await;
    assert_eq!(
        answered_as("getOrganizationByName", &res, 200)["result"],
        created
    );
    let other = app.new_org(&admin, "Beta").await;
    let res = app.with_token(Method::GET, ORGS, &admin).await;
    let names: Vec<Value> = answered_as("getAllOrganizations", &res, 200)["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].clone())
        .collect();
    assert_eq!(names, [json!("Acme"), json!("Beta")]);
    let res = app
        .with_token(Method::GET, &format!("{ORGS}?name=Beta"), &admin)
        .await;
    let only = answered_as("getAllOrganizations", &res, 200)["result"].clone();
    assert_eq!(only.as_array().unwrap().len(), 1);
    assert_eq!(only[0]["organization_id"], other.as_str());
    let res = app
        .with_token(Method::GET, &format!("{ORGS}?name=Gamma"), &admin)
        .await;
    assert_eq!(
        answered_as("getAllOrganizations", &res, 200)["result"],
        json!([])
    );

    // What is given replaces; what is left out stays.
    let res = app
        .with_body(
            Method::PUT,
            &path,
            &admin,
            &json!({"enabled": false, "domain": "shop.acme.example"}),
        )
        .await;
    let updated = answered_as("updateOrganization", &res, 200)["result"].clone();
    assert_eq!(updated["enabled"], false);
    assert_eq!(
        updated["domains"],
        json!(["shop.acme.example", "acme.example"])
    );
    assert_eq!(
        (updated["name"].clone(), updated["alias_name"].clone()),
        (json!("Acme"), json!("acme"))
    );
    assert!(updated["updated_at"].as_i64() >= created["updated_at"].as_i64());

    let apps = format!("{path}/apps");
    let res = app
        .with_body(Method::PUT, &apps, &admin, &json!({"app_ids": [crm, shop]}))
        .await;
    answered_as("addAppsToOrganization", &res, 204);
    let res = app.with_token(Method::GET, &path, &admin).await;
    let ids = answered_as("getOrganization", &res, 200)["result"]["app_ids"].clone();
    let mut ids: Vec<String> = serde_json::from_value(ids).unwrap();
    ids.sort();
    let mut want = vec![shop.clone(), crm.clone()];
    want.sort();
    assert_eq!(ids, want, "added once each, the one it had kept");
    let res = app
        .with_body(
            Method::DELETE,
            &apps,
            &admin,
            &json!({"app_ids": [shop, "not-one-of-its"]}),
        )
        .await;
    answered_as("removeAppsFromOrganization", &res, 204);
    let res = app.with_token(Method::GET, &path, &admin).await;
    assert_eq!(
        answered_as("getOrganization", &res, 200)["result"]["app_ids"],
        json!([crm])
    );

    let res = app.with_token(Method::DELETE, &path, &admin).await;
    answered_as("deleteOrganization", &res, 204);
    assert!(res.text.is_empty());
    let res = app.with_token(Method::GET, &path, &admin).await;
    let gone = answered_as("getOrganization", &res, 404);
    assert_eq!(
        gone,
        json!({"message": "Organization not found", "error_code": 404})
    );
    let res = app.with_token(Method::DELETE, &path, &admin).await;
    answered_as("deleteOrganization", &res, 404);
    let res = app
        .with_token(Method::GET, &format!("{ORGS}/name/Acme"), &admin)
        .await;
    answered_as("getOrganizationByName", &res, 404);
}

#[actix_web::test]
async fn bad_input_is_a_400_naming_each_problem_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (shop, _) = app.create_app(&admin, "shop").await;
    let org = app.new_org(&admin, "Acme").await;
    let before = snapshot(&app).await;

    let res = app
        .with_body(Method::POST, ORGS, &admin, &json!({"name": "x"}))
        .await;
    let body = answered_as("createOrganization", &res, 400);
    let messages = body["message"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "domains and app_ids: {body}");
    let bad =
        json!({"name": "", "domains": ["localhost", "a..example"], "app_ids": ["no such app"]});
    let res = app.with_body(Method::POST, ORGS, &admin, &bad).await;
    let body = answered_as("createOrganization", &res, 400);
    assert_eq!(body["message"].as_array().unwrap().len(), 4, "{body}");
    let unknown = json!({"name": "New", "domains": [], "app_ids": [shop, "nosuchapp"]});
    let res = app.with_body(Method::POST, ORGS, &admin, &unknown).await;
    let body = answered_as("createOrganization", &res, 400);
    assert!(
        body["message"][0].as_str().unwrap().contains("nosuchapp"),
        "{body}"
    );
    assert!(
        !body["message"][0].as_str().unwrap().contains(&shop),
        "{body}"
    );
    let res = app
        .with_body(
            Method::POST,
            ORGS,
            &admin,
            &json!({"name": "x", "domains": [], "app_ids": [], "logo": "x"}),
        )
        .await;
    answered_as("createOrganization", &res, 400);

    let path = format!("{ORGS}/{org}");
    let res = app
        .with_body(
            Method::PUT,
            &path,
            &admin,
            &json!({"domains": ["-x.example"]}),
        )
        .await;
    answered_as("updateOrganization", &res, 400);
    let res = app
        .with_body(
            Method::PUT,
            &format!("{path}/apps"),
            &admin,
            &json!({"app_ids": ["nosuchapp"]}),
        )
        .await;
    answered_as("addAppsToOrganization", &res, 400);
    let res = app
        .with_body(Method::PUT, &format!("{path}/apps"), &admin, &json!({}))
        .await;
    answered_as("addAppsToOrganization", &res, 400);
    let res = app
        .with_token(Method::GET, &format!("{ORGS}/bad%20id"), &admin)
        .await;
    answered_as("getOrganization", &res, 400);
    let long = "n".repeat(101);
    let res = app
        .with_token(Method::GET, &format!("{ORGS}/name/{long}"), &admin)
        .await;
    answered_as("getOrganizationByName", &res, 400);
    assert_eq!(snapshot(&app).await, before);
}

#[actix_web::test]
async fn names_are_unique_in_a_tenant_even_when_created_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = json!({"name": "Acme", "domains": [], "app_ids": []});
    let tries = (0..8).map(|_| app.with_body(Method::POST, ORGS, &admin, &body));
    let answers = futures_util::future::join_all(tries).await;
    let created = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        created,
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for res in answers.iter().filter(|r| r.status != 201) {
        let body = answered_as("createOrganization", res, 409);
        assert_eq!(
            body["message"], "Organization with this name already exists",
            "{body}"
        );
    }
    let beta = app.new_org(&admin, "Beta").await;
    let before = snapshot(&app).await;
    let res = app
        .with_body(
            Method::PUT,
            &format!("{ORGS}/{beta}"),
            &admin,
            &json!({"name": "Acme"}),
        )
        .await;
    answered_as("updateOrganization", &res, 409);
    assert_eq!(snapshot(&app).await, before);
    // Another tenant may use the name.
    let (_, other) = app.second_tenant("other").await;
    app.new_org(&other, "Acme").await;
}

#[actix_web::test]
async fn another_tenants_organizations_are_not_found_and_not_touched() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let org = app.new_org(&admin, "Acme").await;
    let (_, other) = app.second_tenant("other").await;
    let (theirs, _) = app.create_app(&other, "theirs").await;
    let before = snapshot(&app).await;
    let path = format!("{ORGS}/{org}");
    for (method, path, body, op) in [
        (Method::GET, path.clone(), None, "getOrganization"),
        (
            Method::PUT,
            path.clone(),
            Some(json!({"name": "Mine"})),
            "updateOrganization",
        ),
        (Method::DELETE, path.clone(), None, "deleteOrganization"),
        (
            Method::PUT,
            format!("{path}/apps"),
            Some(json!({"app_ids": [theirs]})),
            "addAppsToOrganization",
        ),
        (
            Method::DELETE,
            format!("{path}/apps"),
            Some(json!({"app_ids": [theirs]})),
            "removeAppsFromOrganization",
        ),
        (
            Method::GET,
            format!("{ORGS}/name/Acme"),
            None,
            "getOrganizationByName",
        ),
    ] {
        let res = app
            .call(method.clone(), &path, Some(&other), body.as_ref())
            .await;
        answered_as(op, &res, 404);
    }
    let res = app.with_token(Method::GET, ORGS, &other).await;
    assert_eq!(
        answered_as("getAllOrganizations", &res, 200)["result"],
        json!([])
    );
    // Nor can an organization take another tenant's application.
    let res = app
        .with_body(
            Method::PUT,
            &format!("{path}/apps"),
            &admin,
            &json!({"app_ids": [theirs]}),
        )
        .await;
    answered_as("addAppsToOrganization", &res, 400);
    assert_eq!(snapshot(&app).await, before);
}

#[actix_web::test]
async fn deleting_an_organization_ends_its_memberships_and_apps_and_keeps_the_users() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tenant = read_claims(&admin).tid;
    let (shop, _) = app.create_app(&admin, "shop").await;
    let org = app.new_org(&admin, "Acme").await;
    let keep = app.new_org(&admin, "Keep").await;
    let user = app.new_user(&admin, "ann@example.com").await;
    let res = app
        .with_body(
            Method::PUT,
            &format!("{ORGS}/{org}/apps"),
            &admin,
            &json!({"app_ids": [shop]}),
        )
        .await;
    answered_as("addAppsToOrganization", &res, 204);
    let mut db = app.db.connect().await;
    for o in [&org, &keep] {
        sqlx::query(
            "INSERT INTO organization_members (tenant_id, organization_id, user_id) VALUES ($1, $2, $3)",
        )
        .bind(&tenant)
        .bind(o)
        .bind(&user)
        .execute(&mut db)
        .await
        .unwrap();
    }
    let res = app
        .with_token(Method::DELETE, &format!("{ORGS}/{org}"), &admin)
        .await;
    answered_as("deleteOrganization", &res, 204);
    let left: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM organization_members WHERE organization_id = $1),
                (SELECT count(*) FROM organization_apps WHERE organization_id = $1)",
    )
    .bind(&org)
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(left, (0, 0));
    let res = app
        .with_token(Method::GET, &format!("/v1/users/{user}"), &admin)
        .await;
    assert_eq!(res.status, 200, "the user stays: {}", res.text);
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM organization_members WHERE organization_id = $1")
            .bind(&keep)
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(kept, 1, "another organization's membership stays");

    // Deleting an application takes it from the organizations that had it.
    let res = app
        .with_body(
            Method::PUT,
            &format!("{ORGS}/{keep}/apps"),
            &admin,
            &json!({"app_ids": [shop]}),
        )
        .await;
    answered_as("addAppsToOrganization", &res, 204);
    let res = app
        .with_token(Method::DELETE, &format!("/v1/applications/{shop}"), &admin)
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    let res = app
        .with_token(Method::GET, &format!("{ORGS}/{keep}"), &admin)
        .await;
    assert_eq!(
        answered_as("getOrganization", &res, 200)["result"]["app_ids"],
        json!([])
    );
}
