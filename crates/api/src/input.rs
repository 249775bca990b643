//! Checks every handler applies to what it is given, and the conversions
//! from store outcomes to wire errors that several resources share.

use idstore_domain::id::is_valid_id;
use idstore_store::StoreError;

use crate::ApiError;

/// Wire times `created_at`/`updated_at` are epoch milliseconds.
pub fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// A required free-text field: 1 to `max` characters, no control characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    text_problem(field, value, max).map_or(Ok(()), |m| Err(ApiError::bad_request(m)))
}

/// What is wrong with a free-text value, if anything.
pub fn text_problem(field: &str, value: &str, max: usize) -> Option<String> {
    let len = value.chars().count();
    (len == 0 || len > max || value.chars().any(char::is_control))
        .then(|| format!("{field} must be 1 to {max} printable characters"))
}

/// An id taken from the path: the id alphabet, so odd characters are a 400, not a miss.
pub fn path_id(field: &str, value: &str) -> Result<(), ApiError> {
    if is_valid_id(value) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field} is not a valid identifier"
        )))
    }
}

/// Maps a store outcome on a `what` to its wire error.
pub fn not_found(what: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound => ApiError::NotFound(format!("{what} not found")),
        StoreError::Conflict { .. } => ApiError::Conflict {
            message: format!("{what} with this name already exists"),
            ts_error_code: "IdentifierIsTaken",
        },
        other => ApiError::internal(other),
    }
}
