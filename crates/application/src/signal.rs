//! A wake-up for whoever follows the event log (the live feed's reader, the
//! forwarding dispatcher): "new events may be there". Bumped after a local commit that
//! added events, and, on PostgreSQL, by a listener when another instance committed
//! some (LISTEN/NOTIFY). Followers still poll now and then, so a lost wake-up (or a
//! store that cannot notify across processes) costs latency, never an event.

use std::sync::Arc;

use async_trait::async_trait;
use lead_inbox_domain::{Applied, HistoryEntry, LeadId, LeadReference, LeadWork, NewLead, Note};
use tokio::sync::watch;

use crate::{InsertOutcome, LeadWorkStore, LeadWriter, StorageError};

/// The signal: cheap to clone, shared by the writers and the followers of one process.
#[derive(Debug, Clone)]
pub struct EventSignal {
    sender: watch::Sender<u64>,
}

impl Default for EventSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl EventSignal {
    pub fn new() -> Self {
        EventSignal {
            sender: watch::Sender::new(0),
        }
    }

    /// Says that new events may be in the log: every follower waiting in
    /// [`EventWatch::changed`] wakes up.
    pub fn bump(&self) {
        self.sender
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// A follower's end: it sees every bump made after this call.
    pub fn watch(&self) -> EventWatch {
        EventWatch {
            receiver: self.sender.subscribe(),
        }
    }
}

/// One follower's end of an [`EventSignal`].
#[derive(Debug)]
pub struct EventWatch {
    receiver: watch::Receiver<u64>,
}

impl EventWatch {
    /// Waits until the signal is bumped after the last return of this method (at
    /// once if it was bumped meanwhile; several bumps wake it once).
    pub async fn changed(&mut self) {
        // The sender lives as long as any `EventSignal`; if none is left, nothing will
        // ever wake this follower, so it waits for ever (its poll timer still runs).
        if self.receiver.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A [`LeadWriter`] that bumps `signal` once the inner writer has committed a batch that
/// created a lead (and so added a `Created` event). Put in front of group commit, it
/// bumps when each caller's batch has committed, as every caller's answer waits for
/// that commit. Duplicates and failures add no event and bump nothing.
pub struct SignallingLeadWriter {
    inner: Arc<dyn LeadWriter>,
    signal: EventSignal,
}

impl SignallingLeadWriter {
    /// `inner`, bumping `signal` after each committed batch that created a lead.
    pub fn new(inner: Arc<dyn LeadWriter>, signal: EventSignal) -> Self {
        SignallingLeadWriter { inner, signal }
    }
}

#[async_trait]
impl LeadWriter for SignallingLeadWriter {
    async fn insert_batch(&self, leads: Vec<NewLead>) -> Result<Vec<InsertOutcome>, StorageError> {
        let outcomes = self.inner.insert_batch(leads).await?;
        if outcomes.contains(&InsertOutcome::Created) {
            self.signal.bump();
        }
        Ok(outcomes)
    }
}

/// A [`LeadWorkStore`] that bumps `signal` after a saved change (which added an
/// `Updated` event). Everything else passes through unchanged: a refused
/// compare-and-swap, the reads and `restore_work` add no event.
pub struct SignallingWorkStore {
    inner: Arc<dyn LeadWorkStore>,
    signal: EventSignal,
}

impl SignallingWorkStore {
    /// `inner`, bumping `signal` after each saved change.
    pub fn new(inner: Arc<dyn LeadWorkStore>, signal: EventSignal) -> Self {
        SignallingWorkStore { inner, signal }
    }
}

#[async_trait]
impl LeadWorkStore for SignallingWorkStore {
    async fn save_work(
        &self,
        id: LeadId,
        expected_version: i64,
        applied: &Applied,
        actor: &str,
        author: &str,
    ) -> Result<bool, StorageError> {
        let saved = self
            .inner
            .save_work(id, expected_version, applied, actor, author)
            .await?;
        if saved {
            self.signal.bump();
        }
        Ok(saved)
    }

    async fn history(&self, id: LeadId) -> Result<Vec<HistoryEntry>, StorageError> {
        self.inner.history(id).await
    }

    async fn notes(&self, id: LeadId) -> Result<Vec<Note>, StorageError> {
        self.inner.notes(id).await
    }

    async fn restore_work(
        &self,
        reference: &LeadReference,
        work: &LeadWork,
        notes: &[Note],
        history: &[HistoryEntry],
    ) -> Result<bool, StorageError> {
        self.inner
            .restore_work(reference, work, notes, history)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_bump_wakes_every_follower_once_and_none_before() {
        let signal = EventSignal::new();
        let mut first = signal.watch();
        let mut second = signal.watch();
        let idle = tokio::time::timeout(Duration::from_millis(20), first.changed()).await;
        assert!(idle.is_err(), "woke without a bump");
        signal.bump();
        signal.bump();
        tokio::time::timeout(Duration::from_secs(1), first.changed())
            .await
            .expect("the first follower wakes");
        tokio::time::timeout(Duration::from_secs(1), second.changed())
            .await
            .expect("the second follower wakes");
        let again = tokio::time::timeout(Duration::from_millis(20), first.changed()).await;
        assert!(again.is_err(), "two bumps woke it twice");
    }

    /// A writer that answers `outcomes` to every batch.
    struct Answers(Vec<InsertOutcome>);

    #[async_trait]
    impl LeadWriter for Answers {
        async fn insert_batch(
            &self,
            _leads: Vec<NewLead>,
        ) -> Result<Vec<InsertOutcome>, StorageError> {
            Ok(self.0.clone())
        }
    }

    #[tokio::test]
    async fn the_writer_bumps_only_after_a_batch_that_created_a_lead() {
        let signal = EventSignal::new();
        let mut watch = signal.watch();
        let quiet = Duration::from_millis(20);
        let unchanged = SignallingLeadWriter::new(
            Arc::new(Answers(vec![
                InsertOutcome::Duplicate,
                InsertOutcome::Erased,
            ])),
            signal.clone(),
        );
        let outcomes = unchanged.insert_batch(Vec::new()).await.expect("answered");
        assert_eq!(outcomes, [InsertOutcome::Duplicate, InsertOutcome::Erased]);
        let idle = tokio::time::timeout(quiet, watch.changed()).await;
        assert!(idle.is_err(), "a batch that added no event bumped");
        let created = SignallingLeadWriter::new(
            Arc::new(Answers(vec![
                InsertOutcome::Duplicate,
                InsertOutcome::Created,
            ])),
            signal,
        );
        created.insert_batch(Vec::new()).await.expect("answered");
        tokio::time::timeout(Duration::from_secs(1), watch.changed())
            .await
            .expect("a batch that created a lead bumps");
    }
}
