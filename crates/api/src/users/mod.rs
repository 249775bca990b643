//! The Users API (`users.openapi.yaml`): create, read, search, update and
//! delete users, and the per-application view of them. A client token sees
//! tenant-level data of any user of its tenant but lists, counts and
//! carries app data only for users associated with its own application;
//! an admin token lists the whole tenant.

pub mod input;
pub mod wire;

use actix_web::{HttpResponse, web};
use idstore_auth::policy;
use idstore_auth::principal::Reach;
use idstore_domain::contact::{normalize_email, normalize_phone, normalize_username};
use idstore_domain::filter::{self, Filter};
use idstore_domain::id::new_id;
use idstore_domain::user::{Contact, Profile, ProfilePatch};
use idstore_store::users::{
    self, AppData, Lookup, NewUser, Page, PasswordHash, Search, SortField, UserRow, Viewer,
    Visibility,
};
use idstore_store::{StoreError, user_filter};
use sqlx::PgConnection;

use self::input::{
    AppPatch, CountParams, CreateUserInput, IdentifierParams, ListParams, UpdateUserInput,
    VerifyInput, whole_number,
};
use self::wire::{AllUsers, ApiUser, One, PageInfo};
use crate::auth::Authorized;
use crate::input::path_id;
use crate::{ApiError, AppState};

policy!(UsersCount = "users:list", "apps:list", "[appId]:list");
policy!(
    UsersCreate = "apps:create",
    "[appId]:create",
    "users:create"
);
policy!(
    UsersList = "users:read",
    "users:list",
    "apps:read",
    "[appId]:read",
    "apps:list",
    "[appId]:list"
);
policy!(UsersRead = "apps:read", "[appId]:read", "users:read");
policy!(UsersEdit = "apps:edit", "[appId]:edit", "users:edit");
policy!(
    /// Admin tokens only (CONTRADICTIONS #8).
    UsersDelete = "users:delete"
);

/// The page size when `page_limit` is not given.
pub const DEFAULT_PAGE_LIMIT: i64 = 100;
pub const MAX_PAGE_LIMIT: i64 = 5000;

/// Fixed paths are registered before `/v1/users/{user_id}` so that they win.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/users/count").get(count_users))
        .service(web::resource("/v1/users/identifier").get(get_by_identifier))
        .service(web::resource("/v1/users/email/{email}").get(get_by_email))
        .service(
            web::resource("/v1/users/external-user-id/{external_user_id}")
                .get(get_by_external_user_id),
        )
        .service(web::resource("/v1/users/username/{username}").get(get_by_username))
        .service(web::resource("/v1/users/phone-number/{phone_number}").get(get_by_phone))
        .service(web::resource("/v1/users/phone/{phone_number}").get(get_by_phone_deprecated))
        .service(web::resource("/v1/users").post(create_user).get(list_users))
        .service(
            web::resource("/v1/users/{user_id}")
                .get(get_by_id)
                .put(update_user),
        )
        .service(web::resource("/v1/users/{user_id}/apps").delete(remove_from_app))
        .service(web::resource("/v1/users/{user_id}/emails/{email}").delete(remove_secondary_email))
        .service(
            web::resource("/v1/users/{user_id}/phone-numbers/{phone_number}")
                .delete(remove_secondary_phone),
        )
        .service(web::resource("/v1/users/{user_id}/emails/{email}/verify").post(verify_email))
        .service(
            web::resource("/v1/users/{user_id}/phone-numbers/{phone_number}/verify")
                .post(verify_phone),
        )
        .service(web::resource("/v1/manage/users/{user_id}").delete(delete_user));
}

fn viewer<P: idstore_auth::Policy>(auth: &Authorized<P>) -> Viewer<'_> {
    Viewer {
        tenant_id: &auth.principal.tenant_id,
        app_id: &auth.principal.app_id,
    }
}

fn user_not_found() -> ApiError {
    ApiError::NotFound("User not found".into())
}

/// Store outcomes on a user, as the spec's errors.
fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => user_not_found(),
        StoreError::Conflict { constraint } => identifier_taken(&constraint),
        StoreError::Invalid(message) => ApiError::bad_request(message),
        other => ApiError::internal(other),
    }
}

