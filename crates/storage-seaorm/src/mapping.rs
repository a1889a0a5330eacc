//! Rows to domain types and back. Rows are rebuilt through the domain's own
//! constructors, so a value read back is exactly as valid as one parsed from CasaYes.

use chrono::{DateTime, Utc};
use lead_inbox_application::StorageError;
use lead_inbox_domain::{
    Anomaly, AnomalyKind, EntityType, Lead, LeadDetails, LeadField, LeadId, LeadReference,
    MoveTimeline, NewLead, NewQuarantined, Profile, QuarantineId, Quarantined, RawPayload,
    Redacted, Rejection, RejectionKind, Sender, SenderEmail, SenderPhone, format_timestamp,
    parse_timestamp,
    work::{LeadStatus, LeadWork, tags_from_text},
};
use sea_orm::ActiveValue::{NotSet, Set};
use serde::{Deserialize, Serialize};

use crate::entity::{lead, quarantine};

/// A stored row that the domain refuses: only possible if the database was edited by
/// hand or a migration went wrong.
#[derive(Debug, thiserror::Error)]
#[error("row {id} of {table} is corrupt: {what}")]
pub struct CorruptRow {
    table: &'static str,
    id: i64,
    what: String,
}

pub(crate) fn corrupt(table: &'static str, id: i64, what: impl Into<String>) -> StorageError {
    StorageError::unexpected(CorruptRow {
        table,
        id,
        what: what.into(),
    })
}

/// The `anomalies` column: a JSON array of these.
#[derive(Serialize, Deserialize)]
struct StoredAnomaly {
    field: String,
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    original: Option<String>,
}

pub(crate) fn to_micros(instant: &DateTime<Utc>) -> i64 {
    instant.timestamp_micros()
}

pub(crate) fn from_micros(
    table: &'static str,
    id: i64,
    micros: i64,
) -> Result<DateTime<Utc>, StorageError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| corrupt(table, id, "instant out of range"))
}

pub(crate) fn lead_to_row(lead: NewLead) -> lead::ActiveModel {
    let NewLead {
        details,
        raw,
        received_at,
    } = lead;
    let anomalies: Vec<StoredAnomaly> = details
        .anomalies
        .iter()
        .map(|anomaly| StoredAnomaly {
            field: anomaly.field().wire_name().to_owned(),
            kind: anomaly.kind().code().to_owned(),
            original: anomaly.original().map(str::to_owned),
        })
        .collect();
    let anomalies_json = serde_json::to_string(&anomalies)
        .unwrap_or_else(|_| unreachable!("strings always serialise"));
    let search_text = details.search_text();
    let contact_id = details.contact_id();
    let sort_created_us = details
        .created_date
        .map(|d| d.with_timezone(&Utc).timestamp_micros())
        .unwrap_or_else(|| to_micros(&received_at));
    let Sender { name, email, phone } = details.sender;
    let profile = details.profile;
    lead::ActiveModel {
        id: NotSet,
        lead_reference: Set(details.reference.as_str().to_owned()),
        entity_type: Set(details.entity_type.map(|t| t.as_str().to_owned())),
        entity_public_id: Set(details.entity_public_id),
        entity_reference: Set(details.entity_reference),
        source: Set(details.source),
        created_date: Set(details.created_date.as_ref().map(format_timestamp)),
        created_at_us: Set(details
            .created_date
            .map(|d| d.with_timezone(&Utc).timestamp_micros())),
        message: Set(details.message.map(|m| m.as_str().to_owned())),
        sender_name: Set(name),
        sender_email_normalised: Set(email
            .as_ref()
            .and_then(|e| e.normalised().map(str::to_owned))),
        sender_email: Set(email.map(|e| e.given().to_owned())),
        sender_phone_e164: Set(phone.as_ref().and_then(|p| p.e164().map(str::to_owned))),
        sender_phone: Set(phone.map(|p| p.given().to_owned())),
        number_residents: Set(profile.number_residents.map(i16::from)),
        has_pets: Set(profile.has_pets),
        move_timeline: Set(profile.move_timeline.map(|t| t.kind_code().to_owned())),
        move_date: Set(profile
            .move_timeline
            .and_then(|t| t.date())
            .as_ref()
            .map(format_timestamp)),
        monthly_income: Set(profile.monthly_income),
        presentation_letter: Set(profile.presentation_letter),
        anomaly_count: Set(i32::try_from(anomalies.len()).unwrap_or(i32::MAX)),
        anomalies: Set(anomalies_json),
        raw_payload: Set(raw.into_bytes()),
        received_at_us: Set(to_micros(&received_at)),
        status: Set(LeadStatus::New.code().to_owned()),
        assignee: Set(None),
        tags: Set(None),
        version: Set(1),
        first_response_at_us: Set(None),
        updated_at_us: Set(None),
        sort_created_us: Set(Some(sort_created_us)),
        search_text: Set(Some(search_text)),
        contact_id: Set(contact_id),
    }
}

