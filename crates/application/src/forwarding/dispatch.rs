//! The forwarder: each instance runs one. It fans the event log out into deliveries,
//! claims the deliveries that are due under a lease, sends them through the transport
//! (at most `maxInFlight` at a time to one destination, so a slow destination holds up
//! only its own), and records every attempt with what it means: one recorder writes
//! the attempts that finished meanwhile in one transaction, and claims take half a
//! destination's slots at a time under load, so that forwarding costs a few commits
//! per batch rather than two per lead (on SQLite each commit is an fsync).
//!
//! Nothing acknowledged is lost: deliveries are derived from the durable event log,
//! and the fan-out position moves only in the transaction that stores the deliveries
//! it covers. A crash between an attempt and its record leaves a lease that expires,
//! and the delivery is attempted again (at least once; `webhook-id` lets the receiver
//! drop the copy). A graceful stop waits for the attempts under way, so nothing is sent
//! twice.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    fmt,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use lead_inbox_domain::{
    LeadEvent,
    forwarding::{
        Attempt, AttemptOutcome, Delivery, DeliveryId, Destination, DestinationId, DisabledReason,
        ForwardFormat, NewDelivery, RetrySchedule, Verdict,
    },
};
use tokio::{
    sync::{Notify, mpsc, watch},
    task::JoinSet,
};

use super::{
    DeliveryStore, DestinationChange, DestinationStore, EventRenderer, FinishedAttempt,
    ForwardingObserver, Outgoing, SecretSealer, Transport, new_message_id, signing_secrets,
};
use crate::{
    Clock, EventSignal, FeedItem, LeadEventLog, LeadReader, StorageError,
    feed::{Follower, SETTLE},
    ports::now_micros,
};

/// Events fanned out per read of the log.
const FANOUT_BATCH: u32 = 500;
/// How long the list of destinations is trusted before it is read again.
const DESTINATIONS_TTL: Duration = Duration::from_secs(1);
/// How many times `maxInFlight` one claim takes, to keep a queue ready.
const PREFETCH: u32 = 4;
/// A claim is sent only while its lease outlasts an attempt by this much.
const STALE_MARGIN: Duration = Duration::from_secs(1);
/// The most attempts recorded in one transaction.
const RECORD_BATCH: usize = 256;
/// How often the fan-out position is saved when no delivery moved it.
const IDLE_POSITION_SAVE: Duration = Duration::from_secs(5);

/// How the forwarder behaves.
#[derive(Debug, Clone)]
pub struct ForwardingOptions {
    /// When failed attempts are tried again (`LEAD_INBOX_FORWARD_RETRY_SCHEDULE`).
    pub schedule: RetrySchedule,
    /// A destination failing continuously for this long is disabled
    /// (`LEAD_INBOX_FORWARD_DISABLE_AFTER_HOURS`).
    pub disable_after: Duration,
    /// How long a claimed delivery is this instance's: longer than an attempt can take
    /// (the transport's timeout), so that only a dead instance's claims expire.
    pub lease: Duration,
    /// The longest an attempt can take (the transport's timeout): a claim is sent only
    /// while its lease outlasts this.
    pub attempt_limit: Duration,
    /// How often the forwarder looks for work when nothing woke it: retries that came
    /// due, and other instances' events where the store cannot notify.
    pub poll: Duration,
    /// How long a missing event id is waited for (see [`Follower`]).
    pub settle: Duration,
    /// This instance's name on its leases: unique per process.
    pub owner: String,
}

impl ForwardingOptions {
    /// The defaults for a transport that gives up after `timeout`.
    pub fn new(schedule: RetrySchedule, timeout: Duration, owner: String) -> Self {
        ForwardingOptions {
            schedule,
            disable_after: Duration::from_secs(120 * 3600),
            lease: timeout + Duration::from_secs(15),
            attempt_limit: timeout,
            poll: Duration::from_secs(1),
            settle: SETTLE,
            owner,
        }
    }
}

/// The forwarder's ports.
#[derive(Clone)]
pub struct ForwardingPorts {
    pub destinations: Arc<dyn DestinationStore>,
    pub deliveries: Arc<dyn DeliveryStore>,
    pub events: Arc<dyn LeadEventLog>,
    pub leads: Arc<dyn LeadReader>,
    pub transport: Arc<dyn Transport>,
    pub renderer: Arc<dyn EventRenderer>,
    pub sealer: Arc<dyn SecretSealer>,
    pub observer: Arc<dyn ForwardingObserver>,
    pub clock: Arc<dyn Clock>,
}

