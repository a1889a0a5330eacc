//! The results: progress lines, the Markdown tables (every figure beside its ratio to
//! the ceiling), the issue's targets checked, the JSON, and the chart (hand-written
//! SVG: no plotting dependency for two line charts).

use std::{fmt::Write as _, path::Path};

use crate::{
    Export, Level, OpenLoop, Read, Results, Startup,
    floor::Floor,
    probes,
    server::Backend,
    stats::{Latency, ratio},
};

/// `12345.6` → `12,346`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn times(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) if r >= 10.0 => format!("{r:.0}×"),
        Some(r) => format!("{r:.2}×"),
        None => "–".into(),
    }
}

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

pub fn level_line(level: &Level) -> String {
    format!(
        "  {:<22} {:>4} conns: {:>9} accepted/s  p50 {:>7} ms  p99 {:>7} ms  p99.9 {:>7} ms  errors {:>5}  peak RSS {:>5.1} MB  CPU server {:.2} bench {:.2} others {:.2}{}",
        level.backend.label(),
        level.connections,
        thousands(level.accepted_per_s),
        ms(level.latency.p50_ms),
        ms(level.latency.p99_ms),
        ms(level.latency.p999_ms),
        level.tally.error_count(),
        level.peak_rss_mb.unwrap_or(0.0),
        level.server_cpu_cores,
        level.bench_cpu_cores,
        level.other_cpu_cores,
        match (level.verified, level.stored) {
            (Some(true), Some(stored)) => format!("  stored {stored} = distinct created ✓"),
            (Some(false), Some(stored)) => format!(
                "  stored {stored} ≠ distinct created {} ✗",
                level.distinct_created
            ),
            _ => String::new(),
        }
    )
}

pub fn floor_line(floor: &Floor) -> String {
    format!(
        "  {} storage floor: {} writer(s) × {} leads: {} leads/s, batch p50 {} ms p99 {} ms, CPU this process {:.2} others {:.2}{}",
        floor.backend.label(),
        floor.writers,
        floor.batch,
        thousands(floor.leads_per_s),
        ms(floor.batch_latency.p50_ms),
        ms(floor.batch_latency.p99_ms),
        floor.process_cpu_cores,
        floor.other_cpu_cores,
        if floor.verified {
            format!("  stored {} = created ✓", floor.stored)
        } else {
            format!("  stored {} ≠ created {} ✗", floor.stored, floor.created)
        }
    )
}

/// The fastest floor of `backend` in this run.
fn floor_of(results: &Results, backend: Backend) -> Option<&Floor> {
    results
        .floors
        .iter()
        .filter(|f| f.backend == backend)
        .max_by(|a, b| a.leads_per_s.total_cmp(&b.leads_per_s))
}

/// The storage floors, each as a ratio to the ceiling at the connections whose
/// batches it forms, and the durable level there as a share of it.
fn floor_table(md: &mut String, results: &Results) {
    let _ = writeln!(
        md,
        "\n### Storage floor (the storage library alone, no HTTP)\n\nThe server's storage calls (`insert_batch`, with SQLite's upkeep task beside them) kept busy with as many new leads of the load's payload in flight as there are connections, in one batch or split over the writers the server runs: the faster bounds what durable ingest at that many connections can reach on this machine. CPU: cores of {} used by this process (building the leads and storing them) / other processes (the database server among them).\n\n| database | leads in flight | writers × leads per batch | leads/s | × ceiling at as many connections | ingest there, × floor | batch p50 ms | batch p99 ms | CPU | stored = created |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
        results.machine.cpus
    );
    for floor in &results.floors {
        let in_flight = floor.writers * floor.batch;
        let ceiling = ceiling_at(results, in_flight).map(|c| c.accepted_per_s);
        let ingest = results
            .levels
            .iter()
            .find(|l| l.backend == floor.backend && l.connections == in_flight)
            .map(|l| l.accepted_per_s);
        let _ = writeln!(
            md,
            "| {} | {} | {} × {} | {} | {} | {} | {} | {} | {:.2} / {:.2} | {} |",
            floor.backend.label(),
            in_flight,
            floor.writers,
            floor.batch,
            thousands(floor.leads_per_s),
            times(ratio(floor.leads_per_s, ceiling)),
            times(ingest.and_then(|rate| ratio(rate, Some(floor.leads_per_s)))),
            ms(floor.batch_latency.p50_ms),
            ms(floor.batch_latency.p99_ms),
            floor.process_cpu_cores,
            floor.other_cpu_cores,
            if floor.verified {
                format!("✓ {}", thousands(floor.stored as f64))
            } else {
                format!("✗ {} ≠ {}", floor.stored, floor.created)
            }
        );
    }
}

