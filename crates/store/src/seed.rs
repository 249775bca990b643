//! Bulk-loads generated users for benchmarks (`idstore seed`).
//!
//! Every value derives from the seed number `i`, so a benchmark can name
//! existing users (`seed000000042`, `user42@example.com`) without asking
//! the database. Rows go in with `COPY ... FROM STDIN` in text format,
//! which is an order of magnitude faster than the API's `INSERT`s.

use std::ops::RangeInclusive;

use chrono::{DateTime, SecondsFormat, Utc};
use idstore_domain::id::new_id;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};

use crate::applications::{self, Application, NewApplication};
use crate::{StoreError, tenancy};

/// Rows per `COPY` and per transaction: large enough that per-statement
/// costs vanish, small enough that a failure loses little and progress
/// moves often.
pub const BATCH: u64 = 20_000;

/// Area codes whose every exchange `[2-9]XX` libphonenumber accepts, so
/// that seeded numbers pass the API's phone validation (lookups by phone
/// validate their input). 125 of them × 8M local numbers cover every
/// nine-digit seed number.
const AREA_CODES: [u16; 125] = [
    201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 220,
    223, 224, 225, 226, 227, 228, 229, 231, 234, 235, 236, 239, 240, 248, 249, 250, 251, 252, 253,
    254, 256, 257, 260, 262, 263, 267, 269, 270, 272, 276, 279, 281, 283, 289, 301, 302, 303, 304,
    305, 306, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 323, 324, 325,
    326, 327, 329, 330, 331, 332, 334, 336, 337, 339, 341, 343, 346, 347, 350, 351, 352, 353, 354,
    360, 361, 363, 364, 365, 367, 368, 369, 380, 382, 385, 386, 401, 402, 403, 404, 405, 406, 407,
    408, 409, 410, 412, 413, 414, 415, 416, 417, 418, 419,
];
/// Seven-digit local numbers whose exchange does not start with 0 or 1.
const LOCAL_NUMBERS: u64 = 8_000_000;

/// The largest seed number: user ids keep nine digits so that they sort
/// numerically, which is how the next run finds where to continue.
pub const MAX_SEED: u64 = 999_999_999;

// Plain ASCII letters only: they go into JSON and COPY text unescaped.
const FIRST_NAMES: [&str; 16] = [
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Donald",
    "Edsger",
    "Frances",
    "Grace",
    "Hedy",
    "John",
    "Katherine",
    "Leslie",
    "Margaret",
    "Niklaus",
    "Radia",
    "Tim",
];
const LAST_NAMES: [&str; 13] = [
    "Allen", "Backus", "Dijkstra", "Hamilton", "Hopper", "Johnson", "Knuth", "Lamport", "Liskov",
    "Lovelace", "Perlman", "Shannon", "Turing",
];
const TIERS: [&str; 3] = ["gold", "silver", "bronze"];

const YEAR_MILLIS: i64 = 365 * 24 * 60 * 60 * 1000;

pub fn user_id(i: u64) -> String {
    format!("seed{i:09}")
}

pub fn email(i: u64) -> String {
    format!("user{i}@example.com")
}

/// A distinct North American number in E.164 for every seed number.
pub fn phone_number(i: u64) -> String {
    let area = AREA_CODES[(i / LOCAL_NUMBERS) as usize];
    let local = 2_000_000 + i % LOCAL_NUMBERS;
    format!("+1{area}{local:07}")
}

pub fn tier(i: u64) -> &'static str {
    TIERS[(i % 3) as usize]
}

/// (first, last); the two lists have coprime lengths so that neighbouring
/// users get different full names.
pub fn name(i: u64) -> (&'static str, &'static str) {
    (
        FIRST_NAMES[(i % 16) as usize],
        LAST_NAMES[(i % 13) as usize],
    )
}

