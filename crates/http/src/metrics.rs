//! Prometheus metrics: `GET /metrics` in the text exposition format.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `lead_inbox_http_requests_total` | `route`, `method`, `status` | requests answered |
//! | `lead_inbox_http_request_duration_seconds` | `route`, `method` | latency histogram |
//! | `lead_inbox_leads_total` | `outcome` (`created`, `duplicate`, `erased`, `quarantined`) | webhook deliveries by what became of them |
//! | `lead_inbox_auth_failures_total` | `kind` (`webhook`, `api`) | `401` answers |
//! | `lead_inbox_rate_limited_total` | | `429` answers |
//! | `lead_inbox_db_pool_connections` | `state` (`idle`, `in_use`) | the database pool, sampled when scraped |
//! | `lead_inbox_commit_batch_leads` | | histogram: leads per group-commit batch |
//! | `lead_inbox_commit_duration_seconds` | | histogram: how long a batch's transaction took |
//! | `lead_inbox_commit_failures_total` | | batches that failed (none of their leads acknowledged) |
//! | `lead_inbox_live_feed_clients` | | clients connected to `/api/v1/leads/stream` now |
//! | `lead_inbox_lead_changes_total` | | leads changed through the API (status, assignee, tags, notes) |
//! | `lead_inbox_erasures_total` | | subjects erased (GDPR Art. 17) |
//! | `lead_inbox_purged_total` | `kind` (`lead`, `quarantined`) | rows deleted by retention |
//! | `lead_inbox_forward_deliveries_total` | `destination`, `outcome` (`delivered`, `retry`, `failed`) | forwarding attempts by what became of the delivery |
//! | `lead_inbox_forward_attempt_duration_seconds` | `destination` | histogram: how long an attempt took |
//! | `lead_inbox_forward_destinations_disabled_total` | `reason` (`gone`, `failing`) | destinations forwarding disabled by itself |
//! | `lead_inbox_forward_queue_depth` | `destination` | pending deliveries, sampled when scraped |
//! | `lead_inbox_forward_oldest_pending_seconds` | `destination` | age of the oldest pending delivery, sampled when scraped |
//!
//! `destination` is the destination's id (never its URL, which may hold credentials).
//! `route` is the OpenAPI path template (`/api/v1/leads/{leadReference}`), never the
//! concrete path, so no lead reference becomes a label; unknown paths are `unmatched`.

use std::{
    fmt,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use lead_inbox_application::forwarding::{DeliveryStore, ForwardingObserver};
use lead_inbox_domain::forwarding::{Attempt, AttemptOutcome, DestinationId, DisabledReason};

use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::allow::Routes;

/// Samples the database pool: `(open connections, idle connections)`.
pub type PoolSampler = Arc<dyn Fn() -> Option<(u32, u32)> + Send + Sync>;

/// The registry and every metric Lead Inbox exports.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
    leads: IntCounterVec,
    auth_failures: IntCounterVec,
    rate_limited: IntCounter,
    pool: IntGaugeVec,
    pool_sampler: OnceLock<PoolSampler>,
    batch_leads: Histogram,
    commit_seconds: Histogram,
    commit_failures: IntCounter,
    erasures: IntCounter,
    purged: IntCounterVec,
    changes: IntCounter,
    feed_clients: IntGauge,
    forward_deliveries: IntCounterVec,
    forward_latency: HistogramVec,
    forward_disabled: IntCounterVec,
    forward_queue: IntGaugeVec,
    forward_oldest: IntGaugeVec,
    backlog: OnceLock<Arc<dyn DeliveryStore>>,
}

/// How long a scrape waits for the forwarding backlog before it answers without it.
const BACKLOG_TIMEOUT: Duration = Duration::from_secs(2);

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// What became of a webhook delivery, for `lead_inbox_leads_total`.
#[derive(Debug, Clone, Copy)]
pub enum LeadOutcome {
    Created,
    Duplicate,
    Erased,
    Quarantined,
}

