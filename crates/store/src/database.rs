//! Pools and database creation.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect { target: String, source: sqlx::Error },
    #[error("cannot create database {name:?} at {target}: {source}")]
    Create {
        name: String,
        target: String,
        source: sqlx::Error,
    },
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// A description of where `options` point, safe to log (no password).
pub fn describe(options: &PgConnectOptions) -> String {
    let place = match options.get_socket() {
        Some(dir) => format!("{}", dir.display()),
        None => options.get_host().to_owned(),
    };
    format!(
        "{}@{}:{}/{}",
        options.get_username(),
        place,
        options.get_port(),
        options.get_database().unwrap_or("")
    )
}

/// How a serving pool behaves when the database is slow or busy: every
/// limit turns a wait into an error the API answers with 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a free connection.
    pub acquire_timeout: Duration,
    /// Longest a statement may run (`statement_timeout`); zero: the
    /// database's own setting.
    pub statement_timeout: Duration,
    /// Longest a statement waits for a lock (`lock_timeout`); zero: the
    /// database's own setting.
    pub lock_timeout: Duration,
    /// Longest a transaction may sit idle before PostgreSQL ends it
    /// (`idle_in_transaction_session_timeout`); zero: the database's own
    /// setting.
    pub idle_in_transaction_timeout: Duration,
}

impl PoolSettings {
    /// For commands (seed, bootstrap, key rotation): no statement limits,
    /// since their statements may rightly run long.
    pub fn for_commands(max_connections: u32) -> Self {
        Self {
            max_connections,
            acquire_timeout: Duration::from_secs(30),
            statement_timeout: Duration::ZERO,
            lock_timeout: Duration::ZERO,
            idle_in_transaction_timeout: Duration::ZERO,
        }
    }
}

/// The name serving connections carry in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "idstore";

/// Opens a pool. Connections are made lazily so that a service can start and
/// report "not ready" while its database is down, rather than refusing to run.
/// Each connection starts with the settings' timeouts.
pub fn connect_pool(options: &PgConnectOptions, settings: &PoolSettings) -> PgPool {
    // A zero limit is left out, so the database's own setting (a DBA's
    // `ALTER ROLE ... SET`) applies rather than being overridden with none.
    let limits = [
        ("statement_timeout", settings.statement_timeout),
        ("lock_timeout", settings.lock_timeout),
        (
            "idle_in_transaction_session_timeout",
            settings.idle_in_transaction_timeout,
        ),
    ]
    .into_iter()
    .filter(|(_, d)| !d.is_zero())
    .map(|(name, d)| (name, d.as_millis().to_string()));
    let options = options
        .clone()
        .application_name(APPLICATION_NAME)
        .options(limits);
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(Duration::from_secs(600))
        .connect_lazy_with(options)
}

/// Opens one connection, failing within `timeout`.
pub async fn ping(
    options: &PgConnectOptions,
    timeout: Duration,
) -> Result<PgConnection, DatabaseError> {
    let attempt = PgConnection::connect_with(options);
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(source)) => Err(DatabaseError::Connect {
            target: describe(options),
            source,
        }),
        Err(_) => Err(DatabaseError::Connect {
            target: describe(options),
            source: sqlx::Error::PoolTimedOut,
        }),
    }
}

/// Creates database `name` on the server `server` points at, unless it
/// exists. Safe to race: a concurrent creator's win counts as success.
pub async fn ensure_database(server: &PgConnectOptions, name: &str) -> Result<bool, DatabaseError> {
    let maintenance = server.clone().database("postgres");
    let mut conn = ping(&maintenance, Duration::from_secs(5)).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if exists {
        return Ok(false);
    }
    // Identifiers cannot be bound as parameters; quote_ident makes the name inert.
    let quoted: String = sqlx::query_scalar("SELECT quote_ident($1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await?;
    let created = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    match created {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(false),
        // Two creators racing on pg_database's unique index.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => Ok(false),
        Err(source) => Err(DatabaseError::Create {
            name: name.to_owned(),
            target: describe(server),
            source,
        }),
    }
}
