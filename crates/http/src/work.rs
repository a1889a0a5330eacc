//! Working a lead: `PATCH /api/v1/leads/{leadReference}` (status, assignee, tags, a
//! note) with optimistic concurrency, and its history and notes.

use lead_inbox_application::{Scope, WorkOutcome, WorkRequest};
use lead_inbox_domain::{
    HistoryEntry, LeadReference, LeadStatus, Note, WorkChange, WorkError, format_utc,
};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::Path,
    payload::Json,
    types::{Example, MaybeUndefined},
};

use crate::{
    ApiTags,
    error::ApiError,
    leads::{ApiFailure, ApiKeyAuth, ApiResult, LeadsApi, etag, lead_not_found},
    views::{LeadStatusView, LeadView},
};

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

/// One change in a lead's history.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct HistoryEntryView {
    pub id: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who: the API key's name.
    pub actor: String,
    /// `status`, `assignee`, `tags` or `note`.
    pub field: String,
    /// The value before (tags comma-separated); absent when there was none.
    pub before: Option<String>,
    /// The value after; absent when removed.
    pub after: Option<String>,
    /// For a status change: whether it reopened a closed lead.
    pub reopened: bool,
}

impl From<HistoryEntry> for HistoryEntryView {
    fn from(entry: HistoryEntry) -> Self {
        HistoryEntryView {
            id: entry.id,
            at: format_utc(&entry.at),
            actor: entry.actor,
            field: entry.field,
            before: entry.before,
            after: entry.after,
            reopened: entry.reopened,
        }
    }
}

/// A lead's history, oldest first.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct LeadHistory {
    pub lead_reference: String,
    pub items: Vec<HistoryEntryView>,
}

impl Example for LeadHistory {
    fn example() -> Self {
        LeadHistory {
            lead_reference: crate::body::SPEC_EXAMPLE_REFERENCE.into(),
            items: vec![
                HistoryEntryView {
                    id: 1,
                    at: "2024-08-09T15:20:10.000000Z".into(),
                    actor: "crm-sync#2".into(),
                    field: "status".into(),
                    before: Some("new".into()),
                    after: Some("contacted".into()),
                    reopened: false,
                },
                HistoryEntryView {
                    id: 2,
                    at: "2024-08-09T15:20:10.000000Z".into(),
                    actor: "crm-sync#2".into(),
                    field: "assignee".into(),
                    before: None,
                    after: Some("agent-7".into()),
                    reopened: false,
                },
            ],
        }
    }
}

/// A note on a lead.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct NoteView {
    pub id: i64,
    pub author: String,
    pub text: String,
    /// When it was written (RFC 3339, UTC).
    pub at: String,
}

impl From<Note> for NoteView {
    fn from(note: Note) -> Self {
        NoteView {
            id: note.id,
            author: note.author,
            text: note.text,
            at: format_utc(&note.at),
        }
    }
}

/// A lead's notes, oldest first.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct LeadNotes {
    pub lead_reference: String,
    pub items: Vec<NoteView>,
}

impl Example for LeadNotes {
    fn example() -> Self {
        LeadNotes {
            lead_reference: crate::body::SPEC_EXAMPLE_REFERENCE.into(),
            items: vec![NoteView {
                id: 1,
                author: "agent-7".into(),
                text: "Called; visit on Friday at 10:00.".into(),
                at: "2024-08-09T15:20:10.000000Z".into(),
            }],
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

#[derive(ApiResponse)]
pub enum HistoryResponse {
    /// The lead's history, oldest first.
    #[oai(status = 200)]
    Ok(Json<LeadHistory>),
}

#[derive(ApiResponse)]
pub enum NotesResponse {
    /// The lead's notes, oldest first.
    #[oai(status = 200)]
    Ok(Json<LeadNotes>),
}

/// The version `If-Match` names: `"3"` (or `W/"3"`); `None` when it names none.
fn if_match_version(header: &str) -> Option<i64> {
    let tag = header.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// `PATCH /api/v1/leads/{leadReference}` (declared with the lead's other operations in
/// `leads.rs`, so that the OpenAPI document has the path once).
pub(crate) async fn update_lead(
    api: &LeadsApi,
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

pub struct WorkApi {
    api: LeadsApi,
}

impl WorkApi {
    pub fn new(api: LeadsApi) -> Self {
        WorkApi { api }
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl WorkApi {
    /// Get a lead's history
    ///
    /// Every change made through this API to the lead, oldest first: who (the API
    /// key's name), what field, the value before and after, when; status changes that
    /// reopened a closed lead are marked. Needs the `read` scope.
    #[oai(
        path = "/leads/:leadReference/history",
        method = "get",
        operation_id = "getLeadHistory",
        tag = "ApiTags::Leads"
    )]
    async fn lead_history(
        &self,
        auth: ApiKeyAuth,
        /// The CasaYes `LeadReference` (URL-encoded).
        #[oai(name = "leadReference")]
        lead_reference: Path<String>,
    ) -> ApiResult<HistoryResponse> {
        let (state, _) = self.api.authorize(auth, Scope::Read).await?;
        let reference = LeadReference::parse(&lead_reference.0).map_err(|_| lead_not_found())?;
        let (lead, history) = state
            .workflow
            .history(&reference)
            .await
            .map_err(|error| self.api.storage_failure(error))?
            .ok_or_else(lead_not_found)?;
        Ok(HistoryResponse::Ok(Json(LeadHistory {
            lead_reference: lead.reference().as_str().to_owned(),
            items: history.into_iter().map(HistoryEntryView::from).collect(),
        })))
    }

    /// Get a lead's notes
    ///
    /// The notes on the lead, oldest first. Append one with `PATCH` and `note`.
    /// Needs the `read` scope.
    #[oai(
        path = "/leads/:leadReference/notes",
        method = "get",
        operation_id = "getLeadNotes",
        tag = "ApiTags::Leads"
    )]
    async fn lead_notes(
        &self,
        auth: ApiKeyAuth,
        /// The CasaYes `LeadReference` (URL-encoded).
        #[oai(name = "leadReference")]
        lead_reference: Path<String>,
    ) -> ApiResult<NotesResponse> {
        let (state, _) = self.api.authorize(auth, Scope::Read).await?;
        let reference = LeadReference::parse(&lead_reference.0).map_err(|_| lead_not_found())?;
        let notes = state
            .workflow
            .notes(&reference)
            .await
            .map_err(|error| self.api.storage_failure(error))?
            .ok_or_else(lead_not_found)?;
        Ok(NotesResponse::Ok(Json(LeadNotes {
            lead_reference: reference.as_str().to_owned(),
            items: notes.into_iter().map(NoteView::from).collect(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_names_a_version() {
        assert_eq!(if_match_version("\"3\""), Some(3));
        assert_eq!(if_match_version("W/\"12\""), Some(12));
        assert_eq!(if_match_version("*"), None);
        assert_eq!(if_match_version("3"), None);
        assert_eq!(etag(7), "\"7\"");
    }
}
