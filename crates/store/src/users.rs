//! Users, and their association with applications. Every query takes the
//! caller's [`Scope`]: it names the tenant, the application whose data on
//! the user (`user_apps`) comes along, and how far the caller reaches.
//! Functions of one statement take any executor; those of several own
//! their transaction.

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::TryStreamExt;
use idstore_domain::contact::{Email, Phone, Username};
use idstore_domain::filter::Filter;
use idstore_domain::scope::{Reach, Scope};
use idstore_domain::user::{Address, Contact, MAX_CUSTOM_DATA_BYTES, Name, Profile, Status};
use serde_json::{Map, Value};
use sqlx::postgres::PgArguments;
use sqlx::types::Json;
use sqlx::{Arguments, PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder, Row};

use crate::audit::{self, Action, Actor, Event, audited, audited_delete};
use crate::error::Entity;
use crate::revocations::{self, Cut};
use crate::{StoreError, keyed, tenancy};
use crate::{credentials, user_filter};

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
    pub secondary_emails: Json<Vec<Contact<Email>>>,
    pub secondary_phone_numbers: Json<Vec<Contact<Phone>>>,
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
            email: contact(&self.email, self.email_verified_at, Email::from_storage),
            phone_number: contact(
                &self.phone_number,
                self.phone_verified_at,
                Phone::from_storage,
            ),
            secondary_emails: self.secondary_emails.0.clone(),
            secondary_phone_numbers: self.secondary_phone_numbers.0.clone(),
            username: self.username.clone().map(Username::from_storage),
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

fn contact<T>(
    value: &Option<String>,
    verified_at: Option<DateTime<Utc>>,
    from_storage: fn(String) -> T,
) -> Option<Contact<T>> {
    value.as_ref().map(|v| Contact {
        value: from_storage(v.clone()),
        verified_at,
    })
}

/// The user columns and the caller's app view; `$1` is the tenant, `$2`
/// the caller's application.
macro_rules! select_users {
    () => {
        concat!("SELECT ", user_columns!(), users_from!())
    };
}

/// The columns of a [`UserRow`], from [`users_from!`]'s tables.
macro_rules! user_columns {
    () => {
        "u.user_id, u.email, u.email_verified_at, u.phone_number, u.phone_verified_at,
                u.username, u.external_user_id, u.secondary_emails, u.secondary_phone_numbers,
                u.name, u.address, u.birthday, u.picture, u.language, u.custom_data, u.identities,
                u.status,
                u.status_changed_at, u.last_auth, u.created_at, u.updated_at,
                u.password_temporary, u.password_updated_at,
                a.name AS app_name, ua.external_account_id, ua.custom_app_data,
                ARRAY(SELECT gm.group_id FROM group_members gm
                       WHERE gm.tenant_id = u.tenant_id AND gm.user_id = u.user_id
                       ORDER BY gm.group_id) AS group_ids"
    };
}

/// A user with the application `$2`'s data on it.
macro_rules! users_from {
    () => {
        " FROM users u
           LEFT JOIN user_apps ua
                  ON ua.tenant_id = u.tenant_id AND ua.user_id = u.user_id AND ua.app_id = $2
           LEFT JOIN applications a ON a.tenant_id = ua.tenant_id AND a.app_id = ua.app_id "
    };
}

