//! PostgreSQL storage for idstore: connection pools, database creation,
//! schema migrations and (in later modules) one repository per aggregate.
//! This crate knows SQL and nothing of HTTP.

pub mod applications;
pub mod audit;
pub mod auth_throttle;
pub mod breached;
pub mod clients;
pub mod credentials;
pub mod database;
pub mod device_keys;
mod error;
pub mod groups;
pub mod idempotency;
pub mod invitations;
mod keyed;
pub mod login;
pub mod members;
pub mod migrate;
pub mod organizations;
pub mod password_policies;
pub mod revocations;
pub mod role_groups;
pub mod roles;
pub mod seed;
pub mod serving_role;
pub mod signing_keys;
pub mod tenancy;
pub mod tenants;
pub mod user_filter;
pub mod users;

pub use database::{
    APPLICATION_NAME, DatabaseError, PoolSettings, connect_pool, ensure_database, ping,
};
pub use error::{Entity, Identifier, StoreError};
pub use migrate::{
    MigrateError, MigrationReport, SchemaState, migrate, migrate_serving, schema_state,
};
pub use sqlx::Error as DbError;
pub use sqlx::postgres::PgConnectOptions;
pub use sqlx::types::Json;
pub use sqlx::{PgConnection, PgPool};
