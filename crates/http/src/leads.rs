//! `/api/v1`: leads and the quarantine, for CRM integrators.

use chrono::DateTime;
use lead_inbox_application::{
    AccessError, ApiAccess, ApiPrincipal, LeadCursor, LeadQueries, PageRequest, Scope,
    SecretString, StorageError,
};
use lead_inbox_domain::{LeadId, LeadReference, QuarantineId};
use poem_openapi::{
    ApiResponse, OpenApi, SecurityScheme,
    auth::Bearer,
    param::{Path, Query},
    payload::Json,
};

use crate::{
    ApiTags, HttpConfig,
    error::ApiError,
    views::{LeadPage, LeadView, QuarantinePage, QuarantinedView},
};

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

#[derive(ApiResponse)]
pub enum LeadPageResponse {
    /// A page of leads, newest first.
    #[oai(status = 200)]
    Ok(Json<LeadPage>),
}

#[derive(ApiResponse)]
pub enum LeadResponse {
    /// The lead.
    #[oai(status = 200)]
    Ok(Json<LeadView>),
}

#[derive(ApiResponse)]
pub enum QuarantinePageResponse {
    /// A page of quarantined payloads, newest first.
    #[oai(status = 200)]
    Ok(Json<QuarantinePage>),
}

#[derive(ApiResponse)]
pub enum QuarantinedResponse {
    /// The quarantined payload.
    #[oai(status = 200)]
    Ok(Json<QuarantinedView>),
}

type ApiResult<T> = Result<T, ApiFailure>;

fn bad_request(message: impl Into<String>) -> ApiFailure {
    ApiFailure::BadRequest(ApiError::json("invalid_request", message))
}

// A lead cursor is a keyset position, `<received_at in µs>_<id>` (the query
// parameter's pattern says so); any value of that shape is a valid position ("after
// this point"), so clients can treat it as opaque and a generated client can never
// build an invalid one. A quarantine cursor is the last id seen.

fn lead_cursor(cursor: &LeadCursor) -> String {
    format!("{}_{}", cursor.received_at.timestamp_micros(), cursor.id.0)
}

fn parse_lead_cursor(cursor: &str) -> Result<LeadCursor, ApiFailure> {
    let invalid = || bad_request("cursor is not valid: pass back a nextCursor unchanged");
    let (micros, id) = cursor.split_once('_').ok_or_else(invalid)?;
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let id: i64 = id.parse().map_err(|_| invalid())?;
    let received_at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    Ok(LeadCursor {
        received_at,
        id: LeadId(id),
    })
}

fn parse_quarantine_cursor(cursor: &str) -> Result<QuarantineId, ApiFailure> {
    cursor
        .parse()
        .map(QuarantineId)
        .map_err(|_| bad_request("cursor is not valid: pass back a nextCursor unchanged"))
}

fn page_request<C>(limit: Option<u32>, after: Option<C>) -> Result<PageRequest<C>, ApiFailure> {
    PageRequest::new(limit, after).map_err(|error| bad_request(error.to_string()))
}

pub struct LeadsApi {
    queries: Option<LeadQueries>,
    access: Option<ApiAccess>,
    config: HttpConfig,
}

impl LeadsApi {
    pub fn new(queries: LeadQueries, access: ApiAccess, config: HttpConfig) -> Self {
        LeadsApi {
            queries: Some(queries),
            access: Some(access),
            config,
        }
    }

    /// An API with no use case behind it: only for generating the OpenAPI document.
    pub fn detached() -> Self {
        LeadsApi {
            queries: None,
            access: None,
            config: HttpConfig::default(),
        }
    }

    fn storage_failure(&self, error: StorageError) -> ApiFailure {
        tracing::error!(error = %error, cause = ?std::error::Error::source(&error), "a query failed");
        match error {
            StorageError::Unavailable(_) => {
                ApiFailure::Unavailable(ApiError::unavailable(), self.config.retry_after.as_secs())
            }
            StorageError::Unexpected(_) => ApiFailure::Internal(ApiError::internal()),
        }
    }

