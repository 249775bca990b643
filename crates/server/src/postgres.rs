//! Which PostgreSQL idstore talks to: `DATABASE_URL` when given; otherwise
//! the PostgreSQL running on this machine (creating idstore's database in
//! it); otherwise a private cluster started from the installed PostgreSQL
//! binaries in the data directory (see [`crate::managed`]).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use idstore_store::PgConnectOptions;
use idstore_store::database::{describe, ensure_database, ping};
use secrecy::ExposeSecret;

use crate::config::{Config, PostgresMode};
use crate::managed::{ManagedCluster, ManagedError};

/// The database in use, and the private cluster behind it if idstore runs one.
#[derive(Debug)]
pub struct Database {
    /// The owner's connection: migrations, bootstrap, commands.
    pub options: PgConnectOptions,
    pub managed: Option<ManagedCluster>,
    /// The role `serve` connects as, when it is not the owner.
    pub serving: Option<Serving>,
    /// Whether `options` are the owner's: not when only
    /// `runtime_database_url` is given (a replica that never migrates).
    pub owner: bool,
}

impl Database {
    /// Refuses `what` (migrating, bootstrapping) without the owner's URL.
    pub fn require_owner(&self, what: &str) -> Result<(), PostgresError> {
        if self.owner {
            Ok(())
        } else {
            Err(PostgresError::NoOwner(what.to_owned()))
        }
    }
}

/// The serving role's connection and what preparing it takes.
#[derive(Debug, Clone)]
pub struct Serving {
    pub options: PgConnectOptions,
    pub role: String,
    /// Given to the role when migrating creates it.
    pub password: Option<String>,
    /// The role idstore chose on the local PostgreSQL it found (not one
    /// configured, nor its private cluster's): when that server refuses it
    /// a login (peer authentication, say) or its owner may not create it,
    /// `serve` falls back to the owner and says so.
    pub may_fall_back: bool,
}

