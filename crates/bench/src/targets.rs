//! The targets, checked against what a run measured: each with what was
//! measured and whether it was met. Missed targets are reported, not failed.

use crate::{
    format::{ms, thousands},
    probes,
    results::Results,
    server::Backend,
    stats::ratio,
};

/// One of the targets, and how this run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub what: String,
    pub measured: String,
    pub met: bool,
}

/// The targets, for whatever this run measured.
pub fn targets(results: &Results) -> Vec<Target> {
    let mut out = Vec::new();
    for (backend, at_least) in [(Backend::Sqlite, 0.5), (Backend::Postgres, 0.3)] {
        let durable = results
            .levels
            .iter()
            .find(|l| l.backend == backend && l.connections == 32);
        if let (Some(durable), Some(ceiling)) = (durable, results.ceiling_at(32))
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
                    results
                        .floor_of(backend)
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
    for run in &results.forwarding {
        let label = run.backend.label();
        if let Some(r) = ratio(run.with_per_s, Some(run.without_per_s)) {
            out.push(Target {
                what: format!("{label}: ingest with one local destination ≥ 0.9× ingest without"),
                measured: format!(
                    "{r:.2}× ({} vs {} accepted leads/s, {} connections)",
                    thousands(run.with_per_s),
                    thousands(run.without_per_s),
                    run.connections
                ),
                met: r >= 0.9,
            });
        }
        // Keeping up: what was left when the load stopped drains in a moment (a backlog
        // that grew all run would take as long to drain as it took to build).
        out.push(Target {
            what: format!("{label}: at half the maximum ingest rate, forwarding keeps up (the backlog drains within 1 s)"),
            measured: format!(
                "{} leads waiting when the load ({} req/s) stopped, drained after {}",
                run.half_backlog,
                thousands(run.half_rate_per_s),
                crate::report::seconds_or_never(run.half_drained_after_s)
            ),
            met: run.half_drained_after_s.is_some_and(|s| s <= 1.0),
        });
        out.push(Target {
            what: format!(
                "{label}: from lead stored to destination received, p99 ≤ 50 ms at {} leads/s",
                crate::forwarding::LATENCY_RATE
            ),
            measured: format!(
                "p99 {} ms, p50 {} ms over {} leads (at {} accepted leads/s)",
                ms(run.latency.p99_ms),
                ms(run.latency.p50_ms),
                run.latency.samples,
                thousands(run.latency_rate_per_s)
            ),
            met: run.latency.samples > 0 && run.latency.p99_ms <= 50.0,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::testing::{floor, level, results};

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
    fn the_ingest_target_names_the_fastest_storage_floor() {
        let mut run = results(vec![
            level(Backend::Ceiling, 32, 10_000.0, 4.0, 20.0),
            level(Backend::Postgres, 32, 2_000.0, 20.0, 30.0),
        ]);
        run.floors.push(floor(Backend::Postgres, 4, 8, 2_500.0));
        run.floors.push(floor(Backend::Postgres, 1, 32, 1_000.0));
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
}
