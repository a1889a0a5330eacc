//! What every `/api/v1` module shares: the API key scheme and its authorisation, the
//! errors every operation may answer and how storage failures map to them, pagination
//! and cursors. Each API module (`leads`, `work`, `feed`, `insights`, `subjects`)
//! depends on this one and on no sibling.

use chrono::DateTime;
use lead_inbox_application::{
    AccessError, ApiPrincipal, LeadCursor, PageRequest, Scope, SecretString, StorageError,
};
use lead_inbox_domain::LeadId;
use poem_openapi::{ApiResponse, SecurityScheme, auth::Bearer, payload::Json};

use crate::{HttpConfig, HttpState, error::ApiError};

/// An API key, sent as `Authorization: Bearer <api key>`.
#[derive(SecurityScheme)]
#[oai(rename = "apiKey", ty = "bearer", bearer_format = "opaque API key")]
pub struct ApiKeyAuth(Bearer);

/// The errors every `/api/v1` operation may answer.
#[derive(Debug, ApiResponse)]
pub enum ApiFailure {
    /// A parameter is malformed (`invalid_request`).
    #[oai(status = 400)]
    BadRequest(Json<ApiError>),
    /// The API key is missing or not valid (`unauthorized`).
    #[oai(status = 401)]
    Unauthorized(Json<ApiError>),
    /// The API key lacks the scope this operation needs (`forbidden`).
    #[oai(status = 403)]
    Forbidden(Json<ApiError>),
    /// No such item (`not_found`).
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
    /// The request took longer than the request timeout (`request_timeout`).
    #[oai(status = 408)]
    RequestTimeout(Json<ApiError>),
    /// Too many requests with this API key, or too many failed authentications from this
    /// address (`too_many_requests`); retry after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ApiError>, #[oai(header = "Retry-After")] u64),
    /// An internal error (`internal_error`); details are in the server's log only.
    #[oai(status = 500)]
    Internal(Json<ApiError>),
    /// Storage is unavailable (`storage_unavailable`); retry after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(Json<ApiError>, #[oai(header = "Retry-After")] u64),
}

/// The `ETag` of a lead at `version`: a strong validator.
pub(crate) fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

pub(crate) type ApiResult<T> = Result<T, ApiFailure>;

pub(crate) fn bad_request(message: impl Into<String>) -> ApiFailure {
    ApiFailure::BadRequest(ApiError::json("invalid_request", message))
}

// A lead cursor is a keyset position, `<received_at in µs>_<id>` (the query
// parameter's pattern says so); any value of that shape is a valid position ("after
// this point"), so clients can treat it as opaque and a generated client can never
// build an invalid one. A quarantine cursor is the last id seen.

pub(crate) fn lead_cursor(cursor: &LeadCursor) -> String {
    format!("{}_{}", cursor.at.timestamp_micros(), cursor.id.0)
}

pub(crate) fn parse_lead_cursor(cursor: &str) -> Result<LeadCursor, ApiFailure> {
    let invalid = || bad_request("cursor is not valid: pass back a nextCursor unchanged");
    let (micros, id) = cursor.split_once('_').ok_or_else(invalid)?;
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let id: i64 = id.parse().map_err(|_| invalid())?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    Ok(LeadCursor { at, id: LeadId(id) })
}

/// A cursor that is the last id seen (the quarantine, the erasure log).
pub(crate) fn parse_id_cursor(cursor: &str) -> Result<i64, ApiFailure> {
    cursor
        .parse()
        .map_err(|_| bad_request("cursor is not valid: pass back a nextCursor unchanged"))
}

pub(crate) fn page_request<C>(
    limit: Option<u32>,
    after: Option<C>,
) -> Result<PageRequest<C>, ApiFailure> {
    PageRequest::new(limit, after).map_err(|error| bad_request(error.to_string()))
}

pub(crate) fn lead_not_found() -> ApiFailure {
    ApiFailure::NotFound(ApiError::json("not_found", "no lead has this reference"))
}

pub(crate) fn default_limit() -> u32 {
    lead_inbox_application::pagination::DEFAULT_PAGE_SIZE
}

/// The use cases and settings behind every `/api/v1` operation.
#[derive(Clone)]
pub struct ApiContext {
    state: Option<HttpState>,
    config: HttpConfig,
}

impl ApiContext {
    pub fn new(state: HttpState, config: HttpConfig) -> Self {
        ApiContext {
            state: Some(state),
            config,
        }
    }

    /// A context with no use case behind it: only for generating the OpenAPI document.
    pub fn detached() -> Self {
        ApiContext {
            state: None,
            config: HttpConfig::default(),
        }
    }

    pub(crate) fn storage_failure(&self, error: StorageError) -> ApiFailure {
        tracing::error!(error = %error, cause = ?std::error::Error::source(&error), "a query failed");
        match error {
            StorageError::Unavailable(_) => {
                ApiFailure::Unavailable(ApiError::unavailable(), self.config.retry_after.as_secs())
            }
            StorageError::Unexpected(_) => ApiFailure::Internal(ApiError::internal()),
        }
    }

    /// The use cases, once the caller's key is checked for `scope`.
    pub(crate) async fn authorize(
        &self,
        key: ApiKeyAuth,
        scope: Scope,
    ) -> ApiResult<(&HttpState, ApiPrincipal)> {
        let Some(state) = &self.state else {
            return Err(ApiFailure::Unavailable(
                ApiError::unavailable(),
                self.config.retry_after.as_secs(),
            ));
        };
        let key = SecretString::from(key.0.token);
        match state.access.authorize(Some(&key), scope).await {
            Ok(principal) => Ok((state, principal)),
            Err(AccessError::Unauthorized) => {
                Err(ApiFailure::Unauthorized(ApiError::unauthorized("API key")))
            }
            Err(AccessError::Forbidden(scope)) => Err(ApiFailure::Forbidden(ApiError::json(
                "forbidden",
                format!("this API key lacks the {scope} scope"),
            ))),
            Err(AccessError::Storage(error)) => Err(self.storage_failure(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let cursor = LeadCursor {
            at: DateTime::from_timestamp_micros(1_723_215_944_613_151).expect("valid"),
            id: LeadId(42),
        };
        let encoded = lead_cursor(&cursor);
        assert_eq!(encoded, "1723215944613151_42");
        assert_eq!(parse_lead_cursor(&encoded).ok(), Some(cursor));
        for bad in ["not-a-cursor", "12", "1_x", "_1", "99999999999999999999_1"] {
            assert!(parse_lead_cursor(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_id_cursor("9").ok(), Some(9));
        assert!(parse_id_cursor("x").is_err());
    }

    #[test]
    fn every_value_of_the_documented_shape_is_a_valid_cursor() {
        for cursor in ["0_0", "999999999999999999_999999999999999999", "1_1"] {
            assert!(parse_lead_cursor(cursor).is_ok(), "{cursor}");
        }
    }

    #[test]
    fn an_etag_is_the_version_in_quotes() {
        assert_eq!(etag(7), "\"7\"");
    }
}
