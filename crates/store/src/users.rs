//! Users, and their association with applications. Every query names the
//! tenant; reads also name the caller's application, whose data on the
//! user (`user_apps`) comes along when the user is associated with it.

use chrono::{DateTime, NaiveDate, Utc};
use idstore_domain::filter::Filter;
use idstore_domain::user::{Address, Contact, Name, Profile, Status};
use serde_json::{Map, Value};
use sqlx::postgres::PgArguments;
use sqlx::types::Json;
use sqlx::{Arguments, PgConnection, PgPool, Postgres, QueryBuilder};

use crate::StoreError;
use crate::error::one_row;
use crate::user_filter;

/// A user as read, with the caller's application's view of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub user_id: String,
    pub email: Option<String>,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub phone_number: Option<String>,
    pub phone_verified_at: Option<DateTime<Utc>>,
    pub username: Option<String>,
    pub external_user_id: Option<String>,
    pub secondary_emails: Json<Vec<Contact>>,
    pub secondary_phone_numbers: Json<Vec<Contact>>,
    pub name: Option<Json<Name>>,
    pub address: Option<Json<Address>>,
    pub birthday: Option<NaiveDate>,
    pub picture: Option<String>,
    pub language: Option<String>,
    pub custom_data: Json<Map<String, Value>>,
    pub identities: Json<Vec<Value>>,
    pub status: String,
    pub status_changed_at: Option<DateTime<Utc>>,
    pub last_auth: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub password_temporary: Option<bool>,
    pub password_updated_at: Option<DateTime<Utc>>,
    /// Set when the user is associated with the caller's application.
    pub app_name: Option<String>,
    pub external_account_id: Option<String>,
    pub custom_app_data: Option<Json<Map<String, Value>>>,
    pub group_ids: Vec<String>,
}

impl UserRow {
    /// The tenant-level fields, for an update to change.
    pub fn profile(&self) -> Profile {
        Profile {
            email: contact(&self.email, self.email_verified_at),
            phone_number: contact(&self.phone_number, self.phone_verified_at),
            secondary_emails: self.secondary_emails.0.clone(),
            secondary_phone_numbers: self.secondary_phone_numbers.0.clone(),
            username: self.username.clone(),
            external_user_id: self.external_user_id.clone(),
            name: self.name.as_ref().map(|n| n.0.clone()),
            address: self.address.as_ref().map(|a| a.0.clone()),
            birthday: self.birthday,
            picture: self.picture.clone(),
            language: self.language.clone(),
            custom_data: self.custom_data.0.clone(),
            status: Status::parse(&self.status).unwrap_or(Status::Active),
            status_changed_at: self.status_changed_at,
        }
    }
}

fn contact(value: &Option<String>, verified_at: Option<DateTime<Utc>>) -> Option<Contact> {
    value.as_ref().map(|v| Contact {
        value: v.clone(),
        verified_at,
    })
}

/// The user columns and the caller's app view; `$1` is the tenant, `$2`
/// the caller's application.
macro_rules! select_users {
    () => {
        "SELECT u.user_id, u.email, u.email_verified_at, u.phone_number, u.phone_verified_at,
                u.username, u.external_user_id, u.secondary_emails, u.secondary_phone_numbers,
                u.name, u.address, u.birthday, u.picture, u.language, u.custom_data, u.identities,
                u.status,
                u.status_changed_at, u.last_auth, u.created_at, u.updated_at,
                u.password_temporary, u.password_updated_at,
                a.name AS app_name, ua.external_account_id, ua.custom_app_data,
                ARRAY(SELECT gm.group_id FROM group_members gm
                       WHERE gm.tenant_id = u.tenant_id AND gm.user_id = u.user_id
                       ORDER BY gm.group_id) AS group_ids
           FROM users u
           LEFT JOIN user_apps ua
                  ON ua.tenant_id = u.tenant_id AND ua.user_id = u.user_id AND ua.app_id = $2
           LEFT JOIN applications a ON a.tenant_id = ua.tenant_id AND a.app_id = ua.app_id "
    };
}

/// Who is reading: the tenant, and the application whose view is shown.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub tenant_id: &'a str,
    pub app_id: &'a str,
}

