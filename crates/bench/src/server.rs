//! The server under test: the real `lead-inbox` binary, started on a free port, and
//! the databases it runs on (a fresh one for every measurement).

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, Database};

use crate::{BenchError, load};

/// The webhook token the benchmark's server accepts.
pub const TOKEN: &str = "bench-webhook-token-7f3a";
/// A token it does not know (the wrong-token share of the mix).
pub const WRONG_TOKEN: &str = "bench-wrong-token-0000";
/// The API key for the read path.
pub const API_KEY: &str = "bench-api-key-51c2";

/// Which store a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `discard://`: parsing and answering, no storing.
    Ceiling,
    Sqlite,
    Postgres,
    Mariadb,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Ceiling => "ceiling",
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mariadb => "mariadb",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Backend::Ceiling => "ceiling (no storing)",
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::Mariadb => "MariaDB",
        }
    }

    pub fn is_durable(self) -> bool {
        self != Backend::Ceiling
    }
}

/// A database of its own for one measurement.
pub struct FreshDatabase {
    pub url: String,
    server: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

/// `url` with its database name replaced by `name` (the query string kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path = base[after_scheme..]
        .find('/')
        .map(|i| i + after_scheme)
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..path]);
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl FreshDatabase {
    /// A new, empty database for `backend`; `server_url` is the PostgreSQL or MariaDB
    /// server to create it on.
    pub async fn create(
        backend: Backend,
        server_url: Option<&str>,
    ) -> Result<FreshDatabase, BenchError> {
        match backend {
            Backend::Ceiling => Ok(FreshDatabase {
                url: lead_inbox_server::ceiling::CEILING_URL.into(),
                server: None,
                _dir: None,
            }),
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("lead-inbox-bench-")
                    .tempdir()
                    .map_err(|e| BenchError::new(format!("a temporary folder: {e}")))?;
                Ok(FreshDatabase {
                    url: format!("sqlite://{}/lead-inbox.db", dir.path().display()),
                    server: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres | Backend::Mariadb => {
                let server = server_url.ok_or_else(|| {
                    BenchError::new(format!("no server URL for {}", backend.label()))
                })?;
                let name = format!("li_bench_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(server).await.map_err(|e| {
                    BenchError::new(format!(
                        "cannot connect to the {} server: {e}",
                        backend.label()
                    ))
                })?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .map_err(|e| BenchError::new(format!("CREATE DATABASE {name}: {e}")))?;
                admin.close().await.ok();
                Ok(FreshDatabase {
                    url: with_database(server, &name),
                    server: Some((server.to_owned(), name)),
                    _dir: None,
                })
            }
        }
    }

    /// Leaves the database in place (a SQLite file, a PostgreSQL or MariaDB
    /// database) and returns its URL: to look into it afterwards.
    pub fn keep(mut self) -> String {
        self.server = None;
        if let Some(dir) = self._dir.take() {
            let _ = dir.keep();
        }
        std::mem::take(&mut self.url)
    }

    /// Drops the database (best effort); a SQLite folder goes with the value.
    pub async fn remove(mut self) {
        let Some((server, name)) = self.server.take() else {
            return;
        };
        let statement = if server.starts_with("postgres") {
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        } else {
            format!("DROP DATABASE IF EXISTS {name}")
        };
        if let Ok(admin) = Database::connect(&server).await {
            let _ = tokio::time::timeout(
                Duration::from_secs(30),
                admin.execute_unprepared(&statement),
            )
            .await;
            admin.close().await.ok();
        }
    }
}

/// A running `lead-inbox`.
pub struct Server {
    child: Child,
    pub address: SocketAddr,
    log: PathBuf,
}

/// How to start one.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    /// Extra `KEY=VALUE` environment for the server (`--server-env`).
    pub env: Vec<(String, String)>,
    /// Where the server's log goes.
    pub log_dir: PathBuf,
}

fn free_port() -> Result<u16, BenchError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| BenchError::new(format!("no free port: {e}")))
}

