//! What forwarding stores: destinations (where events go), deliveries (one event on
//! its way to one destination) and attempts (each try to hand it over).

use std::{collections::BTreeSet, fmt, str::FromStr, time::Duration};

use chrono::{DateTime, Utc};

use crate::{LeadEventKind, LeadId, LeadReference};

use super::Verdict;

/// The storage identity of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestinationId(pub i64);

/// The storage identity of a delivery: increasing in the order deliveries were
/// created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(pub i64);

/// How events reach a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    /// An HTTPS `POST`, signed (Standard Webhooks).
    Webhook,
    /// A publish to a NATS JetStream subject, acknowledged by the stream.
    Nats,
}

/// What a delivery's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardFormat {
    /// The live feed's JSON for the event: `{"eventId", "kind", "at", "lead"}`.
    Lead,
    /// For `lead.created` only: the exact bytes CasaYes posted.
    Casayes,
}

/// Text forms, as the API, the CLI and the stores spell them.
macro_rules! text_enum {
    ($type:ty, $what:literal, { $($variant:path => $text:literal),+ $(,)? }) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self { $($variant => $text),+ }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = UnknownValue;

            fn from_str(text: &str) -> Result<Self, UnknownValue> {
                match text {
                    $($text => Ok($variant),)+
                    _ => Err(UnknownValue {
                        what: $what,
                        expected: &[$($text),+],
                    }),
                }
            }
        }
    };
}

text_enum!(DestinationKind, "destination kind", {
    DestinationKind::Webhook => "webhook",
    DestinationKind::Nats => "nats",
});
text_enum!(ForwardFormat, "format", {
    ForwardFormat::Lead => "lead",
    ForwardFormat::Casayes => "casayes",
});
text_enum!(DeliveryStatus, "delivery status", {
    DeliveryStatus::Pending => "pending",
    DeliveryStatus::Delivered => "delivered",
    DeliveryStatus::Failed => "failed",
});

/// A text that is none of a type's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a {what}: expected one of {}", expected.join(", "))]
pub struct UnknownValue {
    pub what: &'static str,
    pub expected: &'static [&'static str],
}

/// The event names destinations subscribe to: `lead.created`, `lead.updated`.
pub fn event_name(kind: LeadEventKind) -> &'static str {
    match kind {
        LeadEventKind::Created => "lead.created",
        LeadEventKind::Updated => "lead.updated",
    }
}

/// The inverse of [`event_name`].
pub fn parse_event_name(text: &str) -> Result<LeadEventKind, UnknownValue> {
    match text {
        "lead.created" => Ok(LeadEventKind::Created),
        "lead.updated" => Ok(LeadEventKind::Updated),
        _ => Err(UnknownValue {
            what: "event",
            expected: &["lead.created", "lead.updated"],
        }),
    }
}

/// `maxInFlight` when none is given.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 8;

/// A signing secret as stored: sealed (encrypted when `LEAD_INBOX_SECRETS_KEY` is
/// set), with the time after which it no longer signs (`None`: the current one).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSecret {
    pub sealed: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecret")
            .field("sealed", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a destination no longer receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisabledReason {
    /// An operator disabled it (API or CLI).
    Operator,
    /// It answered `410 Gone`.
    Gone,
    /// It failed continuously for `LEAD_INBOX_FORWARD_DISABLE_AFTER_HOURS`.
    Failing,
}

text_enum!(DisabledReason, "disabled reason", {
    DisabledReason::Operator => "operator",
    DisabledReason::Gone => "gone",
    DisabledReason::Failing => "failing",
});

/// Where events go, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub id: DestinationId,
    pub kind: DestinationKind,
    /// `https://…` for a webhook (checked by [`super::DestinationUrl`]), `nats://…`
    /// for NATS (it may carry credentials: never log it whole).
    pub url: String,
    /// The JetStream subject (NATS only).
    pub subject: Option<String>,
    pub events: BTreeSet<LeadEventKind>,
    pub format: ForwardFormat,
    /// Only leads of these entity types (`None`: every lead).
    pub entity_types: Option<BTreeSet<String>>,
    pub description: Option<String>,
    pub max_in_flight: u32,
    /// `None` while it receives events.
    pub disabled: Option<DisabledReason>,
    /// Signing secrets, sealed: the current one, and during a rotation the previous
    /// one until it expires.
    pub secrets: Vec<StoredSecret>,
    /// The `token` header sent with the `casayes` format, sealed.
    pub casayes_token: Option<String>,
    /// Events up to this id happened before the destination existed: it gets none of
    /// them (but a replay).
    pub after_event: i64,
    /// Since when every attempt has failed (`None`: the last one succeeded).
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Destination {
    pub fn enabled(&self) -> bool {
        self.disabled.is_none()
    }

    /// Whether an event of `kind` on a lead of `entity_type` goes to this destination
    /// (enabled or not).
    pub fn wants(&self, kind: LeadEventKind, entity_type: Option<&str>) -> bool {
        if !self.events.contains(&kind) {
            return false;
        }
        if self.format == ForwardFormat::Casayes && kind != LeadEventKind::Created {
            return false;
        }
        match (&self.entity_types, entity_type) {
            (None, _) => true,
            (Some(types), Some(entity_type)) => types.contains(entity_type),
            (Some(_), None) => false,
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or being attempted).
    Pending,
    /// A destination accepted it.
    Delivered,
    /// Its retry schedule is spent, or its destination is gone: the dead-letter view,
    /// kept until it is retried or purged.
    Failed,
}

/// A delivery to create: one event for one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub destination_id: DestinationId,
    pub event_id: i64,
    pub kind: LeadEventKind,
    pub event_at: DateTime<Utc>,
    pub lead_id: LeadId,
    pub lead_reference: LeadReference,
    /// `0` for the event's first delivery to the destination; a replay's number (its
    /// time in microseconds) for a replayed one. One delivery per destination, event
    /// and replay: creating it twice creates it once.
    pub replay: i64,
    /// The `webhook-id` (and NATS `Nats-Msg-Id`): the same on every retry of this
    /// delivery, new for a replay. `msg_` and 32 hex digits.
    pub message_id: String,
    pub created_at: DateTime<Utc>,
}

/// One event on its way to one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub destination_id: DestinationId,
    pub event_id: i64,
    pub kind: LeadEventKind,
    pub event_at: DateTime<Utc>,
    pub lead_id: LeadId,
    pub lead_reference: LeadReference,
    pub replay: i64,
    pub message_id: String,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The first bytes of a response body an attempt keeps.
pub const RESPONSE_PREFIX_BYTES: usize = 1024;

/// One try to hand a delivery over.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The HTTP status (webhooks), when there was an answer.
    pub status_code: Option<u16>,
    pub latency: Duration,
    /// What went wrong, without secrets: a network error, a timeout, a refused
    /// address, a missing stream.
    pub error: Option<String>,
    /// The first [`RESPONSE_PREFIX_BYTES`] of the answer's body (lossy UTF-8).
    pub response: Option<String>,
    pub verdict: Verdict,
}