/// The identifiers a single user can be found by.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    Id(&'a str),
    Email(&'a Email),
    Phone(&'a Phone),
    Username(&'a Username),
    ExternalUserId(&'a str),
    /// The identifier of one of the user's identities at a provider.
    IdpIdentifier(&'a str),
}

impl Lookup<'_> {
    /// Appends the lookup's condition; the query's `WHERE` is open.
    pub(crate) fn push(self, qb: &mut QueryBuilder<Postgres>) {
        match self {
            Self::Id(id) => qb.push(" AND u.user_id = ").push_bind(id.to_owned()),
            Self::Email(e) => qb
                .push(" AND u.email_normalized = ")
                .push_bind(e.as_str().to_owned()),
            Self::Phone(p) => qb
                .push(" AND u.phone_number = ")
                .push_bind(p.as_str().to_owned()),
            Self::Username(u) => qb.push(" AND u.username_normalized = ").push_bind(u.key()),
            Self::ExternalUserId(id) => qb
                .push(" AND u.external_user_id = ")
                .push_bind(id.to_owned()),
            Self::IdpIdentifier(id) => qb
                .push(" AND u.identities @> jsonb_build_array(jsonb_build_object('identifier', ")
                .push_bind(id.to_owned())
                .push("::text))"),
        };
    }

    /// What follows every condition: an identity's identifier is not
    /// unique, so the oldest user holding it answers.
    fn tail(self) -> &'static str {
        match self {
            Self::IdpIdentifier(_) => " ORDER BY u.created_at, u.user_id LIMIT 1",
            _ => "",
        }
    }
}

/// Whether a query reads one named user or lists many: an application's
/// client may read any user of its tenant, but lists only its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    One,
    Many,
}

/// A query over `users u` joined to the scope's `user_apps ua`, its
/// `WHERE` opened with the scope's predicate. The static head uses `$1`
/// (tenant) and `$2` (the scope's application), as [`select_users!`]
/// does; pushed binds number from `$3`.
fn scoped(
    head: &'static str,
    scope: &Scope,
    reading: Reading,
) -> Result<QueryBuilder<Postgres>, StoreError> {
    scoped_with(head, scope, reading, None)
}

/// [`scoped`], with `$3` bound to `organization_id` when given (the
/// [`IN_ORGANIZATION`] join refers to it).
fn scoped_with(
    head: &'static str,
    scope: &Scope,
    reading: Reading,
    organization_id: Option<&str>,
) -> Result<QueryBuilder<Postgres>, StoreError> {
    let mut args = PgArguments::default();
    args.add(scope.tenant_id.clone())
        .and_then(|()| args.add(scope.app_id.clone()))
        .and_then(|()| match organization_id {
            Some(org) => args.add(org.to_owned()),
            None => Ok(()),
        })
        .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?;
    let mut qb = QueryBuilder::with_arguments(head, args);
    qb.push("WHERE u.tenant_id = $1");
    match &scope.reach {
        Reach::Tenant => {}
        Reach::App(_) if reading == Reading::One => {}
        Reach::App(_) => {
            qb.push(" AND ua.app_id IS NOT NULL");
        }
        Reach::Me(user_id) => {
            qb.push(" AND u.user_id = ").push_bind(user_id.clone());
        }
        // An organization's admin reaches the members of its organizations.
        Reach::Org { org_ids, .. } => {
            qb.push(
                " AND EXISTS (SELECT 1 FROM organization_members rom
                               WHERE rom.tenant_id = u.tenant_id AND rom.user_id = u.user_id
                                 AND rom.organization_id = ANY(",
            )
            .push_bind(org_ids.clone())
            .push("))");
        }
    }
    Ok(qb)
}

/// Whether a write naming one user may touch it at all: the scope's
/// predicate for a single named user, decided without a query.
fn reaches(scope: &Scope, user_id: &str, missing: Entity) -> Result<(), StoreError> {
    match &scope.reach {
        Reach::Tenant | Reach::App(_) => Ok(()),
        Reach::Me(me) if me == user_id => Ok(()),
        // Organizations arrive with the Members API (see `scoped`).
        Reach::Me(_) | Reach::Org { .. } => Err(StoreError::NotFound(missing)),
    }
}

/// One user, in one statement that confines itself to the scope's tenant
/// (the hot read: no transaction round trips of its own).
#[tracing::instrument(name = "store.users.get", skip_all, fields(db.system.name = "postgresql"))]
pub async fn get(
    executor: impl PgExecutor<'_>,
    scope: &Scope,
    lookup: Lookup<'_>,
) -> Result<UserRow, StoreError> {
    confined(scope, lookup, "")?
        .build_query_as()
        .fetch_optional(executor)
        .await?
        .ok_or(StoreError::NotFound(Entity::User))
}

/// Reads a user and locks its row until the transaction ends, so that
/// concurrent updates apply one after the other and none is lost. The
/// statement confines the transaction to the scope's tenant, for what
/// follows too.
async fn lock(
    conn: &mut PgConnection,
    scope: &Scope,
    user_id: &str,
) -> Result<UserRow, StoreError> {
    confined(scope, Lookup::Id(user_id), " FOR NO KEY UPDATE OF u")?
        .build_query_as()
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound(Entity::User))
}

/// The user `lookup` names, read by a statement that first confines its
/// transaction to the scope's tenant (see [`tenancy`]).
fn confined(
    scope: &Scope,
    lookup: Lookup<'_>,
    locking: &str,
) -> Result<QueryBuilder<Postgres>, StoreError> {
    const HEAD: &str = concat!(tenancy::confined_head!(), select_users!());
    let mut qb = scoped(HEAD, scope, Reading::One)?;
    // The reference to `ctx` makes the body wait for `set_config`.
    qb.push(" AND u.tenant_id = ctx.tenant_id");
    lookup.push(&mut qb);
    qb.push(lookup.tail());
    qb.push(" OFFSET 0");
    qb.push(locking);
    qb.push(") q");
    Ok(qb)
}

/// A password as stored: a PHC string and whether it must be replaced.
pub struct PasswordHash<'a> {
    pub phc: &'a str,
    pub temporary: bool,
}

pub struct NewUser<'a> {
    pub user_id: &'a str,
    pub profile: &'a Profile,
    pub delegated_access: Option<Delegation<'a>>,
    pub password: Option<PasswordHash<'a>>,
}

/// A dependent's delegation (`delegated_access`): another user of the
/// tenant, the actor, may act on its behalf with these permissions.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Delegation<'a> {
    pub actor_id: &'a str,
    pub permissions: &'a [String],
}

/// A change to an application's data on a user.
#[derive(Debug, Default, Clone)]
pub struct AppData {
    /// Replaces the stored one when given.
    pub external_account_id: Option<String>,
    /// Shallow-merged into the stored `custom_app_data`; `null` deletes a key.
    pub custom_app_data: Option<Map<String, Value>>,
}

impl AppData {
    /// Whether it changes nothing. An empty `custom_app_data` changes
    /// nothing either: it must not quietly associate a user with the
    /// caller's application (which would put any user of the tenant in that
    /// application's lists).
    pub fn is_empty(&self) -> bool {
        self.external_account_id.is_none()
            && self.custom_app_data.as_ref().is_none_or(Map::is_empty)
    }

    /// Whether all it does is delete keys: nothing to do for a user not
    /// associated with the application.
    fn only_deletes(&self) -> bool {
        self.external_account_id.is_none()
            && self
                .custom_app_data
                .as_ref()
                .is_none_or(|m| m.values().all(Value::is_null))
    }

    /// The names of the fields it writes (set or deleted), for the audit trail.
    fn changes(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.external_account_id.is_some() {
            names.push("external_account_id".to_owned());
        }
        if let Some(data) = &self.custom_app_data {
            names.extend(audit::key_names("custom_app_data", data.keys()));
        }
        names
    }
}

