//! `/api/v1/subjects` and `/api/v1/erasures`: the data subject's rights under the GDPR
//! (access and portability, Art. 15 and 20; erasure, Art. 17), for the operator who
//! answers a person's request.

use lead_inbox_application::{ErasureRecord, Scope, SubjectData};
use lead_inbox_domain::{Subject, format_utc};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Query, payload::Json, types::Example};

use crate::{
    ApiTags,
    api::{
        ApiContext, ApiKeyAuth, ApiResult, bad_request, default_limit, page_request,
        parse_id_cursor,
    },
    views::{LeadView, QuarantinedView},
};

/// Everything Lead Inbox holds about one person.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct SubjectExport {
    /// `email` or `phone`: how the person was named.
    pub subject_kind: String,
    /// The email (trimmed, lower-cased) or phone (E.164 when it could be derived) searched for.
    pub subject: String,
    /// When this export was made (RFC 3339, UTC).
    pub exported_at: String,
    /// The person's leads, oldest first, each with its original payload.
    pub leads: Vec<LeadView>,
    /// Payloads that could not be leads and mention the person.
    pub quarantined: Vec<QuarantinedView>,
}

impl Example for SubjectExport {
    fn example() -> Self {
        SubjectExport {
            subject_kind: "email".into(),
            subject: "john.smith@example.com".into(),
            exported_at: "2026-11-28T10:00:00.000000Z".into(),
            leads: vec![LeadView::example()],
            quarantined: Vec::new(),
        }
    }
}

impl SubjectExport {
    pub fn new(subject: &Subject, data: SubjectData) -> Self {
        SubjectExport {
            subject_kind: subject.kind().to_owned(),
            subject: subject.key().to_owned(),
            exported_at: format_utc(&chrono::Utc::now()),
            leads: data.leads.into_iter().map(LeadView::from).collect(),
            quarantined: data
                .quarantined
                .into_iter()
                .map(QuarantinedView::from)
                .collect(),
        }
    }
}

/// The export of `subject`'s data as the API answers it, pretty-printed JSON: what
/// `lead-inbox export-subject` writes.
pub fn subject_export_json(subject: &Subject, data: SubjectData) -> String {
    use poem_openapi::types::ToJSON;
    let document = SubjectExport::new(subject, data)
        .to_json()
        .unwrap_or_default();
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

/// One erasure, as the audit log keeps it: no personal data.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ErasureView {
    pub id: i64,
    /// When it was done (RFC 3339, UTC).
    pub erased_at: String,
    /// `email` or `phone`.
    pub subject_kind: String,
    /// HMAC-SHA256 (hex) of `kind:normalised value` under the deployment's audit key:
    /// recompute it for a person to find their erasure; nobody without the key can tell
    /// whom it is about.
    pub subject_hash: String,
    /// Leads deleted (with their raw payloads).
    pub leads: u64,
    /// Quarantined payloads deleted.
    pub quarantined: u64,
    /// The name of the API key that asked, or `cli`.
    pub requested_by: String,
}

impl From<ErasureRecord> for ErasureView {
    fn from(record: ErasureRecord) -> Self {
        ErasureView {
            id: record.id,
            erased_at: format_utc(&record.erased_at),
            subject_kind: record.subject_kind,
            subject_hash: record.subject_hash,
            leads: record.leads,
            quarantined: record.quarantined,
            requested_by: record.requested_by,
        }
    }
}

impl Example for ErasureView {
    fn example() -> Self {
        ErasureView {
            id: 3,
            erased_at: "2026-11-28T10:15:00.000000Z".into(),
            subject_kind: "email".into(),
            subject_hash: "5f0c3f6de1a2b9c47e8d01f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6".into(),
            leads: 2,
            quarantined: 0,
            requested_by: "dpo".into(),
        }
    }
}

