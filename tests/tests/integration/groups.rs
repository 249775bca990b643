//! Groups: the admin extension under `/v1/admin/groups` and the Users API's
//! `getUserGroups`.

use actix_web::http::Method;
use idstore_tests::spec::idstore_spec;
use idstore_tests::tokens::read_claims;
use idstore_tests::{TestApp, TestResponse};
use serde_json::{Value, json};

const GROUPS: &str = "/v1/admin/groups";

/// Users have no endpoint of their own yet: they are made in SQL.
async fn create_user(app: &TestApp, tenant_id: &str, user_id: &str) {
    sqlx::query(
        "INSERT INTO users (tenant_id, user_id, email, email_normalized) VALUES ($1, $2, $3, $3)",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(format!("{user_id}@example.com"))
    .execute(&mut app.db.connect().await)
    .await
    .unwrap();
}

async fn delete_user(app: &TestApp, tenant_id: &str, user_id: &str) {
    sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .execute(&mut app.db.connect().await)
        .await
        .unwrap();
}

/// Every group and membership, for checking that a refused request changed nothing.
async fn groups_snapshot(app: &TestApp) -> Value {
    sqlx::query_scalar(
        "SELECT jsonb_build_object(
            'groups', (SELECT COALESCE(jsonb_agg(g ORDER BY tenant_id, group_id), '[]') FROM groups g),
            'members', (SELECT COALESCE(jsonb_agg(m ORDER BY tenant_id, group_id, user_id), '[]')
                          FROM group_members m))",
    )
    .fetch_one(&mut app.db.connect().await)
    .await
    .unwrap()
}

fn tenant_of(admin: &str) -> String {
    read_claims(admin).tid
}

/// Creates a group; returns its `ApiGroup`, checked against the spec's schema.
async fn create_group(app: &TestApp, token: &str, body: Value) -> Value {
    let res = app.with_body(Method::POST, GROUPS, token, &body).await;
    assert_eq!(res.status, 201, "{}", res.text);
    idstore_spec().assert_http_response("createGroup", &res);
    api_group(&res.json()["result"])
}

fn api_group(value: &Value) -> Value {
    idstore_spec()
        .check_schema("ApiGroup", value)
        .unwrap_or_else(|v| panic!("not an ApiGroup:\n{v}\n{value}"));
    value.clone()
}

fn id_of(group: &Value) -> &str {
    group["group_id"].as_str().unwrap()
}

async fn add_members(app: &TestApp, token: &str, group_id: &str, ids: &[&str]) -> TestResponse {
    app.with_body(
        Method::POST,
        &format!("{GROUPS}/{group_id}/members"),
        token,
        &json!({ "user_ids": ids }),
    )
    .await
}

/// `getUserGroups`, its response checked against the spec whatever the status.
async fn user_groups(app: &TestApp, token: &str, user_id: &str) -> TestResponse {
    let res = app
        .with_token(Method::GET, &format!("/v1/users/{user_id}/groups"), token)
        .await;
    idstore_spec().assert_http_response("getUserGroups", &res);
    res
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect()
}

#[actix_web::test]
async fn an_admin_creates_reads_lists_and_deletes_groups() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let staff = create_group(
        &app,
        &admin,
        json!({"name": "staff", "description": "Everyone on payroll",
               "custom_data": {"cost_center": 42, "tags": ["a"]}}),
    )
    .await;
    assert_eq!(staff["name"], "staff");
    assert_eq!(staff["description"], "Everyone on payroll");
    assert_eq!(
        staff["custom_data"],
        json!({"cost_center": 42, "tags": ["a"]})
    );
    assert_eq!(staff["created_at"], staff["updated_at"]);
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        (now - staff["created_at"].as_i64().unwrap()).abs() < 60_000,
        "{staff}"
    );

    let read = app
        .with_token(Method::GET, &format!("{GROUPS}/{}", id_of(&staff)), &admin)
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    // Stored to the millisecond, so a read answers exactly what creation did.
    assert_eq!(api_group(&read.json()["result"]), staff);

    let admins = create_group(&app, &admin, json!({"name": "admins"})).await;
    let listed = app.with_token(Method::GET, GROUPS, &admin).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let list = listed.json()["result"].clone();
    assert_eq!(names(&list), ["admins", "staff"]);
    list.as_array().unwrap().iter().for_each(|g| {
        api_group(g);
    });

    let path = format!("{GROUPS}/{}", id_of(&admins));
    let deleted = app.with_token(Method::DELETE, &path, &admin).await;
    assert_eq!((deleted.status.as_u16(), deleted.text.as_str()), (204, ""));
    let gone = app.with_token(Method::GET, &path, &admin).await;
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.json(),
        json!({"message": "Group not found", "error_code": 404})
    );
    let again = app.with_token(Method::DELETE, &path, &admin).await;
    assert_eq!(again.status, 404, "{}", again.text);
    let listed = app.with_token(Method::GET, GROUPS, &admin).await;
    assert_eq!(names(&listed.json()["result"]), ["staff"]);
}