pub fn open_loop_line(open: &OpenLoop) -> String {
    format!(
        "  {} at 80% of its best ({} req/s offered, {} connections, open loop): p99 {} ms; ceiling at the same rate: p99 {} ms",
        open.backend.label(),
        thousands(open.rate_per_s),
        open.connections,
        ms(open.latency.p99_ms),
        ms(open.ceiling_latency.p99_ms)
    )
}

pub fn startup_line(startup: &Startup) -> String {
    format!(
        "  {}: start to ready on a database of {} leads: median {} ms, max {} ms ({} starts)",
        startup.backend.label(),
        thousands(startup.leads_in_database as f64),
        ms(startup.median_ms),
        ms(startup.max_ms),
        startup.samples
    )
}

pub fn read_line(read: &Read) -> String {
    format!(
        "  {}: {} out of {} leads, {} connection(s): {} req/s, p50 {} ms, p99 {} ms, p99.9 {} ms over {} requests, errors {}, CPU {}",
        read.backend.label(),
        read.probe,
        thousands(read.leads_in_database as f64),
        read.connections,
        rate(read.requests_per_s),
        ms(read.latency.p50_ms),
        ms(read.latency.p99_ms),
        ms(read.latency.p999_ms),
        read.latency.samples,
        read.errors,
        cores(
            read.server_cpu_cores,
            read.bench_cpu_cores,
            read.other_cpu_cores
        )
    )
}

/// CPU cores of the server / the benchmark / other processes.
fn cores(server: f64, bench: f64, others: f64) -> String {
    format!("{server:.2} / {bench:.2} / {others:.2}")
}

/// Requests a second: whole numbers, or one decimal under 10.
fn rate(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.1}")
    } else {
        thousands(value)
    }
}

fn mb(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{v:.1}"))
}

/// An export's figures, formatted once for the console line and the table row.
struct ExportCells {
    backend: &'static str,
    leads: String,
    format: &'static str,
    seconds: String,
    leads_per_s: String,
    mb: String,
    mb_per_s: String,
    first_byte_ms: String,
    rss_before_mb: String,
    rss_peak_mb: String,
    cpu: String,
    check: String,
}

impl ExportCells {
    fn of(export: &Export) -> ExportCells {
        ExportCells {
            backend: export.backend.label(),
            leads: thousands(export.leads_in_database as f64),
            format: export.format,
            seconds: format!("{:.1}", export.seconds),
            leads_per_s: thousands(export.leads_per_s),
            mb: format!("{:.0}", export.bytes as f64 / 1e6),
            mb_per_s: format!("{:.1}", export.mb_per_s),
            first_byte_ms: ms(export.first_byte_ms),
            rss_before_mb: mb(export.rss_before_mb),
            rss_peak_mb: mb(export.rss_peak_mb),
            cpu: cores(
                export.server_cpu_cores,
                export.bench_cpu_cores,
                export.other_cpu_cores,
            ),
            check: match &export.problem {
                Some(problem) => format!("✗ {problem}"),
                None => format!("✓ {} lines", thousands(export.lines as f64)),
            },
        }
    }
}

pub fn export_line(export: &Export) -> String {
    let c = ExportCells::of(export);
    format!(
        "  {}: export of {} leads as {}: {} s, {} leads/s, {} MB ({} MB/s), first byte {} ms, server RSS {} MB before, peak {} MB, CPU {}  {}",
        c.backend,
        c.leads,
        c.format,
        c.seconds,
        c.leads_per_s,
        c.mb,
        c.mb_per_s,
        c.first_byte_ms,
        c.rss_before_mb,
        c.rss_peak_mb,
        c.cpu,
        c.check,
    )
}