/// The names of the profile fields that differ between `before` and
/// `after`, for the audit trail: `email` when the address changed,
/// `email.verified` when only its verification did.
fn profile_changes(before: &Profile, after: &Profile) -> Vec<String> {
    // Naming every field here makes a field added to `Profile` a compile
    // error until the trail reports it.
    let Profile {
        email,
        phone_number,
        secondary_emails,
        secondary_phone_numbers,
        username,
        external_user_id,
        name,
        address,
        birthday,
        picture,
        language,
        custom_data,
        status,
        status_changed_at: _, // follows `status`
    } = after;
    let mut names = Vec::new();
    contact_change(&mut names, "email", &before.email, email);
    contact_change(
        &mut names,
        "phone_number",
        &before.phone_number,
        phone_number,
    );
    let mut whole = |changed: bool, field: &str| {
        if changed {
            names.push(field.to_owned());
        }
    };
    whole(
        &before.secondary_emails != secondary_emails,
        "secondary_emails",
    );
    whole(
        &before.secondary_phone_numbers != secondary_phone_numbers,
        "secondary_phone_numbers",
    );
    whole(&before.username != username, "username");
    whole(
        &before.external_user_id != external_user_id,
        "external_user_id",
    );
    whole(&before.name != name, "name");
    whole(&before.address != address, "address");
    whole(&before.birthday != birthday, "birthday");
    whole(&before.picture != picture, "picture");
    whole(&before.language != language, "language");
    whole(&before.status != status, "status");
    names.extend(audit::changed_keys(
        "custom_data",
        &before.custom_data,
        custom_data,
    ));
    names
}

fn contact_change<T: PartialEq>(
    names: &mut Vec<String>,
    field: &str,
    before: &Option<Contact<T>>,
    after: &Option<Contact<T>>,
) {
    match (before, after) {
        (None, None) => {}
        (Some(b), Some(a)) if b.value == a.value => {
            if b.verified_at != a.verified_at {
                names.push(format!("{field}.verified"));
            }
        }
        _ => names.push(field.to_owned()),
    }
}

/// Creates a user, recording `actor`'s event with it. Created through an
/// application's client, the user is associated with that application;
/// through an admin token only when the request writes application data
/// (which then belongs to the management application). Identifier
/// collisions are [`StoreError::Conflict`].
#[tracing::instrument(name = "store.users.create", skip_all, fields(db.system.name = "postgresql"))]
pub async fn create(
    pool: &PgPool,
    scope: &Scope,
    user: NewUser<'_>,
    app: AppData,
    actor: &Actor,
) -> Result<UserRow, StoreError> {
    let (associate, event) = creation(scope, &user, &app, actor);
    if !associate && user.delegated_access.is_none() && user.password.is_none() {
        // One statement, atomic by itself, its event included: no
        // transaction round trips on the hot write path.
        return insert(pool, &scope.tenant_id, user, &event).await;
    }
    let mut tx = tenancy::begin(pool, &scope.tenant_id).await?;
    let row = create_with(&mut tx, scope, user, app, associate, &event).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(row)
}

/// [`create`] in the caller's transaction, with `refs` added to the event
/// (what else the request did: the organization it joined the user to).
pub async fn create_in(
    conn: &mut PgConnection,
    scope: &Scope,
    user: NewUser<'_>,
    app: AppData,
    actor: &Actor,
    refs: serde_json::Value,
) -> Result<UserRow, StoreError> {
    let (associate, event) = creation(scope, &user, &app, actor);
    create_with(conn, scope, user, app, associate, &event.refs(refs)).await
}

/// Whether a new user is associated with the caller's application (made
/// through one of its clients, or given application data), and the
/// creation's event naming what it sets.
fn creation<'a>(
    scope: &'a Scope,
    user: &NewUser<'a>,
    app: &AppData,
    actor: &'a Actor,
) -> (bool, Event<'a>) {
    let associate = matches!(scope.reach, Reach::App(_)) || !app.is_empty();
    let mut changed = profile_changes(&Profile::empty(), user.profile);
    if user.password.is_some() {
        changed.push("credentials".to_owned());
    }
    if user.delegated_access.is_some() {
        changed.push("delegated_access".to_owned());
    }
    if associate {
        changed.extend(app.changes());
    }
    let event =
        Event::new(&scope.tenant_id, actor, Action::UserCreate, user.user_id).changed(changed);
    (associate, event)
}

/// Inserts the user, its password history, its application data and
/// `event` in `conn`'s transaction.
async fn create_with(
    conn: &mut PgConnection,
    scope: &Scope,
    user: NewUser<'_>,
    app: AppData,
    associate: bool,
    event: &Event<'_>,
) -> Result<UserRow, StoreError> {
    let user_id = user.user_id;
    if let Some(delegation) = user.delegated_access {
        lock_actor(conn, &scope.tenant_id, delegation.actor_id).await?;
    }
    let password = user.password.as_ref().map(|h| h.phc.to_owned());
    insert(&mut *conn, &scope.tenant_id, user, event).await?;
    if let Some(phc) = password {
        credentials::remember(conn, &scope.tenant_id, user_id, &phc).await?;
    }
    if associate {
        put_app_data_checked(conn, scope, user_id, app).await?;
    }
    get(&mut *conn, scope, Lookup::Id(user_id)).await
}

/// The users of `user_ids` the scope reaches, in no particular order
/// (one statement, whatever their number).
#[tracing::instrument(name = "store.users.get_many", skip_all, fields(db.system.name = "postgresql"))]
pub async fn get_many(
    executor: impl PgExecutor<'_>,
    scope: &Scope,
    user_ids: &[String],
) -> Result<Vec<UserRow>, StoreError> {
    let mut qb = scoped(select_users!(), scope, Reading::One)?;
    qb.push(" AND u.user_id = ANY(")
        .push_bind(user_ids.to_vec())
        .push(")");
    Ok(qb.build_query_as().fetch_all(executor).await?)
}

