//! Token behaviour across real `idstore` processes.

use std::time::Duration;

use idstore_tests::app::random_kek;
use idstore_tests::db::{empty_database, fresh_database};
use serde_json::Value;

use crate::process::{Served, client_token, idstore, serve_on};

async fn list_apps(base: &str, token: &str) -> u16 {
    awc::Client::default()
        .get(format!("{base}/v1/applications"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[actix_web::test]
async fn two_processes_on_one_database_accept_each_others_tokens() {
    let db = fresh_database().await;
    let kek = random_kek();
    let secret = idstore_tests::tokens::new_client_secret();
    let dir = tempfile::tempdir().unwrap();
    let start = |_: usize| {
        let mut cmd = idstore(dir.path());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--workers", "1"])
            .args([
                "--database-url",
                &db.url(),
                "--public-url",
                "https://id.example.test",
            ])
            .env("IDSTORE_KEY_ENCRYPTION_KEY", &kek)
            .env("IDSTORE_BOOTSTRAP_CLIENT_ID", "replica-admin")
            .env("IDSTORE_BOOTSTRAP_CLIENT_SECRET", &secret);
        Served::start(cmd, Duration::from_secs(30))
    };
    let (mut a, mut b) = tokio::join!(start(1), start(2));
    let (base_a, base_b) = (a.url(""), b.url(""));
    let from_a = client_token(&base_a, "replica-admin", &secret).await;
    let from_b = client_token(&base_b, "replica-admin", &secret).await;
    assert_eq!(
        list_apps(&base_b, &from_a).await,
        200,
        "B refused A's token"
    );
    assert_eq!(
        list_apps(&base_a, &from_b).await,
        200,
        "A refused B's token"
    );
    for served in [&a, &b] {
        assert!(
            !served.log().contains(&secret),
            "a configured secret was logged:\n{}",
            served.log()
        );
    }
    // Both started on an empty tenant table; exactly one tenant exists.
    let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(&mut db.connect().await)
        .await
        .unwrap();
    assert_eq!(tenants, 1);
    a.signal("TERM");
    b.signal("TERM");
    assert!(a.wait(Duration::from_secs(20)).await.success());
    assert!(b.wait(Duration::from_secs(20)).await.success());
}

#[actix_web::test]
async fn bootstrap_prints_credentials_once_as_json_and_then_changes_nothing() {
    let db = empty_database().await;
    let kek = random_kek();
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let mut cmd = idstore(dir.path());
        cmd.args([
            "bootstrap",
            "--output",
            "json",
            "--database-url",
            &db.url(),
            "--key-encryption-key",
            &kek,
        ]);
        cmd.output()
    };
    let first = run().await.unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let creds: Value = serde_json::from_slice(&first.stdout).unwrap();
    for field in ["tenant_id", "app_id", "client_id", "client_secret"] {
        assert!(
            creds[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} missing: {creds}"
        );
    }
    let secret = creds["client_secret"].as_str().unwrap();
    assert!(
        !String::from_utf8_lossy(&first.stderr).contains(secret),
        "the secret reached the log"
    );

    let second = run().await.unwrap();
    assert!(second.status.success());
    let again: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(again["already_bootstrapped"], true);
    assert_eq!(again["tenant_id"], creds["tenant_id"]);
    assert!(!String::from_utf8_lossy(&second.stdout).contains(secret));
    let clients: i64 = sqlx::query_scalar("SELECT count(*) FROM clients")
        .fetch_one(&mut db.connect().await)
        .await
        .unwrap();
    assert_eq!(clients, 1, "a second bootstrap created another client");
    let stored: String = sqlx::query_scalar("SELECT secret_hash FROM clients")
        .fetch_one(&mut db.connect().await)
        .await
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$") && !stored.contains(secret),
        "secret stored in the clear"
    );
}

#[actix_web::test]
async fn keys_rotate_installs_a_new_signing_key_and_keeps_the_old_one_published() {
    let db = empty_database().await;
    let kek = random_kek();
    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut cmd = idstore(dir.path());
        cmd.args(args)
            .args(["--database-url", &db.url(), "--key-encryption-key", &kek]);
        cmd.output()
    };
    assert!(cli(&["bootstrap"]).await.unwrap().status.success());
    let out = cli(&["keys", "rotate"]).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("new signing key"));
    let (active, retired): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE retired_at IS NULL), count(*) FILTER (WHERE retired_at IS NOT NULL) FROM signing_keys",
    )
    .fetch_one(&mut db.connect().await)
    .await
    .unwrap();
    assert_eq!((active, retired), (1, 1));
    // Published now, signing once every verifier has re-read the keys; the
    // old key signs until that same moment.
    let (ahead, handover): (f64, bool) = sqlx::query_as(
        "SELECT extract(epoch FROM n.activates_at - n.created_at)::float8,
                n.activates_at = o.retired_at
           FROM signing_keys n JOIN signing_keys o ON o.retired_at IS NOT NULL
          WHERE n.retired_at IS NULL",
    )
    .fetch_one(&mut db.connect().await)
    .await
    .unwrap();
    assert_eq!(
        (ahead.round(), handover),
        (idstore_auth::KEY_REFRESH.as_secs_f64(), true)
    );

    let unknown_tenant = cli(&["keys", "rotate", "--tenant", "no-such-tenant"])
        .await
        .unwrap();
    assert!(!unknown_tenant.status.success());
    assert!(String::from_utf8_lossy(&unknown_tenant.stderr).contains("no tenant"));
}

