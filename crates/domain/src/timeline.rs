//! `EstimatedDateToMove`: when the sender expects to move.

use chrono::{DateTime, FixedOffset};

use crate::time::parse_timestamp;

/// The move timeline. The documentation lists three words; its example sends a
/// datetime, which means "an exact date, and here it is".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveTimeline {
    Soon,
    Flexible,
    /// An exact date; `None` when CasaYes sent the word `ExactDate` without one.
    ExactDate(Option<DateTime<FixedOffset>>),
}

/// What [`MoveTimeline::parse`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedTimeline {
    pub timeline: MoveTimeline,
    /// True when a datetime without zone was read as UTC.
    pub zone_assumed: bool,
}

impl MoveTimeline {
    /// Reads `Soon`, `Flexible`, `ExactDate` (any case) or a datetime. `None` for
    /// anything else.
    pub fn parse(text: &str) -> Option<ParsedTimeline> {
        let word = text.trim();
        let timeline = if word.eq_ignore_ascii_case("soon") {
            MoveTimeline::Soon
        } else if word.eq_ignore_ascii_case("flexible") {
            MoveTimeline::Flexible
        } else if word.eq_ignore_ascii_case("exactdate") {
            MoveTimeline::ExactDate(None)
        } else {
            let parsed = parse_timestamp(word).ok()?;
            return Some(ParsedTimeline {
                timeline: MoveTimeline::ExactDate(Some(parsed.value)),
                zone_assumed: parsed.zone_assumed,
            });
        };
        Some(ParsedTimeline {
            timeline,
            zone_assumed: false,
        })
    }

    /// `soon`, `flexible` or `exact_date`: the kind, without the date.
    pub fn kind_code(&self) -> &'static str {
        match self {
            MoveTimeline::Soon => "soon",
            MoveTimeline::Flexible => "flexible",
            MoveTimeline::ExactDate(_) => "exact_date",
        }
    }

    pub fn date(&self) -> Option<DateTime<FixedOffset>> {
        match self {
            MoveTimeline::ExactDate(date) => *date,
            MoveTimeline::Soon | MoveTimeline::Flexible => None,
        }
    }

    /// Rebuilds a timeline from its kind code and date, as [`Self::kind_code`] and
    /// [`Self::date`] give them. `None` for an unknown code.
    pub fn from_parts(
        kind_code: &str,
        date: Option<DateTime<FixedOffset>>,
    ) -> Option<MoveTimeline> {
        match kind_code {
            "soon" => Some(MoveTimeline::Soon),
            "flexible" => Some(MoveTimeline::Flexible),
            "exact_date" => Some(MoveTimeline::ExactDate(date)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::{not_a_timeline, timeline_word, written_timestamp};
    use proptest::prelude::*;

    fn timeline(text: &str) -> Option<MoveTimeline> {
        MoveTimeline::parse(text).map(|parsed| parsed.timeline)
    }

    #[test]
    fn documented_words_are_read() {
        assert_eq!(timeline("Soon"), Some(MoveTimeline::Soon));
        assert_eq!(timeline("FLEXIBLE"), Some(MoveTimeline::Flexible));
        assert_eq!(timeline("exactDate"), Some(MoveTimeline::ExactDate(None)));
    }

    #[test]
    fn the_spec_example_datetime_is_an_exact_date() {
        let parsed = MoveTimeline::parse("2024-12-09T15:05:44.6131515Z").expect("valid");
        let date = parsed.timeline.date().expect("a date");
        assert_eq!(date.to_rfc3339(), "2024-12-09T15:05:44.613151500+00:00");
        assert_eq!(parsed.timeline.kind_code(), "exact_date");
        assert!(!parsed.zone_assumed);
    }

    #[test]
    fn anything_else_is_not_a_timeline() {
        assert_eq!(timeline("next week"), None);
        assert_eq!(timeline(""), None);
    }

    proptest! {
        #[test]
        fn written_datetimes_are_exact_dates((text, value, assumed) in written_timestamp()) {
            let parsed = MoveTimeline::parse(&text).expect("a timeline");
            prop_assert_eq!(parsed.zone_assumed, assumed, "{:?}", text);
            let date = parsed.timeline.date().expect("a date");
            prop_assert_eq!(date, value, "{:?}", text);
            prop_assert_eq!(date.offset(), value.offset(), "{:?}: the offset written", text);
            prop_assert_eq!(parsed.timeline.kind_code(), "exact_date");
            let t = parsed.timeline;
            prop_assert_eq!(MoveTimeline::from_parts(t.kind_code(), t.date()), Some(t));
        }

        #[test]
        fn documented_words_are_read_in_any_case((text, kind) in timeline_word()) {
            let parsed = MoveTimeline::parse(&text).expect("a word");
            prop_assert_eq!(parsed.timeline.kind_code(), kind, "{:?}", text);
            prop_assert_eq!(parsed.timeline.date(), None);
            prop_assert!(!parsed.zone_assumed);
        }

        #[test]
        fn near_misses_are_not_timelines(text in not_a_timeline()) {
            prop_assert_eq!(MoveTimeline::parse(&text), None, "{:?}", text);
        }

        #[test]
        fn parse_never_panics_and_parts_round_trip(text in any::<String>()) {
            if let Some(parsed) = MoveTimeline::parse(&text) {
                let t = parsed.timeline;
                prop_assert_eq!(MoveTimeline::from_parts(t.kind_code(), t.date()), Some(t));
            }
        }
    }
}