/// The identifiers a single user can be found by.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    Id(&'a str),
    /// Normalized (lower-case) primary email.
    Email(&'a str),
    /// E.164 primary phone.
    Phone(&'a str),
    /// Normalized (lower-case) username.
    Username(&'a str),
    ExternalUserId(&'a str),
    /// The identifier of one of the user's identities at a provider.
    IdpIdentifier(&'a str),
}

impl Lookup<'_> {
    fn sql(&self) -> &'static str {
        match self {
            Self::Id(_) => concat!(select_users!(), "WHERE u.tenant_id = $1 AND u.user_id = $3"),
            Self::Email(_) => concat!(
                select_users!(),
                "WHERE u.tenant_id = $1 AND u.email_normalized = $3"
            ),
            Self::Phone(_) => concat!(
                select_users!(),
                "WHERE u.tenant_id = $1 AND u.phone_number = $3"
            ),
            Self::Username(_) => concat!(
                select_users!(),
                "WHERE u.tenant_id = $1 AND u.username_normalized = $3"
            ),
            Self::ExternalUserId(_) => concat!(
                select_users!(),
                "WHERE u.tenant_id = $1 AND u.external_user_id = $3"
            ),
            Self::IdpIdentifier(_) => concat!(
                select_users!(),
                "WHERE u.tenant_id = $1
                   AND u.identities @> jsonb_build_array(jsonb_build_object('identifier', $3::text))
                 ORDER BY u.created_at, u.user_id LIMIT 1"
            ),
        }
    }

    fn value(&self) -> &str {
        match *self {
            Self::Id(v)
            | Self::Email(v)
            | Self::Phone(v)
            | Self::Username(v)
            | Self::ExternalUserId(v)
            | Self::IdpIdentifier(v) => v,
        }
    }
}

pub async fn find(
    conn: &mut PgConnection,
    viewer: Viewer<'_>,
    lookup: Lookup<'_>,
) -> Result<UserRow, StoreError> {
    sqlx::query_as(lookup.sql())
        .bind(viewer.tenant_id)
        .bind(viewer.app_id)
        .bind(lookup.value())
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Reads a user and locks its row until the transaction ends, so that
/// concurrent updates apply one after the other and none is lost.
pub async fn lock(
    conn: &mut PgConnection,
    viewer: Viewer<'_>,
    user_id: &str,
) -> Result<UserRow, StoreError> {
    sqlx::query_as(concat!(
        select_users!(),
        "WHERE u.tenant_id = $1 AND u.user_id = $3 FOR NO KEY UPDATE OF u"
    ))
    .bind(viewer.tenant_id)
    .bind(viewer.app_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// A password as stored: a PHC string and whether it must be replaced.
pub struct PasswordHash<'a> {
    pub phc: &'a str,
    pub temporary: bool,
}

pub struct NewUser<'a> {
    pub tenant_id: &'a str,
    pub user_id: &'a str,
    pub profile: &'a Profile,
    pub delegated_access: Option<&'a Value>,
    pub password: Option<PasswordHash<'a>>,
}

/// Inserts a user and returns it as read, not yet associated with any
/// application (one round trip: creating is the hot write path).
/// Identifier collisions come back as [`StoreError::Conflict`] naming the
/// unique index (`users_email_key`, ...).
pub async fn insert(conn: &mut PgConnection, user: NewUser<'_>) -> Result<UserRow, StoreError> {
    let p = user.profile;
    let query = sqlx::query(
        "INSERT INTO users (tenant_id, user_id, email, email_normalized, email_verified_at,
                            phone_number, phone_verified_at, secondary_emails,
                            secondary_phone_numbers, username, username_normalized,
                            external_user_id, name, address, birthday, picture, language,
                            custom_data, delegated_access, status, password_hash,
                            password_temporary, password_updated_at, created_at, updated_at)
         VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $22, $10, $11, $12, $13, $14, $15,
                 $16, $17, $18, $19, $20, CASE WHEN $19::text IS NULL THEN NULL ELSE $21 END,
                 $21, $21)
         RETURNING user_id, email, email_verified_at, phone_number, phone_verified_at,
                   username, external_user_id, secondary_emails, secondary_phone_numbers,
                   name, address, birthday, picture, language, custom_data, identities,
                   status, status_changed_at, last_auth, created_at, updated_at,
                   password_temporary, password_updated_at,
                   NULL::text AS app_name, NULL::text AS external_account_id,
                   NULL::jsonb AS custom_app_data, ARRAY[]::text[] AS group_ids",
    )
    .bind(user.tenant_id)
    .bind(user.user_id);
    bind_profile(query, p)
        .bind(user.delegated_access.map(Json))
        .bind(p.status.as_str())
        .bind(user.password.as_ref().map(|h| h.phc))
        .bind(user.password.as_ref().map(|h| h.temporary))
        .bind(now_millis())
        .bind(username_key(p))
        .fetch_one(conn)
        .await
        .map_err(StoreError::from_write)
        .and_then(|row| Ok(sqlx::FromRow::from_row(&row)?))
}

/// Binds the profile columns both writes share, as `$3` to `$16` in the
/// order of [`insert`]'s and [`save`]'s SQL.
fn bind_profile<'q>(
    query: sqlx::query::Query<'q, Postgres, PgArguments>,
    p: &'q Profile,
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    query
        .bind(p.email.as_ref().map(|c| &c.value))
        .bind(p.email.as_ref().and_then(|c| c.verified_at))
        .bind(p.phone_number.as_ref().map(|c| &c.value))
        .bind(p.phone_number.as_ref().and_then(|c| c.verified_at))
        .bind(Json(&p.secondary_emails))
        .bind(Json(&p.secondary_phone_numbers))
        .bind(&p.username)
        .bind(&p.external_user_id)
        .bind(p.name.as_ref().map(Json))
        .bind(p.address.as_ref().map(Json))
        .bind(p.birthday)
        .bind(&p.picture)
        .bind(&p.language)
        .bind(Json(&p.custom_data))
}

