//! createUser and the single-user reads: shapes, normalization, identifier
//! uniqueness, per-application views and every documented error.

use actix_web::http::Method;
use idstore_tests::users::{World, messages, user_body};
use serde_json::{Value, json};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[actix_web::test]
async fn a_client_creates_a_user_and_gets_back_the_documented_body() {
    let w = World::new().await;
    let before = now_ms();
    let user = w
        .create(
            &w.shop,
            json!({
                "email": "Ann.Lee@Example.com",
                "phone_number": "+1 212 555 0100",
                "secondary_emails": ["ann@work.example", "ANN@work.example"],
                "secondary_phone_numbers": ["+447911123456"],
                "birthday": "1990-04-23",
                "name": {"first_name": "Ann", "last_name": "Lee"},
                "address": {"city": "Oslo", "country": "NO", "type": "Home"},
                "picture": "https://example.com/ann.png",
                "language": "en-US",
                "custom_data": {"tier": "gold"},
                "external_user_id": "crm-1",
                "external_account_id": "shop-1",
                "custom_app_data": {"cart": 2}
            }),
        )
        .await;
    assert_eq!(
        user["email"],
        json!({"value": "ann.lee@example.com", "email_verified": false})
    );
    assert_eq!(user["phone_number"]["value"], "+12125550100");
    assert_eq!(
        user["secondary_emails"],
        json!([{"value": "ann@work.example", "email_verified": false}]),
        "secondary emails are de-duplicated case-insensitively"
    );
    assert_eq!(user["secondary_phone_numbers"][0]["value"], "+447911123456");
    assert_eq!(user["birthday"], "1990-04-23");
    assert_eq!(
        user["name"],
        json!({"first_name": "Ann", "last_name": "Lee"})
    );
    assert_eq!(user["address"]["city"], "Oslo");
    assert!(user["address"]["updated_at"].is_i64());
    assert_eq!(user["status"], "Active");
    assert_eq!(user["custom_data"], json!({"tier": "gold"}));
    assert_eq!(user["external_user_id"], "crm-1");
    assert_eq!(user["external_account_id"], "shop-1");
    assert_eq!(user["custom_app_data"], json!({"cart": 2}));
    assert_eq!(user["app_name"], "shop");
    assert_eq!(user["groupIds"], json!([]));
    let created = user["created_at"].as_i64().expect("created_at is epoch ms");
    assert!(
        created >= before - 1000 && created <= now_ms() + 1000,
        "{created}"
    );
    assert_eq!(user["updated_at"], user["created_at"]);
    assert!(user.get("username").is_none() && user.get("password_information").is_none());

    // Read back, the same user.
    let id = user["user_id"].as_str().unwrap();
    assert_eq!(w.get(&w.shop, id).await, user);
}

#[actix_web::test]
async fn a_user_created_with_credentials_has_a_username_and_password_information() {
    let w = World::new().await;
    let user = w
        .create(
            &w.admin,
            json!({"email": "p@x.io", "username": "Pat", "credentials": {"password": "correct horse battery"}}),
        )
        .await;
    assert_eq!(user["username"], "Pat");
    let info = &user["password_information"];
    assert_eq!(
        (info["temporary"].clone(), info["expired"].clone()),
        (json!(true), json!(false))
    );
    let mut conn = w.app.db.connect().await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE user_id = $1")
        .bind(user["user_id"].as_str().unwrap())
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$"),
        "stored as a PHC string, not the password"
    );
    let res = w
        .op(
            "getUserByUsername",
            Method::GET,
            "/v1/users/username/PAT",
            &w.shop,
            None,
        )
        .await;
    assert_eq!(res.status, 200, "usernames compare case-insensitively");
}

