//! What the CRM API returns: camelCase wire types built from domain types.

use lead_inbox_application::InsertOutcome;
use lead_inbox_domain::LeadStatus;
use lead_inbox_domain::{
    Anomaly, Lead, MoveTimeline, Quarantined, SenderEmail, SenderPhone, format_timestamp,
    format_utc,
};
use poem_openapi::{Enum, Object, types::Example};

/// A lead, as parsed from what CasaYes sent, with the oddities found and the
/// original payload.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example, skip_serializing_if_is_none)]
pub struct LeadView {
    /// The CasaYes `LeadReference`: the lead's id in this API.
    pub lead_reference: String,
    /// `Listing`, `Office`, `BusinessForm`, `User`, `EvaluationForm`, or a value CasaYes added since (flagged as an anomaly).
    pub entity_type: Option<String>,
    pub entity_public_id: Option<String>,
    pub entity_reference: Option<String>,
    pub source: Option<String>,
    /// When the lead was created at CasaYes: RFC 3339, with CasaYes's offset and precision (up to nanoseconds).
    pub created_date: Option<String>,
    pub message: Option<String>,
    pub sender: SenderView,
    pub profile: ProfileView,
    /// What was odd about the payload; empty when nothing was.
    pub anomalies: Vec<AnomalyView>,
    /// When Lead Inbox received the lead (RFC 3339, UTC, microseconds).
    pub received_at: String,
    /// The payload exactly as CasaYes sent it (as JSON).
    pub original: serde_json::Value,
    pub status: LeadStatusView,
    /// The agent id it is assigned to.
    pub assignee: Option<String>,
    /// Its tags, sorted (trimmed and lower-cased).
    pub tags: Vec<String>,
    /// Counts the changes: send it back as `version` (or in `If-Match`) when changing
    /// the lead. Also in the `ETag` header.
    pub version: i64,
    /// When it was last changed through this API (RFC 3339, UTC).
    pub updated_at: Option<String>,
    /// When its status first changed from `new` (RFC 3339, UTC): speed to lead.
    pub first_response_at: Option<String>,
    /// The contact (person) it belongs to, by normalised email, else E.164 phone.
    pub contact_id: Option<String>,
}

/// Where a lead is in the pipeline: `new → contacted → qualified → viewing_scheduled →
/// offer → won | lost`, or set aside as `spam` or `duplicate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LeadStatusView {
    New,
    Contacted,
    Qualified,
    ViewingScheduled,
    Offer,
    Won,
    Lost,
    Spam,
    Duplicate,
}

impl From<LeadStatus> for LeadStatusView {
    fn from(status: LeadStatus) -> Self {
        match status {
            LeadStatus::New => LeadStatusView::New,
            LeadStatus::Contacted => LeadStatusView::Contacted,
            LeadStatus::Qualified => LeadStatusView::Qualified,
            LeadStatus::ViewingScheduled => LeadStatusView::ViewingScheduled,
            LeadStatus::Offer => LeadStatusView::Offer,
            LeadStatus::Won => LeadStatusView::Won,
            LeadStatus::Lost => LeadStatusView::Lost,
            LeadStatus::Spam => LeadStatusView::Spam,
            LeadStatus::Duplicate => LeadStatusView::Duplicate,
        }
    }
}

impl From<LeadStatusView> for LeadStatus {
    fn from(status: LeadStatusView) -> Self {
        match status {
            LeadStatusView::New => LeadStatus::New,
            LeadStatusView::Contacted => LeadStatus::Contacted,
            LeadStatusView::Qualified => LeadStatus::Qualified,
            LeadStatusView::ViewingScheduled => LeadStatus::ViewingScheduled,
            LeadStatusView::Offer => LeadStatus::Offer,
            LeadStatusView::Won => LeadStatus::Won,
            LeadStatusView::Lost => LeadStatus::Lost,
            LeadStatusView::Spam => LeadStatus::Spam,
            LeadStatusView::Duplicate => LeadStatus::Duplicate,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct SenderView {
    pub name: Option<String>,
    /// As given.
    pub email: Option<String>,
    /// Trimmed and lower-cased, when the email is a plausible address.
    pub email_normalised: Option<String>,
    /// As given.
    pub phone: Option<String>,
    /// E.164 (`+351919111222`), when it could be derived.
    pub phone_e164: Option<String>,
}

/// The fields CasaYes takes from the sender's profile; each may be missing.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ProfileView {
    pub number_residents: Option<u8>,
    pub has_pets: Option<bool>,
    pub move_timeline: Option<MoveTimelineView>,
    pub monthly_income: Option<i64>,
    pub presentation_letter: Option<String>,
}

/// When the sender expects to move.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct MoveTimelineView {
    /// `soon`, `flexible` or `exact_date`.
    pub kind: String,
    /// The date, for `exact_date` when CasaYes sent one (RFC 3339).
    pub date: Option<String>,
}

/// One oddity of an accepted payload.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct AnomalyView {
    /// The payload field, by its CasaYes name (`SenderEmail`, ...).
    pub field: String,
    /// `missing`, `wrong_type`, `coerced`, `unparseable`, `out_of_range`, `unknown_value`,
    /// `missing_time_zone`, `inconsistent`, `unrecognised_format`, `not_plausible`,
    /// `not_normalisable`, `unknown_field`, `duplicate_key` or `nul_replaced`.
    pub kind: String,
    /// The value as sent, cut to 512 characters.
    pub original: Option<String>,
}