/// 409 `IdentifierIsTaken`, naming the identifier by its unique index.
fn identifier_taken(constraint: &str) -> ApiError {
    let what = match constraint {
        "users_email_key" => "email",
        "users_phone_number_key" => "phone_number",
        "users_username_key" => "username",
        "users_external_user_id_key" => "external_user_id",
        _ => "identifier",
    };
    ApiError::Conflict {
        message: format!("A user with this {what} already exists"),
        ts_error_code: "IdentifierIsTaken",
    }
}

fn one(user: &UserRow, status: actix_web::http::StatusCode) -> HttpResponse {
    HttpResponse::build(status).json(One {
        result: ApiUser::from(user),
    })
}

async fn connection(
    state: &AppState,
) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, ApiError> {
    state.pool.acquire().await.map_err(ApiError::internal)
}

async fn create_user(
    auth: Authorized<UsersCreate>,
    state: web::Data<AppState>,
    body: web::Json<CreateUserInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().validate()?;
    let password = match input.password {
        Some((password, temporary)) => Some((state.auth.hashes.hash(password).await, temporary)),
        None => None,
    };
    let mut profile = Profile::empty();
    profile.apply(input.patch, users::now_millis());
    let user_id = new_id();
    let v = viewer(&auth);
    let new_user = NewUser {
        tenant_id: v.tenant_id,
        user_id: &user_id,
        profile: &profile,
        delegated_access: input.delegated_access.as_ref(),
        password: password.as_ref().map(|(phc, temporary)| PasswordHash {
            phc,
            temporary: *temporary,
        }),
    };
    // Creating a user through an application associates the two; an admin
    // token (the management application) only when it writes app data.
    let associate = matches!(auth.reach, Reach::App(_)) || !input.app.is_empty();
    let user = if associate {
        let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
        users::insert(&mut tx, new_user)
            .await
            .map_err(store_error)?;
        put_app_data(&mut tx, v, &user_id, input.app).await?;
        let user = users::find(&mut tx, v, Lookup::Id(&user_id))
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(ApiError::internal)?;
        user
    } else {
        // One statement, atomic by itself: no transaction round trips.
        let mut conn = connection(&state).await?;
        users::insert(&mut conn, new_user)
            .await
            .map_err(store_error)?
    };
    Ok(one(&user, actix_web::http::StatusCode::CREATED))
}

/// Writes the caller's application's data on a user: `custom_app_data`
/// shallow-merged (CONTRADICTIONS #2), `external_account_id` replaced.
async fn put_app_data(
    conn: &mut PgConnection,
    v: Viewer<'_>,
    user_id: &str,
    patch: AppPatch,
) -> Result<(), ApiError> {
    let changes = patch.custom_app_data.unwrap_or_default();
    let size = users::put_app_data(
        conn,
        v.tenant_id,
        v.app_id,
        user_id,
        AppData {
            external_account_id: patch.external_account_id.as_deref(),
            custom_app_data: &changes,
        },
    )
    .await
    .map_err(store_error)?;
    if size as usize > input::MAX_CUSTOM_DATA_BYTES {
        return Err(ApiError::bad_request(format!(
            "custom_app_data would be {size} bytes after this update; the limit is {}",
            input::MAX_CUSTOM_DATA_BYTES
        )));
    }
    Ok(())
}

async fn get_by_id(
    auth: Authorized<UsersRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("user_id", &path)?;
    find_one(&state, viewer(&auth), Lookup::Id(&path)).await
}

async fn find_one(
    state: &AppState,
    v: Viewer<'_>,
    lookup: Lookup<'_>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = connection(state).await?;
    let user = users::find(&mut conn, v, lookup)
        .await
        .map_err(store_error)?;
    Ok(one(&user, actix_web::http::StatusCode::OK))
}

fn bad(e: String) -> ApiError {
    ApiError::bad_request(e)
}

async fn get_by_email(
    auth: Authorized<UsersRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let email = normalize_email(&path).map_err(bad)?;
    find_one(&state, viewer(&auth), Lookup::Email(&email)).await
}