#[actix_web::test]
async fn bad_create_bodies_are_400s_that_change_nothing() {
    let w = World::new().await;
    w.create(&w.shop, json!({"email": "taken@x.io"})).await;
    let long = "x".repeat(31);
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "email or phone_number is required"),
        (
            json!({"name": {"first_name": "A"}}),
            "email or phone_number is required",
        ),
        (
            json!({"email": "a@x.io", "admin": true}),
            "unknown field `admin`",
        ),
        (
            json!({"email": "a@x.io", "name": {"nick": "A"}}),
            "unknown field `nick`",
        ),
        (json!({"email": 5}), "invalid type"),
        (
            json!({"email": "a@x.io", "custom_data": [1]}),
            "invalid type",
        ),
        (
            json!({"email": "a@x.io", "secondary_emails": "b@x.io"}),
            "invalid type",
        ),
        (json!({"email": "not-an-email"}), "email:"),
        (json!({"phone_number": "2125550100"}), "E.164"),
        (json!({"phone_number": "+1212555"}), "E.164"),
        (
            json!({"email": "a@x.io", "secondary_phone_numbers": ["+1"]}),
            "secondary_phone_numbers[0]",
        ),
        (
            json!({"email": "a@x.io", "birthday": "23/04/1990"}),
            "birthday",
        ),
        (
            json!({"email": "a@x.io", "birthday": "1990-02-30"}),
            "birthday",
        ),
        (
            json!({"email": "a@x.io", "name": {"first_name": long}}),
            "name.first_name",
        ),
        (
            json!({"email": "a@x.io", "address": {"street_address": "s".repeat(151)}}),
            "address.street_address",
        ),
        (
            json!({"email": "a@x.io", "address": {"type": "Castle"}}),
            "unknown variant",
        ),
        (
            json!({"email": "a@x.io", "username": "ann"}),
            "username can only be set together with credentials",
        ),
        (
            json!({"email": "a@x.io", "picture": "file:///etc/passwd"}),
            "picture",
        ),
        (
            json!({"email": "a@x.io", "external_user_id": "e".repeat(257)}),
            "external_user_id",
        ),
        (
            json!({"email": "a@x.io", "custom_data": {"k": "v".repeat(17 * 1024)}}),
            "custom_data",
        ),
        (
            json!({"email": "a@x.io", "credentials": {"password": ""}}),
            "credentials.password",
        ),
    ];
    let before = w.snapshot().await;
    for (body, mentions) in cases {
        let res = w.try_create(&w.shop, &body).await;
        let text = messages(&res);
        assert!(text.contains(mentions), "{body}: {text}");
    }
    assert_eq!(w.snapshot().await, before);
}

#[actix_web::test]
async fn each_identifier_is_unique_in_the_tenant_and_a_collision_is_identifier_is_taken() {
    let w = World::new().await;
    w.create(
        &w.shop,
        json!({"email": "a@x.io", "phone_number": "+12125550100", "external_user_id": "e1",
               "username": "ann", "credentials": {"password": "a long enough passphrase"}}),
    )
    .await;
    let before = w.snapshot().await;
    for (body, what) in [
        (json!({"email": "A@X.IO"}), "email"),
        (json!({"phone_number": "+1 (212) 555-0100"}), "phone_number"),
        (
            json!({"email": "b@x.io", "external_user_id": "e1"}),
            "external_user_id",
        ),
        (
            json!({"email": "c@x.io", "username": "ANN", "credentials": {"password": "a long enough passphrase"}}),
            "username",
        ),
    ] {
        // Another application of the same tenant collides too.
        let res = w.try_create(&w.blog, &body).await;
        assert_eq!(res.status, 409, "{body}: {}", res.text);
        let err = res.json();
        assert_eq!(err["ts_error_code"], "IdentifierIsTaken");
        assert_eq!(err["error_code"], 409);
        assert!(err["message"].as_str().unwrap().contains(what), "{err}");
    }
    assert_eq!(w.snapshot().await, before);
}

#[actix_web::test]
async fn twenty_concurrent_creates_with_one_email_make_exactly_one_user() {
    let w = World::new().await;
    let body = json!({"email": "race@x.io"});
    let calls = (0..20).map(|_| w.app.with_body(Method::POST, "/v1/users", &w.shop, &body));
    let results = futures_util::future::join_all(calls).await;
    let mut statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [vec![201], vec![409; 19]].concat(),
        "{statuses:?}"
    );
    assert_eq!(
        w.count(&w.admin, "?search=email%20eq%20%22race@x.io%22")
            .await,
        1
    );
}

