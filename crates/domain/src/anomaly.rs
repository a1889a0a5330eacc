//! Anomalies: what was odd about a lead that was nevertheless accepted.

use std::fmt;

/// The longest original value an anomaly keeps, in characters. The raw payload keeps
/// the full bytes; the anomaly only needs enough to be read by a person.
pub const MAX_ORIGINAL_CHARS: usize = 512;

/// A field of the CasaYes payload, by its wire name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LeadField {
    EntityType,
    EntityPublicId,
    EntityReference,
    LeadReference,
    Source,
    CreatedDate,
    Message,
    SenderName,
    SenderEmail,
    SenderPhone,
    NumberResidents,
    HasPets,
    EstimatedDateToMove,
    MonthlyIncome,
    PresentationLetter,
    /// A field the CasaYes documentation does not list.
    Other(String),
}

impl LeadField {
    /// The fifteen documented fields, in the documentation's order.
    pub const DOCUMENTED: [LeadField; 15] = [
        LeadField::EntityType,
        LeadField::EntityPublicId,
        LeadField::EntityReference,
        LeadField::LeadReference,
        LeadField::Source,
        LeadField::CreatedDate,
        LeadField::Message,
        LeadField::SenderName,
        LeadField::SenderEmail,
        LeadField::SenderPhone,
        LeadField::NumberResidents,
        LeadField::HasPets,
        LeadField::EstimatedDateToMove,
        LeadField::MonthlyIncome,
        LeadField::PresentationLetter,
    ];

    /// The PascalCase name CasaYes uses on the wire.
    pub fn wire_name(&self) -> &str {
        match self {
            LeadField::EntityType => "EntityType",
            LeadField::EntityPublicId => "EntityPublicId",
            LeadField::EntityReference => "EntityReference",
            LeadField::LeadReference => "LeadReference",
            LeadField::Source => "Source",
            LeadField::CreatedDate => "CreatedDate",
            LeadField::Message => "Message",
            LeadField::SenderName => "SenderName",
            LeadField::SenderEmail => "SenderEmail",
            LeadField::SenderPhone => "SenderPhone",
            LeadField::NumberResidents => "NumberResidents",
            LeadField::HasPets => "HasPets",
            LeadField::EstimatedDateToMove => "EstimatedDateToMove",
            LeadField::MonthlyIncome => "MonthlyIncome",
            LeadField::PresentationLetter => "PresentationLetter",
            LeadField::Other(name) => name,
        }
    }

    /// The field with this exact wire name, or [`LeadField::Other`].
    pub fn from_wire_name(name: &str) -> LeadField {
        Self::DOCUMENTED
            .iter()
            .find(|field| field.wire_name() == name)
            .cloned()
            .unwrap_or_else(|| LeadField::Other(name.to_owned()))
    }
}

impl fmt::Display for LeadField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

/// What kind of oddity a field showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnomalyKind {
    /// A documented field that CasaYes always sends was absent or `null`.
    Missing,
    /// The value had a JSON type that cannot mean anything for this field; the field is absent.
    WrongType,
    /// The value had another JSON type but was read anyway (`"2"` as `2`, `123` as `"123"`).
    Coerced,
    /// The value could not be read (a date that is no date, a word that is no timeline); the field is absent.
    Unparseable,
    /// The value was read but is not plausible (negative income, 0 residents); the field is absent.
    OutOfRange,
    /// A value outside the documented set, kept as sent (a new `EntityType`, a `Source` other than CasaYes).
    UnknownValue,
    /// A datetime without a zone, read as UTC.
    MissingTimeZone,
    /// The `LeadReference` names another entity type or public id than the payload does.
    Inconsistent,
    /// The `LeadReference` does not have the `CY-<EntityType>-<EntityPublicId>-<uuid>` shape.
    UnrecognisedFormat,
    /// The email is not a plausible address; kept as given.
    NotPlausible,
    /// The phone number could not be put in E.164 form; kept as given.
    NotNormalisable,
    /// A field the documentation does not list.
    UnknownField,
    /// The field appeared more than once in the object; the last value was used.
    DuplicateKey,
    /// The text held NUL characters (which databases cannot store in text); each was
    /// replaced by U+FFFD. The raw payload keeps the original.
    NulReplaced,
}

