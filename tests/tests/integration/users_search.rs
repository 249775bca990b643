//! getUsers and getUsersCount: scope by token, paging, sorting, prefix
//! search and SCIM filters, and the 400s for every bad parameter.

use actix_web::http::Method;
use idstore_tests::users::{World, ids, messages};
use serde_json::json;

/// Five users of shop (one of them also in blog) and one of blog only,
/// created in this order; their ids in creation order.
async fn populated() -> (World, Vec<String>) {
    let w = World::new().await;
    let mut made = vec![];
    for (i, (email, phone, tier)) in [
        ("carol@x.io", "+12125550103", "gold"),
        ("alice@x.io", "+12125550101", "silver"),
        ("bob@y.io", "+12125550102", "gold"),
        ("dave@y.io", "+447911123456", "bronze"),
        ("erin@x.io", "+12125550105", "gold"),
    ]
    .into_iter()
    .enumerate()
    {
        let u = w
            .create(
                &w.shop,
                json!({"email": email, "phone_number": phone, "custom_data": {"tier": tier, "n": i},
                       "name": {"first_name": email.split('@').next().unwrap()}}),
            )
            .await;
        made.push(u["user_id"].as_str().unwrap().to_owned());
    }
    let only_blog = w.create(&w.blog, json!({"email": "frank@z.io"})).await;
    made.push(only_blog["user_id"].as_str().unwrap().to_owned());
    w.update(&w.blog, &made[0], json!({"custom_app_data": {"b": 1}}))
        .await;
    (w, made)
}

fn pick(all: &[String], idx: &[usize]) -> Vec<String> {
    idx.iter().map(|&i| all[i].clone()).collect()
}

#[actix_web::test]
async fn a_client_lists_and_counts_its_apps_users_and_an_admin_the_tenants() {
    let (w, u) = populated().await;
    assert_eq!(w.list_ids(&w.shop, "").await, pick(&u, &[0, 1, 2, 3, 4]));
    assert_eq!(w.list_ids(&w.blog, "").await, pick(&u, &[0, 5]));
    assert_eq!(w.list_ids(&w.admin, "").await, u);
    assert_eq!(
        (
            w.count(&w.shop, "").await,
            w.count(&w.blog, "").await,
            w.count(&w.admin, "").await
        ),
        (5, 2, 6)
    );
    let body = w.list(&w.blog, "").await.json();
    assert_eq!(body["total_count"], 2);
    assert_eq!(
        body["page_info"],
        json!({"has_next_page": false, "has_previous_page": false})
    );
    // blog's view of a shared user carries blog's data only.
    assert_eq!(body["result"][0]["custom_app_data"], json!({"b": 1}));
}

#[actix_web::test]
async fn pages_follow_the_total_and_never_overlap() {
    let (w, u) = populated().await;
    let mut seen = vec![];
    for offset in [0, 2, 4] {
        let body = w
            .list(&w.admin, &format!("?page_limit=2&page_offset={offset}"))
            .await
            .json();
        assert_eq!(body["total_count"], 6);
        assert_eq!(body["page_info"]["has_previous_page"], offset > 0);
        assert_eq!(body["page_info"]["has_next_page"], offset + 2 < 6);
        seen.extend(ids(&body["result"]));
    }
    assert_eq!(seen, u);
    let past = w.list(&w.admin, "?page_offset=10").await.json();
    assert_eq!(past["result"], json!([]));
    assert_eq!(
        past["page_info"],
        json!({"has_next_page": false, "has_previous_page": true})
    );
}

#[actix_web::test]
async fn every_sort_field_orders_deterministically_both_ways() {
    let (w, u) = populated().await;
    let by_email = pick(&u, &[1, 2, 0, 3, 4, 5]);
    assert_eq!(w.list_ids(&w.admin, "?sort_field=email").await, by_email);
    let mut reversed = by_email.clone();
    reversed.reverse();
    assert_eq!(
        w.list_ids(&w.admin, "?sort_field=email&sort_order=desc")
            .await,
        reversed
    );
    // frank has no phone: NULLs sort last ascending.
    assert_eq!(
        w.list_ids(&w.admin, "?sort_field=phone_number").await,
        pick(&u, &[1, 2, 0, 4, 3, 5])
    );
    assert_eq!(
        w.list_ids(&w.admin, "?sort_field=created_at&sort_order=asc")
            .await,
        u
    );
    // Nobody has logged in: ties break on user_id, which is time-ordered.
    assert_eq!(w.list_ids(&w.admin, "?sort_field=last_auth").await, u);
}

