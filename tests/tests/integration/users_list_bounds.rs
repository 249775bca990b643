//! Lists of the largest users idstore accepts: a page is bounded in bytes
//! (`list_body_limit`), refused with a 400 that says which page fits, and
//! held only as long as its client's search slot, so concurrent maximal
//! pages cannot grow the process without limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::Method;
use futures_util::future::join_all;
use idstore_tests::app::random_kek;
use idstore_tests::db::fresh_database;
use idstore_tests::spec::idstore_spec;
use idstore_tests::tokens::new_client_secret;
use idstore_tests::users::{World, messages, seed_maximal_users};
use idstore_tests::{TestApp, TestResponse};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::process::{Served, serve_on};

const USERS: i64 = 5000;
const RSS_LIMIT_MB: u64 = 500;

/// Samples a process's resident memory until stopped, and kills it as soon
/// as it passes `limit_mb`, so that an unbounded page fails the test
/// instead of exhausting the machine.
struct RssWatch {
    pid: u32,
    stop: Arc<AtomicBool>,
    peak_kb: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl RssWatch {
    fn start(pid: u32, limit_mb: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kb = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let (stop, peak_kb) = (stop.clone(), peak_kb.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(rss) = status_kb(pid, "VmRSS:") else {
                        return;
                    };
                    peak_kb.fetch_max(rss, Ordering::Relaxed);
                    if rss > limit_mb * 1024 {
                        let _ = std::process::Command::new("kill")
                            .args(["-KILL", &pid.to_string()])
                            .status();
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        Self {
            pid,
            stop,
            peak_kb,
            thread: Some(thread),
        }
    }

    /// The highest resident size sampled so far, in kB.
    fn peak_kb(&self) -> u64 {
        self.peak_kb.load(Ordering::Relaxed)
    }

    /// The highest resident size seen, in kB: the kernel's own high-water
    /// mark when the process still runs (it catches peaks between samples).
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let sampled = self.peak_kb();
        status_kb(self.pid, "VmHWM:").unwrap_or(0).max(sampled)
    }
}

fn assert_within_limit(peak_kb: u64, what: &str) {
    assert!(
        peak_kb <= RSS_LIMIT_MB * 1024,
        "{what}: the process reached {:.0} MB (killed past {RSS_LIMIT_MB} MB)",
        peak_kb as f64 / 1024.0
    );
}

async fn token(served: &Served, secret: &str) -> String {
    let mut res = awc::Client::default()
        .post(served.url("/oidc/token"))
        .send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "list-admin"),
            ("client_secret", secret),
        ])
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(res.status(), 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// `getUsers` with `query`, checked against the spec; `Err` when the
/// process did not answer (it was killed for its memory).
async fn list(served: &Served, token: &str, query: &str) -> Result<TestResponse, String> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let mut res = client
        .get(served.url(&format!("/v1/users{query}")))
        .insert_header(("authorization", format!("Bearer {token}")))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body = res
        .body()
        .limit(64 * 1024 * 1024)
        .await
        .map_err(|e| e.to_string())?;
    let res = TestResponse {
        status: res.status(),
        headers: res.headers().clone(),
        text: String::from_utf8_lossy(&body).into_owned(),
    };
    idstore_spec().assert_http_response("getUsers", &res);
    Ok(res)
}

#[actix_web::test]
async fn ten_concurrent_pages_of_maximal_users_keep_the_process_under_500_mb() {
    let started = Instant::now();
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = new_client_secret();
    let mut cmd = serve_on(dir.path(), &db.url());
    // Ten searches of one client at once, each with a connection of its own.
    cmd.args(["--search-concurrency", "10", "--max-connections", "12"])
        .args(["--key-encryption-key", &random_kek()])
        .env("IDSTORE_BOOTSTRAP_CLIENT_ID", "list-admin")
        .env("IDSTORE_BOOTSTRAP_CLIENT_SECRET", &secret);
    let mut served = Served::start(cmd, Duration::from_secs(30)).await;
    seed_maximal_users(&db, USERS).await;
    let token = token(&served, &secret).await;

    let watch = RssWatch::start(served.pid(), RSS_LIMIT_MB);
    let refused = join_all((0..10).map(|_| list(&served, &token, "?page_limit=5000"))).await;
    assert_within_limit(watch.peak_kb(), "10 pages of 5000 maximal users");
    let refused: Vec<TestResponse> = refused.into_iter().map(Result::unwrap).collect();
    let fit = users_that_fit(&messages(&refused[0]));
    // The largest pages that are served, ten at once.
    let query = format!("?page_limit={fit}");
    let served_pages = join_all((0..10).map(|_| list(&served, &token, &query))).await;
    let peak_kb = watch.finish();
    assert_within_limit(peak_kb, &format!("then 10 pages of {fit}"));
    eprintln!(
        "peak RSS {:.0} MB for 10 pages of {USERS} maximal users, then 10 of {fit} ({:?} in all)",
        peak_kb as f64 / 1024.0,
        started.elapsed()
    );
    for page in &refused {
        assert!(
            messages(page).contains("lower page_limit"),
            "{}",
            start(&page.text)
        );
    }
    for page in served_pages {
        let page = page.unwrap_or_else(|e| panic!("{e}; log:\n{}", served.log()));
        assert_eq!(page.status, 200, "{}", start(&page.text));
        let body = page.json();
        assert_eq!(body["total_count"], USERS);
        assert_eq!(body["result"].as_array().unwrap().len(), fit);
    }
    served.signal("TERM");
    assert!(served.wait(Duration::from_secs(20)).await.success());
}

