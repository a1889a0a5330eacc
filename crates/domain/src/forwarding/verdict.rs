//! What a destination's answer to one attempt means.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The longest `Retry-After` honoured: a destination that asks for more is retried on
/// the schedule's own terms, at the latest after this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The meaning of one attempt's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A `2xx`: delivered.
    Delivered,
    /// `410 Gone`: the destination says it no longer exists; it is disabled.
    Gone,
    /// Anything else (another status, a redirect, which is never followed, a timeout,
    /// a network error): try again on the schedule, not before `not_before` when the
    /// destination said when (`Retry-After` on a `429` or `503`).
    Retry { not_before: Option<Duration> },
}

impl Verdict {
    /// The verdict on an HTTP answer with this status and `Retry-After` header,
    /// received at `now`.
    pub fn of_status(status: u16, retry_after: Option<&str>, now: DateTime<Utc>) -> Verdict {
        match status {
            200..=299 => Verdict::Delivered,
            410 => Verdict::Gone,
            429 | 503 => Verdict::Retry {
                not_before: retry_after.and_then(|value| parse_retry_after(value, now)),
            },
            _ => Verdict::Retry { not_before: None },
        }
    }

    /// The verdict on an attempt that got no HTTP answer (refused, reset, timed out,
    /// an address the rules forbid).
    pub fn of_transport_error() -> Verdict {
        Verdict::Retry { not_before: None }
    }

    /// When the next attempt may be made: the schedule's delay, or the destination's
    /// `Retry-After` when that is later.
    pub fn next_delay(self, scheduled: Duration) -> Duration {
        match self {
            Verdict::Retry {
                not_before: Some(asked),
            } => scheduled.max(asked),
            Verdict::Delivered | Verdict::Gone | Verdict::Retry { not_before: None } => scheduled,
        }
    }
}

/// A `Retry-After` value (RFC 9110 §10.2.3): delay seconds, or an HTTP date (a date in
/// the past is no delay). At most a day; `None` for anything unreadable.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let delay = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(value.parse().unwrap_or(u64::MAX))
    } else {
        let at = DateTime::parse_from_rfc2822(value)
            .ok()?
            .with_timezone(&Utc);
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-02T15:00:00Z")
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn every_2xx_is_delivered_and_410_disables() {
        for status in [200, 201, 202, 204, 299] {
            assert_eq!(Verdict::of_status(status, None, now()), Verdict::Delivered);
        }
        assert_eq!(Verdict::of_status(410, Some("60"), now()), Verdict::Gone);
    }

    #[test]
    fn other_answers_are_retried_without_honouring_retry_after() {
        for status in [100, 301, 302, 304, 400, 401, 404, 408, 500, 502, 504] {
            assert_eq!(
                Verdict::of_status(status, Some("60"), now()),
                Verdict::Retry { not_before: None },
                "{status}"
            );
        }
        assert_eq!(
            Verdict::of_transport_error(),
            Verdict::Retry { not_before: None }
        );
    }

    #[test]
    fn too_many_requests_and_unavailable_honour_retry_after() {
        for status in [429, 503] {
            assert_eq!(
                Verdict::of_status(status, Some("120"), now()),
                Verdict::Retry {
                    not_before: Some(Duration::from_secs(120))
                }
            );
            assert_eq!(
                Verdict::of_status(status, Some("Wed, 02 Dec 2026 15:05:00 GMT"), now()),
                Verdict::Retry {
                    not_before: Some(Duration::from_secs(300))
                }
            );
            assert_eq!(
                Verdict::of_status(status, None, now()),
                Verdict::Retry { not_before: None }
            );
        }
    }

    #[test]
    fn retry_after_is_read_defensively() {
        assert_eq!(parse_retry_after("0", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 02 Dec 2026 14:00:00 GMT", now()),
            Some(Duration::ZERO),
            "a date in the past is no delay"
        );
        assert_eq!(
            parse_retry_after("99999999999999999999", now()),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("604800", now()), Some(MAX_RETRY_AFTER));
        for unreadable in ["", "-5", "1.5", "soon", "5s"] {
            assert_eq!(parse_retry_after(unreadable, now()), None, "{unreadable:?}");
        }
    }

    #[test]
    fn the_next_delay_is_the_later_of_the_schedule_and_the_destination() {
        let asked = Verdict::Retry {
            not_before: Some(Duration::from_secs(60)),
        };
        assert_eq!(
            asked.next_delay(Duration::from_secs(5)),
            Duration::from_secs(60)
        );
        assert_eq!(
            asked.next_delay(Duration::from_secs(300)),
            Duration::from_secs(300)
        );
        assert_eq!(
            Verdict::Retry { not_before: None }.next_delay(Duration::from_secs(5)),
            Duration::from_secs(5)
        );
    }
}