#[actix_web::test]
async fn a_group_without_a_description_omits_it_and_has_empty_custom_data() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let group = create_group(&app, &admin, json!({"name": "plain"})).await;
    assert!(group.get("description").is_none(), "{group}");
    assert_eq!(group["custom_data"], json!({}));
    let keys: Vec<&String> = group.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "custom_data",
            "group_id",
            "name",
            "updated_at"
        ]
    );
}

#[actix_web::test]
async fn members_are_added_together_and_removed_one_at_a_time() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tenant = tenant_of(&admin);
    for user in ["ada", "bob", "cy"] {
        create_user(&app, &tenant, user).await;
    }
    let group = create_group(&app, &admin, json!({"name": "team"})).await;
    let res = add_members(&app, &admin, id_of(&group), &["ada", "bob", "ada"]).await;
    assert_eq!((res.status.as_u16(), res.text.as_str()), (204, ""));
    // Adding a member again is not an error.
    let res = add_members(&app, &admin, id_of(&group), &["bob", "cy"]).await;
    assert_eq!(res.status, 204, "{}", res.text);
    for user in ["ada", "bob", "cy"] {
        let res = user_groups(&app, &admin, user).await;
        assert_eq!(names(&res.json()["result"]), ["team"], "{user}");
    }

    let path = format!("{GROUPS}/{}/members/bob", id_of(&group));
    let res = app.with_token(Method::DELETE, &path, &admin).await;
    assert_eq!((res.status.as_u16(), res.text.as_str()), (204, ""));
    let res = app.with_token(Method::DELETE, &path, &admin).await;
    assert_eq!(res.status, 404, "{}", res.text);
    assert_eq!(
        res.json(),
        json!({"message": "User is not a member of this group", "error_code": 404})
    );
    let res = user_groups(&app, &admin, "bob").await;
    assert_eq!(res.json(), json!({"result": []}));
    let res = user_groups(&app, &admin, "ada").await;
    assert_eq!(names(&res.json()["result"]), ["team"]);
}

#[actix_web::test]
async fn get_user_groups_answers_admin_and_client_tokens_in_the_spec_shape() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tenant = tenant_of(&admin);
    let (_, shop) = app.create_app(&admin, "shop").await;
    let client = app.token_for(&shop).await;
    create_user(&app, &tenant, "ada").await;
    create_user(&app, &tenant, "loner").await;
    let zeta = create_group(
        &app,
        &admin,
        json!({"name": "zeta", "description": "last", "custom_data": {"k": "v"}}),
    )
    .await;
    let alpha = create_group(&app, &admin, json!({"name": "alpha"})).await;
    create_group(&app, &admin, json!({"name": "unrelated"})).await;
    for group in [&zeta, &alpha] {
        let res = add_members(&app, &admin, id_of(group), &["ada"]).await;
        assert_eq!(res.status, 204, "{}", res.text);
    }

    for token in [&admin, &client] {
        let res = user_groups(&app, token, "ada").await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json(), json!({"result": [alpha, zeta]}));
        let res = user_groups(&app, token, "loner").await;
        assert_eq!(
            (res.status.as_u16(), res.json()),
            (200, json!({"result": []}))
        );
        let res = user_groups(&app, token, "ghost").await;
        assert_eq!(res.status, 404);
        assert_eq!(
            res.json(),
            json!({"message": "User not found", "error_code": 404})
        );
        let res = user_groups(&app, token, "not%20an%20id").await;
        assert_eq!(res.status, 400, "{}", res.text);
    }
}