impl Serving {
    pub fn role(&self) -> idstore_store::serving_role::ServingRole<'_> {
        idstore_store::serving_role::ServingRole {
            name: &self.role,
            password: self.password.as_deref(),
        }
    }

    /// The role named by `runtime_database_url`.
    fn from_url(url: &str) -> Result<Self, PostgresError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| PostgresError::BadRuntimeUrl(e.to_string()))?;
        let parsed =
            url::Url::parse(url).map_err(|e| PostgresError::BadRuntimeUrl(e.to_string()))?;
        let password = parsed.password().map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        });
        Ok(Self {
            role: options.get_username().to_owned(),
            options,
            password,
            may_fall_back: false,
        })
    }

    /// `idstore_runtime` on the server `owner` reaches, the same way
    /// (socket or host) and without a password: for the PostgreSQL
    /// idstore runs or found locally, whose authentication is local.
    fn local(owner: &PgConnectOptions, may_fall_back: bool) -> Self {
        let role = idstore_store::serving_role::DEFAULT_NAME;
        let base = PgConnectOptions::new_without_pgpass()
            .port(owner.get_port())
            .username(role)
            .database(owner.get_database().unwrap_or("postgres"));
        let options = match owner.get_socket() {
            Some(dir) => base.socket(dir),
            None => base.host(owner.get_host()),
        };
        Self {
            options,
            role: role.to_owned(),
            password: None,
            may_fall_back,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error(
        "database_url is not a valid PostgreSQL URL ({0}); expected postgres://user:password@host:5432/dbname"
    )]
    BadUrl(String),
    #[error(
        "no PostgreSQL answers on this machine (tried {tried}); start it, or set DATABASE_URL, \
         or use --postgres auto/managed to let idstore run a private one"
    )]
    NoSystem { tried: String },
    #[error(
        "no PostgreSQL answers on this machine (tried {tried}) and no PostgreSQL binaries are \
         installed to start a private one: install PostgreSQL (e.g. `apt-get install postgresql`) \
         or set DATABASE_URL"
    )]
    NothingAvailable { tried: String },
    #[error(
        "runtime_database_url is not a valid PostgreSQL URL ({0}); expected \
         postgres://idstore_runtime:password@host:5432/dbname"
    )]
    BadRuntimeUrl(String),
    #[error(
        "{0} needs the database owner's URL: set database_url (runtime_database_url is the \
         serving role's), or start serve with --no-migrate where a migration job migrates"
    )]
    NoOwner(String),
    #[error(transparent)]
    Managed(#[from] ManagedError),
    #[error(transparent)]
    Database(#[from] idstore_store::DatabaseError),
}

pub async fn resolve(config: &Config) -> Result<Database, PostgresError> {
    if config.database_url.is_none()
        && let Some(url) = &config.runtime_database_url
    {
        let serving = Serving::from_url(url.expose_secret())?;
        return Ok(Database {
            options: serving.options.clone(),
            managed: None,
            serving: Some(serving),
            owner: false,
        });
    }
    let mut database = resolve_owner(config).await?;
    database.serving = match &config.runtime_database_url {
        Some(url) => Some(Serving::from_url(url.expose_secret())?),
        // The private cluster trusts its own 0700 socket: a refused login
        // there is a fault, never a reason to serve as the owner.
        None if config.database_url.is_none() => Some(Serving::local(
            &database.options,
            database.managed.is_none(),
        )),
        None => None,
    };
    Ok(database)
}

async fn resolve_owner(config: &Config) -> Result<Database, PostgresError> {
    if let Some(url) = &config.database_url {
        let options = PgConnectOptions::from_str(url.expose_secret())
            // sqlx's message does not repeat the URL, so no password leaks here.
            .map_err(|e| PostgresError::BadUrl(e.to_string()))?;
        return Ok(Database {
            options,
            managed: None,
            serving: None,
            owner: true,
        });
    }
    let (server, managed) = match config.postgres {
        PostgresMode::System => {
            let found = find_system().await;
            (
                found.map_err(|tried| PostgresError::NoSystem { tried })?,
                None,
            )
        }
        PostgresMode::Managed => start_managed(&config.data_dir).await?,
        PostgresMode::Auto => match find_system().await {
            Ok(server) => (server, None),
            Err(tried) if ManagedCluster::binaries().is_none() => {
                return Err(PostgresError::NothingAvailable { tried });
            }
            Err(tried) => {
                tracing::info!(%tried, "no local PostgreSQL answers; starting a private cluster");
                start_managed(&config.data_dir).await?
            }
        },
    };
    if ensure_database(&server, &config.database_name).await? {
        tracing::info!(database = %config.database_name, "created database");
    }
    let options = server.database(&config.database_name);
    tracing::info!(database = %describe(&options), "using PostgreSQL");
    Ok(Database {
        options,
        managed,
        serving: None,
        owner: true,
    })
}

async fn start_managed(
    data_dir: &Path,
) -> Result<(PgConnectOptions, Option<ManagedCluster>), PostgresError> {
    let cluster = ManagedCluster::start(data_dir).await?;
    Ok((cluster.connect_options(), Some(cluster)))
}

/// Tries the usual places a local PostgreSQL listens, as the usual users.
/// Returns the first that accepts a connection, or a list of what was tried.
pub async fn find_system() -> Result<PgConnectOptions, String> {
    let port = std::env::var("PGPORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432);
    let mut users: Vec<String> = Vec::new();
    for user in [
        std::env::var("PGUSER").ok(),
        crate::os_user::current_name(),
        Some("postgres".into()),
    ]
    .into_iter()
    .flatten()
    {
        if !users.contains(&user) {
            users.push(user);
        }
    }
    let mut places: Vec<PgConnectOptions> = Vec::new();
    let base = PgConnectOptions::new_without_pgpass()
        .port(port)
        .database("postgres");
    for dir in ["/var/run/postgresql", "/run/postgresql", "/tmp"] {
        if PathBuf::from(dir).join(format!(".s.PGSQL.{port}")).exists() {
            places.push(base.clone().socket(dir));
        }
    }
    places.push(base.clone().host("127.0.0.1"));
    let mut tried = Vec::new();
    for place in &places {
        for user in &users {
            let candidate = place.clone().username(user);
            tried.push(describe(&candidate));
            if ping(&candidate, Duration::from_secs(2)).await.is_ok() {
                return Ok(candidate);
            }
        }
    }
    Err(tried.join(", "))
}