#[actix_web::test]
async fn search_prefix_matches_the_start_of_the_primary_email_or_phone() {
    let (w, u) = populated().await;
    assert_eq!(
        w.list_ids(&w.admin, "?search_prefix=BO").await,
        pick(&u, &[2])
    );
    assert_eq!(
        w.list_ids(&w.admin, "?search_prefix=%2B44").await,
        pick(&u, &[3])
    );
    assert_eq!(
        w.list_ids(&w.admin, "?search_prefix=%2B1212555010").await,
        pick(&u, &[0, 1, 2, 4])
    );
    // LIKE wildcards are literal characters here.
    assert!(w.list_ids(&w.admin, "?search_prefix=%25").await.is_empty());
    assert!(w.list_ids(&w.admin, "?search_prefix=_").await.is_empty());
}

#[actix_web::test]
async fn scim_filters_select_users_and_combine_with_scope_and_prefix() {
    let (w, u) = populated().await;
    let q = |f: &str| {
        format!(
            "?search={}",
            url::form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()
        )
    };
    for (filter, expected) in [
        (r#"email eq "ALICE@x.io""#, vec![1]),
        (r#"email sw "b""#, vec![2]),
        (r#"email ew "@y.io""#, vec![2, 3]),
        (r#"email co "rin""#, vec![4]),
        (r#"custom_data.tier eq "gold""#, vec![0, 2, 4]),
        (
            r#"custom_data.tier eq "gold" and not (email ew "y.io")"#,
            vec![0, 4],
        ),
        (
            r#"custom_data.tier eq "bronze" or phone_number sw "+1212555010""#,
            vec![0, 1, 2, 3, 4],
        ),
        (
            r#"status eq "Active" and custom_data.n pr"#,
            vec![0, 1, 2, 3, 4],
        ),
        (
            r#"created_at gt "2000-01-01T00:00:00Z""#,
            vec![0, 1, 2, 3, 4],
        ),
        (r#"created_at lt "2000-01-01""#, vec![]),
    ] {
        assert_eq!(
            w.list_ids(&w.shop, &q(filter)).await,
            pick(&u, &expected),
            "{filter}"
        );
        assert_eq!(
            w.count(&w.shop, &q(filter)).await,
            expected.len() as i64,
            "{filter}"
        );
    }
    assert_eq!(
        w.list_ids(
            &w.admin,
            &format!("{}&search_prefix=c", q(r#"custom_data.tier eq "gold""#))
        )
        .await,
        pick(&u, &[0])
    );
    assert_eq!(
        w.list_ids(&w.blog, &q(r#"custom_app_data.b eq 1"#)).await,
        pick(&u, &[0])
    );
}

#[actix_web::test]
async fn bad_list_parameters_are_400s_that_say_what_to_fix() {
    let (w, _) = populated().await;
    for (query, mentions) in [
        ("?page_limit=0", "page_limit"),
        ("?page_limit=5001", "page_limit"),
        ("?page_limit=ten", "page_limit"),
        ("?page_offset=-1", "page_offset"),
        ("?page_offset=1.5", "page_offset"),
        ("?sort_field=name", "sort_field `name`"),
        ("?sort_field=organization_added_at", "organization_id"),
        ("?sort_order=up", "sort_order"),
        ("?pagelimit=5", "unknown field `pagelimit`"),
        ("?search=email%20eq", "search"),
        ("?search=(email%20eq%20%22a%22", "search"),
        ("?search=email%20eq%20%22a%22)", "search"),
        ("?search=shoe_size%20eq%201", "shoe_size"),
        ("?search=created_at%20gt%20%22soon%22", "created_at"),
        ("?search=email%20eq%205", "email"),
        ("?search=email%20co%20%22ri%22", "at least 3 characters"),
        ("?search=custom_data.tier%20co%20%22go%22", "custom_data"),
        ("?search=email%20eq%20%22x%22%20or%201=1%20--", "search"),
    ] {
        let res = w.list(&w.admin, query).await;
        let text = messages(&res);
        assert!(text.contains(mentions), "{query}: {text}");
    }
    let res = w
        .op(
            "getUsersCount",
            Method::GET,
            "/v1/users/count?search=email%20zz%20%22a%22",
            &w.admin,
            None,
        )
        .await;
    assert!(
        messages(&res).contains("position"),
        "a filter error says where it failed"
    );
}

#[actix_web::test]
async fn a_filter_string_that_looks_like_sql_is_only_ever_a_value() {
    let (w, _) = populated().await;
    let evil = r#"email eq "x' OR '1'='1" or custom_data.tier eq "'; DROP TABLE users; --""#;
    let query = format!(
        "?search={}",
        url::form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>()
    );
    assert!(w.list_ids(&w.admin, &query).await.is_empty());
    assert_eq!(w.count(&w.admin, "").await, 6, "users table intact");
}
