//! The schema: created on start, migrated once, never downgraded.

use std::collections::BTreeSet;

use idstore_store::migrate::binary_version;
use idstore_tests::app::test_config;
use idstore_tests::db::{empty_database, fresh_database};
use idstore_tests::{TestApp, TestDb};
use sqlx::PgConnection;

async fn tables(conn: &mut PgConnection) -> BTreeSet<String> {
    sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
        .fetch_all(conn)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

async fn history(conn: &mut PgConnection) -> Vec<i32> {
    sqlx::query_scalar("SELECT version FROM refinery_schema_history ORDER BY version")
        .fetch_all(conn)
        .await
        .unwrap()
}

#[actix_web::test]
async fn starting_against_a_fresh_database_creates_the_schema() {
    let db = empty_database().await;
    assert!(tables(&mut db.connect().await).await.is_empty());

    let app = TestApp::start(db.clone(), &test_config(&db.url()))
        .await
        .unwrap();

    let mut conn = db.connect().await;
    let found = tables(&mut conn).await;
    for table in [
        "tenants",
        "applications",
        "clients",
        "signing_keys",
        "users",
        "user_apps",
    ] {
        assert!(
            found.contains(table),
            "table {table} missing; have {found:?}"
        );
    }
    assert_eq!(history(&mut conn).await.last(), Some(&binary_version()));
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    app.stop().await.unwrap();
}

#[actix_web::test]
async fn a_second_migrate_is_a_no_op() {
    let db = empty_database().await;
    let first = idstore_store::migrate(&db.options).await.unwrap();
    assert!(!first.applied.is_empty());
    let second = idstore_store::migrate(&db.options).await.unwrap();
    assert!(
        second.applied.is_empty(),
        "second run applied {:?}",
        second.applied
    );
    let versions = history(&mut db.connect().await).await;
    assert_eq!(versions.len(), first.applied.len());
}

#[actix_web::test]
async fn two_concurrent_migrations_both_succeed_and_apply_the_schema_once() {
    let db = empty_database().await;
    let (a, b) = tokio::join!(
        idstore_store::migrate(&db.options),
        idstore_store::migrate(&db.options)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(
        a.applied.is_empty() != b.applied.is_empty(),
        "exactly one run must apply the migrations: {a:?} / {b:?}"
    );
    let versions = history(&mut db.connect().await).await;
    let distinct: BTreeSet<_> = versions.iter().collect();
    assert_eq!(
        distinct.len(),
        versions.len(),
        "a migration was recorded twice: {versions:?}"
    );
}

#[actix_web::test]
async fn every_primary_key_starts_with_tenant_id() {
    let db = fresh_database().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text
           FROM pg_constraint k
           JOIN pg_class c ON c.oid = k.conrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
          WHERE k.contype = 'p' AND n.nspname = 'public'
            AND c.relname <> 'refinery_schema_history'",
    )
    .fetch_all(&mut db.connect().await)
    .await
    .unwrap();
    assert!(rows.len() >= 6, "expected the V1 tables, found {rows:?}");
    // Pre-authentication state: the caller's tenant is not known yet; and
    // the breached-password filter, one per installation.
    const UNTENANTED: &[&str] = &[
        "client_auth_throttle",
        "breached_password_filter",
        "breached_password_chunks",
    ];
    for (table, first) in rows
        .into_iter()
        .filter(|(t, _)| !UNTENANTED.contains(&t.as_str()))
    {
        assert_eq!(
            first, "tenant_id",
            "primary key of {table} starts with {first}"
        );
    }
}

async fn pretend_newer_binary_migrated(db: &TestDb) {
    sqlx::query(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
         VALUES ($1, 'from_the_future', '2030-01-01T00:00:00Z', '0')",
    )
    .bind(binary_version() + 1)
    .execute(&mut db.connect().await)
    .await
    .unwrap();
}

#[actix_web::test]
async fn a_database_newer_than_the_binary_is_refused_with_a_clear_error() {
    let db = fresh_database().await;
    pretend_newer_binary_migrated(&db).await;

    let migrating = TestApp::start(db.clone(), &test_config(&db.url()))
        .await
        .err()
        .unwrap();
    assert!(
        migrating.contains("newer than this idstore binary"),
        "{migrating}"
    );

    let mut config = test_config(&db.url());
    config.migrate = false;
    let not_migrating = TestApp::start(db.clone(), &config).await.err().unwrap();
    assert!(
        not_migrating.contains("newer than this idstore binary"),
        "{not_migrating}"
    );
}
