//! Clients as answered; a secret only right after it was made.

use idstore_store::clients::Client;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::input::millis;

#[derive(Serialize)]
pub struct ApiClient<'a> {
    client_id: &'a str,
    app_id: &'a str,
    name: &'a str,
    created_at: i64,
    secret_rotated_at: Option<i64>,
}

impl<'a> From<&'a Client> for ApiClient<'a> {
    fn from(c: &'a Client) -> Self {
        Self {
            client_id: &c.client_id,
            app_id: &c.app_id,
            name: &c.name,
            created_at: millis(c.created_at),
            secret_rotated_at: c.rotated_at.map(millis),
        }
    }
}

/// A client with its new secret, shown this once.
#[derive(Serialize)]
pub struct WithSecret<'a> {
    #[serde(flatten)]
    client: ApiClient<'a>,
    client_secret: &'a str,
}

impl<'a> WithSecret<'a> {
    pub fn new(client: &'a Client, secret: &'a SecretString) -> Self {
        Self {
            client: ApiClient::from(client),
            client_secret: secret.expose_secret(),
        }
    }
}