    /// The queries, once the caller's key is checked for `scope`.
    async fn authorize(
        &self,
        key: ApiKeyAuth,
        scope: Scope,
    ) -> ApiResult<(&LeadQueries, ApiPrincipal)> {
        let (Some(queries), Some(access)) = (&self.queries, &self.access) else {
            return Err(ApiFailure::Unavailable(
                ApiError::unavailable(),
                self.config.retry_after.as_secs(),
            ));
        };
        let key = SecretString::from(key.0.token);
        match access.authorize(Some(&key), scope).await {
            Ok(principal) => Ok((queries, principal)),
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

#[OpenApi(prefix_path = "/api/v1")]
impl LeadsApi {
    /// List leads
    ///
    /// Leads, newest received first. Pages are stable: leads arriving while a client
    /// pages through never make it skip or repeat one. Pass `nextCursor` back as
    /// `cursor` until it is absent. Needs the `read` scope.
    #[oai(
        path = "/leads",
        method = "get",
        operation_id = "listLeads",
        tag = "ApiTags::Leads"
    )]
    async fn list_leads(
        &self,
        auth: ApiKeyAuth,
        /// Items per page, 1 to 500.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u32>,
        /// The `nextCursor` of the previous page.
        #[oai(validator(pattern = "^[0-9]{1,18}_[0-9]{1,18}$"))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<LeadPageResponse> {
        let (queries, _) = self.authorize(auth, Scope::Read).await?;
        let after = cursor.0.as_deref().map(parse_lead_cursor).transpose()?;
        let page = queries
            .leads(page_request(Some(limit.0), after)?)
            .await
            .map_err(|error| self.storage_failure(error))?;
        Ok(LeadPageResponse::Ok(Json(LeadPage {
            next_cursor: page.next.as_ref().map(lead_cursor),
            items: page.items.into_iter().map(LeadView::from).collect(),
        })))
    }

    /// Get a lead
    ///
    /// One lead by its CasaYes `LeadReference`, with every parsed field, the anomalies
    /// and the original payload. Needs the `read` scope.
    #[oai(
        path = "/leads/:leadReference",
        method = "get",
        operation_id = "getLead",
        tag = "ApiTags::Leads"
    )]
    async fn get_lead(
        &self,
        auth: ApiKeyAuth,
        /// The CasaYes `LeadReference` (URL-encoded).
        #[oai(name = "leadReference")]
        lead_reference: Path<String>,
    ) -> ApiResult<LeadResponse> {
        let (queries, _) = self.authorize(auth, Scope::Read).await?;
        let not_found =
            || ApiFailure::NotFound(ApiError::json("not_found", "no lead has this reference"));
        let reference = LeadReference::parse(&lead_reference.0).map_err(|_| not_found())?;
        let lead = queries
            .lead(&reference)
            .await
            .map_err(|error| self.storage_failure(error))?
            .ok_or_else(not_found)?;
        Ok(LeadResponse::Ok(Json(LeadView::from(lead))))
    }

    /// List quarantined payloads
    ///
    /// Authenticated webhook bodies that could not be leads, newest first, with the
    /// reason and the raw bytes. Needs the `read` scope.
    #[oai(
        path = "/quarantine",
        method = "get",
        operation_id = "listQuarantine",
        tag = "ApiTags::Quarantine"
    )]
    async fn list_quarantine(
        &self,
        auth: ApiKeyAuth,
        /// Items per page, 1 to 500.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u32>,
        /// The `nextCursor` of the previous page.
        #[oai(validator(pattern = "^[0-9]{1,18}$"))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<QuarantinePageResponse> {
        let (queries, _) = self.authorize(auth, Scope::Read).await?;
        let after = cursor
            .0
            .as_deref()
            .map(parse_quarantine_cursor)
            .transpose()?;
        let page = queries
            .quarantine(page_request(Some(limit.0), after)?)
            .await
            .map_err(|error| self.storage_failure(error))?;
        Ok(QuarantinePageResponse::Ok(Json(QuarantinePage {
            next_cursor: page.next.map(|id| id.0.to_string()),
            items: page.items.into_iter().map(QuarantinedView::from).collect(),
        })))
    }

    /// Get a quarantined payload
    ///
    /// One quarantined payload, with the reason and the raw bytes. Needs the `read` scope.
    #[oai(
        path = "/quarantine/:id",
        method = "get",
        operation_id = "getQuarantined",
        tag = "ApiTags::Quarantine"
    )]
    async fn get_quarantined(
        &self,
        auth: ApiKeyAuth,
        id: Path<i64>,
    ) -> ApiResult<QuarantinedResponse> {
        let (queries, _) = self.authorize(auth, Scope::Read).await?;
        let entry = queries
            .quarantined(QuarantineId(id.0))
            .await
            .map_err(|error| self.storage_failure(error))?
            .ok_or_else(|| {
                ApiFailure::NotFound(ApiError::json(
                    "not_found",
                    "no quarantined payload has this id",
                ))
            })?;
        Ok(QuarantinedResponse::Ok(Json(QuarantinedView::from(entry))))
    }
}

fn default_limit() -> u32 {
    lead_inbox_application::pagination::DEFAULT_PAGE_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let cursor = LeadCursor {
            received_at: DateTime::from_timestamp_micros(1_723_215_944_613_151).expect("valid"),
            id: LeadId(42),
        };
        let encoded = lead_cursor(&cursor);
        assert_eq!(encoded, "1723215944613151_42");
        assert_eq!(parse_lead_cursor(&encoded).ok(), Some(cursor));
        for bad in ["not-a-cursor", "12", "1_x", "_1", "99999999999999999999_1"] {
            assert!(parse_lead_cursor(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_quarantine_cursor("9").ok(), Some(QuarantineId(9)));
        assert!(parse_quarantine_cursor("x").is_err());
    }

    #[test]
    fn every_value_of_the_documented_shape_is_a_valid_cursor() {
        for cursor in ["0_0", "999999999999999999_999999999999999999", "1_1"] {
            assert!(parse_lead_cursor(cursor).is_ok(), "{cursor}");
        }
    }
}
