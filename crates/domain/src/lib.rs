//! The Lead Inbox domain: what a CasaYes lead is, and the rules that turn the bytes
//! CasaYes sends into one.
//!
//! Everything here is pure: no I/O, no async runtime, no database, no HTTP. Types are
//! built only through constructors that parse (`LeadReference::parse`,
//! `EntityType::parse`, ...), so a value of a domain type is always a valid one.
//!
//! The central rule (see [`casayes::parse_payload`]): an authenticated payload with a
//! usable `LeadReference` is never refused because of another field. Whatever is odd
//! about the other fields becomes an [`Anomaly`] on the lead; only a body that is not a
//! JSON object, or has no usable reference, is refused (and then quarantined by the
//! application).

pub mod anomaly;
pub mod casayes;
pub mod entity;
pub mod forwarding;
pub mod lead;
pub mod quarantine;
pub mod reference;
pub mod search;
pub mod sender;
#[cfg(test)]
mod strategies;
pub mod subject;
pub mod time;
pub mod timeline;
pub mod work;

pub use anomaly::{Anomaly, AnomalyKind, LeadField};
pub use entity::{EntityType, MAX_ENTITY_TYPE_CHARS};
pub use lead::{Lead, LeadDetails, LeadId, NewLead, Profile, RawPayload, Redacted, Sender};
pub use quarantine::{NewQuarantined, QuarantineId, Quarantined, Rejection, RejectionKind};
pub use reference::{LeadReference, LeadReferenceError, ReferenceParts};
pub use sender::{SenderEmail, SenderPhone};
pub use subject::{Subject, SubjectError};
pub use time::{ParsedTimestamp, TimestampError, format_timestamp, format_utc, parse_timestamp};
pub use timeline::MoveTimeline;
pub use work::{
    Applied, FieldChange, HistoryEntry, LeadEvent, LeadEventKind, LeadStatus, LeadWork, Note,
    Transition, TransitionError, WorkChange, WorkError,
};
