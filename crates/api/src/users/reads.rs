//! Reading users: by id or identifier, lists and counts.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use idstore_domain::contact::{Email, Phone, Username};
use idstore_domain::filter::{self, Filter};
use idstore_store::user_filter;
use idstore_store::users::{self, Lookup, Page, Search, SortField};

use super::input::{self, CountParams, IdentifierParams, ListParams, whole_number};
use super::wire::{PageInfo, PageWriter};
use super::{UsersCount, UsersList, UsersRead, one};
use crate::auth::Authorized;
use crate::input::{Params, path_id};
use crate::{ApiError, AppState};

/// The page size when `page_limit` is not given.
pub const DEFAULT_PAGE_LIMIT: i64 = 100;
pub const MAX_PAGE_LIMIT: i64 = 5000;

/// A key a single user is read by, as it arrives in a path or query.
pub trait UserKey: 'static {
    type Value;
    fn parse(raw: &str) -> Result<Self::Value, ApiError>;
    fn lookup(value: &Self::Value) -> Lookup<'_>;
}

/// `user_id`: the id alphabet, so odd characters are a 400, not a miss.
pub struct UserId;
/// `external_user_id`, `idpIdentifier`: 1 to 256 printable characters.
pub struct ExternalUserId;
pub struct IdpIdentifier;
/// `externalUserId` as `getUserByIdentifier`'s `identifier_value`.
pub struct ExternalUserIdValue;

/// Implements [`UserKey`] for `$key`, read with `$parse` into `$value`
/// and looked up as `Lookup::$lookup`.
macro_rules! user_key {
    ($($key:ty: $value:ty = $parse:expr => $lookup:ident;)*) => {$(
        impl UserKey for $key {
            type Value = $value;
            fn parse(raw: &str) -> Result<$value, ApiError> {
                $parse(raw)
            }
            fn lookup(value: &$value) -> Lookup<'_> {
                Lookup::$lookup(value)
            }
        }
    )*};
}

user_key! {
    UserId: String = |raw: &str| path_id("user_id", raw).map(|()| raw.to_owned()) => Id;
    ExternalUserId: String =
        |raw: &str| external_id("external_user_id", raw).map(|()| raw.to_owned()) => ExternalUserId;
    ExternalUserIdValue: String =
        |raw: &str| external_id("identifier_value", raw).map(|()| raw.to_owned()) => ExternalUserId;
    IdpIdentifier: String =
        |raw: &str| external_id("identifier_value", raw).map(|()| raw.to_owned()) => IdpIdentifier;
    Email: Email = |raw| Email::parse(raw).map_err(ApiError::bad_request) => Email;
    // Phone numbers in paths arrive as `+1...`, `%2B1...` or without the `+`.
    Phone: Phone = |raw| Phone::parse_path(raw).map_err(ApiError::bad_request) => Phone;
    Username: Username = |raw| Username::parse(raw).map_err(ApiError::bad_request) => Username;
}

async fn find_by<K: UserKey>(
    auth: &Authorized<UsersRead>,
    state: &AppState,
    raw: &str,
) -> Result<HttpResponse, ApiError> {
    let value = K::parse(raw)?;
    let user = users::get(&state.pool, &auth.scope, K::lookup(&value)).await?;
    Ok(one(&user, StatusCode::OK))
}

/// `getUserById`, `getUserByEmail`, `getUserByPhone` (and its deprecated
/// path, which lists no permissions and answers the same), ... : one
/// handler per key kind.
pub async fn get_by<K: UserKey>(
    auth: Authorized<UsersRead>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    find_by::<K>(&auth, &state, &path).await
}

/// External ids and other free-text lookups: 1 to 256 printable characters.
fn external_id(field: &str, value: &str) -> Result<(), ApiError> {
    crate::input::text(field, value, 256)
}

/// The identifier names `getUserByIdentifier` accepts.
const IDENTIFIER_NAMES: &str = "email, phoneNumber, externalUserId, username, idpIdentifier";

