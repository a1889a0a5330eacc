//! The composition root: configuration in, adapters wired to use cases, a bound server
//! out. `main` and the integration tests both go through [`Application::build`].

use std::{
    future::Future,
    io,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use lead_inbox_application::{
    ApiAccess, Clock, CredentialKind, CredentialStore, ErasureLog, EventSignal, FeedHub,
    LeadErasure, LeadEventLog, LeadFeed, LeadIntake, LeadQueries, LeadReader, LeadWorkStore,
    LeadWorkflow, LeadWriter, QuarantineStore, RetentionPolicy, SecretString, SignallingLeadWriter,
    SignallingWorkStore, StorageError, StoreHealth, SubjectRights, SystemClock,
    forwarding::{
        Deliveries, DeliveryStore, DestinationStore, Destinations, Forwarder, ForwardingObserver,
        ForwardingOptions, ForwardingPorts, SecretSealer,
    },
};
use lead_inbox_application::{ConsoleAccess, CredentialManagement, SessionStore, UserStore};
use lead_inbox_auth_static::{ApiKeys, WebhookTokens};
use lead_inbox_forward::{
    AeadSealer, NatsTransport, PlainSealer, SecretsKeyError, Transports, WebhookTransport,
};
use lead_inbox_group_commit::{
    BatchObserver, BatchReport, GroupCommitLeadWriter, GroupCommitOptions,
};
use lead_inbox_http::{
    FeedRenderer, HttpConfig, HttpState,
    client::TrustedProxies,
    limits::LimitConfig,
    metrics::{Metrics, MetricsAccess, PoolSampler, open_endpoint as open_metrics},
    serve::{ServeOptions, serve},
};
use lead_inbox_storage_memory::{
    InMemoryConsoleStore, InMemoryCredentialStore, InMemoryErasureLog, InMemoryLeadRepository,
    InMemoryQuarantineStore,
};
use lead_inbox_storage_seaorm::{ConnectError, DatabaseBackend, SeaOrmStore, StoreOptions};
use poem::{EndpointExt, endpoint::BoxEndpoint};

use crate::config::{Config, redact_url};

/// The URL that selects the in-memory adapter.
pub const MEMORY_URL: &str = "memory://";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "no webhook token is configured, so no lead could be accepted: set LEAD_INBOX_WEBHOOK_TOKENS \
         to the token(s) CasaYes sends in the `token` header (comma-separated), or create one with \
         `lead-inbox tokens create --name casayes`"
    )]
    NoWebhookTokens,
    #[error("cannot read the managed webhook tokens")]
    TokenCheck(#[source] lead_inbox_application::StorageError),
    #[error("cannot load the TLS certificate or key")]
    Tls(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot listen on {address}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[cfg(feature = "benchmark-ceiling")]
    #[error(transparent)]
    BenchmarkCeiling(#[from] crate::ceiling::CeilingRefused),
    #[error(
        "unsupported database URL {url}: use sqlite://PATH, postgres://… (or postgresql://), \
         mysql://… (or mariadb://), or memory:// (nothing is kept)"
    )]
    UnsupportedDatabaseUrl { url: String },
    #[error(
        "cannot reach the database {url}: gave up after trying for {tried_seconds:.1} s \
         (LEAD_INBOX_DATABASE_CONNECT_TIMEOUT_SECONDS is {timeout_seconds})"
    )]
    Unreachable {
        url: String,
        tried_seconds: f64,
        timeout_seconds: u64,
        #[source]
        source: ConnectError,
    },
    #[error("LEAD_INBOX_SECRETS_KEY cannot be used")]
    SecretsKey(#[source] SecretsKeyError),
    #[error("LEAD_INBOX_FORWARD_RETRY_SCHEDULE is not valid")]
    RetrySchedule(#[source] crate::config::ConfigError),
    #[error(transparent)]
    ForwardingClient(#[from] lead_inbox_forward::ClientBuildError),
    #[error("cannot open the database {url}")]
    Storage {
        url: String,
        #[source]
        source: ConnectError,
    },
}

/// The storage adapters chosen by the database URL, one field per port. On a database,
/// leads are written through group commit ([`GroupCommitLeadWriter`]); every other
/// port is the store's own. The writers of events (`writer`, `work`) bump `signal`
/// once their commits that added events are done.
pub struct Storage {
    pub writer: Arc<dyn LeadWriter>,
    pub reader: Arc<dyn LeadReader>,
    pub work: Arc<dyn LeadWorkStore>,
    pub events: Arc<dyn LeadEventLog>,
    pub erasure: Arc<dyn LeadErasure>,
    pub health: Arc<dyn StoreHealth>,
    pub quarantine: Arc<dyn QuarantineStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub erasures: Arc<dyn ErasureLog>,
    /// Forwarding's destinations, on the same store as the leads.
    pub destinations: Arc<dyn DestinationStore>,
    /// Forwarding's deliveries: they go with their lead when it is erased or purged.
    pub deliveries: Arc<dyn DeliveryStore>,
    /// "New events may be in the log", for the followers of this process (the live
    /// feed's hub, the forwarding dispatcher: `signal.watch()`). Bumped after each
    /// local commit that added events and, on PostgreSQL, for the server, when any
    /// process committed some ([`SeaOrmStore::listen_for_events`]).
    pub signal: EventSignal,
    /// The web console's users and sessions (issue #20).
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    store: Option<SeaOrmStore>,
    /// The server's: see [`Upkeep`].
    upkeep: Option<Upkeep>,
    /// The server's on PostgreSQL: the task listening for events committed by any
    /// process, stopped with the storage like [`Upkeep`].
    listener: Option<Upkeep>,
}

/// A task that runs for as long as the [`Storage`] that owns it, stopped when it closes
/// or is dropped: the one that keeps SQLite's search index up with the leads and
/// checkpoints its WAL beside the writer ([`SeaOrmStore::keep_up`]), or PostgreSQL's
/// listener ([`SeaOrmStore::listen_for_events`]).
struct Upkeep(tokio::task::AbortHandle);

impl Drop for Upkeep {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the storage is opened for.
enum Role {
    /// A command that runs and ends: SQLite checkpoints in its own commits.
    Command,
    /// The server: every group-commit batch told to `observer`, and SQLite's upkeep
    /// ([`Upkeep`]) beside the writer instead of inside its commits.
    Server { observer: BatchObserver },
}

impl Storage {
    /// Opens the store `url` names and brings its schema up to date, for a command. A
    /// database that cannot be reached is retried with backoff for
    /// `database_connect_timeout_seconds`, saying what it waits for.
    pub async fn open(url: &str, config: &Config) -> Result<Storage, StartError> {
        Self::open_for(url, config, Role::Command).await
    }

    /// As [`Self::open`], for the server: telling `observer` about every group-commit
    /// batch, with SQLite's search index and checkpoints kept by a task of its own
    /// (off the commit path) while this value lives.
    pub async fn open_for_server(
        url: &str,
        config: &Config,
        observer: BatchObserver,
    ) -> Result<Storage, StartError> {
        Self::open_for(url, config, Role::Server { observer }).await
    }

    async fn open_for(url: &str, config: &Config, role: Role) -> Result<Storage, StartError> {
        let url = url.trim();
        let (observer, serving) = match role {
            Role::Command => (None, false),
            Role::Server { observer } => (Some(observer), true),
        };
        #[cfg(feature = "benchmark-ceiling")]
        if url == crate::ceiling::CEILING_URL {
            let flag = std::env::var(crate::ceiling::CEILING_FLAG).ok();
            return Self::ceiling(config, flag.as_deref(), observer);
        }
        if url == MEMORY_URL {
            tracing::warn!("using the in-memory store: leads are lost when the process stops");
            return Ok(Self::in_memory());
        }
        let failed = |source| StartError::Storage {
            url: redact_url(url),
            source,
        };
        let options = StoreOptions {
            max_connections: config.database_max_connections,
            allow_unsafe_durability: config.allow_unsafe_durability,
            background_checkpoints: serving,
            ..StoreOptions::default()
        };
        let timeout_seconds = config.database_connect_timeout_seconds;
        let started = Instant::now();
        let deadline = started + Duration::from_secs(timeout_seconds);
        let mut delay = Duration::from_millis(250);
        let mut attempts = 0;
        let store = loop {
            attempts += 1;
            match SeaOrmStore::connect(url, &options).await {
                Ok(store) => break store,
                Err(ConnectError::Connect(error)) if Instant::now() + delay < deadline => {
                    // `error` carries the cause (see `SeaOrmStore::connect`); the first
                    // failure also says how long start-up keeps trying.
                    if attempts == 1 {
                        tracing::warn!(
                            database = %redact_url(url),
                            error = %error,
                            "cannot reach the database; trying again for up to {timeout_seconds} s \
                             (LEAD_INBOX_DATABASE_CONNECT_TIMEOUT_SECONDS)"
                        );
                    } else {
                        tracing::warn!(
                            database = %redact_url(url),
                            error = %error,
                            retry_in_ms = delay.as_millis() as u64,
                            "waiting for the database"
                        );
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(source @ ConnectError::Connect(_)) => {
                    return Err(StartError::Unreachable {
                        url: redact_url(url),
                        tried_seconds: started.elapsed().as_secs_f64(),
                        timeout_seconds,
                        source,
                    });
                }
                Err(ConnectError::UnsupportedScheme) => {
                    return Err(StartError::UnsupportedDatabaseUrl {
                        url: redact_url(url),
                    });
                }
                Err(error) => return Err(failed(error)),
            }
        };
        store.migrate().await.map_err(failed)?;
        // SQLite has one writer: one committer. Servers take several, so that a batch
        // gathers while another commits.
        let writers = if store.backend() == DatabaseBackend::Sqlite {
            1
        } else {
            server_writers(config)
        };
        let leads = Arc::new(store.leads());
        let writer = group_commit(leads.clone(), config, writers, observer);
        let upkeep = serving.then(|| Upkeep(tokio::spawn(store.clone().keep_up()).abort_handle()));
        let storage = Storage::on(
            leads,
            Arc::new(writer),
            Arc::new(store.quarantine()),
            Arc::new(store.credentials()),
            Arc::new(store.erasures()),
            Arc::new(store.forwarding()),
        );
        let listener = (serving && store.backend() == DatabaseBackend::Postgres).then(|| {
            let listening = store.clone().listen_for_events(storage.signal.clone());
            Upkeep(tokio::spawn(listening).abort_handle())
        });
        let console = Arc::new(store.console());
        Ok(Storage {
            store: Some(store),
            upkeep,
            users: console.clone(),
            sessions: console,
            listener,
            ..storage
        })
    }

    /// Every port on one in-memory state; nothing is kept when the process stops.
    fn in_memory() -> Storage {
        let leads = Arc::new(InMemoryLeadRepository::new());
        let forwarding = Arc::new(leads.forwarding());
        Storage::on(
            leads.clone(),
            leads,
            Arc::new(InMemoryQuarantineStore::new()),
            Arc::new(InMemoryCredentialStore::new()),
            Arc::new(InMemoryErasureLog::new()),
            forwarding,
        )
    }

    /// The ports of a store whose `leads` serve every lead port, its leads written
    /// through `writer` (the store's own, or group commit in front of it), the writers
    /// of events bumping a new [`EventSignal`], and whose `forwarding` serves
    /// forwarding's ports on the same database (so that a lead's deliveries go with it).
    /// Public for the tests, which wire a store's ports the way the server does.
    pub fn on<L, F>(
        leads: Arc<L>,
        writer: Arc<dyn LeadWriter>,
        quarantine: Arc<dyn QuarantineStore>,
        credentials: Arc<dyn CredentialStore>,
        erasures: Arc<dyn ErasureLog>,
        forwarding: Arc<F>,
    ) -> Storage
    where
        L: LeadReader + LeadWorkStore + LeadEventLog + LeadErasure + StoreHealth + 'static,
        F: DestinationStore + DeliveryStore + 'static,
    {
        let signal = EventSignal::new();
        // The console's people start in memory; `open` and `with_console` put them in
        // the store.
        let console = Arc::new(InMemoryConsoleStore::new());
        Storage {
            writer: Arc::new(SignallingLeadWriter::new(writer, signal.clone())),
            users: console.clone(),
            sessions: console,
            reader: leads.clone(),
            work: Arc::new(SignallingWorkStore::new(leads.clone(), signal.clone())),
            events: leads.clone(),
            erasure: leads.clone(),
            health: leads,
            quarantine,
            credentials,
            erasures,
            destinations: forwarding.clone(),
            deliveries: forwarding,
            signal,
            store: None,
            upkeep: None,
            listener: None,
        }
    }

    /// The benchmark's ceiling (`discard://`, when `flag` allows it): leads and
    /// quarantined payloads are discarded behind the same group commit as a database
    /// server's writes, so that the ceiling runs the durable servers' pipeline but for
    /// the store; the other ports are in-memory ones, which stay empty.
    #[cfg(feature = "benchmark-ceiling")]
    fn ceiling(
        config: &Config,
        flag: Option<&str>,
        observer: Option<BatchObserver>,
    ) -> Result<Storage, StartError> {
        let (writer, quarantine) = crate::ceiling::open(flag)?;
        let writer = group_commit(writer, config, server_writers(config), observer);
        Ok(Storage {
            writer: Arc::new(writer),
            quarantine,
            ..Self::in_memory()
        })
    }

    /// These ports with the console's users and sessions kept in `console` (for the
    /// tests, which wire a database's ports as the server does).
    pub fn with_console<C>(self, console: Arc<C>) -> Storage
    where
        C: UserStore + SessionStore + 'static,
    {
        Storage {
            users: console.clone(),
            sessions: console,
            ..self
        }
    }

    /// The console's use case "who may sign in", on this storage.
    pub fn console_access(&self, config: &Config, clock: Arc<dyn Clock>) -> ConsoleAccess {
        ConsoleAccess::new(
            self.users.clone(),
            self.sessions.clone(),
            clock,
            Duration::from_secs(u64::from(config.console_session_idle_minutes) * 60),
        )
    }

    /// The ports the copy use case reads and writes.
    pub fn as_copy_side(&self) -> lead_inbox_application::copy::Store {
        lead_inbox_application::copy::Store {
            reader: self.reader.clone(),
            writer: self.writer.clone(),
            work: self.work.clone(),
            erasure: self.erasure.clone(),
            quarantine: self.quarantine.clone(),
        }
    }

    /// The data subjects' rights and retention, on this storage.
    pub fn rights(&self, config: &Config, clock: Arc<dyn Clock>) -> SubjectRights {
        SubjectRights::new(
            self.erasure.clone(),
            self.quarantine.clone(),
            self.erasures.clone(),
            clock,
            config.erasure_audit_key.clone().map(SecretString::from),
        )
    }

    /// The forwarder on this storage: it sends what the event log holds to the
    /// destinations, woken by `signal`, telling `observer` what it does.
    pub fn forwarder(
        &self,
        config: &Config,
        clock: Arc<dyn Clock>,
        signal: EventSignal,
        observer: Arc<dyn ForwardingObserver>,
    ) -> Result<Forwarder, StartError> {
        let timeout = Duration::from_secs(config.forward_timeout_seconds);
        let transport = Transports {
            webhook: WebhookTransport::new(timeout, config.forward_allow_private)?,
            nats: NatsTransport::new(timeout, config.nats_creds.clone()),
        };
        let mut options = ForwardingOptions::new(
            config.retry_schedule().map_err(StartError::RetrySchedule)?,
            timeout,
            lease_owner(),
        );
        options.disable_after = Duration::from_secs(config.forward_disable_after_hours * 3600);
        let forwarder = Forwarder::new(
            ForwardingPorts {
                destinations: self.destinations.clone(),
                deliveries: self.deliveries.clone(),
                events: self.events.clone(),
                leads: self.reader.clone(),
                transport: Arc::new(transport),
                renderer: Arc::new(FeedRenderer),
                sealer: secret_sealer(config)?,
                observer,
                clock,
            },
            signal,
            options,
        );
        Ok(forwarder)
    }

    /// Forwarding's use cases on this storage: the destinations (their secrets sealed
    /// as `LEAD_INBOX_SECRETS_KEY` says) and the deliveries, waking `signal`'s
    /// followers when there is new work.
    pub fn forwarding(
        &self,
        config: &Config,
        clock: Arc<dyn Clock>,
        signal: EventSignal,
    ) -> Result<(Destinations, Deliveries), StartError> {
        let destinations = Destinations::new(
            self.destinations.clone(),
            self.events.clone(),
            secret_sealer(config)?,
            clock.clone(),
            signal.clone(),
            config.forward_allow_private,
        );
        let deliveries = Deliveries::new(
            self.deliveries.clone(),
            self.destinations.clone(),
            self.events.clone(),
            self.reader.clone(),
            clock,
            signal,
        );
        Ok((destinations, deliveries))
    }

    /// Samples the database pool for the metrics.
    pub fn pool_sampler(&self) -> Option<PoolSampler> {
        let store = self.store.clone()?;
        Some(Arc::new(move || store.pool_stats()))
    }

    /// See [`SeaOrmStore::settle_after_bulk_load`]; nothing to do in memory.
    pub async fn settle_after_bulk_load(&self) -> Result<(), StorageError> {
        match &self.store {
            Some(store) => store.settle_after_bulk_load().await,
            None => Ok(()),
        }
    }

    /// Stops the upkeep and the listener, then closes the pool.
    pub async fn close(&self) {
        for Upkeep(task) in self.upkeep.iter().chain(&self.listener) {
            task.abort();
        }
        if let Some(store) = &self.store {
            store.close().await;
        }
    }
}

/// This process's name on the deliveries it claims: the host, the process id and a
/// random part (a restarted process, even with the same pid, never owns its
/// predecessor's leases).
fn lease_owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let random = lead_inbox_application::forwarding::new_message_id()
        .map(|id| id[4..12].to_owned())
        .unwrap_or_default();
    format!("{host}-{}-{random}", std::process::id())
}

/// How forwarding's secrets are sealed before they are stored: encrypted under
/// `LEAD_INBOX_SECRETS_KEY` when it is set, in plain text (`plain:`) otherwise. A
/// malformed key stops start-up.
fn secret_sealer(config: &Config) -> Result<Arc<dyn SecretSealer>, StartError> {
    Ok(match &config.secrets_key {
        Some(key) => Arc::new(AeadSealer::from_base64(key).map_err(StartError::SecretsKey)?),
        None => Arc::new(PlainSealer),
    })
}

/// The group-commit writer in front of `inner`, with the configured batches and
/// `writers` committing in parallel.
fn group_commit(
    inner: Arc<dyn LeadWriter>,
    config: &Config,
    writers: usize,
    observer: Option<BatchObserver>,
) -> GroupCommitLeadWriter {
    GroupCommitLeadWriter::observed(
        inner,
        GroupCommitOptions {
            max_batch: config.group_commit_max_batch,
            max_wait: Duration::from_micros(config.group_commit_max_wait_micros),
            queue_capacity: config.write_queue_capacity,
            writers,
        },
        observer,
    )
}

/// Writers committing in parallel on a database server: half the pool.
fn server_writers(config: &Config) -> usize {
    (config.database_max_connections as usize / 2).max(1)
}

/// A built service: listening on [`Self::address`], serving once run.
pub struct Application {
    address: SocketAddr,
    listener: tokio::net::TcpListener,
    routes: BoxEndpoint<'static>,
    serve: ServeOptions,
    /// The separate metrics listener, when `metrics_bind` is set.
    metrics: Option<(SocketAddr, tokio::net::TcpListener, BoxEndpoint<'static>)>,
    storage: Storage,
    /// Told when shutdown begins, so that endless responses (the live feed) end.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Forwards events to the destinations while the server runs.
    forwarder: Forwarder,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the storage (running migrations), wires the use cases and binds the
    /// listener. Port 0 binds a free port: see [`Self::address`].
    pub async fn build(config: Config) -> Result<Application, StartError> {
        if config.api_keys.is_empty() {
            tracing::warn!(
                "no API key is configured (LEAD_INBOX_API_KEYS): /api/v1 accepts only keys created with `lead-inbox api-keys create`"
            );
        }
        let metrics = Metrics::new();
        let observed = metrics.clone();
        let observer: BatchObserver = Arc::new(move |batch: BatchReport| {
            observed.batch(batch.leads, batch.commit.as_secs_f64(), batch.committed)
        });
        let storage = Storage::open_for_server(&config.database_url, &config, observer).await?;
        if let Some(sampler) = storage.pool_sampler() {
            metrics.sample_pool_with(sampler);
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        if config.webhook_tokens.is_empty() {
            let managed = storage
                .credentials
                .list(CredentialKind::WebhookToken)
                .await
                .map_err(StartError::TokenCheck)?;
            if !managed.iter().any(|token| token.is_valid_at(clock.now())) {
                storage.close().await;
                return Err(StartError::NoWebhookTokens);
            }
        }
        let tokens = Arc::new(WebhookTokens::new(
            &config.webhook_tokens,
            Some(storage.credentials.clone()),
            clock.clone(),
        ));
        let keys = Arc::new(ApiKeys::new(
            &config.api_keys,
            Some(storage.credentials.clone()),
            clock.clone(),
        ));
        let rights = storage.rights(&config, clock.clone());
        let (stopping, _) = tokio::sync::watch::channel(false);
        let feed = LeadFeed::with_timing(
            storage.events.clone(),
            storage.reader.clone(),
            Duration::from_millis(config.feed_poll_millis),
            lead_inbox_application::feed::SETTLE,
        );
        let hub = FeedHub::start(feed.clone(), &storage.signal);
        let forwarding = storage
            .forwarding(&config, clock.clone(), storage.signal.clone())
            .and_then(|(destinations, deliveries)| {
                let forwarder = storage.forwarder(
                    &config,
                    clock.clone(),
                    storage.signal.clone(),
                    metrics.clone(),
                )?;
                Ok((destinations, deliveries, forwarder))
            });
        let (destinations, deliveries, forwarder) = match forwarding {
            Ok(forwarding) => forwarding,
            Err(error) => {
                storage.close().await;
                return Err(error);
            }
        };
        metrics.sample_backlog_with(storage.deliveries.clone());
        tokio::spawn(maintain_periodically(
            rights.clone(),
            config.retention(),
            feed.clone(),
            metrics.clone(),
        ));
        let console = match config.console {
            crate::config::ConsoleSwitch::On => Some(lead_inbox_console::ConsoleState {
                access: storage.console_access(&config, clock.clone()),
                queries: LeadQueries::new(
                    storage.reader.clone(),
                    storage.quarantine.clone(),
                    storage.health.clone(),
                ),
                workflow: LeadWorkflow::new(
                    storage.reader.clone(),
                    storage.work.clone(),
                    clock.clone(),
                ),
                feed: hub.clone(),
                intake: LeadIntake::new(
                    storage.writer.clone(),
                    storage.quarantine.clone(),
                    tokens.clone(),
                    clock.clone(),
                ),
                credentials: CredentialManagement::new(storage.credentials.clone(), clock.clone()),
                rights: rights.clone(),
                forwarding: lead_inbox_console::ConsoleForwarding {
                    destinations: destinations.clone(),
                    deliveries: deliveries.clone(),
                },
                stopping: stopping.subscribe(),
            }),
            crate::config::ConsoleSwitch::Off => None,
        };
        let state = HttpState {
            intake: LeadIntake::new(
                storage.writer.clone(),
                storage.quarantine.clone(),
                tokens,
                clock.clone(),
            ),
            queries: LeadQueries::new(
                storage.reader.clone(),
                storage.quarantine.clone(),
                storage.health.clone(),
            ),
            workflow: LeadWorkflow::new(storage.reader.clone(), storage.work.clone(), clock),
            feed: hub,
            stopping: stopping.subscribe(),
            access: ApiAccess::new(keys),
            rights,
            destinations,
            deliveries,
            metrics: metrics.clone(),
        };
        let http = HttpConfig {
            max_body_bytes: config.max_body_bytes,
            retry_after: Duration::from_secs(config.retry_after_seconds),
            metrics_access: MetricsAccess::with_key(config.metrics_key.as_deref()),
            trusted_proxies: TrustedProxies::new(config.trusted_proxies.clone()),
            limits: LimitConfig {
                request_timeout: Duration::from_secs(config.request_timeout_seconds),
                auth_failures_per_minute: config.auth_failures_per_minute,
                api_requests_per_minute: config.api_requests_per_minute,
            },
        };
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                Some(crate::tls::server_config(cert, key).map_err(StartError::Tls)?)
            }
            _ => None,
        };
        let serve = ServeOptions {
            header_read_timeout: Duration::from_secs(config.header_read_timeout_seconds),
            max_connections: config.max_connections,
            tls,
            grace: Duration::from_secs(config.shutdown_grace_seconds),
        };
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                address: config.bind,
                source,
            })?;
        let address = listener.local_addr().unwrap_or(config.bind);
        let metrics = match config.metrics_bind {
            Some(bind) => {
                let listener = tokio::net::TcpListener::bind(bind)
                    .await
                    .map_err(|source| StartError::Bind {
                        address: bind,
                        source,
                    })?;
                let bound = listener.local_addr().unwrap_or(bind);
                tracing::info!(address = %bound, "metrics are served on their own address");
                Some((
                    bound,
                    listener,
                    open_metrics(metrics).map_to_response().boxed(),
                ))
            }
            None => None,
        };
        let api = lead_inbox_http::routes(state, http);
        let routes = match console {
            // The console beside the API, outside `/api/v1` and its OpenAPI document.
            Some(console) => {
                let settings = lead_inbox_console::ConsoleSettings {
                    timezone: config.timezone,
                    secure_cookies: serve.tls.is_some(),
                };
                poem::Route::new()
                    .nest(
                        lead_inbox_console::PREFIX,
                        lead_inbox_console::routes(console, settings),
                    )
                    .nest("/", api)
                    .map_to_response()
                    .boxed()
            }
            None => api.map_to_response().boxed(),
        };
        tracing::info!(
            address = %address,
            docs = %docs_url(address, serve.tls.is_some()),
            database = %redact_url(&config.database_url),
            webhook_tokens = config.webhook_tokens.len(),
            api_keys = config.api_keys.len(),
            max_body_bytes = config.max_body_bytes,
            tls = serve.tls.is_some(),
            "lead inbox is ready"
        );
        Ok(Application {
            address,
            listener,
            routes,
            serve,
            metrics,
            storage,
            stopping,
            forwarder,
        })
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Forwarding's stores, as the server uses them: for the tests, which look at
    /// deliveries beside the API.
    pub fn forwarding_stores(&self) -> (Arc<dyn DestinationStore>, Arc<dyn DeliveryStore>) {
        (
            self.storage.destinations.clone(),
            self.storage.deliveries.clone(),
        )
    }

    /// The process's wake-up for followers of the event log (see [`Storage::signal`]):
    /// take `signal().watch()` before serving.
    pub fn signal(&self) -> EventSignal {
        self.storage.signal.clone()
    }

    /// The separate metrics address, when one is configured.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(address, _, _)| *address)
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish (up to
    /// the grace period) and closes the database pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let signal = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let stopping = self.stopping.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stopping.send(true);
            let _ = stop.send(true);
        });
        // Forwarding stops with the server and finishes the attempts under way first,
        // so that a graceful stop sends nothing twice.
        let forwarding = tokio::spawn(self.forwarder.run(signal(stopped.clone())));
        let main = serve(
            self.listener,
            self.routes,
            self.serve.clone(),
            signal(stopped.clone()),
        );
        let result = match self.metrics {
            Some((_, listener, routes)) => {
                let options = ServeOptions {
                    tls: None,
                    ..self.serve
                };
                let (main, metrics) =
                    tokio::join!(main, serve(listener, routes, options, signal(stopped)));
                main.and(metrics)
            }
            None => main.await,
        };
        if let Err(error) = forwarding.await {
            tracing::error!(error = %error, "forwarding ended abnormally");
        }
        self.storage.close().await;
        tracing::info!("lead inbox stopped");
        result
    }

    /// Serves until SIGTERM or ctrl-c.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Where the API's documentation (the Swagger UI) is served, for the ready line: a
/// wildcard bind address is given as the loopback address, which a browser on the same
/// machine can open.
fn docs_url(address: SocketAddr, tls: bool) -> String {
    let mut reachable = address;
    if address.ip().is_unspecified() {
        reachable.set_ip(match address {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{reachable}/docs")
}

/// How often the maintenance pass (retention, live-feed log pruning) runs while serving.
pub const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(3600);

/// Runs the maintenance pass at start and then every [`MAINTENANCE_INTERVAL`]: the
/// retention purge when one is configured, and pruning the live feed's old events. A
/// failed pass is logged and tried again at the next tick.
async fn maintain_periodically(
    rights: SubjectRights,
    policy: RetentionPolicy,
    feed: LeadFeed,
    metrics: Arc<Metrics>,
) {
    let mut ticks = tokio::time::interval(MAINTENANCE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if !policy.is_off() {
            match rights.purge(policy, |_| {}).await {
                Ok(purged) => {
                    metrics.purged(purged.leads, purged.quarantined);
                    if purged.leads + purged.quarantined > 0 {
                        tracing::info!(
                            leads = purged.leads,
                            quarantined = purged.quarantined,
                            "retention purged old data"
                        );
                    }
                }
                Err(error) => {
                    tracing::error!(error = %error, cause = ?std::error::Error::source(&error), "the retention pass failed; it runs again in an hour");
                }
            }
        }
        if let Err(error) = feed.prune(chrono::Utc::now()).await {
            tracing::error!(error = %error, "pruning the live feed's old events failed; it runs again in an hour");
        }
    }
}

/// Completes on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received: shutting down"),
        () = terminate => tracing::info!("SIGTERM received: shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "benchmark-ceiling")]
    #[tokio::test]
    async fn the_ceiling_discards_behind_group_commit_and_reads_an_empty_store() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use lead_inbox_application::InsertOutcome;
        use lead_inbox_domain::{NewLead, RawPayload, casayes};

        let config = Config::default();
        assert!(matches!(
            Storage::ceiling(&config, None, None),
            Err(StartError::BenchmarkCeiling(_))
        ));
        let batched = Arc::new(AtomicUsize::new(0));
        let seen = batched.clone();
        let observer: BatchObserver = Arc::new(move |batch: BatchReport| {
            assert!(batch.committed);
            seen.fetch_add(batch.leads, Ordering::SeqCst);
        });
        let storage = Storage::ceiling(&config, Some("1"), Some(observer)).expect("allowed");
        let raw = casayes::SPEC_EXAMPLE.as_bytes();
        let lead = NewLead {
            details: casayes::parse_payload(raw).expect("the example parses"),
            raw: RawPayload::new(raw.to_vec()),
            received_at: chrono::Utc::now(),
        };
        let reference = lead.details.reference.clone();
        for _ in 0..2 {
            assert_eq!(
                storage
                    .writer
                    .insert_batch(vec![lead.clone()])
                    .await
                    .expect("answered"),
                [InsertOutcome::Created],
                "nothing is kept, so a redelivery is created again"
            );
        }
        assert_eq!(
            batched.load(Ordering::SeqCst),
            2,
            "both went through group commit"
        );
        assert_eq!(storage.reader.count().await.expect("count"), 0);
        assert_eq!(storage.reader.get(&reference).await.expect("get"), None);
        storage.health.ping().await.expect("ready");
    }

    #[test]
    fn the_docs_address_is_one_a_browser_can_open() {
        let at = |text: &str| text.parse::<SocketAddr>().expect("an address");
        assert_eq!(
            docs_url(at("127.0.0.1:8080"), false),
            "http://127.0.0.1:8080/docs"
        );
        assert_eq!(
            docs_url(at("0.0.0.0:8443"), true),
            "https://127.0.0.1:8443/docs"
        );
        assert_eq!(docs_url(at("[::]:8080"), false), "http://[::1]:8080/docs");
    }

    #[tokio::test]
    async fn the_servers_storage_owns_its_upkeep_and_a_commands_has_none() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}/lead-inbox.db", dir.path().display());
        let config = Config {
            database_url: url.clone(),
            ..Config::default()
        };
        let command = Storage::open(&url, &config).await.expect("opened");
        assert!(
            command.upkeep.is_none(),
            "a command leaves SQLite its own checkpoints"
        );
        command.close().await;

        let observer: BatchObserver = Arc::new(|_| {});
        let server = Storage::open_for_server(&url, &config, observer)
            .await
            .expect("opened");
        let Some(Upkeep(task)) = &server.upkeep else {
            panic!("the server's storage runs its upkeep");
        };
        let task = task.clone();
        tokio::task::yield_now().await;
        assert!(
            !task.is_finished(),
            "the upkeep runs while the storage lives"
        );
        drop(server);
        tokio::time::timeout(Duration::from_secs(5), async {
            while !task.is_finished() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("dropping the storage stops its upkeep");
    }
}
