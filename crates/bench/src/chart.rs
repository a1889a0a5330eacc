//! `throughput.svg`: accepted leads/s and p99 latency (log scale) by connections, one
//! line per scenario, drawn with plotters' SVG backend (text is left to the viewer's
//! fonts: no font files or C libraries are needed to draw it).

use std::ops::Range;

use plotters::{
    coord::{
        Shift,
        ranged1d::{DefaultFormatting, KeyPointHint, Ranged},
    },
    prelude::*,
};

use crate::{
    format::thousands,
    results::{Level, Results},
    server::Backend,
};

/// The chart's size in pixels.
const SIZE: (u32, u32) = (960, 420);

/// Height of the legend's strip under the panels.
const LEGEND_HEIGHT: u32 = 32;

/// Each scenario's colour, in the legend's order.
const COLOURS: [(Backend, RGBColor); 4] = [
    (Backend::Ceiling, RGBColor(0x7f, 0x7f, 0x7f)),
    (Backend::Sqlite, RGBColor(0x1f, 0x77, 0xb4)),
    (Backend::Postgres, RGBColor(0x2c, 0xa0, 0x2c)),
    (Backend::Mariadb, RGBColor(0xff, 0x7f, 0x0e)),
];

const FONT: &str = "sans-serif";

/// The chart of `results`' ingest levels, as an SVG document. Drawing into a string
/// fails only on a range plotters cannot map, which would be a bug here.
pub fn svg(results: &Results) -> std::io::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, results)
            .map_err(|error| std::io::Error::other(format!("drawing the chart: {error}")))?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawError = DrawingAreaErrorKind<std::io::Error>;
type Panel<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>;

fn draw(root: &Area<'_>, results: &Results) -> Result<(), DrawError> {
    root.fill(&WHITE)?;
    let body = root.titled(
        &format!(
            "Lead Inbox ingest, {} s per level ({}){}",
            results.seconds_per_level,
            results.started_at,
            if results.smoke { " — smoke run" } else { "" }
        ),
        (FONT, 19),
    )?;
    let (panels, legend) = body.split_vertically(body.dim_in_pixel().1 - LEGEND_HEIGHT);
    let (rate_area, latency_area) = panels.split_horizontally(SIZE.0 / 2);

    let mut connections: Vec<usize> = results.levels.iter().map(|l| l.connections).collect();
    connections.sort_unstable();
    connections.dedup();
    // Connection counts are spaced evenly (1, 8, 32, 128, 512 are no scale), each a
    // tick labelled with its count.
    let position = |level: &Level| {
        connections
            .iter()
            .position(|&c| c == level.connections)
            .unwrap_or(0) as f64
    };
    let last = connections.len().saturating_sub(1) as f64;
    let x_axis = || {
        Axis::linear(
            -0.3..last + 0.3,
            (0..connections.len()).map(|i| i as f64).collect(),
        )
    };
    let x_label = |x: &f64| {
        connections
            .get(x.round().max(0.0) as usize)
            .map(|c| c.to_string())
            .unwrap_or_default()
    };

    let max_rate = results
        .levels
        .iter()
        .map(|l| l.accepted_per_s)
        .fold(1.0, f64::max);
    // About five round ticks, the highest at or above the fastest level.
    let rate_step = nice_step(max_rate / 5.0);
    let rate_ticks = (max_rate / rate_step).ceil() as usize;
    let rate_axis = Axis::linear(
        0.0..rate_ticks as f64 * rate_step,
        (0..=rate_ticks).map(|i| i as f64 * rate_step).collect(),
    );
    let mut rate_chart = panel(
        &rate_area,
        "accepted leads/s",
        (x_axis(), &x_label),
        (rate_axis, &|v| thousands(*v)),
    )?;

    let max_p99 = results
        .levels
        .iter()
        .map(|l| l.latency.p99_ms)
        .fold(1.0, f64::max);
    // A tick per power of ten, from 0.1 ms to the first at or above the slowest p99.
    let decades = max_p99.log10().ceil().max(0.0) as i32;
    let latency_axis = Axis::log(
        0.1..10f64.powi(decades),
        (-1..=decades).map(|e| 10f64.powi(e)).collect(),
    );
    let latency_label = |v: &f64| {
        if *v < 1.0 {
            format!("{v:.1}")
        } else {
            thousands(*v)
        }
    };
    let mut latency_chart = panel(
        &latency_area,
        "p99 latency, ms (log scale)",
        (x_axis(), &x_label),
        (latency_axis, &latency_label),
    )?;

    let mut legend_x = 80;
    for (backend, colour) in COLOURS {
        let levels: Vec<&Level> = results
            .levels
            .iter()
            .filter(|l| l.backend == backend)
            .collect();
        if levels.is_empty() {
            continue;
        }
        // The log scale starts at 0.1 ms: a p99 under it sits on the axis.
        let p99 = |l: &Level| l.latency.p99_ms.max(0.1);
        for (chart, value) in [
            (
                &mut rate_chart,
                &(|l: &Level| l.accepted_per_s) as &dyn Fn(&Level) -> f64,
            ),
            (&mut latency_chart, &p99),
        ] {
            chart.draw_series(LineSeries::new(
                levels.iter().map(|l| (position(l), value(l))),
                colour.stroke_width(2),
            ))?;
            chart.draw_series(
                levels
                    .iter()
                    .map(|l| Circle::new((position(l), value(l)), 3, colour.filled())),
            )?;
        }
        legend.draw(&Rectangle::new(
            [(legend_x, 12), (legend_x + 14, 16)],
            colour.filled(),
        ))?;
        legend.draw(&Text::new(
            backend.label(),
            (legend_x + 20, 8),
            (FONT, 15).into_font(),
        ))?;
        legend_x += 190;
    }
    root.present()
}

