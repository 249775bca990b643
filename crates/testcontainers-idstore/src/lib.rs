//! idstore in a container for another project's tests, with a PostgreSQL
//! container of its own and an admin client made for the occasion:
//!
//! ```no_run
//! # async fn example() -> Result<(), testcontainers_idstore::Error> {
//! let idstore = testcontainers_idstore::Idstore::default().start().await?;
//! let token = idstore.admin_token().await?;
//! let users = format!("{}/v1/users", idstore.base_url); // with `Authorization: Bearer {token}`
//! # Ok(()) }
//! ```
//!
//! The image is `idstore:latest` unless [`Idstore::with_image`] says
//! otherwise (build it with `docker build -f deploy/Dockerfile -t idstore .`).
//! Both containers, and the network between them, go when the
//! [`RunningIdstore`] is dropped.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerAsync, Image, ImageExt as _};
use testcontainers_modules::postgres::Postgres;

/// The port idstore listens on in its image (`IDSTORE_LISTEN`).
pub const PORT: ContainerPort = ContainerPort::Tcp(8080);
pub const DEFAULT_IMAGE: &str = "idstore";
pub const DEFAULT_TAG: &str = "latest";
/// The PostgreSQL image idstore is tested against.
pub const POSTGRES_TAG: &str = "15-alpine";
/// What idstore logs once its listener is bound and migrations are done
/// (in either log format): the container is ready then.
pub const READY_LINE: &str = "idstore listening on";
/// The admin client's id unless [`Idstore::with_admin`] sets another.
pub const DEFAULT_ADMIN_ID: &str = "testcontainers-admin";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Container(#[from] testcontainers::TestcontainersError),
    #[error("asking idstore for a token: {0}")]
    Http(String),
    #[error("idstore refused the admin client ({status}): {body}")]
    Refused { status: u16, body: String },
    #[error("idstore's token answer has no access_token: {0}")]
    NoToken(String),
}

/// The admin client idstore bootstraps on its first start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl AdminCredentials {
    /// A client with a fresh random secret.
    pub fn generate(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: random_base64(32),
        }
    }
}

/// The idstore image, configured: the admin client and the key-encryption
/// key are made up here unless given, so the test knows them.
#[derive(Debug, Clone)]
pub struct Idstore {
    name: String,
    tag: String,
    admin: AdminCredentials,
    env: BTreeMap<String, String>,
}

impl Default for Idstore {
    fn default() -> Self {
        Self {
            name: DEFAULT_IMAGE.into(),
            tag: DEFAULT_TAG.into(),
            admin: AdminCredentials::generate(DEFAULT_ADMIN_ID),
            env: BTreeMap::from([
                ("IDSTORE_LISTEN".into(), "0.0.0.0:8080".into()),
                ("IDSTORE_KEY_ENCRYPTION_KEY".into(), random_base64(32)),
                // A test stops its container at once: nothing to drain for.
                ("IDSTORE_DRAIN_DELAY".into(), "0".into()),
            ]),
        }
    }
}

impl Idstore {
    pub fn with_image(mut self, name: impl Into<String>, tag: impl Into<String>) -> Self {
        self.name = name.into();
        self.tag = tag.into();
        self
    }

    pub fn with_admin(mut self, admin: AdminCredentials) -> Self {
        self.admin = admin;
        self
    }

    /// The PostgreSQL idstore uses, as the container reaches it; set by
    /// [`Self::start`] unless given.
    pub fn with_database_url(self, url: impl Into<String>) -> Self {
        self.with_env("DATABASE_URL", url)
    }

    /// Any other setting (`IDSTORE_*`, `OTEL_*`, ...).
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    pub fn admin(&self) -> &AdminCredentials {
        &self.admin
    }

    /// Starts a PostgreSQL container and idstore against it, on a network
    /// of their own, and waits until idstore listens.
    pub async fn start(self) -> Result<RunningIdstore, Error> {
        let suffix = random_hex(6);
        let network = format!("idstore-tc-{suffix}");
        let postgres_name = format!("idstore-tc-postgres-{suffix}");
        let postgres = Postgres::default()
            .with_host_auth()
            .with_tag(POSTGRES_TAG)
            .with_network(&network)
            .with_container_name(&postgres_name)
            .start()
            .await?;
        let image = if self.env.contains_key("DATABASE_URL") {
            self
        } else {
            let url = database_url(&postgres_name);
            self.with_database_url(url)
        };
        let admin = image.admin.clone();
        let idstore = image.with_network(&network).start().await?;
        let host = idstore.get_host().await?;
        let port = idstore.get_host_port_ipv4(PORT).await?;
        Ok(RunningIdstore {
            base_url: format!("http://{host}:{port}"),
            admin,
            idstore,
            postgres,
        })
    }
}

impl Image for Idstore {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::message_on_either_std(READY_LINE)]
    }

    fn env_vars(
        &self,
    ) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        let admin = [
            ("IDSTORE_BOOTSTRAP_CLIENT_ID", self.admin.client_id.as_str()),
            (
                "IDSTORE_BOOTSTRAP_CLIENT_SECRET",
                self.admin.client_secret.as_str(),
            ),
        ];
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(admin)
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &[PORT]
    }
}

/// idstore and its PostgreSQL, running until dropped.
pub struct RunningIdstore {
    /// `http://host:port` as this process reaches idstore.
    pub base_url: String,
    pub admin: AdminCredentials,
    pub idstore: ContainerAsync<Idstore>,
    pub postgres: ContainerAsync<Postgres>,
}

