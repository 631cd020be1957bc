//! API errors: a status and a message for the client, as JSON
//! `{"error": "...", "field": ...}`; details go to the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What went wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed; `field` names the culprit.
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
        /// Which field, if one.
        field: Option<&'static str>,
    },
    /// 401: no or wrong token.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// 401 at login: wrong extension or password (one message for both).
    #[error("wrong extension or password")]
    LoginFailed,
    /// 403: logged in, but the role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409: refused in the current state.
    #[error("{0}")]
    Conflict(String),
    /// 503: a part of the server is not available.
    #[error("{0}")]
    Unavailable(String),
    /// 500: the database failed.
    #[error("internal error")]
    Internal(String),
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::runtime::CoreGone> for ApiError {
    fn from(_: crate::runtime::CoreGone) -> ApiError {
        ApiError::Unavailable("the call core is not running".into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::LoginFailed => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "api request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let field = match &self {
            ApiError::BadRequest { field, .. } => *field,
            _ => None,
        };
        (
            status,
            Json(json!({ "error": self.to_string(), "field": field })),
        )
            .into_response()
    }
}
