//! The key-encryption key that seals private signing keys in the database.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use idstore_auth::keys::Kek;
use secrecy::ExposeSecret;

use crate::config::Config;

const DEV_KEK_FILE: &str = "kek";

/// The configured KEK; without one, a development KEK kept in the data
/// directory (created on first use), with a loud warning: whoever reads
/// that file can mint tokens.
pub fn load(config: &Config) -> anyhow::Result<Kek> {
    if let Some(text) = &config.key_encryption_key {
        return Kek::from_base64(text.expose_secret())
            .context("invalid configuration: `key_encryption_key`");
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
