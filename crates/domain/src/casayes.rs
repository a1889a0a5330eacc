//! The CasaYes Leads Webhook payload, read into a [`LeadDetails`].
//!
//! The rule: an authenticated payload with a usable `LeadReference` is never refused
//! because of another field. Every other field is read as leniently as its meaning
//! allows, and what was odd about it is recorded as an [`Anomaly`]. Only a body that is
//! not a JSON object, or has no usable `LeadReference`, is a [`Rejection`].

use serde_json::{Map, Value};

use crate::{
    Anomaly, AnomalyKind, EntityType, LeadDetails, LeadField, LeadReference, MoveTimeline, Profile,
    Rejection, RejectionKind, Sender, SenderEmail, SenderPhone, lead::Redacted,
    time::parse_timestamp,
};

/// The example from the CasaYes documentation, verbatim.
pub const SPEC_EXAMPLE: &str = r#"{
    "CreatedDate": "2024-08-09T15:05:44.6131515Z",
    "EntityPublicId": "A3bT7Y2xL6w",
    "EntityReference": "857632194-6",
    "EntityType": "Listing",
    "EstimatedDateToMove": "2024-12-09T15:05:44.6131515Z",
    "HasPets": false,
    "LeadReference": "CY-Listing-A3bT7Y2xL6w-b24e6f80-17c9-4a8f-92b3-7e123d4bcf90",
    "Message": "Hi, I’m interested in this listing and would like to schedule a viewing. Please contact me. Thanks",
    "MonthlyIncome": 2000,
    "NumberResidents": 2,
    "PresentationLetter": "",
    "SenderEmail": "[email protected]",
    "SenderName": "John Smith",
    "SenderPhone": "919111222",
    "Source": "CasaYes"
}"#;

/// The most unknown fields listed as anomalies on one lead.
pub const MAX_UNKNOWN_FIELD_ANOMALIES: usize = 50;

/// The most residents a lead can plausibly announce.
pub const MAX_RESIDENTS: i64 = 50;

/// Reads a payload. `Err` only when the body cannot be a lead at all.
pub fn parse_payload(raw: &[u8]) -> Result<LeadDetails, Rejection> {
    let top: TopLevel = serde_json::from_slice(raw).map_err(|error| {
        Rejection::new(
            RejectionKind::NotJson,
            format!("the body is not valid JSON ({error})"),
        )
    })?;
    let (object, duplicates) = match top {
        TopLevel::Object { object, duplicates } => (object, duplicates),
        TopLevel::Other(kind) => {
            return Err(Rejection::new(
                RejectionKind::NotAnObject,
                format!("the body is JSON {kind}, not an object"),
            ));
        }
    };
    if duplicates.iter().any(|(key, _)| key == "LeadReference") {
        return Err(Rejection::new(
            RejectionKind::LeadReferenceInvalid,
            "LeadReference is not usable: it appears more than once with different values",
        ));
    }
    let mut reader = PayloadReader::new(&object);
    for (key, value) in duplicates {
        reader.flag_value(
            LeadField::from_wire_name(&key),
            AnomalyKind::DuplicateKey,
            &value,
        );
    }
    reader.read()
}

/// The top level of a body: an object (keeping track of keys that appear more than
/// once with different values, which `serde_json::Map` would silently overwrite), or
/// the kind of whatever else it is.
enum TopLevel {
    Object {
        object: Map<String, Value>,
        /// Each repeated key with a value it overwrote.
        duplicates: Vec<(String, Value)>,
    },
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for TopLevel {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TopLevel;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TopLevel, A::Error> {
                let mut object = Map::new();
                let mut duplicates = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if let Some(previous) = object.insert(key.clone(), value)
                        && object.get(&key) != Some(&previous)
                    {
                        duplicates.push((key, previous));
                    }
                }
                Ok(TopLevel::Object { object, duplicates })
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<TopLevel, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(TopLevel::Other("an array"))
            }