impl From<&Anomaly> for AnomalyView {
    fn from(anomaly: &Anomaly) -> Self {
        AnomalyView {
            field: anomaly.field().wire_name().to_owned(),
            kind: anomaly.kind().code().to_owned(),
            original: anomaly.original().map(str::to_owned),
        }
    }
}

impl From<MoveTimeline> for MoveTimelineView {
    fn from(timeline: MoveTimeline) -> Self {
        MoveTimelineView {
            kind: timeline.kind_code().to_owned(),
            date: timeline.date().as_ref().map(format_timestamp),
        }
    }
}

impl From<Lead> for LeadView {
    fn from(lead: Lead) -> Self {
        let contact_id = lead.details.contact_id();
        let work = lead.work;
        let details = lead.details;
        let original =
            serde_json::from_slice(lead.raw.as_bytes()).unwrap_or(serde_json::Value::Null);
        LeadView {
            lead_reference: details.reference.as_str().to_owned(),
            entity_type: details.entity_type.map(|t| t.as_str().to_owned()),
            entity_public_id: details.entity_public_id,
            entity_reference: details.entity_reference,
            source: details.source,
            created_date: details.created_date.as_ref().map(format_timestamp),
            message: details.message.map(|m| m.as_str().to_owned()),
            sender: SenderView {
                name: details.sender.name,
                email_normalised: details
                    .sender
                    .email
                    .as_ref()
                    .and_then(SenderEmail::normalised)
                    .map(str::to_owned),
                email: details.sender.email.as_ref().map(|e| e.given().to_owned()),
                phone_e164: details
                    .sender
                    .phone
                    .as_ref()
                    .and_then(SenderPhone::e164)
                    .map(str::to_owned),
                phone: details.sender.phone.as_ref().map(|p| p.given().to_owned()),
            },
            profile: ProfileView {
                number_residents: details.profile.number_residents,
                has_pets: details.profile.has_pets,
                move_timeline: details.profile.move_timeline.map(MoveTimelineView::from),
                monthly_income: details.profile.monthly_income,
                presentation_letter: details.profile.presentation_letter,
            },
            anomalies: details.anomalies.iter().map(AnomalyView::from).collect(),
            received_at: format_utc(&lead.received_at),
            original,
            status: work.status.into(),
            assignee: work.assignee,
            tags: work.tags.into_iter().collect(),
            version: work.version,
            updated_at: work.updated_at.as_ref().map(format_utc),
            first_response_at: work.first_response_at.as_ref().map(format_utc),
            contact_id,
        }
    }
}

