//! A user's emails and phone numbers: verifying them (and promoting a
//! secondary to primary) and removing secondaries. Both kinds share one
//! implementation; actix needs one function per route.

use actix_web::{HttpResponse, web};
use idstore_domain::contact::{Email, Phone};
use idstore_domain::user::{Contact, Profile};
use idstore_store::users::{self, AppData};

use super::UsersEdit;
use super::input::VerifyInput;
use crate::auth::Authorized;
use crate::input::path_id;
use crate::{ApiError, AppState};

/// Emails and phone numbers share the verify and remove operations.
trait ContactKind: Sized + PartialEq {
    const NAME: &'static str;
    /// The value from the path, in its stored form.
    fn from_path(raw: &str) -> Result<Self, String>;
    fn verify(p: &mut Profile, value: &Self, promote: bool) -> bool;
    /// The primary and the secondaries of this kind.
    fn parts(p: &mut Profile) -> (Option<&Contact<Self>>, &mut Vec<Contact<Self>>);
}

impl ContactKind for Email {
    const NAME: &'static str = "email";

    fn from_path(raw: &str) -> Result<Self, String> {
        Email::parse(raw)
    }

    fn verify(p: &mut Profile, value: &Self, promote: bool) -> bool {
        p.verify_email(value, promote, users::now_millis())
    }

    fn parts(p: &mut Profile) -> (Option<&Contact<Self>>, &mut Vec<Contact<Self>>) {
        (p.email.as_ref(), &mut p.secondary_emails)
    }
}

impl ContactKind for Phone {
    const NAME: &'static str = "phone number";

    fn from_path(raw: &str) -> Result<Self, String> {
        Phone::parse_path(raw)
    }

    fn verify(p: &mut Profile, value: &Self, promote: bool) -> bool {
        p.verify_phone(value, promote, users::now_millis())
    }

    fn parts(p: &mut Profile) -> (Option<&Contact<Self>>, &mut Vec<Contact<Self>>) {
        (p.phone_number.as_ref(), &mut p.secondary_phone_numbers)
    }
}

pub async fn verify_email(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<VerifyInput>,
) -> Result<HttpResponse, ApiError> {
    verify::<Email>(&auth, &state, path.into_inner(), &body).await
}

pub async fn verify_phone(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<VerifyInput>,
) -> Result<HttpResponse, ApiError> {
    verify::<Phone>(&auth, &state, path.into_inner(), &body).await
}

/// Marks a primary or secondary verified; `change_to_primary` promotes a
/// secondary, re-checking uniqueness (409 on a collision).
async fn verify<K: ContactKind>(
    auth: &Authorized<UsersEdit>,
    state: &AppState,
    (user_id, raw): (String, String),
    body: &VerifyInput,
) -> Result<HttpResponse, ApiError> {
    let value = K::from_path(&raw).map_err(ApiError::bad_request)?;
    path_id("user_id", &user_id)?;
    let promote = body.change_to_primary.unwrap_or(false);
    let change = |_: &_, profile: &mut Profile| {
        K::verify(profile, &value, promote)
            .then_some(())
            .ok_or_else(|| ApiError::NotFound(format!("The user has no such {}", K::NAME)))
    };
    users::update(
        &state.pool,
        &auth.scope,
        &user_id,
        change,
        AppData::default(),
    )
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

pub async fn remove_secondary_email(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    remove_secondary::<Email>(&auth, &state, path.into_inner()).await
}

pub async fn remove_secondary_phone(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    remove_secondary::<Phone>(&auth, &state, path.into_inner()).await
}

/// Removes a secondary email or phone; the primary is not removed here.
async fn remove_secondary<K: ContactKind>(
    auth: &Authorized<UsersEdit>,
    state: &AppState,
    (user_id, raw): (String, String),
) -> Result<HttpResponse, ApiError> {
    let value = K::from_path(&raw).map_err(ApiError::bad_request)?;
    path_id("user_id", &user_id)?;
    let what = K::NAME;
    let change = |_: &_, profile: &mut Profile| {
        let (primary, list) = K::parts(profile);
        if primary.is_some_and(|p| p.value == value) {
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
    };
    users::update(
        &state.pool,
        &auth.scope,
        &user_id,
        change,
        AppData::default(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