/// Phone numbers in paths arrive as `+1...` or `%2B1...`; a `+` lost on the
/// way (or never sent) is put back.
fn path_phone(raw: &str) -> Result<String, ApiError> {
    let raw = raw.trim_start_matches(' ');
    if raw.starts_with('+') {
        normalize_phone(raw)
    } else {
        normalize_phone(&format!("+{raw}"))
    }
    .map_err(bad)
}

async fn get_by_phone(
    auth: Authorized<UsersRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let phone = path_phone(&path)?;
    find_one(&state, viewer(&auth), Lookup::Phone(&phone)).await
}

/// `deprecatedGetUserByPhone` lists no permissions; it answers as
/// `getUserByPhone` does.
async fn get_by_phone_deprecated(
    auth: Authorized<UsersRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    get_by_phone(auth, state, path).await
}

async fn get_by_username(
    auth: Authorized<UsersRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let username = normalize_username(&path).map_err(bad)?;
    find_one(&state, viewer(&auth), Lookup::Username(&username)).await
}

/// External ids and other free-text lookups: 1 to 256 printable characters.
fn external_id(field: &str, value: &str) -> Result<(), ApiError> {
    crate::input::text(field, value, 256)
}

async fn get_by_external_user_id(
    auth: Authorized<UsersRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    external_id("external_user_id", &path)?;
    find_one(&state, viewer(&auth), Lookup::ExternalUserId(&path)).await
}

/// The identifier names `getUserByIdentifier` accepts.
const IDENTIFIER_NAMES: &str = "email, phoneNumber, externalUserId, username, idpIdentifier";

async fn get_by_identifier(
    auth: Authorized<UsersRead>,
    state: web::Data<AppState>,
    query: web::Query<IdentifierParams>,
) -> Result<HttpResponse, ApiError> {
    let IdentifierParams {
        identifier_name,
        identifier_value: value,
    } = query.into_inner();
    let normalized = match identifier_name.as_str() {
        "email" => normalize_email(&value).map_err(bad)?,
        "phoneNumber" => path_phone(&value)?,
        "username" => normalize_username(&value).map_err(bad)?,
        "externalUserId" | "idpIdentifier" => {
            external_id("identifier_value", &value)?;
            value
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "identifier_name `{}` is not known; use one of {IDENTIFIER_NAMES} (this tenant defines no custom identifiers)",
                other.chars().take(40).collect::<String>()
            )));
        }
    };
    let lookup = match identifier_name.as_str() {
        "email" => Lookup::Email(&normalized),
        "phoneNumber" => Lookup::Phone(&normalized),
        "username" => Lookup::Username(&normalized),
        "externalUserId" => Lookup::ExternalUserId(&normalized),
        _ => Lookup::IdpIdentifier(&normalized),
    };
    find_one(&state, viewer(&auth), lookup).await
}

/// Client tokens list their application's users; admin tokens the tenant's.
fn visibility(reach: &Reach) -> Visibility {
    match reach {
        Reach::Tenant => Visibility::Tenant,
        Reach::App(_) => Visibility::App,
    }
}

/// A parsed and checked `search` parameter.
fn search_filter(search: Option<&str>) -> Result<Option<Filter>, ApiError> {
    let Some(text) = search.filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    if text.contains('\0') {
        return Err(ApiError::bad_request(
            "search may not contain NUL characters",
        ));
    }
    let parsed = filter::parse(text).map_err(|e| ApiError::bad_request(format!("search: {e}")))?;
    user_filter::check(&parsed).map_err(|e| ApiError::bad_request(format!("search: {}", e.0)))?;
    Ok(Some(parsed))
}

async fn count_users(
    auth: Authorized<UsersCount>,
    state: web::Data<AppState>,
    query: web::Query<CountParams>,
) -> Result<HttpResponse, ApiError> {
    let filter = search_filter(query.search.as_deref())?;
    let search = Search {
        visibility: visibility(&auth.reach),
        filter: filter.as_ref(),
        prefix: None,
    };
    let n = users::count(&state.pool, viewer(&auth), &search)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "result": { "user_count": n } })))
}

