//! Every error idstore answers with, and its wire shape. This is the one
//! table of error codes: a code is one line of [`error_codes!`], every
//! store outcome maps to one in `From<StoreError>`, and handlers only ever
//! return these (with `?`), never a status code of their own.
//!
//! Shapes, as the specs define them:
//! - 400: `{"message": ["..."], "error_code": 400}` (`BadRequestHttpError`)
//! - 409 identifier taken: `{"message", "error_code": 409, "ts_error_code"}`
//! - everything else: `{"message": "...", "error_code": N}` (`NotFoundHttpError` and kin)

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use idstore_store::{Identifier, StoreError};
use serde_json::json;

/// Seconds a client is told to wait before retrying a 503.
pub const RETRY_AFTER_SECS: u32 = 2;

/// How an error's body is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"message": [..], "error_code"}`: every problem of the request.
    Messages,
    /// `{"message", "error_code"}`.
    Message,
    /// `{"message", "error_code", "ts_error_code"}`.
    Conflict(&'static str),
    /// `{"message", "error_code"}` with a fixed message: the cause is
    /// logged with the request id, never sent.
    Hidden,
    /// As [`Shape::Message`], with `Retry-After`.
    Retry,
    /// `{"status": "not_ready"}`: all a probe's anonymous caller learns; the
    /// reason is logged with the request id.
    Probe,
    /// `{"error_code": "<code>", "message"}`: the password operations'
    /// errors, whose `error_code` is a string the spec enumerates.
    Coded,
}

/// An error the Users spec names by a string code (`auth_password_weak`).
#[derive(Debug, Clone)]
pub struct Coded {
    pub code: &'static str,
    pub message: String,
}

