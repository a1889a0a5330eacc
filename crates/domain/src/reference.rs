//! `LeadReference`: the lead's CasaYes public id, and the idempotency key.

use std::fmt;

use uuid::Uuid;

/// The longest accepted reference, in characters (CasaYes's are about 70).
pub const MAX_REFERENCE_CHARS: usize = 256;

/// A usable `LeadReference`: trimmed, non-empty, at most [`MAX_REFERENCE_CHARS`]
/// characters, without control characters. It is the key that makes a redelivery a
/// duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeadReference(String);

/// Why a value cannot be a `LeadReference`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeadReferenceError {
    #[error("LeadReference is empty")]
    Empty,
    #[error("LeadReference is longer than {MAX_REFERENCE_CHARS} characters")]
    TooLong,
    #[error("LeadReference contains control characters")]
    ControlCharacters,
}

/// The parts of a reference of the documented shape `CY-<EntityType>-<EntityPublicId>-<uuid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceParts<'a> {
    pub entity_type: &'a str,
    pub entity_public_id: &'a str,
    pub uuid: Uuid,
}

impl LeadReference {
    pub fn parse(value: &str) -> Result<LeadReference, LeadReferenceError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(LeadReferenceError::Empty);
        }
        if value.chars().count() > MAX_REFERENCE_CHARS {
            return Err(LeadReferenceError::TooLong);
        }
        if value.chars().any(char::is_control) {
            return Err(LeadReferenceError::ControlCharacters);
        }
        Ok(LeadReference(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parts, when the reference has the documented shape; `None` otherwise.
    /// The entity type is the first segment after `CY-` (entity types have no `-`);
    /// the public id is everything between it and the trailing UUID.
    pub fn parts(&self) -> Option<ReferenceParts<'_>> {
        let rest = self.0.strip_prefix("CY-")?;
        const UUID_LEN: usize = 36;
        let split = rest.len().checked_sub(UUID_LEN + 1)?;
        if !rest.is_char_boundary(split) || rest.as_bytes()[split] != b'-' {
            return None;
        }
        let (head, uuid) = (&rest[..split], &rest[split + 1..]);
        let uuid = Uuid::try_parse(uuid).ok()?;
        let (entity_type, entity_public_id) = head.split_once('-')?;
        if entity_type.is_empty() || entity_public_id.is_empty() {
            return None;
        }
        Some(ReferenceParts {
            entity_type,
            entity_public_id,
            uuid,
        })
    }
}

impl fmt::Display for LeadReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = "CY-Listing-A3bT7Y2xL6w-b24e6f80-17c9-4a8f-92b3-7e123d4bcf90";

    #[test]
    fn the_spec_example_has_the_documented_parts() {
        let reference = LeadReference::parse(EXAMPLE).expect("valid");
        let parts = reference.parts().expect("documented shape");
        assert_eq!(parts.entity_type, "Listing");
        assert_eq!(parts.entity_public_id, "A3bT7Y2xL6w");
        assert_eq!(
            parts.uuid.to_string(),
            "b24e6f80-17c9-4a8f-92b3-7e123d4bcf90"
        );
    }

    #[test]
    fn public_ids_may_contain_dashes() {
        let reference =
            LeadReference::parse("CY-BusinessForm-ab-cd-9-b24e6f80-17c9-4a8f-92b3-7e123d4bcf90")
                .expect("valid");
        let parts = reference.parts().expect("documented shape");
        assert_eq!(parts.entity_type, "BusinessForm");
        assert_eq!(parts.entity_public_id, "ab-cd-9");
    }

    #[test]
    fn other_shapes_are_usable_but_have_no_parts() {
        for value in [
            "12345",
            "CY-Listing-b24e6f80-17c9-4a8f-92b3-7e123d4bcf90",
            "CY-Listing-X-not-a-uuid-at-all-000000000000000000",
            "CY--X-b24e6f80-17c9-4a8f-92b3-7e123d4bcf90",
        ] {
            let reference = LeadReference::parse(value).expect("usable");
            assert_eq!(reference.parts(), None, "{value}");
        }
    }

    #[test]
    fn values_are_trimmed_and_bounded() {
        assert_eq!(
            LeadReference::parse("  abc \n").map(|r| r.as_str().to_owned()),
            Ok("abc".into())
        );
        assert_eq!(LeadReference::parse(" \t"), Err(LeadReferenceError::Empty));
        assert_eq!(
            LeadReference::parse(&"x".repeat(257)),
            Err(LeadReferenceError::TooLong)
        );
        assert!(LeadReference::parse(&"é".repeat(256)).is_ok());
        assert_eq!(
            LeadReference::parse("a\u{0}b"),
            Err(LeadReferenceError::ControlCharacters)
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(value in any::<String>()) {
            if let Ok(reference) = LeadReference::parse(&value) {
                let _ = reference.parts();
                prop_assert_eq!(LeadReference::parse(reference.as_str()), Ok(reference.clone()));
            }
        }

        #[test]
        fn documented_references_round_trip(
            entity in "[A-Za-z]{1,20}",
            public_id in "[A-Za-z0-9-]{1,30}",
            uuid in any::<u128>(),
        ) {
            let uuid = Uuid::from_u128(uuid);
            let text = format!("CY-{entity}-{public_id}-{uuid}");
            let reference = LeadReference::parse(&text).expect("valid");
            let parts = reference.parts().expect("documented shape");
            prop_assert_eq!(parts.entity_type, entity.as_str());
            prop_assert_eq!(parts.entity_public_id, public_id.as_str());
            prop_assert_eq!(parts.uuid, uuid);
        }
    }
}