/// The use case "forward every event to the destinations that want it".
#[derive(Clone)]
pub struct Forwarder {
    ports: ForwardingPorts,
    signal: EventSignal,
    options: Arc<ForwardingOptions>,
}

impl fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forwarder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What the loop learns of an attempt: its request is over (its slot is free), it is
/// recorded, or both.
struct Finished {
    destination: DestinationId,
    request_over: bool,
    recorded: bool,
    /// The destination answered `410`: it is disabled now.
    gone: bool,
}

impl Finished {
    fn both(destination: DestinationId, gone: bool) -> Finished {
        Finished {
            destination,
            request_over: true,
            recorded: true,
            gone,
        }
    }
}

/// Per destination: requests open, and attempts sent and not recorded yet (those open
/// among them). At most `maxInFlight` of the first, twice that of the second: what a
/// crash can make the receiver get twice.
#[derive(Default)]
struct Load {
    open: u32,
    unrecorded: u32,
}

/// A delivery claimed by this instance and not sent yet.
struct Claimed {
    delivery: Delivery,
    lease_until: DateTime<Utc>,
}

/// An attempt to record, with what it says of its destination.
struct Record {
    destination: Destination,
    finished: FinishedAttempt,
    /// Whether it was sent (one that was not says nothing of the destination).
    sent: bool,
}

impl Forwarder {
    pub fn new(ports: ForwardingPorts, signal: EventSignal, options: ForwardingOptions) -> Self {
        Forwarder {
            ports,
            signal,
            options: Arc::new(options),
        }
    }

    /// Forwards until `shutdown` resolves, then waits for the attempts under way and
    /// returns. A failing store is logged and tried again; it never ends the loop.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let (finished_tx, mut finished_rx) = mpsc::unbounded_channel::<Finished>();
        let (record_tx, record_rx) = mpsc::unbounded_channel::<Record>();
        let recorder = tokio::spawn(self.clone().record(record_rx, finished_tx.clone()));
        let mut sends: JoinSet<()> = JoinSet::new();
        let mut in_flight: HashMap<DestinationId, Load> = HashMap::new();
        let mut queued: HashMap<DestinationId, VecDeque<Claimed>> = HashMap::new();
        let mut destinations = Cached::default();
        let enqueued = Arc::new(Notify::new());
        let (stop_fan_out, fan_out_stopped) = watch::channel(false);
        let fan_out = tokio::spawn(self.clone().fan_out_loop(fan_out_stopped, enqueued.clone()));
        tokio::pin!(shutdown);
        loop {
            if let Err(error) = self.refresh(&mut destinations).await {
                tracing::warn!(error = %error, "forwarding cannot read its destinations now; retrying");
            }
            let now = now_micros(self.ports.clock.as_ref());
            // Claims of a destination no longer enabled are left to expire.
            queued.retain(|id, _| destinations.list.iter().any(|d| d.id == *id && d.enabled()));
            for destination in destinations.list.iter().filter(|d| d.enabled()) {
                let queue = queued.entry(destination.id).or_default();
                self.refill(destination, queue, now).await;
                let load = in_flight.entry(destination.id).or_default();
                while load.open < destination.max_in_flight
                    && load.unrecorded < destination.max_in_flight.saturating_mul(2)
                {
                    let Some(claimed) = queue.pop_front() else {
                        break;
                    };
                    load.open += 1;
                    load.unrecorded += 1;
                    self.spawn_attempt(
                        &mut sends,
                        destination.clone(),
                        claimed.delivery,
                        &finished_tx,
                        &record_tx,
                    );
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = enqueued.notified() => {}
                Some(done) = finished_rx.recv() => {
                    let mut done = Some(done);
                    while let Some(Finished { destination, request_over, recorded, gone }) = done {
                        if let Some(load) = in_flight.get_mut(&destination) {
                            load.open = load.open.saturating_sub(u32::from(request_over));
                            load.unrecorded = load.unrecorded.saturating_sub(u32::from(recorded));
                        }
                        if gone {
                            // Disabled, its pending deliveries failed: send none of
                            // those claimed, and read the destinations again.
                            queued.remove(&destination);
                            destinations.read_at = None;
                        }
                        done = finished_rx.try_recv().ok();
                    }
                }
                () = tokio::time::sleep(self.options.poll) => {}
            }
            while sends.try_join_next().is_some() {}
        }
        // Claimed and never sent: due again at once, for the next start or another
        // instance, rather than when the leases expire.
        let unsent: Vec<DeliveryId> = queued
            .into_values()
            .flatten()
            .map(|claimed| claimed.delivery.id)
            .collect();
        if let Err(error) = self
            .ports
            .deliveries
            .release(&self.options.owner, &unsent)
            .await
        {
            tracing::warn!(error = %error, deliveries = unsent.len(),
                "forwarding cannot release its claims; they are due again when their leases expire");
        }
        let _ = stop_fan_out.send(true);
        let _ = fan_out.await;
        // A graceful stop: what was sent is recorded, so nothing goes twice.
        while sends.join_next().await.is_some() {}
        drop(record_tx);
        let _ = recorder.await;
    }