/// Creation time in epoch milliseconds, scattered over the year before
/// `now_ms` by a multiplicative hash so that time-sorted pages don't
/// follow seed order.
pub fn created_at_millis(i: u64, now_ms: i64) -> i64 {
    let scattered = i.wrapping_mul(2_654_435_761) % (YEAR_MILLIS as u64);
    now_ms - YEAR_MILLIS + scattered as i64
}

/// What to seed.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    pub tenant_id: &'a str,
    /// The application every seeded user is associated with.
    pub app_id: &'a str,
    pub users: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// The seed numbers a run used, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    pub first: u64,
    pub last: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(
        "seeding {users} more users would pass seed number {MAX_SEED} (this tenant's next is {next})"
    )]
    Exhausted { users: u64, next: u64 },
    #[error(
        "PostgreSQL refuses COPY into tables under row-level security to this role: seed as a \
         superuser or a BYPASSRLS role (database_url)"
    )]
    CopyPoliced,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for SeedError {
    fn from(e: sqlx::Error) -> Self {
        // feature_not_supported: "COPY FROM not supported with row-level security".
        match e.as_database_error().and_then(|d| d.code()) {
            Some(code) if code == "0A000" => Self::CopyPoliced,
            _ => Self::Store(StoreError::from(e)),
        }
    }
}

/// The tenant's non-management application called `name`, created when
/// there is none.
pub async fn ensure_application(
    pool: &PgPool,
    tenant_id: &str,
    name: &str,
) -> Result<Application, StoreError> {
    tenancy::within(pool, tenant_id, async |conn| {
        let existing = applications::list(&mut *conn, tenant_id)
            .await?
            .into_iter()
            .find(|a| a.name == name && !a.is_management);
        if let Some(app) = existing {
            return Ok(app);
        }
        applications::create(
            &mut *conn,
            NewApplication {
                tenant_id,
                app_id: &new_id(),
                name,
                description: Some("Users loaded by `idstore seed`"),
                is_management: false,
                created_by: None,
                settings: None,
            },
        )
        .await
    })
    .await
}

/// Adds `plan.users` users after the tenant's highest seed number, one
/// transaction per [`BATCH`], then refreshes the planner's statistics.
/// `progress` hears about every committed batch.
pub async fn seed_users(
    pool: &PgPool,
    plan: Plan<'_>,
    mut progress: impl FnMut(Progress),
) -> Result<Seeded, SeedError> {
    let mut conn = pool.acquire().await?;
    // Two runs on one tenant would pick the same numbers; the second waits.
    lock_tenant(&mut conn, plan.tenant_id, true).await?;
    let outcome = seed_locked(&mut conn, plan, &mut progress).await;
    let unlocked = lock_tenant(&mut conn, plan.tenant_id, false).await;
    let seeded = outcome?;
    unlocked?;
    sqlx::query("ANALYZE users, user_apps")
        .execute(&mut *conn)
        .await?;
    Ok(seeded)
}

async fn seed_locked(
    conn: &mut PgConnection,
    plan: Plan<'_>,
    progress: &mut impl FnMut(Progress),
) -> Result<Seeded, SeedError> {
    let next = {
        let mut tx = conn.begin().await?;
        tenancy::confine(&mut tx, plan.tenant_id).await?;
        let next = next_seed(&mut tx, plan.tenant_id).await?;
        tx.commit().await?;
        next
    };
    let Some(last) = (next + plan.users)
        .checked_sub(1)
        .filter(|&l| l <= MAX_SEED)
    else {
        return Err(SeedError::Exhausted {
            users: plan.users,
            next,
        });
    };
    let now_ms = Utc::now().timestamp_millis();
    let mut start = next;
    while start <= last {
        let end = last.min(start + BATCH - 1);
        copy_batch(conn, plan, start..=end, now_ms).await?;
        progress(Progress {
            done: end - next + 1,
            total: plan.users,
        });
        start = end + 1;
    }
    Ok(Seeded { first: next, last })
}

