//! Faults under load: the database crashing and coming back, idstore
//! killed and started again, while clients write. A load keeps a ledger
//! of every write idstore acknowledged (`idstore_tests::load`); afterwards
//! the tenant, as its clients list it, must hold every one of them and
//! nothing half written.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use idstore_tests::app::random_kek;
use idstore_tests::cluster::OwnCluster;
use idstore_tests::db::fresh_database;
use idstore_tests::load::{Event, Found, Load, Op, Record, Tokens};
use idstore_tests::tokens::new_client_secret;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::process::{Served, client_token, serve_on};

const ADMIN_ID: &str = "faults-admin";
const WORKERS: usize = 4;
/// How long a request waits for a pooled connection (the default).
const POOL_TIMEOUT: Duration = Duration::from_secs(2);

/// `idstore serve` on `database_url` with a fixed KEK, admin client and
/// public URL, so that a second process on the same database is the same
/// service to the clients.
async fn serve(dir: &std::path::Path, database_url: &str, kek: &str, secret: &str) -> Served {
    let mut cmd = serve_on(dir, database_url);
    let pool_timeout = POOL_TIMEOUT.as_millis().to_string();
    cmd.args(["--workers", "2", "--public-url", "https://id.faults.test"])
        .args(["--pool-timeout-ms", &pool_timeout])
        .env("IDSTORE_KEY_ENCRYPTION_KEY", kek)
        .env("IDSTORE_BOOTSTRAP_CLIENT_ID", ADMIN_ID)
        .env("IDSTORE_BOOTSTRAP_CLIENT_SECRET", secret);
    Served::start(cmd, Duration::from_secs(60)).await
}

async fn post(base: &str, path: &str, token: Option<&str>, body: Value) -> Value {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(20))
        .finish();
    let mut req = client.post(format!("{base}{path}"));
    if let Some(token) = token {
        req = req.insert_header(("authorization", format!("Bearer {token}")));
    }
    let mut res = req.send_json(&body).await.expect("request answered");
    let answer: Value = res.json().await.expect("a JSON answer");
    assert!(res.status().is_success(), "POST {path}: {answer}");
    answer
}

/// An admin token, and the token of a new application's client; the
/// application's id.
async fn tokens(base: &str, secret: &str) -> (Tokens, String) {
    let admin = client_token(base, ADMIN_ID, secret).await;
    let app = post(
        base,
        "/v1/applications",
        Some(&admin),
        json!({"app_name": "load", "client_display_name": "load"}),
    )
    .await;
    let app = &app["result"];
    let client = client_token(
        base,
        app["client_id"].as_str().unwrap(),
        app["client_secret"].as_str().unwrap(),
    )
    .await;
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    (Tokens { client, admin }, app_id)
}

/// Users of the tenant without a row tying them to the load's application,
/// as the schema sees them (every user the load creates has one).
async fn users_without_their_application(conn: &mut PgConnection, app_id: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM users u
          WHERE NOT EXISTS (SELECT 1 FROM user_apps a
                             WHERE a.tenant_id = u.tenant_id AND a.user_id = u.user_id
                               AND a.app_id = $1)",
    )
    .bind(app_id)
    .fetch_one(conn)
    .await
    .unwrap()
}

/// The end of a log, for a failure message.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn listed(events: &[&Event]) -> String {
    let mut lines: Vec<String> = events.iter().take(20).map(|e| e.to_string()).collect();
    if events.len() > 20 {
        lines.push(format!("... and {} more", events.len() - 20));
    }
    lines.join("\n")
}

/// When every worker has, since the last request that was not a 2xx (and
/// not before `back`), created, read and updated a user successfully: the
/// moment the service was whole again.
fn recovered(events: &[Event], back: Instant) -> Option<Instant> {
    let last_bad = events.iter().filter(|e| !e.ok()).map(|e| e.done).max();
    let since = last_bad.map_or(back, |bad| bad.max(back));
    let whole = (0..WORKERS).all(|w| {
        [Op::Create, Op::Read, Op::Update].iter().all(|op| {
            events
                .iter()
                .any(|e| e.worker == w && e.op == *op && e.sent >= since && e.ok())
        })
    });
    whole.then_some(since)
}

/// The ledger against what the tenant's clients list afterwards.
async fn assert_nothing_lost_or_half_written(base: &str, tokens: &Tokens, record: &Record) {
    assert!(
        record.stale_reads.is_empty(),
        "reads during the load missed acknowledged writes:\n{}",
        record.stale_reads.join("\n")
    );
    let found = Found::read(base, tokens).await;
    let problems = found.diff(&record.ledger);
    assert!(
        problems.is_empty(),
        "{} acknowledged creates, {} acknowledged updates; what is there differs:\n{}",
        record.ledger.users.len(),
        record.ledger.acked_updates,
        problems.join("\n")
    );
}

