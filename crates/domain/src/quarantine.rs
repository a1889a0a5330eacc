//! Payloads that could not be a lead, kept for inspection and replay.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::RawPayload;

/// Why an authenticated payload was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionKind {
    /// The body is not JSON (including invalid UTF-8 and nesting past the parser's limit).
    NotJson,
    /// The body is JSON but not an object.
    NotAnObject,
    /// The object has no `LeadReference`, or it is `null`.
    LeadReferenceMissing,
    /// `LeadReference` is present but not usable (not a string, blank, too long, control characters).
    LeadReferenceInvalid,
    /// The body is larger than the configured limit; only its first bytes are kept.
    PayloadTooLarge,
}

impl RejectionKind {
    pub const ALL: [RejectionKind; 5] = [
        RejectionKind::NotJson,
        RejectionKind::NotAnObject,
        RejectionKind::LeadReferenceMissing,
        RejectionKind::LeadReferenceInvalid,
        RejectionKind::PayloadTooLarge,
    ];

    /// A stable snake_case code, used in storage and as the API error code.
    pub fn code(self) -> &'static str {
        match self {
            RejectionKind::NotJson => "not_json",
            RejectionKind::NotAnObject => "not_an_object",
            RejectionKind::LeadReferenceMissing => "lead_reference_missing",
            RejectionKind::LeadReferenceInvalid => "lead_reference_invalid",
            RejectionKind::PayloadTooLarge => "payload_too_large",
        }
    }

    pub fn from_code(code: &str) -> Option<RejectionKind> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

impl fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refusal: its kind and a message for a person. The message names the problem
/// but never repeats the payload's contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub kind: RejectionKind,
    pub message: String,
}

impl Rejection {
    pub fn new(kind: RejectionKind, message: impl Into<String>) -> Self {
        Rejection {
            kind,
            message: message.into(),
        }
    }
}

/// A refused payload to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuarantined {
    pub rejection: Rejection,
    pub raw: RawPayload,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuarantineId(pub i64);

/// A kept payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub id: QuarantineId,
    pub rejection: Rejection,
    pub raw: RawPayload,
    pub received_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_codes() {
        for kind in RejectionKind::ALL {
            assert_eq!(RejectionKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(RejectionKind::from_code("other"), None);
    }
}
