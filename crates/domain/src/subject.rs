//! The data subject: the person a lead is about, named by their email or their phone,
//! for their GDPR rights (access, portability, erasure).
//!
//! The rule of which leads are a subject's lives here ([`Subject::owns`]), so that
//! every adapter erases and exports exactly the same leads; adapters find candidates
//! fast through the normalised columns and confirm them with this rule.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::{LeadDetails, LeadReference, SenderEmail, SenderPhone};

/// A person, named by one way to reach them.
#[derive(Clone, PartialEq, Eq)]
pub enum Subject {
    /// The trimmed, lower-cased address.
    Email(String),
    /// The E.164 form (`+351919111222`) when one can be derived, else the digits.
    Phone(String),
}

/// Why a value cannot name a subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("email must be an address with an `@`")]
    NotAnEmail,
    #[error("phone must have at least {MIN_PHONE_DIGITS} digits")]
    NotAPhone,
}

/// Fewer digits than this cannot tell one person from another.
pub const MIN_PHONE_DIGITS: usize = 6;

/// A subject is personal data: it never prints itself.
impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Subject::{}([redacted])", self.kind())
    }
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

impl Subject {
    /// The person with this email (any case, surrounding blanks ignored).
    pub fn email(text: &str) -> Result<Subject, SubjectError> {
        let key = text.trim().to_lowercase();
        if key.len() < 3 || !key.contains('@') || key.chars().any(char::is_control) {
            return Err(SubjectError::NotAnEmail);
        }
        Ok(Subject::Email(key))
    }

    /// The person with this phone, in any form CasaYes might have sent it
    /// (`919111222`, `+351 919 111 222`, `00351919111222`).
    pub fn phone(text: &str) -> Result<Subject, SubjectError> {
        if digits(text).len() < MIN_PHONE_DIGITS {
            return Err(SubjectError::NotAPhone);
        }
        let e164 = SenderPhone::parse(text).and_then(|phone| phone.e164().map(str::to_owned));
        Ok(Subject::Phone(e164.unwrap_or_else(|| digits(text))))
    }

    /// `email` or `phone`.
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Email(_) => "email",
            Subject::Phone(_) => "phone",
        }
    }

    /// The normalised value: what the adapters' indexed columns hold for a plausible
    /// email or a phone with an E.164 form.
    pub fn key(&self) -> &str {
        match self {
            Subject::Email(key) | Subject::Phone(key) => key,
        }
    }

    fn owns_email(&self, email: &SenderEmail) -> bool {
        match self {
            Subject::Email(key) => {
                email.normalised() == Some(key.as_str())
                    || email.given().trim().to_lowercase() == *key
            }
            Subject::Phone(_) => false,
        }
    }

    /// Whether a phone as written (`given`) is this subject's: the same E.164 form,
    /// or the same digits (for a number no E.164 form could be derived from).
    fn owns_phone_text(&self, given: &str) -> bool {
        let Subject::Phone(key) = self else {
            return false;
        };
        if let Some(e164) = SenderPhone::parse(given)
            .as_ref()
            .and_then(SenderPhone::e164)
        {
            return e164 == key;
        }
        let found = digits(given);
        found.len() >= MIN_PHONE_DIGITS && found == digits(key)
    }

    /// Whether a lead is about this person: its sender's email or phone is theirs.
    pub fn owns(&self, details: &LeadDetails) -> bool {
        let sender = &details.sender;
        sender
            .email
            .as_ref()
            .is_some_and(|email| self.owns_email(email))
            || sender
                .phone
                .as_ref()
                .is_some_and(|phone| self.owns_phone_text(phone.given()))
    }

    /// Whether bytes that could not be parsed as a lead (a quarantined payload) mention
    /// this person anywhere: the email in any case, or the phone in any of its written
    /// forms (a run of digits, spaces, `+`, `-`, `.`, `(`, `)`, `/`).
    pub fn appears_in(&self, bytes: &[u8]) -> bool {
        let text = String::from_utf8_lossy(bytes);
        match self {
            Subject::Email(key) => text.to_lowercase().contains(key.as_str()),
            Subject::Phone(_) => phone_runs(&text).any(|run| self.owns_phone_text(run)),
        }
    }
}

