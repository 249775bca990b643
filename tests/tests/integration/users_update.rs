//! updateUser, the verify and remove operations, removal from an app and
//! deletion: merge rules, identifier collisions, concurrency, and errors
//! that leave the database as it was.

use actix_web::http::Method;
use idstore_tests::users::{World, messages, user_body};
use serde_json::{Value, json};

async fn user(w: &World, body: Value) -> String {
    w.create(&w.shop, body).await["user_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn an_update_replaces_objects_merges_custom_data_and_appends_secondaries() {
    let w = World::new().await;
    let id = user(
        &w,
        json!({
            "email": "u@x.io",
            "name": {"first_name": "Ann", "last_name": "Lee"},
            "secondary_emails": ["s1@x.io"],
            "custom_data": {"keep": 1, "drop": 2, "change": 3},
            "custom_app_data": {"a": 1, "b": 2},
            "language": "en"
        }),
    )
    .await;
    let before = w.get(&w.shop, &id).await;
    std::thread::sleep(std::time::Duration::from_millis(5));
    let after = w
        .update(
            &w.shop,
            &id,
            json!({
                "name": {"first_name": "Bo"},
                "secondary_emails": ["S1@x.io", "s2@x.io"],
                "custom_data": {"drop": null, "change": "x", "new": true},
                "custom_app_data": {"a": null, "c": 3}
            }),
        )
        .await;
    assert_eq!(
        after["name"],
        json!({"first_name": "Bo"}),
        "name is replaced whole"
    );
    assert_eq!(
        after["custom_data"],
        json!({"keep": 1, "change": "x", "new": true})
    );
    assert_eq!(after["custom_app_data"], json!({"b": 2, "c": 3}));
    let secondaries: Vec<&str> = after["secondary_emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(secondaries, ["s1@x.io", "s2@x.io"]);
    // Omitted fields are unchanged.
    for field in ["email", "language", "created_at", "status"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert!(after["updated_at"].as_i64() > before["updated_at"].as_i64());
}

#[actix_web::test]
async fn a_new_primary_starts_unverified_and_a_status_change_is_stamped() {
    let w = World::new().await;
    let id = user(&w, json!({"email": "old@x.io"})).await;
    let res = w
        .op(
            "verifyUserEmail",
            Method::POST,
            &format!("/v1/users/{id}/emails/old@x.io/verify"),
            &w.shop,
            Some(&json!({})),
        )
        .await;
    assert_eq!(res.status, 202, "{}", res.text);
    assert_eq!(res.text, "", "202 carries no body");
    assert_eq!(w.get(&w.shop, &id).await["email"]["email_verified"], true);

    let after = w
        .update(
            &w.shop,
            &id,
            json!({"email": "new@x.io", "status": "Disabled"}),
        )
        .await;
    assert_eq!(
        after["email"],
        json!({"value": "new@x.io", "email_verified": false})
    );
    assert_eq!(after["status"], "Disabled");
    let stamped = after["status_changed_at"]
        .as_str()
        .expect("status_changed_at is set");
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamped).is_ok(),
        "{stamped}"
    );
    let again = w.update(&w.shop, &id, json!({"status": "Disabled"})).await;
    assert_eq!(again["status_changed_at"], after["status_changed_at"]);
}

#[actix_web::test]
async fn bad_updates_are_400s_or_404s_and_change_nothing() {
    let w = World::new().await;
    let id = user(&w, json!({"email": "b@x.io"})).await;
    let before = w.snapshot().await;
    for (body, mentions) in [
        (json!({"status": "Banned"}), "unknown variant"),
        (json!({"user_id": "x"}), "unknown field `user_id`"),
        (json!({"email": "nope"}), "email:"),
        (
            json!({"name": {"last_name": "l".repeat(31)}}),
            "name.last_name",
        ),
        (
            json!({"username": "ann"}),
            "username can only be set for a user with a password",
        ),
        (json!({"custom_data": "x"}), "invalid type"),
        (json!({"birthday": "yesterday"}), "birthday"),
        (json!({"address": {"updated_at": 5}}), "address.updated_at"),
    ] {
        let res = w.try_update(&w.shop, &id, &body).await;
        let text = messages(&res);
        assert!(text.contains(mentions), "{body}: {text}");
    }
    let res = w
        .try_update(&w.shop, "nobody", &json!({"language": "en"}))
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(w.snapshot().await, before);
}

#[actix_web::test]
async fn an_update_to_a_taken_identifier_is_a_409_and_changes_nothing() {
    let w = World::new().await;
    user(&w, json!({"email": "first@x.io", "external_user_id": "e1"})).await;
    let id = user(&w, json!({"email": "second@x.io"})).await;
    let before = w.snapshot().await;
    for body in [
        json!({"email": "FIRST@x.io", "language": "de"}),
        json!({"external_user_id": "e1"}),
    ] {
        let res = w.try_update(&w.shop, &id, &body).await;
        assert_eq!(res.status, 409, "{}", res.text);
        assert_eq!(res.json()["ts_error_code"], "IdentifierIsTaken");
    }
    assert_eq!(w.snapshot().await, before);
}

#[actix_web::test]
async fn concurrent_updates_of_one_user_lose_no_field() {
    let w = World::new().await;
    let id = user(&w, json!({"email": "c@x.io"})).await;
    let path = format!("/v1/users/{id}");
    let bodies: Vec<Value> = (0..12)
        .map(|i| json!({"custom_data": {format!("k{i}"): i}, "custom_app_data": {format!("a{i}"): i}}))
        .collect();
    let calls = bodies
        .iter()
        .map(|b| w.app.with_body(Method::PUT, &path, &w.shop, b));
    for res in futures_util::future::join_all(calls).await {
        assert_eq!(res.status, 200, "{}", res.text);
    }
    let user = w.get(&w.shop, &id).await;
    for i in 0..12 {
        assert_eq!(user["custom_data"][format!("k{i}")], i, "{user}");
        assert_eq!(user["custom_app_data"][format!("a{i}")], i, "{user}");
    }
}

#[actix_web::test]
async fn verifying_a_secondary_as_primary_swaps_it_with_the_old_primary() {
    let w = World::new().await;
    let id = user(
        &w,
        json!({"email": "p@x.io", "secondary_emails": ["s@x.io"],
               "phone_number": "+12125550100", "secondary_phone_numbers": ["+12125550101"]}),
    )
    .await;
    let w = &w;
    let verify = |what: &str, value: &str, body: Value| {
        let op = if what == "emails" {
            "verifyUserEmail"
        } else {
            "verifyUserPhoneNumber"
        };
        let path = format!("/v1/users/{id}/{what}/{value}/verify");
        async move { w.op(op, Method::POST, &path, &w.shop, Some(&body)).await }
    };
    assert_eq!(verify("emails", "p@x.io", json!({})).await.status, 202);
    let res = verify("emails", "S@x.io", json!({"change_to_primary": true})).await;
    assert_eq!(res.status, 202, "{}", res.text);
    let u = w.get(&w.shop, &id).await;
    assert_eq!(u["email"]["value"], "s@x.io");
    assert_eq!(u["email"]["email_verified"], true);
    assert_eq!(u["secondary_emails"][0]["value"], "p@x.io");
    assert_eq!(
        u["secondary_emails"][0]["email_verified"], true,
        "the demoted primary keeps its verification"
    );

    let res = verify(
        "phone-numbers",
        "%2B12125550101",
        json!({"change_to_primary": true}),
    )
    .await;
    assert_eq!(res.status, 202, "{}", res.text);
    let u = w.get(&w.shop, &id).await;
    assert_eq!(u["phone_number"]["value"], "+12125550101");
    assert_eq!(u["phone_number"]["phone_number_verified"], true);
    assert_eq!(u["secondary_phone_numbers"][0]["value"], "+12125550100");
    assert_eq!(
        u["secondary_phone_numbers"][0]["phone_number_verified"],
        false
    );

    let res = verify("emails", "other@x.io", json!({})).await;
    assert_eq!(res.status, 404);
    let res = verify("emails", "s@x.io", json!({"extra": 1})).await;
    assert_eq!(res.status, 400);
}

#[actix_web::test]
async fn promoting_a_secondary_that_another_user_holds_as_primary_is_a_409() {
    let w = World::new().await;
    let id = user(
        &w,
        json!({"email": "a@x.io", "secondary_emails": ["b@x.io"]}),
    )
    .await;
    user(&w, json!({"email": "b@x.io"})).await;
    let before = w.snapshot().await;
    let res = w
        .op(
            "verifyUserEmail",
            Method::POST,
            &format!("/v1/users/{id}/emails/b@x.io/verify"),
            &w.shop,
            Some(&json!({"change_to_primary": true})),
        )
        .await;
    assert_eq!(res.status, 409, "{}", res.text);
    assert_eq!(res.json()["ts_error_code"], "IdentifierIsTaken");
    assert_eq!(w.snapshot().await, before);
}

#[actix_web::test]
async fn secondary_emails_and_phones_can_be_removed_but_not_the_primary() {
    let w = World::new().await;
    let id = user(
        &w,
        json!({"email": "p@x.io", "secondary_emails": ["s@x.io"], "secondary_phone_numbers": ["+12125550101"]}),
    )
    .await;
    let w = &w;
    let remove = |path: String, op: &'static str| async move {
        w.op(op, Method::DELETE, &path, &w.shop, None).await
    };
    let email = |e: &str| format!("/v1/users/{id}/emails/{e}");
    let phone = |p: &str| format!("/v1/users/{id}/phone-numbers/{p}");
    let res = remove(email("p@x.io"), "removeUserSecondaryEmail").await;
    assert!(messages(&res).contains("primary email"));
    assert_eq!(
        remove(email("S@x.io"), "removeUserSecondaryEmail")
            .await
            .status,
        204
    );
    assert_eq!(
        remove(email("s@x.io"), "removeUserSecondaryEmail")
            .await
            .status,
        404
    );
    assert_eq!(
        remove(phone("%2B12125550101"), "removeUserSecondaryPhoneNumber")
            .await
            .status,
        204
    );
    assert_eq!(
        remove(phone("+12125550101"), "removeUserSecondaryPhoneNumber")
            .await
            .status,
        404
    );
    assert_eq!(
        remove(phone("12"), "removeUserSecondaryPhoneNumber")
            .await
            .status,
        400
    );
    let u = w.get(&w.shop, &id).await;
    assert_eq!(
        (
            u["secondary_emails"].clone(),
            u["secondary_phone_numbers"].clone()
        ),
        (json!([]), json!([]))
    );
}

