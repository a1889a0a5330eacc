//! `/api/v1/contacts` (leads grouped by the person who sent them) and `/api/v1/stats`.

use chrono::{DateTime, FixedOffset, Utc};
use lead_inbox_application::{ContactSummary, LeadFilter, LeadStats, Scope};
use lead_inbox_domain::{SenderEmail, SenderPhone, format_utc};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};

use crate::{
    ApiTags,
    api::{
        ApiContext, ApiFailure, ApiKeyAuth, ApiResult, default_limit, lead_cursor, page_request,
        parse_lead_cursor,
    },
    error::ApiError,
    views::{LeadStatusView, LeadView},
};

/// The leads of one contact that `GET /api/v1/contacts/{id}` includes, newest first.
pub const CONTACT_LEADS: u32 = 100;

/// A person who sent leads, recognised by their normalised email, else their E.164
/// phone. Name, email and phone are those of their most recent lead.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example, skip_serializing_if_is_none)]
pub struct ContactView {
    /// Opaque and stable; not the email or phone.
    pub id: String,
    pub name: Option<String>,
    /// Normalised (trimmed, lower-cased).
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub lead_count: u64,
    /// When their first lead arrived (RFC 3339, UTC).
    pub first_received_at: String,
    /// When their latest lead arrived (RFC 3339, UTC).
    pub last_received_at: String,
}

impl From<&ContactSummary> for ContactView {
    fn from(contact: &ContactSummary) -> Self {
        let sender = &contact.latest.details.sender;
        ContactView {
            id: contact.id.clone(),
            name: sender.name.clone(),
            email: sender
                .email
                .as_ref()
                .and_then(SenderEmail::normalised)
                .map(str::to_owned),
            phone: sender
                .phone
                .as_ref()
                .and_then(SenderPhone::e164)
                .map(str::to_owned),
            lead_count: contact.leads,
            first_received_at: format_utc(&contact.first_received_at),
            last_received_at: format_utc(&contact.last_received_at),
        }
    }
}

impl Example for ContactView {
    fn example() -> Self {
        ContactView {
            id: "3c1e1b0b1f4a4c8e9a7d5b2e6f0a1c3d".into(),
            name: Some("John Smith".into()),
            email: Some("john.smith@example.com".into()),
            phone: Some("+351919111222".into()),
            lead_count: 3,
            first_received_at: "2024-08-01T09:12:00.000000Z".into(),
            last_received_at: "2024-08-09T15:05:45.120331Z".into(),
        }
    }
}

/// A page of contacts, most recently active first.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none, example)]
pub struct ContactPage {
    pub items: Vec<ContactView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl Example for ContactPage {
    fn example() -> Self {
        ContactPage {
            items: vec![ContactView::example()],
            next_cursor: Some("1723215945120331_42".into()),
        }
    }
}

/// A contact and their leads.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ContactDetail {
    pub contact: ContactView,
    /// Their latest leads, newest first (at most 100; all of them with
    /// `GET /api/v1/leads?contactId=…`).
    pub leads: Vec<LeadView>,
}