/// The compared form of the username, as the API's lookups compute it.
fn username_key(p: &Profile) -> Option<String> {
    p.username
        .as_deref()
        .map(idstore_domain::contact::username_key)
}

/// Wire times are milliseconds; storing them so makes a time read from the
/// API usable as an exact filter value.
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// Writes back a profile changed under [`lock`].
pub async fn save(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    p: &Profile,
) -> Result<(), StoreError> {
    let query = sqlx::query(
        "UPDATE users
            SET email = $3, email_normalized = $3, email_verified_at = $4,
                phone_number = $5, phone_verified_at = $6,
                secondary_emails = $7, secondary_phone_numbers = $8,
                username = $9, username_normalized = $20, external_user_id = $10,
                name = $11, address = $12, birthday = $13, picture = $14, language = $15,
                custom_data = $16, status = $17, status_changed_at = $18,
                version = version + 1, updated_at = $19
          WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant_id)
    .bind(user_id);
    let done = bind_profile(query, p)
        .bind(p.status.as_str())
        .bind(p.status_changed_at)
        .bind(now_millis())
        .bind(username_key(p))
        .execute(conn)
        .await
        .map_err(StoreError::from_write)?;
    one_row(done)
}

/// A change to an application's data on a user.
pub struct AppData<'a> {
    /// Replaces the stored one when given.
    pub external_account_id: Option<&'a str>,
    /// Shallow-merged into the stored `custom_app_data`; `null` deletes a key.
    pub custom_app_data: &'a Map<String, Value>,
}

/// Associates the user with the application (if it isn't yet) and applies
/// `data`. The merge happens in the statement itself, on the row as it is
/// when the statement runs, so concurrent changes never overwrite each other.
/// Returns the size of the merged `custom_app_data` in bytes, for the caller
/// to hold against its limit (and roll back beyond it).
pub async fn put_app_data(
    conn: &mut PgConnection,
    tenant_id: &str,
    app_id: &str,
    user_id: &str,
    data: AppData<'_>,
) -> Result<i32, StoreError> {
    let (set, delete): (Map<String, Value>, Vec<&String>) = {
        let set = data
            .custom_app_data
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let delete = data
            .custom_app_data
            .iter()
            .filter(|(_, v)| v.is_null())
            .map(|(k, _)| k)
            .collect();
        (set, delete)
    };
    sqlx::query_as::<_, (i32,)>(
        "INSERT INTO user_apps (tenant_id, app_id, user_id, external_account_id, custom_app_data,
                                created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $7, $7)
         ON CONFLICT (tenant_id, app_id, user_id) DO UPDATE
            SET external_account_id = COALESCE(EXCLUDED.external_account_id,
                                               user_apps.external_account_id),
                custom_app_data = (user_apps.custom_app_data || EXCLUDED.custom_app_data) - $6::text[],
                updated_at = EXCLUDED.updated_at
         RETURNING octet_length(custom_app_data::text)",
    )
    .bind(tenant_id)
    .bind(app_id)
    .bind(user_id)
    .bind(data.external_account_id)
    .bind(Json(&set))
    .bind(delete)
    .bind(now_millis())
    .fetch_one(conn)
    .await
    .map_err(StoreError::from_write)
    .map(|(size,)| size)
}

/// Marks the user as updated now (its application data changed).
pub async fn touch(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
) -> Result<(), StoreError> {
    one_row(
        sqlx::query(
            "UPDATE users SET updated_at = $3, version = version + 1
              WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(now_millis())
        .execute(conn)
        .await?,
    )
}

/// Ends the user's association with one application, and that
/// application's data on it.
pub async fn remove_from_app(
    pool: &PgPool,
    tenant_id: &str,
    app_id: &str,
    user_id: &str,
) -> Result<(), StoreError> {
    one_row(
        sqlx::query("DELETE FROM user_apps WHERE tenant_id = $1 AND app_id = $2 AND user_id = $3")
            .bind(tenant_id)
            .bind(app_id)
            .bind(user_id)
            .execute(pool)
            .await?,
    )
}

/// Deletes the user and, through the foreign keys' cascades, every row
/// that refers to it (application data, group memberships), in the one
/// statement's transaction; its identifiers are free again afterwards.
pub async fn delete(pool: &PgPool, tenant_id: &str, user_id: &str) -> Result<(), StoreError> {
    one_row(
        sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant_id)
            .bind(user_id)
            .execute(pool)
            .await?,
    )
}

