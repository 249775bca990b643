//! Configuration, layered: built-in defaults < `idstore.toml` < environment
//! (`IDSTORE_*`, `DATABASE_URL`, and `*_FILE` for secrets) < command-line
//! flags. Each key is defined once, in `config/keys.rs`; its TOML key, environment
//! variables, flag, help, error messages and the README's table all derive
//! from that definition, so they cannot drift apart.

mod flags;
mod reference;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Value};

pub use flags::{CommonFlags, ConfigFlags, ServeFlags};
pub use keys::{Config, KEYS, LogFormat, MailTransport, PostgresMode, SmtpTls};
pub use reference::markdown_table;

pub const DEFAULT_CONFIG_FILE: &str = "idstore.toml";

/// One configuration key as an operator meets it.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The TOML key and the `Config` field.
    pub name: &'static str,
    pub help: &'static str,
    /// Quoted by every error about this key.
    pub accepts: &'static str,
    pub default: Initial,
    pub flag: Flag,
    pub env: Sources,
}

#[derive(Debug, Clone, Copy)]
pub enum Initial {
    /// Parsed like a value from the environment.
    Value(&'static str),
    /// No value, for `Option` fields only; says what happens instead.
    Unset(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// `--<key> VALUE` on every command that reads configuration.
    Every(&'static str),
    /// `--<key> VALUE` on `serve` only, the one command that uses the key.
    Serve(&'static str),
    /// `--no-<key>` on `serve`, for a switch that is on by default.
    ServeOff,
    /// Set by the file and the environment only.
    NoFlag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// `IDSTORE_<KEY>`.
    Plain,
    /// Also the file named by `IDSTORE_<KEY>_FILE`, as Docker and
    /// Kubernetes mount secrets.
    Secret,
    /// A secret whose ecosystem has a conventional variable (and `_FILE`),
    /// read below the `IDSTORE_` one.
    SecretAlso(&'static str),
}

impl Key {
    /// Environment variables holding the value, lowest precedence first.
    pub fn env_vars(&self) -> Vec<String> {
        let own = format!("IDSTORE_{}", self.name.to_uppercase());
        match self.env {
            Sources::SecretAlso(alias) => vec![alias.to_owned(), own],
            Sources::Plain | Sources::Secret => vec![own],
        }
    }

    /// Variables naming a file that holds the value, lowest precedence first.
    /// Besides `<VAR>_FILE` for each variable, a secret is also read from
    /// the file named by the unprefixed `<KEY>_FILE`, as idstore has always
    /// done: dropping it would silently swap a deployment's key-encryption
    /// key for a development one.
    pub fn file_vars(&self) -> Vec<String> {
        let unprefixed = format!("{}_FILE", self.name.to_uppercase());
        match self.env {
            Sources::Plain => vec![],
            Sources::Secret | Sources::SecretAlso(_) => std::iter::once(unprefixed)
                .chain(self.env_vars().iter().map(|v| format!("{v}_FILE")))
                .fold(Vec::new(), |mut vars, v| {
                    if !vars.contains(&v) {
                        vars.push(v);
                    }
                    vars
                }),
        }
    }

    /// The environment variables and files, each name written by `name`.
    pub fn env_summary(&self, name: impl Fn(&str) -> String) -> String {
        let vars: Vec<_> = self.env_vars().iter().map(|v| name(v)).collect();
        let files: Vec<_> = self.file_vars().iter().map(|v| name(v)).collect();
        if files.is_empty() {
            vars.join(", ")
        } else {
            format!(
                "{}, or a file named by {}",
                vars.join(", "),
                files.join(" or ")
            )
        }
    }

    pub fn is_secret(&self) -> bool {
        self.env != Sources::Plain
    }

    /// The help, plus the promise made for secrets.
    pub fn description(&self) -> String {
        if self.is_secret() {
            format!("{}. Secret: never printed or logged", self.help)
        } else {
            self.help.to_owned()
        }
    }

    /// The flag without its leading `--`.
    pub fn long_flag(&self) -> Option<String> {
        let long = self.name.replace('_', "-");
        match self.flag {
            Flag::Every(_) | Flag::Serve(_) => Some(long),
            Flag::ServeOff => Some(format!("no-{long}")),
            Flag::NoFlag => None,
        }
    }

    pub fn default_text(&self) -> &'static str {
        match self.default {
            Initial::Value(text) | Initial::Unset(text) => text,
        }
    }
}

/// Defines [`Config`] and [`KEYS`] from one entry per key: its field type,
/// `help`, `accepts`, `default`, `flag`, optionally `env` (else `Plain`)
/// and a `check` run on the typed value.
macro_rules! config_keys {
    ($(
        $name:ident: $ty:ty {
            help: $help:literal,
            accepts: $accepts:literal,
            default: $default:expr,
            flag: $flag:expr,
            $(env: $env:expr,)?
            $(check: $check:expr,)?
        }
    )*) => {
        /// Everything `serve` and the other commands need to know.
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Config {
            $(#[doc = $help] pub $name: $ty,)*
        }

        pub const KEYS: &[$crate::config::Key] = &[$($crate::config::Key {
            name: stringify!($name),
            help: $help,
            accepts: $accepts,
            default: $default,
            flag: $flag,
            env: plain_unless!($($env)?),
        },)*];

        pub(super) fn check_each(config: &Config) -> Result<(), $crate::config::ConfigError> {
            $($($crate::config::check(stringify!($name), &config.$name, $check)?;)?)*
            Ok(())
        }
    };
}

macro_rules! plain_unless {
    () => {
        $crate::config::Sources::Plain
    };
    ($env:expr) => {
        $env
    };
}

// After the macros, which it invokes.
mod keys;

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
pub type Overrides = Vec<(&'static str, Value)>;

impl Default for Config {
    fn default() -> Self {
        Figment::from(defaults())
            .extract()
            .expect("the built-in defaults in config/keys.rs are valid")
    }
}

/// Reads the layers. `file` is the `--config` flag, if given.
pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Config, ConfigError> {
    let figment = layers(file, overrides, |name| std::env::var(name).ok())?;
    let config: Config = figment.extract().map_err(|e| explain(&e))?;
    validate(&config)?;
    Ok(config)
}

fn defaults() -> Serialized<Dict> {
    let values = KEYS.iter().filter_map(|key| match key.default {
        Initial::Value(text) => {
            let Ok(value) = text.parse::<Value>();
            Some((key.name.to_owned(), value))
        }
        Initial::Unset(_) => None,
    });
    Serialized::defaults(values.collect())
}

fn layers(
    file: Option<&Path>,
    overrides: Overrides,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Figment, ConfigError> {
    let mut figment = Figment::from(defaults());
    if let Some(path) = config_file(file, &env)? {
        figment = figment.merge(Toml::file_exact(path));
    }
    for key in KEYS {
        if let Sources::SecretAlso(alias) = key.env {
            figment = figment.merge(Env::raw().only(&[alias]).map(|_| key.name.into()));
        }
    }
    figment = figment.merge(
        Env::prefixed("IDSTORE_")
            .ignore(&["CONFIG"])
            .filter(|k| !k.as_str().ends_with("_FILE")),
    );
    for key in KEYS {
        for var in key.file_vars() {
            if let Some(path) = env(&var) {
                figment = figment.merge(Serialized::default(
                    key.name,
                    read_secret(key, &var, &path)?,
                ));
            }
        }
    }
    for (key, value) in overrides {
        figment = figment.merge(Serialized::default(key, value));
    }
    Ok(figment)
}

/// The explicit file must exist; the default one is optional.
fn config_file(
    file: Option<&Path>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<PathBuf>, ConfigError> {
    let explicit = file
        .map(Path::to_path_buf)
        .or_else(|| env("IDSTORE_CONFIG").map(PathBuf::from));
    match explicit {
        Some(path) if !path.is_file() => Err(ConfigError::Other(format!(
            "configuration file {} (from --config or IDSTORE_CONFIG) does not exist",
            path.display()
        ))),
        Some(path) => Ok(Some(path)),
        None => Ok(Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file())),
    }
}

fn read_secret(key: &Key, var: &str, path: &str) -> Result<String, ConfigError> {
    let value = std::fs::read_to_string(path)
        .map_err(|e| invalid(key.name, format!("cannot read {var}={path}: {e}")))?;
    // Files written by editors and `echo` end in a newline that is not part of the secret.
    Ok(value.trim_end().to_owned())
}

fn accepts(key: &str) -> &'static str {
    KEYS.iter()
        .find(|k| k.name == key)
        .map_or("a value of the documented type", |k| k.accepts)
}

fn invalid(key: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message,
        accepts: accepts(key),
    }
}

fn explain(error: &figment::Error) -> ConfigError {
    let mut message = error.to_string();
    if let figment::error::Kind::UnknownField(field, _) = &error.kind {
        let known: Vec<_> = KEYS.iter().map(|k| k.name).collect();
        return ConfigError::Other(format!(
            "unknown key `{field}` ({message}); known keys: {}",
            known.join(", ")
        ));
    }
    if let Some(source) = error.metadata.as_ref().map(|m| m.name.to_string())
        && !message.contains(&source)
    {
        message = format!("{message} (from {source})");
    }
    invalid(&error.path.last().cloned().unwrap_or_default(), message)
}

/// Runs one key's `check` from its definition.
fn check<T>(
    key: &str,
    value: &T,
    rule: impl Fn(&T) -> Result<(), String>,
) -> Result<(), ConfigError> {
    rule(value).map_err(|message| invalid(key, message))
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    keys::check_each(config)?;
    config
        .password_hash_params()
        .validate()
        .map_err(|message| invalid("password_hash_memory_kib", message))?;
    if config.bootstrap_client_secret.is_some() != config.bootstrap_client_id.is_some() {
        return Err(ConfigError::Other(
            "set both bootstrap_client_id and bootstrap_client_secret, or neither".into(),
        ));
    }
    Ok(())
}

impl Config {
    /// The costs of new password hashes.
    pub fn password_hash_params(&self) -> idstore_auth::password::hash::Argon2Params {
        idstore_auth::password::hash::Argon2Params {
            memory_kib: self.password_hash_memory_kib,
            iterations: self.password_hash_iterations,
            parallelism: self.password_hash_parallelism,
        }
    }
}

#[cfg(test)]
// figment's Jail fixes the closures' error type to its own (large) one.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;
    use secrecy::ExposeSecret;

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.postgres, PostgresMode::Auto);
        assert_eq!(c.database_name, "idstore");
        assert_eq!(c.data_dir, PathBuf::from("./.idstore"));
        assert_eq!((c.migrate, c.bootstrap), (true, true));
        assert_eq!(
            (c.log_format, c.log_level.as_str()),
            (LogFormat::Text, "info")
        );
        assert_eq!((c.workers, c.max_connections), (0, 10));
        assert_eq!(c.body_limit, 256 * 1024);
        assert_eq!((c.shutdown_timeout, c.token_lifetime), (30, 3600));
        assert_eq!(c.drain_delay, 5);
        assert_eq!(
            c.password_hash_params(),
            idstore_auth::password::hash::Argon2Params::default()
        );
        assert!(c.database_url.is_none() && c.key_encryption_key.is_none());
        assert!(c.public_url.is_none() && c.bootstrap_client_id.is_none());
        assert!(c.bootstrap_client_secret.is_none());
    }

    #[test]
    fn defaults_apply_when_nothing_is_configured() {
        Jail::expect_with(|jail| {
            // A developer's DATABASE_URL or IDSTORE_* must not leak in.
            jail.clear_env();
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
    fn the_unprefixed_file_variables_of_secrets_are_still_read() {
        Jail::expect_with(|jail| {
            let kek = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
            jail.create_file("kek", kek)?;
            jail.set_env(
                "KEY_ENCRYPTION_KEY_FILE",
                jail.directory().join("kek").display(),
            );
            jail.create_file("secret", "0123456789abcdef-secret")?;
            jail.set_env(
                "BOOTSTRAP_CLIENT_SECRET_FILE",
                jail.directory().join("secret").display(),
            );
            jail.set_env("IDSTORE_BOOTSTRAP_CLIENT_ID", "admin");
            let c = load(None, vec![]).unwrap();
            assert_eq!(c.key_encryption_key.as_ref().unwrap().expose_secret(), kek);
            assert_eq!(
                c.bootstrap_client_secret.as_ref().unwrap().expose_secret(),
                "0123456789abcdef-secret"
            );
            Ok(())
        });
    }

    #[test]
    fn every_secret_is_read_from_its_file_variable_and_never_printed() {
        Jail::expect_with(|jail| {
            for (i, key) in KEYS.iter().filter(|k| k.is_secret()).enumerate() {
                let file = format!("secret-{i}");
                jail.create_file(&file, &format!("s3cret-{i}-0123456789abcdef\n"))?;
                let var = format!("IDSTORE_{}_FILE", key.name.to_uppercase());
                jail.set_env(var, jail.directory().join(file).display());
            }
            jail.set_env("IDSTORE_BOOTSTRAP_CLIENT_ID", "admin");
            let c = load(None, vec![]).unwrap();
            let shown = format!("{c:?}");
            assert!(!shown.contains("s3cret"), "{shown}");
            let kek = c.key_encryption_key.unwrap();
            assert!(
                kek.expose_secret().starts_with("s3cret-"),
                "read from its file"
            );
            let admin = c.bootstrap_client_secret.unwrap();
            assert!(
                admin.expose_secret().ends_with("abcdef"),
                "without the newline"
            );
            Ok(())
        });
    }

    #[test]
    fn database_url_sources_rank_conventional_then_own_then_files_then_flag() {
        Jail::expect_with(|jail| {
            jail.create_file("a", "postgres://conventional-file")?;
            jail.create_file("b", "postgres://own-file")?;
            jail.set_env("DATABASE_URL", "postgres://conventional");
            let url = |c: Config| c.database_url.unwrap().expose_secret().to_owned();
            assert_eq!(url(load(None, vec![]).unwrap()), "postgres://conventional");
            jail.set_env("IDSTORE_DATABASE_URL", "postgres://own");
            assert_eq!(url(load(None, vec![]).unwrap()), "postgres://own");
            jail.set_env("DATABASE_URL_FILE", jail.directory().join("a").display());
            assert_eq!(
                url(load(None, vec![]).unwrap()),
                "postgres://conventional-file"
            );
            jail.set_env(
                "IDSTORE_DATABASE_URL_FILE",
                jail.directory().join("b").display(),
            );
            assert_eq!(url(load(None, vec![]).unwrap()), "postgres://own-file");
            let flag = vec![("database_url", "postgres://flag".into())];
            assert_eq!(url(load(None, flag).unwrap()), "postgres://flag");
            Ok(())
        });
    }

    #[test]
    fn a_value_refused_by_its_check_names_the_key_and_what_it_accepts() {
        Jail::expect_with(|jail| {
            jail.set_env("IDSTORE_MAX_CONNECTIONS", "0");
            let e = load(None, vec![]).unwrap_err().to_string();
            assert!(
                e.contains("`max_connections`") && e.contains("from 1 upwards"),
                "{e}"
            );
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.create_file("idstore.toml", "public_url = \"https://id.example.com/\"")?;
            let e = load(None, vec![]).unwrap_err().to_string();
            assert!(
                e.contains("`public_url`") && e.contains("trailing slash"),
                "{e}"
            );
            Ok(())
        });
    }

    #[test]
    fn password_hash_costs_argon2_refuses_stop_the_start() {
        Jail::expect_with(|jail| {
            jail.set_env("IDSTORE_PASSWORD_HASH_ITERATIONS", "0");
            let e = load(None, vec![]).unwrap_err().to_string();
            assert!(e.contains("`password_hash_iterations`"), "{e}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            // Each key alone is in range; together they are not.
            jail.set_env("IDSTORE_PASSWORD_HASH_MEMORY_KIB", "64");
            jail.set_env("IDSTORE_PASSWORD_HASH_PARALLELISM", "16");
            let e = load(None, vec![]).unwrap_err().to_string();
            assert!(
                e.contains("`password_hash_memory_kib`") && e.contains("8 KiB per lane"),
                "{e}"
            );
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("IDSTORE_PASSWORD_HASH_MEMORY_KIB", "65536");
            jail.set_env("IDSTORE_PASSWORD_HASH_ITERATIONS", "3");
            let c = load(None, vec![]).unwrap();
            assert_eq!(
                (c.password_hash_memory_kib, c.password_hash_iterations),
                (65536, 3)
            );
            Ok(())
        });
    }

    #[test]
    fn a_bootstrap_client_needs_both_id_and_secret() {
        Jail::expect_with(|jail| {
            jail.set_env("IDSTORE_BOOTSTRAP_CLIENT_ID", "admin");
            let e = load(None, vec![]).unwrap_err().to_string();
            assert!(e.contains("set both"), "{e}");
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
