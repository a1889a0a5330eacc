//! `/api/v1`: leads and the quarantine, for CRM integrators.

use chrono::{DateTime, FixedOffset, Utc};
use lead_inbox_application::{LeadFilter, LeadSort, Replay, Scope, WorkOutcome, WorkRequest};
use lead_inbox_domain::{
    EntityType, Lead, LeadReference, LeadStatus, QuarantineId, WorkChange, WorkError, search::fold,
};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::{Binary, Json},
    types::{Example, MaybeUndefined},
};

use crate::{
    ApiTags, HttpState,
    api::{
        ApiContext, ApiFailure, ApiKeyAuth, ApiResult, default_limit, etag, lead_cursor,
        lead_not_found, page_request, parse_id_cursor, parse_lead_cursor,
    },
    error::ApiError,
    export::{ExportContent, ExportFormat, export_stream},
    views::{
        DeliveryAccepted, LeadPage, LeadStatusView, LeadView, QuarantinePage, QuarantinedView,
    },
};

#[derive(ApiResponse)]
pub enum LeadPageResponse {
    /// A page of leads, newest first.
    #[oai(status = 200)]
    Ok(Json<LeadPage>),
}

#[derive(ApiResponse)]
pub enum LeadResponse {
    /// The lead. `ETag` is its version, for `If-Match` on a change.
    #[oai(status = 200)]
    Ok(Json<LeadView>, #[oai(header = "ETag")] String),
}

/// The order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, poem_openapi::Enum)]
#[oai(rename_all = "lowercase")]
pub enum SortView {
    /// Newest received first (the default).
    #[default]
    Received,
    /// Newest created at CasaYes first (a lead without `CreatedDate` by its receipt).
    Created,
}

#[derive(ApiResponse)]
pub enum ExportResponse {
    /// The leads, streamed.
    #[oai(status = 200)]
    Ok(ExportContent, #[oai(header = "Content-Disposition")] String),
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

#[derive(ApiResponse)]
pub enum RawResponse {
    /// The bytes CasaYes sent, exactly (for a stored lead, a JSON object), served as
    /// opaque bytes so that nothing in between re-encodes them.
    #[oai(status = 200)]
    Ok(Binary<Vec<u8>>),
}

#[derive(ApiResponse)]
pub enum ReplayResponse {
    /// The payload is a lead now: stored (`created`), or found stored (`duplicate`); it
    /// left the quarantine.
    #[oai(status = 200)]
    Stored(Json<DeliveryAccepted>),
    /// It still cannot be a lead (`code` says why); it stays in the quarantine.
    #[oai(status = 409)]
    StillRefused(Json<ApiError>),
}

#[derive(ApiResponse)]
pub enum DiscardResponse {
    /// Removed from the quarantine.
    #[oai(status = 204)]
    Removed,
}

pub struct LeadsApi {
    api: ApiContext,
}

impl LeadsApi {
    pub fn new(api: ApiContext) -> Self {
        LeadsApi { api }
    }

    /// The lead with this (URL-decoded) reference, or `404`.
    async fn find_lead(&self, state: &HttpState, reference: &str) -> ApiResult<Lead> {
        let reference = LeadReference::parse(reference).map_err(|_| lead_not_found())?;
        state
            .queries
            .lead(&reference)
            .await
            .map_err(|error| self.api.storage_failure(error))?
            .ok_or_else(lead_not_found)
    }
}

/// A change to a lead. Give only what changes; say which version you read, as
/// `version` here or as the `ETag` in `If-Match`. `status`: an open lead moves forward
/// (stages may be skipped) or is closed (`won`, `lost`, `spam`, `duplicate`); a closed
/// lead can be reopened to an open status (recorded as a reopening).
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct LeadPatch {
    pub status: Option<LeadStatusView>,
    /// The agent id to assign it to; `null` unassigns.
    pub assignee: MaybeUndefined<String>,
    /// The lead's tags, replacing the ones it has (letters, digits, `-`, `_`, `:`, `.`;
    /// stored lower-case; at most 32).
    pub tags: Option<Vec<String>>,
    /// A note to append (notes are never changed or removed, except by erasure).
    #[oai(validator(max_length = 10000))]
    pub note: Option<String>,
    /// Who writes the note (an agent id); the API key's name when absent.
    #[oai(validator(max_length = 128))]
    pub note_author: Option<String>,
    /// The version you read (the lead's `version`). Or send `If-Match`.
    pub version: Option<i64>,
}

impl Example for LeadPatch {
    fn example() -> Self {
        LeadPatch {
            status: Some(LeadStatusView::Contacted),
            assignee: MaybeUndefined::Value("agent-7".into()),
            tags: Some(vec!["vip".into()]),
            note: Some("Called; visit on Friday at 10:00.".into()),
            note_author: Some("agent-7".into()),
            version: Some(1),
        }
    }
}

// Built once per request and moved straight into the response body: the size of the
// largest variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(ApiResponse)]
pub enum PatchResponse {
    /// Changed: the lead as it is now, with its new `ETag`.
    #[oai(status = 200)]
    Updated(Json<LeadView>, #[oai(header = "ETag")] String),
    /// Not applied: the `version` in the body is not the lead's (`version_conflict`:
    /// someone changed it since you read it; read it again), or the status change is
    /// not allowed by the pipeline (`invalid_transition`).
    #[oai(status = 409)]
    Conflict(Json<ApiError>),
    /// Not applied: `If-Match` does not name the lead's current version
    /// (`precondition_failed`); read it again.
    #[oai(status = 412)]
    PreconditionFailed(Json<ApiError>),
    /// The body is not `application/json` (`unsupported_media_type`; answered by the
    /// framework before the operation runs).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ApiError>),
    /// Neither `If-Match` nor `version` was given (`precondition_required`): a change
    /// must say which version it was made from, so that nobody's change is overwritten
    /// unseen.
    #[oai(status = 428)]
    PreconditionRequired(Json<ApiError>),
}

/// The version `If-Match` names: `"3"` (or `W/"3"`); `None` when it names none.
fn if_match_version(header: &str) -> Option<i64> {
    let tag = header.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// `PATCH /api/v1/leads/{leadReference}`.
async fn update_lead(
    api: &ApiContext,
    auth: ApiKeyAuth,
    lead_reference: String,
    if_match: Option<String>,
    patch: LeadPatch,
) -> ApiResult<PatchResponse> {
    let (state, principal) = api.authorize(auth, Scope::Write).await?;
    let reference = LeadReference::parse(&lead_reference).map_err(|_| lead_not_found())?;
    let (expected_version, by_header) = match (&if_match, patch.version) {
        (Some(header), _) => match if_match_version(header) {
            Some(version) => (version, true),
            None => {
                return Ok(PatchResponse::PreconditionRequired(ApiError::json(
                    "precondition_required",
                    "If-Match must be the lead's ETag, a version in quotes (\"3\")",
                )));
            }
        },
        (None, Some(version)) => (version, false),
        (None, None) => {
            return Ok(PatchResponse::PreconditionRequired(ApiError::json(
                "precondition_required",
                "say which version you read: send If-Match with the ETag, or `version`",
            )));
        }
    };
    let change = WorkChange {
        status: patch.status.map(LeadStatus::from),
        assignee: match patch.assignee {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(id) => Some(Some(id)),
        },
        tags: patch.tags,
        note: patch.note,
    };
    let request = WorkRequest {
        change,
        expected_version,
        actor: principal.name.clone(),
        author: patch.note_author,
    };
    let outcome = state
        .workflow
        .update(&reference, request)
        .await
        .map_err(|error| api.storage_failure(error))?;
    match outcome {
        WorkOutcome::Updated(lead) => {
            tracing::info!(by = %principal.name, version = lead.work.version, "lead changed");
            let tag = etag(lead.work.version);
            state.metrics.lead_changed();
            Ok(PatchResponse::Updated(Json(LeadView::from(*lead)), tag))
        }
        WorkOutcome::Stale(current) => {
            let message = format!(
                "the lead is at version {}, not {expected_version}: read it again and retry",
                current.work.version
            );
            Ok(if by_header {
                PatchResponse::PreconditionFailed(ApiError::json("precondition_failed", message))
            } else {
                PatchResponse::Conflict(ApiError::json("version_conflict", message))
            })
        }
        WorkOutcome::Refused(WorkError::Transition(error)) => Ok(PatchResponse::Conflict(
            ApiError::json("invalid_transition", error.to_string()),
        )),
        WorkOutcome::Refused(error) => Err(ApiFailure::BadRequest(ApiError::json(
            "invalid_change",
            error.to_string(),
        ))),
        WorkOutcome::NotFound => Err(lead_not_found()),
    }
}

fn parse_quarantine_cursor(cursor: &str) -> Result<QuarantineId, ApiFailure> {
    parse_id_cursor(cursor).map(QuarantineId)
}

#[OpenApi(prefix_path = "/api/v1")]
impl LeadsApi {
    /// List leads
    ///
    /// Leads, newest received first, optionally filtered (every filter given narrows
    /// the list). Pages are stable: leads arriving while a client pages through never
    /// make it skip or repeat one. Pass `nextCursor` back as `cursor`, with the same
    /// filters, until it is absent. Needs the `read` scope.
    #[oai(
        path = "/leads",
        method = "get",
        operation_id = "listLeads",
        tag = "ApiTags::Leads"
    )]
    // poem-openapi takes each query parameter as an argument.
    #[allow(clippy::too_many_arguments)]
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
        /// Only this entity type (`Listing`, `Office`, `BusinessForm`, `User`,
        /// `EvaluationForm`, any case; or a value CasaYes added since, as sent).
        #[oai(name = "entityType")]
        entity_type: Query<Option<String>>,
        /// Only leads about this CasaYes entity public id.
        #[oai(name = "entityPublicId")]
        entity_public_id: Query<Option<String>>,
        /// Only leads about this entity external reference.
        #[oai(name = "entityReference")]
        entity_reference: Query<Option<String>>,
        /// Only leads received at or after this instant (RFC 3339).
        #[oai(name = "receivedFrom")]
        received_from: Query<Option<DateTime<FixedOffset>>>,
        /// Only leads received before this instant (RFC 3339).
        #[oai(name = "receivedTo")]
        received_to: Query<Option<DateTime<FixedOffset>>>,
        /// Only leads created at CasaYes at or after this instant (RFC 3339).
        #[oai(name = "createdFrom")]
        created_from: Query<Option<DateTime<FixedOffset>>>,
        /// Only leads created at CasaYes before this instant (RFC 3339).
        #[oai(name = "createdTo")]
        created_to: Query<Option<DateTime<FixedOffset>>>,
        /// Only leads with (`true`) or without (`false`) anomalies.
        #[oai(name = "hasAnomalies")]
        has_anomalies: Query<Option<bool>>,
        /// Only leads with this status.
        status: Query<Option<LeadStatusView>>,
        /// Only leads assigned to this agent id.
        assignee: Query<Option<String>>,
        /// Only leads with this tag (any case).
        tag: Query<Option<String>>,
        /// Only leads of this contact (see `/api/v1/contacts`).
        #[oai(name = "contactId")]
        contact_id: Query<Option<String>>,
        /// Free text: only leads whose sender name, email, phone or message contain it,
        /// ignoring case and accents (`joao` finds `João`).
        #[oai(validator(max_length = 200))]
        q: Query<Option<String>>,
        /// `received` (default) or `created`: newest first by that instant. Keep the
        /// same `sort` while paging.
        sort: Query<Option<SortView>>,
    ) -> ApiResult<LeadPageResponse> {
        let (state, _) = self.api.authorize(auth, Scope::Read).await?;
        let queries = &state.queries;
        let after = cursor.0.as_deref().map(parse_lead_cursor).transpose()?;
        let filter = lead_filter(
            entity_type.0,
            entity_public_id.0,
            entity_reference.0,
            [received_from.0, received_to.0, created_from.0, created_to.0],
            has_anomalies.0,
            status.0,
            assignee.0,
            tag.0,
            contact_id.0,
            q.0,
            sort.0.unwrap_or_default(),
        );
        let page = queries
            .leads(&filter, page_request(Some(limit.0), after)?)
            .await
            .map_err(|error| self.api.storage_failure(error))?;
        Ok(LeadPageResponse::Ok(Json(LeadPage {
            next_cursor: page.next.as_ref().map(lead_cursor),
            items: page.items.into_iter().map(LeadView::from).collect(),
        })))
    }

    /// Export leads
    ///
    /// Every lead that passes the filters (the same as the list's), newest first, as
    /// CSV or NDJSON, streamed: any number of leads in constant memory on both sides.
    /// CSV cells that a spreadsheet would run as a formula (starting with `=`, `+`,
    /// `-`, `@`, tab or carriage return) are prefixed with `'`. A failure midway aborts
    /// the transfer (never a short file that looks complete). Needs the `read` scope.
    #[oai(
        path = "/leads/export",
        method = "get",
        operation_id = "exportLeads",
        tag = "ApiTags::Leads"
    )]
    // poem-openapi takes each query parameter as an argument.
    #[allow(clippy::too_many_arguments)]
    async fn export_leads(
        &self,
        auth: ApiKeyAuth,
        /// `csv` or `ndjson`.
        format: Query<ExportFormat>,
        /// As in `listLeads`.
        #[oai(name = "entityType")]
        entity_type: Query<Option<String>>,
        /// As in `listLeads`.
        #[oai(name = "entityPublicId")]
        entity_public_id: Query<Option<String>>,
        /// As in `listLeads`.
        #[oai(name = "entityReference")]
        entity_reference: Query<Option<String>>,
        /// As in `listLeads`.
        #[oai(name = "receivedFrom")]
        received_from: Query<Option<DateTime<FixedOffset>>>,
        /// As in `listLeads`.
        #[oai(name = "receivedTo")]
        received_to: Query<Option<DateTime<FixedOffset>>>,
        /// As in `listLeads`.
        #[oai(name = "createdFrom")]
        created_from: Query<Option<DateTime<FixedOffset>>>,
        /// As in `listLeads`.
        #[oai(name = "createdTo")]
        created_to: Query<Option<DateTime<FixedOffset>>>,
        /// As in `listLeads`.
        #[oai(name = "hasAnomalies")]
        has_anomalies: Query<Option<bool>>,
        /// As in `listLeads`.
        status: Query<Option<LeadStatusView>>,
        /// As in `listLeads`.
        assignee: Query<Option<String>>,
        /// As in `listLeads`.
        tag: Query<Option<String>>,
        /// As in `listLeads`.
        #[oai(name = "contactId")]
        contact_id: Query<Option<String>>,
        /// As in `listLeads`.
        #[oai(validator(max_length = 200))]
        q: Query<Option<String>>,
        /// As in `listLeads`.
        sort: Query<Option<SortView>>,
    ) -> ApiResult<ExportResponse> {
        let (state, principal) = self.api.authorize(auth, Scope::Read).await?;
        let filter = lead_filter(
            entity_type.0,
            entity_public_id.0,
            entity_reference.0,
            [received_from.0, received_to.0, created_from.0, created_to.0],
            has_anomalies.0,
            status.0,
            assignee.0,
            tag.0,
            contact_id.0,
            q.0,
            sort.0.unwrap_or_default(),
        );
        tracing::info!(by = %principal.name, format = ?format.0, "leads exported");
        let body =
            poem::Body::from_bytes_stream(export_stream(state.queries.clone(), filter, format.0));
        let (content, extension) = match format.0 {
            ExportFormat::Csv => (ExportContent::Csv(Binary(body)), "csv"),
            ExportFormat::Ndjson => (ExportContent::Ndjson(Binary(body)), "ndjson"),
        };
        Ok(ExportResponse::Ok(
            content,
            format!("attachment; filename=\"leads.{extension}\""),
        ))
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
        let (state, _) = self.api.authorize(auth, Scope::Read).await?;
        let lead = self.find_lead(state, &lead_reference.0).await?;
        let tag = etag(lead.work.version);
        Ok(LeadResponse::Ok(Json(LeadView::from(lead)), tag))
    }

