//! The Members API: create or assign, get, list (paged), update, delete,
//! and the confinement of an application's client to the organizations
//! that have its application.

use actix_web::http::Method;
use idstore_tests::spec::answered_as;
use idstore_tests::{TestApp, TestResponse};
use serde_json::json;

#[actix_web::test]
async fn a_member_is_created_or_assigned_read_updated_listed_and_removed() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let org = app.new_org(&admin, "Acme").await;
    let members = format!("/v1/organizations/{org}/members");

    let body = json!({"email": "Ann@Example.com", "name": {"first_name": "Ann"}, "role_ids": [],
                      "organization_information": {"department": "R&D", "title": "CTO"}});
    let res = app.with_body(Method::POST, &members, &admin, &body).await;
    let ann = answered_as("createMember", &res, 200)["result"].clone();
    let ann_id = ann["user_id"].as_str().unwrap().to_owned();
    assert_eq!(ann["email"]["value"], "ann@example.com");
    assert_eq!(
        ann["organization_information"],
        json!({"enabled": true, "department": "R&D", "title": "CTO", "role_ids": []})
    );
    let res = app
        .with_token(Method::GET, &format!("/v1/users/{ann_id}"), &admin)
        .await;
    assert_eq!(res.status, 200, "a user of the tenant: {}", res.text);

    // An existing user is assigned as it is: its profile is not overwritten.
    let bob = app.new_user(&admin, "bob@example.com").await;
    let body =
        json!({"email": "bob@example.com", "name": {"first_name": "Not Bob"}, "role_ids": []});
    let res = app.with_body(Method::POST, &members, &admin, &body).await;
    let assigned = answered_as("createMember", &res, 200)["result"].clone();
    assert_eq!(assigned["user_id"], bob.as_str());
    assert!(
        assigned.get("name").is_none(),
        "profile untouched: {assigned}"
    );
    let res = app.with_body(Method::POST, &members, &admin, &body).await;
    answered_as("createMember", &res, 409);

    let ann_path = format!("{members}/{ann_id}");
    let res = app.with_token(Method::GET, &ann_path, &admin).await;
    assert_eq!(answered_as("getMember", &res, 200)["result"], ann);

    // Merge: what is left out (enabled too) keeps its value.
    let res = app
        .with_body(Method::PUT, &ann_path, &admin, &json!({"enabled": false}))
        .await;
    let off = answered_as("updateMember", &res, 200)["result"]["organization_information"].clone();
    assert_eq!(
        off,
        json!({"enabled": false, "department": "R&D", "title": "CTO", "role_ids": []})
    );
    let res = app
        .with_body(Method::PUT, &ann_path, &admin, &json!({"manager": "Bob"}))
        .await;
    let info = answered_as("updateMember", &res, 200)["result"]["organization_information"].clone();
    assert_eq!(
        (info["enabled"].clone(), info["manager"].clone()),
        (json!(false), json!("Bob"))
    );

    // A disabled member keeps its listing.
    let res = app.with_token(Method::GET, &members, &admin).await;
    let listed = answered_as("getMembers", &res, 200)["result"].clone();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ann_id.as_str(), bob.as_str()]);

    let res = app.with_token(Method::DELETE, &ann_path, &admin).await;
    answered_as("deleteMember", &res, 204);
    let res = app.with_token(Method::GET, &ann_path, &admin).await;
    answered_as("getMember", &res, 404);
    let res = app.with_token(Method::DELETE, &ann_path, &admin).await;
    answered_as("deleteMember", &res, 404);
    let res = app
        .with_token(Method::GET, &format!("/v1/users/{ann_id}"), &admin)
        .await;
    assert_eq!(res.status, 200, "the user stays: {}", res.text);
}

