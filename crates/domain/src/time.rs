//! Datetimes as CasaYes writes them.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};

/// A datetime read from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedTimestamp {
    /// The instant, with the offset CasaYes wrote (UTC when it wrote none).
    pub value: DateTime<FixedOffset>,
    /// True when the text had no zone and was read as UTC.
    pub zone_assumed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 datetime")]
pub struct TimestampError;

/// Reads an RFC 3339 datetime with 0 to 9 fractional digits (.NET writes 7), `Z` or
/// an offset. A datetime without a zone (`2024-08-09T15:05:44.6131515`) or a bare date
/// (`2024-12-09`) is read as UTC and reported with `zone_assumed`.
pub fn parse_timestamp(text: &str) -> Result<ParsedTimestamp, TimestampError> {
    let text = text.trim();
    if let Ok(value) = DateTime::parse_from_rfc3339(text) {
        return Ok(ParsedTimestamp {
            value,
            zone_assumed: false,
        });
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|date| date.and_hms_opt(0, 0, 0))
    })
    .ok_or(TimestampError)?;
    Ok(ParsedTimestamp {
        value: naive.and_utc().fixed_offset(),
        zone_assumed: true,
    })
}

/// Formats an instant losslessly: RFC 3339, the offset kept, as many fractional digits
/// as needed (0, 3, 6 or 9). [`parse_timestamp`] reads it back to the same value.
pub fn format_timestamp(value: &DateTime<FixedOffset>) -> String {
    value.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Formats a UTC instant the same way.
pub fn format_utc(value: &DateTime<Utc>) -> String {
    value.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Timelike};
    use proptest::prelude::*;

    #[test]
    fn dotnet_seven_digit_precision_is_kept() {
        let parsed = parse_timestamp("2024-08-09T15:05:44.6131515Z").expect("valid");
        assert!(!parsed.zone_assumed);
        assert_eq!(parsed.value.nanosecond(), 613_151_500);
        assert_eq!(parsed.value.offset().local_minus_utc(), 0);
    }

    #[test]
    fn zero_to_nine_fractional_digits_are_read() {
        for digits in 0..=9 {
            let fraction = if digits == 0 {
                String::new()
            } else {
                format!(".{}", &"123456789"[..digits])
            };
            let text = format!("2024-08-09T15:05:44{fraction}Z");
            let parsed = parse_timestamp(&text).expect(&text);
            let expected: u32 = if digits == 0 {
                0
            } else {
                format!("{:0<9}", &"123456789"[..digits])
                    .parse()
                    .expect("digits")
            };
            assert_eq!(parsed.value.nanosecond(), expected, "{text}");
        }
    }

    #[test]
    fn an_explicit_offset_is_kept() {
        let parsed = parse_timestamp("2024-08-09T16:05:44.6131515+01:00").expect("valid");
        assert_eq!(parsed.value.offset().local_minus_utc(), 3600);
        assert_eq!(
            parsed.value.with_timezone(&Utc),
            Utc.with_ymd_and_hms(2024, 8, 9, 15, 5, 44)
                .single()
                .expect("valid")
                + chrono::Duration::nanoseconds(613_151_500)
        );
    }

    #[test]
    fn no_zone_is_read_as_utc_and_flagged() {
        let parsed = parse_timestamp("2024-08-09T15:05:44.6131515").expect("valid");
        assert!(parsed.zone_assumed);
        assert_eq!(parsed.value.offset().local_minus_utc(), 0);
        assert_eq!(parsed.value.nanosecond(), 613_151_500);
        let date = parse_timestamp("2024-12-09").expect("valid");
        assert!(date.zone_assumed);
        assert_eq!(format_timestamp(&date.value), "2024-12-09T00:00:00Z");
    }

    #[test]
    fn garbage_is_refused() {
        for text in [
            "",
            "soon",
            "2024-13-01T00:00:00Z",
            "yesterday at noon",
            "2024-08-09T25:00:00Z",
        ] {
            assert_eq!(parse_timestamp(text), Err(TimestampError), "{text}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in any::<String>()) {
            let _ = parse_timestamp(&text);
        }

        #[test]
        fn formatted_values_round_trip(
            seconds in -62_000_000_000i64..250_000_000_000i64,
            nanos in 0u32..1_000_000_000,
            offset_minutes in -(23 * 60)..(23 * 60),
        ) {
            let offset = FixedOffset::east_opt(offset_minutes * 60).expect("in range");
            let value = DateTime::from_timestamp(seconds, nanos).expect("in range").with_timezone(&offset);
            let parsed = parse_timestamp(&format_timestamp(&value)).expect("own format");
            prop_assert_eq!(parsed.value, value);
            prop_assert_eq!(parsed.value.offset(), value.offset());
            prop_assert!(!parsed.zone_assumed);
        }
    }
}
