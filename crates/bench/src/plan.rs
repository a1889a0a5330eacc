//! What a run measures, from its arguments: the command line, the scenarios and
//! connection counts (the levels), the durations and the server to launch.

use std::{path::PathBuf, time::Duration};

use clap::Parser;

use crate::{
    BenchError,
    server::{Backend, Launch},
};

/// Leads in flight in the storage floor: the most a closed loop of 32 connections (the
/// ingest targets' level) can have waiting for their batches.
pub const FLOOR_IN_FLIGHT: usize = 32;

#[derive(Debug, Parser)]
#[command(
    name = "lead-inbox-bench",
    about = "Lead Inbox's benchmark (issue #6): ceiling, durable ingest on SQLite, PostgreSQL and MariaDB, latency, memory, start-up and the read path.",
    after_help = "Build first: cargo build --release -p lead-inbox-server -p lead-inbox-bench (or run bench/run.sh). \
                  Exit code 0 when every check passed (the stored leads equal the distinct references acknowledged \
                  `created`, the server never failed), 1 otherwise; missed performance targets are reported, not failed."
)]
pub struct Args {
    /// Seconds measured per level (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of warm-up before each measured window.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Connection counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,128,512")]
    connections: Vec<usize>,
    /// A PostgreSQL server to measure on (a fresh database is created for each run).
    #[arg(long, env = "LEAD_INBOX_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// A MySQL/MariaDB server to measure on (a fresh database is created for each run).
    #[arg(long, env = "LEAD_INBOX_BENCH_MYSQL_URL")]
    mysql_url: Option<String>,
    /// Where results.json, results.md and throughput.svg are written.
    #[arg(long, default_value = "docs/benchmarks")]
    out: PathBuf,
    /// The lead-inbox binary; by default the one beside this program.
    #[arg(long)]
    server_binary: Option<PathBuf>,
    /// Extra environment for the durable servers, KEY=VALUE (repeatable), e.g.
    /// LEAD_INBOX_GROUP_COMMIT_MAX_BATCH=128.
    #[arg(long = "server-env", value_name = "KEY=VALUE")]
    server_env: Vec<String>,
    /// Only these scenarios (ceiling, sqlite, postgres, mariadb), comma-separated. The
    /// ceiling is always measured with ingest, since every figure is a ratio to it.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Leads generated for the read path.
    #[arg(long, default_value_t = 1_000_000)]
    read_leads: u64,
    /// Measured requests per connection at least, for each read-path probe, however
    /// slow its answers (the probe runs past `--duration` until it has them).
    #[arg(long, default_value_t = 20)]
    read_samples: u64,
    /// Seconds an export of every generated lead may take; a slower one is stopped,
    /// and reported as a failed check with what it had sent.
    #[arg(long, default_value_t = 1200.0)]
    export_limit: f64,
    /// Skip the read path and the start-up measurement.
    #[arg(long)]
    skip_read: bool,
    /// Skip ingest (the ceiling, the durable levels and the open loop): only the
    /// start-up and the read path.
    #[arg(long)]
    skip_ingest: bool,
    /// Keep the read path's generated databases (the URLs are printed), e.g. to run
    /// EXPLAIN on them; drop them by hand afterwards.
    #[arg(long)]
    keep_read_database: bool,
    /// Skip the open-loop run at 80% of the best throughput.
    #[arg(long)]
    skip_open_loop: bool,
    /// Skip forwarding (issue #18): ingest with a local destination, the backlog at half
    /// the rate, and the time from stored to received at 500 leads/s.
    #[arg(long)]
    skip_forwarding: bool,
    /// Connections of the open-loop run. Default: those of the closed-loop level that
    /// reached the best throughput, so that the offered rate is not held back by too few
    /// connections (each sends on its own schedule, one request at a time).
    #[arg(long)]
    open_loop_connections: Option<usize>,
    /// Starts measured on an existing database.
    #[arg(long, default_value_t = 5)]
    startup_samples: usize,
    /// A few seconds in all, for CI: 1 and 8 connections, 2 s each, 5,000 leads for
    /// the read path. Checks that the benchmark works; its figures mean little.
    #[arg(long)]
    smoke: bool,
}

