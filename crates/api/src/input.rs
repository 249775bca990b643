//! Checks every resource applies to what it is given.

use idstore_domain::id::is_valid_id;
use serde_json::Value;

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

/// PostgreSQL's text and jsonb can't hold NUL; refusing it on the way in
/// turns what would be a database error into a 400.
pub fn json_has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        _ => false,
    }
}