impl Coded {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident($payload:ty) => $status:ident, $shape:expr;)*) => {
        #[derive(Debug, thiserror::Error)]
        pub enum ApiError {
            $($(#[$doc])* #[error("{}: {:?}", stringify!($variant), .0)] $variant($payload),)*
        }

        impl ApiError {
            /// The status and body shape of this error: the table's row.
            pub fn row(&self) -> (StatusCode, Shape) {
                match self {
                    $(Self::$variant(_) => (StatusCode::$status, $shape),)*
                }
            }
        }
    };
}

error_codes! {
    /// Invalid input: one message per problem found.
    BadRequest(Vec<String>)    => BAD_REQUEST, Shape::Messages;
    Unauthorized(String)       => UNAUTHORIZED, Shape::Message;
    Forbidden(String)          => FORBIDDEN, Shape::Message;
    NotFound(String)           => NOT_FOUND, Shape::Message;
    MethodNotAllowed(String)   => METHOD_NOT_ALLOWED, Shape::Message;
    /// A unique identifier (email, phone, username, name...) is taken.
    IdentifierTaken(String)    => CONFLICT, Shape::Conflict("IdentifierIsTaken");
    /// Another request holds what this one needs (an idempotency key in use).
    Conflict(String)           => CONFLICT, Shape::Message;
    /// Well-formed, but contradicts what was asked before (a reused
    /// idempotency key with another body).
    Unprocessable(String)      => UNPROCESSABLE_ENTITY, Shape::Message;
    PayloadTooLarge(String)    => PAYLOAD_TOO_LARGE, Shape::Message;
    /// The caller is over its own share (not the service over its capacity).
    TooManyRequests(String)    => TOO_MANY_REQUESTS, Shape::Retry;
    /// As above, with the caller's own wait (a login throttle's delay).
    WaitFor(Wait)              => TOO_MANY_REQUESTS, Shape::Retry;
    /// Overload or an outage: the client should retry.
    Unavailable(String)        => SERVICE_UNAVAILABLE, Shape::Retry;
    /// This replica should get no traffic (the database unreachable, its
    /// schema not this binary's, a key-encryption key that opens no
    /// signing key); the payload is the reason, for the log.
    NotReady(String)           => SERVICE_UNAVAILABLE, Shape::Probe;
    /// Anything unexpected; the payload is the cause, for the log.
    Internal(String)           => INTERNAL_SERVER_ERROR, Shape::Hidden;
    /// The password operations' 400s (`auth_password_weak`, `system_invalid_input`...).
    CodedBadRequest(Coded)     => BAD_REQUEST, Shape::Coded;
    /// `user_not_found` of the password operations.
    CodedNotFound(Coded)       => NOT_FOUND, Shape::Coded;
    /// `auth_password_already_configured`.
    CodedConflict(Coded)       => CONFLICT, Shape::Coded;
}

/// A 429 that knows when the caller may come back.
#[derive(Debug, Clone)]
pub struct Wait {
    pub message: String,
    pub retry_after_secs: u64,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(vec![message.into()])
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    fn payload_too_large(limit: Option<usize>) -> Self {
        Self::PayloadTooLarge(match limit {
            Some(limit) => format!("Request body is larger than the limit of {limit} bytes"),
            None => "Request body is too large".into(),
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(entity) => Self::NotFound(entity.not_found().into()),
            // A generated key collided: not the caller's doing.
            StoreError::Conflict(Identifier::Internal) => {
                Self::internal("a generated identifier collided")
            }
            StoreError::Conflict(identifier) => Self::IdentifierTaken(identifier.message().into()),
            StoreError::Invalid(message) => Self::bad_request(message),
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::Unavailable("The database is busy or unreachable; retry in a moment".into())
            }
            StoreError::Database(cause) => Self::internal(cause),
        }
    }
}

impl From<idstore_auth::secret::HashBusy> for ApiError {
    fn from(_: idstore_auth::secret::HashBusy) -> Self {
        Self::Unavailable("Password hashing is saturated; retry in a moment".into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.row().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, shape) = self.row();
        let mut builder = HttpResponse::build(status);
        let code = status.as_u16();
        let body = match (self, shape) {
            (Self::BadRequest(messages), _) => json!({ "message": messages, "error_code": code }),
            (Self::CodedBadRequest(c) | Self::CodedNotFound(c) | Self::CodedConflict(c), _) => {
                json!({ "error_code": c.code, "message": c.message })
            }
            (Self::WaitFor(w), _) => json!({ "message": w.message, "error_code": code }),
            (_, Shape::Probe) => json!({ "status": "not_ready" }),
            (_, Shape::Hidden) => json!({
                "message": "Internal server error; quote the x-request-id header when reporting it",
                "error_code": code,
            }),
            (
                Self::Unauthorized(m)
                | Self::Forbidden(m)
                | Self::NotFound(m)
                | Self::MethodNotAllowed(m)
                | Self::IdentifierTaken(m)
                | Self::Conflict(m)
                | Self::Unprocessable(m)
                | Self::PayloadTooLarge(m)
                | Self::TooManyRequests(m)
                | Self::Unavailable(m)
                | Self::NotReady(m)
                | Self::Internal(m),
                shape,
            ) => match shape {
                Shape::Conflict(ts) => {
                    json!({ "message": m, "error_code": code, "ts_error_code": ts })
                }
                _ => json!({ "message": m, "error_code": code }),
            },
        };
        match shape {
            Shape::Retry => {
                let secs = match self {
                    Self::WaitFor(w) => w.retry_after_secs.max(1),
                    _ => u64::from(RETRY_AFTER_SECS),
                };
                builder.insert_header(("retry-after", secs.to_string()));
            }
            _ if matches!(self, Self::Unauthorized(_)) => {
                builder.insert_header(("www-authenticate", "Bearer"));
            }
            _ => {}
        }
        builder.json(body)
    }
}

/// Errors of the token endpoint, in RFC 6749 §5.2's shape:
/// `{"error": "...", "error_description": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_client: {0}")]
    InvalidClient(String),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    #[error("invalid_target: {0}")]
    InvalidTarget(String),
    /// A code or refresh token that is unknown, expired, used, or another
    /// client's (RFC 6749 §5.2).
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    /// Too many failed authentications for this client in the window.
    #[error("throttled, retry after {retry_after} s")]
    Throttled { retry_after: i64 },
    /// The database is busy or unreachable: retry later.
    #[error("temporarily_unavailable")]
    Unavailable,
    /// This replica cannot open the tenant's signing key; another one may.
    /// The payload is the cause, for the log.
    #[error("temporarily_unavailable: {0}")]
    SigningKeyUnavailable(String),
    #[error("server_error: {0}")]
    Server(String),
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_)
            | Self::UnsupportedGrantType(_)
            | Self::InvalidTarget(_)
            | Self::InvalidGrant(_) => StatusCode::BAD_REQUEST,
            Self::InvalidClient(_) => StatusCode::UNAUTHORIZED,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable | Self::SigningKeyUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (error, description) = match self {
            Self::InvalidRequest(d) => ("invalid_request", d.clone()),
            Self::InvalidClient(d) => ("invalid_client", d.clone()),
            Self::UnsupportedGrantType(d) => ("unsupported_grant_type", d.clone()),
            Self::InvalidTarget(d) => ("invalid_target", d.clone()),
            Self::InvalidGrant(d) => ("invalid_grant", d.clone()),
            Self::Throttled { retry_after } => (
                "invalid_client",
                format!(
                    "Too many failed authentications for this client; retry in {retry_after} seconds"
                ),
            ),
            Self::Unavailable => (
                "temporarily_unavailable",
                "The service is busy or its database unreachable; retry in a moment".to_owned(),
            ),
            Self::SigningKeyUnavailable(_) => (
                "temporarily_unavailable",
                "This server cannot open the signing key of the client's tenant: its \
                 key-encryption key is not the one that sealed the key. The operator finds the \
                 details in the server log under this request's x-request-id"
                    .to_owned(),
            ),
            Self::Server(_) => ("server_error", "Internal server error".to_owned()),
        };
        let mut builder = HttpResponse::build(self.status_code());
        builder.insert_header(("cache-control", "no-store"));
        match self {
            Self::InvalidClient(_) => {
                builder.insert_header(("www-authenticate", "Basic realm=\"idstore\""));
            }
            Self::Throttled { retry_after } => {
                builder.insert_header(("retry-after", retry_after.to_string()));
            }
            Self::Unavailable | Self::SigningKeyUnavailable(_) => {
                builder.insert_header(("retry-after", RETRY_AFTER_SECS.to_string()));
            }
            _ => {}
        }
        builder.json(json!({ "error": error, "error_description": description }))
    }
}

