//! The live feed's hub against the in-memory store, with every query counted: one
//! reader per instance, whatever the number of clients; wake-ups on commit; clients
//! that resume or fall behind catch up from the store without a gap or a repeat.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lead_inbox_application::{
    ContactSummary, EventSignal, FeedHub, LeadCursor, LeadEventLog, LeadFeed, LeadFilter,
    LeadReader, LeadStats, LeadWriter, Page, PageRequest, SignallingLeadWriter, StorageError,
    feed::{HUB_BUFFER, SETTLE},
};
use lead_inbox_domain::{Lead, LeadEvent, LeadId, LeadReference, NewLead, RawPayload, casayes};
use lead_inbox_storage_memory::InMemoryLeadRepository;

/// The store's event log and reader, counting every query made through them.
struct Counting {
    inner: Arc<InMemoryLeadRepository>,
    queries: AtomicUsize,
    leads_read: AtomicUsize,
}

impl Counting {
    fn query(&self) {
        self.queries.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl LeadEventLog for Counting {
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<LeadEvent>, StorageError> {
        self.query();
        self.inner.events_after(after, limit).await
    }

    async fn last_event_id(&self) -> Result<i64, StorageError> {
        self.query();
        self.inner.last_event_id().await
    }

    async fn prune_events_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StorageError> {
        self.query();
        self.inner.prune_events_before(cutoff, limit).await
    }
}

#[async_trait]
impl LeadReader for Counting {
    async fn get(&self, reference: &LeadReference) -> Result<Option<Lead>, StorageError> {
        self.query();
        self.inner.get(reference).await
    }

    async fn get_by_id(&self, id: LeadId) -> Result<Option<Lead>, StorageError> {
        self.query();
        self.leads_read.fetch_add(1, Ordering::SeqCst);
        self.inner.get_by_id(id).await
    }

    async fn list(
        &self,
        filter: &LeadFilter,
        page: PageRequest<LeadCursor>,
    ) -> Result<Page<Lead, LeadCursor>, StorageError> {
        self.query();
        self.inner.list(filter, page).await
    }

    async fn count(&self) -> Result<u64, StorageError> {
        self.query();
        self.inner.count().await
    }

    async fn contacts(
        &self,
        page: PageRequest<LeadCursor>,
    ) -> Result<Page<ContactSummary, LeadCursor>, StorageError> {
        self.query();
        self.inner.contacts(page).await
    }

    async fn contact(&self, id: &str) -> Result<Option<ContactSummary>, StorageError> {
        self.query();
        self.inner.contact(id).await
    }

    async fn stats(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<LeadStats, StorageError> {
        self.query();
        self.inner.stats(from, to).await
    }
}

struct Setup {
    store: Arc<Counting>,
    writer: SignallingLeadWriter,
    hub: FeedHub,
}

/// A hub polling every `poll` (a long poll proves a wake-up), keeping `buffer`
/// items, on an empty store whose writer bumps the hub's signal.
fn setup(poll: Duration, buffer: usize) -> Setup {
    let inner = Arc::new(InMemoryLeadRepository::new());
    let store = Arc::new(Counting {
        inner: inner.clone(),
        queries: AtomicUsize::new(0),
        leads_read: AtomicUsize::new(0),
    });
    let signal = EventSignal::new();
    let feed = LeadFeed::with_timing(store.clone(), store.clone(), poll, SETTLE);
    Setup {
        writer: SignallingLeadWriter::new(inner, signal.clone()),
        hub: FeedHub::with_buffer(feed, &signal, buffer),
        store,
    }
}

async fn insert(writer: &SignallingLeadWriter, n: u32) {
    let reference = format!("CY-Listing-A3bT7Y2xL6w-00000000-0000-4000-8000-{n:012}");
    let raw = casayes::SPEC_EXAMPLE
        .replace(
            "CY-Listing-A3bT7Y2xL6w-b24e6f80-17c9-4a8f-92b3-7e123d4bcf90",
            &reference,
        )
        .into_bytes();
    let lead = NewLead {
        details: casayes::parse_payload(&raw).expect("a lead"),
        raw: RawPayload::new(raw),
        received_at: Utc::now(),
    };
    writer.insert_batch(vec![lead]).await.expect("stored");
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} within 10 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_clients_cost_no_query_beyond_the_one_readers() {
    const CLIENTS: usize = 1000;
    let poll = Duration::from_millis(50);
    let setup = setup(poll, HUB_BUFFER);
    let head = setup.hub.head().await.expect("the head");
    let (seen, mut received) = tokio::sync::mpsc::unbounded_channel();
    for client in 0..CLIENTS {
        let mut items = Box::pin(setup.hub.follow(head));
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(item) = items.next().await {
                let _ = seen.send((client, item.event.id));
            }
        });
    }
    within("every client joins the hub", async {
        while setup.hub.clients() < CLIENTS {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    // Idle: only the reader's poll queries the store.
    let before = setup.store.queries.load(Ordering::SeqCst);
    let idle = Duration::from_millis(500);
    tokio::time::sleep(idle).await;
    let idle_queries = setup.store.queries.load(Ordering::SeqCst) - before;
    let polls = (idle.as_millis() / poll.as_millis()) as usize;
    println!("{CLIENTS} idle clients, {idle:?}: {idle_queries} queries ({polls} polls)");
    assert!(
        idle_queries <= polls + 2,
        "{idle_queries} queries in {idle:?} with {CLIENTS} idle clients: more than the reader's {polls} polls"
    );

    // Three new leads: each read once, by the reader, and sent to every client.
    for n in 0..3 {
        insert(&setup.writer, n).await;
    }
    let mut per_client = vec![Vec::new(); CLIENTS];
    within("every client gets the three events", async {
        let mut left = CLIENTS * 3;
        while left > 0 {
            let (client, id) = received.recv().await.expect("clients run");
            per_client[client].push(id);
            left -= 1;
        }
    })
    .await;
    assert!(
        per_client.iter().all(|ids| ids == &[1, 2, 3]),
        "every client got 1, 2, 3 in order"
    );
    assert_eq!(
        setup.store.leads_read.load(Ordering::SeqCst),
        3,
        "each lead is read once, whatever the number of clients"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_wakes_the_reader_long_before_its_poll() {
    let setup = setup(Duration::from_secs(60), HUB_BUFFER);
    let mut items = Box::pin(setup.hub.follow(0));
    let (seen, mut received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = items.next().await {
            let _ = seen.send((Instant::now(), item.event.id));
        }
    });
    within("the client joins", async {
        while setup.hub.clients() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // The reader has read the empty log and waits for its next poll, a minute away.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waits = Vec::new();
    for n in 0..5 {
        let inserting = Instant::now();
        insert(&setup.writer, n).await;
        let (arrived, id) = within("the event arrives", received.recv())
            .await
            .expect("the client runs");
        assert_eq!(id, i64::from(n) + 1);
        waits.push(arrived.duration_since(inserting));
    }
    println!("from insert to client: {waits:?}");
    let slowest = waits.iter().max().copied().unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(5),
        "the slowest event took {slowest:?}: the reader waited for its poll"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_further_behind_than_the_buffer_catches_up_from_the_store() {
    let setup = setup(Duration::from_millis(20), 2);
    // An eager client, so that the hub has sent each event before the next.
    let mut eager = Box::pin(setup.hub.follow(0));
    insert(&setup.writer, 0).await;
    assert_eq!(
        within("event 1", eager.next()).await.map(|i| i.event.id),
        Some(1)
    );
    let mut slow = Box::pin(setup.hub.follow(0));
    assert_eq!(
        within("event 1", slow.next()).await.map(|i| i.event.id),
        Some(1)
    );
    for n in 1..10 {
        insert(&setup.writer, n).await;
        let id = within("the eager client's event", eager.next())
            .await
            .map(|i| i.event.id);
        assert_eq!(id, Some(i64::from(n) + 1));
    }
    // The slow client missed seven of the hub's items: it reads them from the store.
    let mut ids = Vec::new();
    while ids.len() < 9 {
        ids.push(
            within("the slow client's event", slow.next())
                .await
                .expect("an item")
                .event
                .id,
        );
    }
    assert_eq!(
        ids,
        (2..=10).collect::<Vec<i64>>(),
        "no gap, no repeat, in order"
    );
    insert(&setup.writer, 10).await;
    assert_eq!(
        within("event 11", slow.next()).await.map(|i| i.event.id),
        Some(11),
        "then it follows the hub again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resuming_from_an_old_event_gets_the_rest_then_the_new_ones() {
    let setup = setup(Duration::from_millis(20), HUB_BUFFER);
    for n in 0..5 {
        insert(&setup.writer, n).await;
    }
    let mut eager = Box::pin(setup.hub.follow(5));
    insert(&setup.writer, 5).await;
    assert_eq!(
        within("event 6", eager.next()).await.map(|i| i.event.id),
        Some(6)
    );
    let mut resumed = Box::pin(setup.hub.follow(2));
    let mut ids = Vec::new();
    while ids.len() < 4 {
        ids.push(
            within("a resumed event", resumed.next())
                .await
                .expect("an item")
                .event
                .id,
        );
    }
    assert_eq!(ids, [3, 4, 5, 6]);
    insert(&setup.writer, 6).await;
    assert_eq!(
        within("event 7", resumed.next()).await.map(|i| i.event.id),
        Some(7)
    );
}
