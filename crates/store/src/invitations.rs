//! Invitations to an organization's applications (createMember's
//! `send_invite`), and the mail outbox that delivers them. An invitation's
//! accept link carries a secret minted when its mail is about to be sent;
//! only the secret's SHA-256 digest is stored, and a resend or a revoke clears it,
//! so an earlier link stops working at once. The outbox row is written in
//! the transaction that makes the mail due, so a mail server that is down
//! loses no invitation: the worker retries until the invitation ends.

use chrono::{DateTime, Utc};
use idstore_domain::id::new_id;
use idstore_domain::scope::{Reach, Scope};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

use crate::audit::{self, Action, Actor, Event};
use crate::{Entity, StoreError, organizations, tenancy};

/// The vendor's default lifetime of an invitation link, in minutes
/// (`invite_member_email_expiration_minutes`).
pub const DEFAULT_TTL_MINUTES: i64 = 2880;

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Accepted,
    Expired,
    Revoked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Accepted, Self::Expired, Self::Revoked]
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

/// The page an application's invitations link to, over `a`: its
/// `invite_member_uri`, else its `login_uri`; an empty one counts as none.
macro_rules! link_base {
    () => {
        "COALESCE(NULLIF(a.settings->>'invite_member_uri', ''), NULLIF(a.settings->>'login_uri', ''))"
    };
}

/// The SQL expression of an invitation's [`Status`], over `i`.
macro_rules! status_sql {
    () => {
        "CASE WHEN i.accepted_at IS NOT NULL THEN 'accepted'
              WHEN i.revoked_at IS NOT NULL THEN 'revoked'
              WHEN i.expires_at <= now() THEN 'expired'
              ELSE 'pending' END"
    };
}

macro_rules! columns {
    () => {
        concat!(
            "i.invitation_id, i.organization_id, i.user_id, i.app_id, i.email, ",
            status_sql!(),
            " AS status, i.created_at, i.expires_at, i.sent_at, i.sends, i.accepted_at, i.revoked_at"
        )
    };
}

/// An invitation as the API shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Invitation {
    pub invitation_id: String,
    pub organization_id: String,
    pub user_id: String,
    pub app_id: String,
    pub email: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub sends: i32,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Invites the member `user_id` (whose address is `email`) to each of
/// the organization's applications the scope reaches, in the caller's
/// transaction, with a mail due for each. [`StoreError::Invalid`] when
/// there is no such application or one has no page to link to.
pub async fn invite(
    conn: &mut PgConnection,
    scope: &Scope,
    organization_id: &str,
    user_id: &str,
    email: &str,
) -> Result<Vec<String>, StoreError> {
    let mut qb = QueryBuilder::<Postgres>::new(concat!(
        "SELECT a.app_id, a.name, ",
        link_base!(),
        " IS NOT NULL,
                COALESCE((a.settings->>'invite_member_email_expiration_minutes')::numeric::bigint, "
    ));
    qb.push_bind(DEFAULT_TTL_MINUTES)
        .push(
            ")
           FROM organization_apps oa
           JOIN applications a ON a.tenant_id = oa.tenant_id AND a.app_id = oa.app_id
          WHERE oa.tenant_id = ",
        )
        .push_bind(scope.tenant_id.clone())
        .push(" AND oa.organization_id = ")
        .push_bind(organization_id.to_owned());
    if let Reach::App(app_id) = &scope.reach {
        qb.push(" AND oa.app_id = ").push_bind(app_id.clone());
    }
    qb.push(" ORDER BY a.app_id");
    let apps: Vec<(String, String, bool, i64)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    if apps.is_empty() {
        return Err(StoreError::Invalid(
            "send_invite: the organization has no application to invite to; add one with \
             addAppsToOrganization first"
                .into(),
        ));
    }
    if let Some((_, name, _, _)) = apps.iter().find(|(_, _, linkable, _)| !linkable) {
        return Err(StoreError::Invalid(format!(
            "send_invite: application {name} has neither invite_member_uri nor login_uri for \
             the invitation's link; set one with updateApplication"
        )));
    }
    let mut made = Vec::with_capacity(apps.len());
    for (app_id, _, _, minutes) in apps {
        let invitation_id = new_id();
        sqlx::query(
            "INSERT INTO invitations (tenant_id, invitation_id, organization_id, user_id, app_id,
                                      email, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6,
                     date_trunc('milliseconds', now()) + make_interval(mins => $7))",
        )
        .bind(&scope.tenant_id)
        .bind(&invitation_id)
        .bind(organization_id)
        .bind(user_id)
        .bind(&app_id)
        .bind(email)
        .bind(minutes as i32)
        .execute(&mut *conn)
        .await?;
        enqueue(&mut *conn, &scope.tenant_id, &invitation_id).await?;
        made.push(invitation_id);
    }
    Ok(made)
}