fn metric<T>(made: prometheus::Result<T>) -> T {
    made.unwrap_or_else(|_| unreachable!("valid metric"))
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        let requests = metric(IntCounterVec::new(
            Opts::new("lead_inbox_http_requests_total", "HTTP requests answered"),
            &["route", "method", "status"],
        ));
        let durations = metric(HistogramVec::new(
            HistogramOpts::new(
                "lead_inbox_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["route", "method"],
        ));
        let leads = metric(IntCounterVec::new(
            Opts::new("lead_inbox_leads_total", "Webhook deliveries by outcome"),
            &["outcome"],
        ));
        let auth_failures = metric(IntCounterVec::new(
            Opts::new(
                "lead_inbox_auth_failures_total",
                "Requests refused with 401",
            ),
            &["kind"],
        ));
        let rate_limited = metric(IntCounter::new(
            "lead_inbox_rate_limited_total",
            "Requests refused with 429",
        ));
        let pool = metric(IntGaugeVec::new(
            Opts::new(
                "lead_inbox_db_pool_connections",
                "Database pool connections",
            ),
            &["state"],
        ));
        let batch_leads = metric(Histogram::with_opts(
            HistogramOpts::new(
                "lead_inbox_commit_batch_leads",
                "Leads per group-commit batch",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
        ));
        let commit_seconds = metric(Histogram::with_opts(
            HistogramOpts::new(
                "lead_inbox_commit_duration_seconds",
                "How long a group-commit batch's transaction took",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        ));
        let commit_failures = metric(IntCounter::new(
            "lead_inbox_commit_failures_total",
            "Group-commit batches that failed",
        ));
        let erasures = metric(IntCounter::new(
            "lead_inbox_erasures_total",
            "Data subjects erased",
        ));
        let feed_clients = metric(IntGauge::new(
            "lead_inbox_live_feed_clients",
            "Clients connected to the live feed",
        ));
        let changes = metric(IntCounter::new(
            "lead_inbox_lead_changes_total",
            "Leads changed through the API",
        ));
        let purged = metric(IntCounterVec::new(
            Opts::new("lead_inbox_purged_total", "Rows deleted by retention"),
            &["kind"],
        ));
        let forward_deliveries = metric(IntCounterVec::new(
            Opts::new(
                "lead_inbox_forward_deliveries_total",
                "Forwarding attempts by destination and what became of the delivery",
            ),
            &["destination", "outcome"],
        ));
        let forward_latency = metric(HistogramVec::new(
            HistogramOpts::new(
                "lead_inbox_forward_attempt_duration_seconds",
                "How long a forwarding attempt took",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["destination"],
        ));
        let forward_disabled = metric(IntCounterVec::new(
            Opts::new(
                "lead_inbox_forward_destinations_disabled_total",
                "Destinations forwarding disabled by itself, by reason",
            ),
            &["reason"],
        ));
        let forward_queue = metric(IntGaugeVec::new(
            Opts::new(
                "lead_inbox_forward_queue_depth",
                "Pending deliveries per destination",
            ),
            &["destination"],
        ));
        let forward_oldest = metric(IntGaugeVec::new(
            Opts::new(
                "lead_inbox_forward_oldest_pending_seconds",
                "Age of the oldest pending delivery per destination",
            ),
            &["destination"],
        ));
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(durations.clone()),
            Box::new(leads.clone()),
            Box::new(auth_failures.clone()),
            Box::new(rate_limited.clone()),
            Box::new(pool.clone()),
            Box::new(batch_leads.clone()),
            Box::new(commit_seconds.clone()),
            Box::new(commit_failures.clone()),
            Box::new(erasures.clone()),
            Box::new(purged.clone()),
            Box::new(changes.clone()),
            Box::new(feed_clients.clone()),
            Box::new(forward_deliveries.clone()),
            Box::new(forward_latency.clone()),
            Box::new(forward_disabled.clone()),
            Box::new(forward_queue.clone()),
            Box::new(forward_oldest.clone()),
        ] {
            registry
                .register(collector)
                .unwrap_or_else(|_| unreachable!("registered once"));
        }
        Arc::new(Metrics {
            registry,
            requests,
            durations,
            leads,
            auth_failures,
            rate_limited,
            pool,
            pool_sampler: OnceLock::new(),
            batch_leads,
            commit_seconds,
            commit_failures,
            erasures,
            purged,
            changes,
            feed_clients,
            forward_deliveries,
            forward_latency,
            forward_disabled,
            forward_queue,
            forward_oldest,
            backlog: OnceLock::new(),
        })
    }

    /// Where the forwarding backlog gauges read from at each scrape (set once the
    /// store is open).
    pub fn sample_backlog_with(&self, deliveries: Arc<dyn DeliveryStore>) {
        let _ = self.backlog.set(deliveries);
    }

    /// Sets the backlog gauges from the store: destinations with nothing pending
    /// drop out. A store that does not answer within [`BACKLOG_TIMEOUT`] leaves them
    /// as they were (logged), so that a scrape never hangs on the database.
    async fn sample_backlog(&self) {
        let Some(store) = self.backlog.get() else {
            return;
        };
        let backlog = match tokio::time::timeout(BACKLOG_TIMEOUT, store.backlog()).await {
            Ok(Ok(backlog)) => backlog,
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "cannot sample the forwarding backlog for the metrics");
                return;
            }
            Err(_) => {
                tracing::warn!("the forwarding backlog took too long to sample for the metrics");
                return;
            }
        };
        let now = chrono::Utc::now();
        self.forward_queue.reset();
        self.forward_oldest.reset();
        for destination in backlog {
            let label = destination.destination_id.0.to_string();
            self.forward_queue
                .with_label_values(&[&label])
                .set(i64::try_from(destination.pending).unwrap_or(i64::MAX));
            if let Some(oldest) = destination.oldest_pending_at {
                self.forward_oldest
                    .with_label_values(&[&label])
                    .set((now - oldest).num_seconds().max(0));
            }
        }
    }

    /// [`Self::render`], after sampling the forwarding backlog.
    pub async fn render_sampled(&self) -> String {
        self.sample_backlog().await;
        self.render()
    }

    /// A live-feed client connected (`1`) or left (`-1`).
    pub fn feed_clients(&self, change: i64) {
        self.feed_clients.add(change);
    }

    /// A lead was changed through the API.
    pub fn lead_changed(&self) {
        self.changes.inc();
    }

    /// Where the pool gauge reads from (set once the store is open).
    pub fn sample_pool_with(&self, sampler: PoolSampler) {
        let _ = self.pool_sampler.set(sampler);
    }

    /// A group-commit batch committed (or failed) after `seconds`.
    pub fn batch(&self, leads: usize, seconds: f64, committed: bool) {
        self.batch_leads.observe(leads as f64);
        self.commit_seconds.observe(seconds);
        if !committed {
            self.commit_failures.inc();
        }
    }

    /// A subject was erased.
    pub fn erased(&self) {
        self.erasures.inc();
    }

    /// Retention deleted rows.
    pub fn purged(&self, leads: u64, quarantined: u64) {
        self.purged.with_label_values(&["lead"]).inc_by(leads);
        self.purged
            .with_label_values(&["quarantined"])
            .inc_by(quarantined);
    }

    pub fn lead(&self, outcome: LeadOutcome) {
        let label = match outcome {
            LeadOutcome::Created => "created",
            LeadOutcome::Duplicate => "duplicate",
            LeadOutcome::Erased => "erased",
            LeadOutcome::Quarantined => "quarantined",
        };
        self.leads.with_label_values(&[label]).inc();
    }

    fn observe(&self, route: &str, method: &str, status: StatusCode, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, status.as_str()])
            .inc();
        self.durations
            .with_label_values(&[route, method])
            .observe(seconds);
        if status == StatusCode::UNAUTHORIZED {
            let kind = if route.starts_with("/webhooks/") {
                "webhook"
            } else {
                "api"
            };
            self.auth_failures.with_label_values(&[kind]).inc();
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.rate_limited.inc();
        }
    }

    /// The text exposition of every metric, sampling the pool first.
    pub fn render(&self) -> String {
        if let Some((open, idle)) = self.pool_sampler.get().and_then(|sample| sample()) {
            self.pool.with_label_values(&["idle"]).set(i64::from(idle));
            self.pool
                .with_label_values(&["in_use"])
                .set(i64::from(open.saturating_sub(idle)));
        }
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl ForwardingObserver for Metrics {
    fn attempted(&self, destination: DestinationId, attempt: &Attempt, outcome: AttemptOutcome) {
        let label = destination.0.to_string();
        let outcome = match outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::RetryAt(_) => "retry",
            AttemptOutcome::Failed => "failed",
        };
        self.forward_deliveries
            .with_label_values(&[&label, outcome])
            .inc();
        self.forward_latency
            .with_label_values(&[&label])
            .observe(attempt.latency.as_secs_f64());
    }

    fn disabled(&self, destination: DestinationId, reason: DisabledReason) {
        tracing::warn!(
            destination = destination.0,
            reason = reason.as_str(),
            "forwarding disabled a destination"
        );
        self.forward_disabled
            .with_label_values(&[reason.as_str()])
            .inc();
    }
}