    /// Claims more of a destination's due deliveries when fewer than `maxInFlight` wait
    /// in its queue: up to [`PREFETCH`] times that, in one claim, so that a claim (a
    /// write) is not on the path of every request. Claims whose lease would not outlast
    /// an attempt are dropped first (left to expire), so that no delivery is sent
    /// after its lease could have passed to another instance.
    async fn refill(
        &self,
        destination: &Destination,
        queue: &mut VecDeque<Claimed>,
        now: DateTime<Utc>,
    ) {
        let needed = to_chrono(self.options.attempt_limit + STALE_MARGIN);
        queue.retain(|claimed| claimed.lease_until - now >= needed);
        let waiting = u32::try_from(queue.len()).unwrap_or(u32::MAX);
        if waiting >= destination.max_in_flight {
            return;
        }
        let limit = destination.max_in_flight.saturating_mul(PREFETCH) - waiting;
        let lease_until = now + to_chrono(self.options.lease);
        match self
            .ports
            .deliveries
            .claim(destination.id, &self.options.owner, now, lease_until, limit)
            .await
        {
            Ok(claimed) => queue.extend(claimed.into_iter().map(|delivery| Claimed {
                delivery,
                lease_until,
            })),
            Err(error) => {
                tracing::warn!(error = %error, destination = destination.id.0,
                    "forwarding cannot claim deliveries now; retrying");
            }
        }
    }

    /// Sends one claimed delivery in a task of its own. A `2xx` frees its slot at once
    /// (the delivery stays leased to this instance until its record); anything else,
    /// which may disable the destination or mark it failing, once it is recorded.
    fn spawn_attempt(
        &self,
        sends: &mut JoinSet<()>,
        destination: Destination,
        delivery: Delivery,
        finished: &mpsc::UnboundedSender<Finished>,
        records: &mpsc::UnboundedSender<Record>,
    ) {
        let forwarder = self.clone();
        let finished = finished.clone();
        let records = records.clone();
        sends.spawn(async move {
            let id = destination.id;
            match forwarder.attempt(destination, delivery).await {
                Some(record) if record.finished.attempt.verdict == Verdict::Delivered => {
                    let _ = finished.send(Finished {
                        destination: id,
                        request_over: true,
                        recorded: false,
                        gone: false,
                    });
                    let _ = records.send(record);
                }
                Some(record) => {
                    let _ = records.send(record);
                }
                None => {
                    let _ = finished.send(Finished::both(id, false));
                }
            }
        });
    }

