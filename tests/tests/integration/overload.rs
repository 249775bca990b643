//! A slow or busy database: every wait idstore does on it is bounded, and
//! each bound is answered 503 with `Retry-After`, never a 500 or a hang.
//! Locks held by the test's own connection stand in for slow work.

use std::time::{Duration, Instant};

use actix_web::http::Method;
use futures_util::future::join_all;
use idstore_tests::{TestApp, TestResponse};
use serde_json::json;
use sqlx::{Connection, PgConnection};

fn assert_503(res: &TestResponse, context: &str) {
    assert_eq!(res.status, 503, "{context}: {}", res.text);
    assert_eq!(res.json()["error_code"], 503, "{context}: {}", res.text);
    assert_eq!(res.header("retry-after"), Some("2"), "{context}");
}

fn answered_within(started: Instant, seconds: u64) {
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(seconds),
        "answered after {took:?}"
    );
}

/// A transaction holding `sql`'s locks until it is dropped.
async fn holding(app: &TestApp, sql: &str) -> (PgConnection, Instant) {
    let mut conn = app.db.connect().await;
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    (conn, Instant::now())
}

async fn release(mut conn: PgConnection) {
    sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

#[actix_web::test]
async fn a_user_row_locked_elsewhere_makes_put_a_503_within_the_lock_budget() {
    let app = TestApp::spawn_with(|c| c.lock_timeout_ms = 300).await;
    let admin = app.admin_token().await;
    let user_id = app.new_user(&admin, "l@x.io").await;
    let path = format!("/v1/users/{user_id}");
    let body = json!({"language": "de"});

    let (lock, _) = holding(
        &app,
        &format!("SELECT 1 FROM users WHERE user_id = '{user_id}' FOR UPDATE"),
    )
    .await;
    let started = Instant::now();
    let res = app.with_body(Method::PUT, &path, &admin, &body).await;
    assert_503(&res, "PUT of a locked user");
    answered_within(started, 2);
    release(lock).await;

    let read = app.with_token(Method::GET, &path, &admin).await;
    assert!(
        read.json()["result"].get("language").is_none(),
        "the refused PUT wrote: {}",
        read.text
    );
    let res = app.with_body(Method::PUT, &path, &admin, &body).await;
    assert_eq!(res.status, 200, "once the lock is gone: {}", res.text);
}

#[actix_web::test]
async fn a_statement_over_its_time_budget_is_a_503() {
    let app = TestApp::spawn_with(|c| {
        c.statement_timeout_ms = 300;
        c.lock_timeout_ms = 0;
    })
    .await;
    let admin = app.admin_token().await;
    let (lock, _) = holding(&app, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE").await;
    let started = Instant::now();
    let res = app.with_token(Method::GET, "/v1/users/count", &admin).await;
    assert_503(&res, "count behind a table lock");
    answered_within(started, 2);
    release(lock).await;
    let res = app.with_token(Method::GET, "/v1/users/count", &admin).await;
    assert_eq!(res.status, 200, "{}", res.text);
}

#[actix_web::test]
async fn a_burst_of_searches_on_a_small_pool_is_refused_fast_and_readiness_stays_up() {
    let app = TestApp::spawn_with(|c| {
        c.max_connections = 2;
        c.pool_timeout_ms = 500;
        c.lock_timeout_ms = 1500;
        c.search_concurrency = 100;
    })
    .await;
    let admin = app.admin_token().await;
    // Every search now waits on the lock, holding its connection: the pool
    // runs dry and the rest wait for it.
    let (lock, _) = holding(&app, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE").await;
    let timed = |path: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let started = Instant::now();
            let res = app.with_token(Method::GET, path, admin).await;
            (res, started.elapsed())
        }
    };
    let burst = join_all((0..50).map(|_| timed("/v1/users/count")));
    let readiness = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        app.get("/readyz").await
    };
    let (answers, ready) = tokio::join!(burst, readiness);
    assert_eq!(
        ready.status, 200,
        "readiness during the burst: {}",
        ready.text
    );
    let mut slow = 0;
    for (res, took) in &answers {
        assert_503(res, "a search in the burst");
        if *took >= Duration::from_secs(3) {
            slow += 1;
        }
    }
    assert_eq!(slow, 0, "every request is answered within 3 s");
    release(lock).await;

    let recovered = Instant::now();
    loop {
        let (res, _) = timed("/v1/users/count").await;
        if res.status == 200 {
            break;
        }
        assert!(
            recovered.elapsed() < Duration::from_secs(5),
            "no recovery: {}",
            res.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connections: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
    )
    .bind(&app.db.name)
    .bind(idstore_store::APPLICATION_NAME)
    .fetch_one(&mut app.db.connect().await)
    .await
    .unwrap();
    assert!(
        connections <= 3,
        "{connections} connections: the pool's 2 and readiness' 1 at most"
    );
}

#[actix_web::test]
async fn one_client_cannot_run_more_than_its_share_of_searches() {
    let app = TestApp::spawn_with(|c| {
        c.search_concurrency = 2;
        c.search_queue_ms = 300;
        // The two searches admitted hold their slots until the lock goes;
        // the other eight give up waiting well before that.
        c.lock_timeout_ms = 4000;
    })
    .await;
    let admin = app.admin_token().await;
    let (_, shop) = app.create_app(&admin, "shop").await;
    let shop = app.token_for(&shop).await;
    let (lock, _) = holding(&app, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE").await;
    let timed = |token: &str| {
        let (app, token) = (&app, token.to_owned());
        async move {
            let started = Instant::now();
            let res = app.with_token(Method::GET, "/v1/users", &token).await;
            (res, started.elapsed())
        }
    };
    let held_for = Duration::from_millis(1500);
    let (admins, other, ()) = tokio::join!(
        join_all((0..10).map(|_| timed(&admin))),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            timed(&shop).await
        },
        async {
            tokio::time::sleep(held_for).await;
            release(lock).await;
        }
    );
    let refused: Vec<_> = admins
        .iter()
        .filter(|(res, _)| {
            res.status == 429
                && res.header("retry-after") == Some("2")
                && res.text.contains("searches running")
        })
        .collect();
    let served = admins.iter().filter(|(res, _)| res.status == 200).count();
    assert_eq!(
        (served, refused.len()),
        (2, 8),
        "two of ten run, the rest are refused"
    );
    for (res, took) in refused {
        assert!(
            (Duration::from_millis(300)..held_for).contains(took),
            "refused after {took:?}, not after waiting search_queue_ms: {}",
            res.text
        );
    }
    // Another client's search is not counted against the admin's share.
    assert_eq!(other.0.status, 200, "{}", other.0.text);
    let (res, _) = timed(&admin).await;
    assert_eq!(res.status, 200, "slots come back: {}", res.text);
}

#[actix_web::test]
async fn searches_over_a_clients_share_wait_for_a_slot_holding_no_connection() {
    let app = TestApp::spawn_with(|c| {
        c.search_concurrency = 2;
        c.search_queue_ms = 10_000;
        c.lock_timeout_ms = 8000;
    })
    .await;
    let admin = app.admin_token().await;
    let (lock, _) = holding(&app, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE").await;
    let searches = join_all((0..10).map(|_| app.with_token(Method::GET, "/v1/users", &admin)));
    let (answers, at_the_database) = tokio::join!(searches, async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = $1 AND application_name = $2 AND wait_event_type = 'Lock'",
        )
        .bind(&app.db.name)
        .bind(idstore_store::APPLICATION_NAME)
        .fetch_one(&mut app.db.connect().await)
        .await
        .unwrap();
        release(lock).await;
        waiting
    });
    assert_eq!(
        at_the_database, 2,
        "the client's share of searches at the database, the rest waiting for a slot"
    );
    for res in &answers {
        assert_eq!(res.status, 200, "a search that waited: {}", res.text);
    }
}

