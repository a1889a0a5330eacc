//! The crash harness: proves that a lead answered `200` is stored durably and exactly
//! once, whatever moment the server dies at.
//!
//! It starts the real `lead-inbox` binary, sends leads from several concurrent clients
//! (new references, and redeliveries of references acknowledged earlier, picked at
//! random among all of them), kills the server (`kill -9`, or SIGTERM with `--signal
//! term` to test graceful shutdown under load, which must then exit with status 0) at a
//! random moment, restarts it, and repeats. Every answer is read: an acknowledged
//! reference answered `created` again was lost (and the redelivery stored it anew), a
//! `200` that is neither `created` nor `duplicate` of the reference sent is a failure.
//! At the end it reads the database directly and checks that every acknowledged
//! reference is stored, and that the database passes its integrity check (a duplicate
//! scan, then SQLite `PRAGMA integrity_check`; PostgreSQL `amcheck` on every B-tree
//! index, the extension required; MariaDB `CHECK TABLE` on every table, each row `OK`).
//! The seed of the random choices is printed, and `--seed` replays them (the moments
//! the server dies at depend on timing too, so a run is not replayed exactly).
//!
//! ```sh
//! cargo build -p lead-inbox-server -p lead-inbox-tests
//! target/debug/crash-harness --cycles 20 --database-url sqlite:///tmp/crash/leads.db
//! target/debug/crash-harness --cycles 20 --database-url postgres://postgres@127.0.0.1/crash
//! target/debug/crash-harness --cycles 20 --database-url mysql://root@127.0.0.1/crash
//! ```
//!
//! With `--forward`, the server also forwards every lead (issue #18) to a webhook
//! receiver in the harness, and after one last start the harness checks that every
//! acknowledged lead reached it, signed (checked with the `standardwebhooks` crate),
//! as one message (`webhook-id`), sent again only after a crash, at most the deliveries
//! sent and not yet recorded, twice `maxInFlight` (none after SIGTERM).
//!
//! It prints `acknowledged`, `redelivered`, `stored`, `lost` (acknowledged, then not
//! stored or answered `created` again) and `duplicated` (answered `created` more than
//! once), and exits non-zero unless lost, duplicated and unreadable answers are 0, every
//! SIGTERM ended with status 0, and the integrity check passed.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    path::PathBuf,
    process::{Child, Command, ExitCode, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use lead_inbox_application::LeadFilter;
use lead_inbox_domain::casayes::SPEC_EXAMPLE;
use lead_inbox_storage_seaorm::{SeaOrmStore, StoreOptions};
use lead_inbox_tests::{receiver::Receiver, references_listed};
use sea_orm::{ConnectionTrait, Database, DatabaseBackend, Statement};

const TOKEN: &str = "crash-harness-token";
const API_KEY: &str = "crash-harness-key";

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
    /// Seed of the random choices (moments, redeliveries); printed, random by default.
    #[arg(long)]
    seed: Option<u64>,
    /// Also forward every lead to a webhook receiver in this process (issue #18), and
    /// check after the last cycle that every acknowledged lead reached it, signed.
    #[arg(long)]
    forward: bool,
}

/// What the forwarded leads check found.
struct Forwarded {
    /// Acknowledged references the receiver got, as `lead.created`, signed.
    delivered: usize,
    /// Acknowledged references it never got.
    missing: Vec<String>,
    /// Requests beyond the first of one message (`webhook-id`): sent again after a
    /// crash, which receivers drop by that id.
    resent: usize,
    /// References that came under more than one message id: one event forwarded as
    /// two deliveries, which no receiver could drop.
    doubled: Vec<String>,
    /// Requests whose signature the `standardwebhooks` crate refused.
    unsigned: usize,
}

/// Creates the destination (the receiver) through the API; returns its secret.
async fn add_destination(client: &reqwest::Client, port: u16, url: &str) -> String {
    let response = client
        .post(format!("http://127.0.0.1:{port}/api/v1/destinations"))
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({ "url": url, "description": "crash harness" }))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(
        response.status().as_u16(),
        201,
        "the destination is created"
    );
    let created: serde_json::Value = response.json().await.expect("JSON");
    created["secret"]
        .as_str()
        .expect("the new destination's secret")
        .to_owned()
}