async fn lock_tenant(
    conn: &mut PoolConnection<Postgres>,
    tenant_id: &str,
    lock: bool,
) -> Result<(), sqlx::Error> {
    let sql = if lock {
        "SELECT pg_advisory_lock(hashtextextended('idstore seed ' || $1, 0))"
    } else {
        "SELECT pg_advisory_unlock(hashtextextended('idstore seed ' || $1, 0))"
    };
    sqlx::query(sql)
        .bind(tenant_id)
        .execute(&mut **conn)
        .await?;
    Ok(())
}

/// One past the tenant's highest seed number (1 when it has none).
pub async fn next_seed(conn: &mut PgConnection, tenant_id: &str) -> Result<u64, StoreError> {
    // Nine-digit ids sort numerically; the range walks the primary key
    // backwards and the pattern skips ids that only look similar.
    let highest: Option<String> = sqlx::query_scalar(
        "SELECT user_id FROM users
          WHERE tenant_id = $1 AND user_id BETWEEN 'seed000000000' AND 'seed999999999'
            AND user_id ~ '^seed[0-9]{9}$'
          ORDER BY user_id DESC LIMIT 1",
    )
    .bind(tenant_id)
    .fetch_optional(conn)
    .await?;
    Ok(highest
        .and_then(|id| id["seed".len()..].parse::<u64>().ok())
        .map_or(1, |n| n + 1))
}

async fn copy_batch(
    conn: &mut PgConnection,
    plan: Plan<'_>,
    seeds: RangeInclusive<u64>,
    now_ms: i64,
) -> Result<(), SeedError> {
    let mut tx = conn.begin().await?;
    tenancy::confine(&mut tx, plan.tenant_id).await?;
    copy(
        &mut tx,
        "COPY users (tenant_id, user_id, email, email_normalized, phone_number, name,
                     custom_data, status, version, created_at, updated_at) FROM STDIN",
        seeds.clone(),
        |buf, i| user_row(buf, plan.tenant_id, i, now_ms),
    )
    .await?;
    copy(
        &mut tx,
        "COPY user_apps (tenant_id, app_id, user_id, external_account_id, custom_app_data,
                         created_at, updated_at) FROM STDIN",
        seeds,
        |buf, i| user_app_row(buf, plan, i, now_ms),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Bytes handed to PostgreSQL at a time, so that it parses one chunk
/// while the next is being formatted.
const CHUNK: usize = 1 << 20;

async fn copy(
    conn: &mut PgConnection,
    statement: &'static str,
    seeds: RangeInclusive<u64>,
    mut row: impl FnMut(&mut String, u64),
) -> Result<(), sqlx::Error> {
    let mut sink = conn.copy_in_raw(statement).await?;
    let mut buf = String::with_capacity(CHUNK + 4096);
    for i in seeds {
        row(&mut buf, i);
        if buf.len() >= CHUNK {
            if let Err(e) = sink.send(buf.as_bytes()).await {
                return Err(abort(sink, e).await);
            }
            buf.clear();
        }
    }
    if !buf.is_empty()
        && let Err(e) = sink.send(buf.as_bytes()).await
    {
        return Err(abort(sink, e).await);
    }
    sink.finish().await?;
    Ok(())
}

/// Ends a failed `COPY` so the connection stays usable; the send's error
/// is the one worth reporting.
async fn abort(sink: sqlx::postgres::PgCopyIn<&mut PgConnection>, e: sqlx::Error) -> sqlx::Error {
    let _ = sink.abort("idstore seed: sending rows failed").await;
    e
}