pub(crate) fn lead_from_row(row: lead::Model) -> Result<Lead, StorageError> {
    const TABLE: &str = "leads";
    let id = row.id;
    let timestamp = |text: Option<String>, column: &str| {
        text.map(|text| {
            parse_timestamp(&text)
                .map(|parsed| parsed.value)
                .map_err(|_| corrupt(TABLE, id, format!("{column} is not a datetime")))
        })
        .transpose()
    };
    let reference = LeadReference::parse(&row.lead_reference)
        .map_err(|error| corrupt(TABLE, id, error.to_string()))?;
    let move_date = timestamp(row.move_date, "move_date")?;
    let move_timeline = row
        .move_timeline
        .map(|kind| {
            MoveTimeline::from_parts(&kind, move_date)
                .ok_or_else(|| corrupt(TABLE, id, "unknown move_timeline"))
        })
        .transpose()?;
    let stored: Vec<StoredAnomaly> = serde_json::from_str(&row.anomalies)
        .map_err(|error| corrupt(TABLE, id, format!("anomalies: {error}")))?;
    let anomalies = stored
        .into_iter()
        .map(|a| {
            let kind = AnomalyKind::from_code(&a.kind)
                .ok_or_else(|| corrupt(TABLE, id, format!("unknown anomaly kind {}", a.kind)))?;
            Ok(Anomaly::new(
                LeadField::from_wire_name(&a.field),
                kind,
                a.original,
            ))
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    let number_residents = row
        .number_residents
        .map(|n| u8::try_from(n).map_err(|_| corrupt(TABLE, id, "number_residents out of range")))
        .transpose()?;
    let instant = |micros: Option<i64>| micros.map(|m| from_micros(TABLE, id, m)).transpose();
    let work = LeadWork {
        status: LeadStatus::from_code(&row.status)
            .ok_or_else(|| corrupt(TABLE, id, format!("unknown status {}", row.status)))?,
        assignee: row.assignee,
        tags: tags_from_text(row.tags.as_deref()),
        version: row.version,
        first_response_at: instant(row.first_response_at_us)?,
        updated_at: instant(row.updated_at_us)?,
    };
    Ok(Lead {
        id: LeadId(id),
        work,
        received_at: from_micros(TABLE, id, row.received_at_us)?,
        raw: RawPayload::new(row.raw_payload),
        details: LeadDetails {
            reference,
            entity_type: row.entity_type.as_deref().and_then(EntityType::parse),
            entity_public_id: row.entity_public_id,
            entity_reference: row.entity_reference,
            source: row.source,
            created_date: timestamp(row.created_date, "created_date")?,
            message: row.message.map(Redacted::new),
            sender: Sender {
                name: row.sender_name,
                email: row.sender_email.as_deref().and_then(SenderEmail::parse),
                phone: row.sender_phone.as_deref().and_then(SenderPhone::parse),
            },
            profile: Profile {
                number_residents,
                has_pets: row.has_pets,
                move_timeline,
                monthly_income: row.monthly_income,
                presentation_letter: row.presentation_letter,
            },
            anomalies,
        },
    })
}

pub(crate) fn quarantined_to_row(entry: NewQuarantined) -> quarantine::ActiveModel {
    quarantine::ActiveModel {
        id: NotSet,
        reason_code: Set(entry.rejection.kind.code().to_owned()),
        reason_message: Set(entry.rejection.message),
        raw_payload: Set(entry.raw.into_bytes()),
        received_at_us: Set(to_micros(&entry.received_at)),
    }
}

pub(crate) fn quarantined_from_row(row: quarantine::Model) -> Result<Quarantined, StorageError> {
    const TABLE: &str = "quarantine";
    let kind = RejectionKind::from_code(&row.reason_code)
        .ok_or_else(|| corrupt(TABLE, row.id, format!("unknown reason {}", row.reason_code)))?;
    Ok(Quarantined {
        id: QuarantineId(row.id),
        received_at: from_micros(TABLE, row.id, row.received_at_us)?,
        rejection: Rejection::new(kind, row.reason_message),
        raw: RawPayload::new(row.raw_payload),
    })
}
