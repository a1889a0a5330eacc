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
mod tests {
    use super::*;
    use proptest::{prelude::*, test_runner::TestCaseError};
    use serde_json::json;

    use crate::strategies::casayes_payload;

    fn example() -> Map<String, Value> {
        match serde_json::from_str(SPEC_EXAMPLE) {
            Ok(Value::Object(object)) => object,
            _ => unreachable!("the example is an object"),
        }
    }

    fn with(changes: Value) -> Vec<u8> {
        let mut object = example();
        if let Value::Object(changes) = changes {
            for (key, value) in changes {
                if value == json!("<remove>") {
                    object.remove(&key);
                } else {
                    object.insert(key, value);
                }
            }
        }
        serde_json::to_vec(&Value::Object(object)).expect("serialisable")
    }

    fn anomalies(details: &LeadDetails) -> Vec<(String, AnomalyKind)> {
        details
            .anomalies
            .iter()
            .map(|a| (a.field().wire_name().to_owned(), a.kind()))
            .collect()
    }

    #[test]
    fn the_spec_example_reads_without_anomalies_except_its_email() {
        let details = parse_payload(SPEC_EXAMPLE.as_bytes()).expect("a lead");
        assert_eq!(
            details.reference.as_str(),
            "CY-Listing-A3bT7Y2xL6w-b24e6f80-17c9-4a8f-92b3-7e123d4bcf90"
        );
        assert_eq!(details.entity_type, Some(EntityType::Listing));
        assert_eq!(details.entity_public_id.as_deref(), Some("A3bT7Y2xL6w"));
        assert_eq!(details.entity_reference.as_deref(), Some("857632194-6"));
        assert_eq!(details.source.as_deref(), Some("CasaYes"));
        assert_eq!(
            details.created_date.map(|d| d.to_rfc3339()),
            Some("2024-08-09T15:05:44.613151500+00:00".into())
        );
        assert!(
            details
                .message
                .as_ref()
                .is_some_and(|m| m.as_str().starts_with("Hi, I’m"))
        );
        assert_eq!(details.sender.name.as_deref(), Some("John Smith"));
        assert_eq!(
            details.sender.phone.as_ref().and_then(SenderPhone::e164),
            Some("+351919111222")
        );
        assert_eq!(details.profile.number_residents, Some(2));
        assert_eq!(details.profile.has_pets, Some(false));
        assert_eq!(details.profile.monthly_income, Some(2000));
        assert_eq!(details.profile.presentation_letter, None);
        assert_eq!(
            details
                .profile
                .move_timeline
                .and_then(|t| t.date())
                .map(|d| d.to_rfc3339()),
            Some("2024-12-09T15:05:44.613151500+00:00".into())
        );
        // The published example's email is an obfuscated placeholder.
        assert_eq!(
            anomalies(&details),
            vec![("SenderEmail".into(), AnomalyKind::NotPlausible)]
        );
    }

    #[test]
    fn bodies_that_cannot_be_leads_are_rejected_with_their_reason() {
        let cases: [(&[u8], RejectionKind); 9] = [
            (b"", RejectionKind::NotJson),
            (b"not json", RejectionKind::NotJson),
            (b"\xff\xfe{}", RejectionKind::NotJson),
            (b"[1,2]", RejectionKind::NotAnObject),
            (b"\"CY-x\"", RejectionKind::NotAnObject),
            (b"{}", RejectionKind::LeadReferenceMissing),
            (
                br#"{"LeadReference": null}"#,
                RejectionKind::LeadReferenceMissing,
            ),
            (
                br#"{"LeadReference": "  "}"#,
                RejectionKind::LeadReferenceInvalid,
            ),
            (
                br#"{"LeadReference": {"a": 1}}"#,
                RejectionKind::LeadReferenceInvalid,
            ),
        ];
        for (body, kind) in cases {
            let rejection = parse_payload(body).expect_err("not a lead");
            assert_eq!(rejection.kind, kind, "{}", String::from_utf8_lossy(body));
            assert!(!rejection.message.is_empty());
        }
    }

