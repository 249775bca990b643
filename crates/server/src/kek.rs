//! The key-encryption key that seals private signing keys in the database.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use idstore_auth::keys::Kek;
use secrecy::ExposeSecret;

use crate::config::{Config, KEYS};

const DEV_KEK_FILE: &str = "kek";

/// The configured KEK. Without one, and only on idstore's own or the local
/// default database, a development KEK kept in the data directory (created
/// on first use), with a loud warning: whoever reads that file can mint
/// tokens. A database named by URL is one other replicas and a recreated
/// container share, and each would make up a key of its own that opens
/// none of the others' signing keys: there, no key is refused.
pub fn load(config: &Config) -> anyhow::Result<Kek> {
    if let Some(text) = &config.key_encryption_key {
        return Kek::from_base64(text.expose_secret())
            .context("invalid configuration: `key_encryption_key`");
    }
    if config.database_url.is_some() || config.runtime_database_url.is_some() {
        anyhow::bail!(missing());
    }
    let path = config.data_dir.join(DEV_KEK_FILE);
    let kek = if path.is_file() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Kek::from_base64(&text)
            .with_context(|| format!("{} does not hold a valid key", path.display()))?
    } else {
        create(&path)?
    };
    tracing::warn!(
        path = %path.display(),
        "using a development key-encryption key stored beside the data; \
         set IDSTORE_KEY_ENCRYPTION_KEY (or _FILE) in production"
    );
    Ok(kek)
}

/// Where the key is read from, as the key's definition names them.
fn sources() -> String {
    KEYS.iter()
        .find(|k| k.name == "key_encryption_key")
        .map(|k| k.env_summary(str::to_owned))
        .unwrap_or_default()
}

fn missing() -> String {
    let sources = sources();
    format!(
        "invalid configuration: `key_encryption_key` is not set. With `database_url` set, \
         idstore makes up no development key: another replica or a recreated container would \
         make a different one and could not open the signing keys. Make a key once with \
         `idstore kek generate` and give every replica the same one: {sources}"
    )
}

/// Prints a new key on stdout, for a script to capture, and on stderr what
/// to do with it.
pub fn generate() -> anyhow::Result<()> {
    let kek = Kek::generate()?;
    println!("{}", kek.to_base64().as_str());
    eprintln!(
        "Set this as `key_encryption_key` on every idstore sharing the database ({}). Keep it \
         as safely as the database: its signing keys open only with this key, and whoever has \
         both can mint tokens.",
        sources()
    );
    Ok(())
}

fn create(path: &Path) -> anyhow::Result<Kek> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let kek = Kek::generate()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(kek.to_base64().as_bytes())?;
    Ok(kek)
}