#[actix_web::test]
async fn every_lookup_finds_the_user_by_its_identifier() {
    let w = World::new().await;
    let user = w
        .create(
            &w.shop,
            json!({"email": "find@x.io", "phone_number": "+12125550111", "external_user_id": "ext/1",
                   "username": "finder", "credentials": {"password": "a long enough passphrase"}}),
        )
        .await;
    let id = user["user_id"].as_str().unwrap();
    for (op, path) in [
        ("getUserById", format!("/v1/users/{id}")),
        ("getUserByEmail", "/v1/users/email/FIND@x.io".to_owned()),
        (
            "getUserByPhone",
            "/v1/users/phone-number/+12125550111".to_owned(),
        ),
        (
            "getUserByPhone",
            "/v1/users/phone-number/%2B12125550111".to_owned(),
        ),
        (
            "deprecatedGetUserByPhone",
            "/v1/users/phone/%2B12125550111".to_owned(),
        ),
        ("getUserByUsername", "/v1/users/username/Finder".to_owned()),
        (
            "getUserByExternalUserId",
            "/v1/users/external-user-id/ext%2F1".to_owned(),
        ),
        (
            "getUserByIdentifier",
            "/v1/users/identifier?identifier_name=email&identifier_value=find%40x.io".to_owned(),
        ),
        (
            "getUserByIdentifier",
            "/v1/users/identifier?identifier_name=phoneNumber&identifier_value=%2B12125550111"
                .to_owned(),
        ),
        (
            "getUserByIdentifier",
            "/v1/users/identifier?identifier_name=username&identifier_value=FINDER".to_owned(),
        ),
        (
            "getUserByIdentifier",
            "/v1/users/identifier?identifier_name=externalUserId&identifier_value=ext%2F1"
                .to_owned(),
        ),
    ] {
        let res = w.op(op, Method::GET, &path, &w.blog, None).await;
        assert_eq!(res.status, 200, "{path}: {}", res.text);
        assert_eq!(res.json()["result"]["user_id"], id, "{path}");
    }
}

#[actix_web::test]
async fn lookups_of_unknown_users_are_404s_and_malformed_ones_400s() {
    let w = World::new().await;
    for (op, path) in [
        ("getUserById", "/v1/users/nobody"),
        ("getUserByEmail", "/v1/users/email/nobody@x.io"),
        ("getUserByPhone", "/v1/users/phone-number/+12125550199"),
        ("getUserByUsername", "/v1/users/username/nobody"),
        (
            "getUserByExternalUserId",
            "/v1/users/external-user-id/nobody",
        ),
        (
            "getUserByIdentifier",
            "/v1/users/identifier?identifier_name=idpIdentifier&identifier_value=nobody",
        ),
    ] {
        let res = w.op(op, Method::GET, path, &w.shop, None).await;
        assert_eq!(res.status, 404, "{path}: {}", res.text);
        assert_eq!(
            res.json(),
            json!({"message": "User not found", "error_code": 404})
        );
    }
    for (op, path, mentions) in [
        ("getUserById", "/v1/users/a%20b", "user_id"),
        ("getUserById", "/v1/users/x'%3B--", "user_id"),
        ("getUserByEmail", "/v1/users/email/not-an-email", "email"),
        ("getUserByPhone", "/v1/users/phone-number/+1abc", "E.164"),
        ("getUserByUsername", "/v1/users/username/a%20b", "username"),
        (
            "getUserByIdentifier",
            "/v1/users/identifier?identifier_name=shoeSize&identifier_value=9",
            "identifier_name `shoeSize`",
        ),
        (
            "getUserByIdentifier",
            "/v1/users/identifier?identifier_name=email",
            "identifier_value",
        ),
    ] {
        let res = w.op(op, Method::GET, path, &w.shop, None).await;
        let text = messages(&res);
        assert!(text.contains(mentions), "{path}: {text}");
    }
}