async fn enqueue(
    conn: &mut PgConnection,
    tenant_id: &str,
    invitation_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO mail_outbox (tenant_id, mail_id, invitation_id) VALUES ($1, $2, $3)")
        .bind(tenant_id)
        .bind(new_id())
        .bind(invitation_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Drops the invitation's mail still waiting, whether leased or not.
async fn drop_mails(
    conn: &mut PgConnection,
    tenant_id: &str,
    invitation_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM mail_outbox WHERE tenant_id = $1 AND invitation_id = $2")
        .bind(tenant_id)
        .bind(invitation_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Up to `limit` of the organization's invitations, newest first, of
/// `status` only when given.
#[tracing::instrument(name = "store.invitations.list", skip_all, fields(db.system.name = "postgresql"))]
pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    organization_id: &str,
    status: Option<Status>,
    limit: i64,
) -> Result<Vec<Invitation>, StoreError> {
    let mut tx = tenancy::begin(pool, &scope.tenant_id).await?;
    organizations::reachable(&mut tx, scope, organization_id, false).await?;
    let mut qb = QueryBuilder::<Postgres>::new(concat!(
        "SELECT ",
        columns!(),
        " FROM invitations i WHERE i.tenant_id = "
    ));
    qb.push_bind(scope.tenant_id.clone())
        .push(" AND i.organization_id = ")
        .push_bind(organization_id.to_owned());
    app_reach(&mut qb, scope);
    if let Some(status) = status {
        qb.push(concat!(" AND ", status_sql!(), " = "))
            .push_bind(status.as_str());
    }
    qb.push(" ORDER BY i.created_at DESC, i.invitation_id DESC LIMIT ")
        .push_bind(limit);
    let found = qb.build_query_as().fetch_all(&mut *tx).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(found)
}

/// An application's client sees the invitations to its own application.
fn app_reach(qb: &mut QueryBuilder<Postgres>, scope: &Scope) {
    if let Reach::App(app_id) = &scope.reach {
        qb.push(" AND i.app_id = ").push_bind(app_id.clone());
    }
}

/// What an admin does to one invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new link, mailed again, valid for the application's lifetime
    /// from now: the old link stops working. Not after an accept or a
    /// revoke, nor when no mail can leave (`mail`: a transport is set).
    Resend { mail: bool },
    /// The link stops working and no mail is sent any more. Not after an
    /// accept.
    Revoke,
}

/// An invitation as a resend or a revoke finds it: accepted, revoked, the
/// member's address, its application's name, whether that has a page to
/// link to, and its lifetime in minutes.
type Found = (bool, bool, Option<String>, String, bool, i64);

/// Resends or revokes the invitation; one event.
#[tracing::instrument(name = "store.invitations.change", skip_all, fields(db.system.name = "postgresql"))]
pub async fn change(
    pool: &PgPool,
    scope: &Scope,
    organization_id: &str,
    invitation_id: &str,
    change: Change,
    actor: &Actor,
) -> Result<Invitation, StoreError> {
    let mut tx = tenancy::begin(pool, &scope.tenant_id).await?;
    organizations::reachable(&mut tx, scope, organization_id, false).await?;
    let mut qb = QueryBuilder::<Postgres>::new(concat!(
        "SELECT i.accepted_at IS NOT NULL, i.revoked_at IS NOT NULL, u.email, a.name, ",
        link_base!(),
        " IS NOT NULL,
                COALESCE((a.settings->>'invite_member_email_expiration_minutes')::numeric::bigint, "
    ));
    qb.push_bind(DEFAULT_TTL_MINUTES)
        .push(
            ") FROM invitations i
               JOIN applications a ON a.tenant_id = i.tenant_id AND a.app_id = i.app_id
               JOIN users u ON u.tenant_id = i.tenant_id AND u.user_id = i.user_id
              WHERE i.tenant_id = ",
        )
        .push_bind(scope.tenant_id.clone())
        .push(" AND i.organization_id = ")
        .push_bind(organization_id.to_owned())
        .push(" AND i.invitation_id = ")
        .push_bind(invitation_id.to_owned());
    app_reach(&mut qb, scope);
    qb.push(" FOR NO KEY UPDATE OF i");
    let (accepted, revoked, email, app_name, linkable, minutes): Found = qb
        .build_query_as()
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound(Entity::Invitation))?;
    if accepted {
        return Err(StoreError::Invalid(
            "the invitation was accepted already; there is nothing to resend or revoke".into(),
        ));
    }
    let action = match change {
        Change::Resend { .. } | Change::Revoke if revoked => {
            return Err(StoreError::Invalid(
                "the invitation was revoked; to invite the member again, remove the membership \
                 (deleteMember) and add it with send_invite"
                    .into(),
            ));
        }
        Change::Resend { mail: false } => {
            return Err(StoreError::Invalid(
                "send_invite: this idstore sends no mail (mail_transport = none); set \
                 mail_transport to smtp (or log, for development)"
                    .into(),
            ));
        }
        Change::Resend { mail: true } => {
            let email = email.ok_or_else(|| {
                StoreError::Invalid(
                    "the member has no email address to send the invitation to; set one with \
                     updateUser first"
                        .into(),
                )
            })?;
            if !linkable {
                return Err(StoreError::Invalid(format!(
                    "application {app_name} has neither invite_member_uri nor login_uri for the \
                     invitation's link; set one with updateApplication first"
                )));
            }
            // To the member's address now, should it have changed.
            sqlx::query(
                "UPDATE invitations
                    SET token_hash = NULL, email = $4,
                        expires_at = date_trunc('milliseconds', now()) + make_interval(mins => $3)
                  WHERE tenant_id = $1 AND invitation_id = $2",
            )
            .bind(&scope.tenant_id)
            .bind(invitation_id)
            .bind(minutes as i32)
            .bind(&email)
            .execute(&mut *tx)
            .await?;
            // A mail still waiting would carry the same new link: one is enough.
            drop_mails(&mut tx, &scope.tenant_id, invitation_id).await?;
            enqueue(&mut tx, &scope.tenant_id, invitation_id).await?;
            Action::InvitationResend
        }
        Change::Revoke => {
            sqlx::query(
                "UPDATE invitations
                    SET token_hash = NULL, revoked_at = date_trunc('milliseconds', now())
                  WHERE tenant_id = $1 AND invitation_id = $2",
            )
            .bind(&scope.tenant_id)
            .bind(invitation_id)
            .execute(&mut *tx)
            .await?;
            drop_mails(&mut tx, &scope.tenant_id, invitation_id).await?;
            Action::InvitationRevoke
        }
    };
    let event = Event::new(&scope.tenant_id, actor, action, invitation_id)
        .refs(serde_json::json!({ "organization_id": organization_id }));
    audit::record(&mut *tx, &event).await?;
    let invitation = one(&mut tx, &scope.tenant_id, invitation_id).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(invitation)
}

async fn one(
    conn: &mut PgConnection,
    tenant_id: &str,
    invitation_id: &str,
) -> Result<Invitation, StoreError> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM invitations i WHERE i.tenant_id = $1 AND i.invitation_id = $2"
    ))
    .bind(tenant_id)
    .bind(invitation_id)
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound(Entity::Invitation))
}

