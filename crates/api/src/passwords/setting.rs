//! Setting a password, the one way every path does it (the admin
//! operations, `/users/me`, the reset that completes a login, and user
//! creation's rules): the policy of the caller's application, its rules
//! and lists, the history, the hash off the async runtime, then the change
//! in a transaction that re-reads the user under a row lock.

use idstore_auth::password::common;
use idstore_auth::password::policy::{PasswordPolicy, Rejection, normalize};
use idstore_domain::contact::Username;
use idstore_store::audit::{Action, Actor, Event};
use idstore_store::credentials::{self, Credential, NewPassword};
use idstore_store::login::{self, Presented, TicketKind};
use idstore_store::users::Lookup;
use idstore_store::{PgConnection, StoreError, password_policies, tenancy};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::error::Coded;
use crate::{ApiError, AppState};

/// Which operation sets the password, and so what it requires of the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `addPasswordCredential`: the user has none yet (else 409).
    First,
    /// `updatePasswordCredential`: the user has one (else 409, CONTRADICTIONS #3).
    Replace,
    /// `/users/me/password-credentials`: the user has none yet (else 403).
    Mine,
    /// The reset that completes a login with a temporary or expired password.
    Reset,
}

pub struct SetPassword<'a> {
    pub tenant_id: &'a str,
    /// Whose policy applies: the caller's application.
    pub app_id: &'a str,
    pub user_id: &'a str,
    pub password: SecretString,
    pub temporary: bool,
    pub enforce_complexity: bool,
    pub username: Option<Username>,
    pub mode: Mode,
    pub actor: &'a Actor,
    pub action: Action,
    /// [`Mode::Reset`]: the digest of the reset ticket, used in the
    /// transaction that sets the password, so that one ticket sets one
    /// password (and a refused password leaves it usable).
    pub reset_ticket: Option<&'a [u8]>,
}

fn coded(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::CodedBadRequest(Coded::new(code, message))
}

/// The policy that applies to `app_id`'s users (its own, else the
/// tenant's, else the defaults), and the tenant's and application's names,
/// which their passwords may not contain.
pub(crate) async fn policy_for(
    state: &AppState,
    tenant_id: &str,
    app_id: Option<&str>,
) -> Result<(PasswordPolicy, Vec<String>), ApiError> {
    let mut tx = tenancy::begin(&state.pool, tenant_id).await?;
    let policy = policy_in(&mut tx, tenant_id, app_id).await?;
    let names = password_policies::names(&mut tx, tenant_id, app_id).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok((policy, names))
}

/// The policy that applies to `app_id`'s users, read in `db`'s transaction.
pub(crate) async fn policy_in(
    db: &mut PgConnection,
    tenant_id: &str,
    app_id: Option<&str>,
) -> Result<PasswordPolicy, ApiError> {
    match password_policies::effective(db, tenant_id, app_id).await? {
        None => Ok(PasswordPolicy::default()),
        Some((doc, _)) => serde_json::from_value(doc)
            .map_err(|e| ApiError::internal(format!("stored password policy unreadable: {e}"))),
    }
}

/// The policy's rules and lists, on a normalised password: the rules,
/// the built-in common passwords, the `context` words it may not contain
/// (the user's username, its email's local part), and the operator's
/// breached-password filter.
pub(crate) fn screen(
    state: &AppState,
    policy: &PasswordPolicy,
    normalized: &str,
    enforce_complexity: bool,
    context: &[String],
) -> Result<(), Rejection> {
    policy.check_rules(normalized, enforce_complexity)?;
    if common::is_common(normalized) {
        return Err(Rejection::Weak(
            "it is one of the most common passwords; choose a less predictable one".into(),
        ));
    }
    let words: Vec<&str> = context.iter().map(String::as_str).collect();
    if common::contains_context_word(normalized, &words) {
        return Err(Rejection::Weak(
            "it contains the user's username or email; choose one that does not".into(),
        ));
    }
    if state.breached.contains(normalized) {
        return Err(Rejection::Breached);
    }
    Ok(())
}

/// A new password for a user of `app_id`, normalised, once it passes the
/// policy's rules and lists (not the history: a new user has none).
pub(crate) async fn vetted(
    state: &AppState,
    tenant_id: &str,
    app_id: &str,
    password: &SecretString,
    context: &[String],
) -> Result<Result<SecretString, Rejection>, ApiError> {
    let (policy, names) = policy_for(state, tenant_id, Some(app_id)).await?;
    let normalized = normalize(password.expose_secret());
    let context = [context, &names].concat();
    Ok(
        screen(state, &policy, &normalized, true, &context)
            .map(|()| SecretString::from(normalized)),
    )
}

pub(crate) fn refusal(r: Rejection) -> ApiError {
    match r {
        Rejection::Disabled => coded(
            "auth_password_policy_disabled",
            "Passwords are disabled by this application's password policy",
        ),
        Rejection::Weak(why) => coded("auth_password_weak", format!("Password too weak: {why}")),
        Rejection::Breached => coded(
            "auth_password_breached",
            "This password appears in a list of breached passwords; choose another",
        ),
    }
}

