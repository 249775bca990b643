//! The throttle on client authentication, per (client_id, source address):
//! a few free attempts, then growing delays between them, never a lock
//! that a correct secret from elsewhere cannot pass. Unknown client ids
//! are counted exactly like known ones.

use sqlx::PgExecutor;

use crate::StoreError;

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures in a row checked without delay.
    pub free_attempts: i32,
    /// The first wait once the free attempts are used up, in seconds; it
    /// doubles with each further failure.
    pub first_delay_secs: i64,
    /// Longest wait between two checked attempts, in seconds.
    pub max_delay_secs: i64,
    /// A streak is forgotten after this long without an attempt, in seconds.
    pub forget_after_secs: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_attempts: 5,
            first_delay_secs: 1,
            max_delay_secs: 900,
            forget_after_secs: 3600,
        }
    }
}

/// Whether an attempt may be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// Counted as a failure until it succeeds.
    Go,
    /// Not checked and not counted: wait this many seconds.
    Wait { retry_after: i64 },
}

/// Counts an attempt on `client_id` from `source` before its secret is
/// checked. One atomic upsert (row lock), so concurrent guesses are all
/// counted. The `failures`-th failure in a row, from `free_attempts` on,
/// blocks the source for `first_delay_secs` * 2^(failures - free_attempts)
/// seconds, at most `max_delay_secs`. A streak is forgotten
/// `forget_after_secs` after its last attempt or the end of its block,
/// whichever is later: never while it blocks.
#[tracing::instrument(name = "store.auth_throttle.reserve", skip_all, fields(db.system.name = "postgresql"))]
pub async fn reserve(
    executor: impl PgExecutor<'_>,
    client_id: &str,
    source: &str,
    policy: ThrottlePolicy,
) -> Result<Reserved, StoreError> {
    // An attempt is checked iff it sets last_attempt to now(): a refused
    // one leaves the row as it was (RETURNING sees only the new row).
    let (checked, retry_after): (bool, i64) = sqlx::query_as(
        "INSERT INTO client_auth_throttle AS t (client_id, source, failures, blocked_until)
         VALUES ($1, $2, 1, CASE WHEN 1 >= $3 THEN now() + make_interval(secs => LEAST($4, $6)) END)
         ON CONFLICT (client_id, source) DO UPDATE SET
             failures = CASE
                 WHEN GREATEST(t.last_attempt, t.blocked_until) < now() - make_interval(secs => $5) THEN 1
                 WHEN t.blocked_until > now() THEN t.failures
                 ELSE t.failures + 1 END,
             blocked_until = CASE
                 WHEN GREATEST(t.last_attempt, t.blocked_until) < now() - make_interval(secs => $5) THEN
                     CASE WHEN 1 >= $3 THEN now() + make_interval(secs => LEAST($4, $6)) END
                 WHEN t.blocked_until > now() THEN t.blocked_until
                 WHEN t.failures + 1 >= $3 THEN
                     now() + make_interval(secs => LEAST($4, $6 * power(2, LEAST(t.failures + 1 - $3, 40))))
                 END,
             last_attempt = CASE WHEN t.blocked_until > now() THEN t.last_attempt ELSE now() END
         RETURNING t.last_attempt = now(),
                   COALESCE(GREATEST(1, ceil(extract(epoch FROM t.blocked_until - now())))::bigint, 0)",
    )
    .bind(client_id)
    .bind(source)
    .bind(policy.free_attempts)
    .bind(policy.max_delay_secs as f64)
    .bind(policy.forget_after_secs as f64)
    .bind(policy.first_delay_secs as f64)
    .fetch_one(executor)
    .await?;
    Ok(if checked {
        Reserved::Go
    } else {
        Reserved::Wait { retry_after }
    })
}

/// A correct secret ends the streak of its source.
#[tracing::instrument(name = "store.auth_throttle.succeeded", skip_all, fields(db.system.name = "postgresql"))]
pub async fn succeeded(
    executor: impl PgExecutor<'_>,
    client_id: &str,
    source: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM client_auth_throttle WHERE client_id = $1 AND source = $2")
        .bind(client_id)
        .bind(source)
        .execute(executor)
        .await?;
    Ok(())
}

/// Gives back an attempt that was never checked (the hash queue was full),
/// so a burst from others cannot use up a source's free attempts.
#[tracing::instrument(name = "store.auth_throttle.unchecked", skip_all, fields(db.system.name = "postgresql"))]
pub async fn unchecked(
    executor: impl PgExecutor<'_>,
    client_id: &str,
    source: &str,
    policy: ThrottlePolicy,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE client_auth_throttle SET
             failures = GREATEST(failures - 1, 0),
             blocked_until = CASE WHEN failures - 1 < $3 THEN NULL ELSE blocked_until END
          WHERE client_id = $1 AND source = $2",
    )
    .bind(client_id)
    .bind(source)
    .bind(policy.free_attempts)
    .execute(executor)
    .await?;
    Ok(())
}

/// Forgets streaks that ended long ago.
#[tracing::instrument(name = "store.auth_throttle.purge", skip_all, fields(db.system.name = "postgresql"))]
pub async fn purge(
    executor: impl PgExecutor<'_>,
    policy: ThrottlePolicy,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "DELETE FROM client_auth_throttle
          WHERE last_attempt < now() - make_interval(secs => $1)
            AND (blocked_until IS NULL OR blocked_until < now())",
    )
    .bind(policy.forget_after_secs as f64)
    .execute(executor)
    .await?
    .rows_affected())
}