impl AnomalyKind {
    /// Every kind, for exhaustive round-trip tests and documentation.
    pub const ALL: [AnomalyKind; 14] = [
        AnomalyKind::Missing,
        AnomalyKind::WrongType,
        AnomalyKind::Coerced,
        AnomalyKind::Unparseable,
        AnomalyKind::OutOfRange,
        AnomalyKind::UnknownValue,
        AnomalyKind::MissingTimeZone,
        AnomalyKind::Inconsistent,
        AnomalyKind::UnrecognisedFormat,
        AnomalyKind::NotPlausible,
        AnomalyKind::NotNormalisable,
        AnomalyKind::UnknownField,
        AnomalyKind::DuplicateKey,
        AnomalyKind::NulReplaced,
    ];

    /// A stable snake_case code, used in storage and in the API.
    pub fn code(self) -> &'static str {
        match self {
            AnomalyKind::Missing => "missing",
            AnomalyKind::WrongType => "wrong_type",
            AnomalyKind::Coerced => "coerced",
            AnomalyKind::Unparseable => "unparseable",
            AnomalyKind::OutOfRange => "out_of_range",
            AnomalyKind::UnknownValue => "unknown_value",
            AnomalyKind::MissingTimeZone => "missing_time_zone",
            AnomalyKind::Inconsistent => "inconsistent",
            AnomalyKind::UnrecognisedFormat => "unrecognised_format",
            AnomalyKind::NotPlausible => "not_plausible",
            AnomalyKind::NotNormalisable => "not_normalisable",
            AnomalyKind::UnknownField => "unknown_field",
            AnomalyKind::DuplicateKey => "duplicate_key",
            AnomalyKind::NulReplaced => "nul_replaced",
        }
    }

    /// The kind with this code.
    pub fn from_code(code: &str) -> Option<AnomalyKind> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One oddity of an accepted lead: which field, what kind, and what was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    field: LeadField,
    kind: AnomalyKind,
    original: Option<String>,
}

impl Anomaly {
    /// An anomaly; `original` is cut to [`MAX_ORIGINAL_CHARS`] characters.
    pub fn new(field: LeadField, kind: AnomalyKind, original: Option<String>) -> Self {
        let original = original.map(|text| match text.char_indices().nth(MAX_ORIGINAL_CHARS) {
            Some((cut, _)) => text[..cut].to_owned(),
            None => text,
        });
        Anomaly {
            field,
            kind,
            original,
        }
    }

    pub fn field(&self) -> &LeadField {
        &self.field
    }

    pub fn kind(&self) -> AnomalyKind {
        self.kind
    }

    /// The value as sent (JSON text for non-strings), at most [`MAX_ORIGINAL_CHARS`] characters.
    pub fn original(&self) -> Option<&str> {
        self.original.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_codes() {
        for kind in AnomalyKind::ALL {
            assert_eq!(AnomalyKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(AnomalyKind::from_code("nope"), None);
    }

    #[test]
    fn fields_round_trip_through_their_wire_names() {
        for field in LeadField::DOCUMENTED {
            assert_eq!(LeadField::from_wire_name(field.wire_name()), field);
        }
        assert_eq!(
            LeadField::from_wire_name("Extra"),
            LeadField::Other("Extra".into())
        );
    }

    #[test]
    fn long_originals_are_cut_on_a_char_boundary() {
        let text = "é".repeat(MAX_ORIGINAL_CHARS + 10);
        let anomaly = Anomaly::new(LeadField::Message, AnomalyKind::WrongType, Some(text));
        assert_eq!(
            anomaly.original().map(|o| o.chars().count()),
            Some(MAX_ORIGINAL_CHARS)
        );
    }
}
