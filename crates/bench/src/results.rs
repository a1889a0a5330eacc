//! What a run measured: the data of each measurement, and the whole run as
//! `results.json` (these types serialised as they are: field names are the file's
//! keys).

use serde::Serialize;

use crate::{
    floor::Floor,
    server::Backend,
    stats::{Latency, Tally},
};

/// One backend at one connection count.
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    pub backend: Backend,
    pub connections: usize,
    pub seconds: f64,
    pub requests_per_s: f64,
    pub accepted_per_s: f64,
    pub latency: Latency,
    pub tally: Tally,
    pub peak_rss_mb: Option<f64>,
    /// CPU cores used during the measured window by the server, by the load
    /// generator, and by other processes (anything but 0 there disturbed the run).
    pub server_cpu_cores: f64,
    pub bench_cpu_cores: f64,
    pub other_cpu_cores: f64,
    pub start_to_ready_ms: f64,
    /// References answered `created` (distinct) and `created` answers in all.
    pub distinct_created: u64,
    pub created_answers: u64,
    /// Leads in the database after the run (durable backends).
    pub stored: Option<u64>,
    /// `stored == distinct created` and no reference created twice; `None` for the
    /// ceiling, which stores nothing.
    pub verified: Option<bool>,
}

/// The open-loop run at 80% of a backend's best throughput, and the ceiling at the
/// same rate.
#[derive(Debug, Clone, Serialize)]
pub struct OpenLoop {
    pub backend: Backend,
    pub best_requests_per_s: f64,
    pub rate_per_s: f64,
    pub connections: usize,
    pub achieved_per_s: f64,
    pub latency: Latency,
    pub errors: u64,
    pub ceiling_achieved_per_s: f64,
    pub ceiling_latency: Latency,
}

/// Start-up on an existing database.
#[derive(Debug, Clone, Serialize)]
pub struct Startup {
    pub backend: Backend,
    pub leads_in_database: u64,
    pub samples: usize,
    pub median_ms: f64,
    pub max_ms: f64,
}

/// One read-path probe at one connection count.
#[derive(Debug, Clone, Serialize)]
pub struct Read {
    pub backend: Backend,
    /// What was asked, e.g. "search, rare term".
    pub probe: String,
    /// The request, e.g. `GET /api/v1/leads?limit=50&q=…`.
    pub request: String,
    pub leads_in_database: u64,
    pub seed_seconds: f64,
    pub connections: usize,
    /// From the end of the warm-up to the last measured answer.
    pub seconds: f64,
    pub requests_per_s: f64,
    /// Answers that held what the generated data says they must.
    pub checked: u64,
    pub latency: Latency,
    /// Transport failures, other statuses than `200`, and wrong answers.
    pub errors: u64,
    pub error_kinds: std::collections::BTreeMap<String, u64>,
    /// CPU cores used while the probe ran (warm-up included) by the server, by the
    /// load generator, and by other processes (the database server among them).
    pub server_cpu_cores: f64,
    pub bench_cpu_cores: f64,
    pub other_cpu_cores: f64,
}

/// A full export of the read path's database.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub backend: Backend,
    /// `ndjson` or `csv`.
    pub format: &'static str,
    pub leads_in_database: u64,
    pub bytes: u64,
    /// Lines received: one per lead, plus the header for CSV.
    pub lines: u64,
    pub seconds: f64,
    pub first_byte_ms: f64,
    pub leads_per_s: f64,
    pub mb_per_s: f64,
    /// The server's resident set just before the export, and its peak during it.
    pub rss_before_mb: Option<f64>,
    pub rss_peak_mb: Option<f64>,
    /// Whether the peak was reset before the export (else it is the process's).
    pub peak_reset: bool,
    /// CPU cores used during the export: server, benchmark, other processes.
    pub server_cpu_cores: f64,
    pub bench_cpu_cores: f64,
    pub other_cpu_cores: f64,
    /// What was wrong with the body, if anything (wrong line count, order, status).
    pub problem: Option<String>,
}

/// Where it ran.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub disk: String,
    pub postgres_version: Option<String>,
    pub mariadb_version: Option<String>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub started_at: String,
    /// The checkout measured (`git rev-parse --short HEAD`, `+changes` when the working
    /// tree differs from it), when run from one.
    pub commit: Option<String>,
    pub command: String,
    pub smoke: bool,
    pub seconds_per_level: f64,
    pub server_env: Vec<String>,
    pub machine: Machine,
    pub levels: Vec<Level>,
    /// The storage library alone, [`crate::plan::FLOOR_IN_FLIGHT`] leads in flight ([`crate::floor`]).
    pub floors: Vec<Floor>,
    pub open_loop: Vec<OpenLoop>,
    pub startup: Vec<Startup>,
    pub read: Vec<Read>,
    pub exports: Vec<Export>,
    /// Forwarding to one local destination ([`crate::forwarding`]).
    pub forwarding: Vec<crate::forwarding::Forwarding>,
    pub failures: Vec<String>,
    pub total_seconds: f64,
}

impl Results {
    /// The run as `results.json` holds it.
    pub fn json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self).map(|json| json + "\n")
    }

    /// The ceiling's level at `connections`, the figure every ratio divides by.
    pub fn ceiling_at(&self, connections: usize) -> Option<&Level> {
        self.levels
            .iter()
            .find(|l| l.backend == Backend::Ceiling && l.connections == connections)
    }

    /// The fastest storage floor of `backend` in this run.
    pub fn floor_of(&self, backend: Backend) -> Option<&Floor> {
        self.floors
            .iter()
            .filter(|f| f.backend == backend)
            .max_by(|a, b| a.leads_per_s.total_cmp(&b.leads_per_s))
    }
}

/// Runs made up for the tests of the report, the targets and the chart.
#[cfg(test)]
pub mod testing {
    use super::*;

    /// A level whose latencies derive from its p99 and whose check passed.
    pub fn level(backend: Backend, connections: usize, rate: f64, p99: f64, rss: f64) -> Level {
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

    /// A storage floor of `writers` × `batch` leads in flight that stored what it
    /// created.
    pub fn floor(backend: Backend, writers: usize, batch: usize, leads_per_s: f64) -> Floor {
        Floor {
            backend,
            batch,
            writers,
            seconds: 10.0,
            leads_per_s,
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
        }
    }

    /// A run of `levels` and nothing else.
    pub fn results(levels: Vec<Level>) -> Results {
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
            forwarding: Vec::new(),
            failures: Vec::new(),
            total_seconds: 1.0,
        }
    }
}
