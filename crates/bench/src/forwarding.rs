//! Forwarding (issue #18), measured in the same run as ingest: a webhook receiver in
//! this process stands for the CRM (it answers `200` at once and notes when each lead
//! arrived), and the server forwards every new lead to it.
//!
//! 1. Ingest without a destination, then the same load with one: the ratio of accepted
//!    leads/s (target ≥ 0.9), and how long after the load the receiver had every lead.
//! 2. An open loop at half the rate ingest reached without forwarding: the backlog
//!    (leads acknowledged and not yet received) when the load stops, and how long it
//!    takes to drain; it keeps up when that is a moment, not a queue that grew all run.
//! 3. An open loop at 500 new leads/s: the time from a lead stored (its `receivedAt`)
//!    to its arrival at the receiver, p50/p99 (target p99 ≤ 50 ms).

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::{
    BenchError,
    load::{self, Rate, Window},
    plan::Plan,
    server::{API_KEY, Backend, FreshDatabase, Launch, Server},
    stats::{Latency, new_histogram, per_second, record},
};

/// The share of the mix's requests that are new leads (the rest: redeliveries, a
/// wrong token, malformed bodies), to offer a rate of new leads.
const NEW_LEAD_SHARE: f64 = 0.88;
/// The rate of new leads the latency is measured at.
pub const LATENCY_RATE: f64 = 500.0;
/// How long the receiver is waited for once the load stops.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// What forwarding cost and how fast it was, on one backend.
#[derive(Debug, Clone, Serialize)]
pub struct Forwarding {
    pub backend: Backend,
    pub connections: usize,
    /// Accepted leads/s with no destination.
    pub without_per_s: f64,
    /// The same load, forwarding every lead to the receiver.
    pub with_per_s: f64,
    /// Seconds after that load until the receiver had every lead; `None`: not within
    /// a minute.
    pub drained_after_s: Option<f64>,
    /// The open loop at half of `without_per_s`: its rate of requests.
    pub half_rate_per_s: f64,
    /// Leads acknowledged and not yet received when that load stopped.
    pub half_backlog: u64,
    /// Seconds until it drained (`None`: not within a minute).
    pub half_drained_after_s: Option<f64>,
    /// Leads the run acknowledged `created` and the receiver never got (each run).
    pub missing: u64,
    /// Stored to received, at [`LATENCY_RATE`] new leads/s.
    pub latency: Latency,
    pub latency_rate_per_s: f64,
}

/// The stand-in CRM: answers `200`, notes each lead's reference and how long after
/// it was stored it arrived.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Seen>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Default)]
struct Seen {
    references: HashSet<String>,
    /// (arrival, stored-to-arrival) of each request.
    arrivals: Vec<(Instant, Duration)>,
}