#[actix_web::test]
async fn bad_member_input_is_a_400_and_an_unknown_organization_a_404_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let org = app.new_org(&admin, "Acme").await;
    let members = format!("/v1/organizations/{org}/members");
    let count = async || -> (i64, i64) {
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM organization_members)",
        )
        .fetch_one(&mut app.db.connect().await)
        .await
        .unwrap()
    };
    let before = count().await;
    for (body, needle) in [
        (json!({"email": "a@example.com"}), "role_ids is required"),
        (json!({"email": "a@example.com", "role_ids": ["r1"]}), "r1"),
        (
            json!({"email": "a@example.com", "role_ids": [], "send_invite": true}),
            "send_invite",
        ),
        (json!({"email": "not an email", "role_ids": []}), "email"),
        (
            json!({"email": "a@example.com", "role_ids": [], "organization_information": {"rank": 1}}),
            "rank",
        ),
        (
            json!({"email": "a@example.com", "role_ids": [], "shoe_size": 9}),
            "shoe_size",
        ),
    ] {
        let res = app.with_body(Method::POST, &members, &admin, &body).await;
        let answer = answered_as("createMember", &res, 400);
        assert!(answer.to_string().contains(needle), "{body}: {answer}");
    }
    let res = app
        .with_body(
            Method::POST,
            "/v1/organizations/nosuchorg/members",
            &admin,
            &json!({"email": "a@example.com", "role_ids": []}),
        )
        .await;
    answered_as("createMember", &res, 404);
    let user = app.new_user(&admin, "b@example.com").await;
    let after_user = (before.0 + 1, before.1);
    let path = format!("{members}/{user}");
    let res = app
        .with_body(Method::PUT, &path, &admin, &json!({"title": "x"}))
        .await;
    answered_as("updateMember", &res, 404);
    let res = app
        .with_body(Method::PUT, &path, &admin, &json!({"rank": 1}))
        .await;
    answered_as("updateMember", &res, 400);
    let res = app
        .with_token(Method::GET, &format!("{members}?page_limit=0"), &admin)
        .await;
    answered_as("getMembers", &res, 400);
    let res = app
        .with_token(Method::GET, "/v1/organizations/nosuchorg/members", &admin)
        .await;
    answered_as("getMembers", &res, 404);
    assert_eq!(count().await, after_user);
}

