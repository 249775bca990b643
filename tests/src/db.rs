//! One fresh database per test, cloned from a migrated template so that a
//! test pays for `CREATE DATABASE ... TEMPLATE`, not for the migrations.
//!
//! The PostgreSQL used is `DATABASE_URL` when set, else the same local or
//! private PostgreSQL that `idstore serve` would pick.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use idstore_store::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use tokio::sync::OnceCell;

const TEST_DB_PREFIX: &str = "idstore_test_";
/// Serialises template creation across concurrently running test processes.
const TEMPLATE_LOCK_KEY: i64 = 0x1d57_0e00_0000_7e57;

/// A database for one test.
#[derive(Debug, Clone)]
pub struct TestDb {
    pub name: String,
    pub options: PgConnectOptions,
}

impl TestDb {
    /// The database as a URL, the form a user gives idstore.
    pub fn url(&self) -> String {
        self.options.to_url_lossy().to_string()
    }

    /// The database as the serving role (`idstore_runtime`, made by the
    /// migrations' grant step) reaches it: what `serve` connects with.
    pub fn serving_options(&self) -> PgConnectOptions {
        self.options
            .clone()
            .username(idstore_store::serving_role::DEFAULT_NAME)
    }

    /// [`Self::serving_options`] as a URL, for `runtime_database_url`.
    pub fn serving_url(&self) -> String {
        self.serving_options().to_url_lossy().to_string()
    }

    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect_with(&self.options)
            .await
            .expect("connect to test database")
    }
}

struct Server {
    options: PgConnectOptions,
    template: String,
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

/// The PostgreSQL server (its `postgres` maintenance database).
pub async fn server_options() -> PgConnectOptions {
    server().await.options.clone()
}

async fn server() -> &'static Server {
    SERVER
        .get_or_init(|| async {
            let options = locate_server().await;
            drop_leftovers(&options).await;
            let template = ensure_template(&options).await;
            Server { options, template }
        })
        .await
}

async fn locate_server() -> PgConnectOptions {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let options =
            PgConnectOptions::from_str(&url).expect("DATABASE_URL is not a PostgreSQL URL");
        return options.database("postgres");
    }
    #[cfg(feature = "testcontainers")]
    return container::server().await;
    #[cfg(not(feature = "testcontainers"))]
    local_server().await
}

/// The local or private PostgreSQL `idstore serve` would pick.
#[cfg(not(feature = "testcontainers"))]
async fn local_server() -> PgConnectOptions {
    use idstore_server::config::{Config, PostgresMode};
    use idstore_server::postgres;
    let config = Config {
        postgres: PostgresMode::Auto,
        database_name: "postgres".into(),
        data_dir: workspace_target().join("idstore-test-data"),
        ..Config::default()
    };
    let database = postgres::resolve(&config).await.expect(
        "no PostgreSQL for the tests: start the local one, install PostgreSQL, or set DATABASE_URL",
    );
    // A private cluster started for the tests is left running for the next
    // run to adopt; stopping it per process would cost seconds each time.
    std::mem::forget(database.managed);
    database.options
}

/// PostgreSQL in a container (the `testcontainers` feature).
#[cfg(feature = "testcontainers")]
mod container {
    use idstore_store::PgConnectOptions;
    use testcontainers::runners::AsyncRunner as _;
    use testcontainers::{ImageExt as _, ReuseDirective};
    use testcontainers_modules::postgres::Postgres;

    /// One container for every test run on this engine, found again by its
    /// name and left running (as the private cluster is): starting one per
    /// test binary would cost seconds each time. Trust authentication, so
    /// that the serving role logs in without a password, as it does on the
    /// local server.
    pub const NAME: &str = "idstore-tests-postgres";
    pub const TAG: &str = "15-alpine";

    pub async fn server() -> PgConnectOptions {
        let container = Postgres::default()
            .with_host_auth()
            .with_tag(TAG)
            .with_container_name(NAME)
            .with_reuse(ReuseDirective::Always)
            .start()
            .await
            .expect(
                "no PostgreSQL container: the testcontainers feature needs a Docker-compatible \
                 engine (DOCKER_HOST) that can run postgres:15-alpine",
            );
        let host = container.get_host().await.expect("the container's host");
        let port = container
            .get_host_port_ipv4(5432)
            .await
            .expect("the container's PostgreSQL port");
        options(&host.to_string(), port)
    }

    pub fn options(host: &str, port: u16) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .host(host)
            .port(port)
            .username("postgres")
            .database("postgres")
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_harness_reaches_the_container_as_postgres_on_its_mapped_port() {
            let options = super::options("127.0.0.1", 49153);
            assert_eq!(options.get_host(), "127.0.0.1");
            assert_eq!(options.get_port(), 49153);
            assert_eq!(options.get_username(), "postgres");
            assert_eq!(options.get_database(), Some("postgres"));
        }
    }
}

#[cfg(not(feature = "testcontainers"))]
fn workspace_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The template's name changes whenever a migration file does.
fn template_name() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations directory")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in files {
        file.file_name().hash(&mut hasher);
        std::fs::read(&file)
            .expect("read migration")
            .hash(&mut hasher);
    }
    format!("idstore_template_{:016x}", hasher.finish())
}

