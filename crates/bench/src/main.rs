//! `lead-inbox-bench`: issue #6's benchmark, in one run.
//!
//! It starts the real `lead-inbox` binary itself, a fresh database for every
//! measurement, and drives it with its own closed-loop load generator (N keep-alive
//! connections) sending the issue's mix: about 88% new references, 10% redeliveries of
//! recent ones, 1% wrong token, 1% malformed bodies. It measures:
//!
//! 1. the ceiling: the same build parsing and answering but storing nothing
//!    (`discard://`, accepted only with `LEAD_INBOX_BENCHMARK_CEILING=1`);
//! 2. durable ingest on SQLite;
//! 3. durable ingest on PostgreSQL and MariaDB when their URLs are given;
//!
//! at each connection count: accepted leads/s, p50/p99/p99.9 latency, errors, peak RSS,
//! each as a ratio to the ceiling, and checks that the stored leads equal the distinct
//! references acknowledged `created`. Then the p99 at 80% of the best throughput (open
//! loop, against the ceiling at the same rate), the time from start to ready on an
//! existing database, and the read path on a million generated leads: a filtered page
//! of 50, the free-text search with a rare and a common term, the first and a deep page
//! of contacts, the stats, and a full export as NDJSON and CSV (time, rate, the
//! server's memory), every answer checked against the generated data.
//! Then forwarding (issue #18, [`forwarding`]): ingest with one local destination as a
//! ratio to the same load without, whether forwarding keeps up at half that rate, and
//! the time from a lead stored to its arrival at the destination at 500 leads/s.
//! It writes `results.json`, `results.md` and `throughput.svg` into `--out`.
//!
//! ```sh
//! bench/run.sh          # builds, then runs with the local PostgreSQL/MariaDB if set
//! cargo build --release -p lead-inbox-server -p lead-inbox-bench
//! target/release/lead-inbox-bench --postgres-url postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! The crate, by concern: `plan` (the command line: what to run), `run` (the
//! orchestration), `load` and `mix` (the load generator), `server` (the server under
//! test and its databases), `floor` and `seed` (the storage library alone), `probes`
//! (the read path), `stats` (latencies and counts), `results` (the measured data and
//! its JSON), `host` (the machine), `targets` (the issue's targets and their
//! verdicts), `report` (the console lines, the Markdown and the files), `format`
//! (numbers as the report writes them) and `chart` (`throughput.svg`).

mod chart;
mod floor;
mod format;
mod forwarding;
mod host;
mod load;
mod mix;
mod plan;
mod probes;
mod report;
mod results;
mod run;
mod seed;
mod server;
mod stats;
mod targets;

use std::process::ExitCode;

use clap::Parser;

use crate::plan::{Args, Plan};

/// The server's variable that allows the ceiling mode.
pub const CEILING_FLAG: &str = "LEAD_INBOX_BENCHMARK_CEILING";

/// Why the benchmark could not do its job.
#[derive(Debug)]
pub struct BenchError(String);

impl BenchError {
    pub fn new(message: impl Into<String>) -> BenchError {
        BenchError(message.into())
    }
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}

#[tokio::main]
async fn main() -> ExitCode {
    let plan = match Plan::new(Args::parse()) {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("lead-inbox-bench: {error}");
            return ExitCode::from(2);
        }
    };
    run::run(&plan).await
}