/// An axis of the chart, titled `title`, with its grid and labels drawn: each axis
/// with the function that writes its labels.
fn panel<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
    (x, x_label): (Axis, &dyn Fn(&f64) -> String),
    (y, y_label): (Axis, &dyn Fn(&f64) -> String),
) -> Result<Panel<'a, 'b>, DrawError> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 15).into_font().style(FontStyle::Bold))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(0xe5, 0xe5, 0xe5))
        .x_desc("connections")
        .x_label_formatter(x_label)
        .y_label_formatter(y_label)
        .label_style((FONT, 15))
        .draw()?;
    Ok(chart)
}

/// An axis with the ticks given, linear or in powers of ten. (Plotters' own `f64` axes
/// pick their ticks themselves, and binding other ticks to them loses their labels'
/// formatting.)
struct Axis {
    range: Range<f64>,
    ticks: Vec<f64>,
    log: bool,
}

impl Axis {
    fn linear(range: Range<f64>, ticks: Vec<f64>) -> Axis {
        Axis {
            range,
            ticks,
            log: false,
        }
    }

    fn log(range: Range<f64>, ticks: Vec<f64>) -> Axis {
        Axis {
            range,
            ticks,
            log: true,
        }
    }

    /// Where `value` falls on the axis: 0 at its start, 1 at its end.
    fn share(&self, value: f64) -> f64 {
        let scale = |v: f64| if self.log { v.log10() } else { v };
        let (start, end) = (scale(self.range.start), scale(self.range.end));
        (scale(value) - start) / (end - start)
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        limit.0 + (f64::from(limit.1 - limit.0) * self.share(*value)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// A round step (1, 2 or 5 × 10^n) at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::testing::{level, results};

    #[test]
    fn axes_map_linearly_or_by_powers_of_ten() {
        let linear = Axis::linear(0.0..100.0, vec![0.0, 50.0, 100.0]);
        assert_eq!(linear.map(&25.0, (0, 400)), 100);
        assert_eq!(linear.map(&25.0, (400, 0)), 300, "y axes run upwards");
        let log = Axis::log(0.1..10.0, vec![0.1, 1.0, 10.0]);
        assert_eq!(log.map(&1.0, (0, 400)), 200);
        assert_eq!(log.map(&10.0, (0, 400)), 400);
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(1300.0), 2000.0);
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(100.0), 100.0);
    }

    #[test]
    fn each_scenario_is_a_line_in_both_panels_with_the_connections_as_labels() {
        let run = results(vec![
            level(Backend::Ceiling, 8, 10_000.0, 4.0, 20.0),
            level(Backend::Ceiling, 32, 12_000.0, 6.0, 20.0),
            level(Backend::Sqlite, 8, 5_000.0, 8.0, 30.0),
            level(Backend::Sqlite, 32, 5_500.0, 0.05, 30.0),
        ]);
        let svg = svg(&run).expect("a chart");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        for colour in ["#7F7F7F", "#1F77B4"] {
            let line = format!(r#"stroke="{colour}" stroke-width="2""#);
            assert_eq!(svg.matches(&line).count(), 2, "a line per panel: {svg}");
            let point = format!(r#"r="3" opacity="1" fill="{colour}""#);
            assert_eq!(svg.matches(&point).count(), 4, "a point per level: {svg}");
        }
        for text in [
            "accepted leads/s",
            "p99 latency, ms (log scale)",
            "ceiling (no storing)",
            "SQLite",
            "32",
            "10,000",
            "15,000",
            "0.1",
            "10",
        ] {
            assert!(svg.contains(&format!(">\n{text}\n<")), "{text} in {svg}");
        }
        assert!(!svg.contains("PostgreSQL"), "no line for what was not run");
        assert!(!svg.contains("#2CA02C"), "no line for what was not run");
    }
}