    /// Records finished attempts, as many as are waiting in one transaction, until
    /// every sender is gone.
    async fn record(
        self,
        mut records: mpsc::UnboundedReceiver<Record>,
        finished: mpsc::UnboundedSender<Finished>,
    ) {
        let mut batch = Vec::new();
        while let Some(first) = records.recv().await {
            batch.push(first);
            while batch.len() < RECORD_BATCH {
                match records.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
            // A delivered attempt's request was over before; any other's ends now.
            let release: Vec<Finished> = batch
                .iter()
                .map(|record| {
                    let verdict = record.finished.attempt.verdict;
                    Finished {
                        destination: record.destination.id,
                        request_over: verdict != Verdict::Delivered,
                        recorded: true,
                        gone: record.sent && verdict == Verdict::Gone,
                    }
                })
                .collect();
            self.record_batch(std::mem::take(&mut batch)).await;
            for done in release {
                let _ = finished.send(done);
            }
        }
    }

    async fn record_batch(&self, batch: Vec<Record>) {
        let finished: Vec<FinishedAttempt> =
            batch.iter().map(|record| record.finished.clone()).collect();
        let recorded = match self
            .ports
            .deliveries
            .finish_all(&self.options.owner, &finished)
            .await
        {
            Ok(recorded) => recorded,
            Err(error) => {
                tracing::warn!(error = %error, attempts = batch.len(),
                    "forwarding cannot record attempts; their deliveries will be tried again");
                return;
            }
        };
        for (record, recorded) in batch.into_iter().zip(recorded) {
            let Record {
                destination,
                finished,
                sent,
            } = record;
            if recorded {
                self.ports
                    .observer
                    .attempted(destination.id, &finished.attempt, finished.outcome);
            } else {
                tracing::info!(
                    delivery = finished.id.0,
                    "an attempt finished after its lease had passed to another instance"
                );
            }
            if !sent {
                // Not sent at all (see `Unprepared::Attempt`): says nothing of the
                // destination.
                continue;
            }
            if let Err(error) = self.after(&destination, &finished.attempt).await {
                tracing::warn!(error = %error, destination = destination.id.0,
                    "forwarding cannot record a destination's health now");
            }
        }
    }

    /// Reads the destinations when the cached list is old.
    async fn refresh(&self, destinations: &mut Cached) -> Result<(), StorageError> {
        if destinations
            .read_at
            .is_none_or(|at| at.elapsed() >= DESTINATIONS_TTL)
        {
            destinations.list = self.ports.destinations.list().await?;
            destinations.read_at = Some(Instant::now());
        }
        Ok(())
    }

    /// Fans out the new events; whether that made deliveries.
    async fn step(
        &self,
        fanout: &mut FanOut,
        destinations: &mut Cached,
    ) -> Result<bool, StorageError> {
        self.refresh(destinations).await?;
        let mut made = false;
        loop {
            let (more, created) = self.fan_out(fanout, destinations).await?;
            made |= created;
            if !more {
                return Ok(made);
            }
        }
    }

    /// Fans out events until `stop`, in a task of its own, so that reading the log and
    /// storing deliveries never hold up the requests; `enqueued` wakes the sender when
    /// there are new deliveries.
    async fn fan_out_loop(self, mut stop: watch::Receiver<bool>, enqueued: Arc<Notify>) {
        let mut wake = self.signal.watch();
        let mut fanout = FanOut::new(self.options.settle);
        let mut destinations = Cached::default();
        loop {
            match self.step(&mut fanout, &mut destinations).await {
                Ok(true) => enqueued.notify_one(),
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(error = %error, "forwarding cannot fan out events now; retrying");
                }
            }
            tokio::select! {
                _ = stop.changed() => return,
                () = wake.changed() => {}
                () = tokio::time::sleep(self.options.poll) => {}
            }
        }
    }

    /// Fans out one batch of events; whether there may be more, and whether it made
    /// deliveries.
    async fn fan_out(
        &self,
        fanout: &mut FanOut,
        destinations: &mut Cached,
    ) -> Result<(bool, bool), StorageError> {
        let follower = match &mut fanout.follower {
            Some(follower) => follower,
            None => fanout.follower.insert(Follower::new(
                self.ports.deliveries.fanout_position().await?,
                fanout.settle,
            )),
        };
        let read = self
            .ports
            .events
            .events_after(follower.position(), FANOUT_BATCH)
            .await?;
        let fetched = read.len();
        let before = follower.position();
        // On a failure below, the follower must not have moved: start over from here.
        let mut trial = follower.clone();
        let ready = trial.take(read, Instant::now());
        if ready.is_empty() {
            // Nothing to store, but the follower keeps what it learnt: a gap it is
            // waiting on, and since when (dropping that would restart the wait on every
            // read, and an id that never commits, like a PostgreSQL sequence value taken
            // by a transaction that died, would stop the fan-out for good).
            *follower = trial;
            return Ok((false, false));
        }
        // The destinations are read again after the events: one created since the cached
        // list was read must get these events if they are newer than it (its
        // `after_event`), and one created after this read was created after every one of
        // them was committed, so it wants none of them.
        destinations.list = self.ports.destinations.list().await?;
        destinations.read_at = Some(Instant::now());
        let deliveries = self.deliveries_of(&ready, &destinations.list).await?;
        let position = trial.position();
        let save_idle = fanout
            .saved_at
            .is_none_or(|at| at.elapsed() >= IDLE_POSITION_SAVE);
        let created = !deliveries.is_empty();
        if created || save_idle {
            self.ports.deliveries.enqueue(deliveries, position).await?;
            fanout.saved_at = Some(Instant::now());
        }
        *follower = trial;
        Ok((
            fetched == FANOUT_BATCH as usize && position > before,
            created,
        ))
    }