fn ceiling_at(results: &Results, connections: usize) -> Option<&Level> {
    results
        .levels
        .iter()
        .find(|l| l.backend == Backend::Ceiling && l.connections == connections)
}

/// One of the issue's targets, and how this run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub what: String,
    pub measured: String,
    pub met: bool,
}

/// The issue's targets, for whatever this run measured.
pub fn targets(results: &Results) -> Vec<Target> {
    let mut out = Vec::new();
    for (backend, at_least) in [(Backend::Sqlite, 0.5), (Backend::Postgres, 0.3)] {
        let durable = results
            .levels
            .iter()
            .find(|l| l.backend == backend && l.connections == 32);
        if let (Some(durable), Some(ceiling)) = (durable, ceiling_at(results, 32))
            && let Some(r) = ratio(durable.accepted_per_s, Some(ceiling.accepted_per_s))
        {
            out.push(Target {
                what: format!(
                    "{} durable ingest at 32 connections ≥ {at_least}× the ceiling",
                    backend.label()
                ),
                measured: format!(
                    "{:.2}× ({} vs {} accepted leads/s){}",
                    r,
                    thousands(durable.accepted_per_s),
                    thousands(ceiling.accepted_per_s),
                    floor_of(results, backend)
                        .and_then(|floor| {
                            ratio(floor.leads_per_s, Some(ceiling.accepted_per_s)).map(|f| {
                                format!(
                                    "; the storage library alone reaches {} leads/s, {f:.2}×",
                                    thousands(floor.leads_per_s)
                                )
                            })
                        })
                        .unwrap_or_default()
                ),
                met: r >= at_least,
            });
        }
    }
    for open in &results.open_loop {
        let limit = open.ceiling_latency.p99_ms + 2.0;
        out.push(Target {
            what: format!(
                "{}: p99 at 80% of the maximum throughput ≤ the ceiling's p99 + 2 ms",
                open.backend.label()
            ),
            measured: format!(
                "{} ms vs {} + 2 = {} ms (at {} req/s)",
                ms(open.latency.p99_ms),
                ms(open.ceiling_latency.p99_ms),
                ms(limit),
                thousands(open.rate_per_s)
            ),
            met: open.latency.p99_ms <= limit,
        });
    }
    for level in results.levels.iter().filter(|l| l.connections == 512) {
        if let Some(rss) = level.peak_rss_mb {
            out.push(Target {
                what: format!(
                    "{}: peak RSS ≤ 64 MB at 512 connections",
                    level.backend.label()
                ),
                measured: format!("{rss:.1} MB"),
                met: rss <= 64.0,
            });
        }
    }
    for startup in &results.startup {
        out.push(Target {
            what: format!(
                "{}: start to ready ≤ 200 ms on an existing database",
                startup.backend.label()
            ),
            measured: format!(
                "max {} ms, median {} ms over {} starts ({} leads)",
                ms(startup.max_ms),
                ms(startup.median_ms),
                startup.samples,
                thousands(startup.leads_in_database as f64)
            ),
            met: startup.max_ms <= 200.0,
        });
    }
    for read in results
        .read
        .iter()
        .filter(|read| read.probe == probes::LIST)
    {
        out.push(Target {
            what: format!(
                "{}: filtered list of 50 out of {} leads, p99 ≤ 20 ms ({} connection{})",
                read.backend.label(),
                thousands(read.leads_in_database as f64),
                read.connections,
                if read.connections == 1 { "" } else { "s" }
            ),
            measured: format!("p99 {} ms", ms(read.latency.p99_ms)),
            met: read.latency.p99_ms <= 20.0 && read.errors == 0,
        });
    }
    out
}

