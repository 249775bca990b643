//! The application under test, in-process, on a free port.

use std::net::SocketAddr;

use actix_web::http::{Method, StatusCode, header::HeaderMap};
use base64::Engine;
use idstore_auth::keys::Kek;
use idstore_server::{Application, Config};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::db::{self, TestDb};

pub struct TestApp {
    pub address: SocketAddr,
    pub db: TestDb,
    /// The admin client bootstrap created, from the configuration.
    pub admin: ClientCredentials,
    pub kek: Kek,
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

    /// Asserts the token endpoint's 503: `temporarily_unavailable`, retry later.
    pub fn assert_temporarily_unavailable(&self) {
        assert_eq!(self.status, 503, "{}", self.text);
        assert_eq!(
            self.json()["error"],
            "temporarily_unavailable",
            "{}",
            self.text
        );
        assert_eq!(self.header("retry-after"), Some("2"), "{}", self.text);
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
        let admin = ClientCredentials {
            client_id: config.bootstrap_client_id.clone().unwrap_or_default(),
            client_secret: config
                .bootstrap_client_secret
                .as_ref()
                .map(|s| s.expose_secret().to_owned())
                .unwrap_or_default(),
        };
        let kek = config
            .key_encryption_key
            .as_ref()
            .map(|k| Kek::from_base64(k.expose_secret()).expect("test KEK"))
            .expect("test configurations carry a KEK");
        let app = Application::build(config)
            .await
            .map_err(|e| format!("{e:#}"))?;
        let address = app.address();
        let (tx, rx) = oneshot::channel();
        let serving = tokio::spawn(async move {
            app.run_until(
                async {
                    let _ = rx.await;
                },
                std::future::pending(),
            )
            .await
            .map_err(|e| format!("{e:#}"))
        });
        Ok(Self {
            address,
            db,
            admin,
            kek,
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

    /// Sends a form-encoded token request.
    pub async fn token_request(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> TestResponse {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut req = self
            .request(Method::POST, "/oidc/token")
            .content_type("application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            req = req.insert_header(("authorization", format!("Basic {encoded}")));
        }
        send(req, Some(body.into_bytes())).await
    }

    /// A client_credentials request for `client` that a trusted proxy
    /// forwarded for `source` (the app must trust 127.0.0.1).
    pub async fn authenticate_from(
        &self,
        source: &str,
        client: &ClientCredentials,
    ) -> TestResponse {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "client_credentials"),
                ("client_id", client.client_id.as_str()),
                ("client_secret", client.client_secret.as_str()),
            ])
            .finish();
        let req = self
            .request(Method::POST, "/oidc/token")
            .content_type("application/x-www-form-urlencoded")
            .insert_header(("x-forwarded-for", source));
        send(req, Some(body.into_bytes())).await
    }

    /// A client_credentials request for `client`, secret in the body.
    pub async fn authenticate(&self, client: &ClientCredentials) -> TestResponse {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client.client_id.as_str()),
            ("client_secret", client.client_secret.as_str()),
        ];
        self.token_request(&form, None).await
    }

    /// An access token for `client` (client_credentials, secret in the body).
    pub async fn token_for(&self, client: &ClientCredentials) -> String {
        let res = self.authenticate(client).await;
        assert_eq!(res.status, 200, "token request failed: {}", res.text);
        res.json()["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token_for(&self.admin).await
    }

    /// `method path` with a bearer token and an optional JSON body.
    /// [`TestApp::call`] with a token and no body.
    pub async fn with_token(&self, method: Method, path: &str, token: &str) -> TestResponse {
        self.call(method, path, Some(token), None).await
    }

    /// [`TestApp::call`] with a token and a JSON body.
    pub async fn with_body(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> TestResponse {
        self.call(method, path, Some(token), Some(body)).await
    }

    /// A user with `email`, created over the API with `token`; its id.
    pub async fn new_user(&self, token: &str, email: &str) -> String {
        let body = serde_json::json!({ "email": email });
        let res = self
            .with_body(Method::POST, "/v1/users", token, &body)
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        res.json()["result"]["user_id"].as_str().unwrap().to_owned()
    }

    /// An organization named `name`, without domains or applications,
    /// created over the API with `admin_token`; its id.
    pub async fn new_org(&self, admin_token: &str, name: &str) -> String {
        let body = serde_json::json!({ "name": name, "domains": [], "app_ids": [] });
        let res = self
            .with_body(Method::POST, "/v1/organizations", admin_token, &body)
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        res.json()["result"]["organization_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A second tenant, provisioned as bootstrap does, and an admin token
    /// of it that this process already accepts.
    pub async fn second_tenant(
        &self,
        name: &str,
    ) -> (idstore_server::bootstrap::Credentials, String) {
        let secret = crate::tokens::new_client_secret();
        let creds = idstore_server::bootstrap::provision_tenant(
            &mut self.db.connect().await,
            name,
            &self.kek,
            &format!("admin-of-{name}"),
            &secret,
            &idstore_auth::secret::hash_secret(&secret),
        )
        .await
        .unwrap();
        let token = self
            .token_for(&ClientCredentials {
                client_id: creds.client_id.clone(),
                client_secret: secret,
            })
            .await;
        // The new tenant's key is learnt at the next reload (at most once a second).
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        (creds, token)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> TestResponse {
        let mut req = self.request(method, path);
        if let Some(t) = token {
            req = req.insert_header(("authorization", format!("Bearer {t}")));
        }
        match body {
            Some(b) => {
                send(
                    req.content_type("application/json"),
                    Some(b.to_string().into_bytes()),
                )
                .await
            }
            None => send(req, None).await,
        }
    }

    /// Creates an application; returns its id and default client.
    pub async fn create_app(&self, admin_token: &str, name: &str) -> (String, ClientCredentials) {
        let res = self
            .call(
                Method::POST,
                "/v1/applications",
                Some(admin_token),
                Some(&serde_json::json!({ "app_name": name, "client_display_name": "default" })),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        let r = &res.json()["result"];
        let client = ClientCredentials {
            client_id: r["client_id"].as_str().unwrap().to_owned(),
            client_secret: r["client_secret"].as_str().unwrap().to_owned(),
        };
        (r["app_id"].as_str().unwrap().to_owned(), client)
    }

    /// Creates a client of application `app_id` from the vendor's client
    /// body `body`; returns its credentials and the whole answer.
    pub async fn create_client(
        &self,
        admin_token: &str,
        app_id: &str,
        body: &Value,
    ) -> (ClientCredentials, Value) {
        let res = self
            .call(
                Method::POST,
                &format!("/v1/applications/{app_id}/clients"),
                Some(admin_token),
                Some(body),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        let r = res.json();
        let client = ClientCredentials {
            client_id: r["client_id"].as_str().unwrap().to_owned(),
            client_secret: r["client_secret"].as_str().unwrap().to_owned(),
        };
        (client, r)
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

/// A client's id and secret.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

/// A fresh key-encryption key, base64.
pub fn random_kek() -> String {
    Kek::generate().unwrap().to_base64().to_string()
}

/// `database_url` as the serving role reaches the same database: the
/// suite serves as `serve` does in a deployment, confined by row-level
/// security, so a query that leaves its tenant context out fails here.
pub fn serving_url(database_url: &str) -> String {
    let mut url = url::Url::parse(database_url).expect("a database URL");
    url.set_username(idstore_store::serving_role::DEFAULT_NAME)
        .expect("a URL with a host");
    url.set_password(None).expect("a URL with a host");
    url.to_string()
}

/// Settings for an in-process test application: its own KEK and a fixed
/// admin client, as a deployment would configure them.
pub fn test_config(database_url: &str) -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: Some(database_url.to_owned().into()),
        runtime_database_url: Some(serving_url(database_url).into()),
        key_encryption_key: Some(random_kek().into()),
        bootstrap_client_id: Some(format!("admin-{}", idstore_domain::id::new_id())),
        bootstrap_client_secret: Some(idstore_auth::secret::generate_client_secret().unwrap()),
        workers: 1,
        max_connections: 4,
        shutdown_timeout: 5,
        // Nothing balances these: a drain would only slow each stop.
        drain_delay: 0,
        // Suites fetch tokens faster than any one caller should; the
        // limits' own tests set them low.
        token_rate_per_source: 100_000,
        token_rate_global: 100_000,
        ..Config::default()
    }
}
