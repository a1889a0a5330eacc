//! Counting: latency histograms, outcome tallies, and the figures derived from them
//! (percentiles in milliseconds, rates, ratios to the ceiling).

use std::{collections::BTreeMap, time::Duration};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in microseconds, from 1 µs to 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .unwrap_or_else(|_| unreachable!("valid constant bounds"))
}

pub fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    histogram.saturating_record((latency.as_micros() as u64).max(1));
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        if histogram.is_empty() {
            return Latency::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Latency {
            samples: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// What the answers were. Outcomes are counted over the whole run of a level
/// (warm-up included), since the database check needs all of them; rates and
/// latencies only over the measured window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    /// `200` `created` answers.
    pub created: u64,
    /// `200` `duplicate` answers.
    pub duplicate: u64,
    /// `401` for the wrong-token share, as expected.
    pub refused_wrong_token: u64,
    /// `400` for the malformed share, as expected.
    pub refused_malformed: u64,
    /// Anything else: transport failures and unexpected statuses, by kind.
    pub errors: BTreeMap<String, u64>,
}

impl Tally {
    pub fn error(&mut self, what: impl Into<String>) {
        *self.errors.entry(what.into()).or_default() += 1;
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn merge(&mut self, other: &Tally) {
        self.created += other.created;
        self.duplicate += other.duplicate;
        self.refused_wrong_token += other.refused_wrong_token;
        self.refused_malformed += other.refused_malformed;
        for (what, n) in &other.errors {
            *self.errors.entry(what.clone()).or_default() += n;
        }
    }
}

/// `value / ceiling`, when the ceiling is known and not zero.
pub fn ratio(value: f64, ceiling: Option<f64>) -> Option<f64> {
    ceiling.filter(|c| *c > 0.0).map(|c| value / c)
}

/// Events per second over `window`.
pub fn per_second(events: u64, window: Duration) -> f64 {
    let seconds = window.as_secs_f64();
    if seconds <= 0.0 {
        0.0
    } else {
        events as f64 / seconds
    }
}

/// The median and the largest of some durations, in milliseconds.
pub fn median_and_max_ms(durations: &[Duration]) -> (f64, f64) {
    if durations.is_empty() {
        return (0.0, 0.0);
    }
    let mut ms: Vec<f64> = durations.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let middle = ms.len() / 2;
    let median = if ms.len().is_multiple_of(2) {
        (ms[middle - 1] + ms[middle]) / 2.0
    } else {
        ms[middle]
    };
    (median, ms[ms.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_out_in_milliseconds() {
        let mut histogram = new_histogram();
        // 1..=1000 ms, once each.
        for ms in 1..=1000u64 {
            record(&mut histogram, Duration::from_millis(ms));
        }
        let latency = Latency::of(&histogram);
        assert_eq!(latency.samples, 1000);
        assert!((latency.p50_ms - 500.0).abs() <= 0.5, "{latency:?}");
        assert!((latency.p99_ms - 990.0).abs() <= 1.0, "{latency:?}");
        assert!((latency.p999_ms - 999.0).abs() <= 1.0, "{latency:?}");
        assert!((latency.max_ms - 1000.0).abs() <= 1.0, "{latency:?}");
    }

    #[test]
    fn a_slow_tail_shows_in_p99_but_not_p50() {
        let mut histogram = new_histogram();
        for _ in 0..980 {
            record(&mut histogram, Duration::from_micros(800));
        }
        for _ in 0..20 {
            record(&mut histogram, Duration::from_millis(25));
        }
        let latency = Latency::of(&histogram);
        assert!((latency.p50_ms - 0.8).abs() < 0.01, "{latency:?}");
        assert!((latency.p99_ms - 25.0).abs() < 0.05, "{latency:?}");
    }

    #[test]
    fn an_empty_histogram_is_all_zero() {
        assert_eq!(Latency::of(&new_histogram()), Latency::default());
    }

    #[test]
    fn ratios_need_a_ceiling() {
        assert_eq!(ratio(500.0, Some(1000.0)), Some(0.5));
        assert_eq!(ratio(500.0, Some(0.0)), None);
        assert_eq!(ratio(500.0, None), None);
        assert_eq!(per_second(300, Duration::from_millis(1500)), 200.0);
        assert_eq!(per_second(300, Duration::ZERO), 0.0);
    }

    #[test]
    fn tallies_merge_by_kind() {
        let mut a = Tally {
            created: 3,
            duplicate: 1,
            ..Tally::default()
        };
        a.error("503");
        let mut b = Tally {
            created: 2,
            refused_wrong_token: 1,
            ..Tally::default()
        };
        b.error("503");
        b.error("transport");
        a.merge(&b);
        assert_eq!(a.created, 5);
        assert_eq!(a.duplicate, 1);
        assert_eq!(a.refused_wrong_token, 1);
        assert_eq!(a.errors["503"], 2);
        assert_eq!(a.error_count(), 3);
    }

    #[test]
    fn median_and_max_of_durations() {
        let ms = |n| Duration::from_millis(n);
        assert_eq!(median_and_max_ms(&[ms(30), ms(10), ms(20)]), (20.0, 30.0));
        assert_eq!(
            median_and_max_ms(&[ms(40), ms(10), ms(20), ms(30)]),
            (25.0, 40.0)
        );
        assert_eq!(median_and_max_ms(&[]), (0.0, 0.0));
    }
}
