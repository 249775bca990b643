//! Configuration, layered: built-in defaults < `idstore.toml` < environment
//! (`IDSTORE_*`, `DATABASE_URL`, and `*_FILE` for secrets) < command-line
//! flags. Values are typed once here; a wrong one stops start-up with a
//! message naming the key and what it accepts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub const DEFAULT_CONFIG_FILE: &str = "idstore.toml";

/// Everything `serve` and `migrate` need to know.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// PostgreSQL to use. When absent, see `postgres`.
    pub database_url: Option<SecretString>,
    /// Where to find PostgreSQL when no `database_url` is given.
    pub postgres: PostgresMode,
    /// Database created and used on a local or private PostgreSQL.
    pub database_name: String,
    /// idstore's own files, including the private PostgreSQL cluster.
    pub data_dir: PathBuf,
    /// Apply pending migrations when `serve` starts.
    pub migrate: bool,
    pub log_format: LogFormat,
    /// Default log filter; `RUST_LOG` overrides it.
    pub log_level: String,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Upper bound of pooled PostgreSQL connections per process.
    pub max_connections: u32,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_timeout: u64,
    /// The URL clients reach idstore at: token issuer and audience. Replicas
    /// behind one load balancer must share it. Default: `http://<listen>`.
    pub public_url: Option<String>,
    /// Access token lifetime in seconds.
    pub token_lifetime: u64,
    /// Base64 of 32 bytes sealing the private signing keys. Default: a
    /// development key generated into `data_dir/kek`.
    pub key_encryption_key: Option<SecretString>,
    /// Bootstrap an empty database on `serve`.
    pub bootstrap: bool,
    /// Fixes the initial admin client's id instead of generating one.
    pub bootstrap_client_id: Option<String>,
    /// Fixes the initial admin client's secret instead of generating one.
    pub bootstrap_client_secret: Option<SecretString>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            postgres: PostgresMode::Auto,
            database_name: "idstore".into(),
            data_dir: PathBuf::from("./.idstore"),
            migrate: true,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            workers: 0,
            max_connections: 10,
            body_limit: 256 * 1024,
            shutdown_timeout: 30,
            public_url: None,
            token_lifetime: 3600,
            key_encryption_key: None,
            bootstrap: true,
            bootstrap_client_id: None,
            bootstrap_client_secret: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostgresMode {
    /// The local PostgreSQL if one answers, else a private cluster.
    Auto,
    /// Only the PostgreSQL already running on this machine.
    System,
    /// Only a private cluster in `data_dir`, started and stopped by idstore.
    Managed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// What each key accepts, quoted in error messages.
const ACCEPTS: &[(&str, &str)] = &[
    (
        "listen",
        "HOST:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080 (port 0 picks a free port)",
    ),
    (
        "database_url",
        "a PostgreSQL URL, e.g. postgres://user:password@host:5432/idstore",
    ),
    ("postgres", "auto, system or managed"),
    ("database_name", "a PostgreSQL database name"),
    ("data_dir", "a directory path"),
    ("migrate", "true or false"),
    ("log_format", "text or json"),
    (
        "log_level",
        "a tracing filter, e.g. info or idstore=debug,sqlx=warn",
    ),
    ("workers", "a whole number; 0 means one per CPU core"),
    ("max_connections", "a whole number from 1 upwards"),
    ("body_limit", "a number of bytes from 1024 upwards"),
    ("shutdown_timeout", "a number of seconds"),
    (
        "public_url",
        "an absolute http(s) URL without a trailing slash, e.g. https://id.example.com",
    ),
    ("token_lifetime", "a number of seconds from 60 to 86400"),
    (
        "key_encryption_key",
        "32 random bytes in base64, e.g. the output of `openssl rand -base64 32`",
    ),
    ("bootstrap", "true or false"),
    (
        "bootstrap_client_id",
        "1 to 128 characters of A-Z a-z 0-9 . _ | : @ -",
    ),
    ("bootstrap_client_secret", "at least 16 characters"),
];

/// Keys holding secrets: each may also be read from the file named by
/// `IDSTORE_<KEY>_FILE` (for Docker and Kubernetes secrets).
const SECRET_KEYS: &[&str] = &[
    "database_url",
    "key_encryption_key",
    "bootstrap_client_secret",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {message}\n  `{key}` accepts {accepts}")]
    Invalid {
        key: String,
        message: String,
        accepts: &'static str,
    },
    #[error("invalid configuration: {0}")]
    Other(String),
}

/// Flags given on the command line, as raw values: they are typed together
/// with the other layers so that every error names its key the same way.
pub type Overrides = Vec<(&'static str, figment::value::Value)>;

/// Reads the layers. `file` is the `--config` flag, if given.
pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Config, ConfigError> {
    let figment = layers(file, overrides, |name| std::env::var(name).ok())?;
    let config: Config = figment.extract().map_err(|e| explain(&e))?;
    validate(&config)?;
    Ok(config)
}

fn layers(
    file: Option<&Path>,
    overrides: Overrides,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Figment, ConfigError> {
    let explicit = file
        .map(Path::to_path_buf)
        .or_else(|| env("IDSTORE_CONFIG").map(PathBuf::from));
    let mut figment = Figment::new();
    match explicit {
        Some(path) if !path.is_file() => {
            return Err(ConfigError::Other(format!(
                "configuration file {} (from --config or IDSTORE_CONFIG) does not exist",
                path.display()
            )));
        }
        Some(path) => figment = figment.merge(Toml::file_exact(path)),
        // The default file is optional.
        None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
            figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
        }
        None => {}
    }
    figment = figment
        .merge(
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database_url".into()),
        )
        .merge(
            Env::prefixed("IDSTORE_")
                .ignore(&["CONFIG"])
                .filter(|k| !k.as_str().ends_with("_FILE")),
        );
    for key in SECRET_KEYS {
        let upper = key.to_uppercase();
        for var in [format!("{upper}_FILE"), format!("IDSTORE_{upper}_FILE")] {
            if let Some(path) = env(&var) {
                let value = std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
                    key: (*key).to_owned(),
                    message: format!("cannot read {var}={path}: {e}"),
                    accepts: accepts(key),
                })?;
                figment = figment.merge(Serialized::default(key, value.trim_end().to_owned()));
            }
        }
    }
    for (key, value) in overrides {
        figment = figment.merge(Serialized::default(key, value));
    }
    Ok(figment)
}