            fn visit_str<E>(self, _: &str) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("a string"))
            }

            fn visit_bool<E>(self, _: bool) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("a boolean"))
            }

            fn visit_i64<E>(self, _: i64) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("a number"))
            }

            fn visit_u64<E>(self, _: u64) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("a number"))
            }

            fn visit_f64<E>(self, _: f64) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("a number"))
            }

            fn visit_unit<E>(self) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("null"))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value as a person would read it: strings as they are, the rest as JSON.
fn original_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

struct PayloadReader<'a> {
    object: &'a Map<String, Value>,
    anomalies: Vec<Anomaly>,
}

impl<'a> PayloadReader<'a> {
    fn new(object: &'a Map<String, Value>) -> Self {
        PayloadReader {
            object,
            anomalies: Vec::new(),
        }
    }

    fn read(mut self) -> Result<LeadDetails, Rejection> {
        let reference = self.reference()?;
        let entity_type = match self
            .text(LeadField::EntityType, true)
            .and_then(|text| EntityType::parse(&text))
        {
            Some(EntityType::Unknown(value))
                if value.chars().count() > crate::MAX_ENTITY_TYPE_CHARS =>
            {
                self.flag(LeadField::EntityType, AnomalyKind::OutOfRange, Some(value));
                None
            }
            other => other,
        };
        if let Some(EntityType::Unknown(value)) = &entity_type {
            self.flag(
                LeadField::EntityType,
                AnomalyKind::UnknownValue,
                Some(value.clone()),
            );
        }
        let entity_public_id = self.trimmed_text(LeadField::EntityPublicId, true);
        let entity_reference = self.trimmed_text(LeadField::EntityReference, true);
        let source = self.trimmed_text(LeadField::Source, true);
        if let Some(source) = source
            .as_deref()
            .filter(|s| !s.eq_ignore_ascii_case("CasaYes"))
        {
            self.flag(
                LeadField::Source,
                AnomalyKind::UnknownValue,
                Some(source.to_owned()),
            );
        }
        let created_date = self.datetime(LeadField::CreatedDate);
        let message = self.text(LeadField::Message, true).map(Redacted::new);
        let sender = self.sender();
        let profile = self.profile();
        self.check_reference(
            &reference,
            entity_type.as_ref(),
            entity_public_id.as_deref(),
        );
        self.flag_unknown_fields();
        Ok(LeadDetails {
            reference,
            entity_type,
            entity_public_id,
            entity_reference,
            source,
            created_date,
            message,
            sender,
            profile,
            anomalies: self.anomalies,
        })
    }

    fn flag(&mut self, field: LeadField, kind: AnomalyKind, original: Option<String>) {
        self.anomalies.push(Anomaly::new(field, kind, original));
    }

    fn flag_value(&mut self, field: LeadField, kind: AnomalyKind, value: &Value) {
        self.flag(field, kind, Some(original_text(value)));
    }

