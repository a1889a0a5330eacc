//! Generators for the property tests: values shaped like what CasaYes sends (phones,
//! datetimes, move timelines, whole payloads), plausible and implausible, so that the
//! properties reach the parsers' logic rather than stop at their first refusal.

use chrono::{DateTime, FixedOffset, NaiveDate};
use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::LeadField;

/// A Portuguese number as people write it, and its E.164 form: nine digits starting
/// with 2, 3 or 9, split by spaces, dots, dashes, slashes or parentheses, after `+351`,
/// `00351`, `351` or nothing, with white space around.
pub(crate) fn written_phone() -> impl Strategy<Value = (String, String)> {
    (
        prop::sample::select(vec!['2', '3', '9']),
        "[0-9]{8}",
        prop::collection::vec(
            prop::sample::select(vec!["", "", " ", ".", "-", "/", "(", ")", " - "]),
            9,
        ),
        prop::sample::select(vec![
            "", "+351", "+351 ", "00351", "00 351 ", "351", "351 ", "+351-", "(351) ",
        ]),
        "[ \t]{0,2}",
        "[ \t]{0,2}",
    )
        .prop_map(|(first, rest, separators, prefix, before, after)| {
            let national = format!("{first}{rest}");
            let mut text = format!("{before}{prefix}");
            for (digit, separator) in national.chars().zip(separators) {
                text.push(digit);
                text.push_str(separator);
            }
            text.push_str(&after);
            (text, format!("+351{national}"))
        })
}

/// Strings that look like phones, most of them not Portuguese or not numbers at all:
/// other countries, too few or too many digits, letters, stray plus signs.
pub(crate) fn phone_like() -> impl Strategy<Value = String> {
    prop_oneof![
        written_phone().prop_map(|(text, _)| text),
        "(\\+|00)?[0-9]{1,3}[ .-]?[0-9]{2,4}[ .-]?[0-9]{2,5}",
        "[+0-9 ().\\-/]{0,24}",
        "[+0-9a-zA-Z #*]{0,16}",
    ]
}

/// A datetime as CasaYes (or a person) may write it, what it means, and whether its
/// zone is assumed (none written): RFC 3339 with 0 to 9 fractional digits and `Z` or
/// an offset; without a zone, with a `T` or a space; to the minute; a bare date.
pub(crate) fn written_timestamp() -> impl Strategy<Value = (String, DateTime<FixedOffset>, bool)> {
    (
        (1970i32..2100, 1u32..=12, 1u32..=28),
        (0u32..24, 0u32..60, 0u32..60),
        "[0-9]{0,9}",
        prop_oneof![
            Just(None),
            Just(Some(0i32)),
            (-(14 * 60)..=(14 * 60i32)).prop_map(Some)
        ],
        0u8..4,
        "[ \t\n]{0,2}",
    )
        .prop_map(|((y, mo, d), (h, mi, s), fraction, offset, shape, space)| {
            let date = NaiveDate::from_ymd_opt(y, mo, d).expect("a day that exists");
            let nanos: u32 = format!("{fraction:0<9}").parse().expect("digits");
            let dot = if fraction.is_empty() { "" } else { "." };
            let day = format!("{y:04}-{mo:02}-{d:02}");
            let (text, time) = match (shape, offset) {
                // A bare date, or a time to the minute: no zone.
                (0, None) => (day, date.and_hms_opt(0, 0, 0)),
                (1, None) => (format!("{day}T{h:02}:{mi:02}"), date.and_hms_opt(h, mi, 0)),
                // A space instead of the `T`: no zone.
                (2, None) => (
                    format!("{day} {h:02}:{mi:02}:{s:02}{dot}{fraction}"),
                    date.and_hms_nano_opt(h, mi, s, nanos),
                ),
                (_, zone) => {
                    let zone = match zone {
                        None => String::new(),
                        Some(0) if shape % 2 == 0 => "Z".to_owned(),
                        Some(minutes) => format!(
                            "{}{:02}:{:02}",
                            if minutes < 0 { '-' } else { '+' },
                            minutes.abs() / 60,
                            minutes.abs() % 60
                        ),
                    };
                    (
                        format!("{day}T{h:02}:{mi:02}:{s:02}{dot}{fraction}{zone}"),
                        date.and_hms_nano_opt(h, mi, s, nanos),
                    )
                }
            };
            let time = time.expect("a time that exists");
            let value = match offset {
                None => time.and_utc().fixed_offset(),
                Some(minutes) => time
                    .and_local_timezone(FixedOffset::east_opt(minutes * 60).expect("an offset"))
                    .single()
                    .expect("one instant"),
            };
            (format!("{space}{text}{space}"), value, offset.is_none())
        })
}

/// A documented move-timeline word in any case, with white space around; the kind it
/// names.
pub(crate) fn timeline_word() -> impl Strategy<Value = (String, &'static str)> {
    (
        prop::sample::select(vec![
            ("soon", "soon"),
            ("flexible", "flexible"),
            ("exactdate", "exact_date"),
        ]),
        prop::collection::vec(any::<bool>(), 9),
        "[ \t]{0,2}",
    )
        .prop_map(|((word, kind), upper, space)| {
            let cased: String = word
                .chars()
                .zip(upper)
                .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
                .collect();
            (format!("{space}{cased}{space}"), kind)
        })
}