/// Retried for 10 s: a container started again (its engine restarted)
/// may not accept connections yet when it is handed over.
async fn admin_connection(server: &PgConnectOptions) -> PgConnection {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = PgConnection::connect_with(server);
        match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(conn)) => return conn,
            Ok(Err(e)) if tokio::time::Instant::now() >= deadline => {
                panic!("connect to PostgreSQL as an administrator: {e}")
            }
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(_) => panic!("PostgreSQL did not answer within 10 s"),
        }
    }
}

async fn ensure_template(server: &PgConnectOptions) -> String {
    let name = template_name();
    let mut conn = admin_connection(server).await;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK_KEY)
        .execute(&mut conn)
        .await
        .unwrap();
    if !database_exists(&mut conn, &name).await {
        // Templates of older migration sets are dead weight, once no other
        // checkout on this machine (another branch's tests running now)
        // can still be cloning them: a template is kept for an hour.
        for old in stale_templates(&mut conn).await {
            execute(&mut conn, &format!("DROP DATABASE IF EXISTS {old}"))
                .await
                .ok();
        }
        let building = format!("{name}_building");
        execute(&mut conn, &format!("DROP DATABASE IF EXISTS {building}"))
            .await
            .unwrap();
        execute(&mut conn, &format!("CREATE DATABASE {building}"))
            .await
            .unwrap();
        let serving = idstore_store::serving_role::ServingRole {
            name: idstore_store::serving_role::DEFAULT_NAME,
            password: None,
        };
        idstore_store::migrate_serving(&server.clone().database(&building), Some(serving))
            .await
            .expect("migrate the template database");
        execute(
            &mut conn,
            &format!("ALTER DATABASE {building} RENAME TO {name}"),
        )
        .await
        .unwrap();
        let built = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        execute(
            &mut conn,
            &format!("COMMENT ON DATABASE {name} IS 'idstore test template built {built}'"),
        )
        .await
        .unwrap();
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK_KEY)
        .execute(&mut conn)
        .await
        .unwrap();
    name
}

/// Test databases of earlier runs, unless something still uses them.
/// Drops the databases earlier runs left behind: those made over an hour
/// ago, so that another checkout's tests running now keep theirs.
async fn drop_leftovers(server: &PgConnectOptions) {
    let mut conn = admin_connection(server).await;
    let now_ms = uuid::Uuid::now_v7()
        .get_timestamp()
        .map(|t| t.to_unix())
        .map_or(0, |(s, n)| s * 1000 + u64::from(n) / 1_000_000);
    for name in databases_like(&mut conn, &format!("{TEST_DB_PREFIX}%")).await {
        if made_at_ms(&name).is_none_or(|made| now_ms.saturating_sub(made) > 3_600_000) {
            let _ = execute(&mut conn, &format!("DROP DATABASE IF EXISTS {name}")).await;
        }
    }
}

/// When a test database was made: its name is a v7 uuid, whose first 48
/// bits are Unix milliseconds.
fn made_at_ms(name: &str) -> Option<u64> {
    let hex = name.strip_prefix(TEST_DB_PREFIX)?.get(..12)?;
    u64::from_str_radix(hex, 16).ok()
}

/// Templates built over an hour ago (the build time is in their comment).
async fn stale_templates(conn: &mut PgConnection) -> Vec<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let templates: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT datname::text, shobj_description(oid, 'pg_database') FROM pg_database
          WHERE datname LIKE 'idstore_template_%'",
    )
    .fetch_all(conn)
    .await
    .unwrap();
    templates
        .into_iter()
        .filter(|(_, comment)| {
            let built = comment
                .as_deref()
                .and_then(|c| c.rsplit(' ').next())
                .and_then(|t| t.parse::<u64>().ok());
            built.is_none_or(|t| now.saturating_sub(t) > 3600)
        })
        .map(|(name, _)| name)
        .collect()
}

async fn databases_like(conn: &mut PgConnection, pattern: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
        .bind(pattern)
        .fetch_all(conn)
        .await
        .unwrap()
}

async fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(conn)
        .await
        .unwrap()
}

/// Runs DDL on names the harness made itself (prefix + hex), never user text.
async fn execute(conn: &mut PgConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .map(|_| ())
}

fn unique_name() -> String {
    format!("{TEST_DB_PREFIX}{}", uuid::Uuid::now_v7().simple())
}

/// A migrated database of its own.
pub async fn fresh_database() -> TestDb {
    let server = server().await;
    let name = unique_name();
    let mut conn = admin_connection(&server.options).await;
    execute(
        &mut conn,
        &format!("CREATE DATABASE {name} TEMPLATE {}", server.template),
    )
    .await
    .expect("clone the template database");
    TestDb {
        options: server.options.clone().database(&name),
        name,
    }
}

/// An empty database of its own, with no schema at all.
pub async fn empty_database() -> TestDb {
    let server = server().await;
    let name = unique_name();
    let mut conn = admin_connection(&server.options).await;
    execute(&mut conn, &format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    TestDb {
        options: server.options.clone().database(&name),
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_database_name_tells_when_it_was_made() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let made = made_at_ms(&unique_name()).unwrap();
        assert!(made.abs_diff(before) < 5_000, "{made} vs {before}");
        assert_eq!(made_at_ms("idstore_test_zz"), None);
    }
}
