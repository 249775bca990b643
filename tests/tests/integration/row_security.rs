//! Row-level security under the application's own predicates: the serving
//! role (`idstore_runtime`) reads and writes only the rows of the tenant
//! its transaction names, whatever the query says, and may do nothing but
//! DML.

use idstore_domain::scope::{Reach, Scope};
use idstore_store::users::{self, Lookup};
use idstore_store::{PgPool, StoreError, tenancy};
use idstore_tests::TestDb;
use idstore_tests::db::fresh_database;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};

/// Two tenants with two and three users, written as the owner.
const TWO_TENANTS: &str = r#"
INSERT INTO tenants (tenant_id, name) VALUES ('t-a', 'a'), ('t-b', 'b');
INSERT INTO applications (tenant_id, app_id, name) VALUES ('t-a', 'app-a', 'a'), ('t-b', 'app-b', 'b');
INSERT INTO users (tenant_id, user_id, email, email_normalized)
VALUES ('t-a', 'a-1', 'one@a.test', 'one@a.test'), ('t-a', 'a-2', 'two@a.test', 'two@a.test'),
       ('t-b', 'b-1', 'one@b.test', 'one@b.test'), ('t-b', 'b-2', 'two@b.test', 'two@b.test'),
       ('t-b', 'shared', 'three@b.test', 'three@b.test');
"#;

async fn two_tenants() -> TestDb {
    let db = fresh_database().await;
    let mut owner = db.connect().await;
    sqlx::raw_sql(TWO_TENANTS)
        .execute(&mut owner)
        .await
        .unwrap();
    db
}

/// One pooled connection as the serving role: every use reuses it.
fn serving_pool(db: &TestDb) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(db.serving_options())
}

/// The tenants of the users a query without any tenant predicate sees.
async fn tenants_seen(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar("SELECT tenant_id FROM users ORDER BY user_id")
        .fetch_all(conn)
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_query_without_a_tenant_predicate_sees_only_its_transactions_tenant() {
    let db = two_tenants().await;
    let pool = serving_pool(&db);

    // Tenant A, then B, on the one pooled connection.
    let mut tx = tenancy::begin(&pool, "t-a").await.unwrap();
    assert_eq!(tenants_seen(&mut tx).await, ["t-a", "t-a"]);
    tx.commit().await.unwrap();
    let mut tx = tenancy::begin(&pool, "t-b").await.unwrap();
    assert_eq!(tenants_seen(&mut tx).await, ["t-b", "t-b", "t-b"]);
    tx.commit().await.unwrap();

    // The setting ended with the transaction: the connection carries no
    // tenant to its next user, who sees nobody.
    let mut conn = pool.acquire().await.unwrap();
    assert!(tenants_seen(&mut conn).await.is_empty());
    let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(tenants, 0, "no tenant without a tenant context");
    drop(conn);

    // The service's cross-tenant context reads the tenants and the key
    // cache's tables, and no user.
    let mut tx = tenancy::begin_service(&pool).await.unwrap();
    assert!(tenants_seen(&mut tx).await.is_empty());
    let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(tenants, 2);
    tx.rollback().await.unwrap();
}

#[actix_web::test]
async fn writes_reach_no_foreign_row_and_write_none() {
    let db = two_tenants().await;
    let pool = serving_pool(&db);
    let mut tx = tenancy::begin(&pool, "t-a").await.unwrap();
    let touched = sqlx::query("UPDATE users SET username = 'taken' WHERE user_id = 'b-1'")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(touched, 0, "tenant A's transaction updated B's user");
    let deleted = sqlx::query("DELETE FROM users WHERE email_normalized LIKE '%@b.test'")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 0);
    let foreign = sqlx::query(
        "INSERT INTO users (tenant_id, user_id, email, email_normalized)
         VALUES ('t-b', 'planted', 'p@b.test', 'p@b.test')",
    )
    .execute(&mut *tx)
    .await
    .expect_err("a row of another tenant was inserted");
    let code = foreign.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("42501"), "{foreign}");
    tx.rollback().await.unwrap();

    let mut owner = db.connect().await;
    let b: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT user_id, username FROM users WHERE tenant_id = 't-b' ORDER BY 1")
            .fetch_all(&mut owner)
            .await
            .unwrap();
    assert_eq!(
        b,
        [
            ("b-1".to_owned(), None),
            ("b-2".to_owned(), None),
            ("shared".to_owned(), None)
        ]
    );
}