/// Holds the actor a new dependent names until the transaction ends, so
/// that deleting it (which clears its dependents' delegations) waits for
/// the dependent to exist. [`StoreError::Invalid`] when the tenant has no
/// such user.
async fn lock_actor(
    conn: &mut PgConnection,
    tenant_id: &str,
    actor_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("SELECT 1 FROM users WHERE tenant_id = $1 AND user_id = $2 FOR KEY SHARE")
        .bind(tenant_id)
        .bind(actor_id)
        .fetch_optional(conn)
        .await?
        .map(drop)
        .ok_or_else(|| {
            StoreError::Invalid(
                "delegated_access.actor_id names no user of this tenant; create the actor first"
                    .into(),
            )
        })
}

/// Inserts a user and `event` and returns the user as read, not yet
/// associated with any application (one round trip).
async fn insert(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    user: NewUser<'_>,
    event: &Event<'_>,
) -> Result<UserRow, StoreError> {
    const SQL: &str = concat!(
        audited!(
            "INSERT INTO users (tenant_id, user_id, email, email_normalized, email_verified_at,
                                phone_number, phone_verified_at, secondary_emails,
                                secondary_phone_numbers, username, username_normalized,
                                external_user_id, name, address, birthday, picture, language,
                                custom_data, delegated_access, status, password_hash,
                                password_temporary, password_updated_at, created_at, updated_at)
             VALUES (set_config('idstore.tenant_id', $1, true), $2, $3, $3, $4, $5, $6, $7, $8, $9, $22, $10, $11, $12, $13, $14, $15,
                     $16, $17, $18, $19, $20, CASE WHEN $19::text IS NULL THEN NULL ELSE $21 END,
                     $21, $21)
             RETURNING user_id, email, email_verified_at, phone_number, phone_verified_at,
                       username, external_user_id, secondary_emails, secondary_phone_numbers,
                       name, address, birthday, picture, language, custom_data, identities,
                       status, status_changed_at, last_auth, created_at, updated_at,
                       password_temporary, password_updated_at,
                       NULL::text AS app_name, NULL::text AS external_account_id,
                       NULL::jsonb AS custom_app_data, ARRAY[]::text[] AS group_ids",
            "$23"
        ),
        "SELECT * FROM done"
    );
    let p = user.profile;
    let query = sqlx::query(SQL).bind(tenant_id).bind(user.user_id);
    let row = bind_profile(query, p)
        .bind(user.delegated_access.map(Json))
        .bind(p.status.as_str())
        .bind(user.password.as_ref().map(|h| h.phc))
        .bind(user.password.as_ref().map(|h| h.temporary))
        .bind(now_millis())
        .bind(username_key(p))
        .bind(event.param())
        .fetch_one(executor)
        .await?;
    Ok(sqlx::FromRow::from_row(&row)?)
}

/// Binds the profile columns both writes share, as `$3` to `$16` in the
/// order of [`insert`]'s and [`save`]'s SQL.
fn bind_profile<'q>(
    query: sqlx::query::Query<'q, Postgres, PgArguments>,
    p: &'q Profile,
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    query
        .bind(p.email.as_ref().map(|c| c.value.as_str()))
        .bind(p.email.as_ref().and_then(|c| c.verified_at))
        .bind(p.phone_number.as_ref().map(|c| c.value.as_str()))
        .bind(p.phone_number.as_ref().and_then(|c| c.verified_at))
        .bind(Json(&p.secondary_emails))
        .bind(Json(&p.secondary_phone_numbers))
        .bind(p.username.as_ref().map(Username::as_str))
        .bind(&p.external_user_id)
        .bind(p.name.as_ref().map(Json))
        .bind(p.address.as_ref().map(Json))
        .bind(p.birthday)
        .bind(&p.picture)
        .bind(&p.language)
        .bind(Json(&p.custom_data))
}

/// The compared form of the username.
fn username_key(p: &Profile) -> Option<String> {
    p.username.as_ref().map(Username::key)
}

/// Wire times are milliseconds; storing them so makes a time read from the
/// API usable as an exact filter value.
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// Changes a user: locks its row, lets `change` edit its profile (it may
/// refuse with its own error), saves the profile when it changed, applies
/// `app` to the scope's application's data on the user, records `actor`'s
/// `action` naming the fields that changed (nothing when nothing did), and
/// returns the user as it is afterwards. All in one transaction, so
/// concurrent changes apply one after the other and a refused change
/// writes nothing, its event included.
#[tracing::instrument(name = "store.users.update", skip_all, fields(db.system.name = "postgresql"))]
pub async fn update<E: From<StoreError>>(
    pool: &PgPool,
    scope: &Scope,
    user_id: &str,
    change: impl FnOnce(&UserRow, &mut Profile) -> Result<(), E>,
    app: AppData,
    (actor, action): (&Actor, Action),
) -> Result<UserRow, E> {
    // `lock`, the first statement, confines the transaction to the tenant.
    let mut tx = pool.begin().await.map_err(StoreError::from)?;
    let current = lock(&mut tx, scope, user_id).await?;
    let before = current.profile();
    let mut profile = before.clone();
    change(&current, &mut profile)?;
    let associated = current.app_name.is_some();
    let writes_app = !app.is_empty() && (associated || !app.only_deletes());
    let mut changed = profile_changes(&before, &profile);
    if writes_app {
        changed.extend(app.changes());
    }
    let event = Event::new(&scope.tenant_id, actor, action, user_id).changed(changed);
    // The event rides on the first write, so recording it costs no round
    // trip of its own.
    let saved = profile != before;
    if saved {
        save(&mut tx, &scope.tenant_id, user_id, &profile, &event).await?;
    }
    if profile.status != before.status && profile.status != Status::Active {
        // A disabled (or pending) user is signed out everywhere.
        revocations::revoke_user(&mut *tx, &scope.tenant_id, user_id, Cut::Inclusive).await?;
    }
    if writes_app {
        put_app_data_checked(&mut tx, scope, user_id, app).await?;
        let event = (!saved).then_some(&event);
        touch(&mut *tx, &scope.tenant_id, user_id, event).await?;
    }
    let user = get(&mut *tx, scope, Lookup::Id(user_id)).await?;
    tx.commit().await.map_err(StoreError::commit)?;
    Ok(user)
}