/// Which users a list or count covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Every user of the tenant (admin tokens).
    Tenant,
    /// Users associated with the viewer's application (client tokens).
    App,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Email,
    CreatedAt,
    PhoneNumber,
    LastAuth,
}

impl SortField {
    fn column(self) -> &'static str {
        match self {
            Self::Email => "u.email_normalized",
            Self::CreatedAt => "u.created_at",
            Self::PhoneNumber => "u.phone_number",
            Self::LastAuth => "u.last_auth",
        }
    }
}

/// What to list: the conditions (all optional) and the page.
#[derive(Debug, Clone, Copy)]
pub struct Search<'a> {
    pub visibility: Visibility,
    pub filter: Option<&'a Filter>,
    /// Matches the start of the primary email or phone number.
    pub prefix: Option<&'a str>,
}

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub sort: SortField,
    pub descending: bool,
    pub offset: i64,
    pub limit: i64,
}

/// Appends the WHERE of a search to a query over `users u` joined to the
/// viewer's `user_apps ua`.
fn push_conditions(qb: &mut QueryBuilder<Postgres>, search: &Search<'_>) -> Result<(), StoreError> {
    if search.visibility == Visibility::App {
        qb.push("WHERE ua.app_id IS NOT NULL AND u.tenant_id = $1");
    } else {
        qb.push("WHERE u.tenant_id = $1");
    }
    if let Some(prefix) = search.prefix {
        let pattern = user_filter::like_prefix(&prefix.to_lowercase());
        qb.push(" AND (u.email_normalized LIKE ");
        qb.push_bind(pattern.clone());
        qb.push(" OR u.phone_number LIKE ");
        qb.push_bind(pattern);
        qb.push(")");
    }
    if let Some(filter) = search.filter {
        qb.push(" AND ");
        user_filter::push_filter(qb, filter).map_err(|e| StoreError::Invalid(e.0))?;
    }
    Ok(())
}

/// A query whose static head uses `$1` (tenant) and `$2` (viewer's
/// application), as [`select_users!`] does; pushed binds number from `$3`.
fn builder(head: &'static str, viewer: Viewer<'_>) -> Result<QueryBuilder<Postgres>, StoreError> {
    let mut args = PgArguments::default();
    args.add(viewer.tenant_id)
        .and_then(|()| args.add(viewer.app_id))
        .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?;
    Ok(QueryBuilder::with_arguments(head, args))
}

pub async fn count(
    pool: &PgPool,
    viewer: Viewer<'_>,
    search: &Search<'_>,
) -> Result<i64, StoreError> {
    let mut conn = pool.acquire().await?;
    count_with(&mut conn, viewer, search).await
}

async fn count_with(
    conn: &mut PgConnection,
    viewer: Viewer<'_>,
    search: &Search<'_>,
) -> Result<i64, StoreError> {
    let mut qb = builder(
        "SELECT count(*) FROM users u
           LEFT JOIN user_apps ua
                  ON ua.tenant_id = u.tenant_id AND ua.user_id = u.user_id AND ua.app_id = $2 ",
        viewer,
    )?;
    push_conditions(&mut qb, search)?;
    Ok(qb.build_query_scalar().fetch_one(conn).await?)
}

/// The total and one page of a search, read in one snapshot so that the
/// two agree however many writes run meanwhile. The page is in the page's
/// order with `user_id` breaking ties.
pub async fn search_page(
    pool: &PgPool,
    viewer: Viewer<'_>,
    search: &Search<'_>,
    page: Page,
) -> Result<(i64, Vec<UserRow>), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let total = count_with(&mut tx, viewer, search).await?;
    let mut qb = builder(select_users!(), viewer)?;
    push_conditions(&mut qb, search)?;
    let direction = if page.descending { " DESC" } else { " ASC" };
    qb.push(" ORDER BY ");
    qb.push(page.sort.column());
    qb.push(direction);
    qb.push(", u.user_id");
    qb.push(direction);
    qb.push(" LIMIT ");
    qb.push_bind(page.limit);
    qb.push(" OFFSET ");
    qb.push_bind(page.offset);
    let rows = qb.build_query_as().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok((total, rows))
}
