//! `idstore breached import`, run as the real binary, while a replica
//! serves: the replica picks the new filter up without a restart and
//! reports its entries in `/readyz`; a malformed file changes nothing.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use idstore_auth::password::breached::{BreachFilter, FilterShape, sha1};
use idstore_tests::TestApp;

use crate::process::idstore;

const KNOWN: &str = "a password that was breached";

fn hex(digest: &[u8; 20], upper: bool) -> String {
    digest.iter().fold(String::new(), |mut s, b| {
        if upper {
            let _ = write!(s, "{b:02X}");
        } else {
            let _ = write!(s, "{b:02x}");
        }
        s
    })
}

/// `lines` lines in the Pwned Passwords format, mixing its variants:
/// uppercase with counts, lowercase without, CRLF endings; `KNOWN` among them.
fn pwned_file(dir: &Path, name: &str, lines: u32) -> std::path::PathBuf {
    let mut text = String::new();
    for i in 0..lines - 1 {
        let digest = sha1(&format!("breached-{i}"));
        match i % 3 {
            0 => writeln!(text, "{}:{}", hex(&digest, true), i + 1),
            1 => writeln!(text, "{}", hex(&digest, false)),
            _ => write!(text, "{}:7\r\n", hex(&digest, true)),
        }
        .unwrap();
        if i == lines / 2 {
            writeln!(text, "{}:42", hex(&sha1(KNOWN), true)).unwrap();
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn import(app: &TestApp, file: &Path) -> std::process::Output {
    let cwd = tempfile::tempdir().unwrap();
    idstore(cwd.path())
        .args(["breached", "import"])
        .arg(file)
        .args(["--false-positive-rate", "0.001", "--log-level", "warn"])
        .env("DATABASE_URL", app.db.url())
        .output()
        .await
        .expect("run idstore breached import")
}

async fn ready_entries(app: &TestApp) -> u64 {
    let res = app.get("/readyz").await;
    assert_eq!(res.status, 200, "{}", res.text);
    let body = res.json();
    assert_eq!(body["status"], "ready", "{body}");
    body["breached_passwords"]["entries"]
        .as_u64()
        .unwrap_or_else(|| panic!("no entry count: {body}"))
}

async fn stored(app: &TestApp) -> (BreachFilter, chrono::DateTime<chrono::Utc>) {
    let pool = idstore_store::PgPool::connect_with(app.db.options.clone())
        .await
        .unwrap();
    let (row, bits) = idstore_store::breached::load(&pool)
        .await
        .unwrap()
        .expect("a stored filter");
    pool.close().await;
    let shape = FilterShape {
        bits: row.bits,
        hashes: row.hashes,
        entries: row.entries,
        false_positive_rate: row.false_positive_rate,
    };
    (
        BreachFilter::from_parts(shape, bits).unwrap(),
        row.imported_at,
    )
}

#[actix_web::test]
async fn an_import_reaches_a_running_replica_and_a_malformed_file_changes_nothing() {
    let app = TestApp::spawn().await;
    assert_eq!(ready_entries(&app).await, 0, "nothing imported yet");
    let dir = tempfile::tempdir().unwrap();

    let file = pwned_file(dir.path(), "pwned.txt", 50_000);
    let out = import(&app, &file).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "import failed:\n{stderr}");
    assert!(stdout.contains("imported 50000 "), "{stdout}");
    assert!(stderr.contains("stored"), "progress on stderr: {stderr}");

    // The replica reads it at its next refresh, without a restart.
    let deadline = tokio::time::Instant::now() + idstore_api::breached::REFRESH * 2;
    while ready_entries(&app).await != 50_000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the running replica did not pick up the import"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (filter, imported_at) = stored(&app).await;
    assert!(filter.contains_password(KNOWN));
    assert!(filter.contains_sha1(&sha1("breached-0")));
    assert!(filter.contains_sha1(&sha1("breached-49998")));
    assert_eq!(filter.false_positive_rate(), 0.001);

    // Line 1001 is not a digest: the command fails naming it.
    let mut text = std::fs::read_to_string(pwned_file(dir.path(), "good.txt", 2000)).unwrap();
    let at = text.match_indices('\n').nth(999).unwrap().0 + 1;
    text.insert_str(at, "this is not a sha-1 digest:12\n");
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, text).unwrap();
    let out = import(&app, &bad).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a malformed file was imported");
    assert!(
        stderr.contains("line 1001:") && stderr.contains("nothing was imported"),
        "{stderr}"
    );
    let (unchanged, same_time) = stored(&app).await;
    assert_eq!((unchanged.entries(), same_time), (50_000, imported_at));
    assert!(unchanged.contains_password(KNOWN));
    assert_eq!(ready_entries(&app).await, 50_000);
    app.stop().await.unwrap();
}

#[actix_web::test]
async fn a_second_import_replaces_the_first() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    for lines in [3000, 1200] {
        let out = import(&app, &pwned_file(dir.path(), "pwned.txt", lines)).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (filter, _) = stored(&app).await;
    assert_eq!(filter.entries(), 1200);
    // Sized for 1200, not 3000: the first filter's bits are gone.
    assert_eq!(
        filter.shape().bits,
        FilterShape::sized_for(1200, 0.001).unwrap().bits
    );
    app.stop().await.unwrap();
}