fn accepts(key: &str) -> &'static str {
    ACCEPTS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("a value of the documented type", |(_, a)| a)
}

fn explain(error: &figment::Error) -> ConfigError {
    let key = error.path.last().cloned().unwrap_or_default();
    let mut message = error.to_string();
    if let figment::error::Kind::UnknownField(field, _) = &error.kind {
        return ConfigError::Other(format!(
            "unknown key `{field}` ({message}); known keys: {}",
            ACCEPTS
                .iter()
                .map(|(k, _)| *k)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(source) = error.metadata.as_ref().map(|m| m.name.to_string())
        && !message.contains(&source)
    {
        message = format!("{message} (from {source})");
    }
    ConfigError::Invalid {
        accepts: accepts(&key),
        key,
        message,
    }
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: key.to_owned(),
        message,
        accepts: accepts(key),
    };
    if config.max_connections == 0 {
        return Err(invalid("max_connections", "must not be 0".into()));
    }
    if config.body_limit < 1024 {
        return Err(invalid(
            "body_limit",
            format!("{} is too small", config.body_limit),
        ));
    }
    if config.database_name.is_empty() || config.database_name.len() > 63 {
        return Err(invalid(
            "database_name",
            "must be 1 to 63 characters".into(),
        ));
    }
    if let Some(url) = &config.public_url
        && (!(url.starts_with("http://") || url.starts_with("https://")) || url.ends_with('/'))
    {
        return Err(invalid("public_url", format!("{url:?} is not accepted")));
    }
    if !(60..=86400).contains(&config.token_lifetime) {
        return Err(invalid(
            "token_lifetime",
            format!("{} is out of range", config.token_lifetime),
        ));
    }
    if let Some(id) = &config.bootstrap_client_id
        && !idstore_domain::id::is_valid_id(id)
    {
        return Err(invalid(
            "bootstrap_client_id",
            format!("{id:?} is not accepted"),
        ));
    }
    if config
        .bootstrap_client_secret
        .as_ref()
        .is_some_and(|s| s.expose_secret().len() < 16)
    {
        return Err(invalid("bootstrap_client_secret", "is too short".into()));
    }
    if config.bootstrap_client_secret.is_some() != config.bootstrap_client_id.is_some() {
        return Err(ConfigError::Other(
            "set both bootstrap_client_id and bootstrap_client_secret, or neither".into(),
        ));
    }
    if tracing_subscriber::EnvFilter::try_new(&config.log_level).is_err() {
        return Err(invalid(
            "log_level",
            format!("{:?} is not a filter", config.log_level),
        ));
    }
    Ok(())
}

#[cfg(test)]
// figment's Jail fixes the closures' error type to its own (large) one.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_apply_when_nothing_is_configured() {
        Jail::expect_with(|_| {
            let c = load(None, vec![]).unwrap();
            assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
            assert!(c.migrate && c.database_url.is_none());
            assert_eq!(c.postgres, PostgresMode::Auto);
            Ok(())
        });
    }

    #[test]
    fn layers_override_in_order_file_then_env_then_flags() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "idstore.toml",
                "listen = \"127.0.0.1:1111\"\nworkers = 3\nlog_format = \"json\"",
            )?;
            jail.set_env("IDSTORE_LISTEN", "127.0.0.1:2222");
            jail.set_env("IDSTORE_WORKERS", "5");
            let c = load(None, vec![("listen", "127.0.0.1:3333".into())]).unwrap();
            assert_eq!(c.listen.to_string(), "127.0.0.1:3333", "flag beats env");
            assert_eq!(c.workers, 5, "env beats file");
            assert_eq!(c.log_format, LogFormat::Json, "file beats default");
            Ok(())
        });
    }

    #[test]
    fn a_wrong_value_names_its_key_and_what_it_accepts() {
        Jail::expect_with(|jail| {
            jail.set_env("IDSTORE_LISTEN", "not-an-address");
            let e = load(None, vec![]).unwrap_err().to_string();
            assert!(e.contains("`listen`") && e.contains("HOST:PORT"), "{e}");
            assert!(
                e.contains("IDSTORE_"),
                "should say where the value came from: {e}"
            );
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.create_file("idstore.toml", "log_format = \"xml\"")?;
            let e = load(None, vec![]).unwrap_err().to_string();
            assert!(
                e.contains("`log_format`") && e.contains("text or json"),
                "{e}"
            );
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_in_the_file_is_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("idstore.toml", "lisen = \"127.0.0.1:1\"")?;
            let e = load(None, vec![]).unwrap_err().to_string();
            assert!(e.contains("lisen") && e.contains("known keys"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn secrets_come_from_files_and_never_print() {
        Jail::expect_with(|jail| {
            jail.create_file("db-url", "postgres://u:s3cret@db/x\n")?;
            let path = jail.directory().join("db-url");
            jail.set_env("IDSTORE_DATABASE_URL_FILE", path.display());
            let c = load(None, vec![]).unwrap();
            let url = c.database_url.as_ref().unwrap();
            assert_eq!(url.expose_secret(), "postgres://u:s3cret@db/x");
            assert!(!format!("{c:?}").contains("s3cret"));
            Ok(())
        });
    }

    #[test]
    fn database_url_is_read_from_the_conventional_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "postgres://a@b/c");
            let c = load(None, vec![]).unwrap();
            assert_eq!(c.database_url.unwrap().expose_secret(), "postgres://a@b/c");
            Ok(())
        });
    }

    #[test]
    fn a_missing_explicit_config_file_is_an_error() {
        Jail::expect_with(|_| {
            let e = load(Some(Path::new("nope.toml")), vec![])
                .unwrap_err()
                .to_string();
            assert!(e.contains("nope.toml"), "{e}");
            Ok(())
        });
    }
}