impl Server {
    /// Starts the server on `database_url` and waits until `/health/ready` answers
    /// `200`; returns it and the time from spawning the process to that answer.
    pub async fn start(
        launch: &Launch,
        database_url: &str,
        name: &str,
    ) -> Result<(Server, Duration), BenchError> {
        let port = free_port()?;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let log = launch.log_dir.join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log)
            .map_err(|e| BenchError::new(format!("cannot write {}: {e}", log.display())))?;
        let mut command = Command::new(&launch.binary);
        command
            .arg("serve")
            .env("LEAD_INBOX_BIND", address.to_string())
            .env("LEAD_INBOX_DATABASE_URL", database_url)
            .env("LEAD_INBOX_WEBHOOK_TOKENS", TOKEN)
            .env("LEAD_INBOX_API_KEYS", API_KEY)
            // The wrong-token share would otherwise be answered 429 after 20 a minute.
            .env("LEAD_INBOX_AUTH_FAILURES_PER_MINUTE", "1000000000")
            .env("LEAD_INBOX_API_REQUESTS_PER_MINUTE", "1000000000")
            .env("LEAD_INBOX_LOG", "warn")
            .env_remove("LEAD_INBOX_CONFIG")
            .env_remove("LEAD_INBOX_BENCH_POSTGRES_URL")
            .env_remove("LEAD_INBOX_BENCH_MYSQL_URL")
            .env_remove(crate::CEILING_FLAG)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file));
        if database_url == lead_inbox_server::ceiling::CEILING_URL {
            command.env(crate::CEILING_FLAG, "1");
        }
        for (key, value) in &launch.env {
            command.env(key, value);
        }
        let started = Instant::now();
        let child = command.spawn().map_err(|e| {
            BenchError::new(format!(
                "cannot start {}: {e} (build it with `cargo build --release -p lead-inbox-server -p lead-inbox-bench`, which gives it the benchmark's ceiling, or pass --server-binary)",
                launch.binary.display()
            ))
        })?;
        let mut server = Server {
            child,
            address,
            log,
        };
        let deadline = started + Duration::from_secs(120);
        loop {
            if load::ready(address).await {
                return Ok((server, started.elapsed()));
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(BenchError::new(format!(
                    "the server exited at start-up ({status}); its log:\n{}",
                    server.log_tail()
                )));
            }
            if Instant::now() > deadline {
                server.stop().await;
                return Err(BenchError::new("the server did not become ready in 120 s"));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// The process's peak resident set (VmHWM), in MB (10^6 bytes).
    pub fn peak_rss_mb(&self) -> Option<f64> {
        peak_rss_mb(self.child.id())
    }

    /// The process's resident set now (VmRSS), in MB.
    pub fn rss_mb(&self) -> Option<f64> {
        rss_mb(self.child.id())
    }

    /// Starts the peak resident set afresh from the current one; false when the
    /// kernel did not allow it (then the peak is since the start of the process).
    pub fn reset_peak_rss(&self) -> bool {
        reset_peak_rss(self.child.id())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// How the process ended (`exit status: 1`, `signal: 15 (SIGTERM)`), or `None`
    /// while it runs.
    pub fn exit(&mut self) -> Option<String> {
        self.child
            .try_wait()
            .ok()
            .flatten()
            .map(|status| status.to_string())
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// SIGTERM, then SIGKILL if it has not stopped within 20 s.
    pub async fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// `VmHWM` of `/proc/<pid>/status`, in MB (10^6 bytes).
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmHWM")
}

/// `VmRSS` of `/proc/<pid>/status`, in MB.
pub fn rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmRSS")
}

fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, field).map(|kib| kib as f64 * 1024.0 / 1e6)
}

/// Resets `VmHWM` to the current resident set: `5` into `/proc/<pid>/clear_refs`
/// (Linux 4.0+, the process's owner or root).
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// The value in KiB of the `field:` line of a `/proc/<pid>/status`.
pub fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
}

/// Busy CPU time of the whole machine (`/proc/stat`: all but idle and iowait), in
/// clock ticks.
pub fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    Some(fields.iter().take(8).sum::<u64>() - fields.get(3)? - fields.get(4)?)
}

/// CPU time (user + system) of process `pid`, in clock ticks.
pub fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_process_ticks(&stat)
}

fn parse_process_ticks(stat: &str) -> Option<u64> {
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second of `/proc` CPU times (`USER_HZ`, 100 on Linux).
pub const TICKS_PER_SECOND: f64 = 100.0;

/// CPU used over a window: by the server, by this benchmark, and by everything else
/// on the machine (a build running beside the benchmark shows here).
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    machine: u64,
    server: u64,
    own: u64,
}