/// The stretches of `text` that could be a written phone number.
fn phone_runs(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_digit() || " +-.()/".contains(c)))
        .map(str::trim)
        .filter(|run| digits(run).len() >= MIN_PHONE_DIGITS)
}

impl LeadReference {
    /// What stays of an erased lead, so that a redelivery does not bring it back: a
    /// SHA-256 of the reference (hex), not the reference itself.
    pub fn tombstone(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"lead-inbox erased lead reference\0")
            .chain_update(self.as_str().as_bytes())
            .finalize();
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::casayes::{SPEC_EXAMPLE, parse_payload};

    fn lead_with(email: &str, phone: &str) -> LeadDetails {
        let mut details = parse_payload(SPEC_EXAMPLE.as_bytes()).expect("the spec example parses");
        details.sender.email = SenderEmail::parse(email);
        details.sender.phone = SenderPhone::parse(phone);
        details
    }

    #[test]
    fn subjects_are_normalised() {
        assert_eq!(
            Subject::email("  Joao.Silva@Example.PT "),
            Ok(Subject::Email("joao.silva@example.pt".into()))
        );
        assert_eq!(Subject::email("joao"), Err(SubjectError::NotAnEmail));
        for written in ["919111222", "+351 919 111 222", "00351919111222"] {
            assert_eq!(
                Subject::phone(written),
                Ok(Subject::Phone("+351919111222".into())),
                "{written}"
            );
        }
        assert_eq!(Subject::phone("12-34-5"), Err(SubjectError::NotAPhone));
        assert_eq!(
            Subject::phone("555 1234 ext"),
            Ok(Subject::Phone("5551234".into()))
        );
    }

    #[test]
    fn a_subject_owns_leads_by_email_or_phone_in_any_form() {
        let by_email = Subject::email("JOAO@example.pt").expect("email");
        assert!(by_email.owns(&lead_with("joao@Example.pt", "")));
        assert!(by_email.owns(&lead_with(" JOAO@EXAMPLE.PT", "")));
        assert!(!by_email.owns(&lead_with("joana@example.pt", "919111222")));
        let by_phone = Subject::phone("+351919111222").expect("phone");
        assert!(by_phone.owns(&lead_with("", "919 111 222")));
        assert!(by_phone.owns(&lead_with("x@example.pt", "00351919111222")));
        assert!(!by_phone.owns(&lead_with("x@example.pt", "919111223")));
        // No E.164 form: the digits decide.
        let odd = Subject::phone("555-1234 (home)").expect("phone");
        assert!(odd.owns(&lead_with("", "5551234 home")));
        assert!(!odd.owns(&lead_with("", "5551235")));
    }

    #[test]
    fn quarantined_bytes_are_searched_for_the_subject() {
        let body = br#"{"SenderEmail":"Joao@Example.PT","SenderPhone":"+351 919 111 222","#;
        assert!(
            Subject::email("joao@example.pt")
                .expect("email")
                .appears_in(body)
        );
        assert!(Subject::phone("919111222").expect("phone").appears_in(body));
        assert!(!Subject::phone("919111223").expect("phone").appears_in(body));
        assert!(
            !Subject::email("ana@example.pt")
                .expect("email")
                .appears_in(body)
        );
        let number = br#"{"SenderPhone":919111222}"#;
        assert!(
            Subject::phone("+351919111222")
                .expect("phone")
                .appears_in(number)
        );
    }

    #[test]
    fn tombstones_hide_the_reference_and_are_stable() {
        let reference = LeadReference::parse("CY-Rent-123-3fa85f64-5717-4562-b3fc-2c963f66afa6")
            .expect("reference");
        let tombstone = reference.tombstone();
        assert_eq!(tombstone.len(), 64);
        assert!(tombstone.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(tombstone, reference.clone().tombstone());
        assert_ne!(
            tombstone,
            LeadReference::parse("CY-Rent-124")
                .expect("reference")
                .tombstone()
        );
    }

    #[test]
    fn debug_does_not_print_the_subject() {
        let printed = format!("{:?}", Subject::email("canary@example.pt").expect("email"));
        assert!(!printed.contains("canary"), "{printed}");
    }
}