/// The start of a body that may be megabytes long, for a failure message.
fn start(text: &str) -> &str {
    &text[..text.floor_char_boundary(300)]
}

/// The number of users a refused page's message says fit.
fn users_that_fit(message: &str) -> usize {
    let after = message
        .split("its first ")
        .nth(1)
        .unwrap_or_else(|| panic!("no count in: {message}"));
    after
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in: {message}"))
}

#[actix_web::test]
async fn a_page_over_the_list_body_limit_is_a_400_naming_a_page_limit_that_fits() {
    let w = World::with_config(|c| c.list_body_limit = 1 << 20).await;
    seed_maximal_users(&w.app.db, 40).await;
    let refused = w.list(&w.admin, "?page_limit=40").await;
    let message = messages(&refused);
    assert!(
        message.contains("lower page_limit") && message.contains("1048576 bytes"),
        "{message}"
    );
    let fit = users_that_fit(&message);
    assert!((1..40).contains(&fit), "{message}");

    let page = w.list(&w.admin, &format!("?page_limit={fit}")).await;
    assert_eq!(page.status, 200, "{}", start(&page.text));
    assert!(page.text.len() <= 1 << 20, "{} bytes", page.text.len());
    assert_eq!(
        page.header("content-length"),
        Some(page.text.len().to_string().as_str())
    );
    let body = page.json();
    assert_eq!(body["result"].as_array().unwrap().len(), fit);
    assert_eq!(body["total_count"], 40);
    assert_eq!(body["page_info"]["has_next_page"], true);
    // The rest of the tenant, a page that fits at a time.
    let rest = w
        .list(&w.admin, &format!("?page_limit={fit}&page_offset={fit}"))
        .await;
    assert_eq!(rest.status, 200, "{}", start(&rest.text));
    let next = w.list(&w.admin, &format!("?page_limit={}", fit + 1)).await;
    assert!(messages(&next).contains("lower page_limit"));
}

/// `GET path` on a raw connection whose answer is never read past its
/// status line: a client that reads slowly.
async fn stalled_get(w: &World, path: &str) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(w.app.address).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: idstore\r\nauthorization: Bearer {}\r\n\r\n",
        w.admin
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200", "{}", String::from_utf8_lossy(&head));
    stream
}

#[actix_web::test]
async fn a_page_being_sent_to_a_slow_reader_holds_its_clients_search_slot() {
    let w = World::with_config(|c| c.search_concurrency = 1).await;
    // About 12 MB: more than the kernel buffers of a connection take.
    seed_maximal_users(&w.app.db, 300).await;
    let stalled = stalled_get(&w, "/v1/users?page_limit=300").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = w
        .app
        .with_token(Method::GET, "/v1/users?page_limit=1", &w.admin)
        .await;
    assert_eq!(refused.status, 429, "{}", start(&refused.text));
    assert_eq!(refused.json()["error_code"], 429);
    assert!(
        refused.text.contains("searches running"),
        "{}",
        refused.text
    );

    // A client that goes away frees its slot.
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = w
            .app
            .with_token(Method::GET, "/v1/users?page_limit=1", &w.admin)
            .await;
        if res.status != 429 {
            idstore_spec().assert_http_response("getUsers", &res);
            assert_eq!(res.status, 200, "{}", start(&res.text));
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A user list is streamed, written in pieces; over a kept-alive
/// connection its last piece must not wait for the client's delayed ACK
/// (Nagle's algorithm: 40 ms a request on Linux, whatever the page).
#[actix_web::test]
async fn streamed_lists_on_a_kept_alive_connection_are_not_held_back() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tenant = idstore_tests::tokens::read_claims(&admin).tid;
    sqlx::query(
        // A page of 100 over 100 KB: streamed, as large pages are.
        "INSERT INTO users (tenant_id, user_id, email, email_normalized, custom_data)
         SELECT $1, 'nagle' || n, 'nagle' || n || '@example.com', 'nagle' || n || '@example.com',
                jsonb_build_object('note', repeat('x', 1000))
           FROM generate_series(1, 120) AS n",
    )
    .bind(&tenant)
    .execute(&mut app.db.connect().await)
    .await
    .unwrap();
    // As a load balancer or wrk talks: one connection, request after
    // request, each answer read to its end.
    let mut conn = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let request = format!(
        "GET /v1/users?page_limit=100 HTTP/1.1\r\nhost: idstore\r\nauthorization: Bearer {admin}\r\n\r\n"
    );
    let mut read_one = async || {
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 16384];
        // Headers, then a content-length or chunked body, read whole.
        let complete = |answer: &[u8]| {
            let text = String::from_utf8_lossy(answer);
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                return false;
            };
            match head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_owned())
            }) {
                Some(length) => body.len() >= length.parse::<usize>().unwrap(),
                None => body.ends_with("0\r\n\r\n"),
            }
        };
        while !complete(&answer) {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buf[..n]);
        }
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    };
    read_one().await;
    let mut took = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        read_one().await;
        took.push(started.elapsed());
    }
    took.sort();
    // Held back, about half the lists wait out a delayed ACK (40 ms or
    // more); a loaded machine may slow a few.
    let held = took
        .iter()
        .filter(|t| **t >= Duration::from_millis(40))
        .count();
    assert!(
        held <= 4,
        "{held} of {} lists on one connection took 40 ms or more ({took:?}): held back by \
         delayed ACKs",
        took.len()
    );
}
