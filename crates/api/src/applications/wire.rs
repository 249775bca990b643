//! Applications as answered.

use idstore_store::applications::Application;
use idstore_store::clients::Client;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::input::millis;

#[derive(Serialize)]
pub struct ApiApp<'a> {
    app_id: &'a str,
    name: &'a str,
    description: Option<&'a str>,
    is_management: bool,
    created_at: i64,
    updated_at: i64,
}

impl<'a> From<&'a Application> for ApiApp<'a> {
    fn from(a: &'a Application) -> Self {
        Self {
            app_id: &a.app_id,
            name: &a.name,
            description: a.description.as_deref(),
            is_management: a.is_management,
            created_at: millis(a.created_at),
            updated_at: millis(a.updated_at),
        }
    }
}

/// A new application with its default client's credentials, shown once.
#[derive(Serialize)]
pub struct CreatedApp<'a> {
    #[serde(flatten)]
    app: ApiApp<'a>,
    client_id: &'a str,
    client_secret: &'a str,
}

impl<'a> CreatedApp<'a> {
    pub fn new(app: &'a Application, client: &'a Client, secret: &'a SecretString) -> Self {
        Self {
            app: ApiApp::from(app),
            client_id: &client.client_id,
            client_secret: secret.expose_secret(),
        }
    }
}
