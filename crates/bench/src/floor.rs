//! The storage floor: how fast the storage library alone stores leads, with no HTTP
//! and no queue in front of it.
//!
//! The durable server's writers hand `LeadWriter::insert_batch` the leads that
//! queued while their previous batch committed. A closed loop of `connections` clients
//! has at most that many leads waiting, so the batches in flight hold at most
//! `connections` leads in all. Here the same calls (`SeaOrmStore`,
//! `SeaOrmLeadRepository::insert_batch`, SQLite's upkeep task beside them, as the
//! server runs them) are kept busy with exactly `connections` new leads of the load's
//! payload, split over the writers (one writer with all of them, and, on a database
//! server, as many writers as the server runs, each with its share). The faster of
//! the two bounds what durable ingest at `connections` connections can reach on this
//! machine, whatever the HTTP side does: the HTTP side only adds work.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use lead_inbox_application::{InsertOutcome, LeadReader, LeadWriter};
use lead_inbox_domain::NewLead;
use lead_inbox_storage_seaorm::StoreOptions;
use serde::Serialize;
use tokio::sync::{Mutex, mpsc};

use crate::{
    BenchError,
    load::Window,
    mix::{self, Payloads},
    seed,
    server::{self, Backend, FreshDatabase},
    stats::{self, Latency},
};

/// Batches built ahead of the writers: enough that a writer never waits for one.
const READY_BATCHES: usize = 8;

/// One backend's floor.
#[derive(Debug, Clone, Serialize)]
pub struct Floor {
    pub backend: Backend,
    /// Leads per `insert_batch` call.
    pub batch: usize,
    /// `insert_batch` calls in flight at once.
    pub writers: usize,
    pub seconds: f64,
    pub leads_per_s: f64,
    /// Time of one `insert_batch` call (its transaction and its commit).
    pub batch_latency: Latency,
    /// CPU in cores of the machine: this benchmark process (building the leads and
    /// the storage library), and everything else (the database server for PostgreSQL
    /// and MariaDB).
    pub process_cpu_cores: f64,
    pub other_cpu_cores: f64,
    /// Every lead was answered `created`, and the database holds exactly those.
    pub verified: bool,
    pub stored: u64,
    pub created: u64,
}

/// How the floor splits its leads in flight over writers: all in one batch, and, on a
/// database server, over the writers the server runs with its default pool (half the
/// pool's 8 connections; see `crates/server/src/app.rs`). SQLite has one writer.
fn writer_counts(backend: Backend) -> Vec<usize> {
    if backend == Backend::Sqlite {
        vec![1]
    } else {
        vec![1, StoreOptions::default().max_connections as usize / 2]
    }
}

/// `n` new leads of the load's payload, unique to `run`.
fn batch(payloads: &Payloads, run: &str, first: u64, n: usize) -> Result<Vec<NewLead>, BenchError> {
    (first..first + n as u64)
        .map(|number| {
            seed::parsed_lead(&payloads.lead(&mix::reference(run, 0, number)), Utc::now())
        })
        .collect()
}

/// Measures `backend`'s floor with `in_flight` leads in flight, for each split of
/// [`writer_counts`], each on a fresh database: `warmup`, then `duration`.
pub async fn measure(
    backend: Backend,
    server_url: Option<&str>,
    in_flight: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Vec<Floor>, BenchError> {
    let mut floors = Vec::new();
    for writers in writer_counts(backend) {
        let database = FreshDatabase::create(backend, server_url).await?;
        let batch_size = (in_flight / writers).max(1);
        let result = measure_on(
            &database.url,
            backend,
            writers,
            batch_size,
            warmup,
            duration,
        )
        .await;
        database.remove().await;
        floors.push(result?);
    }
    Ok(floors)
}

async fn measure_on(
    url: &str,
    backend: Backend,
    writers: usize,
    batch_size: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Floor, BenchError> {
    let options = StoreOptions {
        background_checkpoints: true,
        ..StoreOptions::default()
    };
    let store = seed::open_migrated(url, &options).await?;
    let upkeep = tokio::spawn(store.clone().keep_up());
    let window = Window::after_warmup(warmup, duration);
    let stop = Arc::new(AtomicBool::new(false));

    // Batches are built on a task of their own, as the HTTP side parses leads while
    // a batch commits.
    let (ready, queue) = mpsc::channel::<Vec<NewLead>>(READY_BATCHES);
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let builder = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let payloads = Payloads::new();
            let mut first = 0;
            while !stop.load(Ordering::Relaxed) {
                let leads = batch(&payloads, &run, first, batch_size)?;
                first += batch_size as u64;
                if ready.send(leads).await.is_err() {
                    break;
                }
            }
            Ok::<(), BenchError>(())
        })
    };
    let queue = Arc::new(Mutex::new(queue));
    let measured = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (leads, queue, stop, measured) =
                (store.leads(), queue.clone(), stop.clone(), measured.clone());
            tokio::spawn(async move {
                let mut latency = stats::new_histogram();
                let mut created = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let Some(batch) = queue.lock().await.recv().await else {
                        break;
                    };
                    let started = Instant::now();
                    let outcomes = leads
                        .insert_batch(batch)
                        .await
                        .map_err(|e| BenchError::new(format!("insert_batch: {e}")))?;
                    let done = Instant::now();
                    let new = outcomes
                        .iter()
                        .filter(|outcome| **outcome == InsertOutcome::Created)
                        .count() as u64;
                    if new != outcomes.len() as u64 {
                        return Err(BenchError::new(format!(
                            "{} of a batch of {} new leads were not answered `created`",
                            outcomes.len() as u64 - new,
                            outcomes.len()
                        )));
                    }
                    created += new;
                    if started >= window.measure_from && done <= window.stop_at {
                        stats::record(&mut latency, done - started);
                        measured.fetch_add(new, Ordering::Relaxed);
                    }
                }
                Ok::<_, BenchError>((latency, created))
            })
        })
        .collect();

    let cpu = server::CpuSample::over(std::process::id(), window).await;
    stop.store(true, Ordering::Relaxed);

    let mut latency = stats::new_histogram();
    let mut created = 0;
    let mut failure = None;
    for task in tasks {
        match task.await {
            Ok(Ok((histogram, count))) => {
                let _ = latency.add(&histogram);
                created += count;
            }
            Ok(Err(error)) => failure = Some(error),
            Err(_) => failure = Some(BenchError::new("a floor writer panicked")),
        }
    }
    // The builder may wait on a full channel: dropping the writers' end frees it.
    drop(queue);
    if let Ok(Err(error)) = builder.await {
        failure = Some(error);
    }
    upkeep.abort();
    let stored = store.leads().count().await;
    store.close().await;
    if let Some(error) = failure {
        return Err(error);
    }
    let stored = stored.map_err(|e| BenchError::new(format!("counting the stored leads: {e}")))?;
    let (process_cpu_cores, other_cpu_cores) = cpu
        .map(|(before, after)| before.own_cores_until(&after, window.length().as_secs_f64()))
        .unwrap_or_default();
    Ok(Floor {
        backend,
        batch: batch_size,
        writers,
        seconds: window.length().as_secs_f64(),
        leads_per_s: stats::per_second(measured.load(Ordering::Relaxed), window.length()),
        batch_latency: Latency::of(&latency),
        process_cpu_cores,
        other_cpu_cores,
        verified: stored == created,
        stored,
        created,
    })
}
