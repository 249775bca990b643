//! The `idstore` binary as an operator runs it.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use idstore_auth::keys::Kek;
use idstore_server::managed::ManagedCluster;
use idstore_tests::app::random_kek;
use idstore_tests::db::{fresh_database, server_options};
use idstore_tests::proxy::{DbProxy, Mode};
use sqlx::{Connection, PgConnection};

use crate::process::{Served, idstore, serve_on};

async fn output_of(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = idstore(dir.path());
    cmd.args(args).envs(env.iter().copied());
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap()
        .unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[actix_web::test]
async fn a_bad_flag_value_fails_with_a_message_naming_the_key() {
    let out = output_of(&["serve", "--listen", "not-an-address"], &[]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("`listen`") && err.contains("HOST:PORT"),
        "{err}"
    );
}

#[actix_web::test]
async fn a_bad_environment_value_fails_with_a_message_naming_the_key() {
    let out = output_of(&["serve"], &[("IDSTORE_WORKERS", "many")]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("`workers`") && err.contains("IDSTORE_"),
        "{err}"
    );
    let out = output_of(&["migrate"], &[("IDSTORE_POSTGRES", "somewhere")]).await;
    let err = stderr(&out);
    assert!(
        err.contains("`postgres`") && err.contains("auto, system or managed"),
        "{err}"
    );
}

#[actix_web::test]
async fn help_documents_every_option_with_its_environment_variable_and_default() {
    let out = output_of(&["serve", "--help"], &[]).await;
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for (flag, env) in [
        ("--listen", "IDSTORE_LISTEN"),
        ("--database-url", "DATABASE_URL"),
        ("--postgres", "IDSTORE_POSTGRES"),
        ("--data-dir", "IDSTORE_DATA_DIR"),
        ("--log-format", "IDSTORE_LOG_FORMAT"),
        ("--log-level", "IDSTORE_LOG_LEVEL"),
        ("--workers", "IDSTORE_WORKERS"),
        ("--no-migrate", "IDSTORE_MIGRATE"),
        ("--config", "IDSTORE_CONFIG"),
    ] {
        assert!(
            help.contains(flag) && help.contains(env),
            "{flag} / {env} undocumented:\n{help}"
        );
    }
    assert!(help.contains("[default: 127.0.0.1:8080]"), "{help}");
}

#[actix_web::test]
async fn json_logs_are_one_object_per_line_on_stderr() {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = idstore(dir.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--no-bootstrap"])
        .args(["--log-format", "json", "--database-url", &db.url()])
        .args(["--key-encryption-key", &random_kek()]);
    let mut served = Served::start(cmd, Duration::from_secs(30)).await;
    served.signal("TERM");
    assert!(served.wait(Duration::from_secs(20)).await.success());
    let log = served.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let listening = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("listening on"))
        })
        .unwrap_or_else(|| panic!("no listening line in:\n{log}"));
    assert_eq!(listening["level"], "INFO", "{listening}");
}

#[actix_web::test]
async fn with_a_database_url_and_no_key_encryption_key_every_command_refuses_and_says_how_to_make_one()
 {
    // Nothing answers here: a command that got past the key would fail
    // with another message.
    let url = "postgres://idstore@127.0.0.1:1/idstore";
    for args in [
        &["serve", "--listen", "127.0.0.1:0"][..],
        &["bootstrap"],
        &["seed", "--users", "1"],
        &["keys", "rotate"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = idstore(dir.path());
        cmd.args(args).env("DATABASE_URL", url);
        let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
            .await
            .unwrap()
            .unwrap();
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}: {err}");
        for needle in [
            "`key_encryption_key`",
            "IDSTORE_KEY_ENCRYPTION_KEY",
            "idstore kek generate",
        ] {
            assert!(
                err.contains(needle),
                "{args:?} does not say {needle}: {err}"
            );
        }
        assert!(
            !dir.path().join(".idstore/kek").exists(),
            "{args:?} made up a development key"
        );
    }
}

