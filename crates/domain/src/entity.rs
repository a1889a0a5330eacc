//! The kind of CasaYes entity a lead is about.

use std::fmt;

/// `EntityType`: the five documented values, or one CasaYes added later.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntityType {
    Listing,
    Office,
    BusinessForm,
    User,
    EvaluationForm,
    /// A value the documentation does not list, kept exactly as sent (trimmed).
    Unknown(String),
}

/// The longest entity type a lead keeps, in characters. The documented ones have at
/// most 14; a longer value is no entity type (it is flagged as out of range, and the
/// raw payload keeps it), and the bound lets MySQL/MariaDB index the column whole.
pub const MAX_ENTITY_TYPE_CHARS: usize = 64;

impl EntityType {
    const KNOWN: [EntityType; 5] = [
        EntityType::Listing,
        EntityType::Office,
        EntityType::BusinessForm,
        EntityType::User,
        EntityType::EvaluationForm,
    ];

    /// Reads a value case-insensitively (`listing`, `LISTING` and `Listing` are the
    /// same); anything else is kept as [`EntityType::Unknown`]. Returns `None` for an
    /// empty or blank value.
    pub fn parse(value: &str) -> Option<EntityType> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        Some(
            Self::KNOWN
                .into_iter()
                .find(|known| known.as_str().eq_ignore_ascii_case(value))
                .unwrap_or_else(|| EntityType::Unknown(value.to_owned())),
        )
    }

    /// The documented spelling, or the unknown value as sent.
    pub fn as_str(&self) -> &str {
        match self {
            EntityType::Listing => "Listing",
            EntityType::Office => "Office",
            EntityType::BusinessForm => "BusinessForm",
            EntityType::User => "User",
            EntityType::EvaluationForm => "EvaluationForm",
            EntityType::Unknown(value) => value,
        }
    }

    pub fn is_known(&self) -> bool {
        !matches!(self, EntityType::Unknown(_))
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn documented_values_are_read_in_any_case() {
        assert_eq!(EntityType::parse("Listing"), Some(EntityType::Listing));
        assert_eq!(EntityType::parse(" listing "), Some(EntityType::Listing));
        assert_eq!(
            EntityType::parse("BUSINESSFORM"),
            Some(EntityType::BusinessForm)
        );
        assert_eq!(
            EntityType::parse("evaluationForm"),
            Some(EntityType::EvaluationForm)
        );
        assert_eq!(EntityType::parse("office"), Some(EntityType::Office));
        assert_eq!(EntityType::parse("user"), Some(EntityType::User));
    }

    #[test]
    fn a_new_value_is_kept_not_lost() {
        let parsed = EntityType::parse("Development");
        assert_eq!(parsed, Some(EntityType::Unknown("Development".into())));
        assert!(!parsed.as_ref().is_some_and(EntityType::is_known));
        assert_eq!(EntityType::parse("  "), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(value in any::<String>()) {
            if let Some(parsed) = EntityType::parse(&value) {
                prop_assert_eq!(EntityType::parse(parsed.as_str()), Some(parsed.clone()));
            }
        }
    }
}
