//! Checks every resource applies to what it is given, and the extractors
//! that read a request's body and query only after its token was accepted.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use idstore_domain::id::is_valid_id;
use serde_json::Value;

use crate::auth::AuthGate;

use crate::ApiError;

/// Wire times `created_at`/`updated_at` are epoch milliseconds.
pub fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// Times in the vendor's Applications API are `date-time` strings.
pub fn date_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A free-text field that may be empty: at most `max` characters, no
/// control characters.
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() {
        Ok(())
    } else {
        text(field, value, max).map_err(|_| {
            ApiError::bad_request(format!(
                "{field} must be at most {max} printable characters"
            ))
        })
    }
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

/// Adds each given field of `$input` to the JSON map `$map` under its own
/// name: the vendor settings idstore keeps as given.
macro_rules! keep {
    ($map:ident, $input:ident, $($field:ident),+ $(,)?) => {
        $(if let Some(v) = &$input.$field {
            $map.insert(
                stringify!($field).to_owned(),
                serde_json::to_value(v).map_err($crate::ApiError::internal)?,
            );
        })+
    };
}
pub(crate) use keep;

/// Settings kept as given hold no NUL (see [`json_has_nul`]).
pub fn no_nul(settings: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    if settings.values().any(json_has_nul) {
        Err(ApiError::bad_request(
            "settings may not contain NUL characters",
        ))
    } else {
        Ok(())
    }
}

/// A JSON body, read once the request's [`crate::auth::Authorized`] has
/// accepted the token (it must come first among the handler's arguments):
/// without a valid grant the answer is 401/403, whatever the body holds.
pub type Body<T> = AfterAuth<web::Json<T>>;
/// Query parameters, read as [`Body`] is.
pub type Params<T> = AfterAuth<web::Query<T>>;

/// Extractor `E`, run only after authorization.
pub struct AfterAuth<E>(E);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T> Params<T> {
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<E> std::ops::Deref for AfterAuth<E> {
    type Target = E;
    fn deref(&self) -> &E {
        &self.0
    }
}

impl<E: FromRequest> FromRequest for AfterAuth<E> {
    type Error = E::Error;
    type Future = AfterAuthFuture<E::Future>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        AfterAuthFuture {
            // Present when an `Authorized` was extracted before this.
            gate: req.extensions().get::<AuthGate>().cloned(),
            inner: Box::pin(E::from_request(req, payload)),
        }
    }
}

pub struct AfterAuthFuture<F> {
    gate: Option<AuthGate>,
    inner: Pin<Box<F>>,
}

impl<F: Future<Output = Result<E, Err>>, E, Err> Future for AfterAuthFuture<F> {
    type Output = Result<AfterAuth<E>, Err>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Arguments are extracted together in one task, in order: while the
        // token is still being checked, `Authorized`'s own wake-up polls
        // this again, after it.
        if self.gate.as_ref().is_some_and(|g| !g.is_open()) {
            return Poll::Pending;
        }
        self.inner.as_mut().poll(cx).map(|r| r.map(AfterAuth))
    }
}