/// Writes back a profile changed under [`lock`], and `event`.
async fn save(
    conn: &mut PgConnection,
    tenant_id: &str,
    user_id: &str,
    p: &Profile,
    event: &Event<'_>,
) -> Result<(), StoreError> {
    const SQL: &str = concat!(
        audited!(
            "UPDATE users
                SET email = $3, email_normalized = $3, email_verified_at = $4,
                    phone_number = $5, phone_verified_at = $6,
                    secondary_emails = $7, secondary_phone_numbers = $8,
                    username = $9, username_normalized = $20, external_user_id = $10,
                    name = $11, address = $12, birthday = $13, picture = $14, language = $15,
                    custom_data = $16, status = $17, status_changed_at = $18,
                    version = version + 1, updated_at = $19
              WHERE tenant_id = $1 AND user_id = $2
              RETURNING 1",
            "$21"
        ),
        "SELECT count(*) FROM done"
    );
    let query = sqlx::query(SQL).bind(tenant_id).bind(user_id);
    let saved: i64 = bind_profile(query, p)
        .bind(p.status.as_str())
        .bind(p.status_changed_at)
        .bind(now_millis())
        .bind(username_key(p))
        .bind(event.param())
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    if saved == 0 {
        return Err(StoreError::NotFound(Entity::User));
    }
    Ok(())
}

/// [`put_app_data`], refusing (and so rolling back with the caller's
/// transaction) a merge that grows `custom_app_data` past its limit.
async fn put_app_data_checked(
    conn: &mut PgConnection,
    scope: &Scope,
    user_id: &str,
    app: AppData,
) -> Result<(), StoreError> {
    let size = put_app_data(conn, scope, user_id, app).await?;
    if size as usize > MAX_CUSTOM_DATA_BYTES {
        return Err(StoreError::Invalid(format!(
            "custom_app_data would be {size} bytes after this update; the limit is {MAX_CUSTOM_DATA_BYTES}"
        )));
    }
    Ok(())
}

