//! Schema migrations: refinery's embedded `migrations/` run over a sqlx
//! connection, so migrations share the service's one PostgreSQL client and
//! its TLS settings (refinery ships no sqlx driver; the one below is small).
//!
//! Replicas starting together must not both migrate: the run holds a
//! session-level advisory lock, and a second runner waits for it and then
//! finds nothing left to apply.

use refinery::AsyncMigrate;
use refinery::Migration;
use refinery::Runner;
use refinery::error::Error as RefineryError;
use refinery_core::traits::r#async::{AsyncQuery, AsyncTransaction};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool, Row};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::database::{DatabaseError, ping};
use crate::serving_role::{self, ServingRole};

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// refinery's own bookkeeping table (its default name).
const HISTORY_TABLE: &str = "refinery_schema_history";
/// Any constant works as long as every idstore uses the same one.
const MIGRATION_LOCK_KEY: i64 = 0x1d57_0e00_0000_0001;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("migration failed: {0}")]
    Migration(#[source] Box<RefineryError>),
    #[error(transparent)]
    ServingRole(#[from] crate::serving_role::RoleError),
    #[error(
        "the database schema is at version {database}, newer than this idstore binary knows ({binary}); \
         run the idstore release that migrated it, or a newer one"
    )]
    DatabaseNewer { database: i32, binary: i32 },
}

impl From<sqlx::Error> for MigrateError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(DatabaseError::Query(e))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this run, oldest first (empty when already current).
    pub applied: Vec<(i32, String)>,
    pub version: i32,
    /// Whether this run created the serving role.
    pub serving_role_created: bool,
    /// What the operator should know (e.g. searches that cannot be indexed).
    pub warnings: Vec<String>,
}

/// Where the database schema stands against this binary's migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    Current(i32),
    /// Migrations exist that the database lacks.
    Behind {
        database: Option<i32>,
        binary: i32,
    },
    /// The database was migrated by a newer binary.
    Ahead {
        database: i32,
        binary: i32,
    },
}

/// The newest migration version compiled into this binary.
pub fn binary_version() -> i32 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(Migration::version)
        .max()
        .unwrap_or(0)
}

/// Applies every pending migration. Waits for any concurrent runner.
pub async fn migrate(options: &PgConnectOptions) -> Result<MigrationReport, MigrateError> {
    migrate_serving(options, None).await
}

/// [`migrate`], then prepares the role `serve` runs as (see
/// [`crate::serving_role`]), under the same lock.
pub async fn migrate_serving(
    options: &PgConnectOptions,
    serving: Option<ServingRole<'_>>,
) -> Result<MigrationReport, MigrateError> {
    let conn = ping(options, Duration::from_secs(10)).await?;
    let mut driver = SqlxDriver(conn);
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut driver.0)
        .await?;
    let mut result = run_locked(&mut driver).await;
    if let (Ok(report), Some(role)) = (&mut result, serving) {
        match serving_role::prepare(&mut driver.0, role).await {
            Ok(prepared) => {
                report.serving_role_created = prepared.created;
                report.warnings = prepared.warnings;
            }
            Err(e) => result = Err(e.into()),
        }
    }
    // Closing the session would release the lock too; unlocking says so explicitly.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut driver.0)
        .await;
    let _ = driver.0.close().await;
    result
}

async fn run_locked(driver: &mut SqlxDriver) -> Result<MigrationReport, MigrateError> {
    let binary = binary_version();
    if let Some(database) = applied_version(&mut driver.0).await?
        && database > binary
    {
        return Err(MigrateError::DatabaseNewer { database, binary });
    }
    let runner: Runner = embedded::migrations::runner().set_abort_divergent(true);
    let report = runner
        .run_async(driver)
        .await
        .map_err(|e| MigrateError::Migration(Box::new(e)))?;
    let applied = report
        .applied_migrations()
        .iter()
        .map(|m| (m.version(), m.name().to_owned()))
        .collect();
    Ok(MigrationReport {
        applied,
        version: binary,
        serving_role_created: false,
        warnings: Vec::new(),
    })
}

/// The newest version recorded in the database, `None` before the first run.
async fn applied_version(conn: &mut PgConnection) -> Result<Option<i32>, sqlx::Error> {
    let table_exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(HISTORY_TABLE)
        .fetch_one(&mut *conn)
        .await?;
    if !table_exists {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT max(version) FROM refinery_schema_history")
        .fetch_one(&mut *conn)
        .await
}

/// Compares the database's schema with this binary's migrations.
pub async fn schema_state(pool: &PgPool) -> Result<SchemaState, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let database = applied_version(&mut conn).await?;
    let binary = binary_version();
    Ok(match database {
        Some(v) if v == binary => SchemaState::Current(v),
        Some(v) if v > binary => SchemaState::Ahead {
            database: v,
            binary,
        },
        other => SchemaState::Behind {
            database: other,
            binary,
        },
    })
}

/// refinery's driver contract over one sqlx connection.
struct SqlxDriver(PgConnection);

impl AsyncTransaction for SqlxDriver {
    type Error = sqlx::Error;

    async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &'a mut self,
        queries: T,
    ) -> Result<usize, Self::Error> {
        let mut tx = self.0.begin().await?;
        let mut count = 0;
        for query in queries {
            // Migration files are ours, embedded at build time; refinery's
            // own statements are fixed text.
            sqlx::raw_sql(sqlx::AssertSqlSafe(query))
                .execute(&mut *tx)
                .await?;
            count += 1;
        }
        tx.commit().await?;
        Ok(count)
    }
}

impl AsyncQuery<Vec<Migration>> for SqlxDriver {
    async fn query<'a>(&'a mut self, query: &'a str) -> Result<Vec<Migration>, Self::Error> {
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(query))
            .fetch_all(&mut self.0)
            .await?;
        rows.iter()
            .map(|row| {
                let applied_on: String = row.try_get(2)?;
                let applied_on = OffsetDateTime::parse(&applied_on, &Rfc3339)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                let checksum: String = row.try_get(3)?;
                let checksum = checksum
                    .parse::<u64>()
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                Ok(Migration::applied(
                    row.try_get(0)?,
                    row.try_get(1)?,
                    applied_on,
                    checksum,
                ))
            })
            .collect()
    }
}

impl AsyncMigrate for SqlxDriver {}
