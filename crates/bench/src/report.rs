//! The report: the progress lines printed as each measurement ends, the Markdown tables
//! (every figure beside its ratio to the ceiling, then the targets), and the
//! files a run writes (`results.json`, `results.md`, `throughput.svg`).

use std::{fmt::Write as _, path::Path};

use crate::{
    chart,
    floor::Floor,
    format::{cores, mb, ms, rate, thousands, times},
    forwarding::Forwarding,
    results::{Export, Level, OpenLoop, Read, Results, Startup},
    stats::{Latency, ratio},
    targets::targets,
};

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
        let ceiling = results.ceiling_at(in_flight).map(|c| c.accepted_per_s);
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

pub fn forwarding_line(forwarding: &Forwarding) -> String {
    format!(
        "  {} forwarding to one local destination: ingest {} vs {} accepted leads/s without ({}), drained {} after; at half that rate a backlog of {} when the load stopped, drained {} after; stored to received at {} leads/s: p50 {} ms, p99 {} ms; never received: {}",
        forwarding.backend.label(),
        thousands(forwarding.with_per_s),
        thousands(forwarding.without_per_s),
        ratio(forwarding.with_per_s, Some(forwarding.without_per_s))
            .map_or("-".to_owned(), |r| format!("{r:.2}×")),
        seconds_or_never(forwarding.drained_after_s),
        forwarding.half_backlog,
        seconds_or_never(forwarding.half_drained_after_s),
        thousands(forwarding.latency_rate_per_s),
        ms(forwarding.latency.p50_ms),
        ms(forwarding.latency.p99_ms),
        forwarding.missing
    )
}

/// `1.2 s`, or `not within a minute`.
pub fn seconds_or_never(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "not within a minute".to_owned(), |s| format!("{s:.2} s"))
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
    if !results.forwarding.is_empty() {
        forwarding_table(&mut md, &results.forwarding);
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
        let ceiling = results.ceiling_at(level.connections);
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

/// Writes results.json, results.md and (when ingest was measured) throughput.svg into
/// `out`.
pub fn write(out: &Path, results: &Results, markdown: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let json = results.json().map_err(std::io::Error::other)?;
    std::fs::write(out.join("results.json"), json)?;
    std::fs::write(out.join("results.md"), markdown)?;
    if !results.levels.is_empty() {
        std::fs::write(out.join("throughput.svg"), chart::svg(results)?)?;
    }
    Ok(())
}

fn forwarding_table(md: &mut String, runs: &[Forwarding]) {
    let _ = writeln!(
        md,
        "\n### Forwarding to one local destination (issue #18)\n\n| database | conns | accepted leads/s without / with | ratio | drained after | at half the rate: backlog when stopped, drained after | stored → received at leads/s: p50 / p99 / p99.9 ms | never received |\n|---|---:|---|---:|---|---|---|---:|"
    );
    for run in runs {
        let _ = writeln!(
            md,
            "| {} | {} | {} / {} | {} | {} | {} leads, {} | {}: {} / {} / {} | {} |",
            run.backend.label(),
            run.connections,
            thousands(run.without_per_s),
            thousands(run.with_per_s),
            ratio(run.with_per_s, Some(run.without_per_s))
                .map_or("-".to_owned(), |r| format!("{r:.2}×")),
            seconds_or_never(run.drained_after_s),
            run.half_backlog,
            seconds_or_never(run.half_drained_after_s),
            thousands(run.latency_rate_per_s),
            ms(run.latency.p50_ms),
            ms(run.latency.p99_ms),
            ms(run.latency.p999_ms),
            run.missing
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        results::testing::{floor, level, results},
        server::Backend,
    };

    #[test]
    fn the_storage_floor_is_a_ratio_to_the_ceiling_and_bounds_the_ingest_beside_it() {
        let mut run = results(vec![
            level(Backend::Ceiling, 32, 10_000.0, 4.0, 20.0),
            level(Backend::Postgres, 32, 2_000.0, 20.0, 30.0),
        ]);
        run.floors.push(floor(Backend::Postgres, 4, 8, 2_500.0));
        run.floors.push(floor(Backend::Postgres, 1, 32, 1_000.0));
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
        assert!(
            md.contains("the storage library alone reaches 2,500 leads/s, 0.25×"),
            "the targets' table names the fastest floor: {md}"
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
    }
}