fn latency_cells(latency: &Latency, ceiling: Option<&Latency>) -> String {
    format!(
        "{} | {} | {} | {} | {} | {}",
        ms(latency.p50_ms),
        times(ratio(latency.p50_ms, ceiling.map(|c| c.p50_ms))),
        ms(latency.p99_ms),
        times(ratio(latency.p99_ms, ceiling.map(|c| c.p99_ms))),
        ms(latency.p999_ms),
        times(ratio(latency.p999_ms, ceiling.map(|c| c.p999_ms))),
    )
}

/// The results as Markdown: the tables docs/benchmarks.md shows.
pub fn markdown(results: &Results) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Run of {}{} ({:.0} s in all{}), {} s measured per level after a warm-up. Machine: {} × {}, {:.0} GiB, {}, kernel {}.{}{}\n",
        results.started_at,
        results
            .commit
            .as_ref()
            .map(|c| format!(" at commit {c}"))
            .unwrap_or_default(),
        results.total_seconds,
        if results.smoke {
            ", SMOKE RUN: figures not meaningful"
        } else {
            ""
        },
        results.seconds_per_level,
        results.machine.cpus,
        results.machine.cpu_model,
        results.machine.memory_gib,
        results.machine.disk,
        results.machine.kernel,
        results
            .machine
            .postgres_version
            .as_ref()
            .map(|v| format!(" PostgreSQL {v}."))
            .unwrap_or_default(),
        results
            .machine
            .mariadb_version
            .as_ref()
            .map(|v| format!(" MariaDB {v}."))
            .unwrap_or_default(),
    );
    if !results.server_env.is_empty() {
        let _ = writeln!(md, "Server settings: `{}`\n", results.server_env.join(" "));
    }
    if !results.levels.is_empty() {
        ingest_tables(&mut md, results);
    }
    if !results.floors.is_empty() {
        floor_table(&mut md, results);
    }
    if !results.startup.is_empty() {
        let _ = writeln!(
            md,
            "\n### Start to ready on an existing database\n\n| database | leads in it | starts | median ms | max ms |\n|---|---:|---:|---:|---:|"
        );
        for startup in &results.startup {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                startup.backend.label(),
                thousands(startup.leads_in_database as f64),
                startup.samples,
                ms(startup.median_ms),
                ms(startup.max_ms)
            );
        }
    }
    if !results.read.is_empty() {
        read_table(&mut md, results);
    }
    if !results.exports.is_empty() {
        export_table(&mut md, &results.exports);
    }
    let targets = targets(results);
    if !targets.is_empty() {
        let _ = writeln!(
            md,
            "\n### The issue's targets\n\n| target | measured | met |\n|---|---|---|"
        );
        for target in &targets {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                target.what,
                target.measured,
                if target.met { "yes" } else { "**no**" }
            );
        }
    }
    if !results.failures.is_empty() {
        let _ = writeln!(md, "\n### Failed checks\n");
        for failure in &results.failures {
            let _ = writeln!(md, "- {failure}");
        }
    }
    md
}

