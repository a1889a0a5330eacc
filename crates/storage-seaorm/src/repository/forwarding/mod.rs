//! Forwarding's ports on sea-orm: [`DestinationStore`] (`destinations`) and
//! [`DeliveryStore`] (`deliveries`), on the tables of the forwarding migration, and
//! the rows' mapping to the domain's types.
//!
//! Deliveries reference their lead and their destination with `ON DELETE CASCADE`,
//! and attempts their delivery: erasure, retention and deleting a destination remove
//! them in the statement that removes what they belong to.
//!
//! [`DestinationStore`]: lead_inbox_application::forwarding::DestinationStore
//! [`DeliveryStore`]: lead_inbox_application::forwarding::DeliveryStore

mod deliveries;
mod destinations;

use std::{collections::BTreeSet, fmt, sync::Arc, time::Duration};

use lead_inbox_application::StorageError;
use lead_inbox_domain::{
    LeadEventKind, LeadId, LeadReference,
    forwarding::{
        Attempt, Delivery, DeliveryId, Destination, DestinationId, StoredSecret, Verdict,
        event_name, parse_event_name,
    },
};
use serde::{Deserialize, Serialize};

use crate::{
    Inner,
    entity::{delivery, delivery_attempt, destination},
    mapping::{corrupt, from_micros, to_micros},
};

/// [`DestinationStore`] and [`DeliveryStore`] on sea-orm, on one pool.
///
/// [`DestinationStore`]: lead_inbox_application::forwarding::DestinationStore
/// [`DeliveryStore`]: lead_inbox_application::forwarding::DeliveryStore
#[derive(Clone)]
pub struct SeaOrmForwardingStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for SeaOrmForwardingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeaOrmForwardingStore")
            .finish_non_exhaustive()
    }
}

impl SeaOrmForwardingStore {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        SeaOrmForwardingStore { inner }
    }
}

/// The `secrets` column: a JSON array of these.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretColumn {
    sealed: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at_us: Option<i64>,
}

fn secrets_to_text(secrets: &[StoredSecret]) -> String {
    let column: Vec<SecretColumn> = secrets
        .iter()
        .map(|secret| SecretColumn {
            sealed: secret.sealed.clone(),
            expires_at_us: secret.expires_at.as_ref().map(to_micros),
        })
        .collect();
    serde_json::to_string(&column).unwrap_or_else(|_| unreachable!("strings always serialise"))
}

/// The `events` column: the event names, comma-joined (names hold no comma).
fn events_to_text(events: &BTreeSet<LeadEventKind>) -> String {
    events
        .iter()
        .map(|kind| event_name(*kind))
        .collect::<Vec<_>>()
        .join(",")
}

/// The `entity_types` column: a JSON array (an entity type may hold any character).
fn entity_types_to_text(types: &Option<BTreeSet<String>>) -> Option<String> {
    types.as_ref().map(|types| {
        serde_json::to_string(types).unwrap_or_else(|_| unreachable!("strings always serialise"))
    })
}

fn destination_from_row(row: destination::Model) -> Result<Destination, StorageError> {
    const TABLE: &str = "destinations";
    let id = row.id;
    let bad = |what: String| corrupt(TABLE, id, what);
    let events = row
        .events
        .split(',')
        .filter(|name| !name.is_empty())
        .map(parse_event_name)
        .collect::<Result<BTreeSet<_>, _>>()
        .map_err(|error| bad(error.to_string()))?;
    let entity_types = row
        .entity_types
        .map(|text| serde_json::from_str::<BTreeSet<String>>(&text))
        .transpose()
        .map_err(|error| bad(format!("entity types: {error}")))?;
    let secrets = serde_json::from_str::<Vec<SecretColumn>>(&row.secrets)
        .map_err(|error| bad(format!("secrets: {error}")))?
        .into_iter()
        .map(|secret| {
            Ok(StoredSecret {
                sealed: secret.sealed,
                expires_at: secret
                    .expires_at_us
                    .map(|us| from_micros(TABLE, id, us))
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    Ok(Destination {
        id: DestinationId(id),
        kind: row.kind.parse().map_err(|error| bad(format!("{error}")))?,
        url: row.url,
        subject: row.subject,
        events,
        format: row
            .format
            .parse()
            .map_err(|error| bad(format!("{error}")))?,
        entity_types,
        description: row.description,
        max_in_flight: u32::try_from(row.max_in_flight)
            .map_err(|_| bad("negative max_in_flight".into()))?,
        disabled: row
            .disabled
            .map(|reason| reason.parse())
            .transpose()
            .map_err(|error| bad(format!("{error}")))?,
        secrets,
        casayes_token: row.casayes_token,
        after_event: row.after_event,
        failing_since: row
            .failing_since_us
            .map(|us| from_micros(TABLE, id, us))
            .transpose()?,
        created_at: from_micros(TABLE, id, row.created_at_us)?,
        updated_at: from_micros(TABLE, id, row.updated_at_us)?,
    })
}

fn delivery_from_row(row: delivery::Model) -> Result<Delivery, StorageError> {
    const TABLE: &str = "deliveries";
    let id = row.id;
    let bad = |what: String| corrupt(TABLE, id, what);
    Ok(Delivery {
        id: DeliveryId(id),
        destination_id: DestinationId(row.destination_id),
        event_id: row.event_id,
        kind: LeadEventKind::from_code(&row.kind).ok_or_else(|| bad("unknown kind".into()))?,
        event_at: from_micros(TABLE, id, row.event_at_us)?,
        lead_id: LeadId(row.lead_id),
        lead_reference: LeadReference::parse(&row.lead_reference)
            .map_err(|error| bad(error.to_string()))?,
        replay: row.replay,
        message_id: row.message_id,
        status: row
            .status
            .parse()
            .map_err(|error| bad(format!("{error}")))?,
        attempts: u32::try_from(row.attempts).map_err(|_| bad("negative attempts".into()))?,
        next_attempt_at: row
            .next_attempt_at_us
            .map(|us| from_micros(TABLE, id, us))
            .transpose()?,
        created_at: from_micros(TABLE, id, row.created_at_us)?,
        updated_at: from_micros(TABLE, id, row.updated_at_us)?,
    })
}

/// The `verdict` column's values; `retry_after_ms` holds a retry's `not_before`.
fn verdict_to_columns(verdict: Verdict) -> (&'static str, Option<i64>) {
    match verdict {
        Verdict::Delivered => ("delivered", None),
        Verdict::Gone => ("gone", None),
        Verdict::Retry { not_before } => (
            "retry",
            not_before.map(|delay| i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        ),
    }
}

fn attempt_from_row(row: delivery_attempt::Model) -> Result<Attempt, StorageError> {
    const TABLE: &str = "delivery_attempts";
    let id = row.id;
    let bad = |what: &str| corrupt(TABLE, id, what);
    let millis = |ms: i64| Duration::from_millis(u64::try_from(ms).unwrap_or_default());
    let verdict = match row.verdict.as_str() {
        "delivered" => Verdict::Delivered,
        "gone" => Verdict::Gone,
        "retry" => Verdict::Retry {
            not_before: row.retry_after_ms.map(millis),
        },
        _ => return Err(bad("unknown verdict")),
    };
    Ok(Attempt {
        at: from_micros(TABLE, id, row.at_us)?,
        status_code: row
            .status_code
            .map(u16::try_from)
            .transpose()
            .map_err(|_| bad("status code out of range"))?,
        latency: Duration::from_micros(
            u64::try_from(row.latency_us).map_err(|_| bad("negative latency"))?,
        ),
        error: row.error,
        response: row.response,
        verdict,
    })
}
