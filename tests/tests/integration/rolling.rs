//! Rolling restart: two idstore processes on one database behind a load
//! balancer that follows `/readyz`, each replaced in turn under steady
//! load, fail no request. What makes it so is the drain: on SIGTERM
//! readiness goes false first, the listener closes `drain_delay` later,
//! and in-flight requests finish.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use idstore_tests::app::random_kek;
use idstore_tests::balancer::Balancer;
use idstore_tests::db::fresh_database;
use idstore_tests::tokens::new_client_secret;
use serde_json::{Value, json};

use crate::process::{Served, client_token, serve_on};

const ADMIN_ID: &str = "rolling-admin";
/// Ten health checks of the balancer: it sees readiness go false well
/// before the listener closes.
const DRAIN_DELAY: Duration = Duration::from_secs(2);
const WORKERS: usize = 4;

/// `idstore serve` with the fixed KEK, admin client and public URL of the
/// one service every process here is.
async fn serve(dir: &std::path::Path, database_url: &str, kek: &str, secret: &str) -> Served {
    Served::start(
        command(dir, database_url, kek, secret),
        Duration::from_secs(60),
    )
    .await
}

fn command(
    dir: &std::path::Path,
    database_url: &str,
    kek: &str,
    secret: &str,
) -> tokio::process::Command {
    let mut cmd = serve_on(dir, database_url);
    cmd.args(["--workers", "2", "--public-url", "https://id.rolling.test"])
        .env("IDSTORE_DRAIN_DELAY", DRAIN_DELAY.as_secs().to_string())
        .env("IDSTORE_SHUTDOWN_TIMEOUT", "10")
        .env("IDSTORE_KEY_ENCRYPTION_KEY", kek)
        .env("IDSTORE_BOOTSTRAP_CLIENT_ID", ADMIN_ID)
        .env("IDSTORE_BOOTSTRAP_CLIENT_SECRET", secret);
    cmd
}

/// A client that opens a connection per request, so that the balancer
/// chooses a backend for each one.
fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish()
}

/// One request, on a connection of its own: its status and body, or why
/// there was none.
async fn call(
    method: &str,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let req = match method {
        "POST" => client().post(url),
        _ => client().get(url),
    }
    .insert_header(("connection", "close"));
    let req = match token {
        "" => req,
        token => req.insert_header(("authorization", format!("Bearer {token}"))),
    };
    let sent = match body {
        Some(body) => req.send_json(body).await,
        None => req.send().await,
    };
    let mut res = sent.map_err(|e| format!("no answer: {e}"))?;
    let status = res.status().as_u16();
    let bytes = res
        .body()
        .await
        .map_err(|e| format!("{status}, then the body was lost: {e}"))?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes))),
    ))
}

/// The token of a new application's client, which may create and read
/// users.
async fn app_token(base: &str, secret: &str) -> String {
    let admin = client_token(base, ADMIN_ID, secret).await;
    let (status, app) = call(
        "POST",
        &format!("{base}/v1/applications"),
        &admin,
        Some(&json!({"app_name": "rolling", "client_display_name": "rolling"})),
    )
    .await
    .expect("the application was created");
    assert_eq!(status, 201, "{app}");
    let app = &app["result"];
    client_token(
        base,
        app["client_id"].as_str().unwrap(),
        app["client_secret"].as_str().unwrap(),
    )
    .await
}

#[derive(Default)]
struct Tally {
    ok: Cell<usize>,
    failed: RefCell<Vec<String>>,
}

/// Creates a user, reads it back, and again, until `stop`; every answer
/// that is not the expected 2xx goes to `tally.failed`.
async fn worker(w: usize, base: String, token: String, stop: Rc<Cell<bool>>, tally: Rc<Tally>) {
    let started = Instant::now();
    let mut n = 0;
    while !stop.get() {
        n += 1;
        let at = started.elapsed();
        let body = json!({"email": format!("w{w}-{n}@rolling.test")});
        let created = call("POST", &format!("{base}/v1/users"), &token, Some(&body)).await;
        let id = match &created {
            Ok((201, answer)) => answer["result"]["user_id"].as_str().map(str::to_owned),
            _ => None,
        };
        let Some(id) = id else {
            tally.failed.borrow_mut().push(format!(
                "worker {w}, request {n} at {at:.2?}: POST /v1/users answered {created:?}"
            ));
            continue;
        };
        tally.ok.set(tally.ok.get() + 1);
        let at = started.elapsed();
        match call("GET", &format!("{base}/v1/users/{id}"), &token, None).await {
            Ok((200, answer)) if answer["result"]["user_id"] == id.as_str() => {
                tally.ok.set(tally.ok.get() + 1);
            }
            other => tally.failed.borrow_mut().push(format!(
                "worker {w}, request {n} at {at:.2?}: GET /v1/users/{id} answered {other:?}"
            )),
        }
    }
}

