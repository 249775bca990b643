//! The token endpoint's throttle and rate limits: per source address, so
//! that nobody can lock a client out from elsewhere, with growing delays,
//! and alike for client ids that exist and ones that don't.

use std::time::Duration;

use idstore_tests::app::{ClientCredentials, TestApp, TestResponse};

const ATTACKER: &str = "203.0.113.66";
const OWNER: &str = "198.51.100.10";

/// An app whose peer (127.0.0.1) is a trusted proxy, so tests choose the
/// source with `X-Forwarded-For`.
async fn behind_a_proxy() -> TestApp {
    TestApp::spawn_with(|c| c.trusted_proxies = "127.0.0.1".into()).await
}

fn retry_after(res: &TestResponse) -> u64 {
    res.header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {} {}", res.status, res.text))
}

fn wrong(client: &ClientCredentials) -> ClientCredentials {
    ClientCredentials {
        client_id: client.client_id.clone(),
        client_secret: "wrong-secret".into(),
    }
}

#[actix_web::test]
async fn an_attackers_failures_delay_only_the_attacker_and_grow() {
    let app = behind_a_proxy().await;
    let victim = app.admin.clone();
    for i in 0..5 {
        let res = app.authenticate_from(ATTACKER, &wrong(&victim)).await;
        assert_eq!(res.status, 401, "guess {i}: {}", res.text);
    }
    let res = app.authenticate_from(ATTACKER, &wrong(&victim)).await;
    assert_eq!(res.status, 429, "{}", res.text);
    assert_eq!(retry_after(&res), 1);

    // The owner, from elsewhere, is never refused for the attacker's guesses.
    let res = app.authenticate_from(OWNER, &victim).await;
    assert_eq!(res.status, 200, "{}", res.text);

    // Each checked failure past the free ones doubles the wait.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = app.authenticate_from(ATTACKER, &wrong(&victim)).await;
    assert_eq!(
        res.status, 401,
        "checked again after the delay: {}",
        res.text
    );
    let res = app.authenticate_from(ATTACKER, &victim).await;
    assert_eq!(res.status, 429, "even the right secret waits: {}", res.text);
    assert_eq!(retry_after(&res), 2);

    // Once the wait is over, the right secret works and ends the streak.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let res = app.authenticate_from(ATTACKER, &victim).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app.authenticate_from(ATTACKER, &wrong(&victim)).await;
    assert_eq!(res.status, 401, "a new streak starts free: {}", res.text);
}

#[actix_web::test]
async fn unknown_client_ids_are_answered_exactly_like_known_ones() {
    let app = behind_a_proxy().await;
    let known = wrong(&app.admin);
    let unknown = ClientCredentials {
        client_id: "no-such-client".into(),
        client_secret: "wrong-secret".into(),
    };
    let mut answers = Vec::new();
    for client in [&known, &unknown] {
        let mut seen = Vec::new();
        for _ in 0..7 {
            let res = app.authenticate_from(ATTACKER, client).await;
            seen.push((
                res.status.as_u16(),
                res.header("retry-after").map(str::to_owned),
                res.text,
            ));
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1][6].0, 429, "{:?}", answers[1]);
}

#[actix_web::test]
async fn forwarded_for_from_an_untrusted_peer_cannot_pick_a_fresh_source() {
    let app = TestApp::spawn().await;
    let victim = wrong(&app.admin);
    for i in 0..5 {
        let res = app
            .authenticate_from(&format!("192.0.2.{i}"), &victim)
            .await;
        assert_eq!(res.status, 401, "{}", res.text);
    }
    let res = app.authenticate_from("192.0.2.99", &victim).await;
    assert_eq!(res.status, 429, "the header was believed: {}", res.text);
}

#[actix_web::test]
async fn one_source_cannot_send_more_token_requests_than_its_rate() {
    let app = TestApp::spawn_with(|c| {
        c.trusted_proxies = "127.0.0.1".into();
        c.token_rate_per_source = 5;
    })
    .await;
    // Unknown ids cost a full hash each: the limiter stops them first.
    // Sent at once, so that the bucket cannot refill between them however
    // slow a loaded machine makes each hash.
    let clients: Vec<ClientCredentials> = (0..30)
        .map(|i| ClientCredentials {
            client_id: format!("made-up-{i}"),
            client_secret: "x".into(),
        })
        .collect();
    let answers = futures_util::future::join_all(
        clients
            .iter()
            .map(|client| app.authenticate_from(ATTACKER, client)),
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited >= 15, "{statuses:?}");
    let res = app.authenticate_from(OWNER, &app.admin).await;
    assert_eq!(
        res.status, 200,
        "another source is unaffected: {}",
        res.text
    );
}

#[actix_web::test]
async fn all_sources_together_cannot_send_more_than_the_global_rate() {
    let app = TestApp::spawn_with(|c| {
        c.trusted_proxies = "127.0.0.1".into();
        c.token_rate_global = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..20 {
        let client = ClientCredentials {
            client_id: format!("made-up-{i}"),
            client_secret: "x".into(),
        };
        let res = app
            .authenticate_from(&format!("192.0.2.{i}"), &client)
            .await;
        statuses.push(res.status.as_u16());
    }
    let limited: Vec<_> = statuses.iter().filter(|s| **s == 429).collect();
    assert!(limited.len() >= 10, "{statuses:?}");
}

/// Moves the attacker's streak on `victim` in time (as if its attempts and
/// block were `ago` and `until` from now) and sets its failure count.
async fn age_streak(
    app: &TestApp,
    victim: &ClientCredentials,
    failures: i32,
    ago: &str,
    until: &str,
) {
    let moved = sqlx::query(
        "UPDATE client_auth_throttle
            SET failures = $2,
                last_attempt = now() - $3::interval,
                blocked_until = now() + $4::interval
          WHERE client_id = $1 AND source = $5",
    )
    .bind(&victim.client_id)
    .bind(failures)
    .bind(ago)
    .bind(until)
    .bind(ATTACKER)
    .execute(&mut app.db.connect().await)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(moved, 1, "no streak of the attacker's");
}

#[actix_web::test]
async fn a_block_longer_than_the_forget_window_holds_and_a_long_streak_does_not_overflow() {
    let app = behind_a_proxy().await;
    let victim = app.admin.clone();
    for _ in 0..5 {
        app.authenticate_from(ATTACKER, &wrong(&victim)).await;
    }
    // Last attempt 2 h ago (past the 1 h forget window), still blocked for
    // an hour: the block holds, the streak is not forgotten.
    age_streak(&app, &victim, 5, "2 hours", "1 hour").await;
    let res = app.authenticate_from(ATTACKER, &victim).await;
    assert_eq!(res.status, 429, "the block ended early: {}", res.text);

    // The block ended 2 h ago: forgotten, the attacker starts afresh.
    age_streak(&app, &victim, 5, "3 hours", "-2 hours").await;
    for i in 0..4 {
        let res = app.authenticate_from(ATTACKER, &wrong(&victim)).await;
        assert_eq!(res.status, 401, "guess {i} after forgetting: {}", res.text);
    }

    // Thousands of failures in a row: the delay is capped, not an error.
    age_streak(&app, &victim, 5000, "0 seconds", "-1 second").await;
    let res = app.authenticate_from(ATTACKER, &wrong(&victim)).await;
    assert_eq!(res.status, 401, "{}", res.text);
    let res = app.authenticate_from(ATTACKER, &wrong(&victim)).await;
    assert_eq!(res.status, 429, "{}", res.text);
}