/// Refuses a password that is one of the user's newest `depth` ones.
async fn not_recent(
    state: &AppState,
    tenant_id: &str,
    user_id: &str,
    depth: u32,
    normalized: &str,
) -> Result<(), ApiError> {
    if depth == 0 {
        return Ok(());
    }
    let recent = state
        .within(tenant_id, async |db| {
            credentials::history(db, tenant_id, user_id, depth).await
        })
        .await?;
    for phc in recent {
        let candidate = SecretString::from(normalized.to_owned());
        if state
            .auth
            .hashes
            .verify_password(Some(phc), candidate)
            .await?
            .matches
        {
            return Err(coded(
                "auth_password_recently_used",
                format!("The password must differ from the last {depth} passwords of this user"),
            ));
        }
    }
    Ok(())
}

/// A reset token that sets nothing: unknown, used, expired, or no longer
/// usable by the caller.
pub(crate) fn stale_reset_token() -> ApiError {
    super::invalid("reset_token is unknown, used or expired; log in again")
}

/// What `mode` requires of the user as it is.
fn admissible(mode: Mode, user: &Credential, username: bool) -> Result<(), ApiError> {
    let has_password = user.password_hash.is_some();
    match mode {
        Mode::First if has_password => Err(ApiError::CodedConflict(Coded::new(
            "auth_password_already_configured",
            "This user already has a password; replace it with PUT /v1/users/{user_id}/password",
        ))),
        Mode::Mine if has_password => Err(ApiError::Forbidden(
            "This user already has a password".into(),
        )),
        Mode::Replace | Mode::Reset if !has_password => Err(ApiError::CodedConflict(Coded::new(
            "auth_password_already_configured",
            "This user has no password to replace; add one with POST /v1/users/{user_id}/password",
        ))),
        Mode::Replace | Mode::Reset if !user.is_active() => Err(coded(
            "auth_not_active",
            format!(
                "The user is {}; only an Active user's password can be changed",
                user.status
            ),
        )),
        Mode::Replace | Mode::Reset if !user.has_login_identifier() => Err(coded(
            "auth_password_incomplete_credentials",
            "Nothing names this user at a login: give it a username, email or phone number first",
        )),
        Mode::First | Mode::Mine if !username && !user.has_login_identifier() => Err(
            super::invalid("The user has no email or phone number to log in with: give a username"),
        ),
        _ => Ok(()),
    }
}

/// Sets the password after every check; see the module's comment.
pub async fn set_password(state: &AppState, req: SetPassword<'_>) -> Result<(), ApiError> {
    let SetPassword {
        tenant_id, user_id, ..
    } = req;
    let seen = state
        .within(tenant_id, async |db| {
            credentials::find(db, tenant_id, Lookup::Id(user_id)).await
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => {
                ApiError::CodedNotFound(Coded::new("user_not_found", "User not found"))
            }
            e => e.into(),
        })?;
    admissible(req.mode, &seen, req.username.is_some())?;
    let (policy, names) = policy_for(state, tenant_id, Some(req.app_id)).await?;
    let normalized = normalize(req.password.expose_secret());
    let mut context = seen.context_words();
    context.extend(names);
    context.extend(req.username.as_ref().map(|u| u.as_str().to_owned()));
    screen(
        state,
        &policy,
        &normalized,
        req.enforce_complexity,
        &context,
    )
    .map_err(refusal)?;
    if seen.password_hash.is_some() {
        not_recent(state, tenant_id, user_id, policy.history_depth, &normalized).await?;
    }
    let phc = state
        .auth
        .hashes
        .hash_password(SecretString::from(normalized))
        .await?;
    if !req.enforce_complexity {
        tracing::info!(
            user_id,
            "password set without the composition rules (enforce_complexity=false)"
        );
    }
    let mut changed = vec!["password".to_owned()];
    if req.username.is_some() {
        changed.push("username".to_owned());
    }
    let event = Event::new(tenant_id, req.actor, req.action, user_id)
        .changed(changed)
        .refs(json!({
            "temporary": req.temporary,
            "enforce_complexity": req.enforce_complexity,
        }));
    let username = req.username.as_ref().map(|u| (u.as_str(), u.key()));
    let mut tx = tenancy::begin(&state.pool, tenant_id).await?;
    let current = credentials::lock(&mut tx, tenant_id, Lookup::Id(user_id)).await?;
    if current.password_hash != seen.password_hash || current.status != seen.status {
        return Err(ApiError::Conflict(
            "The user's password changed while this request was checked; retry".into(),
        ));
    }
    if let Some(digest) = req.reset_ticket {
        let used = login::consume_ticket(&mut tx, tenant_id, TicketKind::Reset, digest).await?;
        if !matches!(used, Presented::Fresh(t) if t.user_id == user_id) {
            return Err(stale_reset_token());
        }
    }
    let new = NewPassword {
        phc: &phc,
        temporary: req.temporary,
        username,
    };
    credentials::set(&mut tx, tenant_id, user_id, new, &event).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    state.auth.refresh_revocations().await;
    Ok(())
}