/// Counts and times every request under its route template.
pub(crate) async fn record<E: Endpoint>(
    metrics: Arc<Metrics>,
    routes: Arc<Routes>,
    next: E,
    request: Request,
) -> poem::Result<Response> {
    let route = routes
        .template(request.uri().path())
        .unwrap_or("unmatched")
        .to_owned();
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = crate::call_boxed(&next, request).await?.into_response();
    metrics.observe(
        &route,
        &method,
        response.status(),
        started.elapsed().as_secs_f64(),
    );
    Ok(response)
}

/// Who may read `/metrics` on the main port: anyone with the key. Without a key it is
/// not served there (use the separate metrics address instead).
#[derive(Clone)]
pub struct MetricsAccess {
    key_hash: Option<[u8; 32]>,
}

impl fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MetricsAccess(key: {})", self.key_hash.is_some())
    }
}

impl MetricsAccess {
    pub fn with_key(key: Option<&str>) -> Self {
        MetricsAccess {
            key_hash: key.map(|key| Sha256::digest(key.as_bytes()).into()),
        }
    }

    fn allows(&self, request: &Request) -> bool {
        let Some(expected) = &self.key_hash else {
            return false;
        };
        let presented = request
            .headers()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|key| -> [u8; 32] { Sha256::digest(key.as_bytes()).into() });
        presented.is_some_and(|hash| bool::from(hash.ct_eq(expected)))
    }
}

/// `GET /metrics` on the main port, behind the metrics key.
pub(crate) fn guarded_endpoint(metrics: Arc<Metrics>, access: MetricsAccess) -> impl Endpoint {
    poem::endpoint::make(move |request: Request| {
        let metrics = metrics.clone();
        let allowed = access.allows(&request);
        async move {
            if allowed {
                Ok(exposition(&metrics).await)
            } else if access.key_hash.is_some() {
                Err(poem::Error::from_status(StatusCode::UNAUTHORIZED))
            } else {
                Err(poem::Error::from_status(StatusCode::NOT_FOUND))
            }
        }
    })
}

async fn exposition(metrics: &Metrics) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render_sampled().await)
}

/// The separate metrics listener's routes: `GET /metrics`, open.
pub fn open_endpoint(metrics: Arc<Metrics>) -> impl Endpoint {
    poem::Route::new().at(
        "/metrics",
        poem::get(poem::endpoint::make(move |_| {
            let metrics = metrics.clone();
            async move { Ok::<_, poem::Error>(exposition(&metrics).await) }
        })),
    )
}