#[actix_web::test]
async fn removing_a_user_from_an_app_drops_that_apps_association_only() {
    let w = World::new().await;
    let id = user(
        &w,
        user_body("r@x.io", json!({"custom_app_data": {"x": 1}})),
    )
    .await;
    w.update(&w.blog, &id, json!({"custom_app_data": {"y": 2}}))
        .await;
    assert_eq!(
        (w.count(&w.shop, "").await, w.count(&w.blog, "").await),
        (1, 1)
    );

    let path = format!("/v1/users/{id}/apps");
    let res = w
        .op("removeUserFromApp", Method::DELETE, &path, &w.shop, None)
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    assert_eq!(w.count(&w.shop, "").await, 0, "the user left shop's count");
    assert!(w.list_ids(&w.shop, "").await.is_empty(), "and shop's list");
    assert_eq!(w.count(&w.blog, "").await, 1, "blog keeps it");
    let seen = w.get(&w.shop, &id).await;
    assert!(
        seen.get("custom_app_data").is_none(),
        "shop's data is gone: {seen}"
    );
    assert_eq!(
        w.get(&w.blog, &id).await["custom_app_data"],
        json!({"y": 2})
    );
    let res = w
        .op("removeUserFromApp", Method::DELETE, &path, &w.shop, None)
        .await;
    assert_eq!(res.status, 404);
    let res = w
        .op(
            "removeUserFromApp",
            Method::DELETE,
            "/v1/users/nobody/apps",
            &w.shop,
            None,
        )
        .await;
    assert_eq!(res.status, 404);
}