fn user_row(buf: &mut String, tenant_id: &str, i: u64, now_ms: i64) {
    let (first, last) = name(i);
    let email = email(i);
    let at = timestamp(created_at_millis(i, now_ms));
    let fields: [&str; 11] = [
        tenant_id,
        &user_id(i),
        &email,
        &email,
        &phone_number(i),
        &format!(r#"{{"first_name":"{first}","last_name":"{last}"}}"#),
        &format!(r#"{{"n":{i},"tier":"{}"}}"#, tier(i)),
        "Active",
        "1",
        &at,
        &at,
    ];
    push_row(buf, &fields);
}

fn user_app_row(buf: &mut String, plan: Plan<'_>, i: u64, now_ms: i64) {
    let at = timestamp(created_at_millis(i, now_ms));
    let fields: [&str; 7] = [
        plan.tenant_id,
        plan.app_id,
        &user_id(i),
        &format!("acct{i}"),
        r#"{"plan":"basic"}"#,
        &at,
        &at,
    ];
    push_row(buf, &fields);
}

/// ISO 8601 in UTC with milliseconds, which PostgreSQL reads exactly.
fn timestamp(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One line of `COPY ... FROM STDIN` text format.
fn push_row(buf: &mut String, fields: &[&str]) {
    for (n, field) in fields.iter().enumerate() {
        if n > 0 {
            buf.push('\t');
        }
        push_field(buf, field);
    }
    buf.push('\n');
}

/// Escapes what the text format gives a meaning: backslash, and the
/// delimiter and line breaks.
fn push_field(buf: &mut String, field: &str) {
    for c in field.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            c => buf.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn seeded_identifiers_follow_the_seed_number() {
        assert_eq!(user_id(42), "seed000000042");
        assert_eq!(email(42), "user42@example.com");
        assert_eq!(phone_number(1), "+12012000001");
        assert_eq!(tier(3), "gold");
        assert_eq!(tier(4), "silver");
        assert_eq!(tier(5), "bronze");
    }

    #[test]
    fn seeded_phone_numbers_pass_the_apis_validation_across_every_area_code() {
        let samples =
            (0..=MAX_SEED)
                .step_by(999_983)
                .chain([1, LOCAL_NUMBERS - 1, LOCAL_NUMBERS, MAX_SEED]);
        for i in samples {
            let phone = phone_number(i);
            assert_eq!(
                idstore_domain::contact::Phone::parse(&phone)
                    .as_ref()
                    .map(|p| p.as_str()),
                Ok(phone.as_str()),
                "seed {i}"
            );
        }
    }

    #[test]
    fn seeded_phone_numbers_are_distinct_where_area_codes_change() {
        let around = |edge: u64| edge - 1000..edge + 1000;
        let seeds: Vec<u64> = around(LOCAL_NUMBERS)
            .chain(around(2 * LOCAL_NUMBERS))
            .chain(around(124 * LOCAL_NUMBERS))
            .collect();
        let phones: HashSet<String> = seeds.iter().map(|&i| phone_number(i)).collect();
        assert_eq!(phones.len(), seeds.len());
    }

    #[test]
    fn creation_times_fall_in_the_past_year_on_whole_milliseconds() {
        let now_ms = 1_750_000_000_123;
        for i in [1, 2, 3, 1000, MAX_SEED] {
            let at = created_at_millis(i, now_ms);
            assert!((now_ms - YEAR_MILLIS..=now_ms).contains(&at), "seed {i}");
        }
        assert_eq!(timestamp(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn neighbouring_users_get_different_full_names() {
        let names: HashSet<_> = (1..=100).map(name).collect();
        assert_eq!(names.len(), 100);
    }

    #[test]
    fn copy_text_escapes_backslashes_tabs_and_line_breaks() {
        let mut buf = String::new();
        push_row(&mut buf, &["a\\b", "c\td", "e\nf\rg", r#"{"k":"v"}"#]);
        assert_eq!(buf, "a\\\\b\tc\\td\te\\nf\\rg\t{\"k\":\"v\"}\n");
    }

    #[test]
    fn a_user_row_has_one_field_per_copied_column() {
        let mut buf = String::new();
        user_row(&mut buf, "t1", 7, 1_750_000_000_000);
        let fields: Vec<&str> = buf.trim_end().split('\t').collect();
        assert_eq!(fields.len(), 11);
        assert_eq!(fields[1], "seed000000007");
        assert_eq!(fields[5], r#"{"first_name":"Grace","last_name":"Lamport"}"#);
        assert_eq!(fields[6], r#"{"n":7,"tier":"silver"}"#);
    }
}