/// Waits (up to `timeout`) until the receiver got every acknowledged reference, then
/// tells what it got.
async fn check_forwarded(
    receiver: &Receiver,
    secret: &str,
    acknowledged: &[String],
    timeout: Duration,
) -> Forwarded {
    let reference_of = |request: &lead_inbox_tests::receiver::Received| {
        let body = request.json();
        (body["kind"] == "created")
            .then(|| body["lead"]["leadReference"].as_str().map(str::to_owned))
            .flatten()
    };
    let wanted: HashSet<&String> = acknowledged.iter().collect();
    receiver
        .wait_for(timeout, |received| {
            let got: HashSet<String> = received.iter().filter_map(reference_of).collect();
            wanted.iter().all(|reference| got.contains(*reference))
        })
        .await;
    let received = receiver.received();
    let mut messages: HashMap<String, u32> = HashMap::new();
    let mut ids_of: HashMap<String, HashSet<String>> = HashMap::new();
    let mut unsigned = 0;
    for request in &received {
        if !request.verifies_with(secret) {
            unsigned += 1;
            continue;
        }
        let id = request.header("webhook-id").unwrap_or_default().to_owned();
        *messages.entry(id.clone()).or_default() += 1;
        if let Some(reference) = reference_of(request) {
            ids_of.entry(reference).or_default().insert(id);
        }
    }
    let mut doubled: Vec<String> = ids_of
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(reference, _)| reference.clone())
        .collect();
    doubled.sort();
    Forwarded {
        delivered: acknowledged
            .iter()
            .filter(|r| ids_of.contains_key(*r))
            .count(),
        missing: acknowledged
            .iter()
            .filter(|r| !ids_of.contains_key(*r))
            .cloned()
            .collect(),
        resent: messages.values().map(|n| (*n - 1) as usize).sum(),
        doubled,
        unsigned,
    }
}

fn start(args: &Args, binary: &PathBuf) -> Child {
    Command::new(binary)
        .env("LEAD_INBOX_WEBHOOK_TOKENS", TOKEN)
        .env("LEAD_INBOX_API_KEYS", API_KEY)
        // Forwarding to the receiver on 127.0.0.1, with short timeouts and retries so
        // that a crash's leases expire and its deliveries go out within the run.
        .env("LEAD_INBOX_FORWARD_ALLOW_PRIVATE", "1")
        .env("LEAD_INBOX_FORWARD_TIMEOUT_SECONDS", "2")
        .env("LEAD_INBOX_FORWARD_RETRY_SCHEDULE", "1s,1s,2s,5s,10s,10s")
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
    /// Every acknowledged reference once, in the order of their first acknowledgement
    /// (redeliveries pick among them at random).
    acknowledged: Vec<String>,
    acknowledged_set: HashSet<String>,
    /// How many times each reference was answered `created`.
    created: HashMap<String, u32>,
    /// Acknowledged references answered `created` again: lost, then stored anew.
    recreated: Vec<String>,
    /// Redeliveries of acknowledged references that were answered.
    redelivered: u64,
    /// `200` answers that are not `created`/`duplicate` of the reference sent.
    unreadable: Vec<String>,
    answers: HashMap<String, u64>,
    failed_requests: u64,
}