#[actix_web::test]
async fn deleting_a_user_removes_every_row_and_frees_its_identifiers() {
    let w = World::new().await;
    let body = json!({"email": "d@x.io", "phone_number": "+12125550100", "external_user_id": "e1", "custom_app_data": {"a": 1}});
    let id = user(&w, body.clone()).await;
    w.update(&w.blog, &id, json!({"custom_app_data": {"b": 1}}))
        .await;
    let path = format!("/v1/manage/users/{id}");
    let res = w
        .op("deleteTenantUser", Method::DELETE, &path, &w.shop, None)
        .await;
    assert_eq!(
        res.status, 403,
        "a client token may not delete tenant users"
    );

    let res = w
        .op("deleteTenantUser", Method::DELETE, &path, &w.admin, None)
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    let mut conn = w.app.db.connect().await;
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM users WHERE user_id = $1) + (SELECT count(*) FROM user_apps WHERE user_id = $1)
              + (SELECT count(*) FROM group_members WHERE user_id = $1)",
    )
    .bind(&id)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(left, 0);
    assert_eq!(
        w.op(
            "getUserById",
            Method::GET,
            &format!("/v1/users/{id}"),
            &w.admin,
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        w.op("deleteTenantUser", Method::DELETE, &path, &w.admin, None)
            .await
            .status,
        404
    );
    // The identifiers are free again.
    w.create(&w.shop, body).await;
}

