//! The live feed: new leads and changes, in order, from the store's event log.
//!
//! Every instance polls the log by id, so each delivers every event to its clients,
//! whichever instance (or process) wrote it. Ids come from the database in the order
//! transactions *started* writing, not the order they committed: on a server with
//! several writers, event 11 can be visible before event 10. A follower therefore
//! delivers ids only in sequence; when one is missing it waits up to `settle` for it
//! (a transaction still committing) before passing over it (one that rolled back).

use std::{
    collections::VecDeque,
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::{Stream, stream};
use lead_inbox_domain::{Lead, LeadEvent};

use crate::{LeadEventLog, LeadReader, StorageError};

/// How often a follower looks for new events when it has none.
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

    /// Every event after `after`, in order, for ever: no gap, no repeat. Events whose
    /// lead is gone (erased) are passed over. A storage failure is logged and retried;
    /// the stream never ends by itself.
    pub fn follow(&self, after: i64) -> impl Stream<Item = FeedItem> + Send + 'static {
        struct State {
            feed: LeadFeed,
            follower: Follower,
            ready: VecDeque<LeadEvent>,
        }
        let state = State {
            follower: Follower::new(after, self.settle),
            feed: self.clone(),
            ready: VecDeque::new(),
        };
        stream::unfold(state, |mut state| async move {
            loop {
                if let Some(event) = state.ready.pop_front() {
                    match state.feed.leads.get_by_id(event.lead_id).await {
                        Ok(Some(lead)) => return Some((FeedItem { event, lead }, state)),
                        Ok(None) => continue,
                        Err(error) => {
                            tracing::warn!(error = %error, "the live feed cannot read a lead; retrying");
                            state.ready.push_front(event);
                            tokio::time::sleep(state.feed.poll).await;
                            continue;
                        }
                    }
                }
                let position = state.follower.position();
                match state.feed.events.events_after(position, BATCH).await {
                    Ok(events) => {
                        let fetched = events.len();
                        let ready = state.follower.take(events, Instant::now());
                        if ready.is_empty() || fetched == 0 {
                            tokio::time::sleep(state.feed.poll).await;
                        }
                        state.ready.extend(ready);
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "the live feed cannot read events; retrying");
                        tokio::time::sleep(state.feed.poll).await;
                    }
                }
            }
        })
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