/// `ticks` of CPU time over `seconds`, in cores.
fn cores(ticks: u64, seconds: f64) -> f64 {
    ticks as f64 / TICKS_PER_SECOND / seconds.max(0.001)
}

impl CpuSample {
    pub fn take(server: u32) -> Option<CpuSample> {
        Some(CpuSample {
            machine: machine_busy_ticks()?,
            server: process_ticks(server)?,
            own: process_ticks(std::process::id())?,
        })
    }

    /// Samples at the start and at the end of `window`, sleeping until each (until the
    /// end even when the first sample failed).
    pub async fn over(server: u32, window: load::Window) -> Option<(CpuSample, CpuSample)> {
        tokio::time::sleep_until(window.measure_from.into()).await;
        let before = CpuSample::take(server);
        tokio::time::sleep_until(window.stop_at.into()).await;
        Some((before?, CpuSample::take(server)?))
    }

    /// Cores used in `(server, benchmark, others)` from `self` to `later`.
    pub fn cores_until(&self, later: &CpuSample, seconds: f64) -> (f64, f64, f64) {
        let server = later.server.saturating_sub(self.server);
        let own = later.own.saturating_sub(self.own);
        let machine = later.machine.saturating_sub(self.machine);
        (
            cores(server, seconds),
            cores(own, seconds),
            cores(machine.saturating_sub(server + own), seconds),
        )
    }

    /// Cores used in `(this benchmark, everything else)` from `self` to `later`, for a
    /// measurement with no server process of its own.
    pub fn own_cores_until(&self, later: &CpuSample, seconds: f64) -> (f64, f64) {
        let own = later.own.saturating_sub(self.own);
        let machine = later.machine.saturating_sub(self.machine);
        (
            cores(own, seconds),
            cores(machine.saturating_sub(own), seconds),
        )
    }
}

/// How many leads the database holds, read with the storage library.
pub async fn stored_leads(database_url: &str) -> Result<u64, BenchError> {
    use lead_inbox_application::LeadReader;
    let store = lead_inbox_storage_seaorm::SeaOrmStore::connect(
        database_url,
        &lead_inbox_storage_seaorm::StoreOptions::default(),
    )
    .await
    .map_err(|e| BenchError::new(format!("cannot open the database to count: {e}")))?;
    let count = store.leads().count().await;
    store.close().await;
    count.map_err(|e| BenchError::new(format!("cannot count the leads: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced_keeping_the_rest() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "li_b"),
            "postgres://postgres@127.0.0.1:5432/li_b"
        );
        assert_eq!(
            with_database("mysql://root:pw@db:3306/test?ssl-mode=disabled", "x"),
            "mysql://root:pw@db:3306/x?ssl-mode=disabled"
        );
        assert_eq!(with_database("postgres://db", "x"), "postgres://db/x");
    }

    #[test]
    fn cpu_times_are_read_from_proc() {
        let stat = "4242 (lead inbox) S 1 4242 4242 0 -1 4194560 500 0 0 0 1500 250 0 0 20 0 7 0";
        assert_eq!(parse_process_ticks(stat), Some(1750));
        assert!(machine_busy_ticks().is_some());
        let before = CpuSample::take(std::process::id()).expect("a sample");
        let after = CpuSample {
            machine: before.machine + 300,
            server: before.server + 100,
            own: before.own + 100,
        };
        assert_eq!(before.cores_until(&after, 2.0), (0.5, 0.5, 0.5));
    }

    #[test]
    fn resident_sets_are_read_from_proc() {
        let status =
            "Name:\tlead-inbox\nVmPeak:\t  300000 kB\nVmHWM:\t   24576 kB\nVmRSS:\t   20000 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(24576));
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(20000));
        assert_eq!(parse_status_kib("Name: x\n", "VmHWM"), None);
        let own = peak_rss_mb(std::process::id()).expect("this process has a VmHWM");
        assert!(own > 0.5 && own < 4096.0, "{own}");
        let now = rss_mb(std::process::id()).expect("and a VmRSS");
        assert!(now > 0.5 && now <= own, "{now} {own}");
    }
}
