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

/// One counter: the key it counts under, the source it counts from, and
/// its limits.
#[derive(Debug, Clone, Copy)]
pub struct Counter<'a> {
    pub key: &'a str,
    pub source: &'a str,
    pub policy: ThrottlePolicy,
}

/// The upsert that counts one attempt, with the counter's six parameters
/// at the positions given, selecting from `$from` (`""` for none).
///
/// An attempt is checked iff it sets last_attempt to now(): a refused one
/// leaves the row as it was (RETURNING sees only the new row).
macro_rules! count_attempt {
    ($key:literal, $source:literal, $free:literal, $max:literal, $forget:literal, $first:literal, $from:literal) => {
        concat!(
            "INSERT INTO client_auth_throttle AS t (client_id, source, failures, blocked_until)
             SELECT $", $key, ", $", $source, ", 1,
                    CASE WHEN 1 >= $", $free, " THEN now() + make_interval(secs => LEAST($", $max, ", $", $first, ")) END",
            $from,
            " ON CONFLICT (client_id, source) DO UPDATE SET
                 failures = CASE
                     WHEN GREATEST(t.last_attempt, t.blocked_until) < now() - make_interval(secs => $", $forget, ") THEN 1
                     WHEN t.blocked_until > now() THEN t.failures
                     ELSE t.failures + 1 END,
                 blocked_until = CASE
                     WHEN GREATEST(t.last_attempt, t.blocked_until) < now() - make_interval(secs => $", $forget, ") THEN
                         CASE WHEN 1 >= $", $free, " THEN now() + make_interval(secs => LEAST($", $max, ", $", $first, ")) END
                     WHEN t.blocked_until > now() THEN t.blocked_until
                     WHEN t.failures + 1 >= $", $free, " THEN
                         now() + make_interval(secs => LEAST($", $max, ", $", $first, " * power(2, LEAST(t.failures + 1 - $", $free, ", 40))))
                     END,
                 last_attempt = CASE WHEN t.blocked_until > now() THEN t.last_attempt ELSE now() END
             RETURNING t.last_attempt = now() AS checked,
                       COALESCE(GREATEST(1, ceil(extract(epoch FROM t.blocked_until - now())))::bigint, 0) AS retry_after"
        )
    };
}

fn answer(checked: bool, retry_after: i64) -> Reserved {
    if checked {
        Reserved::Go
    } else {
        Reserved::Wait { retry_after }
    }
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
    let (checked, retry_after): (bool, i64) = sqlx::query_as(count_attempt!(1, 2, 3, 4, 5, 6, ""))
        .bind(client_id)
        .bind(source)
        .bind(policy.free_attempts)
        .bind(policy.max_delay_secs as f64)
        .bind(policy.forget_after_secs as f64)
        .bind(policy.first_delay_secs as f64)
        .fetch_one(executor)
        .await?;
    Ok(answer(checked, retry_after))
}

/// Counts an attempt on `first`, then, only when `first` lets it be
/// checked, on `then`, in one statement (as [`reserve`] counts each): a
/// login's source, then its identifier. `None` for `then` when it was not
/// counted. The two keys must differ.
#[tracing::instrument(name = "store.auth_throttle.reserve_both", skip_all, fields(db.system.name = "postgresql"))]
pub async fn reserve_both(
    executor: impl PgExecutor<'_>,
    first: Counter<'_>,
    then: Counter<'_>,
) -> Result<(Reserved, Option<Reserved>), StoreError> {
    const BOTH: &str = concat!(
        "WITH a AS (",
        count_attempt!(1, 2, 3, 4, 5, 6, ""),
        "), b AS (",
        count_attempt!(7, 8, 9, 10, 11, 12, " FROM a WHERE a.checked"),
        ") SELECT a.checked, a.retry_after, b.checked, b.retry_after FROM a LEFT JOIN b ON true"
    );
    let mut query = sqlx::query_as(BOTH);
    for c in [first, then] {
        query = query
            .bind(c.key)
            .bind(c.source)
            .bind(c.policy.free_attempts)
            .bind(c.policy.max_delay_secs as f64)
            .bind(c.policy.forget_after_secs as f64)
            .bind(c.policy.first_delay_secs as f64);
    }
    let (a, a_wait, b, b_wait): (bool, i64, Option<bool>, Option<i64>) =
        query.fetch_one(executor).await?;
    Ok((
        answer(a, a_wait),
        b.zip(b_wait).map(|(b, wait)| answer(b, wait)),
    ))
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

/// The update that gives one attempt back, with the key, source and
/// free attempts at the positions given.
macro_rules! give_back {
    ($key:literal, $source:literal, $free:literal) => {
        concat!(
            "UPDATE client_auth_throttle SET
                 failures = GREATEST(failures - 1, 0),
                 blocked_until = CASE WHEN failures - 1 < $",
            $free,
            " THEN NULL ELSE blocked_until END
              WHERE client_id = $",
            $key,
            " AND source = $",
            $source
        )
    };
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
    sqlx::query(give_back!(1, 2, 3))
        .bind(client_id)
        .bind(source)
        .bind(policy.free_attempts)
        .execute(executor)
        .await?;
    Ok(())
}

/// A correct secret: ends the streak of `done` (as [`succeeded`]) and
/// gives `give_back` its attempt back (as [`unchecked`]), in one statement.
#[tracing::instrument(name = "store.auth_throttle.succeeded_giving_back", skip_all, fields(db.system.name = "postgresql"))]
pub async fn succeeded_giving_back(
    executor: impl PgExecutor<'_>,
    done: Counter<'_>,
    give_back: Counter<'_>,
) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "WITH done AS (DELETE FROM client_auth_throttle WHERE client_id = $1 AND source = $2) ",
        give_back!(3, 4, 5)
    ))
    .bind(done.key)
    .bind(done.source)
    .bind(give_back.key)
    .bind(give_back.source)
    .bind(give_back.policy.free_attempts)
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
