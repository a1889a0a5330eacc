//! The lead: what a CasaYes payload says, once parsed.

use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};

use crate::{Anomaly, EntityType, LeadReference, MoveTimeline, SenderEmail, SenderPhone};

/// The bytes CasaYes sent, exactly. Kept with every lead and quarantined payload, so
/// that nothing is lost to a parsing rule and a payload can be parsed again later.
#[derive(Clone, PartialEq, Eq)]
pub struct RawPayload(Vec<u8>);

impl RawPayload {
    pub fn new(bytes: Vec<u8>) -> Self {
        RawPayload(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Lead contents are personal data: the payload never prints itself.
impl fmt::Debug for RawPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawPayload({} bytes)", self.0.len())
    }
}

/// The sender, as far as CasaYes told.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Sender {
    pub name: Option<String>,
    pub email: Option<SenderEmail>,
    pub phone: Option<SenderPhone>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("name", &self.name.as_ref().map(|_| "[redacted]"))
            .field("email", &self.email.as_ref().map(|_| "[redacted]"))
            .field("phone", &self.phone.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The fields CasaYes takes from the sender's profile; each may be missing.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Profile {
    /// Projected residents, 1 to 50.
    pub number_residents: Option<u8>,
    pub has_pets: Option<bool>,
    pub move_timeline: Option<MoveTimeline>,
    /// Monthly income, never negative.
    pub monthly_income: Option<i64>,
    pub presentation_letter: Option<String>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile").finish_non_exhaustive()
    }
}

/// Everything a payload says about a lead, parsed. Built by
/// [`crate::casayes::parse_payload`], or rebuilt from storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadDetails {
    pub reference: LeadReference,
    pub entity_type: Option<EntityType>,
    pub entity_public_id: Option<String>,
    pub entity_reference: Option<String>,
    pub source: Option<String>,
    pub created_date: Option<DateTime<FixedOffset>>,
    pub message: Option<Redacted>,
    pub sender: Sender,
    pub profile: Profile,
    pub anomalies: Vec<Anomaly>,
}

/// Free text written by the public (the lead's message): never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(text: String) -> Self {
        Redacted(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A lead to store: parsed, with its raw bytes and when it arrived. Not yet a [`Lead`]:
/// it has no identity until the repository accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLead {
    pub details: LeadDetails,
    pub raw: RawPayload,
    pub received_at: DateTime<Utc>,
}

/// The storage identity of a lead: increasing in the order leads were stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeadId(pub i64);

/// A stored lead: what CasaYes sent, and how it is being worked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    pub id: LeadId,
    pub details: LeadDetails,
    pub raw: RawPayload,
    pub received_at: DateTime<Utc>,
    pub work: crate::LeadWork,
}

impl Lead {
    pub fn reference(&self) -> &LeadReference {
        &self.details.reference
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_carries_no_personal_data() {
        let sender = Sender {
            name: Some("Maria Canary".into()),
            email: SenderEmail::parse("canary@example.com"),
            phone: SenderPhone::parse("919111222"),
        };
        let printed = format!(
            "{:?} {:?} {:?} {:?}",
            sender,
            RawPayload::new(b"{\"SenderName\":\"Maria Canary\"}".to_vec()),
            Redacted::new("secret message".into()),
            Profile {
                presentation_letter: Some("letter".into()),
                ..Profile::default()
            }
        );
        for canary in ["Maria", "canary@", "919111222", "secret message", "letter"] {
            assert!(!printed.contains(canary), "{canary} in {printed}");
        }
    }
}