impl RunningIdstore {
    /// `path` on this idstore.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// An access token of the admin client (`client_credentials`).
    pub async fn admin_token(&self) -> Result<String, Error> {
        let (status, body) = post_form(&self.url("/oidc/token"), &token_form(&self.admin)).await?;
        if status != 200 {
            return Err(Error::Refused { status, body });
        }
        access_token(&body)
    }
}

/// The PostgreSQL container as idstore's container reaches it, by name on
/// their network; trust authentication (`with_host_auth`), so no password.
fn database_url(postgres_name: &str) -> String {
    format!("postgres://postgres@{postgres_name}:5432/postgres")
}

fn token_form(admin: &AdminCredentials) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &admin.client_id)
        .append_pair("client_secret", &admin.client_secret)
        .finish()
}

/// The `access_token` of a token endpoint's JSON answer.
fn access_token(body: &str) -> Result<String, Error> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("access_token")?.as_str().map(str::to_owned))
        .ok_or_else(|| Error::NoToken(body.chars().take(200).collect()))
}

async fn post_form(url: &str, form: &str) -> Result<(u16, String), Error> {
    use http_body_util::{BodyExt as _, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let http = |e: &dyn std::fmt::Display| Error::Http(e.to_string());
    let request = hyper::Request::post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(bytes::Bytes::from(form.to_owned())))
        .map_err(|e| http(&e))?;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.map_err(|e| http(&e))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| http(&e))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    getrandom::fill(&mut bytes).expect("the operating system's random numbers");
    bytes
}

fn random_base64(n: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(random_bytes(n))
}

fn random_hex(n: usize) -> String {
    random_bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(image: &Idstore) -> BTreeMap<String, String> {
        image
            .env_vars()
            .into_iter()
            .map(|(k, v)| (k.into().into_owned(), v.into().into_owned()))
            .collect()
    }

    #[test]
    fn the_image_is_idstore_latest_on_8080_ready_when_it_logs_that_it_listens() {
        let image = Idstore::default();
        assert_eq!((image.name(), image.tag()), ("idstore", "latest"));
        assert_eq!(image.expose_ports(), &[ContainerPort::Tcp(8080)]);
        let ready = format!("{:?}", image.ready_conditions());
        assert!(ready.contains("idstore listening on"), "{ready}");
        let other = Idstore::default().with_image("registry.example/idstore", "0.1.0");
        assert_eq!(
            (other.name(), other.tag()),
            ("registry.example/idstore", "0.1.0")
        );
    }

    #[test]
    fn the_environment_bootstraps_the_admin_the_test_knows_with_a_fresh_kek() {
        let image = Idstore::default();
        let env = env_of(&image);
        assert_eq!(env["IDSTORE_LISTEN"], "0.0.0.0:8080");
        assert_eq!(env["IDSTORE_BOOTSTRAP_CLIENT_ID"], DEFAULT_ADMIN_ID);
        assert_eq!(
            env["IDSTORE_BOOTSTRAP_CLIENT_SECRET"],
            image.admin().client_secret
        );
        let kek = base64::engine::general_purpose::STANDARD
            .decode(&env["IDSTORE_KEY_ENCRYPTION_KEY"])
            .unwrap();
        assert_eq!(kek.len(), 32);
        // Two images, two secrets and two keys.
        let again = env_of(&Idstore::default());
        assert_ne!(
            again["IDSTORE_BOOTSTRAP_CLIENT_SECRET"],
            env["IDSTORE_BOOTSTRAP_CLIENT_SECRET"]
        );
        assert_ne!(
            again["IDSTORE_KEY_ENCRYPTION_KEY"],
            env["IDSTORE_KEY_ENCRYPTION_KEY"]
        );
        assert!(!env.contains_key("DATABASE_URL"), "set by start");
    }

    #[test]
    fn given_credentials_and_settings_replace_the_generated_ones() {
        let admin = AdminCredentials {
            client_id: "ci-admin".into(),
            client_secret: "s3cret&=+".into(),
        };
        let image = Idstore::default()
            .with_admin(admin.clone())
            .with_database_url("postgres://db/idstore")
            .with_env("IDSTORE_LOG_FORMAT", "json");
        let env = env_of(&image);
        assert_eq!(env["IDSTORE_BOOTSTRAP_CLIENT_ID"], "ci-admin");
        assert_eq!(env["DATABASE_URL"], "postgres://db/idstore");
        assert_eq!(env["IDSTORE_LOG_FORMAT"], "json");
        assert_eq!(
            token_form(&admin),
            "grant_type=client_credentials&client_id=ci-admin&client_secret=s3cret%26%3D%2B"
        );
        assert_eq!(
            database_url("idstore-tc-postgres-ab"),
            "postgres://postgres@idstore-tc-postgres-ab:5432/postgres"
        );
    }

    #[test]
    fn the_access_token_is_read_from_the_token_answer() {
        let body = r#"{"access_token":"eyJ.x.y","token_type":"Bearer","expires_in":3600}"#;
        assert_eq!(access_token(body).unwrap(), "eyJ.x.y");
        for bad in [
            r#"{"error":"invalid_client"}"#,
            "not json",
            r#"{"access_token":7}"#,
        ] {
            assert!(matches!(access_token(bad), Err(Error::NoToken(_))), "{bad}");
        }
    }
}
