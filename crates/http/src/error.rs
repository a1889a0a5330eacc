//! The error body every failed request gets, and the codes it can carry.
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `not_json`, `not_an_object`, `lead_reference_missing`, `lead_reference_invalid` | the webhook body cannot be a lead (it is quarantined) |
//! | 400 | `body_unreadable` | the request body could not be read |
//! | 400 | `invalid_request` | a parameter or the JSON body is malformed or missing (`limit`, `cursor`, ...): the message names it and what it accepts |
//! | 401 | `unauthorized` | missing or wrong webhook token or API key |
//! | 403 | `forbidden` | the API key lacks the scope |
//! | 404 | `not_found` | no such lead, quarantine entry or path |
//! | 405 | `method_not_allowed` | the path exists, not with this method |
//! | 413 | `payload_too_large` | the webhook body is over the limit (its first bytes are quarantined) |
//! | 415 | `unsupported_media_type` | a JSON body (`PATCH`) sent without `Content-Type: application/json` |
//! | 500 | `internal_error` | a bug or a corrupt row; details are in the log only |
//! | 503 | `storage_unavailable` | the database cannot be reached; retry after `Retry-After` seconds |

use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};
use poem_openapi::{Object, payload::Json};

use crate::params::{Asked, Explained, ParamRules};

/// An error: a stable machine `code` and a `message` for a person.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ApiError {
    /// Stable, snake_case; safe to branch on.
    pub code: String,
    /// For a person; may change between versions.
    pub message: String,
}

impl poem_openapi::types::Example for ApiError {
    fn example() -> Self {
        ApiError::new("unauthorized", "the webhook token is missing or not valid")
    }
}

impl ApiError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub fn json(code: &str, message: impl Into<String>) -> Json<ApiError> {
        Json(Self::new(code, message))
    }

    pub fn internal() -> Json<ApiError> {
        Self::json(
            "internal_error",
            "an internal error occurred; it has been logged",
        )
    }

    pub fn unavailable() -> Json<ApiError> {
        Self::json("storage_unavailable", "storage is unavailable; retry later")
    }

    pub fn unauthorized(what: &str) -> Json<ApiError> {
        Self::json(
            "unauthorized",
            format!("the {what} is missing or not valid"),
        )
    }
}

/// The code for an error status that poem or poem-openapi produced by itself.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::SERVICE_UNAVAILABLE => "storage_unavailable",
        status if status.is_server_error() => "internal_error",
        _ => "invalid_request",
    }
}

/// Turns an error from the framework (routing, parameter parsing, authentication
/// extraction) into the JSON error body. A 5xx never says what went wrong inside.
pub fn error_body(error: &poem::Error) -> (StatusCode, ApiError) {
    let status = error.status();
    let message = if status.is_server_error() {
        "an internal error occurred; it has been logged".to_owned()
    } else if status == StatusCode::UNAUTHORIZED {
        "the credentials are missing or not valid".to_owned()
    } else {
        error.to_string()
    };
    (status, ApiError::new(code_for(status), message))
}

fn into_json_response(error: poem::Error, asked: &Asked, rules: &ParamRules) -> Response {
    if error.is_from_response() {
        // An operation's own documented answer (already JSON): leave it as it is.
        return error.into_response();
    }
    if error.status().is_server_error() {
        tracing::error!(error = %error, "request failed");
    }
    let (status, body) = match rules.explain(&error, asked) {
        Some(Explained::BadRequest(message)) => (
            StatusCode::BAD_REQUEST,
            ApiError::new(code_for(StatusCode::BAD_REQUEST), message),
        ),
        Some(Explained::UnsupportedMediaType(message)) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::new(code_for(StatusCode::UNSUPPORTED_MEDIA_TYPE), message),
        ),
        None => error_body(&error),
    };
    Json(body).with_status(status).into_response()
}

/// Every error the routes inside answer becomes the JSON error body; a parameter or
/// body poem-openapi could not parse is explained by [`ParamRules`].
pub(crate) async fn json_errors<E: Endpoint>(
    rules: Arc<ParamRules>,
    next: E,
    request: Request,
) -> poem::Result<Response> {
    let asked = Asked::of(&request, &rules);
    Ok(match crate::call_boxed(&next, request).await {
        Ok(response) => response.into_response(),
        Err(error) => into_json_response(error, &asked, &rules),
    })
}
