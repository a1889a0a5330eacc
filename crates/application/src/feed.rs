//! The live feed: new leads and changes, in order, from the store's event log.
//!
//! Every instance follows the log by id with one reader, its [`FeedHub`], so each
//! delivers every event to its clients, whichever instance (or process) wrote it. The
//! reader wakes on the [`EventSignal`] (a commit) and polls otherwise. Ids come from the
//! database in the order transactions *started* writing, not the order they committed:
//! on a server with several writers, event 11 can be visible before event 10. A
//! follower therefore delivers ids only in sequence; when one is missing it waits up to
//! `settle` for it (a transaction still committing) before passing over it (one that
//! rolled back).

use std::{
    collections::VecDeque,
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::{Stream, stream};
use lead_inbox_domain::{Lead, LeadEvent};
use tokio::sync::{broadcast, watch};

use crate::{EventSignal, EventWatch, LeadEventLog, LeadReader, StorageError};

/// How often the hub looks for new events when nothing woke it.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long a follower waits for a missing id before passing over it.
pub const SETTLE: Duration = Duration::from_secs(2);
/// How long events are kept: how far back a client can resume.
pub const EVENT_RETENTION_DAYS: i64 = 30;
/// Events read per poll.
const BATCH: u32 = 200;

/// An event with the lead as it is when the event is delivered.
#[derive(Debug, Clone)]
pub struct FeedItem {
    pub event: LeadEvent,
    pub lead: Lead,
}

/// Which events a follower may deliver now: the rule above, without I/O.
#[derive(Debug, Clone)]
pub struct Follower {
    after: i64,
    /// The first missing id, and since when it is missed.
    gap: Option<(i64, Instant)>,
    settle: Duration,
}

impl Follower {
    /// A follower that has delivered every event up to `after`.
    pub fn new(after: i64, settle: Duration) -> Self {
        Follower {
            after,
            gap: None,
            settle,
        }
    }

    /// The id of the last event delivered.
    pub fn position(&self) -> i64 {
        self.after
    }

    /// Of `events` (read after [`Self::position`], by id), those to deliver now.
    pub fn take(&mut self, events: Vec<LeadEvent>, now: Instant) -> Vec<LeadEvent> {
        let mut ready = Vec::new();
        for event in events {
            let expected = self.after + 1;
            if event.id > expected {
                match self.gap {
                    Some((missing, since))
                        if missing == expected && now.duration_since(since) >= self.settle => {}
                    Some((missing, _)) if missing == expected => break,
                    _ => {
                        self.gap = Some((expected, now));
                        break;
                    }
                }
            }
            self.after = event.id;
            self.gap = None;
            ready.push(event);
        }
        ready
    }
}

/// The use case "follow new leads and changes".
#[derive(Clone)]
pub struct LeadFeed {
    events: Arc<dyn LeadEventLog>,
    leads: Arc<dyn LeadReader>,
    poll: Duration,
    settle: Duration,
}

impl fmt::Debug for LeadFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeadFeed").finish_non_exhaustive()
    }
}

impl LeadFeed {
    pub fn new(events: Arc<dyn LeadEventLog>, leads: Arc<dyn LeadReader>) -> Self {
        Self::with_timing(events, leads, POLL_INTERVAL, SETTLE)
    }

    pub fn with_timing(
        events: Arc<dyn LeadEventLog>,
        leads: Arc<dyn LeadReader>,
        poll: Duration,
        settle: Duration,
    ) -> Self {
        LeadFeed {
            events,
            leads,
            poll,
            settle,
        }
    }

    /// Deletes events older than [`EVENT_RETENTION_DAYS`] before `now`, in batches;
    /// returns how many.
    pub async fn prune(&self, now: chrono::DateTime<chrono::Utc>) -> Result<u64, StorageError> {
        let cutoff = now - chrono::TimeDelta::days(EVENT_RETENTION_DAYS);
        let mut pruned = 0;
        loop {
            let deleted = self.events.prune_events_before(cutoff, 1000).await?;
            if deleted == 0 {
                return Ok(pruned);
            }
            pruned += deleted;
        }
    }

    /// The id of the newest event: where a follower that wants only what comes next
    /// starts.
    pub async fn head(&self) -> Result<i64, StorageError> {
        self.events.last_event_id().await
    }
}

/// How many items the hub keeps for clients that have not taken them yet; a client
/// further behind catches up from the store.
pub const HUB_BUFFER: usize = 1024;