#[actix_web::test]
async fn a_page_of_members_leads_to_the_next_until_each_was_listed_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let org = app.new_org(&admin, "Acme").await;
    let members = format!("/v1/organizations/{org}/members");
    let mut added = Vec::new();
    // Six: the last page is full, and the one after it empty.
    for i in 0..6 {
        let body = json!({"email": format!("m{i}@example.com"), "role_ids": []});
        let res = app.with_body(Method::POST, &members, &admin, &body).await;
        added.push(
            answered_as("createMember", &res, 200)["result"]["user_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        // added_at has millisecond precision: keep the order unambiguous.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("{members}?page_limit=2&after={a}"),
            None => format!("{members}?page_limit=2"),
        };
        let res = app.with_token(Method::GET, &path, &admin).await;
        let page = answered_as("getMembers", &res, 200)["result"].clone();
        seen.extend(
            page.as_array()
                .unwrap()
                .iter()
                .map(|m| m["user_id"].as_str().unwrap().to_owned()),
        );
        match res.header("x-idstore-next-after") {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
        assert!(seen.len() <= 6, "{seen:?}");
    }
    assert_eq!(seen, added, "in the order added, each once");
    // A cursor naming no member (removed meanwhile) is refused, never an
    // empty page that would end the walk early.
    let gone = &added[0];
    let res = app
        .with_token(Method::DELETE, &format!("{members}/{gone}"), &admin)
        .await;
    answered_as("deleteMember", &res, 204);
    let res = app
        .with_token(Method::GET, &format!("{members}?after={gone}"), &admin)
        .await;
    let body = answered_as("getMembers", &res, 400);
    assert!(
        body["message"][0].as_str().unwrap().contains("after"),
        "{body}"
    );
}

#[actix_web::test]
async fn an_applications_client_reaches_only_the_organizations_that_have_its_application() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (shop, shop_client) = app.create_app(&admin, "shop").await;
    let (_, crm_client) = app.create_app(&admin, "crm").await;
    let shop_token = app.token_for(&shop_client).await;
    let crm_token = app.token_for(&crm_client).await;
    let org = app.new_org(&admin, "Acme").await;
    let members = format!("/v1/organizations/{org}/members");
    let res = app
        .with_body(
            Method::POST,
            &members,
            &admin,
            &json!({"email": "ann@example.com", "role_ids": []}),
        )
        .await;
    let ann = answered_as("createMember", &res, 200)["result"]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ann_path = format!("{members}/{ann}");

    // Not yet one of the organization's applications: not found.
    for token in [&shop_token, &crm_token] {
        let res = app.with_token(Method::GET, &members, token).await;
        answered_as("getMembers", &res, 404);
        let res = app.with_token(Method::GET, &ann_path, token).await;
        answered_as("getMember", &res, 404);
        let res = app.with_token(Method::DELETE, &ann_path, token).await;
        answered_as("deleteMember", &res, 404);
    }
    let res = app
        .with_body(
            Method::PUT,
            &format!("/v1/organizations/{org}/apps"),
            &admin,
            &json!({"app_ids": [shop]}),
        )
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    let res = app.with_token(Method::GET, &members, &shop_token).await;
    assert_eq!(
        answered_as("getMembers", &res, 200)["result"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let res = app.with_token(Method::GET, &ann_path, &shop_token).await;
    answered_as("getMember", &res, 200);
    let res = app.with_token(Method::GET, &ann_path, &crm_token).await;
    answered_as("getMember", &res, 404);
    let res = app.with_token(Method::GET, &members, &crm_token).await;
    answered_as("getMembers", &res, 404);
    let res = app.with_token(Method::DELETE, &ann_path, &crm_token).await;
    answered_as("deleteMember", &res, 404);
    let res = app.with_token(Method::DELETE, &ann_path, &shop_token).await;
    answered_as("deleteMember", &res, 204);
}

#[actix_web::test]
async fn concurrent_create_or_assign_of_one_new_email_makes_one_user_and_one_membership() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let org = app.new_org(&admin, "Acme").await;
    let members = format!("/v1/organizations/{org}/members");
    let body = json!({"email": "race@example.com", "role_ids": []});
    let tries = (0..6).map(|_| app.with_body(Method::POST, &members, &admin, &body));
    let answers = futures_util::future::join_all(tries).await;
    let ok = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        answers
            .iter()
            .map(|r| (r.status, r.text.clone()))
            .collect::<Vec<_>>()
    );
    for res in answers.iter().filter(|r| r.status != 200) {
        answered_as("createMember", res, 409);
    }
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM users WHERE email = 'race@example.com'),
                (SELECT count(*) FROM organization_members)",
    )
    .fetch_one(&mut app.db.connect().await)
    .await
    .unwrap();
    assert_eq!(counts, (1, 1));

    // The same new email into two organizations at once: both memberships,
    // one user (the later request assigns the user the earlier created).
    let (a, b) = (
        app.new_org(&admin, "A").await,
        app.new_org(&admin, "B").await,
    );
    let body = json!({"email": "twice@example.com", "role_ids": []});
    let (pa, pb) = (
        format!("/v1/organizations/{a}/members"),
        format!("/v1/organizations/{b}/members"),
    );
    let (ra, rb) = futures_util::join!(
        app.with_body(Method::POST, &pa, &admin, &body),
        app.with_body(Method::POST, &pb, &admin, &body),
    );
    let (ua, ub) = (
        answered_as("createMember", &ra, 200)["result"]["user_id"].clone(),
        answered_as("createMember", &rb, 200)["result"]["user_id"].clone(),
    );
    assert_eq!(ua, ub, "one user");
}