/// A page of the erasure audit log, newest first.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none, example)]
pub struct ErasurePage {
    pub items: Vec<ErasureView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl Example for ErasurePage {
    fn example() -> Self {
        ErasurePage {
            items: vec![ErasureView::example()],
            next_cursor: None,
        }
    }
}

#[derive(ApiResponse)]
pub enum SubjectExportResponse {
    /// Everything held about the person (empty lists when nothing is).
    #[oai(status = 200)]
    Ok(Json<SubjectExport>),
}

#[derive(ApiResponse)]
pub enum ErasureResponse {
    /// The person's data is erased; the audit entry says how much there was.
    #[oai(status = 200)]
    Erased(Json<ErasureView>),
}

#[derive(ApiResponse)]
pub enum ErasurePageResponse {
    /// A page of the audit log, newest first.
    #[oai(status = 200)]
    Ok(Json<ErasurePage>),
}

/// The person named by exactly one of `email` and `phone`.
fn subject(email: Option<String>, phone: Option<String>) -> ApiResult<Subject> {
    let parsed = match (email, phone) {
        (Some(email), None) => Subject::email(&email),
        (None, Some(phone)) => Subject::phone(&phone),
        _ => return Err(bad_request("give exactly one of email and phone")),
    };
    parsed.map_err(|error| bad_request(error.to_string()))
}

pub struct SubjectsApi {
    api: ApiContext,
}

impl SubjectsApi {
    pub fn new(api: ApiContext) -> Self {
        SubjectsApi { api }
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl SubjectsApi {
    /// Export a person's data
    ///
    /// Everything Lead Inbox holds about the person with this email or phone (GDPR
    /// Art. 15 and 20), as JSON: their leads with the original payloads, and the
    /// quarantined payloads that mention them. A phone matches in any form CasaYes may
    /// have sent (`919111222`, `+351 919 111 222`, `00351919111222`); an email in any
    /// case. Give exactly one of `email` and `phone`. Needs the `admin` scope.
    #[oai(
        path = "/subjects/export",
        method = "get",
        operation_id = "exportSubject",
        tag = "ApiTags::Privacy"
    )]
    async fn export_subject(
        &self,
        auth: ApiKeyAuth,
        /// The person's email (any case).
        #[oai(validator(max_length = 320, pattern = "@"))]
        email: Query<Option<String>>,
        /// The person's phone, in any written form; at least 6 digits.
        #[oai(validator(max_length = 64, pattern = "^([^0-9]*[0-9]){6}"))]
        phone: Query<Option<String>>,
    ) -> ApiResult<SubjectExportResponse> {
        let (state, principal) = self.api.authorize(auth, Scope::Admin).await?;
        let subject = subject(email.0, phone.0)?;
        let data = state
            .rights
            .export(&subject)
            .await
            .map_err(|error| self.api.storage_failure(error))?;
        tracing::info!(by = %principal.name, kind = subject.kind(), leads = data.leads.len(), quarantined = data.quarantined.len(), "subject exported");
        Ok(SubjectExportResponse::Ok(Json(SubjectExport::new(
            &subject, data,
        ))))
    }

    /// Erase a person's data
    ///
    /// Erases everything held about the person with this email or phone (GDPR
    /// Art. 17): their leads with their raw payloads, and the quarantined payloads
    /// that mention them, physically (the database files are scrubbed, which on
    /// PostgreSQL and MySQL rewrites the lead tables). What stays is a PII-free audit
    /// entry (the answer) and, per erased lead, a hash of its reference, so that a
    /// redelivery from CasaYes is answered `erased` and not stored again. Erasing a
    /// person with no data succeeds with zero counts. Give exactly one of `email` and
    /// `phone`. Needs the `admin` scope.
    #[oai(
        path = "/subjects",
        method = "delete",
        operation_id = "eraseSubject",
        tag = "ApiTags::Privacy"
    )]
    async fn erase_subject(
        &self,
        auth: ApiKeyAuth,
        /// The person's email (any case).
        #[oai(validator(max_length = 320, pattern = "@"))]
        email: Query<Option<String>>,
        /// The person's phone, in any written form; at least 6 digits.
        #[oai(validator(max_length = 64, pattern = "^([^0-9]*[0-9]){6}"))]
        phone: Query<Option<String>>,
    ) -> ApiResult<ErasureResponse> {
        let (state, principal) = self.api.authorize(auth, Scope::Admin).await?;
        let subject = subject(email.0, phone.0)?;
        let record = state
            .rights
            .erase(&subject, &principal.name)
            .await
            .map_err(|error| self.api.storage_failure(error))?;
        state.metrics.erased();
        tracing::info!(
            by = %principal.name,
            erasure_id = record.id,
            leads = record.leads,
            quarantined = record.quarantined,
            "subject erased"
        );
        Ok(ErasureResponse::Erased(Json(record.into())))
    }

    /// List erasures
    ///
    /// The erasure audit log, newest first: when, how much, and the keyed hash of
    /// whom. Needs the `admin` scope.
    #[oai(
        path = "/erasures",
        method = "get",
        operation_id = "listErasures",
        tag = "ApiTags::Privacy"
    )]
    async fn list_erasures(
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
    ) -> ApiResult<ErasurePageResponse> {
        let (state, _) = self.api.authorize(auth, Scope::Admin).await?;
        let after = cursor.0.as_deref().map(parse_id_cursor).transpose()?;
        let page = state
            .rights
            .erasures(page_request(Some(limit.0), after)?)
            .await
            .map_err(|error| self.api.storage_failure(error))?;
        Ok(ErasurePageResponse::Ok(Json(ErasurePage {
            next_cursor: page.next.map(|id| id.to_string()),
            items: page.items.into_iter().map(ErasureView::from).collect(),
        })))
    }
}
