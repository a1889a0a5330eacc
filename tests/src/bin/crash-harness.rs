//! The crash harness: proves that a lead answered `200` is stored durably and exactly
//! once, whatever moment the server dies at.
//!
//! It starts the real `lead-inbox` binary, sends leads from several concurrent clients
//! (new references and redeliveries of acknowledged ones), kills the server (`kill -9`,
//! or SIGTERM with `--signal term` to test graceful shutdown under load) at a random
//! moment, restarts it, and repeats. At the end it reads the database directly and
//! checks that every acknowledged reference is stored exactly once, and that the
//! database passes its integrity check (SQLite `PRAGMA integrity_check`; PostgreSQL
//! `amcheck` on the unique index when the extension can be created, and a duplicate
//! scan).
//!
//! ```sh
//! cargo build -p lead-inbox-server -p lead-inbox-tests
//! target/debug/crash-harness --cycles 20 --database-url sqlite:///tmp/crash/leads.db
//! target/debug/crash-harness --cycles 20 --database-url postgres://postgres@127.0.0.1/crash
//! ```
//!
//! It prints `acknowledged`, `stored`, `lost` and `duplicated`, and exits non-zero
//! unless lost and duplicated are 0 and the integrity check passed.

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    process::{Child, Command, ExitCode, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use lead_inbox_application::LeadFilter;
use lead_inbox_domain::casayes::SPEC_EXAMPLE;
use lead_inbox_storage_seaorm::{SeaOrmStore, StoreOptions};
use lead_inbox_tests::references_listed;
use sea_orm::{ConnectionTrait, Database, DatabaseBackend, Statement};

const TOKEN: &str = "crash-harness-token";

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Signal {
    Kill,
    Term,
}

#[derive(Debug, Parser)]
#[command(
    about = "Kill lead-inbox at random moments under load and check that no acknowledged lead is lost or duplicated."
)]
struct Args {
    /// Kill/restart cycles.
    #[arg(long, default_value_t = 20)]
    cycles: u32,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// The database the server uses (empty, or left by earlier runs of the harness).
    #[arg(long)]
    database_url: String,
    /// The lead-inbox binary; by default the one beside this harness.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// How the server is stopped: `kill` (SIGKILL) or `term` (SIGTERM, graceful).
    #[arg(long, value_enum, default_value_t = Signal::Kill)]
    signal: Signal,
    /// Longest time, in milliseconds, a cycle runs before the signal.
    #[arg(long, default_value_t = 1500)]
    max_cycle_ms: u64,
    /// Port for the server.
    #[arg(long, default_value_t = 18931)]
    port: u16,
}

/// A small xorshift generator: random moments without another dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn start(args: &Args, binary: &PathBuf) -> Child {
    Command::new(binary)
        .env("LEAD_INBOX_WEBHOOK_TOKENS", TOKEN)
        .env("LEAD_INBOX_API_KEYS", "crash-harness-key")
        .env("LEAD_INBOX_BIND", format!("127.0.0.1:{}", args.port))
        .env("LEAD_INBOX_DATABASE_URL", &args.database_url)
        .env("LEAD_INBOX_AUTH_FAILURES_PER_MINUTE", "100000")
        .env("LEAD_INBOX_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the lead-inbox binary starts")
}