    /// Change a lead
    ///
    /// Moves the lead in the pipeline, assigns it, sets its tags and/or appends a note.
    /// Optimistic concurrency: say which version you read, in `If-Match` (the `ETag` of
    /// `GET /api/v1/leads/{leadReference}`) or as `version`; if the lead changed since,
    /// nothing is written and the answer is `412` (If-Match) or `409` (version). Every
    /// change is recorded in the history. Needs the `write` scope.
    #[oai(
        path = "/leads/:leadReference",
        method = "patch",
        operation_id = "updateLead",
        tag = "ApiTags::Leads"
    )]
    async fn update_lead(
        &self,
        auth: ApiKeyAuth,
        /// The CasaYes `LeadReference` (URL-encoded).
        #[oai(name = "leadReference")]
        lead_reference: Path<String>,
        /// The `ETag` you read (`"3"`).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<LeadPatch>,
    ) -> ApiResult<PatchResponse> {
        update_lead(&self.api, auth, lead_reference.0, if_match.0, body.0).await
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
        let (state, _) = self.api.authorize(auth, Scope::Read).await?;
        let queries = &state.queries;
        let after = cursor
            .0
            .as_deref()
            .map(parse_quarantine_cursor)
            .transpose()?;
        let page = queries
            .quarantine(page_request(Some(limit.0), after)?)
            .await
            .map_err(|error| self.api.storage_failure(error))?;
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
        let (state, _) = self.api.authorize(auth, Scope::Read).await?;
        let queries = &state.queries;
        let entry = queries
            .quarantined(QuarantineId(id.0))
            .await
            .map_err(|error| self.api.storage_failure(error))?
            .ok_or_else(quarantine_not_found)?;
        Ok(QuarantinedResponse::Ok(Json(QuarantinedView::from(entry))))
    }

    /// Get a lead's original payload
    ///
    /// The exact bytes CasaYes sent for this lead, unparsed: what to keep as evidence,
    /// or to parse again with other rules. Needs the `read` scope.
    #[oai(
        path = "/leads/:leadReference/raw",
        method = "get",
        operation_id = "getLeadRaw",
        tag = "ApiTags::Leads"
    )]
    async fn get_lead_raw(
        &self,
        auth: ApiKeyAuth,
        /// The CasaYes `LeadReference` (URL-encoded).
        #[oai(name = "leadReference")]
        lead_reference: Path<String>,
    ) -> ApiResult<RawResponse> {
        let (state, _) = self.api.authorize(auth, Scope::Read).await?;
        let lead = self.find_lead(state, &lead_reference.0).await?;
        Ok(RawResponse::Ok(Binary(lead.raw.into_bytes())))
    }

    /// Replay a quarantined payload
    ///
    /// Parses the payload again with the rules of this version (after an upgrade that
    /// reads more, say). If it is a lead now, the lead is stored with the payload's
    /// original arrival time and the entry leaves the quarantine; replaying an entry
    /// whose lead is stored already answers `duplicate`. Needs the `admin` scope.
    #[oai(
        path = "/quarantine/:id/replay",
        method = "post",
        operation_id = "replayQuarantined",
        tag = "ApiTags::Quarantine"
    )]
    async fn replay_quarantined(
        &self,
        auth: ApiKeyAuth,
        id: Path<i64>,
    ) -> ApiResult<ReplayResponse> {
        let (state, principal) = self.api.authorize(auth, Scope::Admin).await?;
        let replay = state
            .intake
            .replay(QuarantineId(id.0))
            .await
            .map_err(|error| self.api.storage_failure(error))?
            .ok_or_else(quarantine_not_found)?;
        match replay {
            Replay::Stored(received) => {
                tracing::info!(quarantine_id = id.0, by = %principal.name, "quarantined payload replayed into a lead");
                Ok(ReplayResponse::Stored(Json(DeliveryAccepted {
                    lead_reference: received.reference.as_str().to_owned(),
                    status: received.outcome.into(),
                })))
            }
            Replay::StillRefused(rejection) => Ok(ReplayResponse::StillRefused(ApiError::json(
                rejection.kind.code(),
                rejection.message,
            ))),
        }
    }

    /// Delete a quarantined payload
    ///
    /// Removes the payload from the quarantine for good. Needs the `admin` scope.
    #[oai(
        path = "/quarantine/:id",
        method = "delete",
        operation_id = "deleteQuarantined",
        tag = "ApiTags::Quarantine"
    )]
    async fn delete_quarantined(
        &self,
        auth: ApiKeyAuth,
        id: Path<i64>,
    ) -> ApiResult<DiscardResponse> {
        let (state, principal) = self.api.authorize(auth, Scope::Admin).await?;
        let removed = state
            .intake
            .discard(QuarantineId(id.0))
            .await
            .map_err(|error| self.api.storage_failure(error))?;
        if removed {
            tracing::info!(quarantine_id = id.0, by = %principal.name, "quarantined payload deleted");
            Ok(DiscardResponse::Removed)
        } else {
            Err(quarantine_not_found())
        }
    }
}