#[actix_web::test]
async fn refused_requests_answer_in_the_error_shape_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tenant = tenant_of(&admin);
    create_user(&app, &tenant, "ada").await;
    let group = create_group(&app, &admin, json!({"name": "taken"})).await;
    let res = add_members(&app, &admin, id_of(&group), &["ada"]).await;
    assert_eq!(res.status, 204, "{}", res.text);
    let members = format!("{GROUPS}/{}/members", id_of(&group));
    let too_many: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
    let before = groups_snapshot(&app).await;

    let cases: Vec<(Method, String, Option<Value>, u16)> = vec![
        (Method::POST, GROUPS.into(), Some(json!({})), 400),
        (Method::POST, GROUPS.into(), Some(json!({"name": ""})), 400),
        (
            Method::POST,
            GROUPS.into(),
            Some(json!({"name": "x".repeat(101)})),
            400,
        ),
        (
            Method::POST,
            GROUPS.into(),
            Some(json!({"name": "a\u{7}b"})),
            400,
        ),
        (Method::POST, GROUPS.into(), Some(json!({"name": 5})), 400),
        (
            Method::POST,
            GROUPS.into(),
            Some(json!({"name": "n", "admin": true})),
            400,
        ),
        (
            Method::POST,
            GROUPS.into(),
            Some(json!({"name": "n", "description": "d".repeat(1001)})),
            400,
        ),
        (
            Method::POST,
            GROUPS.into(),
            Some(json!({"name": "n", "custom_data": [1]})),
            400,
        ),
        (
            Method::POST,
            GROUPS.into(),
            Some(json!({"name": "n", "custom_data": "s"})),
            400,
        ),
        (
            Method::POST,
            GROUPS.into(),
            Some(json!({"name": "n", "custom_data": {"k": "x".repeat(16 * 1024)}})),
            400,
        ),
        (Method::GET, format!("{GROUPS}/nope"), None, 404),
        (Method::GET, format!("{GROUPS}/bad%20id"), None, 400),
        (Method::DELETE, format!("{GROUPS}/nope"), None, 404),
        (Method::DELETE, format!("{GROUPS}/bad%27id"), None, 400),
        (
            Method::POST,
            format!("{GROUPS}/nope/members"),
            Some(json!({"user_ids": ["ada"]})),
            404,
        ),
        (
            Method::POST,
            format!("{GROUPS}/bad%20id/members"),
            Some(json!({"user_ids": ["ada"]})),
            400,
        ),
        (
            Method::POST,
            members.clone(),
            Some(json!({"user_ids": []})),
            400,
        ),
        (
            Method::POST,
            members.clone(),
            Some(json!({"user_ids": too_many})),
            400,
        ),
        (
            Method::POST,
            members.clone(),
            Some(json!({"user_ids": ["a b"]})),
            400,
        ),
        (
            Method::POST,
            members.clone(),
            Some(json!({"user_ids": "ada"})),
            400,
        ),
        (
            Method::POST,
            members.clone(),
            Some(json!({"user_ids": [1]})),
            400,
        ),
        (
            Method::POST,
            members.clone(),
            Some(json!({"user_ids": ["ada"], "x": 1})),
            400,
        ),
        (Method::POST, members.clone(), Some(json!({})), 400),
        (
            Method::POST,
            members.clone(),
            Some(json!({"user_ids": ["ada", "ghost"]})),
            404,
        ),
        (Method::DELETE, format!("{members}/ghost"), None, 404),
        (Method::DELETE, format!("{members}/a%2Fb"), None, 400),
        (
            Method::DELETE,
            format!("{GROUPS}/nope/members/ada"),
            None,
            404,
        ),
    ];
    for (method, path, body, status) in cases {
        let res = app
            .call(method.clone(), &path, Some(&admin), body.as_ref())
            .await;
        let what = format!("{method} {path} {body:?}");
        assert_eq!(res.status.as_u16(), status, "{what}: {}", res.text);
        let error = res.json();
        assert_eq!(error["error_code"], status, "{what}: {error}");
        if status == 400 {
            assert!(error["message"].is_array(), "{what}: {error}");
        } else {
            assert!(error["message"].is_string(), "{what}: {error}");
        }
        assert_eq!(
            groups_snapshot(&app).await,
            before,
            "{what} changed the database"
        );
    }

    let res = app
        .with_body(Method::POST, GROUPS, &admin, &json!({"name": "taken"}))
        .await;
    assert_eq!(res.status, 409, "{}", res.text);
    assert_eq!(
        res.json(),
        json!({"message": "Group with this name already exists", "error_code": 409,
               "ts_error_code": "IdentifierIsTaken"})
    );
    assert_eq!(groups_snapshot(&app).await, before);
}