/// The read-path probes, one row per probe and connection count.
fn read_table(md: &mut String, results: &Results) {
    let mut generated: Vec<String> = Vec::new();
    for read in &results.read {
        let line = format!(
            "{} {} in {:.0} s",
            read.backend.label(),
            thousands(read.leads_in_database as f64),
            read.seed_seconds
        );
        if !generated.contains(&line) {
            generated.push(line);
        }
    }
    let _ = writeln!(
        md,
        "\n### Read path on generated leads\n\nLeads generated through the storage library: {}. Each probe is measured at 1 connection, and at more when its p99 there is under 100 ms; percentiles are over the `requests` column (with fewer than 100, p99 is the slowest). Every answer was checked against the generated data (`checked`). CPU: cores of {} used by the server / the load generator / other processes (the database server among them) while the probe ran.\n\n| database | probe | request | conns | requests | req/s | p50 ms | p99 ms | p99.9 ms | checked | errors | CPU |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
        generated.join("; "),
        results.machine.cpus
    );
    for read in &results.read {
        let errors = if read.error_kinds.is_empty() {
            "0".to_owned()
        } else {
            read.error_kinds
                .iter()
                .map(|(what, n)| format!("{n} {what}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            md,
            "| {} | {} | `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            read.backend.label(),
            read.probe,
            read.request,
            read.connections,
            thousands(read.latency.samples as f64),
            rate(read.requests_per_s),
            ms(read.latency.p50_ms),
            ms(read.latency.p99_ms),
            ms(read.latency.p999_ms),
            thousands(read.checked as f64),
            errors,
            cores(
                read.server_cpu_cores,
                read.bench_cpu_cores,
                read.other_cpu_cores
            )
        );
    }
}

/// The full exports: time, rate, size and the server's memory.
fn export_table(md: &mut String, exports: &[Export]) {
    let _ = writeln!(
        md,
        "\n### Export of every lead: `GET /api/v1/leads/export?format=…`\n\nOne request, the body read as it streams in. Server RSS: its resident set just before the export, and its peak during it (`VmHWM`, reset before the export{}).\n\n| database | format | leads | seconds | leads/s | MB | MB/s | first byte ms | server RSS before MB | peak MB | CPU | check |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        if exports.iter().all(|e| e.peak_reset) {
            ""
        } else {
            "; where that was not allowed, the peak since the server started"
        }
    );
    for export in exports {
        let c = ExportCells::of(export);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.backend,
            c.format,
            c.leads,
            c.seconds,
            c.leads_per_s,
            c.mb,
            c.mb_per_s,
            c.first_byte_ms,
            c.rss_before_mb,
            c.rss_peak_mb,
            c.cpu,
            c.check,
        );
    }
}