/// The list's filter from its query parameters; `instants` are received from and to,
/// created from and to.
// One argument per query parameter, as poem-openapi hands them over.
#[allow(clippy::too_many_arguments)]
fn lead_filter(
    entity_type: Option<String>,
    entity_public_id: Option<String>,
    entity_reference: Option<String>,
    instants: [Option<DateTime<FixedOffset>>; 4],
    has_anomalies: Option<bool>,
    status: Option<LeadStatusView>,
    assignee: Option<String>,
    tag: Option<String>,
    contact_id: Option<String>,
    q: Option<String>,
    sort: SortView,
) -> LeadFilter {
    let [received_from, received_to, created_from, created_to] =
        instants.map(|at| at.map(|at| at.with_timezone(&Utc)));
    LeadFilter {
        entity_type: entity_type
            .as_deref()
            .and_then(EntityType::parse)
            .map(|t| t.as_str().to_owned()),
        entity_public_id,
        entity_reference,
        received_from,
        received_to,
        created_from,
        created_to,
        has_anomalies,
        status: status.map(LeadStatus::from),
        assignee,
        tag: tag.map(|tag| tag.trim().to_lowercase()),
        contact_id,
        search: q.map(|q| fold(&q)).filter(|q| !q.is_empty()),
        sort: match sort {
            SortView::Received => LeadSort::Received,
            SortView::Created => LeadSort::Created,
        },
    }
}

fn quarantine_not_found() -> ApiFailure {
    ApiFailure::NotFound(ApiError::json(
        "not_found",
        "no quarantined payload has this id",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantine_cursors_are_ids() {
        assert_eq!(parse_quarantine_cursor("9").ok(), Some(QuarantineId(9)));
        assert!(parse_quarantine_cursor("x").is_err());
    }

    #[test]
    fn if_match_names_a_version() {
        assert_eq!(if_match_version("\"3\""), Some(3));
        assert_eq!(if_match_version("W/\"12\""), Some(12));
        assert_eq!(if_match_version("*"), None);
        assert_eq!(if_match_version("3"), None);
    }
}
