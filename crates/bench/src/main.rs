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
//! It writes `results.json`, `results.md` and `throughput.svg` into `--out`.
//!
//! ```sh
//! bench/run.sh          # builds, then runs with the local PostgreSQL/MariaDB if set
//! cargo build --release -p lead-inbox-server -p lead-inbox-bench
//! target/release/lead-inbox-bench --postgres-url postgres://postgres@127.0.0.1:5432/test
//! ```

mod floor;
mod load;
mod mix;
mod probes;
mod report;
mod seed;
mod server;
mod stats;

use std::{
    collections::HashSet,
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::Parser;
use serde::Serialize;

use crate::{
    load::{Rate, Window},
    server::{Backend, FreshDatabase, Launch, Server},
    stats::{Latency, Tally},
};

/// Leads in flight in the storage floor: the most a closed loop of 32 connections (the
/// ingest targets' level) can have waiting for their batches.
pub const FLOOR_IN_FLIGHT: usize = 32;

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

#[derive(Debug, Parser)]
#[command(
    name = "lead-inbox-bench",
    about = "Lead Inbox's benchmark (issue #6): ceiling, durable ingest on SQLite, PostgreSQL and MariaDB, latency, memory, start-up and the read path.",
    after_help = "Build first: cargo build --release -p lead-inbox-server -p lead-inbox-bench (or run bench/run.sh). \
                  Exit code 0 when every check passed (the stored leads equal the distinct references acknowledged \
                  `created`, the server never failed), 1 otherwise; missed performance targets are reported, not failed."
)]
struct Args {
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
struct Plan {
    duration: Duration,
    warmup: Duration,
    connections: Vec<usize>,
    backends: Vec<Backend>,
    postgres_url: Option<String>,
    mysql_url: Option<String>,
    out: PathBuf,
    launch: Launch,
    read_leads: u64,
    read_samples: u64,
    export_limit: Duration,
    ingest: bool,
    read: bool,
    keep_read_database: bool,
    open_loop: bool,
    open_loop_connections: Option<usize>,
    startup_samples: usize,
    read_connections: Vec<usize>,
    smoke: bool,
    command: String,
}

impl Plan {
    fn new(mut args: Args) -> Result<Plan, BenchError> {
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
            open_loop_connections: args.open_loop_connections.map(|n| n.max(1)),
            startup_samples: args.startup_samples.max(1),
            read_connections: vec![1, 8],
            smoke: args.smoke,
            command,
        })
    }

    fn server_url(&self, backend: Backend) -> Option<&str> {
        match backend {
            Backend::Postgres => self.postgres_url.as_deref(),
            Backend::Mariadb => self.mysql_url.as_deref(),
            Backend::Ceiling | Backend::Sqlite => None,
        }
    }
}

/// A URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

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
    /// The storage library alone, [`FLOOR_IN_FLIGHT`] leads in flight ([`floor`]).
    pub floors: Vec<floor::Floor>,
    pub open_loop: Vec<OpenLoop>,
    pub startup: Vec<Startup>,
    pub read: Vec<Read>,
    pub exports: Vec<Export>,
    pub failures: Vec<String>,
    pub total_seconds: f64,
}

fn first_line(path: &str, prefix: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().and_then(|text| {
        text.lines()
            .find_map(|line| line.strip_prefix(prefix))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
    })
}

async fn server_version(url: Option<&str>) -> Option<String> {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(url?).await.ok()?;
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            match backend {
                sea_orm::DatabaseBackend::Postgres => "SHOW server_version",
                _ => "SELECT VERSION()",
            },
        ))
        .await
        .ok()??;
    // "15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu, …" → "15.20 (Debian 15.20-0+deb12u1)".
    let version = row
        .try_get_by_index::<String>(0)
        .ok()
        .map(|v| v.split(" on ").next().unwrap_or_default().to_owned());
    db.close().await.ok();
    version
}

async fn machine(plan: &Plan) -> Machine {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory_kib: f64 = first_line("/proc/meminfo", "MemTotal")
        .and_then(|text| text.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0.0);
    let root_device = std::fs::read_to_string("/proc/mounts")
        .ok()
        .and_then(|mounts| {
            mounts.lines().find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                (fields.get(1) == Some(&"/")).then(|| (fields[0].to_owned(), fields[2].to_owned()))
            })
        });
    let disk = match root_device {
        Some((device, fs)) => {
            let name = device.rsplit('/').next().unwrap_or_default().to_owned();
            let rotational = std::fs::read_to_string(format!("/sys/block/{name}/queue/rotational"))
                .map(|r| {
                    if r.trim() == "1" {
                        "reported rotational"
                    } else {
                        "non-rotational"
                    }
                })
                .unwrap_or("unknown type");
            format!("{device} ({fs}, virtual disk, {rotational})")
        }
        None => "unknown".into(),
    };
    Machine {
        cpus,
        cpu_model: first_line("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into()),
        memory_gib: memory_kib / 1024.0 / 1024.0,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        disk,
        postgres_version: server_version(plan.postgres_url.as_deref()).await,
        mariadb_version: server_version(plan.mysql_url.as_deref()).await,
    }
}

