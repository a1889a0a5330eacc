//! The forwarder's rules, on the in-memory adapters, with a scripted transport (the
//! real transports, against a real receiver, are tested in `crates/forward` and in the
//! end-to-end tests): every event once to each destination that wants it, the retry
//! schedule to the dead-letter view, `410`, `maxInFlight`, a graceful stop, several
//! forwarders on one store.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicU32, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use lead_inbox_application::{
    EventSignal, FeedItem, LeadEventLog, LeadWriter, PageRequest, SecretString, StorageError,
    SystemClock,
    forwarding::{
        Deliveries, DeliveryFilter, DeliveryStore, DestinationRequest, Destinations, EventRenderer,
        Forwarder, ForwardingOptions, ForwardingPorts, NoObserver, Outgoing, SealError,
        SecretSealer, Transport,
    },
};
use lead_inbox_domain::{
    LeadEvent, LeadEventKind, NewLead, RawPayload,
    casayes::parse_payload,
    forwarding::{
        Attempt, DeliveryStatus, Destination, DestinationId, DisabledReason, RetrySchedule, Verdict,
    },
};
use lead_inbox_storage_memory::{InMemoryForwardingStore, InMemoryLeadRepository};
use tokio::sync::oneshot;

/// Secrets kept as they are (the real sealers are `crates/forward`'s).
struct Clear;

impl SecretSealer for Clear {
    fn seal(&self, secret: &str) -> String {
        secret.to_owned()
    }

    fn open(&self, sealed: &str) -> Result<SecretString, SealError> {
        Ok(SecretString::from(sealed.to_owned()))
    }
}

/// The body: the event id, kind and lead reference, enough to tell messages apart.
struct Plain;

impl EventRenderer for Plain {
    fn render(&self, item: &FeedItem) -> Vec<u8> {
        format!(
            "{} {:?} {}",
            item.event.id,
            item.event.kind,
            item.lead.reference().as_str()
        )
        .into_bytes()
    }
}

#[derive(Debug, Clone)]
struct Sent {
    destination: DestinationId,
    message_id: String,
    body: String,
    secrets: usize,
}

/// A transport that answers by script: a body holding a marker gets its verdict,
/// everything else is delivered. It records what it sent and how many attempts were
/// open at once, and can hold every attempt until released.
#[derive(Default)]
struct Scripted {
    sent: Mutex<Vec<Sent>>,
    verdicts: Mutex<Vec<(String, Verdict)>>,
    open: AtomicU32,
    most_open: AtomicU32,
    hold: Mutex<Option<tokio::sync::watch::Receiver<bool>>>,
}

impl Scripted {
    fn answer(&self, marker: &str, verdict: Verdict) {
        self.verdicts
            .lock()
            .unwrap()
            .push((marker.to_owned(), verdict));
    }

    fn clear(&self) {
        self.verdicts.lock().unwrap().clear();
    }

    fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl Transport for Scripted {
    async fn send(&self, destination: &Destination, message: &Outgoing) -> Attempt {
        let open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_open.fetch_max(open, Ordering::SeqCst);
        let hold = self.hold.lock().unwrap().clone();
        if let Some(mut hold) = hold {
            let _ = hold.wait_for(|released| *released).await;
        }
        let body = String::from_utf8(message.body.clone()).unwrap();
        self.sent.lock().unwrap().push(Sent {
            destination: destination.id,
            message_id: message.message_id.clone(),
            body: body.clone(),
            secrets: message.secrets.len(),
        });
        let verdict = self
            .verdicts
            .lock()
            .unwrap()
            .iter()
            .find(|(marker, _)| body.contains(marker.as_str()))
            .map(|(_, verdict)| *verdict)
            .unwrap_or(Verdict::Delivered);
        self.open.fetch_sub(1, Ordering::SeqCst);
        Attempt {
            at: chrono::Utc::now(),
            status_code: Some(match verdict {
                Verdict::Delivered => 200,
                Verdict::Gone => 410,
                Verdict::Retry { .. } => 500,
            }),
            latency: Duration::from_millis(1),
            error: None,
            response: Some("ok".into()),
            verdict,
        }
    }
}

struct World {
    leads: Arc<InMemoryLeadRepository>,
    store: InMemoryForwardingStore,
    transport: Arc<Scripted>,
    signal: EventSignal,
    destinations: Destinations,
    deliveries: Deliveries,
}

impl World {
    fn new() -> World {
        let leads = Arc::new(InMemoryLeadRepository::new());
        let store = leads.forwarding();
        let signal = EventSignal::new();
        let destinations = Destinations::new(
            Arc::new(store.clone()),
            leads.clone(),
            Arc::new(Clear),
            Arc::new(SystemClock),
            signal.clone(),
            true,
        );
        let deliveries = Deliveries::new(
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            leads.clone(),
            leads.clone(),
            Arc::new(SystemClock),
            signal.clone(),
        );
        World {
            leads,
            store,
            transport: Arc::new(Scripted::default()),
            signal,
            destinations,
            deliveries,
        }
    }

    fn forwarder(&self, owner: &str, schedule: &str) -> Forwarder {
        self.forwarder_reading(owner, schedule, self.leads.clone())
    }

    /// A forwarder that reads the event log through `events`.
    fn forwarder_reading(
        &self,
        owner: &str,
        schedule: &str,
        events: Arc<dyn LeadEventLog>,
    ) -> Forwarder {
        let mut options = ForwardingOptions::new(
            RetrySchedule::parse(schedule).unwrap(),
            Duration::from_secs(5),
            owner.to_owned(),
        );
        options.poll = Duration::from_millis(20);
        options.settle = Duration::from_millis(50);
        Forwarder::new(
            ForwardingPorts {
                destinations: Arc::new(self.store.clone()),
                deliveries: Arc::new(self.store.clone()),
                events,
                leads: self.leads.clone(),
                transport: self.transport.clone(),
                renderer: Arc::new(Plain),
                sealer: Arc::new(Clear),
                observer: Arc::new(NoObserver),
                clock: Arc::new(SystemClock),
            },
            self.signal.clone(),
            options,
        )
    }

    /// Starts a forwarder; the sender stops it (gracefully).
    fn start(
        &self,
        owner: &str,
        schedule: &str,
    ) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        run(self.forwarder(owner, schedule))
    }

    async fn destination(&self, events: &[LeadEventKind], max_in_flight: u32) -> DestinationId {
        self.destinations
            .create(DestinationRequest {
                url: "http://127.0.0.1:9/hooks".into(),
                events: Some(events.iter().copied().collect::<BTreeSet<_>>()),
                max_in_flight: Some(max_in_flight),
                ..DestinationRequest::default()
            })
            .await
            .unwrap()
            .destination
            .id
    }

    async fn post(&self, references: &[&str]) {
        let leads = references
            .iter()
            .map(|reference| {
                let raw = format!(
                    r#"{{"LeadReference":"{reference}","Name":"Ana","Email":"ana@example.com","EntityType":"Listing"}}"#
                )
                .into_bytes();
                NewLead {
                    details: parse_payload(&raw).unwrap(),
                    raw: RawPayload::new(raw),
                    received_at: chrono::Utc::now(),
                }
            })
            .collect();
        self.leads.insert_batch(leads).await.unwrap();
        self.signal.bump();
    }

    async fn statuses(&self) -> HashMap<String, (DeliveryStatus, u32)> {
        let page = self
            .deliveries
            .list(
                &DeliveryFilter::default(),
                PageRequest::new(Some(500), None).unwrap(),
            )
            .await
            .unwrap();
        page.items
            .into_iter()
            .map(|(delivery, attempts)| {
                assert_eq!(attempts.len() as u32, delivery.attempts);
                (
                    delivery.lead_reference.as_str().to_owned(),
                    (delivery.status, delivery.attempts),
                )
            })
            .collect()
    }