impl Tally {
    /// Records a `200` answer to a delivery of `reference`.
    fn acknowledge(&mut self, reference: &str, redelivery: bool, body: &[u8]) {
        let answer: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let status = answer["status"].as_str().unwrap_or_default();
        *self.answers.entry(format!("200 {status}")).or_default() += 1;
        if answer["leadReference"].as_str() != Some(reference)
            || !matches!(status, "created" | "duplicate")
        {
            self.unreadable
                .push(format!("{reference}: {}", String::from_utf8_lossy(body)));
            return;
        }
        if redelivery {
            self.redelivered += 1;
        }
        if status == "created" {
            let times = self.created.entry(reference.to_owned()).or_default();
            *times += 1;
            if self.acknowledged_set.contains(reference) {
                self.recreated.push(reference.to_owned());
            }
        }
        if self.acknowledged_set.insert(reference.to_owned()) {
            self.acknowledged.push(reference.to_owned());
        }
    }
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
    let mut random = fastrand::Rng::with_seed(seed);
    let mut n = 0u64;
    loop {
        n += 1;
        let (redelivery, reference) = {
            let tally = tally.lock().unwrap_or_else(|e| e.into_inner());
            if random.u32(..10) == 0 && !tally.acknowledged.is_empty() {
                let known = &tally.acknowledged[random.usize(..tally.acknowledged.len())];
                (true, known.clone())
            } else {
                (
                    false,
                    format!("CY-Listing-A3bT7Y2xL6w-crash-c{cycle}-t{id}-n{n}"),
                )
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
        let answer = match response {
            Ok(response) => {
                let status = response.status().as_u16();
                response.bytes().await.map(|body| (status, body))
            }
            Err(error) => Err(error),
        };
        let mut tally = tally.lock().unwrap_or_else(|e| e.into_inner());
        match answer {
            Ok((200, body)) => tally.acknowledge(&reference, redelivery, &body),
            Ok((status, _)) => *tally.answers.entry(status.to_string()).or_default() += 1,
            Err(_) => {
                // The server died under the request (or before the whole answer came),
                // or refused the connection: not acknowledged, so CasaYes would send it
                // again. Stop this client.
                tally.failed_requests += 1;
                return;
            }
        }
    }
}

/// Sends `signal` and waits for the server to exit; `Err` when SIGTERM did not end it
/// with status 0 within a minute (a shutdown that is not graceful).
async fn signal(child: &mut Child, signal: Signal) -> Result<(), String> {
    let name = match signal {
        Signal::Kill => "-KILL",
        Signal::Term => "-TERM",
    };
    let _ = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("still running a minute after {name}"));
            }
            Err(error) => return Err(format!("waiting for it failed: {error}")),
        }
    };
    match signal {
        Signal::Term if !status.success() => Err(format!("exited with {status} after SIGTERM")),
        Signal::Term | Signal::Kill => Ok(()),
    }
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
            db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS amcheck")
                .await
                .map_err(|e| format!("amcheck is required and could not be created: {e}"))?;
            let indexes: Vec<String> = db
                .query_all_raw(query(
                    "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE a.amname = 'btree' AND n.nspname = current_schema() ORDER BY 1",
                ))
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .map(|row| row.try_get_by_index::<String>(0).map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?;
            if !indexes
                .iter()
                .any(|index| index == "ux_leads_lead_reference")
            {
                return Err(format!("no ux_leads_lead_reference among {indexes:?}"));
            }
            for index in &indexes {
                db.execute_unprepared(&format!("SELECT bt_index_check('{index}'::regclass, true)"))
                    .await
                    .map_err(|e| format!("amcheck on {index}: {e}"))?;
            }
            Ok(format!(
                "amcheck bt_index_check(heapallindexed) on {} B-tree indexes: ok",
                indexes.len()
            ))
        }
        DatabaseBackend::MySql => {
            let tables: Vec<String> = db
                .query_all_raw(query(
                    "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                     WHERE table_schema = DATABASE() ORDER BY 1",
                ))
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .map(|row| row.try_get_by_index::<String>(0).map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?;
            if !tables.iter().any(|table| table == "leads") {
                return Err(format!("no leads table among {tables:?}"));
            }
            let rows = db
                .query_all_raw(query(&format!("CHECK TABLE {}", tables.join(", "))))
                .await
                .map_err(|e| e.to_string())?;
            // One row per table, `status`/`OK`; anything else (an `error`, a `warning`,
            // a `note` that the table cannot be checked) is a failure.
            let mut checked = 0;
            for row in &rows {
                let cell = |index| row.try_get_by_index::<String>(index).unwrap_or_default();
                let (table, kind, text) = (cell(0), cell(2), cell(3));
                if !(kind == "status" && text == "OK") {
                    return Err(format!("CHECK TABLE {table}: {kind}: {text}"));
                }
                checked += 1;
            }
            if checked != tables.len() {
                return Err(format!(
                    "CHECK TABLE answered {checked} rows for {} tables",
                    tables.len()
                ));
            }
            Ok(format!("CHECK TABLE on {checked} tables: OK"))
        }
        other => Err(format!("no integrity check for {other:?}")),
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
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    println!("seed={seed} (replay the random choices with --seed {seed})");
    let mut random = fastrand::Rng::with_seed(seed);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut shutdowns: Vec<String> = Vec::new();
    let receiver = Receiver::start().await;
    // Slow enough that some deliveries are under way when the server dies.
    receiver.delay_answers(Duration::from_millis(5));
    let mut secret = None;
    for cycle in 0..args.cycles {
        let mut child = start(&args, &binary);
        wait_ready(&client, args.port).await;
        if args.forward && secret.is_none() {
            secret = Some(add_destination(&client, args.port, &receiver.url()).await);
        }
        let clients: Vec<_> = (0..args.clients)
            .map(|id| {
                tokio::spawn(client_loop(
                    client.clone(),
                    args.port,
                    id,
                    cycle,
                    tally.clone(),
                    random.u64(..),
                ))
            })
            .collect();
        let wait = 50 + random.u64(..args.max_cycle_ms.max(51));
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if let Err(why) = signal(&mut child, args.signal).await {
            shutdowns.push(format!("cycle {}: {why}", cycle + 1));
        }
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
    // One more start, to forward what the last cycle left: deliveries a crash left
    // leased are taken again once their lease (timeout + 15 s) expires.
    let forwarded = match &secret {
        Some(secret) => {
            let mut child = start(&args, &binary);
            wait_ready(&client, args.port).await;
            let forwarded = check_forwarded(
                &receiver,
                secret,
                &tally.acknowledged,
                Duration::from_secs(120),
            )
            .await;
            if let Err(why) = signal(&mut child, Signal::Term).await {
                shutdowns.push(format!("after forwarding: {why}"));
            }
            Some(forwarded)
        }
        None => None,
    };
    let stored = all_stored(&args.database_url).await;
    let stored_set: HashSet<&String> = stored.iter().collect();
    // Lost: acknowledged and not stored, or answered `created` again (stored anew by
    // the redelivery, which hides the loss from the count of rows).
    let lost: Vec<&String> = tally
        .acknowledged
        .iter()
        .filter(|r| !stored_set.contains(r))
        .chain(&tally.recreated)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut duplicated: Vec<&String> = tally
        .created
        .iter()
        .filter(|&(_, &times)| times > 1)
        .map(|(reference, _)| reference)
        .collect();
    duplicated.sort();
    let integrity = integrity(&args.database_url).await;
    println!(
        "signal={:?} cycles={} clients={} acknowledged={} redelivered={} stored={} lost={} (answered created again: {}) duplicated={} unreadable={} failed_requests={} answers={:?}",
        args.signal,
        args.cycles,
        args.clients,
        tally.acknowledged.len(),
        tally.redelivered,
        stored.len(),
        lost.len(),
        tally.recreated.len(),
        duplicated.len(),
        tally.unreadable.len(),
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
    if !duplicated.is_empty() {
        println!(
            "answered created more than once (first 10): {:?}",
            &duplicated[..duplicated.len().min(10)]
        );
    }
    if !tally.unreadable.is_empty() {
        println!(
            "unreadable 200 answers (first 10): {:?}",
            &tally.unreadable[..tally.unreadable.len().min(10)]
        );
    }
    for shutdown in &shutdowns {
        println!("shutdown: FAILED: {shutdown}");
    }
    // After SIGTERM nothing is sent twice; after SIGKILL only what was sent and not yet
    // recorded, at most twice maxInFlight (16) per cycle.
    let resend_bound = match args.signal {
        Signal::Term => 0,
        Signal::Kill => 16 * args.cycles as usize,
    };
    let forwarding_passed = match &forwarded {
        None => true,
        Some(forwarded) => {
            println!(
                "forwarded: delivered={} of {} missing={} resent={} (at most {resend_bound}) doubled={} unsigned={}",
                forwarded.delivered,
                tally.acknowledged.len(),
                forwarded.missing.len(),
                forwarded.resent,
                forwarded.doubled.len(),
                forwarded.unsigned,
            );
            if !forwarded.missing.is_empty() {
                println!(
                    "never forwarded (first 10): {:?}",
                    &forwarded.missing[..forwarded.missing.len().min(10)]
                );
            }
            if !forwarded.doubled.is_empty() {
                println!(
                    "forwarded as two messages (first 10): {:?}",
                    &forwarded.doubled[..forwarded.doubled.len().min(10)]
                );
            }
            forwarded.missing.is_empty()
                && forwarded.doubled.is_empty()
                && forwarded.unsigned == 0
                && forwarded.resent <= resend_bound
        }
    };
    let passed = lost.is_empty()
        && duplicated.is_empty()
        && tally.unreadable.is_empty()
        && shutdowns.is_empty()
        && integrity.is_ok()
        && forwarding_passed
        && !tally.acknowledged.is_empty()
        && tally.redelivered > 0;
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