impl Example for ContactDetail {
    fn example() -> Self {
        ContactDetail {
            contact: ContactView::example(),
            leads: vec![LeadView::example()],
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct DayCount {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub count: u64,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct EntityTypeCount {
    /// Absent for leads without an `EntityType`.
    pub entity_type: Option<String>,
    pub count: u64,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct StatusCount {
    pub status: LeadStatusView,
    pub count: u64,
}

/// How fast leads get a first answer: the time from receipt to the first status
/// change.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct SpeedToLead {
    /// Leads whose status has changed from `new`.
    pub responded: u64,
    /// The median, in seconds; absent when none has.
    pub median_seconds: Option<f64>,
}

/// Counts over the leads received in the period.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct StatsView {
    pub total: u64,
    /// Oldest first; days without leads are left out.
    pub by_day: Vec<DayCount>,
    /// Most first.
    pub by_entity_type: Vec<EntityTypeCount>,
    /// Most first.
    pub by_status: Vec<StatusCount>,
    pub speed_to_lead: SpeedToLead,
}

impl From<LeadStats> for StatsView {
    fn from(stats: LeadStats) -> Self {
        StatsView {
            total: stats.total,
            by_day: stats
                .by_day
                .into_iter()
                .map(|(day, count)| DayCount {
                    day: day.format("%Y-%m-%d").to_string(),
                    count,
                })
                .collect(),
            by_entity_type: stats
                .by_entity_type
                .into_iter()
                .map(|(entity_type, count)| EntityTypeCount { entity_type, count })
                .collect(),
            by_status: stats
                .by_status
                .into_iter()
                .map(|(status, count)| StatusCount {
                    status: status.into(),
                    count,
                })
                .collect(),
            speed_to_lead: SpeedToLead {
                responded: stats.responded,
                median_seconds: stats.median_seconds_to_first_response,
            },
        }
    }
}

impl Example for StatsView {
    fn example() -> Self {
        StatsView {
            total: 42,
            by_day: vec![
                DayCount {
                    day: "2026-11-27".into(),
                    count: 19,
                },
                DayCount {
                    day: "2026-11-28".into(),
                    count: 23,
                },
            ],
            by_entity_type: vec![
                EntityTypeCount {
                    entity_type: Some("Listing".into()),
                    count: 40,
                },
                EntityTypeCount {
                    entity_type: Some("Office".into()),
                    count: 2,
                },
            ],
            by_status: vec![
                StatusCount {
                    status: LeadStatusView::New,
                    count: 30,
                },
                StatusCount {
                    status: LeadStatusView::Contacted,
                    count: 12,
                },
            ],
            speed_to_lead: SpeedToLead {
                responded: 12,
                median_seconds: Some(540.0),
            },
        }
    }
}

#[derive(ApiResponse)]
pub enum ContactPageResponse {
    /// A page of contacts, most recently active first.
    #[oai(status = 200)]
    Ok(Json<ContactPage>),
}

#[derive(ApiResponse)]
pub enum ContactResponse {
    /// The contact and their latest leads.
    #[oai(status = 200)]
    Ok(Json<ContactDetail>),
}

#[derive(ApiResponse)]
pub enum StatsResponse {
    /// The counts.
    #[oai(status = 200)]
    Ok(Json<StatsView>),
}

pub struct InsightsApi {
    api: ApiContext,
}

impl InsightsApi {
    pub fn new(api: ApiContext) -> Self {
        InsightsApi { api }
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl InsightsApi {
    /// List contacts
    ///
    /// The people who sent leads, most recently active first: leads are grouped by the
    /// sender's normalised email, else their E.164 phone (a lead with neither belongs to
    /// no contact). Needs the `read` scope.
    #[oai(
        path = "/contacts",
        method = "get",
        operation_id = "listContacts",
        tag = "ApiTags::Contacts"
    )]
    async fn list_contacts(
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
    ) -> ApiResult<ContactPageResponse> {
        let (state, _) = self.api.authorize(auth, Scope::Read).await?;
        let after = cursor.0.as_deref().map(parse_lead_cursor).transpose()?;
        let page = state
            .queries
            .contacts(page_request(Some(limit.0), after)?)
            .await
            .map_err(|error| self.api.storage_failure(error))?;
        Ok(ContactPageResponse::Ok(Json(ContactPage {
            next_cursor: page.next.as_ref().map(lead_cursor),
            items: page.items.iter().map(ContactView::from).collect(),
        })))
    }

    /// Get a contact
    ///
    /// One contact, with their latest leads (newest first, at most 100; page through
    /// all of them with `GET /api/v1/leads?contactId=…`). Needs the `read` scope.
    #[oai(
        path = "/contacts/:id",
        method = "get",
        operation_id = "getContact",
        tag = "ApiTags::Contacts"
    )]
    async fn get_contact(&self, auth: ApiKeyAuth, id: Path<String>) -> ApiResult<ContactResponse> {
        let (state, _) = self.api.authorize(auth, Scope::Read).await?;
        let not_found =
            || ApiFailure::NotFound(ApiError::json("not_found", "no contact has this id"));
        let contact = state
            .queries
            .contact(&id.0)
            .await
            .map_err(|error| self.api.storage_failure(error))?
            .ok_or_else(not_found)?;
        let filter = LeadFilter {
            contact_id: Some(contact.id.clone()),
            ..LeadFilter::default()
        };
        let leads = state
            .queries
            .leads(&filter, page_request(Some(CONTACT_LEADS), None)?)
            .await
            .map_err(|error| self.api.storage_failure(error))?;
        Ok(ContactResponse::Ok(Json(ContactDetail {
            contact: ContactView::from(&contact),
            leads: leads.items.into_iter().map(LeadView::from).collect(),
        })))
    }

    /// Get lead statistics
    ///
    /// Counts over the leads received in `[from, to)` (all of them without bounds): by
    /// UTC day, by entity type, by status, and the speed to lead (the median time from
    /// receipt to the first status change). Needs the `read` scope.
    #[oai(
        path = "/stats",
        method = "get",
        operation_id = "getStats",
        tag = "ApiTags::Contacts"
    )]
    async fn stats(
        &self,
        auth: ApiKeyAuth,
        /// Leads received at or after this instant (RFC 3339).
        from: Query<Option<DateTime<FixedOffset>>>,
        /// Leads received before this instant (RFC 3339).
        to: Query<Option<DateTime<FixedOffset>>>,
    ) -> ApiResult<StatsResponse> {
        let (state, _) = self.api.authorize(auth, Scope::Read).await?;
        let utc = |at: Option<DateTime<FixedOffset>>| at.map(|at| at.with_timezone(&Utc));
        let stats = state
            .queries
            .stats(utc(from.0), utc(to.0))
            .await
            .map_err(|error| self.api.storage_failure(error))?;
        Ok(StatsResponse::Ok(Json(stats.into())))
    }
}