/// The first [`RESPONSE_PREFIX_BYTES`] of `body`, as text (cut at a character
/// boundary, invalid UTF-8 replaced).
pub fn response_prefix(body: &[u8]) -> String {
    let cut = &body[..body.len().min(RESPONSE_PREFIX_BYTES)];
    let text = String::from_utf8_lossy(cut);
    match text.strip_suffix('\u{fffd}') {
        // A character cut in two at the limit is dropped, not replaced.
        Some(whole) if body.len() > RESPONSE_PREFIX_BYTES => whole.to_owned(),
        _ => text.into_owned(),
    }
}

/// What a delivery becomes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// The schedule is spent (or the destination is gone): dead-lettered.
    Failed,
}

impl AttemptOutcome {
    /// The status a delivery has after an attempt with this outcome, and when its next
    /// attempt is due (pending only).
    pub fn status_after(self) -> (DeliveryStatus, Option<DateTime<Utc>>) {
        match self {
            AttemptOutcome::Delivered => (DeliveryStatus::Delivered, None),
            AttemptOutcome::RetryAt(at) => (DeliveryStatus::Pending, Some(at)),
            AttemptOutcome::Failed => (DeliveryStatus::Failed, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip_and_unknown_values_name_the_expected_ones() {
        for status in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ] {
            assert_eq!(status.as_str().parse::<DeliveryStatus>(), Ok(status));
        }
        assert_eq!(
            "casayes".parse::<ForwardFormat>(),
            Ok(ForwardFormat::Casayes)
        );
        let error = "xml".parse::<ForwardFormat>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "not a format: expected one of lead, casayes"
        );
        assert_eq!(parse_event_name("lead.updated"), Ok(LeadEventKind::Updated));
        assert_eq!(event_name(LeadEventKind::Created), "lead.created");
        assert!(parse_event_name("lead.deleted").is_err());
    }

    #[test]
    fn a_destination_wants_its_events_and_entity_types_only() {
        let now = Utc::now();
        let mut destination = Destination {
            id: DestinationId(1),
            kind: DestinationKind::Webhook,
            url: "https://crm.example/hook".into(),
            subject: None,
            events: BTreeSet::from([LeadEventKind::Created]),
            format: ForwardFormat::Lead,
            entity_types: Some(BTreeSet::from(["Listing".to_owned()])),
            description: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            disabled: None,
            secrets: Vec::new(),
            casayes_token: None,
            after_event: 0,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        assert!(destination.wants(LeadEventKind::Created, Some("Listing")));
        assert!(!destination.wants(LeadEventKind::Created, Some("Office")));
        assert!(!destination.wants(LeadEventKind::Created, None));
        assert!(!destination.wants(LeadEventKind::Updated, Some("Listing")));
        destination.entity_types = None;
        destination.events.insert(LeadEventKind::Updated);
        assert!(destination.wants(LeadEventKind::Updated, None));
        destination.format = ForwardFormat::Casayes;
        assert!(!destination.wants(LeadEventKind::Updated, None));
        assert!(destination.wants(LeadEventKind::Created, None));
    }

    #[test]
    fn a_response_prefix_keeps_1_kib_and_never_half_a_character() {
        assert_eq!(response_prefix(b"ok"), "ok");
        let long = "é".repeat(600); // 1,200 bytes: the limit falls inside an "é"
        let kept = response_prefix(long.as_bytes());
        assert_eq!(kept, "é".repeat(512));
        assert_eq!(response_prefix(&[b'a'; 2000]).len(), RESPONSE_PREFIX_BYTES);
    }
}