/// SIGTERM to `old`: the balancer must see it not ready while it still
/// runs; then it exits, and a new process takes its place.
async fn replace(
    mut old: Served,
    balancer: &Balancer,
    start: impl Future<Output = Served>,
) -> (Served, String) {
    old.signal("TERM");
    balancer.until_not_ready(old.address, DRAIN_DELAY / 2).await;
    assert!(
        old.is_running(),
        "{} exited before the balancer saw it not ready:\n{}",
        old.address,
        old.log()
    );
    let exit = old.wait(Duration::from_secs(20)).await;
    assert!(exit.success(), "{exit:?}\n{}", old.log());
    balancer.remove(old.address);
    let new = start.await;
    balancer.add(new.address);
    balancer
        .until_ready(new.address, Duration::from_secs(10))
        .await;
    (new, old.log())
}

#[actix_web::test]
async fn replacing_each_of_two_processes_behind_a_balancer_under_load_fails_no_request() {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let (kek, secret) = (random_kek(), new_client_secret());
    let a = serve(dir.path(), &db.url(), &kek, &secret).await;
    let b = serve(dir.path(), &db.url(), &kek, &secret).await;
    let token = app_token(&a.url(""), &secret).await;
    let balancer = Balancer::start().await;
    for served in [&a, &b] {
        balancer.add(served.address);
        balancer
            .until_ready(served.address, Duration::from_secs(10))
            .await;
    }

    let stop = Rc::new(Cell::new(false));
    let tally = Rc::new(Tally::default());
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let run = worker(
                w,
                balancer.url(""),
                token.clone(),
                stop.clone(),
                tally.clone(),
            );
            actix_web::rt::spawn(run)
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (a2, a_log) = replace(a, &balancer, serve(dir.path(), &db.url(), &kek, &secret)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (b2, b_log) = replace(b, &balancer, serve(dir.path(), &db.url(), &kek, &secret)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.set(true);
    for w in workers {
        w.await.unwrap();
    }

    let failed = tally.failed.borrow();
    let ok = tally.ok.get();
    eprintln!(
        "{ok} requests answered as expected, {} failed; the new processes took {} and {} \
         connections",
        failed.len(),
        balancer.sent_to(a2.address),
        balancer.sent_to(b2.address)
    );
    assert!(
        failed.is_empty(),
        "{} of {} requests failed:\n{}",
        failed.len(),
        ok + failed.len(),
        failed.join("\n")
    );
    assert!(ok > 200, "only {ok} requests: not a steady load");
    for (name, log) in [("A", &a_log), ("B", &b_log)] {
        assert!(
            log.contains("draining") && log.contains("stopped"),
            "{name} did not drain and stop:\n{log}"
        );
    }
    for new in [&a2, &b2] {
        assert!(
            balancer.sent_to(new.address) > 0,
            "the balancer sent nothing to the replacement at {}",
            new.address
        );
    }
}

#[actix_web::test]
async fn after_sigterm_readiness_is_503_while_other_requests_are_still_served_until_the_drain_ends()
{
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let (kek, secret) = (random_kek(), new_client_secret());
    let mut served = serve(dir.path(), &db.url(), &kek, &secret).await;
    let token = app_token(&served.url(""), &secret).await;
    let (status, _) = call("GET", &served.url("/readyz"), "", None).await.unwrap();
    assert_eq!(status, 200, "{}", served.log());

    let signalled = Instant::now();
    served.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = call("GET", &served.url("/readyz"), "", None).await.unwrap();
    assert_eq!((status, &body), (503, &json!({"status": "not_ready"})));
    let (status, _) = call("GET", &served.url("/healthz"), "", None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let body = json!({"email": "draining@rolling.test"});
    let created = call("POST", &served.url("/v1/users"), &token, Some(&body)).await;
    assert!(
        matches!(created, Ok((201, _))),
        "a create while draining answered {created:?}"
    );
    assert!(
        signalled.elapsed() < DRAIN_DELAY,
        "too slow to tell a drain from a stop"
    );

    let exit = served.wait(Duration::from_secs(20)).await;
    assert!(exit.success(), "{exit:?}");
    assert!(
        signalled.elapsed() >= DRAIN_DELAY,
        "exited {:?} after SIGTERM, before the drain delay",
        signalled.elapsed()
    );
    let log = served.log();
    assert!(
        log.contains("draining") && log.contains("readyz"),
        "the log does not say why readiness is false:\n{log}"
    );
}

#[actix_web::test]
async fn a_second_sigterm_during_the_drain_ends_it_early() {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(dir.path(), &db.url(), &random_kek(), &new_client_secret());
    cmd.env("IDSTORE_DRAIN_DELAY", "60");
    let mut served = Served::start(cmd, Duration::from_secs(60)).await;
    let signalled = Instant::now();
    served.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = call("GET", &served.url("/readyz"), "", None).await.unwrap();
    assert_eq!(status, 503, "not draining:\n{}", served.log());
    served.signal("TERM");
    let exit = served.wait(Duration::from_secs(15)).await;
    assert!(exit.success(), "{exit:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(15),
        "{:?}",
        signalled.elapsed()
    );
    let log = served.log();
    assert!(log.contains("drain ends early"), "{log}");
}