/// Accepts the pending invitation to `app_id` whose link carried the
/// secret with digest `digest`: the user is associated with the
/// application, the invited address (if still the user's) is verified, and
/// a Pending user becomes Active; one event. `None` when no pending
/// invitation of the application has that secret (unknown, used, resent,
/// revoked or expired alike).
#[tracing::instrument(name = "store.invitations.accept", skip_all, fields(db.system.name = "postgresql"))]
pub async fn accept(
    pool: &PgPool,
    tenant_id: &str,
    app_id: &str,
    digest: &[u8],
    actor: &Actor,
) -> Result<Option<Invitation>, StoreError> {
    let mut tx = tenancy::begin(pool, tenant_id).await?;
    // Only while the link went to the member's address now, its
    // membership is enabled and the user not disabled.
    let accepted: Option<(String, String, String)> = sqlx::query_as(
        "UPDATE invitations i
            SET accepted_at = date_trunc('milliseconds', now()), token_hash = NULL
           FROM users u, organization_members m
          WHERE i.tenant_id = $1 AND i.token_hash = $2 AND i.app_id = $3
            AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
            AND u.tenant_id = i.tenant_id AND u.user_id = i.user_id
            AND u.email_normalized = lower(i.email) AND u.status <> 'Disabled'
            AND m.tenant_id = i.tenant_id AND m.organization_id = i.organization_id
            AND m.user_id = i.user_id AND m.enabled
          RETURNING i.invitation_id, i.user_id, i.email",
    )
    .bind(tenant_id)
    .bind(digest)
    .bind(app_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((invitation_id, user_id, email)) = accepted else {
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO user_apps (tenant_id, user_id, app_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(&user_id)
    .bind(app_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE users
            SET email_verified_at = CASE WHEN email_normalized = lower($3)
                                         THEN COALESCE(email_verified_at,
                                                       date_trunc('milliseconds', now()))
                                         ELSE email_verified_at END,
                status = CASE WHEN status = 'Pending' THEN 'Active' ELSE status END,
                status_changed_at = CASE WHEN status = 'Pending'
                                         THEN date_trunc('milliseconds', now())
                                         ELSE status_changed_at END,
                updated_at = date_trunc('milliseconds', now()), version = version + 1
          WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant_id)
    .bind(&user_id)
    .bind(&email)
    .execute(&mut *tx)
    .await?;
    drop_mails(&mut tx, tenant_id, &invitation_id).await?;
    let event = Event::new(tenant_id, actor, Action::InvitationAccept, &invitation_id)
        .refs(serde_json::json!({ "user_id": user_id, "app_id": app_id }));
    audit::record(&mut *tx, &event).await?;
    let invitation = one(&mut tx, tenant_id, &invitation_id).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(Some(invitation))
}

/// A mail the worker claimed: no other worker takes it until its lease
/// ends, and its link works from the claim on (so it works the moment
/// the mail arrives). [`Delivery::sent`] or [`Delivery::failed`] ends it;
/// either does nothing once the lease ended and another worker took the
/// mail.
pub struct Delivery {
    tenant_id: String,
    mail_id: String,
    attempts: i32,
    /// The lease's end as stored: the fence of the updates that end it.
    leased_until: DateTime<Utc>,
    pub mail: InvitationMail,
}

/// What an invitation's mail says.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationMail {
    pub invitation_id: String,
    /// The member's address now (an invitation follows its user's email).
    pub email: String,
    pub organization_name: String,
    pub app_name: String,
    /// The page the link leads to: the application's `invite_member_uri`,
    /// else its `login_uri`.
    pub link_base: String,
    pub expires_at: DateTime<Utc>,
}

/// What the worker finds of a claimed mail's invitation.
#[derive(sqlx::FromRow)]
struct Claimed {
    invitation_id: String,
    email: Option<String>,
    organization_name: String,
    app_name: String,
    app_id: String,
    link_base: Option<String>,
    expires_at: DateTime<Utc>,
    open: bool,
}

/// Claims the next due mail of any tenant for `lease_secs` (longer than
/// a send may take), giving its invitation the link secret whose digest
/// is `digest` (any earlier link stops working); `None` when no mail is
/// due. A mail whose invitation ended is dropped on the way; one that
/// cannot be written yet (no address, no page to link to) is failed with
/// its reason and retried later.
///
/// Two transactions: the lease, on the outbox row alone; then, as the
/// mail's tenant, the invitation and only then the outbox row, the order
/// in which every other writer (resend, revoke, accept, the cascades of
/// deletes) takes them. No transaction stays open while the mail is sent.
#[tracing::instrument(name = "store.invitations.claim_mail", skip_all, fields(db.system.name = "postgresql"))]
pub async fn claim_mail(
    pool: &PgPool,
    digest: &[u8],
    lease_secs: u64,
    retry_in_ms: impl Fn(i32) -> u64,
) -> Result<Option<Delivery>, StoreError> {
    loop {
        let mut tx = tenancy::begin_service(pool).await?;
        let due: Option<(String, String, String, i32)> = sqlx::query_as(
            "SELECT tenant_id, mail_id, invitation_id, attempts FROM mail_outbox
              WHERE next_attempt_at <= now()
              ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some((tenant_id, mail_id, invitation_id, attempts)) = due else {
            return Ok(None);
        };
        // Written as its tenant's: the service may lock, not change, rows.
        tenancy::confine(&mut tx, &tenant_id).await?;
        let leased_until: DateTime<Utc> = sqlx::query_scalar(
            "UPDATE mail_outbox SET next_attempt_at = now() + make_interval(secs => $3)
              WHERE tenant_id = $1 AND mail_id = $2 RETURNING next_attempt_at",
        )
        .bind(&tenant_id)
        .bind(&mail_id)
        .bind(lease_secs as f64)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await.map_err(StoreError::commit)?;
        let delivery = Delivery {
            tenant_id,
            mail_id,
            attempts,
            leased_until,
            mail: InvitationMail {
                invitation_id,
                email: String::new(),
                organization_name: String::new(),
                app_name: String::new(),
                link_base: String::new(),
                expires_at: leased_until,
            },
        };
        if let Some(delivery) = delivery.prepare(pool, digest, &retry_in_ms).await? {
            return Ok(Some(delivery));
        }
    }
}

impl Delivery {
    /// Reads the leased mail's invitation and gives it the new link
    /// secret; `None` when the mail was dropped or failed instead.
    async fn prepare(
        mut self,
        pool: &PgPool,
        digest: &[u8],
        retry_in_ms: &impl Fn(i32) -> u64,
    ) -> Result<Option<Self>, StoreError> {
        let mut tx = tenancy::begin(pool, &self.tenant_id).await?;
        let found: Option<Claimed> = sqlx::query_as(concat!(
            "SELECT i.invitation_id, u.email, o.name AS organization_name, a.name AS app_name,
                    a.app_id, ",
            link_base!(),
            " AS link_base, i.expires_at,
                    i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now() AS open
               FROM invitations i
               JOIN organizations o ON o.tenant_id = i.tenant_id
                                   AND o.organization_id = i.organization_id
               JOIN applications a ON a.tenant_id = i.tenant_id AND a.app_id = i.app_id
               JOIN users u ON u.tenant_id = i.tenant_id AND u.user_id = i.user_id
              WHERE i.tenant_id = $1 AND i.invitation_id = $2
                FOR NO KEY UPDATE OF i"
        ))
        .bind(&self.tenant_id)
        .bind(&self.mail.invitation_id)
        .fetch_optional(&mut *tx)
        .await?;
        let claimed = match found {
            Some(c) if c.open => c,
            // Ended (accepted, revoked, expired, or gone with its member).
            _ => {
                self.end(&mut tx).await?;
                tx.commit().await.map_err(StoreError::commit)?;
                return Ok(None);
            }
        };
        let (Some(email), Some(link_base)) = (claimed.email, claimed.link_base) else {
            tx.commit().await.map_err(StoreError::commit)?;
            let reason = format!(
                "the member has no email address, or application {} ({}) neither                  invite_member_uri nor login_uri",
                claimed.app_name, claimed.app_id
            );
            let retry = retry_in_ms(self.attempts);
            self.failed(pool, &reason, retry).await?;
            return Ok(None);
        };
        sqlx::query(
            "UPDATE invitations SET token_hash = $3, email = $4
              WHERE tenant_id = $1 AND invitation_id = $2",
        )
        .bind(&self.tenant_id)
        .bind(&claimed.invitation_id)
        .bind(digest)
        .bind(&email)
        .execute(&mut *tx)
        .await?;
        tx.commit().await.map_err(StoreError::commit)?;
        self.mail = InvitationMail {
            invitation_id: claimed.invitation_id,
            email,
            organization_name: claimed.organization_name,
            app_name: claimed.app_name,
            link_base,
            expires_at: claimed.expires_at,
        };
        Ok(Some(self))
    }

    /// Removes this mail from the outbox, unless another worker holds it.
    async fn end(&self, conn: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM mail_outbox
              WHERE tenant_id = $1 AND mail_id = $2 AND next_attempt_at = $3",
        )
        .bind(&self.tenant_id)
        .bind(&self.mail_id)
        .bind(self.leased_until)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// How many times sending this mail failed before.
    pub fn attempts(&self) -> i32 {
        self.attempts
    }

    /// The mail went out: it leaves the outbox, and the invitation counts
    /// one more mail.
    pub async fn sent(self, pool: &PgPool) -> Result<(), StoreError> {
        tenancy::within(pool, &self.tenant_id, async |db| {
            sqlx::query(
                "UPDATE invitations SET sent_at = date_trunc('milliseconds', now()),
                                        sends = sends + 1
                  WHERE tenant_id = $1 AND invitation_id = $2",
            )
            .bind(&self.tenant_id)
            .bind(&self.mail.invitation_id)
            .execute(&mut *db)
            .await?;
            self.end(db).await
        })
        .await
    }

    /// Sending failed with `error`: it is tried again after `retry_in_ms`.
    pub async fn failed(
        self,
        pool: &PgPool,
        error: &str,
        retry_in_ms: u64,
    ) -> Result<(), StoreError> {
        tenancy::within(pool, &self.tenant_id, async |db| {
            sqlx::query(
                "UPDATE mail_outbox
                    SET attempts = attempts + 1, last_error = left($4, 500),
                        next_attempt_at = now() + make_interval(secs => $5)
                  WHERE tenant_id = $1 AND mail_id = $2 AND next_attempt_at = $3",
            )
            .bind(&self.tenant_id)
            .bind(&self.mail_id)
            .bind(self.leased_until)
            .bind(error)
            .bind(retry_in_ms as f64 / 1000.0)
            .execute(db)
            .await?;
            Ok(())
        })
        .await
    }
}
