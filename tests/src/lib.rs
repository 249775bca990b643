//! The integration-test harness: real PostgreSQL, the real application
//! started through the same start-up path as `idstore serve`, and helpers to
//! talk to it.

pub mod app;
pub mod balancer;
pub mod cluster;
pub mod db;
pub mod load;
pub mod login;
pub mod proxy;
pub mod smtp;
pub mod spec;
pub mod tokens;
pub mod users;

pub use app::{TestApp, TestResponse};
pub use db::TestDb;