    async fn until(&self, what: &str, check: impl Fn(&World) -> bool) {
        for _ in 0..500 {
            if check(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{what} did not happen within 5 s; sent: {:?}",
            self.transport.sent()
        );
    }
}

/// Runs `forwarder`; the sender stops it (gracefully).
fn run(forwarder: Forwarder) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(forwarder.run(async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

/// The event log with one id that never commits, as a PostgreSQL sequence value taken
/// by a transaction that was killed (`0`: none yet).
struct Gapped {
    log: Arc<InMemoryLeadRepository>,
    missing: AtomicI64,
}

#[async_trait]
impl LeadEventLog for Gapped {
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<LeadEvent>, StorageError> {
        let missing = self.missing.load(Ordering::SeqCst);
        let mut events = self.log.events_after(after, limit).await?;
        events.retain(|event| event.id != missing);
        Ok(events)
    }

    async fn last_event_id(&self) -> Result<i64, StorageError> {
        self.log.last_event_id().await
    }

    async fn prune_events_before(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<u64, StorageError> {
        self.log.prune_events_before(cutoff, limit).await
    }
}

fn references(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:04}")).collect()
}

#[tokio::test]
async fn every_event_goes_once_to_each_destination_that_wants_it_in_event_order() {
    let world = World::new();
    world.post(&["BEFORE-1"]).await;
    let created_only = world.destination(&[LeadEventKind::Created], 1).await;
    let both = world
        .destination(&[LeadEventKind::Created, LeadEventKind::Updated], 1)
        .await;
    let (stop, task) = world.start("one", "10ms");
    let refs = references(20, "REF");
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    world.post(&refs).await;
    world
        .until("40 messages", |w| w.transport.sent().len() >= 40)
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = stop.send(());
    task.await.unwrap();

    let sent = world.transport.sent();
    assert_eq!(sent.len(), 40, "each lead once to each destination");
    for destination in [created_only, both] {
        let bodies: Vec<String> = sent
            .iter()
            .filter(|s| s.destination == destination)
            .map(|s| s.body.split(' ').nth(2).unwrap().to_owned())
            .collect();
        // One at a time (maxInFlight 1): in event order; the lead from before the
        // destinations existed is not sent.
        assert_eq!(bodies, refs, "destination {destination:?}");
    }
    let ids: BTreeSet<&str> = sent.iter().map(|s| s.message_id.as_str()).collect();
    assert_eq!(ids.len(), 40, "each delivery has its own message id");
    assert!(sent.iter().all(|s| s.secrets == 1));
    let statuses = world.statuses().await;
    assert_eq!(statuses.len(), 20);
    assert!(
        statuses
            .values()
            .all(|status| *status == (DeliveryStatus::Delivered, 1))
    );
}

#[tokio::test]
async fn a_lead_that_always_fails_ends_failed_without_holding_up_the_others_and_a_retry_delivers_it()
 {
    let world = World::new();
    world.destination(&[LeadEventKind::Created], 8).await;
    world
        .transport
        .answer("POISON", Verdict::Retry { not_before: None });
    let (stop, task) = world.start("one", "20ms,20ms");
    world.post(&["OK-1", "POISON-1", "OK-2"]).await;
    world
        .until("the poison lead to fail", |w| {
            w.transport
                .sent()
                .iter()
                .filter(|s| s.body.contains("POISON"))
                .count()
                == 3
        })
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let statuses = world.statuses().await;
    assert_eq!(statuses["POISON-1"], (DeliveryStatus::Failed, 3));
    assert_eq!(statuses["OK-1"], (DeliveryStatus::Delivered, 1));
    assert_eq!(statuses["OK-2"], (DeliveryStatus::Delivered, 1));

    // The receiver is fixed; the operator retries the dead letter.
    world.transport.clear();
    let failed = world
        .deliveries
        .list(
            &DeliveryFilter {
                status: Some(DeliveryStatus::Failed),
                ..DeliveryFilter::default()
            },
            PageRequest::new(None, None).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(failed.items.len(), 1);
    let (delivery, _) = &failed.items[0];
    assert!(world.deliveries.retry(delivery.id).await.unwrap());
    world
        .until("the retried delivery", |w| {
            w.transport
                .sent()
                .iter()
                .filter(|s| s.body.contains("POISON"))
                .count()
                == 4
        })
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = stop.send(());
    task.await.unwrap();
    let statuses = world.statuses().await;
    assert_eq!(statuses["POISON-1"], (DeliveryStatus::Delivered, 4));
    let poison: Vec<String> = world
        .transport
        .sent()
        .into_iter()
        .filter(|s| s.body.contains("POISON"))
        .map(|s| s.message_id)
        .collect();
    assert!(
        poison.iter().all(|id| id == &poison[0]),
        "every retry keeps the message id: {poison:?}"
    );
}

#[tokio::test]
async fn gone_disables_the_destination_and_dead_letters_what_waited() {
    let world = World::new();
    let destination = world.destination(&[LeadEventKind::Created], 1).await;
    world.transport.answer("GONE", Verdict::Gone);
    let (stop, task) = world.start("one", "10ms");
    world.post(&["GONE-1", "LATER-1", "LATER-2"]).await;
    world
        .until("the destination to be disabled", |w| {
            !w.transport.sent().is_empty()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = stop.send(());
    task.await.unwrap();
    let current = world.destinations.get(destination).await.unwrap().unwrap();
    assert_eq!(current.disabled, Some(DisabledReason::Gone));
    assert_eq!(world.transport.sent().len(), 1, "nothing more was sent");
    let statuses = world.statuses().await;
    assert_eq!(statuses["GONE-1"].0, DeliveryStatus::Failed);
    assert_eq!(statuses["LATER-1"], (DeliveryStatus::Failed, 0));
    assert_eq!(statuses["LATER-2"], (DeliveryStatus::Failed, 0));
}

#[tokio::test]
async fn at_most_max_in_flight_attempts_are_open_and_a_graceful_stop_waits_for_them() {
    let world = World::new();
    let destination = world.destination(&[LeadEventKind::Created], 3).await;
    let (release, held) = tokio::sync::watch::channel(false);
    *world.transport.hold.lock().unwrap() = Some(held);
    let (stop, task) = world.start("one", "10ms");
    let refs = references(10, "HELD");
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    world.post(&refs).await;
    world
        .until("three attempts open", |w| {
            w.transport.open.load(Ordering::SeqCst) == 3
        })
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(world.transport.most_open.load(Ordering::SeqCst), 3);
    // Stopping now: the three under way finish and are recorded, nothing new starts.
    let _ = stop.send(());
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.send(true).unwrap();
    task.await.unwrap();
    assert_eq!(world.transport.sent().len(), 3);
    let statuses = world.statuses().await;
    let delivered = statuses
        .values()
        .filter(|status| status.0 == DeliveryStatus::Delivered)
        .count();
    let pending = statuses
        .values()
        .filter(|status| **status == (DeliveryStatus::Pending, 0))
        .count();
    assert_eq!((delivered, pending), (3, 7));
    // What it had claimed and not sent is released: due at once for the next owner.
    let now = chrono::Utc::now();
    let next = world
        .store
        .claim(
            destination,
            "next",
            now,
            now + chrono::Duration::minutes(1),
            100,
        )
        .await
        .unwrap();
    assert_eq!(next.len(), 7, "no lease left behind");
}

#[tokio::test]
async fn forwarders_sharing_a_store_send_each_event_once() {
    let world = World::new();
    world.destination(&[LeadEventKind::Created], 4).await;
    let started: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|owner| world.start(owner, "10ms"))
        .collect();
    for batch in 0..10 {
        let refs = references(10, &format!("B{batch}"));
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        world.post(&refs).await;
    }
    world
        .until("100 messages", |w| w.transport.sent().len() >= 100)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (stop, task) in started {
        let _ = stop.send(());
        task.await.unwrap();
    }
    let sent = world.transport.sent();
    let distinct: BTreeSet<&str> = sent.iter().map(|s| s.body.as_str()).collect();
    assert_eq!(sent.len(), 100, "nothing sent twice");
    assert_eq!(distinct.len(), 100);
}

#[tokio::test]
async fn a_replay_sends_again_with_new_message_ids() {
    let world = World::new();
    let destination = world.destination(&[LeadEventKind::Created], 8).await;
    let (stop, task) = world.start("one", "10ms");
    let since = chrono::Utc::now();
    world.post(&["R-1", "R-2"]).await;
    world
        .until("two messages", |w| w.transport.sent().len() == 2)
        .await;
    let replayed = world.deliveries.replay(destination, since).await.unwrap();
    assert_eq!(replayed, Some(2));
    world
        .until("four messages", |w| w.transport.sent().len() == 4)
        .await;
    let _ = stop.send(());
    task.await.unwrap();
    let sent = world.transport.sent();
    let ids: BTreeSet<&str> = sent.iter().map(|s| s.message_id.as_str()).collect();
    assert_eq!(ids.len(), 4, "a replay is a new message");
    let mut bodies: Vec<&str> = sent.iter().map(|s| s.body.as_str()).collect();
    bodies.sort_unstable();
    bodies.dedup();
    assert_eq!(bodies.len(), 2, "the same two events");
    assert_eq!(
        world
            .deliveries
            .replay(DestinationId(999), since)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_disabled_destination_gets_no_deliveries_and_a_replay_sends_what_it_missed() {
    let world = World::new();
    let destination = world.destination(&[LeadEventKind::Created], 8).await;
    world
        .destinations
        .set_enabled(destination, false)
        .await
        .unwrap();
    let (stop, task) = world.start("one", "10ms");
    let since = chrono::Utc::now();
    world.post(&["OFF-1", "OFF-2"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(world.transport.sent().is_empty());
    assert!(world.statuses().await.is_empty(), "nothing waits for it");
    world
        .destinations
        .set_enabled(destination, true)
        .await
        .unwrap();
    assert_eq!(
        world.deliveries.replay(destination, since).await.unwrap(),
        Some(2)
    );
    world
        .until("two messages", |w| w.transport.sent().len() == 2)
        .await;
    let _ = stop.send(());
    task.await.unwrap();
}

#[tokio::test]
async fn an_event_id_that_never_commits_holds_the_fan_out_only_for_the_settle_time() {
    let world = World::new();
    world.destination(&[LeadEventKind::Created], 8).await;
    let gapped = Arc::new(Gapped {
        log: world.leads.clone(),
        missing: AtomicI64::new(0),
    });
    let (stop, task) = run(world.forwarder_reading("one", "10ms", gapped.clone()));
    world.post(&["GAP-1"]).await;
    world
        .until("the first message", |w| w.transport.sent().len() == 1)
        .await;
    let next = world.leads.last_event_id().await.unwrap() + 1;
    gapped.missing.store(next, Ordering::SeqCst);
    world.post(&["GAP-NEVER-COMMITTED"]).await;
    world.post(&["GAP-3", "GAP-4"]).await;
    world
        .until("the events after the gap", |w| {
            w.transport.sent().len() == 3
        })
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = stop.send(());
    task.await.unwrap();
    let sent: Vec<String> = world
        .transport
        .sent()
        .iter()
        .map(|s| s.body.split(' ').nth(2).unwrap().to_owned())
        .collect();
    assert_eq!(sent, ["GAP-1", "GAP-3", "GAP-4"]);
}