/// The live feed of one instance: one reader follows the event log (by the
/// [`Follower`] rule), reads each new event's lead once and fans the items out to every
/// client of the instance. It wakes when `signal` is bumped (a local commit, or another
/// instance's, told by a listener) and otherwise polls every `poll` of its
/// [`LeadFeed`]. Clients that resume from an older event read that part from the
/// store themselves, then join the hub's stream. Cheap to clone; the reader stops when
/// the last clone is dropped.
#[derive(Clone)]
pub struct FeedHub {
    shared: Arc<Hub>,
}

struct Hub {
    feed: LeadFeed,
    items: broadcast::Sender<Arc<FeedItem>>,
    /// The id of the last event the reader passed on (sent or passed over), once it
    /// has started. Moved before the event is sent: an event after it always reaches a
    /// receiver subscribed before it was read.
    position: Arc<watch::Sender<Option<i64>>>,
    reader: tokio::task::AbortHandle,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl fmt::Debug for FeedHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedHub")
            .field("position", &*self.shared.position.borrow())
            .field("clients", &self.shared.items.receiver_count())
            .finish_non_exhaustive()
    }
}

impl FeedHub {
    /// Starts the instance's reader (a tokio task) at the newest event, with a buffer
    /// of [`HUB_BUFFER`] items.
    pub fn start(feed: LeadFeed, signal: &EventSignal) -> Self {
        Self::with_buffer(feed, signal, HUB_BUFFER)
    }

    /// As [`Self::start`], keeping `buffer` items (at least one) for slow clients.
    pub fn with_buffer(feed: LeadFeed, signal: &EventSignal, buffer: usize) -> Self {
        let (items, _) = broadcast::channel(buffer.max(1));
        let position = Arc::new(watch::Sender::new(None));
        let reader = tokio::spawn(read(
            feed.clone(),
            signal.watch(),
            items.clone(),
            position.clone(),
        ))
        .abort_handle();
        FeedHub {
            shared: Arc::new(Hub {
                feed,
                items,
                position,
                reader,
            }),
        }
    }

    /// How many clients follow the hub now (those catching up from the store included
    /// once they have joined).
    pub fn clients(&self) -> usize {
        self.shared.items.receiver_count()
    }

    /// The id of the newest event in the store: where a client that wants only what
    /// comes next starts.
    pub async fn head(&self) -> Result<i64, StorageError> {
        self.shared.feed.head().await
    }

    /// Every event after `after`, in order, for ever: no gap, no repeat. Events whose
    /// lead is gone (erased) are passed over. What the hub has already passed on is read
    /// from the store, a batch at a time; then the hub's items follow. A client that
    /// falls more than the hub's buffer behind catches up from the store again. A
    /// storage failure is logged and retried; the stream ends only with the hub.
    pub fn follow(&self, after: i64) -> impl Stream<Item = FeedItem> + Send + 'static {
        let client = Client {
            hub: self.shared.clone(),
            position: after,
            live: None,
            until: after,
            ready: VecDeque::new(),
        };
        stream::unfold(client, Client::next)
    }
}

/// One client of a [`FeedHub`].
struct Client {
    hub: Arc<Hub>,
    /// The id of the last event delivered (or passed over).
    position: i64,
    /// The hub's items, once joined.
    live: Option<broadcast::Receiver<Arc<FeedItem>>>,
    /// How far the hub had got when the client joined: what the client reads from the
    /// store before it takes the hub's items.
    until: i64,
    /// Events read from the store, their leads not read yet.
    ready: VecDeque<LeadEvent>,
}