/// Associates the user with the scope's application (if it isn't yet) and
/// applies `data`. The merge happens in the statement itself, on the row as
/// it is when the statement runs, so concurrent changes never overwrite
/// each other. Returns the size of the merged `custom_app_data` in bytes.
async fn put_app_data(
    conn: &mut PgConnection,
    scope: &Scope,
    user_id: &str,
    data: AppData,
) -> Result<i32, StoreError> {
    let changes = data.custom_app_data.unwrap_or_default();
    let delete: Vec<&String> = changes
        .iter()
        .filter(|(_, v)| v.is_null())
        .map(|(k, _)| k)
        .collect();
    let set: Map<String, Value> = changes
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (size,): (i32,) = sqlx::query_as(
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
    .bind(&scope.tenant_id)
    .bind(&scope.app_id)
    .bind(user_id)
    .bind(data.external_account_id)
    .bind(Json(&set))
    .bind(delete)
    .bind(now_millis())
    .fetch_one(conn)
    .await?;
    Ok(size)
}

/// Marks the user as updated now (its application data changed), and
/// records `event` when given (the update's first write).
async fn touch(
    executor: impl PgExecutor<'_>,
    tenant_id: &str,
    user_id: &str,
    event: Option<&Event<'_>>,
) -> Result<(), StoreError> {
    macro_rules! touch_user {
        () => {
            "UPDATE users SET updated_at = $3, version = version + 1
              WHERE tenant_id = $1 AND user_id = $2 RETURNING 1"
        };
    }
    const PLAIN: &str = concat!(
        "WITH done AS (",
        touch_user!(),
        ") SELECT count(*) FROM done"
    );
    const AUDITED: &str = concat!(audited!(touch_user!(), "$4"), "SELECT count(*) FROM done");
    let query = sqlx::query_scalar(if event.is_some() { AUDITED } else { PLAIN })
        .bind(tenant_id)
        .bind(user_id)
        .bind(now_millis());
    let query = match event {
        Some(event) => query.bind(event.param()),
        None => query,
    };
    let touched: i64 = query.fetch_one(executor).await?;
    if touched == 0 {
        return Err(StoreError::NotFound(Entity::User));
    }
    Ok(())
}

/// Ends the user's association with the scope's application, and that
/// application's data on it, recording `actor`'s event in the same statement.
#[tracing::instrument(name = "store.users.remove_from_app", skip_all, fields(db.system.name = "postgresql"))]
pub async fn remove_from_app(
    executor: impl PgExecutor<'_>,
    scope: &Scope,
    user_id: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    reaches(scope, user_id, Entity::AppUser)?;
    const SQL: &str = audited_delete!(
        "DELETE FROM user_apps WHERE tenant_id = $1 AND app_id = $2 AND user_id = $3",
        "$4"
    );
    let keys = [scope.tenant_id.as_str(), scope.app_id.as_str(), user_id];
    let event = Event::new(&scope.tenant_id, actor, Action::UserAppRemove, user_id)
        .changed(vec!["custom_app_data".into(), "external_account_id".into()])
        .refs(serde_json::json!({ "app_id": scope.app_id }));
    keyed::delete_audited(executor, SQL, &keys, Entity::AppUser, &event).await
}

/// Deletes the user and, through the foreign keys' cascades, every row
/// that refers to it (application data, group memberships), and ends the
/// delegations of the users it was the actor of, recording `actor`'s
/// event, in one transaction; its identifiers are free again afterwards.
#[tracing::instrument(name = "store.users.delete", skip_all, fields(db.system.name = "postgresql"))]
pub async fn delete(
    pool: &PgPool,
    scope: &Scope,
    user_id: &str,
    actor: &Actor,
) -> Result<(), StoreError> {
    reaches(scope, user_id, Entity::User)?;
    let mut tx = tenancy::begin(pool, &scope.tenant_id).await?;
    // Locked first, so that a dependent being created with this actor
    // (which key-share locks it) is committed before its delegation is
    // looked for below.
    sqlx::query("SELECT 1 FROM users WHERE tenant_id = $1 AND user_id = $2 FOR UPDATE")
        .bind(&scope.tenant_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound(Entity::User))?;
    sqlx::query(
        "UPDATE users SET delegated_access = NULL, updated_at = $3, version = version + 1
          WHERE tenant_id = $1 AND delegated_access IS NOT NULL
            AND delegated_access ->> 'actor_id' = $2",
    )
    .bind(&scope.tenant_id)
    .bind(user_id)
    .bind(now_millis())
    .execute(&mut *tx)
    .await?;
    const SQL: &str = "DELETE FROM users WHERE tenant_id = $1 AND user_id = $2";
    keyed::delete(&mut *tx, SQL, &[&scope.tenant_id, user_id], Entity::User).await?;
    revocations::revoke_user(&mut *tx, &scope.tenant_id, user_id, Cut::Inclusive).await?;
    let event = Event::new(&scope.tenant_id, actor, Action::UserDelete, user_id);
    audit::record(&mut *tx, &event).await?;
    tx.commit().await.map_err(StoreError::commit)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Email,
    CreatedAt,
    PhoneNumber,
    LastAuth,
    /// When the user joined the organization the search is confined to.
    OrganizationAddedAt,
}

impl SortField {
    fn column(self) -> &'static str {
        match self {
            Self::Email => "u.email_normalized",
            Self::CreatedAt => "u.created_at",
            Self::PhoneNumber => "u.phone_number",
            Self::LastAuth => "u.last_auth",
            Self::OrganizationAddedAt => "om.added_at",
        }
    }

    /// The same order (NULLs and collation included) as an expression no
    /// index provides, so that PostgreSQL cannot walk the sort order's
    /// index and must find the matches through the search's own indexes.
    fn unindexed(self) -> &'static str {
        match self {
            Self::Email => "(u.email_normalized || '')",
            Self::CreatedAt => "(u.created_at + interval '0 s')",
            Self::PhoneNumber => "(u.phone_number || '')",
            Self::LastAuth => "(u.last_auth + interval '0 s')",
            Self::OrganizationAddedAt => "(om.added_at + interval '0 s')",
        }
    }
}

/// A search matching at most this many users sorts its matches rather than
/// walking the sort order's index (see `page_query`): sorting 10 000 rows
/// takes milliseconds.
pub const SORT_MATCHES_UP_TO: i64 = 10_000;

/// What to list: the conditions (all optional) and the page.
#[derive(Debug, Clone, Copy, Default)]
pub struct Search<'a> {
    pub filter: Option<&'a Filter>,
    /// Matches the start of the primary email or phone number.
    pub prefix: Option<&'a str>,
    /// Only the members of this organization.
    pub organization_id: Option<&'a str>,
}

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub sort: SortField,
    pub descending: bool,
    pub offset: i64,
    pub limit: i64,
}

/// What a head selecting from `users u` adds to keep the members of the
/// organization bound to `$3`, as `om` (its `added_at` sorts them).
macro_rules! in_organization {
    () => {
        " JOIN organization_members om
               ON om.tenant_id = u.tenant_id AND om.user_id = u.user_id AND om.organization_id = $3 "
    };
}

/// A user read with its membership of one organization (`om_*`).
#[derive(Debug, sqlx::FromRow)]
pub struct MemberRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub om_enabled: bool,
    pub om_department: Option<String>,
    pub om_title: Option<String>,
    pub om_manager: Option<String>,
    pub om_added_at: chrono::DateTime<chrono::Utc>,
    pub om_role_ids: Vec<String>,
}