/// The page and order a list asks for.
fn page(params: &ListParams) -> Result<Page, ApiError> {
    let mut p = input::Problems::default();
    let mut number = |field, value: &Option<String>, min, max, default| match value {
        Some(v) => whole_number(field, v, min, max).unwrap_or_else(|e| {
            p.add(e);
            default
        }),
        None => default,
    };
    let offset = number(
        "page_offset",
        &params.page_offset,
        0,
        i64::from(i32::MAX),
        0,
    );
    let limit = number(
        "page_limit",
        &params.page_limit,
        1,
        MAX_PAGE_LIMIT,
        DEFAULT_PAGE_LIMIT,
    );
    let sort = match params.sort_field.as_deref().unwrap_or("created_at") {
        "email" => Some(SortField::Email),
        "created_at" => Some(SortField::CreatedAt),
        "phone_number" => Some(SortField::PhoneNumber),
        "last_auth" => Some(SortField::LastAuth),
        "organization_added_at" if params.organization_id.is_none() => {
            p.add("sort_field organization_added_at needs an organization_id to sort within");
            None
        }
        "organization_added_at" => None,
        other => {
            p.add(format!(
                "sort_field `{}` is not one of email, created_at, phone_number, last_auth, organization_added_at",
                other.chars().take(40).collect::<String>()
            ));
            None
        }
    };
    let descending = match params.sort_order.as_deref().unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        _ => {
            p.add("sort_order must be asc or desc");
            false
        }
    };
    if let Some(org) = &params.organization_id {
        // Organizations arrive with the Members API; until then no id names one.
        p.finish()?;
        path_id("organization_id", org)?;
        return Err(ApiError::NotFound("Organization not found".into()));
    }
    p.finish()?;
    Ok(Page {
        sort: sort.unwrap_or(SortField::CreatedAt),
        descending,
        offset,
        limit,
    })
}

async fn list_users(
    auth: Authorized<UsersList>,
    state: web::Data<AppState>,
    query: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let params = query.into_inner();
    let page = page(&params)?;
    let filter = search_filter(params.search.as_deref())?;
    if let Some(prefix) = &params.search_prefix {
        external_id("search_prefix", prefix)?;
    }
    let search = Search {
        visibility: visibility(&auth.reach),
        filter: filter.as_ref(),
        prefix: params.search_prefix.as_deref(),
    };
    let v = viewer(&auth);
    let (total, rows) = users::search_page(&state.pool, v, &search, page)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(AllUsers {
        total_count: total,
        page_info: PageInfo::of(total, page.offset, page.limit),
        result: rows.iter().map(ApiUser::from).collect(),
    }))
}

/// Runs `change` on the locked user and saves the result; the caller
/// commits the returned transaction. The row lock makes concurrent changes
/// apply in turn.
async fn change_user(
    state: &AppState,
    v: Viewer<'_>,
    user_id: &str,
    change: impl FnOnce(&UserRow, &mut Profile) -> Result<(), ApiError>,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ApiError> {
    path_id("user_id", user_id)?;
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    let current = users::lock(&mut tx, v, user_id)
        .await
        .map_err(store_error)?;
    let before = current.profile();
    let mut profile = before.clone();
    change(&current, &mut profile)?;
    if profile != before {
        users::save(&mut tx, v.tenant_id, user_id, &profile)
            .await
            .map_err(store_error)?;
    }
    Ok(tx)
}

async fn update_user(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UpdateUserInput>,
) -> Result<HttpResponse, ApiError> {
    let (patch, app) = body.into_inner().validate()?;
    let v = viewer(&auth);
    let mut tx = change_user(&state, v, &path, |current, profile| {
        check_username(current, &patch)?;
        profile.apply(patch, users::now_millis());
        input::check_totals(profile)
    })
    .await?;
    if !app.is_empty() {
        put_app_data(&mut tx, v, &path, app).await?;
        users::touch(&mut tx, v.tenant_id, &path)
            .await
            .map_err(store_error)?;
    }
    let user = users::find(&mut tx, v, Lookup::Id(&path))
        .await
        .map_err(store_error)?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(one(&user, actix_web::http::StatusCode::OK))
}

/// A username names a password login (CONTRADICTIONS #14).
fn check_username(current: &UserRow, patch: &ProfilePatch) -> Result<(), ApiError> {
    if patch.username.is_some() && current.password_updated_at.is_none() {
        return Err(ApiError::bad_request(
            "username can only be set for a user with a password; add credentials first",
        ));
    }
    Ok(())
}

/// Emails and phone numbers share the verify and remove operations.
#[derive(Clone, Copy)]
enum ContactKind {
    Email,
    Phone,
}

impl ContactKind {
    fn name(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone number",
        }
    }

    /// The value from the path, in its stored form.
    fn normalize(self, raw: &str) -> Result<String, ApiError> {
        match self {
            Self::Email => normalize_email(raw).map_err(bad),
            Self::Phone => path_phone(raw),
        }
    }

    fn verify(self, p: &mut Profile, value: &str, promote: bool) -> bool {
        let now = users::now_millis();
        match self {
            Self::Email => p.verify_email(value, promote, now),
            Self::Phone => p.verify_phone(value, promote, now),
        }
    }

    /// The primary's value and the secondaries.
    fn parts(self, p: &mut Profile) -> (Option<String>, &mut Vec<Contact>) {
        match self {
            Self::Email => (
                p.email.as_ref().map(|c| c.value.clone()),
                &mut p.secondary_emails,
            ),
            Self::Phone => (
                p.phone_number.as_ref().map(|c| c.value.clone()),
                &mut p.secondary_phone_numbers,
            ),
        }
    }
}