    /// The value of a field, `None` when absent or `null` (and an anomaly when the
    /// field is one CasaYes always sends).
    fn value(&mut self, field: &LeadField, required: bool) -> Option<&'a Value> {
        match self.object.get(field.wire_name()) {
            None | Some(Value::Null) => {
                if required {
                    self.flag(field.clone(), AnomalyKind::Missing, None);
                }
                None
            }
            Some(value) => Some(value),
        }
    }

    fn reference(&mut self) -> Result<LeadReference, Rejection> {
        let invalid = |why: String| {
            Rejection::new(
                RejectionKind::LeadReferenceInvalid,
                format!("LeadReference is not usable: {why}"),
            )
        };
        let text = match self.object.get("LeadReference") {
            None | Some(Value::Null) => {
                return Err(Rejection::new(
                    RejectionKind::LeadReferenceMissing,
                    "the body has no LeadReference",
                ));
            }
            Some(Value::String(text)) => text.clone(),
            Some(value @ Value::Number(number)) if number.is_i64() || number.is_u64() => {
                self.flag_value(LeadField::LeadReference, AnomalyKind::Coerced, value);
                number.to_string()
            }
            Some(value) => {
                return Err(invalid(format!("it is {}, not a string", json_kind(value))));
            }
        };
        LeadReference::parse(&text).map_err(|error| invalid(error.to_string()))
    }

    /// A text field as sent. Numbers and booleans are read as their text (coerced);
    /// arrays and objects cannot be text. An empty string means "not given".
    fn text(&mut self, field: LeadField, required: bool) -> Option<String> {
        let value = self.value(&field, required)?;
        match value {
            Value::String(text) if text.is_empty() => None,
            Value::String(text) if text.contains('\0') => {
                self.flag_value(field, AnomalyKind::NulReplaced, value);
                Some(text.replace('\0', "\u{FFFD}"))
            }
            Value::String(text) => Some(text.clone()),
            Value::Number(_) | Value::Bool(_) => {
                self.flag_value(field, AnomalyKind::Coerced, value);
                Some(value.to_string())
            }
            Value::Array(_) | Value::Object(_) | Value::Null => {
                self.flag_value(field, AnomalyKind::WrongType, value);
                None
            }
        }
    }

    /// An identifier: text, trimmed; blank means "not given".
    fn trimmed_text(&mut self, field: LeadField, required: bool) -> Option<String> {
        self.text(field, required)
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    }

    fn datetime(&mut self, field: LeadField) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        let value = self.value(&field, true)?;
        let Value::String(text) = value else {
            self.flag_value(field, AnomalyKind::WrongType, value);
            return None;
        };
        match parse_timestamp(text) {
            Ok(parsed) => {
                if parsed.zone_assumed {
                    self.flag_value(field, AnomalyKind::MissingTimeZone, value);
                }
                Some(parsed.value)
            }
            Err(_) => {
                self.flag_value(field, AnomalyKind::Unparseable, value);
                None
            }
        }
    }

    fn sender(&mut self) -> Sender {
        let name = self.text(LeadField::SenderName, true);
        let email = self
            .text(LeadField::SenderEmail, true)
            .and_then(|text| SenderEmail::parse(&text));
        if let Some(email) = email.as_ref().filter(|email| !email.is_plausible()) {
            self.flag(
                LeadField::SenderEmail,
                AnomalyKind::NotPlausible,
                Some(email.given().to_owned()),
            );
        }
        let phone = self
            .text(LeadField::SenderPhone, true)
            .and_then(|text| SenderPhone::parse(&text));
        if let Some(phone) = phone.as_ref().filter(|phone| phone.e164().is_none()) {
            self.flag(
                LeadField::SenderPhone,
                AnomalyKind::NotNormalisable,
                Some(phone.given().to_owned()),
            );
        }
        Sender { name, email, phone }
    }

    fn profile(&mut self) -> Profile {
        let number_residents = self
            .integer(LeadField::NumberResidents, |n| {
                (1..=MAX_RESIDENTS).contains(&n)
            })
            .and_then(|n| u8::try_from(n).ok());
        let has_pets = self.boolean(LeadField::HasPets);
        let move_timeline = self.timeline();
        let monthly_income = self.integer(LeadField::MonthlyIncome, |n| n >= 0);
        let presentation_letter = self.text(LeadField::PresentationLetter, false);
        Profile {
            number_residents,
            has_pets,
            move_timeline,
            monthly_income,
            presentation_letter,
        }
    }

    /// A whole number: a JSON integer, a float with no fraction, or a string holding
    /// one (coerced). Out of `plausible`: an anomaly, and absent.
    fn integer(&mut self, field: LeadField, plausible: impl Fn(i64) -> bool) -> Option<i64> {
        let value = self.value(&field, false)?;
        let number = match value {
            Value::Number(number) => match number.as_i64() {
                Some(n) => n,
                None => match number.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => f as i64,
                    Some(f) if f.fract() != 0.0 => {
                        self.flag_value(field, AnomalyKind::WrongType, value);
                        return None;
                    }
                    _ => {
                        self.flag_value(field, AnomalyKind::OutOfRange, value);
                        return None;
                    }
                },
            },
            Value::String(text) if text.trim().is_empty() => return None,
            Value::String(text) => match text.trim().parse::<i64>() {
                Ok(n) => {
                    self.flag_value(field.clone(), AnomalyKind::Coerced, value);
                    n
                }
                Err(_) => {
                    self.flag_value(field, AnomalyKind::Unparseable, value);
                    return None;
                }
            },
            Value::Bool(_) | Value::Array(_) | Value::Object(_) | Value::Null => {
                self.flag_value(field, AnomalyKind::WrongType, value);
                return None;
            }
        };
        if plausible(number) {
            Some(number)
        } else {
            self.flag_value(field, AnomalyKind::OutOfRange, value);
            None
        }
    }

    fn boolean(&mut self, field: LeadField) -> Option<bool> {
        let value = self.value(&field, false)?;
        let coerced = match value {
            Value::Bool(flag) => return Some(*flag),
            Value::String(text) if text.trim().is_empty() => return None,
            Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Some(true),
                "false" | "no" | "0" => Some(false),
                _ => None,
            },
            Value::Number(number) => match number.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            Value::Array(_) | Value::Object(_) | Value::Null => None,
        };
        match coerced {
            Some(flag) => {
                self.flag_value(field, AnomalyKind::Coerced, value);
                Some(flag)
            }
            None => {
                self.flag_value(field, AnomalyKind::WrongType, value);
                None
            }
        }
    }

    fn timeline(&mut self) -> Option<MoveTimeline> {
        let field = LeadField::EstimatedDateToMove;
        let value = self.value(&field, false)?;
        let Value::String(text) = value else {
            self.flag_value(field, AnomalyKind::WrongType, value);
            return None;
        };
        if text.trim().is_empty() {
            return None;
        }
        match MoveTimeline::parse(text) {
            Some(parsed) => {
                if parsed.zone_assumed {
                    self.flag_value(field, AnomalyKind::MissingTimeZone, value);
                }
                Some(parsed.timeline)
            }
            None => {
                self.flag_value(field, AnomalyKind::Unparseable, value);
                None
            }
        }
    }

    /// The reference should name the payload's entity; a disagreement is flagged.
    fn check_reference(
        &mut self,
        reference: &LeadReference,
        entity_type: Option<&EntityType>,
        entity_public_id: Option<&str>,
    ) {
        let original = Some(reference.as_str().to_owned());
        let Some(parts) = reference.parts() else {
            self.flag(
                LeadField::LeadReference,
                AnomalyKind::UnrecognisedFormat,
                original,
            );
            return;
        };
        let type_differs = entity_type.is_some_and(|entity_type| {
            !parts.entity_type.eq_ignore_ascii_case(entity_type.as_str())
        });
        let id_differs = entity_public_id.is_some_and(|id| parts.entity_public_id != id);
        if type_differs || id_differs {
            self.flag(
                LeadField::LeadReference,
                AnomalyKind::Inconsistent,
                original,
            );
        }
    }

    /// Flags fields the documentation does not list: the first
    /// [`MAX_UNKNOWN_FIELD_ANOMALIES`], so that a body of thousands of keys cannot
    /// make the anomaly list larger than the body (all of it is in the raw payload).
    fn flag_unknown_fields(&mut self) {
        let object = self.object;
        let unknown = object
            .iter()
            .filter_map(|(name, value)| match LeadField::from_wire_name(name) {
                LeadField::Other(name) => Some((name, value)),
                _ => None,
            })
            .take(MAX_UNKNOWN_FIELD_ANOMALIES);
        for (name, value) in unknown {
            self.flag_value(LeadField::Other(name), AnomalyKind::UnknownField, value);
        }
    }
}

#[cfg(test)]
mod tests;