/// The member `user_id` of the organization, when the scope reaches both,
/// in one statement that first confines its transaction to the scope's
/// tenant (as [`get`] reads a user): `None` when there is no such member
/// (which of the two is missing is for the caller to find out).
#[tracing::instrument(name = "store.users.get_member", skip_all, fields(db.system.name = "postgresql"))]
pub async fn get_member(
    executor: impl PgExecutor<'_>,
    scope: &Scope,
    organization_id: &str,
    user_id: &str,
) -> Result<Option<MemberRow>, StoreError> {
    // The membership is read from the row `in_organization!` joins: a
    // second lateral over it was planned with the tenant setting still
    // unset (estimated as matching nothing) and could scan the tenant's
    // memberships (20 ms at 100k members instead of 0.1).
    const HEAD: &str = concat!(
        crate::tenancy::confined_head!(),
        "SELECT ",
        user_columns!(),
        ", om.enabled AS om_enabled, om.department AS om_department,
           om.title AS om_title, om.manager AS om_manager, om.added_at AS om_added_at,
           ARRAY(SELECT mr.role_id FROM member_roles mr
                  WHERE mr.tenant_id = om.tenant_id AND mr.organization_id = om.organization_id
                    AND mr.user_id = om.user_id AND",
        crate::role_groups::backed!(),
        "ORDER BY mr.app_id, mr.role_id) AS om_role_ids",
        users_from!(),
        in_organization!()
    );
    let mut qb = scoped_with(HEAD, scope, Reading::One, Some(organization_id))?;
    // The references to `ctx` make each part wait for `set_config`.
    qb.push(" AND u.tenant_id = ctx.tenant_id AND u.user_id = ")
        .push_bind(user_id.to_owned());
    // The membership's key proves the organization; only a narrower reach
    // asks more of it.
    if !matches!(scope.reach, Reach::Tenant) {
        qb.push(
            " AND EXISTS (SELECT 1 FROM organizations o
                           WHERE o.tenant_id = u.tenant_id AND o.organization_id = $3",
        );
        crate::organizations::reach(&mut qb, scope);
        qb.push(")");
    }
    qb.push(" OFFSET 0) q");
    Ok(qb.build_query_as().fetch_optional(executor).await?)
}

/// [`members_only`]'s page in the order members joined: the page's
/// members are picked from `organization_members` (an index-only walk past
/// the offset) and only their users read, rather than building every
/// skipped user's row. `in_org_head` is the caller's head for searches in
/// an organization: its prefix (`DECLARE ...`, `EXPLAIN `) is kept.
fn members_page(
    in_org_head: &'static str,
    scope: &Scope,
    organization_id: &str,
    page: Page,
) -> QueryBuilder<Postgres> {
    let prefix = in_org_head
        .strip_suffix(concat!(select_users!(), in_organization!()))
        .unwrap_or("");
    let direction = if page.descending { " DESC" } else { " ASC" };
    let mut qb = QueryBuilder::new(prefix);
    qb.push(concat!(
        "SELECT ",
        user_columns!(),
        " FROM (SELECT om.tenant_id, om.user_id, om.added_at FROM organization_members om
                 WHERE om.tenant_id = "
    ))
    .push_bind(scope.tenant_id.clone())
    .push(" AND om.organization_id = ")
    .push_bind(organization_id.to_owned());
    qb.push(" ORDER BY om.added_at")
        .push(direction)
        .push(", om.user_id")
        .push(direction)
        .push(" LIMIT ")
        .push_bind(page.limit)
        .push(" OFFSET ")
        .push_bind(page.offset);
    qb.push(
        ") om
         JOIN users u ON u.tenant_id = om.tenant_id AND u.user_id = om.user_id
         LEFT JOIN user_apps ua ON ua.tenant_id = u.tenant_id AND ua.user_id = u.user_id
                               AND ua.app_id = ",
    )
    .push_bind(scope.app_id.clone())
    .push(
        " LEFT JOIN applications a ON a.tenant_id = ua.tenant_id AND a.app_id = ua.app_id
         WHERE u.tenant_id = ",
    )
    .push_bind(scope.tenant_id.clone());
    qb.push(" ORDER BY om.added_at")
        .push(direction)
        .push(", u.user_id")
        .push(direction);
    qb
}

/// A scoped query with the search's conditions appended; `head` selects
/// from the users, `in_org` the same with [`in_organization!`] joined.
fn searching(
    (head, in_org): (&'static str, &'static str),
    scope: &Scope,
    search: &Search<'_>,
) -> Result<QueryBuilder<Postgres>, StoreError> {
    let mut qb = match search.organization_id {
        None => scoped(head, scope, Reading::Many)?,
        Some(org) => scoped_with(in_org, scope, Reading::Many, Some(org))?,
    };
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
        user_filter::push_filter(&mut qb, filter).map_err(|e| StoreError::Invalid(e.0))?;
    }
    Ok(qb)
}

macro_rules! count_users {
    () => {
        "SELECT count(*) FROM users u
           LEFT JOIN user_apps ua
                  ON ua.tenant_id = u.tenant_id AND ua.user_id = u.user_id AND ua.app_id = $2 "
    };
}
const COUNT_USERS: &str = count_users!();

/// The organization whose members, and nothing else, an admin's search
/// asks for: counted from the organization's member count (migration V22)
/// and paged from `organization_members` first (each member is a user of
/// the tenant: its key says so), instead of joining every member's user.
/// At 100k members the join made the count a 170 ms nested loop under a
/// prepared statement's generic plan; counting the memberships alone
/// still took 10 ms.
fn members_only<'a>(scope: &Scope, search: &Search<'a>) -> Option<&'a str> {
    match (search, &scope.reach) {
        (
            Search {
                filter: None,
                prefix: None,
                organization_id: Some(org),
            },
            Reach::Tenant,
        ) => Some(org),
        _ => None,
    }
}

#[tracing::instrument(name = "store.users.count", skip_all, fields(db.system.name = "postgresql"))]
pub async fn count(
    executor: impl PgExecutor<'_>,
    scope: &Scope,
    search: &Search<'_>,
) -> Result<i64, StoreError> {
    if let Some(org) = members_only(scope, search) {
        return Ok(sqlx::query_scalar(
            "SELECT COALESCE(sum(c.members), 0)::bigint FROM organization_member_counts c
              WHERE c.tenant_id = $1 AND c.organization_id = $2",
        )
        .bind(&scope.tenant_id)
        .bind(org)
        .fetch_one(executor)
        .await?);
    }
    let mut qb = searching(
        (COUNT_USERS, concat!(count_users!(), in_organization!())),
        scope,
        search,
    )?;
    Ok(qb.build_query_scalar().fetch_one(executor).await?)
}