/// A generic error for a status that reached the client without an idstore
/// body (actix's own 404/405/413 and the like).
pub fn for_status(status: StatusCode) -> ApiError {
    match status.as_u16() {
        400 => ApiError::bad_request("The request could not be understood"),
        401 => ApiError::Unauthorized("Unauthorized".into()),
        403 => ApiError::Forbidden("Forbidden".into()),
        404 => ApiError::NotFound("Not found".into()),
        405 => ApiError::MethodNotAllowed("Method not allowed on this route".into()),
        413 => ApiError::payload_too_large(None),
        503 => ApiError::Unavailable("Service unavailable".into()),
        s if s < 500 => ApiError::bad_request(
            status
                .canonical_reason()
                .unwrap_or("The request was refused")
                .to_owned(),
        ),
        _ => ApiError::internal(format!("unhandled status {status}")),
    }
}

impl From<JsonPayloadError> for ApiError {
    fn from(e: JsonPayloadError) -> Self {
        match e {
            JsonPayloadError::OverflowKnownLength { limit, .. }
            | JsonPayloadError::Overflow { limit } => Self::payload_too_large(Some(limit)),
            JsonPayloadError::ContentType => {
                Self::bad_request("Content-Type must be application/json")
            }
            JsonPayloadError::Deserialize(e) if e.is_data() => {
                Self::bad_request(format!("Invalid request body: {e}"))
            }
            JsonPayloadError::Deserialize(e) => {
                Self::bad_request(format!("Malformed JSON in request body: {e}"))
            }
            other => Self::bad_request(format!("Unreadable request body: {other}")),
        }
    }
}