#[actix_web::test]
async fn a_postgresql_crash_under_load_is_answered_503_then_recovered_from_without_losing_an_acknowledged_write()
 {
    let Some(cluster) = OwnCluster::start().await else {
        eprintln!("SKIPPED: no PostgreSQL binaries installed to run a cluster of the test's own");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let secret = new_client_secret();
    let mut served = serve(dir.path(), &cluster.url(), &random_kek(), &secret).await;
    let base = served.url("");
    let (tokens, app_id) = tokens(&base, &secret).await;

    let load = Load::start(&base, tokens.clone(), None, WORKERS);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    load.until_writes_in_flight(2).await;
    let crashed = Instant::now();
    cluster.crash().await;
    let down = Instant::now();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let back = cluster.start_again().await;
    let deadline = back + Duration::from_secs(15);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = Instant::now();
        let whole = recovered(&load.events(), back);
        if whole.is_some_and(|since| now > since + Duration::from_secs(2)) || now > deadline {
            break;
        }
    }
    let record = load.stop().await;
    let events = &record.events;

    // During the outage: 503 with Retry-After, and nothing else.
    let unexpected: Vec<&Event> = events
        .iter()
        .filter(|e| !e.ok() && !e.is_retry_later())
        .filter(|e| {
            // The one 500 idstore answers on purpose (README, "Failure
            // behaviour"): a write whose COMMIT the crash cut off, so that
            // whether it took effect is unknown.
            let cut_off = e.op.writes() && e.status() == Some(500) && e.spans(crashed, down);
            !cut_off
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "answers other than 2xx or 503 with Retry-After (no answer means a hang past \
         {:?}):\n{}\nlog:\n{}",
        idstore_tests::load::CLIENT_TIMEOUT,
        listed(&unexpected),
        tail(&served.log())
    );
    let slowest = events.iter().map(|e| e.done - e.sent).max().unwrap();
    assert!(
        slowest < POOL_TIMEOUT + Duration::from_secs(2),
        "an answer took {slowest:?}: longer than waiting for a pooled connection"
    );
    let refused_while_down = events
        .iter()
        .filter(|e| e.is_retry_later() && e.sent >= down && e.sent < back)
        .count();
    assert!(
        refused_while_down > 0,
        "no request reached idstore while PostgreSQL was down"
    );

    // Back within 10 s of PostgreSQL accepting connections, same process.
    let since = recovered(events, back).unwrap_or_else(|| {
        let late: Vec<&Event> = events.iter().filter(|e| !e.ok() && e.done > back).collect();
        panic!(
            "not every worker created, read and updated a user successfully within {:?} of \
             PostgreSQL's return; failures since:\n{}",
            deadline - back,
            listed(&late)
        )
    });
    let took = since - back;
    assert!(
        took < Duration::from_secs(10),
        "recovered {took:?} after PostgreSQL was back"
    );
    assert!(
        served.is_running(),
        "idstore exited:\n{}",
        tail(&served.log())
    );
    eprintln!(
        "{} requests, {} refused with 503 ({refused_while_down} while PostgreSQL was down for \
         {:?}), {} cut off with 500, {} acknowledged creates and {} updates; slowest answer \
         {slowest:?}; whole again {took:?} after it was back",
        events.len(),
        events.iter().filter(|e| e.is_retry_later()).count(),
        back - crashed,
        events.iter().filter(|e| e.status() == Some(500)).count(),
        record.ledger.users.len(),
        record.ledger.acked_updates,
    );

    assert_nothing_lost_or_half_written(&base, &tokens, &record).await;
    let mut conn = PgConnection::connect_with(&cluster.options())
        .await
        .unwrap();
    assert_eq!(users_without_their_application(&mut conn, &app_id).await, 0);
}

#[actix_web::test]
async fn kill_9_of_idstore_under_write_load_then_a_restart_loses_no_acknowledged_write_and_leaves_no_partial_rows()
 {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let (kek, secret) = (random_kek(), new_client_secret());
    let mut first = serve(dir.path(), &db.url(), &kek, &secret).await;
    let (tokens, app_id) = tokens(&first.url(""), &secret).await;
    let group = post(
        &first.url(""),
        "/v1/admin/groups",
        Some(&tokens.admin),
        json!({"name": "load"}),
    )
    .await;
    let group_id = group["result"]["group_id"].as_str().unwrap().to_owned();

    // Many workers, and the kill when most of them are writing: as many
    // writes as may be cut in the middle.
    let load = Load::start(&first.url(""), tokens.clone(), Some(group_id), 2 * WORKERS);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    load.until_writes_in_flight(WORKERS + 2).await;
    let killed = Instant::now();
    first.signal("KILL");
    let exit = first.wait(Duration::from_secs(10)).await;
    assert_eq!(exit.signal(), Some(9), "{exit:?}");

    let second = serve(dir.path(), &db.url(), &kek, &secret).await;
    load.point_at(&second.url(""));
    let restarted = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let record = load.stop().await;
    let events = &record.events;

    // Only requests between the kill and the new process go unanswered.
    let unexpected: Vec<&Event> = events
        .iter()
        .filter(|e| {
            let unanswered_in_the_gap = e.status().is_none() && e.spans(killed, restarted);
            !e.ok() && !unanswered_in_the_gap
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "answers other than 2xx:\n{}\nlog:\n{}",
        listed(&unexpected),
        tail(&second.log())
    );
    let cut = events
        .iter()
        .filter(|e| e.op.writes() && e.status().is_none() && e.sent < killed)
        .count();
    assert!(cut > 0, "the kill cut no write in flight");
    let served_after = events
        .iter()
        .filter(|e| e.sent >= restarted && e.ok())
        .count();
    assert!(served_after > 0, "the new process served none of the load");
    let batches = record.ledger.batches.len();
    eprintln!(
        "{} requests, {cut} writes cut by the kill, {} acknowledged creates, {} updates, \
         {batches} batches of members; {served_after} answered by the new process",
        events.len(),
        record.ledger.users.len(),
        record.ledger.acked_updates,
    );
    assert!(batches > 0, "the load added no members");

    assert_nothing_lost_or_half_written(&second.url(""), &tokens, &record).await;
    let mut conn = db.connect().await;
    assert_eq!(users_without_their_application(&mut conn, &app_id).await, 0);
}
