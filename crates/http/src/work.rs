//! A lead's work, as recorded: its history and its notes. (The change itself,
//! `PATCH /api/v1/leads/{leadReference}`, is declared with the lead's other operations
//! in `leads.rs`, so that the OpenAPI document has the path once.)

use lead_inbox_application::Scope;
use lead_inbox_domain::{HistoryEntry, LeadReference, Note, format_utc};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json, types::Example};

use crate::{
    ApiTags,
    api::{ApiContext, ApiKeyAuth, ApiResult, lead_not_found},
};

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

pub struct WorkApi {
    api: ApiContext,
}

impl WorkApi {
    pub fn new(api: ApiContext) -> Self {
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