async fn verify_email(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<VerifyInput>,
) -> Result<HttpResponse, ApiError> {
    verify_contact(&auth, &state, path.into_inner(), &body, ContactKind::Email).await
}

async fn verify_phone(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<VerifyInput>,
) -> Result<HttpResponse, ApiError> {
    verify_contact(&auth, &state, path.into_inner(), &body, ContactKind::Phone).await
}

/// Marks a primary or secondary verified; `change_to_primary` promotes a
/// secondary, re-checking uniqueness (409 on a collision).
async fn verify_contact(
    auth: &Authorized<UsersEdit>,
    state: &AppState,
    (user_id, raw): (String, String),
    body: &VerifyInput,
    kind: ContactKind,
) -> Result<HttpResponse, ApiError> {
    let value = kind.normalize(&raw)?;
    let promote = body.change_to_primary.unwrap_or(false);
    let tx = change_user(state, viewer(auth), &user_id, |_, profile| {
        kind.verify(profile, &value, promote)
            .then_some(())
            .ok_or_else(|| ApiError::NotFound(format!("The user has no such {}", kind.name())))
    })
    .await?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(HttpResponse::Accepted().finish())
}

async fn remove_secondary_email(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    remove_secondary(&auth, &state, path.into_inner(), ContactKind::Email).await
}

async fn remove_secondary_phone(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    remove_secondary(&auth, &state, path.into_inner(), ContactKind::Phone).await
}

/// Removes a secondary email or phone; the primary is not removed here.
async fn remove_secondary(
    auth: &Authorized<UsersEdit>,
    state: &AppState,
    (user_id, raw): (String, String),
    kind: ContactKind,
) -> Result<HttpResponse, ApiError> {
    let value = kind.normalize(&raw)?;
    let what = kind.name();
    let tx = change_user(state, viewer(auth), &user_id, |_, profile| {
        let (primary, list) = kind.parts(profile);
        if primary.as_deref() == Some(value.as_str()) {
            return Err(ApiError::bad_request(format!(
                "This is the user's primary {what}; set another primary {what} before removing it"
            )));
        }
        let before = list.len();
        list.retain(|c| c.value != value);
        if list.len() == before {
            return Err(ApiError::NotFound(format!(
                "The user has no such secondary {what}"
            )));
        }
        Ok(())
    })
    .await?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn remove_from_app(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("user_id", &path)?;
    let v = viewer(&auth);
    users::remove_from_app(&state.pool, v.tenant_id, v.app_id, &path)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("User not found in this application".into()),
            other => store_error(other),
        })?;
    Ok(HttpResponse::NoContent().finish())
}

async fn delete_user(
    auth: Authorized<UsersDelete>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    path_id("user_id", &path)?;
    users::delete(&state.pool, auth.tenant_id(), &path)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::NoContent().finish())
}
