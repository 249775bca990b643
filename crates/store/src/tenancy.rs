//! Row-level security's half in the application: every statement the
//! serving role runs declares whose rows it may see. The policies
//! (migration V14) compare each row's `tenant_id` with the transaction's
//! `idstore.tenant_id`, so a query that forgets its tenant predicate reads
//! and writes nothing of another tenant's, rather than everything.
//!
//! The settings are made with `set_config(..., true)`: they end with the
//! transaction, so a pooled connection carries nothing to its next user.
//! Unset, a setting reads as empty (or NULL), which matches no row.
//!
//! A transaction ([`begin`]) costs three round trips besides its
//! statements. The hot single-row reads instead confine themselves (and
//! the rest of their transaction, if any) in the statement:
//!
//! ```sql
//! SELECT q.* FROM (SELECT set_config('idstore.tenant_id', $1, true) AS tenant_id) ctx
//!  CROSS JOIN LATERAL (SELECT ... WHERE t.tenant_id = ctx.tenant_id ... OFFSET 0) q
//! ```
//!
//! The body's reference to `ctx` makes PostgreSQL produce the `ctx` row
//! (and so run `set_config`) before it reads a single row of the body;
//! `OFFSET 0` keeps the body from being flattened into a join whose order
//! the planner would be free to choose. An `INSERT` gets the same by
//! computing its `tenant_id` as `set_config('idstore.tenant_id', $1, true)`:
//! the row, and so the setting, is made before the policy checks it.

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::StoreError;

/// The head of a statement confined in itself (see above): the body that
/// follows refers to `ctx.tenant_id` and ends with `OFFSET 0) q`.
macro_rules! confined_head {
    () => {
        "SELECT q.* FROM (SELECT set_config('idstore.tenant_id', $1, true) AS tenant_id) ctx
         CROSS JOIN LATERAL ("
    };
}
pub(crate) use confined_head;

/// A transaction [`begin`] opened, for callers outside the store.
pub type Tx = Transaction<'static, Postgres>;

/// A transaction confined to `tenant_id`'s rows. Commit it to keep what it
/// wrote; dropping it rolls back.
pub async fn begin(pool: &PgPool, tenant_id: &str) -> Result<Tx, StoreError> {
    let mut tx = pool.begin().await?;
    confine(&mut tx, tenant_id).await?;
    Ok(tx)
}

/// Confines the transaction `conn` is in to `tenant_id`'s rows.
pub async fn confine(conn: &mut PgConnection, tenant_id: &str) -> Result<(), StoreError> {
    set(conn, "idstore.tenant_id", tenant_id).await
}

/// Runs `work` in a transaction confined to `tenant_id`, and commits it.
#[tracing::instrument(name = "store.tenancy.within", skip_all, fields(db.system.name = "postgresql"))]
pub async fn within<T>(
    pool: &PgPool,
    tenant_id: &str,
    work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    commit_after(begin(pool, tenant_id).await?, work).await
}

/// A transaction that may read across tenants where a policy allows it
/// (migration V14: the tenants, the signing keys and the revocation list,
/// which every replica needs whole; nothing of users, applications or
/// clients). For the service's own caches and the owner's commands.
pub async fn begin_service(pool: &PgPool) -> Result<Transaction<'static, Postgres>, StoreError> {
    let mut tx = pool.begin().await?;
    set(&mut tx, "idstore.all_tenants", "on").await?;
    Ok(tx)
}

/// Runs `work` in a [`begin_service`] transaction, and commits it.
#[tracing::instrument(name = "store.tenancy.service", skip_all, fields(db.system.name = "postgresql"))]
pub async fn service<T>(
    pool: &PgPool,
    work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    commit_after(begin_service(pool).await?, work).await
}

/// Lets the transaction `conn` is in see the client `client_id` whatever
/// its tenant: `/oidc/token` learns the tenant from the client.
pub async fn reveal_client(conn: &mut PgConnection, client_id: &str) -> Result<(), StoreError> {
    set(conn, "idstore.client_id", client_id).await
}

/// Sets `name` until the transaction `conn` is in ends.
async fn set(conn: &mut PgConnection, name: &str, value: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT set_config($1, $2, true)")
        .bind(name)
        .bind(value)
        .execute(conn)
        .await?;
    Ok(())
}

/// Runs `work` in `tx`, and commits it when `work` succeeds; on an error
/// the dropped transaction rolls back.
async fn commit_after<T>(
    mut tx: Transaction<'static, Postgres>,
    work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let out = work(&mut tx).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(out)
}
