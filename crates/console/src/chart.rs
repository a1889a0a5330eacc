//! Leads per day as a bar chart, drawn on the server as SVG: no script, no chart
//! library, and it prints.

use chrono::{DateTime, Duration, Utc};

/// One day's bar, in the SVG's coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// `YYYY-MM-DD` (UTC), shown under every seventh bar and in the table.
    pub day: String,
    pub value: u64,
    pub label_below: bool,
}

/// The chart: its size, its bars and the largest value (the top of the axis).
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    pub width: u32,
    pub height: u32,
    pub plot_height: u32,
    pub bars: Vec<Bar>,
    pub max: u64,
}

const WIDTH: u32 = 720;
const PLOT_HEIGHT: u32 = 200;
const LEFT: u32 = 40;

impl BarChart {
    /// One bar per UTC day from `from` to `to`, days without a lead at zero.
    pub fn per_day(
        by_day: &[(DateTime<Utc>, u64)],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Self {
        let first = from.date_naive();
        let days = (to.date_naive() - first).num_days().max(0) as u32 + 1;
        let count = |day: chrono::NaiveDate| {
            by_day
                .iter()
                .filter(|(at, _)| at.date_naive() == day)
                .map(|(_, n)| *n)
                .sum::<u64>()
        };
        let values: Vec<(chrono::NaiveDate, u64)> = (0..days)
            .map(|i| {
                let day = first + Duration::days(i64::from(i));
                (day, count(day))
            })
            .collect();
        let max = values.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
        let slot = (WIDTH - LEFT) / days.max(1);
        let bars = values
            .iter()
            .enumerate()
            .map(|(i, (day, value))| {
                let height = (u64::from(PLOT_HEIGHT) * value / max) as u32;
                Bar {
                    x: LEFT + i as u32 * slot + 1,
                    y: PLOT_HEIGHT - height + 10,
                    width: slot.saturating_sub(2).max(1),
                    height,
                    day: day.format("%Y-%m-%d").to_string(),
                    value: *value,
                    label_below: i % 7 == 0,
                }
            })
            .collect();
        BarChart {
            width: WIDTH,
            height: PLOT_HEIGHT + 40,
            plot_height: PLOT_HEIGHT + 10,
            bars,
            max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_as_tall_as_their_share_of_the_busiest_day() {
        let from = DateTime::parse_from_rfc3339("2026-11-01T12:00:00Z")
            .unwrap()
            .to_utc();
        let to = from + Duration::days(2);
        let day = |d: &str| DateTime::parse_from_rfc3339(d).unwrap().to_utc();
        let chart = BarChart::per_day(
            &[
                (day("2026-11-01T00:00:00Z"), 4),
                (day("2026-11-03T00:00:00Z"), 2),
            ],
            from,
            to,
        );
        let heights: Vec<(String, u64, u32)> = chart
            .bars
            .iter()
            .map(|b| (b.day.clone(), b.value, b.height))
            .collect();
        assert_eq!(
            heights,
            [
                ("2026-11-01".into(), 4, 200),
                ("2026-11-02".into(), 0, 0),
                ("2026-11-03".into(), 2, 100)
            ]
        );
        assert_eq!(chart.max, 4);
    }
}
