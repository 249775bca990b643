//! The password login's one-time tickets (authorization codes and reset
//! tickets) and its refresh tokens. Only SHA-256 digests of the secrets
//! are stored; each is bound to a client, a redirect URI and a user, and
//! is used at most once: consuming one is a single conditional `UPDATE`,
//! so two concurrent uses cannot both succeed.

use sqlx::{PgConnection, PgExecutor};

use crate::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketKind {
    /// Exchanged at `/oidc/token` for tokens.
    Code,
    /// Lets a user with a temporary or expired password set a new one.
    Reset,
}

impl TicketKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Reset => "reset",
        }
    }
}

/// What a ticket was issued for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Ticket {
    pub user_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub org_id: Option<String>,
}

/// Stores a ticket valid for `ttl_secs`.
#[tracing::instrument(name = "store.login.issue_ticket", skip_all, fields(db.system.name = "postgresql"))]
pub async fn issue_ticket(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    kind: TicketKind,
    digest: &[u8],
    ticket: &Ticket,
    ttl_secs: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO login_tickets (tenant_id, ticket_hash, kind, user_id, client_id,
                                    redirect_uri, org_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))",
    )
    .bind(tenant_id)
    .bind(digest)
    .bind(kind.as_str())
    .bind(&ticket.user_id)
    .bind(&ticket.client_id)
    .bind(&ticket.redirect_uri)
    .bind(&ticket.org_id)
    .bind(ttl_secs as f64)
    .execute(executor)
    .await?;
    Ok(())
}

/// What presenting a ticket found.
#[derive(Debug, Clone)]
pub enum Presented {
    /// Unused and unexpired: it is now used.
    Fresh(Ticket),
    /// Used before: presented twice, so someone else may hold it.
    Reused(Ticket),
    /// Unknown, of another kind, or expired.
    Invalid,
}

/// The ticket whose digest is `digest`, if it is unused and unexpired,
/// without using it.
#[tracing::instrument(name = "store.login.peek_ticket", skip_all, fields(db.system.name = "postgresql"))]
pub async fn peek_ticket(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    kind: TicketKind,
    digest: &[u8],
) -> Result<Option<Ticket>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT user_id, client_id, redirect_uri, org_id FROM login_tickets
          WHERE tenant_id = $1 AND ticket_hash = $2 AND kind = $3
            AND used_at IS NULL AND expires_at > now()",
    )
    .bind(tenant_id)
    .bind(digest)
    .bind(kind.as_str())
    .fetch_optional(executor)
    .await?)
}

/// Uses the ticket whose digest is `digest`.
#[tracing::instrument(name = "store.login.consume_ticket", skip_all, fields(db.system.name = "postgresql"))]
pub async fn consume_ticket(
    conn: &mut PgConnection,
    tenant_id: &str,
    kind: TicketKind,
    digest: &[u8],
) -> Result<Presented, StoreError> {
    let fresh: Option<Ticket> = sqlx::query_as(
        "UPDATE login_tickets SET used_at = now()
          WHERE tenant_id = $1 AND ticket_hash = $2 AND kind = $3
            AND used_at IS NULL AND expires_at > now()
          RETURNING user_id, client_id, redirect_uri, org_id",
    )
    .bind(tenant_id)
    .bind(digest)
    .bind(kind.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(ticket) = fresh {
        return Ok(Presented::Fresh(ticket));
    }
    let used: Option<Ticket> = sqlx::query_as(
        "SELECT user_id, client_id, redirect_uri, org_id FROM login_tickets
          WHERE tenant_id = $1 AND ticket_hash = $2 AND kind = $3 AND used_at IS NOT NULL",
    )
    .bind(tenant_id)
    .bind(digest)
    .bind(kind.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(used.map_or(Presented::Invalid, Presented::Reused))
}

/// A refresh token as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Refresh {
    pub family_id: String,
    pub user_id: String,
    pub client_id: String,
    pub org_id: Option<String>,
}

/// Stores a refresh token valid for `ttl_secs`.
#[tracing::instrument(name = "store.login.issue_refresh", skip_all, fields(db.system.name = "postgresql"))]
pub async fn issue_refresh(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    digest: &[u8],
    refresh: &Refresh,
    ttl_secs: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (tenant_id, token_hash, family_id, user_id, client_id,
                                     org_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))",
    )
    .bind(tenant_id)
    .bind(digest)
    .bind(&refresh.family_id)
    .bind(&refresh.user_id)
    .bind(&refresh.client_id)
    .bind(&refresh.org_id)
    .bind(ttl_secs as f64)
    .execute(executor)
    .await?;
    Ok(())
}

/// What presenting a refresh token found.
#[derive(Debug, Clone)]
pub enum Rotation {
    /// Valid: it is now used, and the caller issues its successor.
    Rotated(Refresh),
    /// Used or revoked before: its whole family has now been revoked.
    Reused,
    Invalid,
}

/// Uses a refresh token; a second use revokes its family (RFC 9700
/// §4.14.2: whoever presents a rotated token holds a stolen copy, or is
/// the thief).
#[tracing::instrument(name = "store.login.rotate_refresh", skip_all, fields(db.system.name = "postgresql"))]
pub async fn rotate_refresh(
    conn: &mut PgConnection,
    tenant_id: &str,
    digest: &[u8],
) -> Result<Rotation, StoreError> {
    let fresh: Option<Refresh> = sqlx::query_as(
        "UPDATE refresh_tokens SET used_at = now()
          WHERE tenant_id = $1 AND token_hash = $2
            AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
          RETURNING family_id, user_id, client_id, org_id",
    )
    .bind(tenant_id)
    .bind(digest)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(refresh) = fresh {
        return Ok(Rotation::Rotated(refresh));
    }
    let family: Option<String> = sqlx::query_scalar(
        "SELECT family_id FROM refresh_tokens
          WHERE tenant_id = $1 AND token_hash = $2
            AND (used_at IS NOT NULL OR revoked_at IS NOT NULL)",
    )
    .bind(tenant_id)
    .bind(digest)
    .fetch_optional(&mut *conn)
    .await?;
    match family {
        Some(family_id) => {
            revoke_family(&mut *conn, tenant_id, &family_id).await?;
            Ok(Rotation::Reused)
        }
        None => Ok(Rotation::Invalid),
    }
}

/// Revokes every refresh token of a family.
#[tracing::instrument(name = "store.login.revoke_family", skip_all, fields(db.system.name = "postgresql"))]
pub async fn revoke_family(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    family_id: &str,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now()
          WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant_id)
    .bind(family_id)
    .execute(executor)
    .await?
    .rows_affected())
}

/// Records a successful login: `last_auth`.
#[tracing::instrument(name = "store.login.signed_in", skip_all, fields(db.system.name = "postgresql"))]
pub async fn signed_in(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    user_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET last_auth = now() WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .execute(executor)
        .await?;
    Ok(())
}

/// Forgets expired tickets and refresh tokens, across tenants. A refresh
/// token's row outlives its use until it expires, so a reuse is still
/// recognised (and revokes its family) as long as it could be presented.
#[tracing::instrument(name = "store.login.purge", skip_all, fields(db.system.name = "postgresql"))]
pub async fn purge(pool: &sqlx::PgPool) -> Result<u64, StoreError> {
    crate::tenancy::service(pool, async |conn| {
        let tickets = sqlx::query("DELETE FROM login_tickets WHERE expires_at < now()")
            .execute(&mut *conn)
            .await?
            .rows_affected();
        let refresh = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < now()")
            .execute(&mut *conn)
            .await?
            .rows_affected();
        Ok(tickets + refresh)
    })
    .await
}
