//! `ApiError`: the one place an error becomes Twilio's JSON error body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use switchboard_core::{ErrorCode, error_code};
use switchboard_engine::EngineError;
use switchboard_store::StoreError;

/// An error answered to a REST client: HTTP status, Twilio code and a message for a developer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// A 404 for a path the API does not have at all (not for a resource that does not exist):
    /// answered with `X-Switchboard-Route: none`, which is how the conformance run tells the
    /// operations this engine serves from those it does not, from the router's own answers.
    pub unrouted: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            unrouted: false,
        }
    }

    /// Twilio's 404 for a path this API does not have (see `unrouted`).
    pub fn no_such_path(path: &str) -> ApiError {
        ApiError {
            unrouted: true,
            ..ApiError::not_found(path)
        }
    }

    /// A 400 with `code`, as every parameter validation answers.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Twilio's 404 for a path, with its exact message text.
    pub fn not_found(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            error_code::NOT_FOUND,
            format!("The requested resource {path} was not found"),
        )
    }

    /// Twilio's 401 for missing or wrong credentials.
    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            error_code::AUTHENTICATION_FAILED,
            "Authenticate",
        )
    }

    /// Twilio's 401 for a suspended or closed account (or a subaccount of one): the
    /// credentials are right, the account may not act.
    pub fn account_not_active() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            error_code::ACCOUNT_NOT_ACTIVE,
            error_code::ACCOUNT_NOT_ACTIVE.message,
        )
    }

    /// Twilio's 403 (20403) with a message saying what is forbidden.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, error_code::FORBIDDEN, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code.code,
            "message": self.message,
            "more_info": self.code.more_info(),
            "status": self.status.as_u16(),
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.unrouted {
            response.headers_mut().insert(
                "x-switchboard-route",
                axum::http::HeaderValue::from_static("none"),
            );
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        if let StoreError::Unstorable { place, problem } = &error {
            // The form parser refuses NULs in parameters first; this is a value no parameter
            // rule caught (an over-long number, say). Bad input, not a store failure.
            return ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!("Invalid parameter: the value stored as {place} {problem}"),
            );
        }
        if let StoreError::FilterTooLong = error {
            return ApiError::bad_request(
                error_code::INVALID_PARAMETER,
                format!(
                    "Invalid parameter: a filter value is longer than {} bytes",
                    switchboard_store::LIKE_PATTERN_MAX_BYTES / 2
                ),
            );
        }
        tracing::error!(%error, "store failure");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            error_code::INTERNAL_SERVER_ERROR,
            "The store could not complete the request; it was not applied",
        )
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> ApiError {
        match error {
            EngineError::Store(error) => ApiError::from(error),
            EngineError::ShuttingDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                error.code(),
                "The engine is shutting down and starts no new calls or messages",
            ),
            EngineError::AccountNotActive => ApiError::account_not_active(),
            EngineError::Internal(ref message) => {
                tracing::error!(%message, "internal engine error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    error.code(),
                    "The engine could not complete the request",
                )
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