impl Client {
    async fn next(mut self) -> Option<(FeedItem, Client)> {
        let poll = self.hub.feed.poll;
        loop {
            if let Some(event) = self.ready.pop_front() {
                match self.hub.feed.leads.get_by_id(event.lead_id).await {
                    Ok(lead) => {
                        self.position = event.id;
                        if let Some(lead) = lead {
                            return Some((FeedItem { event, lead }, self));
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "the live feed cannot read a lead; retrying");
                        self.ready.push_front(event);
                        tokio::time::sleep(poll).await;
                    }
                }
                continue;
            }
            let Some(live) = self.live.as_mut() else {
                // Subscribed first, then asked how far the hub got: every event after
                // that reaches `live`.
                let live = self.hub.items.subscribe();
                let mut position = self.hub.position.subscribe();
                let until = match position.wait_for(Option::is_some).await {
                    Ok(until) => until.unwrap_or(self.position),
                    Err(_) => return None,
                };
                self.until = until;
                self.live = Some(live);
                continue;
            };
            if self.position < self.until {
                match self
                    .hub
                    .feed
                    .events
                    .events_after(self.position, BATCH)
                    .await
                {
                    Ok(events) => {
                        let until = self.until;
                        let before = events.into_iter().take_while(|event| event.id <= until);
                        self.ready.extend(before);
                        if self.ready.is_empty() {
                            // Nothing left up to where the hub took over.
                            self.position = until;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "the live feed cannot read events; retrying");
                        tokio::time::sleep(poll).await;
                    }
                }
                continue;
            }
            match live.recv().await {
                Ok(item) if item.event.id <= self.position => {}
                Ok(item) => {
                    self.position = item.event.id;
                    return Some((Arc::unwrap_or_clone(item), self));
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(
                        missed,
                        "a live-feed client fell behind; it catches up from the store"
                    );
                    self.live = None;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// The hub's reader: from the newest event at start, every event by the [`Follower`]
/// rule, each lead read once, sent to whoever listens.
async fn read(
    feed: LeadFeed,
    mut wake: EventWatch,
    items: broadcast::Sender<Arc<FeedItem>>,
    position: Arc<watch::Sender<Option<i64>>>,
) {
    let start = loop {
        match feed.head().await {
            Ok(head) => break head,
            Err(error) => {
                tracing::warn!(error = %error, "the live feed cannot find the newest event; retrying");
                wait(&mut wake, feed.poll).await;
            }
        }
    };
    position.send_replace(Some(start));
    let mut follower = Follower::new(start, feed.settle);
    loop {
        let events = match feed.events.events_after(follower.position(), BATCH).await {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(error = %error, "the live feed cannot read events; retrying");
                wait(&mut wake, feed.poll).await;
                continue;
            }
        };
        let fetched = events.len();
        let ready = follower.take(events, Instant::now());
        // A full batch, all of it delivered: more may be waiting already.
        let more = fetched == BATCH as usize && ready.len() == fetched;
        for event in ready {
            let lead = loop {
                match feed.leads.get_by_id(event.lead_id).await {
                    Ok(lead) => break lead,
                    Err(error) => {
                        tracing::warn!(error = %error, "the live feed cannot read a lead; retrying");
                        tokio::time::sleep(feed.poll).await;
                    }
                }
            };
            position.send_replace(Some(event.id));
            if let Some(lead) = lead {
                // No client listening is not an error.
                let _ = items.send(Arc::new(FeedItem { event, lead }));
            }
        }
        if !more {
            wait(&mut wake, feed.poll).await;
        }
    }
}

/// Until the signal is bumped or `poll` has passed.
async fn wait(wake: &mut EventWatch, poll: Duration) {
    tokio::select! {
        () = wake.changed() => {}
        () = tokio::time::sleep(poll) => {}
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use lead_inbox_domain::{LeadEventKind, LeadId};

    use super::*;

    fn events(ids: &[i64]) -> Vec<LeadEvent> {
        ids.iter()
            .map(|&id| LeadEvent {
                id,
                lead_id: LeadId(id),
                kind: LeadEventKind::Created,
                at: Utc::now(),
            })
            .collect()
    }

    fn ids(events: Vec<LeadEvent>) -> Vec<i64> {
        events.into_iter().map(|event| event.id).collect()
    }

    #[test]
    fn events_in_sequence_are_delivered_at_once() {
        let mut follower = Follower::new(0, SETTLE);
        let now = Instant::now();
        assert_eq!(ids(follower.take(events(&[1, 2, 3]), now)), [1, 2, 3]);
        assert_eq!(follower.position(), 3);
    }

    #[test]
    fn a_missing_id_holds_back_what_follows_until_it_comes() {
        let mut follower = Follower::new(0, SETTLE);
        let start = Instant::now();
        // 2 is still committing: 3 waits.
        assert_eq!(ids(follower.take(events(&[1, 3]), start)), [1]);
        assert_eq!(
            ids(follower.take(events(&[3]), start + SETTLE / 2)),
            Vec::<i64>::new()
        );
        // 2 commits: both go, in order.
        assert_eq!(
            ids(follower.take(events(&[2, 3]), start + SETTLE / 2)),
            [2, 3]
        );
    }

    #[test]
    fn a_gap_that_never_fills_is_passed_over_after_the_settle_time() {
        let mut follower = Follower::new(5, SETTLE);
        let start = Instant::now();
        assert!(follower.take(events(&[7, 8]), start).is_empty());
        assert!(
            follower
                .take(events(&[7, 8]), start + SETTLE / 2)
                .is_empty()
        );
        assert_eq!(ids(follower.take(events(&[7, 8]), start + SETTLE)), [7, 8]);
        assert_eq!(follower.position(), 8);
    }
}