async fn wait_ready(client: &reqwest::Client, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("http://127.0.0.1:{port}/health/ready");
    while Instant::now() < deadline {
        if let Ok(response) = client.get(&url).send().await
            && response.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the server did not become ready");
}

#[derive(Default)]
struct Tally {
    acknowledged: HashSet<String>,
    answers: HashMap<u16, u64>,
    failed_requests: u64,
}

async fn client_loop(
    client: reqwest::Client,
    port: u16,
    id: usize,
    cycle: u32,
    tally: Arc<Mutex<Tally>>,
    seed: u64,
) {
    let url = format!("http://127.0.0.1:{port}/webhooks/casayes/leads");
    let mut random = Random(seed | 1);
    let mut n = 0u64;
    loop {
        n += 1;
        let redelivery = random.next().is_multiple_of(10);
        let reference = {
            let tally = tally.lock().unwrap_or_else(|e| e.into_inner());
            match (redelivery, tally.acknowledged.iter().next()) {
                (true, Some(known)) => known.clone(),
                _ => format!("CY-Listing-A3bT7Y2xL6w-crash-c{cycle}-t{id}-n{n}"),
            }
        };
        let mut payload: serde_json::Value = serde_json::from_str(SPEC_EXAMPLE).expect("JSON");
        payload["LeadReference"] = serde_json::Value::String(reference.clone());
        let response = client
            .post(&url)
            .header("token", TOKEN)
            .body(payload.to_string())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let mut tally = tally.lock().unwrap_or_else(|e| e.into_inner());
        match response {
            Ok(response) => {
                let status = response.status().as_u16();
                *tally.answers.entry(status).or_default() += 1;
                if status == 200 {
                    tally.acknowledged.insert(reference);
                }
            }
            Err(_) => {
                // The server died under the request, or refused the connection: not
                // acknowledged, so CasaYes would send it again. Stop this client.
                tally.failed_requests += 1;
                return;
            }
        }
    }
}

fn signal(child: &mut Child, signal: Signal) {
    let name = match signal {
        Signal::Kill => "-KILL",
        Signal::Term => "-TERM",
    };
    let _ = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status();
    let _ = child.wait();
}

async fn all_stored(database_url: &str) -> Vec<String> {
    let store = SeaOrmStore::connect(database_url, &StoreOptions::default())
        .await
        .expect("the database opens");
    let references = references_listed(&store.leads(), &LeadFilter::default(), 500).await;
    store.close().await;
    references
}

/// The database's own integrity check; `Err` with what failed.
async fn integrity(database_url: &str) -> Result<String, String> {
    let db = Database::connect(database_url)
        .await
        .map_err(|e| e.to_string())?;
    let backend = db.get_database_backend();
    let query = |sql: &str| Statement::from_string(backend, sql.to_owned());
    let duplicates = db
        .query_one_raw(query(
            "SELECT COUNT(*) FROM (SELECT lead_reference FROM leads GROUP BY lead_reference HAVING COUNT(*) > 1) AS d",
        ))
        .await
        .map_err(|e| e.to_string())?
        .and_then(|row| row.try_get_by_index::<i64>(0).ok())
        .unwrap_or(-1);
    if duplicates != 0 {
        return Err(format!("{duplicates} references stored more than once"));
    }
    match backend {
        DatabaseBackend::Sqlite => {
            let row = db
                .query_one_raw(query("PRAGMA integrity_check"))
                .await
                .map_err(|e| e.to_string())?;
            let result = row
                .and_then(|row| row.try_get_by_index::<String>(0).ok())
                .unwrap_or_default();
            if result == "ok" {
                Ok("PRAGMA integrity_check: ok".into())
            } else {
                Err(format!("PRAGMA integrity_check: {result}"))
            }
        }
        DatabaseBackend::Postgres => {
            if db
                .execute_unprepared("CREATE EXTENSION IF NOT EXISTS amcheck")
                .await
                .is_err()
            {
                return Ok("no duplicate references (amcheck unavailable)".into());
            }
            for index in ["ux_leads_lead_reference", "ix_leads_received"] {
                db.execute_unprepared(&format!("SELECT bt_index_check('{index}'::regclass, true)"))
                    .await
                    .map_err(|e| format!("amcheck on {index}: {e}"))?;
            }
            Ok("amcheck bt_index_check(heapallindexed) on both indexes: ok".into())
        }
        _ => {
            db.execute_unprepared("CHECK TABLE leads")
                .await
                .map_err(|e| e.to_string())?;
            Ok("no duplicate references; CHECK TABLE ran".into())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let binary = args.binary.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .expect("own path")
            .with_file_name("lead-inbox")
    });
    if !binary.is_file() {
        eprintln!(
            "{} not found: build it with `cargo build -p lead-inbox-server` or pass --binary",
            binary.display()
        );
        return ExitCode::from(2);
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut random = Random(0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id()));
    for cycle in 0..args.cycles {
        let mut child = start(&args, &binary);
        wait_ready(&client, args.port).await;
        let clients: Vec<_> = (0..args.clients)
            .map(|id| {
                tokio::spawn(client_loop(
                    client.clone(),
                    args.port,
                    id,
                    cycle,
                    tally.clone(),
                    random.next(),
                ))
            })
            .collect();
        let wait = 50 + random.next() % args.max_cycle_ms.max(51);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        signal(&mut child, args.signal);
        for task in clients {
            let _ = task.await;
        }
        let acknowledged = tally
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .acknowledged
            .len();
        println!(
            "cycle {:>3}: stopped after {wait:>4} ms; acknowledged so far {acknowledged}",
            cycle + 1
        );
    }
    let tally = Arc::try_unwrap(tally)
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .unwrap_or_default();
    let stored = all_stored(&args.database_url).await;
    let stored_set: HashSet<&String> = stored.iter().collect();
    let mut counts: HashMap<&String, u32> = HashMap::new();
    for reference in &stored {
        *counts.entry(reference).or_default() += 1;
    }
    let lost: Vec<&String> = tally
        .acknowledged
        .iter()
        .filter(|r| !stored_set.contains(r))
        .collect();
    let duplicated = counts.values().filter(|&&n| n > 1).count();
    let integrity = integrity(&args.database_url).await;
    println!(
        "signal={:?} cycles={} clients={} acknowledged={} stored={} lost={} duplicated={} failed_requests={} answers={:?}",
        args.signal,
        args.cycles,
        args.clients,
        tally.acknowledged.len(),
        stored.len(),
        lost.len(),
        duplicated,
        tally.failed_requests,
        tally.answers,
    );
    match &integrity {
        Ok(what) => println!("integrity: {what}"),
        Err(what) => println!("integrity: FAILED: {what}"),
    }
    if !lost.is_empty() {
        println!("lost (first 10): {:?}", &lost[..lost.len().min(10)]);
    }
    let passed =
        lost.is_empty() && duplicated == 0 && integrity.is_ok() && !tally.acknowledged.is_empty();
    println!(
        "{}",
        if passed {
            "crash harness: PASSED"
        } else {
            "crash harness: FAILED"
        }
    );
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