#[actix_web::test]
async fn get_users_by_organization_lists_its_members_in_the_order_they_joined() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let org = app.new_org(&admin, "Acme").await;
    let other = app.new_org(&admin, "Other").await;
    app.new_user(&admin, "outsider@example.com").await;
    let mut joined = Vec::new();
    for (i, email) in ["c@example.com", "a@example.com", "b@example.com"]
        .iter()
        .enumerate()
    {
        let body = json!({"email": email, "role_ids": []});
        let res = app
            .with_body(
                Method::POST,
                &format!("/v1/organizations/{org}/members"),
                &admin,
                &body,
            )
            .await;
        joined.push(
            answered_as("createMember", &res, 200)["result"]["user_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        if i == 0 {
            let res = app
                .with_body(
                    Method::POST,
                    &format!("/v1/organizations/{other}/members"),
                    &admin,
                    &body,
                )
                .await;
            answered_as("createMember", &res, 200);
        }
        // added_at has millisecond precision: keep the order unambiguous.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let ids = |res: &TestResponse| -> Vec<String> {
        answered_as("getUsers", res, 200)["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["user_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let base = format!("/v1/users?organization_id={org}");
    let res = app
        .with_token(
            Method::GET,
            &format!("{base}&sort_field=organization_added_at"),
            &admin,
        )
        .await;
    assert_eq!(ids(&res), joined);
    assert_eq!(res.json()["total_count"], 3, "{}", res.text);
    let res = app
        .with_token(
            Method::GET,
            &format!("{base}&sort_field=organization_added_at&sort_order=desc&page_limit=2"),
            &admin,
        )
        .await;
    assert_eq!(ids(&res), [joined[2].clone(), joined[1].clone()]);
    let res = app
        .with_token(Method::GET, &format!("{base}&sort_field=email"), &admin)
        .await;
    assert_eq!(
        ids(&res),
        [joined[1].clone(), joined[2].clone(), joined[0].clone()]
    );
    let res = app
        .with_token(
            Method::GET,
            &format!("{base}&search=email%20eq%20%22a%40example.com%22"),
            &admin,
        )
        .await;
    assert_eq!(ids(&res), [joined[1].clone()]);
    let res = app
        .with_token(Method::GET, "/v1/users?organization_id=nosuchorg", &admin)
        .await;
    assert_eq!(res.status, 404, "{}", res.text);
    assert_eq!(res.json()["message"], "Organization not found");
    let res = app
        .with_token(Method::GET, "/v1/users?organization_id=bad%20id", &admin)
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
}

/// `total_count` of `GET /v1/users?organization_id=` follows every way a
/// membership comes and goes, concurrent adds included.
#[actix_web::test]
async fn the_member_count_follows_adds_removals_and_user_deletes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let org = app.new_org(&admin, "Counted").await;
    let other = app.new_org(&admin, "Other").await;
    let members = format!("/v1/organizations/{org}/members");
    let adds = (0..12).map(|n| {
        let (app, admin, members) = (&app, &admin, &members);
        async move {
            let body = json!({"email": format!("c{n}@example.com"), "role_ids": []});
            let res = app.with_body(Method::POST, members, admin, &body).await;
            answered_as("createMember", &res, 200)["result"]["user_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    });
    let ids: Vec<String> = futures_util::future::join_all(adds).await;
    let body = json!({"email": "c0@example.com", "role_ids": []});
    let res = app
        .with_body(
            Method::POST,
            &format!("/v1/organizations/{other}/members"),
            &admin,
            &body,
        )
        .await;
    answered_as("createMember", &res, 200);
    let total = async |org: &str| {
        let res = app
            .with_token(
                Method::GET,
                &format!("/v1/users?organization_id={org}"),
                &admin,
            )
            .await;
        answered_as("getUsers", &res, 200)["total_count"]
            .as_i64()
            .unwrap()
    };
    assert_eq!((total(&org).await, total(&other).await), (12, 1));

    let res = app
        .with_token(Method::DELETE, &format!("{members}/{}", ids[1]), &admin)
        .await;
    answered_as("deleteMember", &res, 204);
    let res = app
        .with_token(
            Method::DELETE,
            &format!("/v1/manage/users/{}", ids[0]),
            &admin,
        )
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    let res = app
        .with_body(
            Method::POST,
            &members,
            &admin,
            &json!({"email": "c1@example.com", "role_ids": []}),
        )
        .await;
    answered_as("createMember", &res, 200);
    assert_eq!((total(&org).await, total(&other).await), (11, 0));

    // An organization deleted and one of its name made again starts at 0.
    let res = app
        .with_token(Method::DELETE, &format!("/v1/organizations/{org}"), &admin)
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    let again = app.new_org(&admin, "Counted").await;
    assert_eq!(total(&again).await, 0);
}