/// The commit of the checkout the benchmark runs in, when it is one.
fn commit() -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
    };
    let head = git(&["rev-parse", "--short", "HEAD"])?;
    if !head.status.success() {
        return None;
    }
    let mut commit = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    if git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|status| !status.stdout.is_empty())
    {
        commit.push_str("+changes");
    }
    Some(commit)
}

fn run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// CPU cores used by the server, the benchmark and the rest during `window`.
async fn cpu_during(server: u32, window: Window) -> Option<(f64, f64, f64)> {
    let (before, after) = server::CpuSample::over(server, window).await?;
    Some(before.cores_until(&after, window.length().as_secs_f64()))
}

/// One backend at one connection count, on a fresh database and a fresh server.
async fn run_level(plan: &Plan, backend: Backend, connections: usize) -> Result<Level, BenchError> {
    let database = FreshDatabase::create(backend, plan.server_url(backend)).await?;
    let name = format!("{}-{connections}", backend.name());
    let (mut server, start_to_ready) = Server::start(&plan.launch, &database.url, &name).await?;
    let window = Window::after_warmup(plan.warmup, plan.duration);
    let cpu = tokio::spawn(cpu_during(server.pid(), window));
    let load = load::ingest(server.address, &run_id(), connections, window, None).await;
    let (server_cpu_cores, bench_cpu_cores, other_cpu_cores) =
        cpu.await.ok().flatten().unwrap_or_default();
    let peak_rss_mb = server.peak_rss_mb();
    let survived = server.is_running();
    server.stop().await;
    if !survived {
        database.remove().await;
        return Err(BenchError::new(format!(
            "the server died during {name}; its log:\n{}",
            server.log_tail()
        )));
    }
    let distinct: HashSet<&String> = load.created.iter().collect();
    let distinct_created = distinct.len() as u64;
    let created_answers = load.created.len() as u64;
    let stored = if backend.is_durable() {
        Some(server::stored_leads(&database.url).await?)
    } else {
        None
    };
    database.remove().await;
    let transport_errors = load
        .tally
        .errors
        .get("transport error")
        .copied()
        .unwrap_or(0);
    let verified = stored.map(|stored| {
        // A request whose answer was lost in transport may have been stored without
        // being acknowledged: then, and only then, stored may exceed the count.
        let exact = created_answers == distinct_created;
        exact
            && (stored == distinct_created
                || (stored > distinct_created && stored - distinct_created <= transport_errors))
    });
    Ok(Level {
        backend,
        connections,
        seconds: window.length().as_secs_f64(),
        requests_per_s: stats::per_second(load.measured_requests, window.length()),
        accepted_per_s: stats::per_second(load.measured_accepted, window.length()),
        latency: Latency::of(&load.latency),
        tally: load.tally,
        peak_rss_mb,
        server_cpu_cores,
        bench_cpu_cores,
        other_cpu_cores,
        start_to_ready_ms: start_to_ready.as_secs_f64() * 1000.0,
        distinct_created,
        created_answers,
        stored,
        verified,
    })
}

/// The durable backend at 80% of its best throughput (`best`, reached with
/// `best_connections`), open loop, then the ceiling at the same rate.
async fn run_open_loop(
    plan: &Plan,
    backend: Backend,
    best: f64,
    best_connections: usize,
) -> Result<OpenLoop, BenchError> {
    let rate = 0.8 * best;
    let connections = plan.open_loop_connections.unwrap_or(best_connections);
    let mut measured = Vec::new();
    for target in [backend, Backend::Ceiling] {
        let database = FreshDatabase::create(target, plan.server_url(target)).await?;
        let name = format!("{}-open-loop-for-{}", target.name(), backend.name());
        let (mut server, _) = Server::start(&plan.launch, &database.url, &name).await?;
        let window = Window::after_warmup(plan.warmup, plan.duration);
        let load = load::ingest(
            server.address,
            &run_id(),
            connections,
            window,
            Some(Rate(rate)),
        )
        .await;
        let survived = server.is_running();
        server.stop().await;
        database.remove().await;
        if !survived {
            return Err(BenchError::new(format!("the server died during {name}")));
        }
        measured.push(load);
    }
    let ceiling = measured.pop();
    let durable = measured.pop();
    let (Some(durable), Some(ceiling)) = (durable, ceiling) else {
        return Err(BenchError::new("open loop: a run is missing"));
    };
    let window = plan.duration;
    Ok(OpenLoop {
        backend,
        best_requests_per_s: best,
        rate_per_s: rate,
        connections,
        achieved_per_s: stats::per_second(durable.measured_requests, window),
        latency: Latency::of(&durable.latency),
        errors: durable.tally.error_count(),
        ceiling_achieved_per_s: stats::per_second(ceiling.measured_requests, window),
        ceiling_latency: Latency::of(&ceiling.latency),
    })
}