/// Near misses of a datetime: a month, day, hour or minute out of range, or a
/// misspelt word.
pub(crate) fn not_a_timeline() -> impl Strategy<Value = String> {
    prop_oneof![
        (13u32..100).prop_map(|month| format!("2024-{month:02}-09T15:05:44Z")),
        (32u32..100).prop_map(|day| format!("2024-08-{day:02}T15:05:44Z")),
        (24u32..100).prop_map(|hour| format!("2024-08-09T{hour:02}:05:44Z")),
        (60u32..100).prop_map(|minute| format!("2024-08-09T15:{minute:02}:44Z")),
        "(soo|flexibel|exact date|next week|asap|2024/08/09|09-08-2024)",
    ]
}

/// Any JSON value, nested a little.
pub(crate) fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[A-Za-z]{1,6}", inner, 0..3)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A field: missing, any JSON value, or (most often) one of `plausible`.
fn field(plausible: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        1 => Just(None),
        2 => any_json().prop_map(Some),
        5 => plausible.prop_map(Some),
    ]
    .boxed()
}

fn strings(pattern: &'static str) -> BoxedStrategy<Value> {
    pattern.prop_map(Value::from).boxed()
}

/// Free text as people write it, now and then with a NUL character.
fn free_text() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => "\\PC{0,30}".prop_map(Value::from),
        1 => Just(Value::from("")),
        1 => "[a-z ]{0,5}\u{0}[a-z ]{0,5}".prop_map(Value::from),
    ]
    .boxed()
}

/// A whole number, written as CasaYes's documentation says or as it sometimes comes.
fn whole_number(range: std::ops::Range<i64>) -> BoxedStrategy<Value> {
    prop_oneof![
        range.clone().prop_map(Value::from),
        range.clone().prop_map(|n| Value::from(n.to_string())),
        range.clone().prop_map(|n| Value::from(format!(" {n} "))),
        range.prop_map(|n| Value::from(n as f64)),
        (0.0f64..100.0).prop_map(Value::from),
        Just(Value::from(1e20)),
        Just(Value::from(" ")),
        "[0-9]{1,3}[a-z]{1,3}".prop_map(Value::from),
    ]
    .boxed()
}

/// A JSON object shaped like a CasaYes payload: the fifteen documented PascalCase
/// fields, each missing, of any JSON type, or a plausible or implausible value of its
/// own kind, and now and then a field the documentation does not list.
pub(crate) fn casayes_payload() -> impl Strategy<Value = Map<String, Value>> {
    let identity = (
        field(prop_oneof![
            3 => strings("CY-(Listing|Office|Development)-[A-Za-z0-9]{11}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"),
            3 => strings("[A-Za-z0-9-]{1,60}"),
            1 => strings("\\PC{0,8}"),
            1 => (0i64..1_000_000).prop_map(Value::from).boxed(),
        ]
        .boxed()),
        field(strings("(Listing|Office|Development|listing|OFFICE|[A-Za-z]{1,12}| )")),
        field(strings("( ?[A-Za-z0-9]{11} ?| )")),
        field(strings("([0-9]{9}-[0-9]| )")),
        field(strings("(CasaYes|casayes| CasaYes |Idealista|)")),
        field(
            prop_oneof![
                written_timestamp().prop_map(|(text, _, _)| Value::from(text)),
                not_a_timeline().prop_map(Value::from),
            ]
            .boxed(),
        ),
    );
    let person = (
        field(free_text()),
        field(free_text()),
        field(strings(
            "([a-z.]{1,8}@[a-z]{1,8}\\.(pt|com)|[a-z@. ]{0,12}| [A-Z][a-z]{1,5}@Example\\.PT )",
        )),
        field(phone_like().prop_map(Value::from).boxed()),
    );
    let profile = (
        field(whole_number(-3..60)),
        field(whole_number(-1_000..100_000)),
        field(
            prop_oneof![
                any::<bool>().prop_map(Value::Bool),
                "(true|false|yes|no|1|0|True| NO |maybe| )".prop_map(Value::from),
                (0i64..3).prop_map(Value::from),
            ]
            .boxed(),
        ),
        field(
            prop_oneof![
                timeline_word().prop_map(|(text, _)| Value::from(text)),
                written_timestamp().prop_map(|(text, _, _)| Value::from(text)),
                not_a_timeline().prop_map(Value::from),
                Just(Value::from("")),
            ]
            .boxed(),
        ),
        field(free_text()),
    );
    let unknown = prop::collection::btree_map(
        "[A-Z][A-Za-z]{0,10}".prop_filter("not documented", |name| {
            matches!(LeadField::from_wire_name(name), LeadField::Other(_))
        }),
        any_json(),
        0..3,
    );
    (identity, person, profile, unknown).prop_map(
        |(
            (reference, entity_type, public_id, entity_reference, source, created),
            (message, name, email, phone),
            (residents, income, pets, timeline, letter),
            unknown,
        )| {
            let documented = [
                ("LeadReference", reference),
                ("EntityType", entity_type),
                ("EntityPublicId", public_id),
                ("EntityReference", entity_reference),
                ("Source", source),
                ("CreatedDate", created),
                ("Message", message),
                ("SenderName", name),
                ("SenderEmail", email),
                ("SenderPhone", phone),
                ("NumberResidents", residents),
                ("MonthlyIncome", income),
                ("HasPets", pets),
                ("EstimatedDateToMove", timeline),
                ("PresentationLetter", letter),
            ];
            let mut object: Map<String, Value> = documented
                .into_iter()
                .filter_map(|(name, value)| Some((name.to_owned(), value?)))
                .collect();
            object.extend(unknown);
            object
        },
    )
}