impl From<UrlencodedError> for ApiError {
    fn from(e: UrlencodedError) -> Self {
        match e {
            UrlencodedError::Overflow { limit, .. } => Self::payload_too_large(Some(limit)),
            UrlencodedError::ContentType => {
                Self::bad_request("Content-Type must be application/x-www-form-urlencoded")
            }
            other => Self::bad_request(format!("Invalid form body: {other}")),
        }
    }
}

impl From<QueryPayloadError> for ApiError {
    fn from(e: QueryPayloadError) -> Self {
        Self::bad_request(format!("Invalid query string: {e}"))
    }
}

impl From<PathError> for ApiError {
    fn from(e: PathError) -> Self {
        Self::bad_request(format!("Invalid path parameter: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn body_of(e: ApiError) -> (u16, serde_json::Value) {
        let resp = e.error_response();
        let status = resp.status().as_u16();
        let bytes = to_bytes(resp.into_body()).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[actix_web::test]
    async fn bad_request_lists_its_messages_in_an_array() {
        let (status, body) = body_of(ApiError::BadRequest(vec!["a".into(), "b".into()])).await;
        assert_eq!(status, 400);
        assert_eq!(body, json!({"message": ["a", "b"], "error_code": 400}));
    }

    #[actix_web::test]
    async fn not_found_carries_a_single_message() {
        let (status, body) = body_of(ApiError::NotFound("User not found".into())).await;
        assert_eq!(status, 404);
        assert_eq!(
            body,
            json!({"message": "User not found", "error_code": 404})
        );
    }

    #[actix_web::test]
    async fn conflict_carries_the_vendor_error_code() {
        let e = ApiError::IdentifierTaken("taken".into());
        let (status, body) = body_of(e).await;
        assert_eq!(status, 409);
        assert_eq!(
            body,
            json!({"message": "taken", "error_code": 409, "ts_error_code": "IdentifierIsTaken"})
        );
    }

    #[actix_web::test]
    async fn internal_errors_never_show_their_cause() {
        let (status, body) = body_of(ApiError::internal("password=hunter2 at db.rs:12")).await;
        assert_eq!(status, 500);
        let text = body.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("db.rs"),
            "{text}"
        );
        assert_eq!(body["error_code"], 500);
    }

    #[actix_web::test]
    async fn store_outcomes_map_to_their_codes() {
        use idstore_store::Entity;
        let (status, body) = body_of(StoreError::NotFound(Entity::Group).into()).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (404, Some("Group not found"))
        );
        let (status, body) = body_of(StoreError::Conflict(Identifier::Email).into()).await;
        assert_eq!(status, 409);
        assert_eq!(body["ts_error_code"], "IdentifierIsTaken");
        assert!(
            body["message"].as_str().unwrap().contains("email"),
            "{body}"
        );
        let (status, body) = body_of(StoreError::Invalid("too big".into()).into()).await;
        assert_eq!(
            (status, body),
            (400, json!({"message": ["too big"], "error_code": 400}))
        );
    }

    #[actix_web::test]
    async fn password_errors_carry_their_string_code() {
        let e = ApiError::CodedBadRequest(Coded::new("auth_password_weak", "too short"));
        assert_eq!(
            body_of(e).await,
            (
                400,
                json!({"error_code": "auth_password_weak", "message": "too short"})
            )
        );
        let e = ApiError::CodedConflict(Coded::new("auth_password_already_configured", "m"));
        assert_eq!(body_of(e).await.0, 409);
    }

    #[actix_web::test]
    async fn not_ready_tells_the_caller_nothing_but_that() {
        let (status, body) = body_of(ApiError::NotReady("schema at version 3".into())).await;
        assert_eq!((status, body), (503, json!({"status": "not_ready"})));
    }

    #[actix_web::test]
    async fn an_unavailable_database_is_a_503_with_retry_after() {
        let e: ApiError = StoreError::from(sqlx_pool_timeout()).into();
        let resp = e.error_response();
        assert_eq!(resp.status(), 503);
        assert_eq!(
            resp.headers().get("retry-after").unwrap(),
            &RETRY_AFTER_SECS.to_string()
        );
    }

    fn sqlx_pool_timeout() -> idstore_store::DbError {
        idstore_store::DbError::PoolTimedOut
    }
}