/// What the read path measured on one backend.
struct ReadPath {
    startup: Startup,
    reads: Vec<Read>,
    exports: Vec<Export>,
}

/// Seeds a database with `plan.read_leads` leads, measures start-up on it, then the
/// read-path probes and the export.
async fn run_read_path(plan: &Plan, backend: Backend) -> Result<ReadPath, BenchError> {
    let database = FreshDatabase::create(backend, plan.server_url(backend)).await?;
    eprintln!(
        "  {}: generating {} leads through the storage library",
        backend.label(),
        plan.read_leads
    );
    let seeded = match seed::seed(&database.url, plan.read_leads).await {
        Ok(took) => took,
        Err(error) => {
            database.remove().await;
            return Err(error);
        }
    };
    let result = measure_existing(plan, backend, &database.url, seeded).await;
    if plan.keep_read_database {
        eprintln!(
            "  {}: the generated database is kept: {}",
            backend.label(),
            redact(&database.keep())
        );
    } else {
        database.remove().await;
    }
    result
}

async fn measure_existing(
    plan: &Plan,
    backend: Backend,
    url: &str,
    seeded: Duration,
) -> Result<ReadPath, BenchError> {
    let mut starts = Vec::new();
    let mut server = None;
    for sample in 0..plan.startup_samples {
        let name = format!("{}-existing-{sample}", backend.name());
        let (mut started, took) = Server::start(&plan.launch, url, &name).await?;
        starts.push(took);
        if sample + 1 < plan.startup_samples {
            started.stop().await;
        } else {
            server = Some(started);
        }
    }
    let (median_ms, max_ms) = stats::median_and_max_ms(&starts);
    let startup = Startup {
        backend,
        leads_in_database: plan.read_leads,
        samples: starts.len(),
        median_ms,
        max_ms,
    };
    eprintln!("{}", report::startup_line(&startup));
    let Some(mut server) = server else {
        return Err(BenchError::new("no server for the read path"));
    };
    let setting = probes::Setting {
        warmup: plan.warmup,
        duration: plan.duration,
        min_samples: plan.read_samples,
        connections: plan.read_connections.clone(),
        export_limit: plan.export_limit,
    };
    let database = probes::Database {
        backend,
        seeded: seed::Seeded {
            total: plan.read_leads,
        },
        seed_seconds: seeded.as_secs_f64(),
    };
    let measured = probes::measure(&server, database, &setting).await;
    let exit = server.exit();
    server.stop().await;
    if let Some(exit) = exit {
        return Err(BenchError::new(format!(
            "the server died ({exit}) during the read path on {}; its log:\n{}",
            backend.label(),
            server.log_tail()
        )));
    }
    let (reads, exports) = measured?;
    Ok(ReadPath {
        startup,
        reads,
        exports,
    })
}