#[actix_web::test]
async fn adding_unknown_users_names_them_and_adds_no_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    create_user(&app, &tenant_of(&admin), "ada").await;
    let group = create_group(&app, &admin, json!({"name": "g"})).await;
    let res = add_members(&app, &admin, id_of(&group), &["ghost", "ada", "phantom"]).await;
    assert_eq!(res.status, 404, "{}", res.text);
    assert_eq!(
        res.json(),
        json!({"message": "Users not found: ghost, phantom", "error_code": 404})
    );
    let res = user_groups(&app, &admin, "ada").await;
    assert_eq!(res.json(), json!({"result": []}));
    let res = add_members(&app, &admin, "nope", &["ada"]).await;
    assert_eq!(
        res.json(),
        json!({"message": "Group not found", "error_code": 404})
    );
}

#[actix_web::test]
async fn deleting_a_user_or_a_group_removes_the_memberships() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tenant = tenant_of(&admin);
    create_user(&app, &tenant, "ada").await;
    create_user(&app, &tenant, "bob").await;
    let one = create_group(&app, &admin, json!({"name": "one"})).await;
    let two = create_group(&app, &admin, json!({"name": "two"})).await;
    for group in [&one, &two] {
        let res = add_members(&app, &admin, id_of(group), &["ada", "bob"]).await;
        assert_eq!(res.status, 204, "{}", res.text);
    }

    delete_user(&app, &tenant, "ada").await;
    let res = user_groups(&app, &admin, "ada").await;
    assert_eq!(res.status, 404, "{}", res.text);
    let members: Vec<String> = sqlx::query_scalar("SELECT DISTINCT user_id FROM group_members")
        .fetch_all(&mut app.db.connect().await)
        .await
        .unwrap();
    assert_eq!(members, ["bob"]);

    let res = app
        .with_token(Method::DELETE, &format!("{GROUPS}/{}", id_of(&one)), &admin)
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    let res = user_groups(&app, &admin, "bob").await;
    assert_eq!(names(&res.json()["result"]), ["two"]);
}

#[actix_web::test]
async fn a_group_of_another_tenant_is_not_found() {
    let app = TestApp::spawn().await;
    let admin_a = app.admin_token().await;
    let tenant_a = tenant_of(&admin_a);
    create_user(&app, &tenant_a, "ada").await;
    let group = create_group(&app, &admin_a, json!({"name": "shared-name"})).await;
    let res = add_members(&app, &admin_a, id_of(&group), &["ada"]).await;
    assert_eq!(res.status, 204, "{}", res.text);
    let (_, admin_b) = app.second_tenant("tenant-b").await;
    let before = groups_snapshot(&app).await;

    let path = format!("{GROUPS}/{}", id_of(&group));
    for (method, path, body) in [
        (Method::GET, path.clone(), None),
        (Method::DELETE, path.clone(), None),
        (
            Method::POST,
            format!("{path}/members"),
            Some(json!({"user_ids": ["ada"]})),
        ),
        (Method::DELETE, format!("{path}/members/ada"), None),
    ] {
        let res = app
            .call(method.clone(), &path, Some(&admin_b), body.as_ref())
            .await;
        assert_eq!(res.status, 404, "{method} {path}: {}", res.text);
    }
    let res = user_groups(&app, &admin_b, "ada").await;
    assert_eq!(
        res.status, 404,
        "tenant B read tenant A's user: {}",
        res.text
    );
    let listed = app.with_token(Method::GET, GROUPS, &admin_b).await;
    assert_eq!(listed.json(), json!({"result": []}));
    assert_eq!(groups_snapshot(&app).await, before);

    // Names are unique per tenant only; tenant B may not reach A's users either.
    let own = create_group(&app, &admin_b, json!({"name": "shared-name"})).await;
    let res = add_members(&app, &admin_b, id_of(&own), &["ada"]).await;
    assert_eq!(res.status, 404, "{}", res.text);
}