/// The ingest tables: the closed-loop levels with their CPU line, and the open loop.
fn ingest_tables(md: &mut String, results: &Results) {
    let _ = writeln!(md, "### Ingest (closed loop, the issue's mix)\n");
    let _ = writeln!(
        md,
        "| scenario | conns | accepted leads/s | × ceiling | p50 ms | × | p99 ms | × | p99.9 ms | × | errors | peak RSS MB | × | stored = distinct `created` |"
    );
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for level in &results.levels {
        let ceiling = ceiling_at(results, level.connections);
        let check = match (level.verified, level.stored) {
            (Some(true), Some(stored)) => format!("✓ {}", thousands(stored as f64)),
            (Some(false), Some(stored)) => format!(
                "✗ {} ≠ {}",
                thousands(stored as f64),
                thousands(level.distinct_created as f64)
            ),
            _ => "– (stores nothing)".into(),
        };
        let errors = if level.tally.errors.is_empty() {
            "0".to_owned()
        } else {
            level
                .tally
                .errors
                .iter()
                .map(|(what, n)| format!("{n} {what}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            level.backend.label(),
            level.connections,
            thousands(level.accepted_per_s),
            times(ratio(
                level.accepted_per_s,
                ceiling.map(|c| c.accepted_per_s)
            )),
            latency_cells(&level.latency, ceiling.map(|c| &c.latency)),
            errors,
            level
                .peak_rss_mb
                .map(|r| format!("{r:.1}"))
                .unwrap_or_else(|| "–".into()),
            times(ratio(
                level.peak_rss_mb.unwrap_or(0.0),
                ceiling.and_then(|c| c.peak_rss_mb)
            )),
            check
        );
    }
    let busiest = results
        .levels
        .iter()
        .map(|l| l.other_cpu_cores)
        .fold(0.0, f64::max);
    let _ = writeln!(
        md,
        "\nCPU during the measured windows, in cores of {} (server / load generator / other processes): {}.{}",
        results.machine.cpus,
        results
            .levels
            .iter()
            .map(|l| format!(
                "{} {}: {:.2} / {:.2} / {:.2}",
                l.backend.name(),
                l.connections,
                l.server_cpu_cores,
                l.bench_cpu_cores,
                l.other_cpu_cores
            ))
            .collect::<Vec<_>>()
            .join("; "),
        if busiest > 0.2 {
            format!(
                " **Other processes used up to {busiest:.2} cores during a level: those figures are disturbed.**"
            )
        } else {
            String::new()
        }
    );
    if !results.open_loop.is_empty() {
        let _ = writeln!(
            md,
            "\n### p99 at 80% of the maximum throughput (open loop)\n\n| scenario | best req/s (closed loop) | offered req/s | conns | achieved req/s | p50 ms | p99 ms | p99.9 ms | errors | ceiling at the same rate: p50 / p99 / p99.9 ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for open in &results.open_loop {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} |",
                open.backend.label(),
                thousands(open.best_requests_per_s),
                thousands(open.rate_per_s),
                open.connections,
                thousands(open.achieved_per_s),
                ms(open.latency.p50_ms),
                ms(open.latency.p99_ms),
                ms(open.latency.p999_ms),
                open.errors,
                ms(open.ceiling_latency.p50_ms),
                ms(open.ceiling_latency.p99_ms),
                ms(open.ceiling_latency.p999_ms),
            );
        }
    }
}

const COLOURS: [(Backend, &str); 4] = [
    (Backend::Ceiling, "#7f7f7f"),
    (Backend::Sqlite, "#1f77b4"),
    (Backend::Postgres, "#2ca02c"),
    (Backend::Mariadb, "#ff7f0e"),
];

/// Two panels: accepted leads/s and p99 latency (log scale) by connections, one line
/// per scenario.
pub fn svg(results: &Results) -> String {
    let mut connections: Vec<usize> = results.levels.iter().map(|l| l.connections).collect();
    connections.sort_unstable();
    connections.dedup();
    let (width, height) = (960.0, 420.0);
    let (top, bottom, left_margin, panel_width) = (60.0, 360.0, 80.0, 380.0);
    let panels = [left_margin, left_margin + panel_width + 90.0];
    let x_of = |panel: f64, c: usize| {
        let index = connections.iter().position(|&x| x == c).unwrap_or(0) as f64;
        let steps = (connections.len().max(2) - 1) as f64;
        panel + 20.0 + index * (panel_width - 40.0) / steps
    };
    let max_rate = results
        .levels
        .iter()
        .map(|l| l.accepted_per_s)
        .fold(1.0, f64::max);
    let rate_step = nice_step(max_rate / 5.0);
    let rate_top = (max_rate / rate_step).ceil() * rate_step;
    let y_rate = |v: f64| bottom - (v / rate_top) * (bottom - top);
    let max_p99 = results
        .levels
        .iter()
        .map(|l| l.latency.p99_ms)
        .fold(1.0, f64::max);
    let (log_low, log_high) = (-1.0f64, max_p99.log10().ceil().max(0.0));
    let y_latency = |v: f64| {
        let v = v.max(0.1).log10();
        bottom - (v - log_low) / (log_high - log_low) * (bottom - top)
    };
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">Lead Inbox ingest, {} s per level ({}){}</text>"#,
        width / 2.0,
        results.seconds_per_level,
        results.started_at,
        if results.smoke { " — smoke run" } else { "" }
    );
    for (panel, title) in panels
        .iter()
        .zip(["accepted leads/s", "p99 latency, ms (log scale)"])
    {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">{title}</text>"#,
            panel + panel_width / 2.0,
            top - 10.0
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{panel}" y1="{bottom}" x2="{}" y2="{bottom}" stroke="#333"/><line x1="{panel}" y1="{top}" x2="{panel}" y2="{bottom}" stroke="#333"/>"##,
            panel + panel_width
        );
        for &c in &connections {
            let x = x_of(*panel, c);
            let _ = writeln!(
                svg,
                r#"<text x="{x}" y="{}" text-anchor="middle">{c}</text>"#,
                bottom + 16.0
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">connections</text>"#,
            panel + panel_width / 2.0,
            bottom + 34.0
        );
    }
    let mut tick = 0.0;
    while tick <= rate_top + rate_step / 2.0 {
        let y = y_rate(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#e5e5e5"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            panels[0],
            panels[0] + panel_width,
            panels[0] - 6.0,
            y + 4.0,
            thousands(tick)
        );
        tick += rate_step;
    }
    let mut exponent = log_low as i32;
    while exponent <= log_high as i32 {
        let value = 10f64.powi(exponent);
        let y = y_latency(value);
        let label = if exponent < 0 {
            format!("{value:.1}")
        } else {
            thousands(value)
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#e5e5e5"/><text x="{}" y="{}" text-anchor="end">{label}</text>"##,
            panels[1],
            panels[1] + panel_width,
            panels[1] - 6.0,
            y + 4.0
        );
        exponent += 1;
    }
    let mut legend_x = panels[0];
    for (backend, colour) in COLOURS {
        let levels: Vec<&Level> = results
            .levels
            .iter()
            .filter(|l| l.backend == backend)
            .collect();
        if levels.is_empty() {
            continue;
        }
        for (panel, value) in [
            (
                panels[0],
                &(|l: &Level| y_rate(l.accepted_per_s)) as &dyn Fn(&Level) -> f64,
            ),
            (panels[1], &|l: &Level| y_latency(l.latency.p99_ms)),
        ] {
            let points: Vec<String> = levels
                .iter()
                .map(|l| format!("{:.1},{:.1}", x_of(panel, l.connections), value(l)))
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                points.join(" ")
            );
            for l in &levels {
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"/>"#,
                    x_of(panel, l.connections),
                    value(l)
                );
            }
        }
        let _ = writeln!(
            svg,
            r#"<rect x="{legend_x}" y="{}" width="14" height="4" fill="{colour}"/><text x="{}" y="{}">{}</text>"#,
            height - 16.0,
            legend_x + 20.0,
            height - 11.0,
            backend.label()
        );
        legend_x += 190.0;
    }
    let _ = writeln!(svg, "</svg>");
    svg
}

