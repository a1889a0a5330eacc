//! The CasaYes parser's tests: examples, then properties over generated payloads.

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
        let details = parse_payload(&with(json!({"EstimatedDateToMove": sent}))).expect("a lead");
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
    assert!(anomalies(&no_zone).contains(&("CreatedDate".into(), AnomalyKind::MissingTimeZone)));
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
    assert!(anomalies(&unreadable).contains(&("SenderPhone".into(), AnomalyKind::NotNormalisable)));
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
    let details =
        parse_payload(&with(json!({"Message": text, "PresentationLetter": text}))).expect("a lead");
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