/// The hot read confines itself in its one statement: it finds the
/// tenant's user on a connection that has no tenant set, and finds another
/// tenant's user under no scope that names the wrong tenant.
#[actix_web::test]
async fn a_lookup_confines_itself_in_one_statement() {
    let db = two_tenants().await;
    let pool = serving_pool(&db);
    let scope = |tenant: &str, app: &str| Scope {
        tenant_id: tenant.into(),
        app_id: app.into(),
        reach: Reach::Tenant,
    };
    let found = users::get(&pool, &scope("t-b", "app-b"), Lookup::Id("shared"))
        .await
        .unwrap();
    assert_eq!(found.email.as_deref(), Some("three@b.test"));
    let missing = users::get(&pool, &scope("t-a", "app-a"), Lookup::Id("shared")).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    // And it left nothing set behind.
    let mut conn = pool.acquire().await.unwrap();
    assert!(tenants_seen(&mut conn).await.is_empty());
}

#[actix_web::test]
async fn the_serving_role_may_only_read_and_write_rows() {
    let db = two_tenants().await;
    let mut conn = PgConnection::connect_with(&db.serving_options())
        .await
        .unwrap();
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!superuser && !bypass);
    for statement in [
        "CREATE TABLE planted (x int)",
        "ALTER TABLE users DISABLE ROW LEVEL SECURITY",
        "DROP POLICY tenant_isolation ON users",
        "TRUNCATE users",
        "DELETE FROM refinery_schema_history",
        "DELETE FROM breached_password_chunks",
        "UPDATE breached_password_filter SET entries = 0",
        "INSERT INTO breached_password_chunks (seq, data) VALUES (99, '')",
        "CREATE FUNCTION peek(text) RETURNS bool LANGUAGE sql LEAKPROOF AS 'SELECT true'",
    ] {
        let refused = sqlx::raw_sql(statement).execute(&mut conn).await;
        let code = refused
            .as_ref()
            .err()
            .and_then(|e| e.as_database_error())
            .and_then(|e| e.code().map(|c| c.into_owned()));
        assert!(
            matches!(code.as_deref(), Some("42501" | "42P17")),
            "{statement}: {refused:?}"
        );
    }
    // Turning row security off makes a policed query fail, not see all.
    sqlx::raw_sql("SET row_security = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let unpoliced = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM users")
        .fetch_one(&mut conn)
        .await;
    assert!(unpoliced.is_err(), "{unpoliced:?}");
    // The schema version stays readable, for the refusal of a newer one.
    sqlx::raw_sql("SET row_security = on")
        .execute(&mut conn)
        .await
        .unwrap();
    let version: Option<i32> =
        sqlx::query_scalar("SELECT max(version) FROM refinery_schema_history")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(version, Some(idstore_store::migrate::binary_version()));
}

/// Every table that holds tenants' rows is policed, the owner included;
/// a new one without a policy fails here.
#[actix_web::test]
async fn every_tenant_table_forces_row_level_security() {
    let db = fresh_database().await;
    let mut owner = db.connect().await;
    let unpoliced: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
          WHERE c.relkind = 'r'
            AND EXISTS (SELECT 1 FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
            AND NOT (c.relrowsecurity AND c.relforcerowsecurity
                     AND EXISTS (SELECT 1 FROM pg_policy p
                                  WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation'))
          ORDER BY 1",
    )
    .fetch_all(&mut owner)
    .await
    .unwrap();
    assert!(unpoliced.is_empty(), "not policed: {unpoliced:?}");
    let policed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = current_schema() AND c.relforcerowsecurity",
    )
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert!(policed >= 12, "{policed} policed tables");
}

/// Preparing refuses a serving role that row-level security could not
/// confine, and changes nothing about it.
#[actix_web::test]
async fn a_role_that_could_escape_the_policies_is_refused_as_the_serving_role() {
    use idstore_store::serving_role::ServingRole;
    let db = fresh_database().await;
    let mut owner = db.connect().await;
    let creator = format!("rls_creator_{}", uuid::Uuid::now_v7().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {creator} LOGIN CREATEROLE"
    )))
    .execute(&mut owner)
    .await
    .unwrap();
    let superuser: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    for (name, why) in [
        (superuser.as_str(), "superuser"),
        (creator.as_str(), "CREATEROLE"),
    ] {
        let role = ServingRole {
            name,
            password: None,
        };
        let refused = idstore_store::migrate_serving(&db.options, Some(role)).await;
        let message = refused.expect_err(name).to_string();
        assert!(message.contains(why), "{name}: {message}");
    }
    let granted: bool = sqlx::query_scalar("SELECT has_table_privilege($1, 'users', 'SELECT')")
        .bind(&creator)
        .fetch_one(&mut owner)
        .await
        .unwrap();
    assert!(!granted, "a refused role was granted access");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE {creator}")))
        .execute(&mut owner)
        .await
        .unwrap();
}