#[actix_web::test]
async fn bootstrap_never_prints_a_configured_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = idstore_tests::db::empty_database().await;
    let kek = idstore_tests::app::random_kek();
    let secret = idstore_tests::tokens::new_client_secret();
    for format in ["json", "text"] {
        let mut cmd = idstore(dir.path());
        cmd.args([
            "bootstrap",
            "--output",
            format,
            "--database-url",
            &db.url(),
            "--key-encryption-key",
            &kek,
        ])
        .env("IDSTORE_BOOTSTRAP_CLIENT_ID", "ops-admin")
        .env("IDSTORE_BOOTSTRAP_CLIENT_SECRET", &secret);
        let out = cmd.output().await.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !printed.contains(&secret),
            "{format}: the configured secret was printed"
        );
        if format == "json" {
            let creds: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(creds["client_id"], "ops-admin", "{creds}");
            assert!(creds.get("client_secret").is_none(), "{creds}");
        }
        // The second run finds the tenant; drop it so the text format bootstraps too.
        sqlx::query("DELETE FROM tenants")
            .execute(&mut db.connect().await)
            .await
            .unwrap();
    }
}

#[actix_web::test]
async fn serve_leaves_a_generated_admin_secret_in_an_owner_only_file_never_in_the_log() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let db = empty_database().await;
    let mut cmd = serve_on(dir.path(), &db.url());
    cmd.args(["--key-encryption-key", &random_kek()])
        .args(["--data-dir", data_dir.to_str().unwrap()]);
    let mut served = Served::start(cmd, Duration::from_secs(30)).await;

    let files: Vec<_> = std::fs::read_dir(&data_dir)
        .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", served.log()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("bootstrap-admin-")
        })
        .collect();
    assert_eq!(files.len(), 1, "{files:?}\nlog:\n{}", served.log());
    let path = files[0].clone();
    let mode = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{}: {e}\nlog:\n{}", path.display(), served.log()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let creds: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (id, secret) = (
        creds["client_id"].as_str().unwrap(),
        creds["client_secret"].as_str().unwrap(),
    );
    assert!(!served.log().contains(secret), "the secret reached the log");
    assert!(
        served.log().contains(path.to_str().unwrap()),
        "the log names the file"
    );
    client_token(&served.url(""), id, secret).await;
    served.signal("TERM");
    assert!(served.wait(Duration::from_secs(20)).await.success());
}

#[actix_web::test]
async fn a_secret_that_cannot_be_handed_over_bootstraps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = empty_database().await;
    let kek = random_kek();
    // A data directory that cannot exist: its parent is a file.
    std::fs::write(dir.path().join("not-a-dir"), "").unwrap();
    let blocked = dir.path().join("not-a-dir/data");
    let mut cmd = serve_on(dir.path(), &db.url());
    cmd.args(["--key-encryption-key", &kek])
        .args(["--data-dir", blocked.to_str().unwrap()]);
    let out = cmd.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("nothing was bootstrapped"), "{stderr}");
    let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(&mut db.connect().await)
        .await
        .unwrap();
    assert_eq!(tenants, 0, "no tenant whose admin secret is lost");
}

#[actix_web::test]
async fn a_replica_whose_key_encryption_key_opens_no_signing_key_is_not_ready_and_says_why() {
    let db = empty_database().await;
    let (right, wrong) = (random_kek(), random_kek());
    let dir = tempfile::tempdir().unwrap();
    let mut bootstrap = idstore(dir.path());
    bootstrap
        .args(["bootstrap", "--output", "json", "--database-url", &db.url()])
        .args(["--key-encryption-key", &right]);
    let out = bootstrap.output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creds: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (id, secret) = (
        creds["client_id"].as_str().unwrap(),
        creds["client_secret"].as_str().unwrap(),
    );
    let start = |kek: &str| {
        let mut cmd = serve_on(dir.path(), &db.url());
        cmd.args(["--key-encryption-key", kek, "--workers", "1"]);
        Served::start(cmd, Duration::from_secs(30))
    };
    let (mut good, mut bad) = tokio::join!(start(&right), start(&wrong));
    let client = awc::Client::default();

    let mut res = client.get(bad.url("/readyz")).send().await.unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(res.status(), 503, "{body}\n{}", bad.log());
    assert_eq!(body, serde_json::json!({"status": "not_ready"}));
    assert!(
        bad.log().contains("opens none of the signing keys"),
        "{}",
        bad.log()
    );
    // Its token endpoint says why it signs nothing, rather than a bare 500.
    let mut res = client
        .post(bad.url("/oidc/token"))
        .send_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(res.status(), 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("key-encryption key"),
        "{body}"
    );

    let res = client.get(good.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", good.log());
    client_token(&good.url(""), id, secret).await;
    for served in [&mut good, &mut bad] {
        served.signal("TERM");
        assert!(served.wait(Duration::from_secs(20)).await.success());
    }
}
