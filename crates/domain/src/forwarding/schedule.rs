//! When a delivery that failed is tried again.

use std::{fmt, time::Duration};

/// The longest delay one step of a schedule may ask for. Longer ones are almost always
/// a typo (`10d` for `10h`), and a delivery parked for weeks is a lead that arrives
/// after it is useful.
const MAX_STEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// How far a delay is moved at random either way, as a share of it: retries of many
/// deliveries that failed together (a destination that was down) spread out instead
/// of arriving at once when it comes back.
const JITTER: f64 = 0.1;

/// The delays between the attempts of one delivery. The first attempt is always made
/// at once; a schedule of `n` delays allows `n` retries, `n + 1` attempts in all.
///
/// `LEAD_INBOX_FORWARD_RETRY_SCHEDULE` writes one as comma-separated durations
/// (`5s,5m,30m,2h`; `ms`, `s`, `m`, `h` and `d` are understood).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryScheduleError {
    #[error("the schedule is empty; give at least one delay, for example `5s,5m,30m`")]
    Empty,
    #[error("`{step}` is not a duration; write durations such as `500ms`, `5s`, `5m`, `2h`")]
    NotADuration { step: String },
    #[error("`{step}` is longer than the 7 days one step may wait")]
    TooLong { step: String },
}

impl RetrySchedule {
    /// Svix's schedule, which the gateways our users compare us with share: at once,
    /// then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (eight attempts over about
    /// 27.6 hours).
    pub fn standard() -> RetrySchedule {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 3600;
        RetrySchedule {
            delays: [
                5,
                5 * MINUTE,
                30 * MINUTE,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                10 * HOUR,
            ]
            .into_iter()
            .map(Duration::from_secs)
            .collect(),
        }
    }

    /// Reads comma-separated durations (`1s,1s,2s`). Blanks around a step are ignored.
    pub fn parse(text: &str) -> Result<RetrySchedule, RetryScheduleError> {
        if text.trim().is_empty() {
            return Err(RetryScheduleError::Empty);
        }
        let delays = text
            .split(',')
            .map(|step| {
                let step = step.trim();
                let delay = humantime::parse_duration(step).map_err(|_| {
                    RetryScheduleError::NotADuration {
                        step: step.to_owned(),
                    }
                })?;
                if delay > MAX_STEP {
                    return Err(RetryScheduleError::TooLong {
                        step: step.to_owned(),
                    });
                }
                Ok(delay)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RetrySchedule { delays })
    }

    /// The delays, in order.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// How many attempts a delivery gets before it is `failed`.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.delays.len())
            .unwrap_or(u32::MAX - 1)
            .saturating_add(1)
    }

    /// The delay before the next attempt, once `attempts_made` attempts (at least one)
    /// have failed, moved by up to ±10 % with `unit` (a random number in `[0, 1)`);
    /// `None` when the schedule is spent and the delivery becomes `failed`.
    pub fn next_delay(&self, attempts_made: u32, unit: f64) -> Option<Duration> {
        let step = usize::try_from(attempts_made.checked_sub(1)?).ok()?;
        let delay = *self.delays.get(step)?;
        let factor = 1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0);
        Some(delay.mul_f64(factor))
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule::standard()
    }
}

impl fmt::Display for RetrySchedule {
    /// The form [`RetrySchedule::parse`] reads (`5s,5m,30m,…`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<String> = self
            .delays
            .iter()
            .map(|delay| {
                humantime::format_duration(*delay)
                    .to_string()
                    .replace(' ', "")
            })
            .collect();
        f.write_str(&steps.join(","))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_standard_schedule_is_svix_s() {
        let schedule = RetrySchedule::standard();
        let seconds: Vec<u64> = schedule.delays().iter().map(Duration::as_secs).collect();
        assert_eq!(seconds, [5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(schedule.attempts(), 8);
        assert_eq!(schedule.to_string(), "5s,5m,30m,2h,5h,10h,10h");
        assert_eq!(RetrySchedule::parse(&schedule.to_string()), Ok(schedule));
    }

    #[test]
    fn a_test_schedule_parses_with_blanks_and_units() {
        let schedule = RetrySchedule::parse(" 1s, 1s ,2s,500ms,1m ").expect("valid");
        assert_eq!(
            schedule.delays(),
            [
                Duration::from_secs(1),
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_millis(500),
                Duration::from_secs(60)
            ]
        );
        assert_eq!(schedule.attempts(), 6);
    }

    #[test]
    fn bad_schedules_are_refused_naming_the_step() {
        assert_eq!(RetrySchedule::parse(" "), Err(RetryScheduleError::Empty));
        assert_eq!(
            RetrySchedule::parse("1s,soon"),
            Err(RetryScheduleError::NotADuration {
                step: "soon".into()
            })
        );
        assert_eq!(
            RetrySchedule::parse("1s,,2s"),
            Err(RetryScheduleError::NotADuration { step: "".into() })
        );
        assert_eq!(
            RetrySchedule::parse("10d"),
            Err(RetryScheduleError::TooLong { step: "10d".into() })
        );
        let message = RetrySchedule::parse("1s,soon").unwrap_err().to_string();
        assert!(
            message.contains("`soon`") && message.contains("5m"),
            "{message}"
        );
    }

    #[test]
    fn the_delay_follows_the_attempts_and_ends_with_the_schedule() {
        let schedule = RetrySchedule::parse("1s,10s,100s").expect("valid");
        assert_eq!(schedule.next_delay(0, 0.5), None, "no attempt made yet");
        assert_eq!(schedule.next_delay(1, 0.5), Some(Duration::from_secs(1)));
        assert_eq!(schedule.next_delay(2, 0.5), Some(Duration::from_secs(10)));
        assert_eq!(schedule.next_delay(3, 0.5), Some(Duration::from_secs(100)));
        assert_eq!(
            schedule.next_delay(4, 0.5),
            None,
            "spent: the delivery fails"
        );
    }

    proptest! {
        #[test]
        fn jitter_stays_within_ten_percent(attempt in 1u32..8, unit in 0.0f64..1.0) {
            let schedule = RetrySchedule::standard();
            let base = schedule.delays()[attempt as usize - 1];
            let delay = schedule.next_delay(attempt, unit).expect("within the schedule");
            prop_assert!(delay >= base.mul_f64(0.9) && delay <= base.mul_f64(1.1));
        }
    }
}
