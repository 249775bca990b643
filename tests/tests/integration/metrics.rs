//! `/metrics`: Prometheus text a scraper reads without a token; its
//! series exist and move, and carry route templates, never identifiers.

use actix_web::http::Method;
use idstore_tests::app::{ClientCredentials, TestApp};

async fn scrape(app: &TestApp) -> String {
    let res = app.get("/metrics").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(
        res.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        res.header("content-type")
    );
    res.text
}

/// The value of the sample of `name` whose labels include all of `labels`
/// (0 when there is none yet).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[actix_web::test]
async fn request_counts_and_latencies_move_by_route_template_and_status() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let user = app.new_user(&admin, "metrics@example.com").await;
    let by_id = [
        ("route", "/v1/users/{user_id}"),
        ("status", "200"),
        ("method", "GET"),
    ];
    let before = scrape(&app).await;
    for _ in 0..3 {
        app.with_token(Method::GET, &format!("/v1/users/{user}"), &admin)
            .await;
    }
    app.with_token(Method::GET, "/v1/users/email/metrics@example.com", &admin)
        .await;
    let after = scrape(&app).await;
    let moved = sample(&after, "idstore_http_requests_total", &by_id)
        - sample(&before, "idstore_http_requests_total", &by_id);
    assert!(moved >= 3.0, "moved by {moved}:\n{after}");
    let count = "idstore_http_request_duration_seconds_count";
    assert!(
        sample(&after, count, &[("route", "/v1/users/{user_id}")])
            > sample(&before, count, &[("route", "/v1/users/{user_id}")])
    );
    assert!(
        after.contains("idstore_http_request_duration_seconds_bucket{"),
        "{after}"
    );
    assert!(
        after.contains(r#"route="/v1/users/email/{email}""#),
        "{after}"
    );
    // Paths carry identifiers; the series carry only templates.
    assert!(
        !after.contains("metrics@example.com"),
        "an email leaked into /metrics"
    );
    assert!(!after.contains(&user), "a user id leaked into /metrics");
    for gauge in [
        "idstore_db_pool_connections",
        "idstore_db_pool_max_connections",
        "idstore_hash_queue_depth",
    ] {
        assert!(
            after.lines().any(|l| l.starts_with(gauge)),
            "{gauge} missing:\n{after}"
        );
    }
}

#[actix_web::test]
async fn token_issuance_and_failed_client_authentications_are_counted() {
    let app = TestApp::spawn().await;
    let before = scrape(&app).await;
    app.admin_token().await;
    let wrong = ClientCredentials {
        client_id: app.admin.client_id.clone(),
        client_secret: "wrong".into(),
    };
    assert_eq!(app.authenticate(&wrong).await.status, 401);
    let after = scrape(&app).await;
    let issued = |t: &str| sample(t, "idstore_tokens_issued_total", &[("kind", "admin")]);
    assert!(issued(&after) >= issued(&before) + 1.0, "{after}");
    let failed = |t: &str| sample(t, "idstore_client_auth_failures_total", &[]);
    assert!(failed(&after) >= failed(&before) + 1.0, "{after}");
    assert!(!after.contains(&app.admin.client_secret));
}
