//! The application under test, in-process, on a free port.

use std::net::SocketAddr;

use actix_web::http::{Method, StatusCode, header::HeaderMap};
use idstore_server::{Application, Config};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::db::{self, TestDb};

pub struct TestApp {
    pub address: SocketAddr,
    pub db: TestDb,
    client: awc::Client,
    shutdown: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<Result<(), String>>>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl TestResponse {
    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// The application with default settings on a fresh migrated database.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// As [`TestApp::spawn`], with the configuration adjusted first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let db = db::fresh_database().await;
        let mut config = test_config(&db.url());
        adjust(&mut config);
        Self::start(db, &config)
            .await
            .expect("start the application")
    }

    /// Starts the application exactly as `idstore serve` does.
    pub async fn start(db: TestDb, config: &Config) -> Result<Self, String> {
        let app = Application::build(config)
            .await
            .map_err(|e| format!("{e:#}"))?;
        let address = app.address();
        let (tx, rx) = oneshot::channel();
        let serving = tokio::spawn(async move {
            app.run_until(async {
                let _ = rx.await;
            })
            .await
            .map_err(|e| format!("{e:#}"))
        });
        Ok(Self {
            address,
            db,
            client: awc::Client::builder().disable_redirects().finish(),
            shutdown: Some(tx),
            serving: Some(serving),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn request(&self, method: Method, path: &str) -> awc::ClientRequest {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        send(self.request(Method::GET, path), None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> TestResponse {
        let req = self
            .request(Method::POST, path)
            .content_type("application/json");
        send(req, Some(body.to_string().into_bytes())).await
    }

    /// Sends `req` with a raw body.
    pub async fn send(&self, req: awc::ClientRequest, body: Option<Vec<u8>>) -> TestResponse {
        send(req, body).await
    }

    /// Graceful shutdown, as on SIGTERM; returns what `run_until` returned.
    pub async fn stop(mut self) -> Result<(), String> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.serving.take() {
            Some(handle) => handle.await.map_err(|e| e.to_string())?,
            None => Ok(()),
        }
    }
}

async fn send(req: awc::ClientRequest, body: Option<Vec<u8>>) -> TestResponse {
    let mut res = match body {
        Some(bytes) => req.send_body(bytes).await,
        None => req.send().await,
    }
    .expect("request failed to complete");
    let bytes = res
        .body()
        .limit(16 * 1024 * 1024)
        .await
        .expect("read response body");
    TestResponse {
        status: res.status(),
        headers: res.headers().clone(),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Settings for an in-process test application.
pub fn test_config(database_url: &str) -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: Some(database_url.to_owned().into()),
        workers: 1,
        max_connections: 4,
        shutdown_timeout: 5,
        ..Config::default()
    }
}