impl Example for LeadView {
    fn example() -> Self {
        LeadView {
            lead_reference: crate::body::SPEC_EXAMPLE_REFERENCE.into(),
            entity_type: Some("Listing".into()),
            entity_public_id: Some("A3bT7Y2xL6w".into()),
            entity_reference: Some("857632194-6".into()),
            source: Some("CasaYes".into()),
            created_date: Some("2024-08-09T15:05:44.6131515Z".into()),
            message: Some("Hi, I’m interested in this listing and would like to schedule a viewing. Please contact me. Thanks".into()),
            sender: SenderView {
                name: Some("John Smith".into()),
                email: Some("john.smith@example.com".into()),
                email_normalised: Some("john.smith@example.com".into()),
                phone: Some("919111222".into()),
                phone_e164: Some("+351919111222".into()),
            },
            profile: ProfileView {
                number_residents: Some(2),
                has_pets: Some(false),
                move_timeline: Some(MoveTimelineView {
                    kind: "exact_date".into(),
                    date: Some("2024-12-09T15:05:44.6131515Z".into()),
                }),
                monthly_income: Some(2000),
                presentation_letter: None,
            },
            anomalies: Vec::new(),
            received_at: "2024-08-09T15:05:45.120331Z".into(),
            original: serde_json::json!({
                "LeadReference": crate::body::SPEC_EXAMPLE_REFERENCE,
                "EntityType": "Listing",
                "Source": "CasaYes"
            }),
            status: LeadStatusView::Contacted,
            assignee: Some("agent-7".into()),
            tags: vec!["t2".into(), "vip".into()],
            version: 2,
            updated_at: Some("2024-08-09T15:20:10.000000Z".into()),
            first_response_at: Some("2024-08-09T15:20:10.000000Z".into()),
            contact_id: Some("3c1e1b0b1f4a4c8e9a7d5b2e6f0a1c3d".into()),
        }
    }
}

/// A page of leads, newest first.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none, example)]
pub struct LeadPage {
    pub items: Vec<LeadView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl Example for LeadPage {
    fn example() -> Self {
        LeadPage {
            items: vec![LeadView::example()],
            next_cursor: Some("1723215945120331_42".into()),
        }
    }
}

/// A payload that could not be a lead.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example, skip_serializing_if_is_none)]
pub struct QuarantinedView {
    pub id: i64,
    /// Why it was refused: `not_json`, `not_an_object`, `lead_reference_missing`,
    /// `lead_reference_invalid` or `payload_too_large`.
    pub reason: String,
    pub message: String,
    /// When it arrived (RFC 3339, UTC).
    pub received_at: String,
    /// The bytes as received, base64 (standard alphabet, padded).
    pub raw_base64: String,
    /// The bytes as text, when they are valid UTF-8.
    pub raw_text: Option<String>,
}

impl From<Quarantined> for QuarantinedView {
    fn from(entry: Quarantined) -> Self {
        use base64::Engine;
        let bytes = entry.raw.as_bytes();
        QuarantinedView {
            id: entry.id.0,
            reason: entry.rejection.kind.code().to_owned(),
            message: entry.rejection.message,
            received_at: format_utc(&entry.received_at),
            raw_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            raw_text: std::str::from_utf8(bytes).ok().map(str::to_owned),
        }
    }
}

impl Example for QuarantinedView {
    fn example() -> Self {
        QuarantinedView {
            id: 7,
            reason: "lead_reference_missing".into(),
            message: "the body has no LeadReference".into(),
            received_at: "2024-08-09T15:05:45.120331Z".into(),
            raw_base64: "eyJFbnRpdHlUeXBlIjoiTGlzdGluZyJ9".into(),
            raw_text: Some("{\"EntityType\":\"Listing\"}".into()),
        }
    }
}

/// A page of quarantined payloads, newest first.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none, example)]
pub struct QuarantinePage {
    pub items: Vec<QuarantinedView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl Example for QuarantinePage {
    fn example() -> Self {
        QuarantinePage {
            items: vec![QuarantinedView::example()],
            next_cursor: None,
        }
    }
}

/// Whether this delivery stored the lead or found it stored already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// The lead is new and is now stored.
    Created,
    /// A lead with this reference was stored already; nothing changed.
    Duplicate,
    /// A lead with this reference was erased at the request of the person it is about
    /// (GDPR Art. 17); it is not stored again. Do not send it again.
    Erased,
}

impl From<InsertOutcome> for DeliveryStatus {
    fn from(outcome: InsertOutcome) -> Self {
        match outcome {
            InsertOutcome::Created => DeliveryStatus::Created,
            InsertOutcome::Duplicate => DeliveryStatus::Duplicate,
            InsertOutcome::Erased => DeliveryStatus::Erased,
        }
    }
}

/// The answer to an accepted delivery.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct DeliveryAccepted {
    /// The `LeadReference` of the stored lead (trimmed).
    pub lead_reference: String,
    pub status: DeliveryStatus,
}

impl Example for DeliveryAccepted {
    fn example() -> Self {
        DeliveryAccepted {
            lead_reference: crate::body::SPEC_EXAMPLE_REFERENCE.into(),
            status: DeliveryStatus::Created,
        }
    }
}
