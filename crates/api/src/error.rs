//! Every error idstore answers with, and its wire shape. This is the one
//! table of error codes: add a variant here, never a status code in a handler.
//!
//! Shapes, as the specs define them:
//! - 400: `{"message": ["..."], "error_code": 400}` (`BadRequestHttpError`)
//! - 409 identifier taken: `{"message", "error_code": 409, "ts_error_code"}`
//! - everything else: `{"message": "...", "error_code": N}` (`NotFoundHttpError` and kin)

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Invalid input: one message per problem found.
    #[error("bad request: {}", .0.join("; "))]
    BadRequest(Vec<String>),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict {
        message: String,
        ts_error_code: &'static str,
    },
    #[error("request body too large")]
    PayloadTooLarge { limit: Option<usize> },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Anything unexpected. The cause is logged with the request id, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(vec![message.into()])
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// The message a client sees.
    fn public_message(&self) -> String {
        match self {
            Self::BadRequest(_) => "Bad request".into(),
            Self::Unauthorized(m) | Self::Forbidden(m) | Self::NotFound(m) => m.clone(),
            Self::Unavailable(m) => m.clone(),
            Self::MethodNotAllowed => "Method not allowed on this route".into(),
            Self::Conflict { message, .. } => message.clone(),
            Self::PayloadTooLarge { limit: Some(limit) } => {
                format!("Request body is larger than the limit of {limit} bytes")
            }
            Self::PayloadTooLarge { limit: None } => "Request body is too large".into(),
            Self::Internal(_) => {
                "Internal server error; quote the x-request-id header when reporting it".into()
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut builder = HttpResponse::build(status);
        if let Self::Unauthorized(_) = self {
            builder.insert_header(("www-authenticate", "Bearer"));
        }
        let code = status.as_u16();
        let body = match self {
            Self::BadRequest(messages) => json!({ "message": messages, "error_code": code }),
            Self::Conflict {
                message,
                ts_error_code,
            } => {
                json!({ "message": message, "error_code": code, "ts_error_code": ts_error_code })
            }
            other => json!({ "message": other.public_message(), "error_code": code }),
        };
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
    /// Too many failed authentications for this client in the window.
    #[error("throttled, retry after {retry_after} s")]
    Throttled { retry_after: i64 },
    #[error("server_error: {0}")]
    Server(String),
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) | Self::UnsupportedGrantType(_) | Self::InvalidTarget(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::InvalidClient(_) => StatusCode::UNAUTHORIZED,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (error, description) = match self {
            Self::InvalidRequest(d) => ("invalid_request", d.clone()),
            Self::InvalidClient(d) => ("invalid_client", d.clone()),
            Self::UnsupportedGrantType(d) => ("unsupported_grant_type", d.clone()),
            Self::InvalidTarget(d) => ("invalid_target", d.clone()),
            Self::Throttled { retry_after } => (
                "invalid_client",
                format!(
                    "Too many failed authentications for this client; retry in {retry_after} seconds"
                ),
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
        405 => ApiError::MethodNotAllowed,
        413 => ApiError::PayloadTooLarge { limit: None },
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
            | JsonPayloadError::Overflow { limit } => Self::PayloadTooLarge { limit: Some(limit) },
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
            UrlencodedError::Overflow { limit, .. } => Self::PayloadTooLarge { limit: Some(limit) },
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
        let e = ApiError::Conflict {
            message: "taken".into(),
            ts_error_code: "IdentifierIsTaken",
        };
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
}