impl Receiver {
    async fn start() -> Result<Receiver, BenchError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .map_err(|e| BenchError::new(format!("the receiver cannot listen: {e}")))?;
        let address = listener
            .local_addr()
            .map_err(|e| BenchError::new(format!("the receiver's address: {e}")))?;
        let acceptor = poem::listener::TcpAcceptor::from_std(listener)
            .map_err(|e| BenchError::new(format!("the receiver cannot listen: {e}")))?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let noted = seen.clone();
        let app = poem::endpoint::make(move |mut request: poem::Request| {
            let noted = noted.clone();
            async move {
                let body = request.take_body().into_vec().await.unwrap_or_default();
                let arrived = Instant::now();
                let now = chrono::Utc::now();
                let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let lead = &event["lead"];
                let stored = lead["receivedAt"]
                    .as_str()
                    .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok());
                let mut seen = noted.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(reference) = lead["leadReference"].as_str() {
                    seen.references.insert(reference.to_owned());
                }
                if let Some(stored) = stored {
                    let delay = (now - stored.with_timezone(&chrono::Utc))
                        .to_std()
                        .unwrap_or_default();
                    seen.arrivals.push((arrived, delay));
                }
                poem::http::StatusCode::NO_CONTENT
            }
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async move {
                        let _ = stopped.await;
                    },
                    Some(Duration::ZERO),
                )
                .await;
        });
        Ok(Receiver {
            url: format!("http://{address}/crm/leads"),
            seen,
            stop: Some(stop),
        })
    }

    fn seen<T>(&self, read: impl FnOnce(&Seen) -> T) -> T {
        read(&self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits until every one of `created` arrived; the seconds it took, or `None`.
    async fn drained(&self, created: &[String]) -> Option<f64> {
        let started = Instant::now();
        while started.elapsed() < DRAIN_LIMIT {
            if self.missing(created) == 0 {
                return Some(started.elapsed().as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        None
    }

    fn missing(&self, created: &[String]) -> u64 {
        self.seen(|seen| {
            created
                .iter()
                .filter(|r| !seen.references.contains(*r))
                .count() as u64
        })
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A server on a fresh database of `backend`, forwarding to `receiver` if given.
async fn server_for(
    plan: &Plan,
    backend: Backend,
    name: &str,
    receiver: Option<&Receiver>,
) -> Result<(Server, FreshDatabase), BenchError> {
    let database = FreshDatabase::create(backend, plan.server_url(backend)).await?;
    let mut launch: Launch = plan.launch.clone();
    launch
        .env
        .push(("LEAD_INBOX_FORWARD_ALLOW_PRIVATE".into(), "1".into()));
    let (server, _) = Server::start(&launch, &database.url, name).await?;
    if let Some(receiver) = receiver {
        let created = reqwest::Client::new()
            .post(format!("http://{}/api/v1/destinations", server.address))
            .bearer_auth(API_KEY)
            .json(&serde_json::json!({ "url": receiver.url, "description": "benchmark" }))
            .send()
            .await
            .map_err(|e| BenchError::new(format!("creating the destination: {e}")))?;
        if created.status().as_u16() != 201 {
            return Err(BenchError::new(format!(
                "creating the destination answered {}",
                created.status()
            )));
        }
    }
    Ok((server, database))
}

/// Runs `rate` (or closed-loop) ingest on a fresh server; returns what it sent and
/// when it stopped.
async fn ingest(
    plan: &Plan,
    backend: Backend,
    name: &str,
    receiver: Option<&Receiver>,
    connections: usize,
    rate: Option<Rate>,
) -> Result<(load::IngestReport, Instant, Server, FreshDatabase), BenchError> {
    let (mut server, database) = server_for(plan, backend, name, receiver).await?;
    let window = Window::after_warmup(plan.warmup, plan.duration);
    let report = load::ingest(
        server.address,
        &crate::run::run_id(),
        connections,
        window,
        rate,
    )
    .await;
    let stopped = Instant::now();
    if !server.is_running() {
        let log = server.log_tail();
        server.stop().await;
        database.remove().await;
        return Err(BenchError::new(format!(
            "the server died during {name}; its log:\n{log}"
        )));
    }
    Ok((report, stopped, server, database))
}

/// Measures forwarding on `backend`, at `connections` for the closed loop.
pub async fn measure(
    plan: &Plan,
    backend: Backend,
    connections: usize,
) -> Result<Forwarding, BenchError> {
    let label = backend.name();
    let accepted =
        |report: &load::IngestReport| per_second(report.measured_accepted, plan.duration);
    let mut missing = 0;

    // 1. The same closed loop without and with a destination.
    let (without, _, mut server, database) = ingest(
        plan,
        backend,
        &format!("{label}-forwarding-off"),
        None,
        connections,
        None,
    )
    .await?;
    server.stop().await;
    database.remove().await;
    let receiver = Receiver::start().await?;
    let (with, _, mut server, database) = ingest(
        plan,
        backend,
        &format!("{label}-forwarding-on"),
        Some(&receiver),
        connections,
        None,
    )
    .await?;
    let drained_after_s = receiver.drained(&with.created).await;
    missing += receiver.missing(&with.created);
    server.stop().await;
    database.remove().await;
    let without_per_s = accepted(&without);

    // 2. Half the rate ingest reached: does forwarding keep up?
    let half_rate = (without_per_s / 2.0).max(1.0);
    let receiver = Receiver::start().await?;
    let open_connections = plan.open_loop_connections.unwrap_or(connections).max(8);
    let (half, _, mut server, database) = ingest(
        plan,
        backend,
        &format!("{label}-forwarding-half"),
        Some(&receiver),
        open_connections,
        Some(Rate(half_rate)),
    )
    .await?;
    let half_backlog = receiver.missing(&half.created);
    let half_drained_after_s = receiver.drained(&half.created).await;
    missing += receiver.missing(&half.created);
    server.stop().await;
    database.remove().await;

    // 3. Stored to received at 500 new leads/s, over the measured window.
    let receiver = Receiver::start().await?;
    let latency_rate = LATENCY_RATE / NEW_LEAD_SHARE;
    let measure_from = Instant::now() + plan.warmup;
    let (steady, _, mut server, database) = ingest(
        plan,
        backend,
        &format!("{label}-forwarding-latency"),
        Some(&receiver),
        open_connections,
        Some(Rate(latency_rate)),
    )
    .await?;
    receiver.drained(&steady.created).await;
    missing += receiver.missing(&steady.created);
    server.stop().await;
    database.remove().await;
    let mut histogram = new_histogram();
    receiver.seen(|seen| {
        for (arrived, delay) in &seen.arrivals {
            if *arrived >= measure_from {
                record(&mut histogram, *delay);
            }
        }
    });
    Ok(Forwarding {
        backend,
        connections,
        without_per_s,
        with_per_s: accepted(&with),
        drained_after_s,
        half_rate_per_s: half_rate,
        half_backlog,
        half_drained_after_s,
        missing,
        latency: Latency::of(&histogram),
        latency_rate_per_s: per_second(steady.measured_accepted, plan.duration),
    })
}