#[actix_web::test]
async fn kek_generate_prints_only_a_fresh_key_on_stdout_and_how_to_set_it_on_stderr() {
    let first = output_of(&["kek", "generate"], &[]).await;
    let second = output_of(&["kek", "generate"], &[]).await;
    assert!(first.status.success(), "{}", stderr(&first));
    let key = String::from_utf8(first.stdout.clone()).unwrap();
    assert_eq!(key.lines().count(), 1, "{key:?}");
    let key = key.trim_end();
    Kek::from_base64(key).unwrap_or_else(|e| panic!("{key:?}: {e}"));
    assert_ne!(first.stdout, second.stdout, "the same key twice");
    let hint = stderr(&first);
    assert!(
        hint.contains("IDSTORE_KEY_ENCRYPTION_KEY") && !hint.contains(key),
        "{hint}"
    );
}

#[actix_web::test]
async fn version_prints_the_release_and_schema_version() {
    let out = output_of(&["version"], &[]).await;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("idstore ") && text.contains("schema version"),
        "{text}"
    );
}

#[actix_web::test]
async fn openapi_prints_the_committed_document_without_a_database() {
    let out = output_of(&["openapi"], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let committed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/idstore.json"
    ))
    .unwrap();
    assert!(
        out.stdout == committed,
        "`idstore openapi` is not openapi/idstore.json"
    );
}

#[actix_web::test]
async fn two_concurrent_migrate_commands_both_succeed_and_apply_once() {
    let db = idstore_tests::db::empty_database().await;
    let url = db.url();
    let args = ["migrate", "--database-url", url.as_str()];
    let (a, b) = tokio::join!(output_of(&args, &[]), output_of(&args, &[]));
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    let said: Vec<String> = [&a, &b]
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .collect();
    let applied = said
        .iter()
        .filter(|s| s.contains("applied V1__initial"))
        .count();
    let no_op = said.iter().filter(|s| s.contains("nothing to do")).count();
    assert_eq!((applied, no_op), (1, 1), "{said:?}");
}