#[actix_web::test]
async fn many_small_updates_cannot_grow_a_user_past_its_limits() {
    let w = World::new().await;
    let id = user(&w, json!({"email": "g@x.io"})).await;
    let path = format!("/v1/users/{id}");
    let emails: Vec<String> = (0..20).map(|i| format!("s{i}@x.io")).collect();
    w.update(&w.shop, &id, json!({"secondary_emails": emails}))
        .await;
    let chunk = "v".repeat(9 * 1024);
    w.update(
        &w.shop,
        &id,
        json!({"custom_data": {"a": chunk}, "custom_app_data": {"a": chunk}}),
    )
    .await;
    let before = w.snapshot().await;
    for (body, mentions) in [
        (
            json!({"secondary_emails": ["one-more@x.io"]}),
            "secondary_emails",
        ),
        (json!({"custom_data": {"b": chunk}}), "custom_data would be"),
        (
            json!({"custom_app_data": {"b": chunk}}),
            "custom_app_data would be",
        ),
    ] {
        let res = w
            .op("updateUser", Method::PUT, &path, &w.shop, Some(&body))
            .await;
        let text = messages(&res);
        assert!(text.contains(mentions), "{body}: {text}");
    }
    assert_eq!(w.snapshot().await, before);
}

#[actix_web::test]
async fn an_update_of_app_data_alone_still_marks_the_user_updated() {
    let w = World::new().await;
    let id = user(&w, json!({"email": "t@x.io"})).await;
    let before = w.get(&w.shop, &id).await["updated_at"].as_i64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let after = w
        .update(&w.shop, &id, json!({"custom_app_data": {"x": 1}}))
        .await;
    assert!(after["updated_at"].as_i64().unwrap() > before, "{after}");
}

#[actix_web::test]
async fn an_empty_custom_app_data_does_not_pull_a_user_into_the_callers_application() {
    let w = World::new().await;
    let user = w.create(&w.shop, json!({"email": "e@x.io"})).await;
    let id = user["user_id"].as_str().unwrap();
    let before = w.count(&w.blog, "").await;
    for nothing in [json!({}), json!({"k": null})] {
        let updated = w
            .update(&w.blog, id, json!({"custom_app_data": nothing}))
            .await;
        assert!(updated.get("app_name").is_none(), "{nothing}: {updated}");
    }
    assert_eq!(
        w.count(&w.blog, "").await,
        before,
        "blog's users are as they were"
    );
    assert!(!w.list_ids(&w.blog, "").await.contains(&id.to_owned()));
}