/// The read path's failed checks: probes with errors, exports with a wrong body.
fn read_failures(path: &ReadPath) -> Vec<String> {
    let reads = path
        .reads
        .iter()
        .filter(|read| read.errors > 0)
        .map(|read| {
            format!(
                "read path on {}, {} at {} connection(s): {} errors ({})",
                read.backend.label(),
                read.probe,
                read.connections,
                read.errors,
                read.error_kinds
                    .iter()
                    .map(|(what, n)| format!("{n} {what}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    let exports = path.exports.iter().filter_map(|export| {
        export.problem.as_ref().map(|problem| {
            format!(
                "read path on {}, export as {}: {problem}",
                export.backend.label(),
                export.format
            )
        })
    });
    reads.chain(exports).collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let started = Instant::now();
    let plan = match Plan::new(Args::parse()) {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("lead-inbox-bench: {error}");
            return ExitCode::from(2);
        }
    };
    let mut results = Results {
        started_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        commit: commit(),
        command: plan.command.clone(),
        smoke: plan.smoke,
        seconds_per_level: plan.duration.as_secs_f64(),
        server_env: plan
            .launch
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        machine: machine(&plan).await,
        levels: Vec::new(),
        floors: Vec::new(),
        open_loop: Vec::new(),
        startup: Vec::new(),
        read: Vec::new(),
        exports: Vec::new(),
        failures: Vec::new(),
        total_seconds: 0.0,
    };
    eprintln!(
        "lead-inbox-bench: {} s per level after {} s of warm-up; scenarios: {}; {}",
        plan.duration.as_secs_f64(),
        plan.warmup.as_secs_f64(),
        plan.backends
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(", "),
        if plan.ingest {
            format!("connections: {:?}", plan.connections)
        } else {
            "no ingest".to_owned()
        }
    );
    for &backend in plan.backends.iter().filter(|_| plan.ingest) {
        for &connections in &plan.connections {
            match run_level(&plan, backend, connections).await {
                Ok(level) => {
                    eprintln!("{}", report::level_line(&level));
                    if level.verified == Some(false) {
                        results.failures.push(format!(
                            "{} at {connections} connections: stored {:?} leads, acknowledged {} distinct references `created` ({} created answers)",
                            backend.label(),
                            level.stored,
                            level.distinct_created,
                            level.created_answers
                        ));
                    }
                    if level.tally.created + level.tally.duplicate == 0 {
                        results.failures.push(format!(
                            "{} at {connections} connections: no lead was accepted",
                            backend.label()
                        ));
                    }
                    results.levels.push(level);
                }
                Err(error) => {
                    eprintln!("  {} at {connections}: FAILED: {error}", backend.label());
                    results.failures.push(format!(
                        "{} at {connections} connections: {error}",
                        backend.label()
                    ));
                }
            }
        }
    }
    for &backend in plan
        .backends
        .iter()
        .filter(|b| plan.ingest && b.is_durable())
    {
        match floor::measure(
            backend,
            plan.server_url(backend),
            FLOOR_IN_FLIGHT,
            plan.warmup,
            plan.duration,
        )
        .await
        {
            Ok(floors) => {
                for floor in floors {
                    eprintln!("{}", report::floor_line(&floor));
                    if !floor.verified {
                        results.failures.push(format!(
                            "{} storage floor ({} writers): stored {} leads, {} answered `created`",
                            backend.label(),
                            floor.writers,
                            floor.stored,
                            floor.created
                        ));
                    }
                    results.floors.push(floor);
                }
            }
            Err(error) => {
                eprintln!("  {} storage floor: FAILED: {error}", backend.label());
                results
                    .failures
                    .push(format!("{} storage floor: {error}", backend.label()));
            }
        }
    }
    if plan.open_loop {
        for &backend in plan.backends.iter().filter(|b| b.is_durable()) {
            let Some(best) = results
                .levels
                .iter()
                .filter(|level| level.backend == backend && level.requests_per_s > 0.0)
                .max_by(|a, b| a.requests_per_s.total_cmp(&b.requests_per_s))
            else {
                continue;
            };
            match run_open_loop(&plan, backend, best.requests_per_s, best.connections).await {
                Ok(open) => {
                    eprintln!("{}", report::open_loop_line(&open));
                    results.open_loop.push(open);
                }
                Err(error) => {
                    eprintln!("  open loop on {}: FAILED: {error}", backend.label());
                    results
                        .failures
                        .push(format!("open loop on {}: {error}", backend.label()));
                }
            }
        }
    }
    if plan.read {
        for &backend in plan.backends.iter().filter(|b| b.is_durable()) {
            match run_read_path(&plan, backend).await {
                Ok(path) => {
                    results.failures.extend(read_failures(&path));
                    results.startup.push(path.startup);
                    results.read.extend(path.reads);
                    results.exports.extend(path.exports);
                }
                Err(error) => {
                    eprintln!("  read path on {}: FAILED: {error}", backend.label());
                    results
                        .failures
                        .push(format!("read path on {}: {error}", backend.label()));
                }
            }
            // What is measured so far, in case the run is stopped before the end (a
            // read path can take many minutes per database).
            results.total_seconds = started.elapsed().as_secs_f64();
            if let Err(error) = report::write(&plan.out, &results, &report::markdown(&results)) {
                eprintln!("lead-inbox-bench: cannot write the results so far: {error}");
            }
        }
    }
    results.total_seconds = started.elapsed().as_secs_f64();
    let markdown = report::markdown(&results);
    println!("\n{markdown}");
    if let Err(error) = report::write(&plan.out, &results, &markdown) {
        eprintln!("lead-inbox-bench: cannot write the results: {error}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "lead-inbox-bench: results in {} ({:.0} s in all)",
        plan.out.display(),
        results.total_seconds
    );
    if results.failures.is_empty() {
        eprintln!("lead-inbox-bench: every check passed");
        ExitCode::SUCCESS
    } else {
        for failure in &results.failures {
            eprintln!("lead-inbox-bench: FAILED: {failure}");
        }
        ExitCode::FAILURE
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