/// Rows read from the page's cursor at a time: a consumer that stops part
/// way through a page (its answer grew too large) has the database produce
/// at most one batch more, not the rest of a 5000-row page.
macro_rules! page_batch {
    () => {
        50
    };
}
const PAGE_BATCH: usize = page_batch!();
const FETCH_BATCH: &str = concat!("FETCH ", page_batch!(), " FROM user_page");

/// The total and one page of a search, read in one snapshot so that the
/// two agree however many writes run meanwhile. The page is in the page's
/// order with `user_id` breaking ties, and is handed to `each` one row at a
/// time as it arrives, so that a page is never held whole; an error from
/// `each` stops the reading and is returned.
#[tracing::instrument(name = "store.users.search_page", skip_all, fields(db.system.name = "postgresql"))]
pub async fn search_page<E: From<StoreError>>(
    pool: &PgPool,
    scope: &Scope,
    search: &Search<'_>,
    page: Page,
    mut each: impl FnMut(UserRow) -> Result<(), E>,
) -> Result<i64, E> {
    let mut tx = pool.begin().await.map_err(StoreError::from)?;
    // Before the first statement: the isolation level can't change later.
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    tenancy::confine(&mut tx, &scope.tenant_id).await?;
    if let Some(org) = search.organization_id {
        crate::organizations::reachable(&mut tx, scope, org, false).await?;
    }
    let total = count(&mut *tx, scope, search).await?;
    let mut qb = page_query(
        (
            concat!("DECLARE user_page NO SCROLL CURSOR FOR ", select_users!()),
            concat!(
                "DECLARE user_page NO SCROLL CURSOR FOR ",
                select_users!(),
                in_organization!()
            ),
        ),
        scope,
        search,
        page,
        total,
    )?;
    qb.build()
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    loop {
        let mut rows = sqlx::query_as::<_, UserRow>(FETCH_BATCH).fetch(&mut *tx);
        let mut fetched = 0;
        while let Some(row) = rows.try_next().await.map_err(StoreError::from)? {
            fetched += 1;
            each(row)?;
        }
        if fetched < PAGE_BATCH {
            break;
        }
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(total)
}

/// One page of a search whose count, read in the same snapshot, is `total`
/// (whole, for the plan tests; serving reads it through [`search_page`]).
#[tracing::instrument(name = "store.users.page_rows", skip_all, fields(db.system.name = "postgresql"))]
pub async fn page_rows(
    executor: impl PgExecutor<'_>,
    scope: &Scope,
    search: &Search<'_>,
    page: Page,
    total: i64,
) -> Result<Vec<UserRow>, StoreError> {
    let heads = (
        select_users!(),
        concat!(select_users!(), in_organization!()),
    );
    let mut qb = page_query(heads, scope, search, page, total)?;
    Ok(qb.build_query_as().fetch_all(executor).await?)
}

/// PostgreSQL's plan for [`page_rows`], one line a row (for the plan tests).
#[tracing::instrument(name = "store.users.explain_page", skip_all, fields(db.system.name = "postgresql"))]
pub async fn explain_page(
    executor: impl PgExecutor<'_>,
    scope: &Scope,
    search: &Search<'_>,
    page: Page,
    total: i64,
) -> Result<String, StoreError> {
    let heads = (
        concat!("EXPLAIN ", select_users!()),
        concat!("EXPLAIN ", select_users!(), in_organization!()),
    );
    let mut qb = page_query(heads, scope, search, page, total)?;
    let lines: Vec<String> = qb.build_query_scalar().fetch_all(executor).await?;
    Ok(lines.join("\n"))
}

/// The page query. Ordered by the sort column, PostgreSQL may walk that
/// column's index and test every user of the scope against the search
/// until the page is full: quick when many match, a read of the whole
/// tenant when few do. It picks that plan whenever it overestimates the
/// matches, and a prefix falling on a histogram bound makes it estimate
/// 1 % of the table for eleven users (seconds on a million). The count
/// says how many there are: when they are few, the order is given as an
/// expression no index provides, so the matches are found through the
/// search's indexes and sorted. The admin's unconditioned list keeps the
/// index walk: it matches every user of the tenant.
fn page_query(
    heads: (&'static str, &'static str),
    scope: &Scope,
    search: &Search<'_>,
    page: Page,
    total: i64,
) -> Result<QueryBuilder<Postgres>, StoreError> {
    if let Some(org) = members_only(scope, search)
        && page.sort == SortField::OrganizationAddedAt
    {
        return Ok(members_page(heads.1, scope, org, page));
    }
    let mut qb = searching(heads, scope, search)?;
    let conditioned = search.filter.is_some()
        || search.prefix.is_some()
        || search.organization_id.is_some()
        || !matches!(scope.reach, Reach::Tenant);
    let column = if conditioned && total <= SORT_MATCHES_UP_TO {
        page.sort.unindexed()
    } else {
        page.sort.column()
    };
    let direction = if page.descending { " DESC" } else { " ASC" };
    qb.push(" ORDER BY ");
    qb.push(column);
    qb.push(direction);
    qb.push(", u.user_id");
    qb.push(direction);
    qb.push(" LIMIT ");
    qb.push_bind(page.limit);
    qb.push(" OFFSET ");
    qb.push_bind(page.offset);
    Ok(qb)
}
