//! Users' passwords: the state a change of password is decided on, the
//! history a new one is checked against, and the change itself (with its
//! history row, the revocation of the user's earlier tokens and its audit
//! event, in the caller's transaction).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::StoreError;
use crate::audit::{self, Event};
use crate::error::Entity;
use crate::revocations::{self, Cut};
use crate::users::Lookup;

/// Most history rows kept per user: the largest depth a policy may ask.
pub const HISTORY_KEPT: i64 = 24;

/// What a password operation needs to know of a user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Credential {
    pub user_id: String,
    pub status: String,
    pub password_hash: Option<String>,
    pub password_temporary: Option<bool>,
    pub password_updated_at: Option<DateTime<Utc>>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub phone_number: Option<String>,
}

impl Credential {
    pub fn is_active(&self) -> bool {
        self.status == "Active"
    }

    /// Whether anything names the user at a password login.
    pub fn has_login_identifier(&self) -> bool {
        self.username.is_some() || self.email.is_some() || self.phone_number.is_some()
    }

    /// The words a password of this user may not contain: its username
    /// and its email's local part.
    pub fn context_words(&self) -> Vec<String> {
        let local = self
            .email
            .as_deref()
            .map(|e| e.split('@').next().unwrap_or(e).to_owned());
        self.username.iter().cloned().chain(local).collect()
    }
}

/// The user named by `lookup`, as it is now. The transaction must be
/// confined to `tenant_id`.
#[tracing::instrument(name = "store.credentials.find", skip_all, fields(db.system.name = "postgresql"))]
pub async fn find(
    conn: &mut PgConnection,
    tenant_id: &str,
    lookup: Lookup<'_>,
) -> Result<Credential, StoreError> {
    select(tenant_id, lookup, "")
        .build_query_as()
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound(Entity::User))
}

/// [`find`], the row locked until the transaction ends, so that two
/// changes of the user's password apply one after the other.
#[tracing::instrument(name = "store.credentials.lock", skip_all, fields(db.system.name = "postgresql"))]
pub async fn lock(
    conn: &mut PgConnection,
    tenant_id: &str,
    lookup: Lookup<'_>,
) -> Result<Credential, StoreError> {
    select(tenant_id, lookup, " FOR NO KEY UPDATE")
        .build_query_as()
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound(Entity::User))
}

fn select(
    tenant_id: &str,
    lookup: Lookup<'_>,
    locking: &'static str,
) -> sqlx::QueryBuilder<sqlx::Postgres> {
    let mut qb = sqlx::QueryBuilder::new(
        "SELECT user_id, status, password_hash, password_temporary, password_updated_at, \
                username, email, email_verified_at, phone_number \
           FROM users u WHERE u.tenant_id = ",
    );
    qb.push_bind(tenant_id.to_owned());
    lookup.push(&mut qb);
    qb.push(locking);
    qb
}

/// The newest `depth` passwords the user has had, the current one first.
#[tracing::instrument(name = "store.credentials.history", skip_all, fields(db.system.name = "postgresql"))]
pub async fn history(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    user_id: &str,
    depth: u32,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT password_hash FROM password_history
          WHERE tenant_id = $1 AND user_id = $2
          ORDER BY set_at DESC LIMIT $3",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(i64::from(depth))
    .fetch_all(executor)
    .await?)
}

/// A new password for a user.
#[derive(Debug, Clone)]
pub struct NewPassword<'a> {
    pub phc: &'a str,
    /// Must be replaced at the next login.
    pub temporary: bool,
    /// Set as the user's username at the same time.
    pub username: Option<(&'a str, String)>,
}

/// Sets the user's password, appends it to its history (keeping the
/// newest [`HISTORY_KEPT`]), refuses the user's tokens issued before now
/// (a changed password signs out every session) and records `event`.
/// In the caller's transaction, after [`lock`].
#[tracing::instrument(name = "store.credentials.set", skip_all, fields(db.system.name = "postgresql"))]
pub async fn set(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    new: NewPassword<'_>,
    event: &Event<'_>,
) -> Result<(), StoreError> {
    let (username, username_key) = new
        .username
        .map_or((None, None), |(u, k)| (Some(u), Some(k)));
    sqlx::query(
        "UPDATE users SET password_hash = $3, password_temporary = $4,
                          password_updated_at = now(), updated_at = now(),
                          username = COALESCE($5, username),
                          username_normalized = COALESCE($6, username_normalized)
          WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(new.phc)
    .bind(new.temporary)
    .bind(username)
    .bind(username_key)
    .execute(&mut *conn)
    .await?;
    remember(&mut *conn, tenant_id, user_id, new.phc).await?;
    revocations::revoke_user(&mut *conn, tenant_id, user_id, Cut::Exclusive).await?;
    audit::record(&mut *conn, event).await
}

/// Appends `phc` to the user's history and forgets what is beyond the
/// deepest history a policy can ask for.
pub(crate) async fn remember(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    phc: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "WITH added AS (
             INSERT INTO password_history (tenant_id, user_id, password_hash) VALUES ($1, $2, $3)
         )
         DELETE FROM password_history h
          WHERE h.tenant_id = $1 AND h.user_id = $2
            AND h.set_at < (SELECT set_at FROM password_history
                             WHERE tenant_id = $1 AND user_id = $2
                             ORDER BY set_at DESC OFFSET $4 - 2 LIMIT 1)",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(phc)
    .bind(HISTORY_KEPT)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces a verified password's hash by one with today's parameters,
/// only if it is still the one that was verified (a concurrent change
/// wins). Its history row follows, so history checks keep working.
#[tracing::instrument(name = "store.credentials.rehash", skip_all, fields(db.system.name = "postgresql"))]
pub async fn rehash(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    old_phc: &str,
    new_phc: &str,
) -> Result<bool, StoreError> {
    let changed = sqlx::query(
        "WITH h AS (
             UPDATE password_history SET password_hash = $4
              WHERE tenant_id = $1 AND user_id = $2 AND password_hash = $3
         )
         UPDATE users SET password_hash = $4
          WHERE tenant_id = $1 AND user_id = $2 AND password_hash = $3",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(old_phc)
    .bind(new_phc)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}
