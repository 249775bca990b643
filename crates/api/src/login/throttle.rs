//! Counting a login's attempt before its password is checked: per
//! identifier (the policy's lockout, a growing delay, never a permanent
//! lock) and per source address (a looser limit against one address
//! trying many identifiers). Both live in PostgreSQL, in the table client
//! authentication uses, under keys of their own, so every replica sees
//! the same counts and a reservation is one atomic upsert.

use idstore_auth::password::hash::Verified;
use idstore_auth::password::policy::PasswordPolicy;
use idstore_domain::contact::Username;
use idstore_store::auth_throttle::{self, Counter, Reserved, ThrottlePolicy};
use idstore_store::credentials::Credential;
use idstore_store::{PgConnection, StoreError};
use secrecy::SecretString;

use crate::error::Wait;
use crate::prometheus;
use crate::{ApiError, AppState};

/// Failed logins from one address, across identifiers, before its
/// attempts are delayed: enough for a busy office behind one NAT.
const SOURCE_POLICY: ThrottlePolicy = ThrottlePolicy {
    free_attempts: 100,
    first_delay_secs: 1,
    max_delay_secs: 300,
    forget_after_secs: 3600,
};

/// The `source` column of identifier keys: they count from everywhere.
const ANY_SOURCE: &str = "*";

fn identifier_policy(policy: &PasswordPolicy) -> ThrottlePolicy {
    ThrottlePolicy {
        free_attempts: policy.lockout_threshold as i32,
        first_delay_secs: i64::from(policy.lockout_duration_secs),
        max_delay_secs: i64::from(policy.lockout_max_secs),
        forget_after_secs: 3600,
    }
}

fn identifier_key(tenant_id: &str, identifier: &str) -> String {
    format!("login/{tenant_id}/{identifier}")
}

fn source_key(tenant_id: &str) -> String {
    format!("login-source/{tenant_id}")
}

/// A reserved attempt: counted as failed until [`Attempt::succeeded`].
pub(super) struct Attempt {
    identifier: String,
    source_key: String,
    source: String,
    policy: ThrottlePolicy,
    /// The identifier is locked: nothing is checked, the answer is a failure.
    locked: bool,
}

impl Attempt {
    /// Counts the attempt, the source's and the identifier's in one
    /// statement (in `db`'s transaction: commit it before the check). A
    /// source over its limit is told to wait (429: that reveals nothing
    /// of any account) and the identifier is not counted; a locked
    /// identifier is not told, its answer is the same failure as a wrong
    /// password.
    pub(super) async fn reserve(
        db: &mut PgConnection,
        tenant_id: &str,
        identifier: &str,
        source: &str,
        policy: &PasswordPolicy,
    ) -> Result<Self, ApiError> {
        let attempt = Self {
            identifier: identifier_key(tenant_id, identifier),
            source_key: source_key(tenant_id),
            source: source.to_owned(),
            policy: identifier_policy(policy),
            locked: false,
        };
        match auth_throttle::reserve_both(db, attempt.source(), attempt.identifier()).await? {
            (Reserved::Wait { retry_after }, _) => {
                tracing::warn!(source, "password logins from this source throttled");
                Err(ApiError::WaitFor(Wait {
                    message: format!(
                        "Too many failed logins from this address; retry in {retry_after} seconds"
                    ),
                    retry_after_secs: retry_after.unsigned_abs(),
                }))
            }
            (Reserved::Go, identifier) => Ok(Self {
                locked: identifier != Some(Reserved::Go),
                ..attempt
            }),
        }
    }

    fn source(&self) -> Counter<'_> {
        Counter {
            key: &self.source_key,
            source: &self.source,
            policy: SOURCE_POLICY,
        }
    }

    fn identifier(&self) -> Counter<'_> {
        Counter {
            key: &self.identifier,
            source: ANY_SOURCE,
            policy: self.policy,
        }
    }

    /// Verifies `password` against the user's hash; against the dummy hash
    /// when there is none to check (unknown user, no password, locked), so
    /// that every answer costs the same. `None` unless it really matched;
    /// then whether the hash should be redone with today's parameters.
    pub(super) async fn check(
        &self,
        state: &AppState,
        user: Option<&Credential>,
        password: SecretString,
    ) -> Result<Option<Verified>, ApiError> {
        let phc = user
            .and_then(|u| u.password_hash.clone())
            .filter(|_| !self.locked);
        let real = phc.is_some();
        match state.auth.hashes.verify_password(phc, password).await {
            Ok(verified) => {
                if real {
                    metrics::counter!(prometheus::PASSWORD_CHECKS).increment(1);
                }
                Ok(verified.matches.then_some(verified))
            }
            Err(busy) => {
                // Nothing was checked: give back what was counted (a locked
                // identifier's attempt was not).
                let pool = &state.pool;
                if !self.locked {
                    auth_throttle::unchecked(pool, &self.identifier, ANY_SOURCE, self.policy)
                        .await?;
                }
                auth_throttle::unchecked(pool, &self.source_key, &self.source, SOURCE_POLICY)
                    .await?;
                Err(busy.into())
            }
        }
    }

    pub(super) fn reason(&self) -> &'static str {
        if self.locked { "locked" } else { "credentials" }
    }

    /// A correct password ends the identifier's streak and gives the
    /// source its attempt back (its other failures still count).
    pub(super) async fn succeeded(&self, db: &mut PgConnection) -> Result<(), StoreError> {
        auth_throttle::succeeded_giving_back(db, self.identifier(), self.source()).await
    }
}

/// Forgets the failed logins of every identifier of `user`.
pub(super) async fn forget(
    state: &AppState,
    tenant_id: &str,
    user: &Credential,
) -> Result<(), ApiError> {
    let keys = [
        user.username
            .clone()
            .map(|u| format!("username:{}", Username::from_storage(u).key())),
        user.email.as_ref().map(|e| format!("email:{e}")),
        user.phone_number.as_ref().map(|p| format!("phone:{p}")),
    ];
    for key in keys.into_iter().flatten() {
        let key = identifier_key(tenant_id, &key);
        auth_throttle::succeeded(&state.pool, &key, ANY_SOURCE).await?;
    }
    Ok(())
}