    /// The deliveries `events` make: one per event and destination that wants it.
    async fn deliveries_of(
        &self,
        events: &[LeadEvent],
        destinations: &[Destination],
    ) -> Result<Vec<NewDelivery>, StorageError> {
        let mut deliveries = Vec::new();
        if destinations.is_empty() {
            return Ok(deliveries);
        }
        let now = now_micros(self.ports.clock.as_ref());
        let mut gone = HashSet::new();
        for event in events {
            if gone.contains(&event.lead_id) {
                continue;
            }
            // A disabled destination gets no deliveries (none pile up behind a CRM that is
            // gone); once it is enabled again, a replay since it was disabled sends what it
            // missed.
            let wanting: Vec<&Destination> = destinations
                .iter()
                .filter(|d| {
                    d.enabled() && event.id > d.after_event && d.events.contains(&event.kind)
                })
                .collect();
            if wanting.is_empty() {
                continue;
            }
            let Some(lead) = self.ports.leads.get_by_id(event.lead_id).await? else {
                gone.insert(event.lead_id);
                continue;
            };
            let entity_type = lead.details.entity_type.as_ref().map(|t| t.as_str());
            for destination in wanting {
                if destination.wants(event.kind, entity_type) {
                    deliveries.push(NewDelivery {
                        destination_id: destination.id,
                        event_id: event.id,
                        kind: event.kind,
                        event_at: event.at,
                        lead_id: lead.id,
                        lead_reference: lead.reference().clone(),
                        replay: 0,
                        message_id: new_message_id()?,
                        created_at: now,
                    });
                }
            }
        }
        Ok(deliveries)
    }

    /// One attempt of one delivery, to record; `None` when the store could not be read
    /// (the delivery stays leased: the lease expires and it is tried again).
    async fn attempt(&self, destination: Destination, delivery: Delivery) -> Option<Record> {
        let (attempt, sent) = match self.prepare(&destination, &delivery).await {
            Ok(message) => (
                self.ports.transport.send(&destination, &message).await,
                true,
            ),
            Err(Unprepared::Storage(error)) => {
                tracing::warn!(error = %error, delivery = delivery.id.0,
                    "forwarding cannot read a delivery's lead now; it will be tried again");
                return None;
            }
            Err(Unprepared::Attempt(attempt)) => (attempt, false),
        };
        let outcome = self.outcome(&delivery, &attempt);
        Some(Record {
            destination,
            finished: FinishedAttempt {
                id: delivery.id,
                attempt,
                outcome,
            },
            sent,
        })
    }

    /// The message of a delivery.
    async fn prepare(
        &self,
        destination: &Destination,
        delivery: &Delivery,
    ) -> Result<Outgoing, Unprepared> {
        let now = self.ports.clock.now();
        let not_sent = |verdict: Verdict, error: String| {
            Unprepared::Attempt(Attempt {
                at: now_micros(self.ports.clock.as_ref()),
                status_code: None,
                latency: Duration::ZERO,
                error: Some(error),
                response: None,
                verdict,
            })
        };
        let Some(lead) = self
            .ports
            .leads
            .get_by_id(delivery.lead_id)
            .await
            .map_err(Unprepared::Storage)?
        else {
            // Erased or purged since (which takes its deliveries too, so this is a
            // race): nothing to send, ever.
            return Err(not_sent(
                Verdict::Gone,
                "the lead is no longer stored".into(),
            ));
        };
        let body = match destination.format {
            ForwardFormat::Casayes => lead.raw.as_bytes().to_vec(),
            ForwardFormat::Lead => self.ports.renderer.render(&FeedItem {
                event: LeadEvent {
                    id: delivery.event_id,
                    lead_id: delivery.lead_id,
                    kind: delivery.kind,
                    at: delivery.event_at,
                },
                lead,
            }),
        };
        let sealed = || -> Result<_, super::SealError> {
            let token = match &destination.casayes_token {
                Some(sealed) => Some(self.ports.sealer.open(sealed)?),
                None => None,
            };
            Ok((
                token,
                signing_secrets(destination, self.ports.sealer.as_ref(), now)?,
            ))
        };
        let (casayes_token, secrets) = sealed().map_err(|error| {
            // A secret sealed with another key (LEAD_INBOX_SECRETS_KEY changed): retried
            // on the schedule, so that it shows in the deliveries until the key is fixed.
            not_sent(Verdict::of_transport_error(), error.to_string())
        })?;
        Ok(Outgoing {
            message_id: delivery.message_id.clone(),
            timestamp: now.timestamp(),
            body,
            secrets,
            casayes_token,
        })
    }

