//! PostgreSQL storage for idstore: connection pools, database creation,
//! schema migrations and (in later modules) one repository per aggregate.
//! This crate knows SQL and nothing of HTTP.

pub mod database;
pub mod migrate;

pub use database::{DatabaseError, connect_pool, ensure_database, ping};
pub use migrate::{MigrateError, MigrationReport, SchemaState, migrate, schema_state};
pub use sqlx::PgPool;
pub use sqlx::postgres::PgConnectOptions;