#[actix_web::test]
async fn serving_connections_start_with_their_timeouts() {
    let db = idstore_tests::db::fresh_database().await;
    let settings = idstore_store::PoolSettings {
        max_connections: 1,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_millis(1500),
        lock_timeout: Duration::from_millis(700),
        idle_in_transaction_timeout: Duration::from_secs(9),
    };
    let pool = idstore_store::connect_pool(&db.options, &settings);
    let show = |name: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("SHOW {name}")))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(show("statement_timeout").await, "1500ms");
    assert_eq!(show("lock_timeout").await, "700ms");
    assert_eq!(show("idle_in_transaction_session_timeout").await, "9s");
    assert_eq!(
        show("application_name").await,
        idstore_store::APPLICATION_NAME
    );
}

#[actix_web::test]
async fn a_burst_of_client_authentications_beyond_the_hash_queue_is_refused_with_503() {
    let app = TestApp::spawn_with(|c| {
        c.hash_workers = 1;
        c.hash_queue = 0;
    })
    .await;
    let guesses = (0..30).map(|i| idstore_tests::app::ClientCredentials {
        client_id: format!("no-such-client-{i}"),
        client_secret: "a-guess-that-costs-a-hash".into(),
    });
    let guesses: Vec<_> = guesses.collect();
    let answers = join_all(guesses.iter().map(|g| app.authenticate(g))).await;
    let mut busy = 0;
    for res in &answers {
        match res.status.as_u16() {
            401 => assert_eq!(res.json()["error"], "invalid_client", "{}", res.text),
            503 => {
                res.assert_temporarily_unavailable();
                busy += 1;
            }
            other => panic!("{other}: {}", res.text),
        }
    }
    assert!(
        busy > 0,
        "30 guesses at once on a queue of none: some are refused"
    );
    assert!(busy < 30, "the hashes that fit are checked");
    // Nothing stays taken: once the burst is over a guess is checked again.
    let res = app.authenticate(&guesses[0]).await;
    assert_eq!(res.status, 401, "{}", res.text);
}

#[actix_web::test]
async fn guesses_refused_for_a_full_hash_queue_do_not_use_up_the_clients_budget() {
    let app = TestApp::spawn_with(|c| {
        c.hash_workers = 1;
        c.hash_queue = 0;
    })
    .await;
    let wrong = idstore_tests::app::ClientCredentials {
        client_id: app.admin.client_id.clone(),
        client_secret: "not-the-secret".into(),
    };
    // Five wrong guesses at once: a source's free attempts. Those the
    // queue refuses were never checked and must not count.
    let answers = join_all((0..5).map(|_| app.authenticate(&wrong))).await;
    let busy = answers.iter().filter(|r| r.status == 503).count();
    assert!(busy > 0, "five hashes at once on a queue of none");
    assert!(
        answers
            .iter()
            .all(|r| [401, 503].contains(&r.status.as_u16()))
    );
    let res = app.authenticate(&app.admin).await;
    assert_eq!(res.status, 200, "the budget is not used up: {}", res.text);
}
