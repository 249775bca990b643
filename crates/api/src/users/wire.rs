//! `ApiUser` exactly as the spec spells it: epoch milliseconds for
//! `created_at`/`updated_at`, ISO 8601 strings for the other times, absent
//! fields omitted (never `null`), and application fields only when the user
//! is associated with the caller's application.

use actix_web::HttpResponse;
use actix_web::web::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use idstore_domain::user::{Address, Name};
use idstore_store::users::UserRow;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::ApiError;
use crate::wire::Parts;

/// ISO 8601 with milliseconds, as the spec's `date-time` fields carry.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Serialize)]
pub struct ApiUserEmail<'a> {
    value: &'a str,
    email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified_at: Option<String>,
}

#[derive(Serialize)]
pub struct ApiUserPhone<'a> {
    value: &'a str,
    phone_number_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified_at: Option<String>,
}

fn email(value: &str, verified_at: Option<DateTime<Utc>>) -> ApiUserEmail<'_> {
    ApiUserEmail {
        value,
        email_verified: verified_at.is_some(),
        verified_at: verified_at.map(iso),
    }
}

fn phone(value: &str, verified_at: Option<DateTime<Utc>>) -> ApiUserPhone<'_> {
    ApiUserPhone {
        value,
        phone_number_verified: verified_at.is_some(),
        verified_at: verified_at.map(iso),
    }
}

#[derive(Serialize)]
pub struct ApiPasswordInformation {
    expired: bool,
    temporary: bool,
    updated_at: i64,
}

#[derive(Serialize)]
pub struct ApiUser<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<ApiUserEmail<'a>>,
    secondary_emails: Vec<ApiUserEmail<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<ApiUserPhone<'a>>,
    secondary_phone_numbers: Vec<ApiUserPhone<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    birthday: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a Name>,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_changed_at: Option<String>,
    created_at: i64,
    updated_at: i64,
    identities: &'a [Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    last_auth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_app_data: Option<&'a Map<String, Value>>,
    #[serde(rename = "groupIds")]
    group_ids: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    picture: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    custom_data: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_information: Option<ApiPasswordInformation>,
}

impl<'a> From<&'a UserRow> for ApiUser<'a> {
    fn from(u: &'a UserRow) -> Self {
        let secondary_emails = u.secondary_emails.0.iter();
        let secondary_phones = u.secondary_phone_numbers.0.iter();
        ApiUser {
            email: u.email.as_deref().map(|v| email(v, u.email_verified_at)),
            secondary_emails: secondary_emails
                .map(|c| email(c.value.as_str(), c.verified_at))
                .collect(),
            phone_number: u
                .phone_number
                .as_deref()
                .map(|v| phone(v, u.phone_verified_at)),
            secondary_phone_numbers: secondary_phones
                .map(|c| phone(c.value.as_str(), c.verified_at))
                .collect(),
            username: u.username.as_deref(),
            user_id: &u.user_id,
            birthday: u.birthday.map(|d| d.format("%Y-%m-%d").to_string()),
            address: u.address.as_ref().map(|a| &a.0),
            name: u.name.as_ref().map(|n| &n.0),
            status: &u.status,
            status_changed_at: u.status_changed_at.map(iso),
            created_at: u.created_at.timestamp_millis(),
            updated_at: u.updated_at.timestamp_millis(),
            identities: &u.identities.0,
            last_auth: u.last_auth.map(iso),
            external_account_id: u.external_account_id.as_deref(),
            app_name: u.app_name.as_deref(),
            custom_app_data: u.custom_app_data.as_ref().map(|d| &d.0),
            group_ids: &u.group_ids,
            picture: u.picture.as_deref(),
            language: u.language.as_deref(),
            custom_data: &u.custom_data.0,
            external_user_id: u.external_user_id.as_deref(),
            password_information: u.password_updated_at.map(|at| ApiPasswordInformation {
                expired: false,
                temporary: u.password_temporary.unwrap_or(false),
                updated_at: at.timestamp_millis(),
            }),
        }
    }
}

/// `ApiGetAllUsers` (the list's fields sit at the top level), rendered one
/// user at a time as the store reads them, within a budget of bytes: the
/// largest users times the largest page would otherwise be hundreds of
/// megabytes built in memory per request.
pub struct PageWriter {
    limit: usize,
    size: usize,
    users: Vec<Bytes>,
    /// One user's JSON, reused from user to user.
    scratch: Vec<u8>,
}

/// Room in the budget for what surrounds the users:
/// `{"total_count":N,"page_info":{...},"result":[` and `]}`.
const ENVELOPE_BYTES: usize = 256;

impl PageWriter {
    /// A page of at most `limit` bytes of JSON in all.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            size: ENVELOPE_BYTES,
            users: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Adds the next user, or refuses the page when it would grow past the
    /// budget.
    pub fn push(&mut self, user: &UserRow) -> Result<(), ApiError> {
        self.scratch.clear();
        if !self.users.is_empty() {
            self.scratch.push(b',');
        }
        serde_json::to_writer(&mut self.scratch, &ApiUser::from(user))
            .map_err(ApiError::internal)?;
        if self.size + self.scratch.len() > self.limit {
            let fit = self.users.len().max(1);
            return Err(ApiError::bad_request(format!(
                "the page would be larger than {} bytes of JSON, the most one answer may hold: \
                 lower page_limit (its first {fit} users fit) and read the rest with page_offset",
                self.limit
            )));
        }
        self.size += self.scratch.len();
        self.users.push(Bytes::copy_from_slice(&self.scratch));
        Ok(())
    }

    /// The answer, holding `guard` until it has been sent.
    pub fn finish<G: Unpin + 'static>(
        self,
        total: i64,
        page_info: PageInfo,
        guard: G,
    ) -> HttpResponse {
        let head = format!(
            r#"{{"total_count":{total},"page_info":{{"has_next_page":{},"has_previous_page":{}}},"result":["#,
            page_info.has_next_page, page_info.has_previous_page
        );
        let parts = std::iter::once(Bytes::from(head))
            .chain(self.users)
            .chain(std::iter::once(Bytes::from_static(b"]}")));
        HttpResponse::Ok()
            .content_type("application/json")
            .body(Parts::new(parts, guard))
    }
}

#[derive(Serialize)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl PageInfo {
    /// Consistent with the total: a previous page exists when rows were
    /// skipped, a next one when rows remain past this page.
    pub fn of(total: i64, offset: i64, limit: i64) -> Self {
        Self {
            has_next_page: offset.saturating_add(limit) < total,
            has_previous_page: offset > 0 && total > 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_info_follows_the_total() {
        let p = PageInfo::of(10, 0, 5);
        assert!(p.has_next_page && !p.has_previous_page);
        let p = PageInfo::of(10, 5, 5);
        assert!(!p.has_next_page && p.has_previous_page);
        let p = PageInfo::of(0, 0, 5);
        assert!(!p.has_next_page && !p.has_previous_page);
        let p = PageInfo::of(10, 20, 5);
        assert!(!p.has_next_page && p.has_previous_page);
    }

    #[test]
    fn times_are_iso_8601_with_milliseconds_in_utc() {
        let t = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        assert_eq!(iso(t), "2023-11-14T22:13:20.123Z");
    }
}