    #[test]
    fn duplicated_keys_are_flagged_and_an_ambiguous_reference_is_refused() {
        let details = parse_payload(
            br#"{"LeadReference":"dup-1","SenderName":"First","SenderName":"Second","Source":"CasaYes","Source":"CasaYes"}"#,
        )
        .expect("a lead");
        assert_eq!(
            details.sender.name.as_deref(),
            Some("Second"),
            "the last value wins"
        );
        let duplicates: Vec<_> = details
            .anomalies
            .iter()
            .filter(|a| a.kind() == AnomalyKind::DuplicateKey)
            .map(|a| {
                (
                    a.field().wire_name().to_owned(),
                    a.original().map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(
            duplicates,
            [("SenderName".to_owned(), Some("First".to_owned()))],
            "identical repeats are not odd"
        );
        let rejection =
            parse_payload(br#"{"LeadReference":"a","LeadReference":"b"}"#).expect_err("ambiguous");
        assert_eq!(rejection.kind, RejectionKind::LeadReferenceInvalid);
        assert!(parse_payload(br#"{"LeadReference":"a","LeadReference":"a"}"#).is_ok());
    }

    #[test]
    fn nul_characters_are_replaced_in_text_and_flagged() {
        let details = parse_payload(&with(
            json!({"Message": "a\u{0}b", "EntityType": "List\u{0}ing"}),
        ))
        .expect("a lead");
        assert_eq!(
            details.message.as_ref().map(|m| m.as_str()),
            Some("a\u{FFFD}b")
        );
        assert_eq!(
            details.entity_type,
            Some(EntityType::Unknown("List\u{FFFD}ing".into()))
        );
        assert!(anomalies(&details).contains(&("Message".into(), AnomalyKind::NulReplaced)));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        // A deep array is skipped without recursion: it is simply not an object.
        let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            parse_payload(body.as_bytes()).map_err(|r| r.kind),
            Err(RejectionKind::NotAnObject)
        );
        let nested = format!(
            r#"{{"LeadReference":"r","Message":{}1{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(
            parse_payload(nested.as_bytes()).map_err(|r| r.kind),
            Err(RejectionKind::NotJson)
        );
    }

    #[test]
    fn only_the_reference_is_needed() {
        let details = parse_payload(br#"{"LeadReference": "abc"}"#).expect("a lead");
        assert_eq!(details.reference.as_str(), "abc");
        let kinds = anomalies(&details);
        for field in [
            "EntityType",
            "EntityPublicId",
            "Source",
            "CreatedDate",
            "SenderName",
            "SenderPhone",
        ] {
            assert!(
                kinds.contains(&(field.into(), AnomalyKind::Missing)),
                "{field}"
            );
        }
        assert!(kinds.contains(&("LeadReference".into(), AnomalyKind::UnrecognisedFormat)));
        assert!(
            !kinds
                .iter()
                .any(|(f, _)| f == "MonthlyIncome" || f == "HasPets")
        );
    }

    #[test]
    fn profile_fields_may_be_absent_null_or_empty() {
        for missing in [json!("<remove>"), Value::Null, json!("")] {
            let body = with(json!({
                "NumberResidents": missing, "HasPets": missing, "EstimatedDateToMove": missing,
                "MonthlyIncome": missing, "PresentationLetter": missing,
            }));
            let details = parse_payload(&body).expect("a lead");
            assert_eq!(details.profile, Profile::default(), "{missing}");
            assert_eq!(
                anomalies(&details),
                vec![("SenderEmail".into(), AnomalyKind::NotPlausible)]
            );
        }
    }

    #[test]
    fn numbers_sent_as_strings_are_read() {
        let details = parse_payload(&with(json!({
            "NumberResidents": "2", "MonthlyIncome": " 1500 ", "HasPets": "true"
        })))
        .expect("a lead");
        assert_eq!(details.profile.number_residents, Some(2));
        assert_eq!(details.profile.monthly_income, Some(1500));
        assert_eq!(details.profile.has_pets, Some(true));
        let kinds = anomalies(&details);
        assert!(kinds.contains(&("NumberResidents".into(), AnomalyKind::Coerced)));
        assert!(kinds.contains(&("MonthlyIncome".into(), AnomalyKind::Coerced)));
    }

    #[test]
    fn implausible_or_mistyped_profile_values_become_anomalies() {
        let details = parse_payload(&with(json!({
            "NumberResidents": 0, "MonthlyIncome": -5, "HasPets": [true],
            "EstimatedDateToMove": "whenever", "PresentationLetter": {"a": 1}
        })))
        .expect("a lead, still");
        assert_eq!(details.profile, Profile::default());
        let kinds = anomalies(&details);
        for expected in [
            ("NumberResidents", AnomalyKind::OutOfRange),
            ("MonthlyIncome", AnomalyKind::OutOfRange),
            ("HasPets", AnomalyKind::WrongType),
            ("EstimatedDateToMove", AnomalyKind::Unparseable),
            ("PresentationLetter", AnomalyKind::WrongType),
        ] {
            assert!(
                kinds.contains(&(expected.0.into(), expected.1)),
                "{expected:?} in {kinds:?}"
            );
        }
        let whenever = details
            .anomalies
            .iter()
            .find(|a| a.field() == &LeadField::EstimatedDateToMove)
            .and_then(Anomaly::original);
        assert_eq!(whenever, Some("whenever"));
        let residents = parse_payload(&with(json!({"NumberResidents": 51}))).expect("a lead");
        assert_eq!(residents.profile.number_residents, None);
        let huge = parse_payload(&with(json!({"MonthlyIncome": 1e300}))).expect("a lead");
        assert_eq!(huge.profile.monthly_income, None);
        let beyond_i64 = parse_payload(&with(json!({"MonthlyIncome": u64::MAX}))).expect("a lead");
        assert_eq!(beyond_i64.profile.monthly_income, None);
    }

    #[test]
    fn timeline_words_and_datetimes_are_read() {
        for (sent, expected) in [
            ("Soon", MoveTimeline::Soon),
            ("Flexible", MoveTimeline::Flexible),
            ("ExactDate", MoveTimeline::ExactDate(None)),
        ] {
            let details =
                parse_payload(&with(json!({"EstimatedDateToMove": sent}))).expect("a lead");
            assert_eq!(details.profile.move_timeline, Some(expected));
        }
    }

    #[test]
    fn created_date_quirks() {
        let offset = parse_payload(&with(
            json!({"CreatedDate": "2024-08-09T16:05:44.6131515+01:00"}),
        ))
        .expect("a lead");
        assert_eq!(
            offset.created_date.map(|d| d.to_rfc3339()),
            Some("2024-08-09T16:05:44.613151500+01:00".into())
        );
        let no_zone = parse_payload(&with(json!({"CreatedDate": "2024-08-09T15:05:44.6131515"})))
            .expect("a lead");
        assert_eq!(
            no_zone.created_date.map(|d| d.to_rfc3339()),
            Some("2024-08-09T15:05:44.613151500+00:00".into())
        );
        assert!(
            anomalies(&no_zone).contains(&("CreatedDate".into(), AnomalyKind::MissingTimeZone))
        );
        let garbage = parse_payload(&with(json!({"CreatedDate": "last tuesday"}))).expect("a lead");
        assert_eq!(garbage.created_date, None);
        assert!(anomalies(&garbage).contains(&("CreatedDate".into(), AnomalyKind::Unparseable)));
    }

    #[test]
    fn a_new_entity_type_is_kept_and_flagged() {
        let details = parse_payload(&with(json!({
            "EntityType": "Development",
            "LeadReference": "CY-Development-A3bT7Y2xL6w-b24e6f80-17c9-4a8f-92b3-7e123d4bcf90"
        })))
        .expect("a lead");
        assert_eq!(
            details.entity_type,
            Some(EntityType::Unknown("Development".into()))
        );
        assert_eq!(
            anomalies(&details),
            vec![
                ("EntityType".into(), AnomalyKind::UnknownValue),
                ("SenderEmail".into(), AnomalyKind::NotPlausible)
            ]
        );
    }

    #[test]
    fn an_entity_type_longer_than_64_characters_is_out_of_range_and_dropped() {
        let at_most = "É".repeat(crate::MAX_ENTITY_TYPE_CHARS);
        let kept = parse_payload(&with(json!({"EntityType": at_most}))).expect("a lead");
        assert_eq!(kept.entity_type, Some(EntityType::Unknown(at_most.clone())));
        let too_long = format!("{at_most}x");
        let details = parse_payload(&with(json!({"EntityType": too_long}))).expect("a lead");
        assert_eq!(details.entity_type, None);
        let flagged: Vec<_> = details
            .anomalies
            .iter()
            .filter(|anomaly| *anomaly.field() == LeadField::EntityType)
            .map(|anomaly| (anomaly.kind(), anomaly.original().map(str::to_owned)))
            .collect();
        assert_eq!(flagged, [(AnomalyKind::OutOfRange, Some(too_long))]);
    }

    #[test]
    fn a_reference_that_disagrees_with_the_entity_is_flagged_not_dropped() {
        let details = parse_payload(&with(json!({"EntityPublicId": "Other1"}))).expect("a lead");
        assert!(anomalies(&details).contains(&("LeadReference".into(), AnomalyKind::Inconsistent)));
        let details = parse_payload(&with(json!({"EntityType": "Office"}))).expect("a lead");
        assert!(anomalies(&details).contains(&("LeadReference".into(), AnomalyKind::Inconsistent)));
    }

    #[test]
    fn foreign_phones_and_odd_values_are_kept() {
        let details = parse_payload(&with(json!({
            "SenderPhone": "+44 20 7946 0958", "SenderEmail": "Maria@Example.PT",
            "Source": "Imovirtual", "EntityReference": 857632194, "Extra": {"x": 1}
        })))
        .expect("a lead");
        assert_eq!(
            details.sender.phone.as_ref().and_then(SenderPhone::e164),
            Some("+442079460958")
        );
        assert_eq!(
            details
                .sender
                .email
                .as_ref()
                .and_then(SenderEmail::normalised),
            Some("maria@example.pt")
        );
        assert_eq!(details.entity_reference.as_deref(), Some("857632194"));
        assert_eq!(details.source.as_deref(), Some("Imovirtual"));
        let kinds = anomalies(&details);
        assert!(kinds.contains(&("Source".into(), AnomalyKind::UnknownValue)));
        assert!(kinds.contains(&("EntityReference".into(), AnomalyKind::Coerced)));
        assert!(kinds.contains(&("Extra".into(), AnomalyKind::UnknownField)));
        let unreadable = parse_payload(&with(json!({"SenderPhone": "ring me"}))).expect("a lead");
        assert_eq!(
            unreadable.sender.phone.as_ref().map(SenderPhone::given),
            Some("ring me")
        );
        assert!(
            anomalies(&unreadable).contains(&("SenderPhone".into(), AnomalyKind::NotNormalisable))
        );
    }

    #[test]
    fn huge_bodies_with_thousands_of_keys_stay_bounded() {
        let mut object = example();
        for n in 0..100_000 {
            object.insert(format!("Extra{n}"), json!("x".repeat(10)));
        }
        let body = serde_json::to_vec(&Value::Object(object)).expect("serialisable");
        assert!(body.len() > 2_000_000);
        let details = parse_payload(&body).expect("a lead");
        let unknown = details
            .anomalies
            .iter()
            .filter(|a| a.kind() == AnomalyKind::UnknownField)
            .count();
        assert_eq!(unknown, MAX_UNKNOWN_FIELD_ANOMALIES);
    }

    #[test]
    fn untrusted_text_is_kept_verbatim() {
        let text = "<script>alert(1)</script> مرحبا 👋🏽 \u{202e}\t\u{7}";
        let details = parse_payload(&with(json!({"Message": text, "PresentationLetter": text})))
            .expect("a lead");
        assert_eq!(details.message.as_ref().map(|m| m.as_str()), Some(text));
        assert_eq!(details.profile.presentation_letter.as_deref(), Some(text));
    }

    /// What the parser must make of a text field: the text, and the anomalies on it.
    fn expected_text(value: Option<&Value>, required: bool) -> (Option<String>, Vec<AnomalyKind>) {
        match value {
            None | Some(Value::Null) if required => (None, vec![AnomalyKind::Missing]),
            None | Some(Value::Null) => (None, vec![]),
            Some(Value::String(text)) if text.is_empty() => (None, vec![]),
            Some(Value::String(text)) if text.contains('\0') => (
                Some(text.replace('\0', "\u{FFFD}")),
                vec![AnomalyKind::NulReplaced],
            ),
            Some(Value::String(text)) => (Some(text.clone()), vec![]),
            Some(value @ (Value::Number(_) | Value::Bool(_))) => {
                (Some(value.to_string()), vec![AnomalyKind::Coerced])
            }
            Some(Value::Array(_) | Value::Object(_)) => (None, vec![AnomalyKind::WrongType]),
        }
    }

    /// An identifier: the text, trimmed, blank meaning "not given".
    fn expected_trimmed(value: Option<&Value>) -> (Option<String>, Vec<AnomalyKind>) {
        let (text, kinds) = expected_text(value, true);
        let text = text
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty());
        (text, kinds)
    }

    /// A whole number within `plausible`, read from a number or a string holding one.
    fn expected_integer(
        value: Option<&Value>,
        plausible: impl Fn(i64) -> bool,
    ) -> (Option<i64>, Vec<AnomalyKind>) {
        let (number, mut kinds) = match value {
            None | Some(Value::Null) => return (None, vec![]),
            Some(Value::Number(number)) => match (number.as_i64(), number.as_f64()) {
                (Some(n), _) => (n, vec![]),
                (None, Some(f)) if f.fract() != 0.0 => return (None, vec![AnomalyKind::WrongType]),
                (None, Some(f)) if f.abs() < 9.0e15 => (f as i64, vec![]),
                (None, _) => return (None, vec![AnomalyKind::OutOfRange]),
            },
            Some(Value::String(text)) if text.trim().is_empty() => return (None, vec![]),
            Some(Value::String(text)) => match text.trim().parse::<i64>() {
                Ok(n) => (n, vec![AnomalyKind::Coerced]),
                Err(_) => return (None, vec![AnomalyKind::Unparseable]),
            },
            Some(Value::Bool(_) | Value::Array(_) | Value::Object(_)) => {
                return (None, vec![AnomalyKind::WrongType]);
            }
        };
        if plausible(number) {
            (Some(number), kinds)
        } else {
            kinds.push(AnomalyKind::OutOfRange);
            (None, kinds)
        }
    }

    fn expected_boolean(value: Option<&Value>) -> (Option<bool>, Vec<AnomalyKind>) {
        let coerced = match value {
            None | Some(Value::Null) => return (None, vec![]),
            Some(Value::Bool(flag)) => return (Some(*flag), vec![]),
            Some(Value::String(text)) if text.trim().is_empty() => return (None, vec![]),
            Some(Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Some(true),
                "false" | "no" | "0" => Some(false),
                _ => None,
            },
            Some(Value::Number(number)) => match number.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            Some(Value::Array(_) | Value::Object(_)) => None,
        };
        match coerced {
            Some(flag) => (Some(flag), vec![AnomalyKind::Coerced]),
            None => (None, vec![AnomalyKind::WrongType]),
        }
    }

    fn expected_datetime(
        value: Option<&Value>,
    ) -> (
        Option<chrono::DateTime<chrono::FixedOffset>>,
        Vec<AnomalyKind>,
    ) {
        match value {
            None | Some(Value::Null) => (None, vec![AnomalyKind::Missing]),
            Some(Value::String(text)) => match parse_timestamp(text) {
                Ok(parsed) if parsed.zone_assumed => {
                    (Some(parsed.value), vec![AnomalyKind::MissingTimeZone])
                }
                Ok(parsed) => (Some(parsed.value), vec![]),
                Err(_) => (None, vec![AnomalyKind::Unparseable]),
            },
            Some(_) => (None, vec![AnomalyKind::WrongType]),
        }
    }

    fn expected_timeline(value: Option<&Value>) -> (Option<MoveTimeline>, Vec<AnomalyKind>) {
        match value {
            None | Some(Value::Null) => (None, vec![]),
            Some(Value::String(text)) if text.trim().is_empty() => (None, vec![]),
            Some(Value::String(text)) => match MoveTimeline::parse(text) {
                Some(parsed) if parsed.zone_assumed => {
                    (Some(parsed.timeline), vec![AnomalyKind::MissingTimeZone])
                }
                Some(parsed) => (Some(parsed.timeline), vec![]),
                None => (None, vec![AnomalyKind::Unparseable]),
            },
            Some(_) => (None, vec![AnomalyKind::WrongType]),
        }
    }

    /// The anomalies `details` holds on the field `name`, in order.
    fn kinds_on(details: &LeadDetails, name: &str) -> Vec<AnomalyKind> {
        details
            .anomalies
            .iter()
            .filter(|a| a.field().wire_name() == name)
            .map(|a| a.kind())
            .collect()
    }

    /// Checks one payload against the model above, field by field.
    fn check_payload(generated: &Map<String, Value>) -> Result<(), TestCaseError> {
        let raw = serde_json::to_vec(&Value::Object(generated.clone())).expect("serialisable");
        // The model reads what the parser reads: a float written out and read back may
        // differ in its last digit.
        let object: Map<String, Value> = serde_json::from_slice(&raw).expect("JSON");
        let field = |name: &str| object.get(name);
        let parsed = parse_payload(&raw);
        let reference = match field("LeadReference") {
            None | Some(Value::Null) => {
                let refused = parsed.expect_err("refused without a reference");
                prop_assert_eq!(refused.kind, RejectionKind::LeadReferenceMissing);
                return Ok(());
            }
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(number)) if number.is_i64() || number.is_u64() => number.to_string(),
            Some(_) => {
                let refused = parsed.expect_err("refused with a reference of another type");
                prop_assert_eq!(refused.kind, RejectionKind::LeadReferenceInvalid);
                return Ok(());
            }
        };
        let Ok(reference) = LeadReference::parse(&reference) else {
            let refused = parsed.expect_err("refused with an unusable reference");
            prop_assert_eq!(refused.kind, RejectionKind::LeadReferenceInvalid);
            return Ok(());
        };
        let details = match parsed {
            Ok(details) => details,
            Err(refused) => {
                return Err(TestCaseError::fail(format!(
                    "refused though the reference is usable: {refused:?}"
                )));
            }
        };
        prop_assert_eq!(&details.reference, &reference);

        let (text, kinds) = expected_text(field("Message"), true);
        prop_assert_eq!(
            details.message.as_ref().map(|m| m.as_str().to_owned()),
            text
        );
        prop_assert_eq!(kinds_on(&details, "Message"), kinds, "Message");
        let (text, kinds) = expected_text(field("SenderName"), true);
        prop_assert_eq!(&details.sender.name, &text);
        prop_assert_eq!(kinds_on(&details, "SenderName"), kinds, "SenderName");
        let (text, kinds) = expected_text(field("PresentationLetter"), false);
        prop_assert_eq!(&details.profile.presentation_letter, &text);
        prop_assert_eq!(
            kinds_on(&details, "PresentationLetter"),
            kinds,
            "PresentationLetter"
        );

        for (name, actual) in [
            ("EntityPublicId", &details.entity_public_id),
            ("EntityReference", &details.entity_reference),
        ] {
            let (text, kinds) = expected_trimmed(field(name));
            prop_assert_eq!(actual, &text, "{}", name);
            prop_assert_eq!(kinds_on(&details, name), kinds, "{}", name);
        }
        let (source, mut kinds) = expected_trimmed(field("Source"));
        if source
            .as_ref()
            .is_some_and(|s| !s.eq_ignore_ascii_case("CasaYes"))
        {
            kinds.push(AnomalyKind::UnknownValue);
        }
        prop_assert_eq!(&details.source, &source);
        prop_assert_eq!(kinds_on(&details, "Source"), kinds, "Source");

        let (text, mut kinds) = expected_text(field("SenderEmail"), true);
        let email = text.and_then(|text| SenderEmail::parse(&text));
        if email.as_ref().is_some_and(|email| !email.is_plausible()) {
            kinds.push(AnomalyKind::NotPlausible);
        }
        prop_assert_eq!(&details.sender.email, &email);
        prop_assert_eq!(kinds_on(&details, "SenderEmail"), kinds, "SenderEmail");
        let (text, mut kinds) = expected_text(field("SenderPhone"), true);
        let phone = text.and_then(|text| SenderPhone::parse(&text));
        if phone.as_ref().is_some_and(|phone| phone.e164().is_none()) {
            kinds.push(AnomalyKind::NotNormalisable);
        }
        prop_assert_eq!(&details.sender.phone, &phone);
        prop_assert_eq!(kinds_on(&details, "SenderPhone"), kinds, "SenderPhone");

        let (created, kinds) = expected_datetime(field("CreatedDate"));
        prop_assert_eq!(details.created_date, created);
        prop_assert_eq!(
            details.created_date.map(|d| *d.offset()),
            created.map(|d| *d.offset())
        );
        prop_assert_eq!(kinds_on(&details, "CreatedDate"), kinds, "CreatedDate");
        let (timeline, kinds) = expected_timeline(field("EstimatedDateToMove"));
        prop_assert_eq!(details.profile.move_timeline, timeline);
        prop_assert_eq!(
            kinds_on(&details, "EstimatedDateToMove"),
            kinds,
            "EstimatedDateToMove"
        );
        let (residents, kinds) = expected_integer(field("NumberResidents"), |n| {
            (1..=MAX_RESIDENTS).contains(&n)
        });
        prop_assert_eq!(details.profile.number_residents.map(i64::from), residents);
        prop_assert_eq!(
            kinds_on(&details, "NumberResidents"),
            kinds,
            "NumberResidents"
        );
        let (income, kinds) = expected_integer(field("MonthlyIncome"), |n| n >= 0);
        prop_assert_eq!(details.profile.monthly_income, income);
        prop_assert_eq!(kinds_on(&details, "MonthlyIncome"), kinds, "MonthlyIncome");
        let (pets, kinds) = expected_boolean(field("HasPets"));
        prop_assert_eq!(details.profile.has_pets, pets);
        prop_assert_eq!(kinds_on(&details, "HasPets"), kinds, "HasPets");

        for name in object.keys() {
            if let LeadField::Other(_) = LeadField::from_wire_name(name) {
                prop_assert_eq!(
                    kinds_on(&details, name),
                    [AnomalyKind::UnknownField],
                    "{}",
                    name
                );
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn payloads_shaped_like_casayes_read_field_by_field(object in casayes_payload()) {
            check_payload(&object)?;
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_payload(&bytes);
        }

        #[test]
        fn any_usable_reference_is_accepted_whatever_the_other_fields(
            reference in "[A-Za-z0-9-]{1,80}",
            residents in any::<i64>(),
            income in any::<f64>(),
            pets in any::<String>(),
            timeline in any::<String>(),
            created in any::<String>(),
        ) {
            let body = serde_json::to_vec(&json!({
                "LeadReference": reference, "NumberResidents": residents, "MonthlyIncome": income,
                "HasPets": pets, "EstimatedDateToMove": timeline, "CreatedDate": created,
            })).expect("serialisable");
            let details = parse_payload(&body).expect("never refused for another field");
            prop_assert_eq!(details.reference.as_str(), reference.as_str());
        }
    }
}