/// What is run, from the arguments.
pub struct Plan {
    pub duration: Duration,
    pub warmup: Duration,
    pub connections: Vec<usize>,
    pub backends: Vec<Backend>,
    pub postgres_url: Option<String>,
    pub mysql_url: Option<String>,
    pub out: PathBuf,
    pub launch: Launch,
    pub read_leads: u64,
    pub read_samples: u64,
    pub export_limit: Duration,
    pub ingest: bool,
    pub read: bool,
    pub keep_read_database: bool,
    pub open_loop: bool,
    pub forwarding: bool,
    pub open_loop_connections: Option<usize>,
    pub startup_samples: usize,
    pub read_connections: Vec<usize>,
    pub smoke: bool,
    pub command: String,
}

impl Plan {
    pub fn new(mut args: Args) -> Result<Plan, BenchError> {
        if args.smoke {
            args.duration = args.duration.min(2.0);
            args.warmup = args.warmup.min(0.5);
            args.connections = vec![1, 8];
            args.read_leads = args.read_leads.min(5_000);
            args.read_samples = args.read_samples.min(5);
            args.startup_samples = args.startup_samples.min(2);
            args.open_loop_connections = Some(args.open_loop_connections.unwrap_or(16).min(16));
        }
        let binary = match args.server_binary {
            Some(binary) => binary,
            None => std::env::current_exe()
                .map_err(|e| BenchError::new(format!("own path: {e}")))?
                .with_file_name("lead-inbox"),
        };
        if !binary.is_file() {
            return Err(BenchError::new(format!(
                "{} not found: build it with `cargo build --release -p lead-inbox-server -p lead-inbox-bench`, or pass --server-binary",
                binary.display()
            )));
        }
        let mut env = Vec::new();
        for pair in &args.server_env {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                BenchError::new(format!("--server-env {pair}: expected KEY=VALUE"))
            })?;
            env.push((key.to_owned(), value.to_owned()));
        }
        let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
        let mut backends = Vec::new();
        if !args.skip_ingest {
            backends.push(Backend::Ceiling);
        }
        if wanted("sqlite") {
            backends.push(Backend::Sqlite);
        }
        let postgres_url = args.postgres_url.filter(|url| !url.trim().is_empty());
        let mysql_url = args.mysql_url.filter(|url| !url.trim().is_empty());
        if postgres_url.is_some() && wanted("postgres") {
            backends.push(Backend::Postgres);
        }
        if mysql_url.is_some() && wanted("mariadb") {
            backends.push(Backend::Mariadb);
        }
        if args.connections.is_empty() || args.connections.contains(&0) {
            return Err(BenchError::new("--connections: give counts of at least 1"));
        }
        let log_dir = std::env::temp_dir().join(format!("lead-inbox-bench-{}", std::process::id()));
        std::fs::create_dir_all(&log_dir)
            .map_err(|e| BenchError::new(format!("{}: {e}", log_dir.display())))?;
        let command = std::env::args()
            .map(|arg| {
                // Never echo a password given in a URL.
                if arg.contains("://") && arg.contains('@') {
                    redact(&arg)
                } else {
                    arg
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Plan {
            duration: Duration::from_secs_f64(args.duration.max(0.1)),
            warmup: Duration::from_secs_f64(args.warmup.max(0.0)),
            connections: args.connections,
            backends,
            postgres_url,
            mysql_url,
            out: args.out,
            launch: Launch {
                binary,
                env,
                log_dir,
            },
            read_leads: args.read_leads.max(1_000),
            read_samples: args.read_samples.max(1),
            export_limit: Duration::from_secs_f64(args.export_limit.max(1.0)),
            ingest: !args.skip_ingest,
            read: !args.skip_read,
            keep_read_database: args.keep_read_database,
            open_loop: !args.skip_open_loop && !args.skip_ingest,
            forwarding: !args.skip_forwarding && !args.skip_ingest,
            open_loop_connections: args.open_loop_connections.map(|n| n.max(1)),
            startup_samples: args.startup_samples.max(1),
            read_connections: vec![1, 8],
            smoke: args.smoke,
            command,
        })
    }

    pub fn server_url(&self, backend: Backend) -> Option<&str> {
        match backend {
            Backend::Postgres => self.postgres_url.as_deref(),
            Backend::Mariadb => self.mysql_url.as_deref(),
            Backend::Ceiling | Backend::Sqlite => None,
        }
    }
}

/// A URL without its password.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_echoed() {
        assert_eq!(
            redact("--postgres-url=postgres://app:s3cret@db/x"),
            "--postgres-url=postgres://app:***@db/x"
        );
        assert_eq!(
            redact("postgres://postgres@db/x"),
            "postgres://postgres@db/x"
        );
    }
}