#[actix_web::test]
async fn fixed_paths_win_over_the_user_id_route() {
    let w = World::new().await;
    w.create(&w.shop, json!({"email": "r@x.io"})).await;
    let res = w
        .op(
            "getUsersCount",
            Method::GET,
            "/v1/users/count",
            &w.shop,
            None,
        )
        .await;
    assert_eq!(res.json(), json!({"result": {"user_count": 1}}));
    let res = w
        .op(
            "getUserByIdentifier",
            Method::GET,
            "/v1/users/identifier?identifier_name=email&identifier_value=r%40x.io",
            &w.shop,
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
}

#[actix_web::test]
async fn an_application_sees_only_its_own_data_on_a_user() {
    let w = World::new().await;
    let user = w
        .create(
            &w.shop,
            user_body(
                "v@x.io",
                json!({"custom_app_data": {"cart": 1}, "external_account_id": "s1"}),
            ),
        )
        .await;
    let id = user["user_id"].as_str().unwrap();
    // blog may read the tenant-level user but has no data of its own on it.
    let seen = w.get(&w.blog, id).await;
    assert_eq!(seen["email"]["value"], "v@x.io");
    for field in ["custom_app_data", "external_account_id", "app_name"] {
        assert!(
            seen.get(field).is_none(),
            "blog sees shop's {field}: {seen}"
        );
    }
    // blog writes its own data; each app then sees only its own.
    let blog_view = w
        .update(&w.blog, id, json!({"custom_app_data": {"posts": 3}}))
        .await;
    assert_eq!(blog_view["custom_app_data"], json!({"posts": 3}));
    assert_eq!(blog_view["app_name"], "blog");
    assert_eq!(
        w.get(&w.shop, id).await["custom_app_data"],
        json!({"cart": 1})
    );
}

#[actix_web::test]
async fn another_tenants_users_do_not_exist_for_a_token() {
    let w = World::new().await;
    w.create(&w.shop, json!({"email": "t@x.io"})).await;
    let mut conn = w.app.db.connect().await;
    sqlx::query("INSERT INTO tenants (tenant_id, name) VALUES ('other', 'other')")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO users (tenant_id, user_id, email, email_normalized) VALUES ('other', 'u-other', 'o@x.io', 'o@x.io')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    for token in [&w.admin, &w.shop] {
        let res = w
            .op("getUserById", Method::GET, "/v1/users/u-other", token, None)
            .await;
        assert_eq!(res.status, 404);
        let res = w
            .op(
                "getUserByEmail",
                Method::GET,
                "/v1/users/email/o@x.io",
                token,
                None,
            )
            .await;
        assert_eq!(res.status, 404);
    }
    assert_eq!(w.count(&w.admin, "").await, 1);
}

#[actix_web::test]
async fn lookups_named_groups_are_lookups_not_group_listings() {
    let w = World::new().await;
    let user = w
        .create(
            &w.shop,
            json!({"email": "g@x.io", "username": "groups", "external_user_id": "groups",
                   "credentials": {"password": "a long enough passphrase"}}),
        )
        .await;
    for (op, path) in [
        ("getUserByUsername", "/v1/users/username/groups"),
        (
            "getUserByExternalUserId",
            "/v1/users/external-user-id/groups",
        ),
    ] {
        let res = w.op(op, Method::GET, path, &w.shop, None).await;
        assert_eq!(res.status, 200, "{path}: {}", res.text);
        assert_eq!(res.json()["result"]["user_id"], user["user_id"]);
    }
}

#[actix_web::test]
async fn look_alike_identifiers_do_not_make_a_second_user() {
    let w = World::new().await;
    w.create(
        &w.shop,
        json!({"email": "ann@x.io", "username": "ann", "credentials": {"password": "a long enough passphrase"}}),
    )
    .await;
    let before = w.snapshot().await;
    let res = w
        .try_create(&w.shop, &json!({"email": "b@x.io", "username": "ＡＮＮ", "credentials": {"password": "a long enough passphrase"}}))
        .await;
    assert_eq!(
        res.status, 409,
        "full-width letters fold onto `ann`: {}",
        res.text
    );
    for body in [
        json!({"email": "c@x.io", "username": "ann\u{200b}", "credentials": {"password": "a long enough passphrase"}}),
        json!({"email": "ann@ｘ.io"}),
        json!({"email": "аnn@x.io"}),
    ] {
        let res = w.try_create(&w.shop, &body).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
    }
    assert_eq!(w.snapshot().await, before);
}

#[actix_web::test]
async fn nul_characters_are_400s_not_database_errors() {
    let w = World::new().await;
    let before = w.snapshot().await;
    for body in [
        json!({"email": "n@x.io", "custom_data": {"k": "a\u{0}b"}}),
        json!({"email": "n@x.io", "custom_app_data": {"k\u{0}": 1}}),
        json!({"email": "n@x.io", "custom_data": {"deep": [{"x": "\u{0}"}]}}),
        json!({"email": "n@x.io", "picture": "https://x.io/a\u{0}b"}),
        json!({"email": "n@x.io", "name": {"first_name": "a\u{0}"}}),
    ] {
        let res = w.try_create(&w.shop, &body).await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
    }
    for search in ["email%20eq%20%22a%00%22", "email%20eq%20%22a%5Cu0000%22"] {
        let res = w.list(&w.shop, &format!("?search={search}")).await;
        assert_eq!(res.status, 400, "{search}: {}", res.text);
    }
    assert_eq!(w.snapshot().await, before);
}

#[actix_web::test]
async fn an_admin_created_user_belongs_to_no_application() {
    let w = World::new().await;
    let user = w.create(&w.admin, json!({"email": "adm@x.io"})).await;
    for field in ["app_name", "custom_app_data", "external_account_id"] {
        assert!(user.get(field).is_none(), "{field}: {user}");
    }
    assert_eq!(
        (w.count(&w.shop, "").await, w.count(&w.admin, "").await),
        (0, 1)
    );
}

#[actix_web::test]
async fn a_birthday_given_as_a_date_time_is_stored_and_returned_as_its_date() {
    let w = World::new().await;
    for (given, stored) in [
        ("1990-05-17T00:00:00.000Z", "1990-05-17"),
        ("1990-05-17", "1990-05-17"),
        ("1990-05-17T23:30:00-02:00", "1990-05-18"),
    ] {
        let email = format!("b{}@x.io", idstore_domain::id::new_id());
        let user = w
            .create(&w.shop, json!({"email": email, "birthday": given}))
            .await;
        assert_eq!(user["birthday"], stored, "{given}");
        let id = user["user_id"].as_str().unwrap();
        assert_eq!(w.get(&w.shop, id).await["birthday"], stored, "{given}");
    }
    let res = w
        .try_create(
            &w.shop,
            &json!({"email": "bad@x.io", "birthday": "17 May 1990"}),
        )
        .await;
    assert!(messages(&res).contains("birthday"), "{}", res.text);
}

/// The stored `delegated_access` of a user, read in SQL (no operation
/// returns it).
async fn delegation_of(w: &World, user_id: &str) -> Option<Value> {
    sqlx::query_scalar("SELECT delegated_access FROM users WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&mut w.app.db.connect().await)
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_dependent_must_name_an_existing_actor_of_its_tenant() {
    let w = World::new().await;
    let (_, other_tenant) = w.app.second_tenant("elsewhere").await;
    let foreign_id = w.app.new_user(&other_tenant, "f@x.io").await;
    let before = w.snapshot().await;
    for actor in ["nobody-by-this-id", foreign_id.as_str()] {
        let res = w
            .try_create(
                &w.shop,
                &json!({"email": "kid@x.io",
                        "delegated_access": {"actor_id": actor, "permissions": ["read"]}}),
            )
            .await;
        assert!(
            messages(&res).contains("delegated_access.actor_id"),
            "{actor}: {}",
            res.text
        );
    }
    assert_eq!(
        w.snapshot().await,
        before,
        "a refused dependent leaves nothing behind"
    );
}

#[actix_web::test]
async fn deleting_the_actor_ends_its_dependents_delegation() {
    let w = World::new().await;
    let parent = w.create(&w.shop, json!({"email": "parent@x.io"})).await;
    let parent_id = parent["user_id"].as_str().unwrap();
    // An admin creates the dependent: a delegation makes the create a
    // transaction even when no application data is written.
    let kid = w
        .create(
            &w.admin,
            json!({"email": "kid@x.io",
                   "delegated_access": {"actor_id": parent_id, "permissions": ["read", "pay"]}}),
        )
        .await;
    let kid_id = kid["user_id"].as_str().unwrap();
    assert_eq!(
        delegation_of(&w, kid_id).await,
        Some(json!({"actor_id": parent_id, "permissions": ["read", "pay"]}))
    );
    let res = w
        .op(
            "deleteTenantUser",
            Method::DELETE,
            &format!("/v1/manage/users/{parent_id}"),
            &w.admin,
            None,
        )
        .await;
    assert_eq!(res.status, 204, "{}", res.text);
    assert_eq!(delegation_of(&w, kid_id).await, None);
    assert_eq!(
        w.get(&w.shop, kid_id).await["email"]["value"],
        "kid@x.io",
        "the dependent stays"
    );
}

#[actix_web::test]
async fn a_write_through_a_deleted_applications_token_is_refused_and_changes_nothing() {
    let w = World::new().await;
    let user = w.create(&w.admin, json!({"email": "kept@x.io"})).await;
    let user_id = user["user_id"].as_str().unwrap();
    let res = w
        .app
        .with_token(
            Method::DELETE,
            &format!("/v1/applications/{}", w.shop_id),
            &w.admin,
        )
        .await;
    assert!(res.status.is_success(), "{}", res.text);
    let before = w.snapshot().await;
    // Deleting the application revoked its clients' tokens. (Were a write
    // to reach the database first, on a replica yet to hear of it, the
    // foreign key would make it a 400: see the store's error mapping.)
    let res = w
        .try_create(&w.shop, &json!({"email": "orphan@x.io"}))
        .await;
    assert_eq!(res.status, 401, "{}", res.text);
    let res = w
        .try_update(&w.shop, user_id, &json!({"custom_app_data": {"k": 1}}))
        .await;
    assert_eq!(res.status, 401, "{}", res.text);
    assert_eq!(w.snapshot().await, before);
}