/// A round step (1, 2 or 5 × 10^n) at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
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

/// Writes results.json, results.md and (when ingest was measured) throughput.svg into
/// `out`.
pub fn write(out: &Path, results: &Results, markdown: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let json = serde_json::to_string_pretty(results).map_err(std::io::Error::other)?;
    std::fs::write(out.join("results.json"), json + "\n")?;
    std::fs::write(out.join("results.md"), markdown)?;
    if !results.levels.is_empty() {
        std::fs::write(out.join("throughput.svg"), svg(results))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Machine, stats::Tally};

    fn level(backend: Backend, connections: usize, rate: f64, p99: f64, rss: f64) -> Level {
        Level {
            backend,
            connections,
            seconds: 10.0,
            requests_per_s: rate / 0.98,
            accepted_per_s: rate,
            latency: Latency {
                samples: 1000,
                p50_ms: p99 / 4.0,
                p99_ms: p99,
                p999_ms: p99 * 2.0,
                max_ms: p99 * 3.0,
            },
            tally: Tally::default(),
            peak_rss_mb: Some(rss),
            server_cpu_cores: 1.0,
            bench_cpu_cores: 0.5,
            other_cpu_cores: 0.0,
            start_to_ready_ms: 20.0,
            distinct_created: 100,
            created_answers: 100,
            stored: backend.is_durable().then_some(100),
            verified: backend.is_durable().then_some(true),
        }
    }

    fn results(levels: Vec<Level>) -> Results {
        Results {
            started_at: "2026-01-01 00:00 UTC".into(),
            commit: None,
            command: "lead-inbox-bench".into(),
            smoke: false,
            seconds_per_level: 10.0,
            server_env: Vec::new(),
            machine: Machine {
                cpus: 2,
                cpu_model: "test".into(),
                memory_gib: 1.0,
                kernel: "k".into(),
                disk: "d".into(),
                postgres_version: None,
                mariadb_version: None,
            },
            levels,
            floors: Vec::new(),
            open_loop: Vec::new(),
            startup: Vec::new(),
            read: Vec::new(),
            exports: Vec::new(),
            failures: Vec::new(),
            total_seconds: 1.0,
        }
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234.5), "1,234");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(nice_step(1300.0), 2000.0);
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(100.0), 100.0);
    }

    #[test]
    fn targets_compare_with_the_ceiling_of_the_same_run() {
        let run = results(vec![
            level(Backend::Ceiling, 32, 10_000.0, 4.0, 20.0),
            level(Backend::Sqlite, 32, 6_000.0, 8.0, 30.0),
            level(Backend::Postgres, 32, 2_000.0, 20.0, 30.0),
            level(Backend::Sqlite, 512, 5_000.0, 90.0, 70.0),
        ]);
        let targets = targets(&run);
        let sqlite = targets
            .iter()
            .find(|t| t.what.starts_with("SQLite durable"))
            .expect("the SQLite target");
        assert!(sqlite.met, "{sqlite:?}");
        assert!(sqlite.measured.starts_with("0.60×"), "{sqlite:?}");
        let postgres = targets
            .iter()
            .find(|t| t.what.starts_with("PostgreSQL durable"))
            .expect("the PostgreSQL target");
        assert!(!postgres.met, "0.2× is under 0.3×: {postgres:?}");
        let rss = targets
            .iter()
            .find(|t| t.what.contains("RSS"))
            .expect("the RSS target");
        assert!(!rss.met && rss.measured == "70.0 MB", "{rss:?}");
    }

    #[test]
    fn the_storage_floor_is_a_ratio_to_the_ceiling_and_bounds_the_ingest_beside_it() {
        let mut run = results(vec![
            level(Backend::Ceiling, 32, 10_000.0, 4.0, 20.0),
            level(Backend::Postgres, 32, 2_000.0, 20.0, 30.0),
        ]);
        run.floors.push(Floor {
            backend: Backend::Postgres,
            batch: 8,
            writers: 4,
            seconds: 10.0,
            leads_per_s: 2_500.0,
            batch_latency: Latency {
                samples: 700,
                p50_ms: 9.0,
                p99_ms: 20.0,
                p999_ms: 30.0,
                max_ms: 31.0,
            },
            process_cpu_cores: 0.4,
            other_cpu_cores: 1.5,
            verified: true,
            stored: 26_000,
            created: 26_000,
        });
        let mut slower = run.floors[0].clone();
        slower.writers = 1;
        slower.batch = 32;
        slower.leads_per_s = 1_000.0;
        run.floors.push(slower);
        let md = markdown(&run);
        let row = md
            .lines()
            .find(|line| line.starts_with("| PostgreSQL | 32 | 4 × 8 |"))
            .expect("a floor row");
        assert!(
            md.lines()
                .any(|line| line.starts_with("| PostgreSQL | 32 | 1 × 32 | 1,000 | 0.10× |")),
            "{md}"
        );
        assert!(row.contains("| 2,500 | 0.25× | 0.80× |"), "{row}");
        assert!(row.ends_with("| 0.40 / 1.50 | ✓ 26,000 |"), "{row}");
        let postgres = targets(&run)
            .into_iter()
            .find(|t| t.what.starts_with("PostgreSQL durable"))
            .expect("the PostgreSQL target");
        assert!(
            postgres
                .measured
                .ends_with("the storage library alone reaches 2,500 leads/s, 0.25×"),
            "{postgres:?}"
        );
    }

    #[test]
    fn the_table_shows_ratios_to_the_ceiling() {
        let run = results(vec![
            level(Backend::Ceiling, 8, 10_000.0, 4.0, 20.0),
            level(Backend::Sqlite, 8, 5_000.0, 8.0, 30.0),
        ]);
        let md = markdown(&run);
        let sqlite_row = md
            .lines()
            .find(|line| line.starts_with("| SQLite | 8 |"))
            .expect("a SQLite row");
        assert!(sqlite_row.contains("| 5,000 | 0.50× |"), "{sqlite_row}");
        assert!(sqlite_row.contains("| 8.00 | 2.00× |"), "{sqlite_row}");
        assert!(sqlite_row.contains("| 30.0 | 1.50× |"), "{sqlite_row}");
        assert!(sqlite_row.ends_with("✓ 100 |"), "{sqlite_row}");
        let svg = svg(&run);
        assert!(svg.starts_with("<svg"));
        assert_eq!(
            svg.matches("<polyline").count(),
            4,
            "two panels × two scenarios"
        );
    }
}