#[utoipa::path(
    get,
    path = "/v1/users/identifier",
    operation_id = "getUserByIdentifier",
    tag = "Users",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #4: `birthday` is answered as YYYY-MM-DD; accepted as YYYY-MM-DD or a full date-time (its date in UTC)",
        "SPEC_READINGS #21: `ApiAddress.updated_at` is output only; `identity_providers` is never sent; `identities` is always an array; `groupIds` always present",
        "`identifier_name` is one of email, phoneNumber, externalUserId, username, idpIdentifier (no custom identifiers)",
    ]))),
)]
pub async fn get_by_identifier(
    auth: Authorized<UsersRead>,
    state: web::Data<AppState>,
    query: Params<IdentifierParams>,
) -> Result<HttpResponse, ApiError> {
    let IdentifierParams {
        identifier_name,
        identifier_value: value,
    } = query.into_inner();
    match identifier_name.as_str() {
        "email" => find_by::<Email>(&auth, &state, &value).await,
        "phoneNumber" => find_by::<Phone>(&auth, &state, &value).await,
        "username" => find_by::<Username>(&auth, &state, &value).await,
        "externalUserId" => find_by::<ExternalUserIdValue>(&auth, &state, &value).await,
        "idpIdentifier" => find_by::<IdpIdentifier>(&auth, &state, &value).await,
        other => Err(ApiError::bad_request(format!(
            "identifier_name `{}` is not known; use one of {IDENTIFIER_NAMES} (this tenant defines no custom identifiers)",
            other.chars().take(40).collect::<String>()
        ))),
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

#[utoipa::path(
    get,
    path = "/v1/users/count",
    operation_id = "getUsersCount",
    tag = "Users",
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #10: `search` takes the full SCIM filter grammar over the documented fields",
    ]))),
)]
pub async fn count_users(
    auth: Authorized<UsersCount>,
    state: web::Data<AppState>,
    query: Params<CountParams>,
) -> Result<HttpResponse, ApiError> {
    let filter = search_filter(query.search.as_deref())?;
    let search = Search {
        filter: filter.as_ref(),
        prefix: None,
        organization_id: None,
    };
    let _slot = state.searches.acquire(&auth.principal).await?;
    let n = state
        .within(&auth.scope.tenant_id, async |db| {
            users::count(db, &auth.scope, &search).await
        })
        .await?;
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
        "organization_added_at" => Some(SortField::OrganizationAddedAt),
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
    if let Some(org) = &params.organization_id
        && path_id("organization_id", org).is_err()
    {
        p.add("organization_id is not a valid identifier");
    }
    p.finish()?;
    Ok(Page {
        sort: sort.unwrap_or(SortField::CreatedAt),
        descending,
        offset,
        limit,
    })
}

#[utoipa::path(
    get,
    path = "/v1/users",
    operation_id = "getUsers",
    tag = "Users",
    params(
        ("organization_id" = Option<String>, Query, description = "Only the members of this organization (an extension, SPEC_READINGS #9)"),
    ),
    extensions(("x-idstore-note" = json!([
        "SPEC_READINGS #9: `sort_field=organization_added_at` only with the extension parameter `organization_id` (400 otherwise)",
        "SPEC_READINGS #10: `search` takes the full SCIM filter grammar (RFC 7644 §3.4.2.2) over the documented fields; dates as ISO 8601 strings",
        "SPEC_READINGS #16: `page_limit` defaults to 100",
        "SPEC_READINGS #22: `page_offset` and `page_limit` take whole numbers only",
        "SPEC_READINGS #4: `birthday` is answered as YYYY-MM-DD; accepted as YYYY-MM-DD or a full date-time (its date in UTC)",
        "SPEC_READINGS #21: `ApiAddress.updated_at` is output only; `identity_providers` is never sent; `identities` is always an array; `groupIds` always present",
    ]))),
)]
pub async fn list_users(
    auth: Authorized<UsersList>,
    state: web::Data<AppState>,
    query: Params<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let params = query.into_inner();
    let page = page(&params)?;
    let filter = search_filter(params.search.as_deref())?;
    if let Some(prefix) = &params.search_prefix {
        external_id("search_prefix", prefix)?;
    }
    let search = Search {
        filter: filter.as_ref(),
        prefix: params.search_prefix.as_deref(),
        organization_id: params.organization_id.as_deref(),
    };
    let slot = state.searches.acquire(&auth.principal).await?;
    let mut answer = PageWriter::new(state.list_body_limit);
    let total = users::search_page(&state.pool, &auth.scope, &search, page, |row| {
        answer.push(&row)
    })
    .await?;
    // The slot lasts until the answer is sent: a client that reads slowly
    // holds up its own searches, rather than pages piling up in memory.
    Ok(answer.finish(total, PageInfo::of(total, page.offset, page.limit), slot))
}