#[actix_web::test]
async fn sigterm_during_a_slow_request_lets_it_finish_then_exits_cleanly() {
    let db = fresh_database().await;
    let proxy = DbProxy::start(&db.options).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = idstore(dir.path());
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--no-migrate",
        "--workers",
        "1",
    ])
    .args(["--database-url", &proxy.url_for(&db.options)])
    .args(["--key-encryption-key", &random_kek()])
    // The listener closes at once, as it does after a drain
    // (rolling.rs tests the drain).
    .env("IDSTORE_DRAIN_DELAY", "0");
    let mut served = Served::start(cmd, Duration::from_secs(30)).await;
    let client = awc::Client::default();
    // Warm the pool, then make the database slow: readiness now waits on it.
    assert_eq!(
        client
            .get(served.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    proxy.set(Mode::Paused);
    let slow = actix_web::rt::spawn({
        let url = served.url("/readyz");
        async move {
            let mut res = awc::Client::default()
                .get(url)
                .send()
                .await
                .expect("in-flight request was cut");
            let body = res.body().await.unwrap();
            (
                res.status().as_u16(),
                String::from_utf8_lossy(&body).into_owned(),
            )
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    served.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = tokio::time::timeout(
        Duration::from_millis(500),
        awc::Client::default().get(served.url("/healthz")).send(),
    )
    .await;
    assert!(
        !matches!(refused, Ok(Ok(_))),
        "a new request was served after SIGTERM"
    );
    proxy.set(Mode::Up);

    let (status, body) = slow.await.unwrap();
    assert_eq!(
        status, 200,
        "in-flight request did not complete normally: {body}"
    );
    let exit = served.wait(Duration::from_secs(20)).await;
    assert!(exit.success(), "exit {exit:?}; log:\n{}", served.log());
    assert!(served.log().contains("received SIGTERM"));
}

#[actix_web::test]
async fn why_a_replica_is_not_ready_is_in_its_log_not_in_the_answer() {
    let db = idstore_tests::db::empty_database().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_on(dir.path(), &db.url());
    cmd.args(["--no-migrate", "--no-bootstrap"])
        .args(["--key-encryption-key", &random_kek()]);
    let mut served = Served::start(cmd, Duration::from_secs(30)).await;
    let mut res = awc::Client::default()
        .get(served.url("/readyz"))
        .insert_header(("x-request-id", "probe-1"))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(res.status(), 503, "{body}");
    assert_eq!(body, serde_json::json!({"status": "not_ready"}));
    served.signal("TERM");
    assert!(served.wait(Duration::from_secs(20)).await.success());
    let log = served.log();
    assert!(
        log.lines()
            .any(|l| l.contains("probe-1") && l.contains("run `idstore migrate`")),
        "{log}"
    );
}

#[actix_web::test]
async fn sigint_stops_the_server_gracefully_too() {
    let db = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_on(dir.path(), &db.url());
    cmd.args(["--key-encryption-key", &random_kek()]);
    let mut served = Served::start(cmd, Duration::from_secs(30)).await;
    served.signal("INT");
    let exit = served.wait(Duration::from_secs(20)).await;
    assert!(exit.success(), "exit {exit:?}; log:\n{}", served.log());
}

#[actix_web::test]
async fn without_a_database_url_it_serves_from_the_local_postgresql() {
    if std::env::var_os("DATABASE_URL").is_some() {
        // The suite was pointed elsewhere; the local server may not exist.
        eprintln!("checked against DATABASE_URL's server only; local discovery not exercised");
    }
    let name = format!("idstore_test_default_{}", uuid::Uuid::now_v7().simple());
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = idstore(dir.path());
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--postgres",
        "system",
        "--database-name",
        &name,
    ]);
    let mut served = Served::start(cmd, Duration::from_secs(30)).await;
    let res = awc::Client::default()
        .get(served.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "log:\n{}", served.log());
    // Its own database keeps the development key, and says so.
    assert!(
        served
            .log()
            .contains("using a development key-encryption key"),
        "log:\n{}",
        served.log()
    );
    assert!(dir.path().join(".idstore/kek").is_file());
    // It serves as the role migrating made, which row-level security
    // confines, not as the superuser it found.
    let mut admin = PgConnection::connect_with(&server_options().await)
        .await
        .unwrap();
    let serving: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT usename::text FROM pg_stat_activity
          WHERE datname = $1 AND application_name = 'idstore'",
    )
    .bind(&name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(serving, ["idstore_runtime"], "log:\n{}", served.log());
    served.signal("TERM");
    assert!(served.wait(Duration::from_secs(20)).await.success());

    let created: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert!(created, "database {name} was not created");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
}

#[actix_web::test]
async fn the_managed_path_starts_and_stops_a_private_postgresql() {
    if ManagedCluster::binaries().is_none() {
        eprintln!(
            "SKIPPED: no PostgreSQL binaries installed; the private-cluster path was not exercised"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A private cluster run for root belongs to an unprivileged account, which must reach it.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data_dir = dir.path().join("data");
    let mut cmd = idstore(dir.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--postgres", "managed"])
        .args(["--data-dir", data_dir.to_str().unwrap()]);
    let mut served = Served::start(cmd, Duration::from_secs(120)).await;
    let pid_file = data_dir.join("postgres/postmaster.pid");
    assert!(
        pid_file.exists(),
        "private PostgreSQL not running; log:\n{}",
        served.log()
    );
    let res = awc::Client::default()
        .get(served.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "log:\n{}", served.log());

    served.signal("TERM");
    let exit = served.wait(Duration::from_secs(60)).await;
    assert!(exit.success(), "log:\n{}", served.log());
    assert!(
        !pid_file.exists(),
        "private PostgreSQL still running after shutdown"
    );
    assert!(served.log().contains("stopped private PostgreSQL"));
}
