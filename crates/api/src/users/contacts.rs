//! A user's emails and phone numbers: verifying them (and promoting a
//! secondary to primary) and removing secondaries. Both kinds share one
//! generic handler per operation.

use actix_web::{HttpResponse, web};
use idstore_domain::contact::{Email, Phone};
use idstore_domain::user::{Contact, Profile, Touches};
use idstore_store::audit::Action;
use idstore_store::users::{self, AppData, UserRow};

use super::UsersEdit;
use super::input::VerifyInput;
use super::writes::clients_may;
use crate::auth::Authorized;
use crate::input::{Body, path_id};
use crate::{ApiError, AppState};

/// Emails and phone numbers share the verify and remove operations.
pub trait ContactKind: Sized + PartialEq + 'static {
    const NAME: &'static str;
    /// What the audit trail calls verifying and removing one.
    const VERIFY: Action;
    const REMOVE: Action;
    /// The value from the path, in its stored form.
    fn from_path(raw: &str) -> Result<Self, String>;
    fn verify(p: &mut Profile, value: &Self, promote: bool) -> bool;
    /// The primary and the secondaries of this kind.
    fn parts(p: &mut Profile) -> (Option<&Contact<Self>>, &mut Vec<Contact<Self>>);
}

macro_rules! contact_kind {
    ($t:ty, $name:literal, $parse:path, $verify:ident, $primary:ident, $secondaries:ident,
     $verified:ident, $removed:ident) => {
        impl ContactKind for $t {
            const NAME: &'static str = $name;
            const VERIFY: Action = Action::$verified;
            const REMOVE: Action = Action::$removed;

            fn from_path(raw: &str) -> Result<Self, String> {
                $parse(raw)
            }

            fn verify(p: &mut Profile, value: &Self, promote: bool) -> bool {
                p.$verify(value, promote, users::now_millis())
            }

            fn parts(p: &mut Profile) -> (Option<&Contact<Self>>, &mut Vec<Contact<Self>>) {
                (p.$primary.as_ref(), &mut p.$secondaries)
            }
        }
    };
}

contact_kind!(
    Email,
    "email",
    Email::parse,
    verify_email,
    email,
    secondary_emails,
    UserEmailVerify,
    UserEmailRemove
);
contact_kind!(
    Phone,
    "phone number",
    Phone::parse_path,
    verify_phone,
    phone_number,
    secondary_phone_numbers,
    UserPhoneVerify,
    UserPhoneRemove
);

/// Applies `change` to the user's profile only (no application data),
/// recorded as `action`.
async fn change_profile(
    auth: &Authorized<UsersEdit>,
    state: &AppState,
    user_id: &str,
    change: impl FnOnce(&UserRow, &mut Profile) -> Result<(), ApiError>,
    action: Action,
) -> Result<(), ApiError> {
    // Verifying, promoting and removing emails and phones change identifiers.
    let identifiers = Touches {
        identifiers: true,
        ..Touches::default()
    };
    clients_may(state, &auth.scope, identifiers).await?;
    users::update(
        &state.pool,
        &auth.scope,
        user_id,
        change,
        AppData::default(),
        (&auth.actor(), action),
    )
    .await?;
    Ok(())
}

/// The user and the email or phone a path names, checked.
fn target<K: ContactKind>((user_id, raw): (String, String)) -> Result<(String, K), ApiError> {
    let value = K::from_path(&raw).map_err(ApiError::bad_request)?;
    path_id("user_id", &user_id)?;
    Ok((user_id, value))
}

/// Marks a primary or secondary verified; `change_to_primary` promotes a
/// secondary, re-checking uniqueness (409 on a collision).
pub async fn verify<K: ContactKind>(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Body<VerifyInput>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, value) = target::<K>(path.into_inner())?;
    let promote = body.change_to_primary.unwrap_or(false);
    let change = |_: &_, profile: &mut Profile| {
        K::verify(profile, &value, promote)
            .then_some(())
            .ok_or_else(|| ApiError::NotFound(format!("The user has no such {}", K::NAME)))
    };
    change_profile(&auth, &state, &user_id, change, K::VERIFY).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Removes a secondary email or phone; the primary is not removed here.
pub async fn remove_secondary<K: ContactKind>(
    auth: Authorized<UsersEdit>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, value) = target::<K>(path.into_inner())?;
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
    change_profile(&auth, &state, &user_id, change, K::REMOVE).await?;
    Ok(HttpResponse::NoContent().finish())
}
