//! The `idstore` binary's parts: command line, configuration, logging,
//! PostgreSQL selection (including a private cluster), start-up and
//! graceful shutdown.

pub mod bootstrap;
pub mod breached;
pub mod cli;
pub mod config;
pub mod kek;
pub mod mail;
pub mod managed;
pub mod os_user;
pub mod postgres;
pub mod startup;
pub mod telemetry;

pub use config::{Config, MailTransport, SmtpTls};
pub use startup::Application;