    /// What a delivery becomes after `attempt`.
    fn outcome(&self, delivery: &Delivery, attempt: &Attempt) -> AttemptOutcome {
        match attempt.verdict {
            Verdict::Delivered => AttemptOutcome::Delivered,
            Verdict::Gone => AttemptOutcome::Failed,
            verdict @ Verdict::Retry { .. } => {
                let made = delivery.attempts.saturating_add(1);
                match self.options.schedule.next_delay(made, jitter_unit()) {
                    Some(delay) => {
                        let delay = verdict.next_delay(delay);
                        AttemptOutcome::RetryAt(attempt.at + to_chrono(delay))
                    }
                    None => AttemptOutcome::Failed,
                }
            }
        }
    }

    /// The destination's health after an attempt: gone, failing too long, or well.
    async fn after(
        &self,
        destination: &Destination,
        attempt: &Attempt,
    ) -> Result<(), StorageError> {
        let store = &self.ports.destinations;
        match attempt.verdict {
            Verdict::Delivered => {
                if destination.failing_since.is_some() {
                    store.record_health(destination.id, None).await?;
                }
            }
            Verdict::Gone => {
                self.disable(destination, DisabledReason::Gone).await?;
                self.ports.deliveries.fail_pending(destination.id).await?;
            }
            Verdict::Retry { .. } => match destination.failing_since {
                None => {
                    store
                        .record_health(destination.id, Some(attempt.at))
                        .await?;
                }
                Some(since) if failing_for(since, attempt.at) >= self.options.disable_after => {
                    self.disable(destination, DisabledReason::Failing).await?;
                }
                Some(_) => {}
            },
        }
        Ok(())
    }

    async fn disable(
        &self,
        destination: &Destination,
        reason: DisabledReason,
    ) -> Result<(), StorageError> {
        let current = self.ports.destinations.get(destination.id).await?;
        if current.as_ref().is_none_or(|current| !current.enabled()) {
            return Ok(());
        }
        let change = DestinationChange {
            disabled: Some(Some(reason)),
            updated_at: now_micros(self.ports.clock.as_ref()),
            ..DestinationChange::default()
        };
        self.ports
            .destinations
            .change(destination.id, change)
            .await?;
        tracing::warn!(
            destination = destination.id.0,
            reason = reason.as_str(),
            "a destination was disabled by forwarding; enable it again once it can receive"
        );
        self.ports.observer.disabled(destination.id, reason);
        Ok(())
    }
}

/// Why a delivery's message could not be made.
enum Unprepared {
    /// The store failed: try again later.
    Storage(StorageError),
    /// Nothing was sent, for this reason, recorded as an attempt.
    Attempt(Attempt),
}

/// How long a destination has been failing at `now`.
fn failing_for(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or_default()
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// A random number in `[0, 1)` for the schedule's jitter (`0.5`, no jitter, if the
/// system has no randomness to give).
fn jitter_unit() -> f64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

/// Where the fan-out stands in this instance.
struct FanOut {
    follower: Option<Follower>,
    settle: Duration,
    saved_at: Option<Instant>,
}

impl FanOut {
    fn new(settle: Duration) -> Self {
        FanOut {
            follower: None,
            settle,
            saved_at: None,
        }
    }
}

/// The destinations as last read.
#[derive(Default)]
struct Cached {
    list: Vec<Destination>,
    read_at: Option<Instant>,
}
