//! First start: a tenant, its management application, an admin client and
//! a signing key. Idempotent: a database that has a tenant is left alone.

use idstore_auth::keys::{Kek, KeyPair};
use idstore_auth::secret;
use idstore_domain::id::new_id;
use idstore_store::applications::{self, NewApplication};
use idstore_store::audit::Actor;
use idstore_store::clients::{self, NewClient};
use idstore_store::signing_keys::{self, NewKey};
use idstore_store::{PgPool, tenancy, tenants};
use secrecy::ExposeSecret;
use serde::Serialize;
use sqlx::PgConnection;

/// An admin client's credentials, shown once.
#[derive(Serialize)]
pub struct Credentials {
    pub tenant_id: String,
    pub app_id: String,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

pub enum Outcome {
    /// A new tenant; `generated` says whether idstore made the secret up
    /// (and so must show it) or took it from configuration.
    Created {
        credentials: Credentials,
        generated: bool,
    },
    /// The database already had a tenant; nothing changed.
    Existing { tenant_id: String },
}

/// The admin client to create: from configuration, or generated.
pub struct AdminClient {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// Bootstraps an empty database. A generated secret exists nowhere but in
/// memory until `hand_over` has given it to the operator: that runs before
/// the commit, so when it fails nothing is committed and the next start
/// bootstraps again, rather than leaving a tenant whose admin secret was
/// lost.
pub async fn run(
    pool: &PgPool,
    kek: &Kek,
    admin: AdminClient,
    hand_over: impl FnOnce(&Credentials) -> anyhow::Result<()>,
) -> anyhow::Result<Outcome> {
    let generated = admin.client_secret.is_none();
    let client_id = match admin.client_id {
        Some(id) => id,
        None => secret::generate_client_id()?,
    };
    let client_secret = match admin.client_secret {
        Some(s) => s,
        None => secret::generate_client_secret()?.expose_secret().to_owned(),
    };
    let hash = {
        let s = client_secret.clone();
        tokio::task::spawn_blocking(move || secret::hash_secret(&s)).await?
    };
    // Whether any tenant exists is a question across tenants.
    let mut tx = tenancy::begin_service(pool).await?;
    tenants::lock_bootstrap(&mut *tx).await?;
    if let Some(existing) = tenants::first(&mut *tx).await? {
        return Ok(Outcome::Existing {
            tenant_id: existing.tenant_id,
        });
    }
    let credentials =
        provision_tenant(&mut tx, "default", kek, &client_id, &client_secret, &hash).await?;
    if generated {
        hand_over(&credentials)?;
    }
    tx.commit().await?;
    Ok(Outcome::Created {
        credentials,
        generated,
    })
}

/// Creates a tenant with its management application, an admin client
/// holding `secret_hash`, and a signing key, inside the caller's transaction.
pub async fn provision_tenant(
    conn: &mut PgConnection,
    name: &str,
    kek: &Kek,
    client_id: &str,
    client_secret: &str,
    secret_hash: &str,
) -> anyhow::Result<Credentials> {
    let tenant_id = new_id();
    let app_id = new_id();
    // What follows writes the new tenant's rows, as row-level security
    // checks for an owner that is no superuser.
    tenancy::confine(&mut *conn, &tenant_id).await?;
    tenants::create(&mut *conn, &tenant_id, name).await?;
    applications::create(
        &mut *conn,
        NewApplication {
            tenant_id: &tenant_id,
            app_id: &app_id,
            name: "Management",
            description: Some("Mints admin tokens for the whole tenant"),
            is_management: true,
            created_by: None,
            settings: None,
        },
    )
    .await?;
    clients::create(
        &mut *conn,
        NewClient {
            tenant_id: &tenant_id,
            app_id: &app_id,
            client_id,
            name: "admin",
            secret_hash,
            options: Default::default(),
        },
        // Bootstrap runs before anyone can act through the API.
        None,
    )
    .await?;
    add_signing_key(conn, &tenant_id, kek).await?;
    Ok(Credentials {
        tenant_id,
        app_id,
        client_id: client_id.to_owned(),
        client_secret: client_secret.to_owned(),
    })
}

async fn add_signing_key(
    conn: &mut PgConnection,
    tenant_id: &str,
    kek: &Kek,
) -> anyhow::Result<()> {
    let pair = KeyPair::generate()?;
    let sealed = kek.seal(&pair.kid, &pair.private_pkcs8)?;
    signing_keys::create(
        conn,
        NewKey {
            tenant_id,
            kid: &pair.kid,
            public_key: &pair.public_key,
            private_key_sealed: &sealed,
        },
    )
    .await?;
    Ok(())
}

/// A tenant's next signing key, as `keys rotate` reports it.
#[derive(Debug)]
pub struct Rotation {
    pub tenant_id: String,
    pub kid: String,
    pub signs_from: chrono::DateTime<chrono::Utc>,
}

/// Gives every tenant (or one) its next signing key: published at once,
/// signing `ahead` from now (`KEY_REFRESH`, unless a test cannot wait), so
/// that no verifier meets a token of a key it has not read yet. The keys it
/// replaces sign until then, and stay published until the tokens they
/// signed have expired. Each rotation is in its tenant's audit trail, done
/// by `cli`.
pub async fn rotate_keys(
    pool: &PgPool,
    kek: &Kek,
    only: Option<&str>,
    ahead: std::time::Duration,
) -> anyhow::Result<Vec<Rotation>> {
    let actor = Actor::cli("idstore keys rotate");
    let mut rotated = Vec::new();
    let all = tenancy::service(pool, async |conn| tenants::list(conn).await).await?;
    for tenant in all {
        if only.is_some_and(|t| t != tenant.tenant_id) {
            continue;
        }
        let pair = KeyPair::generate()?;
        let sealed = kek.seal(&pair.kid, &pair.private_pkcs8)?;
        let signs_from = signing_keys::rotate(
            pool,
            NewKey {
                tenant_id: &tenant.tenant_id,
                kid: &pair.kid,
                public_key: &pair.public_key,
                private_key_sealed: &sealed,
            },
            ahead,
            &actor,
        )
        .await?;
        rotated.push(Rotation {
            tenant_id: tenant.tenant_id,
            kid: pair.kid,
            signs_from,
        });
    }
    if let Some(t) = only
        && rotated.is_empty()
    {
        anyhow::bail!("no tenant {t:?}; `idstore bootstrap` creates the first one");
    }
    Ok(rotated)
}
