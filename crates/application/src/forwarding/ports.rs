//! Forwarding's ports: where destinations and deliveries are kept, how a message is
//! sent, and how stored secrets are sealed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_domain::{
    LeadEventKind, LeadReference,
    forwarding::{
        Attempt, AttemptOutcome, Delivery, DeliveryId, DeliveryStatus, Destination, DestinationId,
        DestinationKind, DisabledReason, ForwardFormat, NewDelivery, StoredSecret,
    },
};
use std::collections::BTreeSet;

use crate::{Page, PageRequest, StorageError};

/// A destination to create. The store gives it its id, its times, and `after_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDestination {
    pub kind: DestinationKind,
    pub url: String,
    pub subject: Option<String>,
    pub events: BTreeSet<LeadEventKind>,
    pub format: ForwardFormat,
    pub entity_types: Option<BTreeSet<String>>,
    pub description: Option<String>,
    pub max_in_flight: u32,
    pub secrets: Vec<StoredSecret>,
    pub casayes_token: Option<String>,
    /// Events up to this id are older than the destination (the log's last id when it
    /// is created).
    pub after_event: i64,
    pub created_at: DateTime<Utc>,
}

/// A change to a destination: each `Some` replaces that field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationChange {
    pub url: Option<String>,
    pub subject: Option<Option<String>>,
    pub events: Option<BTreeSet<LeadEventKind>>,
    pub format: Option<ForwardFormat>,
    pub entity_types: Option<Option<BTreeSet<String>>>,
    pub description: Option<Option<String>>,
    pub max_in_flight: Option<u32>,
    /// `Some(None)` enables it (and clears `failing_since`), `Some(Some(reason))`
    /// disables it.
    pub disabled: Option<Option<DisabledReason>>,
    pub secrets: Option<Vec<StoredSecret>>,
    pub casayes_token: Option<Option<String>>,
    pub updated_at: DateTime<Utc>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub destination: Option<DestinationId>,
    pub status: Option<DeliveryStatus>,
    pub lead_reference: Option<LeadReference>,
}

impl DeliveryFilter {
    /// The rule every adapter applies (the in-memory one with this very function).
    pub fn matches(&self, delivery: &Delivery) -> bool {
        self.destination
            .is_none_or(|destination| delivery.destination_id == destination)
            && self.status.is_none_or(|status| delivery.status == status)
            && self
                .lead_reference
                .as_ref()
                .is_none_or(|reference| &delivery.lead_reference == reference)
    }
}

/// The order in which [`DeliveryStore::enqueue`] creates deliveries (and so gives
/// them ids): by event, then destination, then replay. Every adapter sorts by it.
pub fn creation_order(delivery: &NewDelivery) -> (i64, DestinationId, i64) {
    (delivery.event_id, delivery.destination_id, delivery.replay)
}

/// The backlog of one destination, for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backlog {
    pub destination_id: DestinationId,
    /// Pending deliveries.
    pub pending: u64,
    /// When the oldest pending delivery was created.
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

/// The destinations.
///
/// Contract, for every adapter:
/// - `create` stores a destination and returns it with its new id (ids increase) and
///   `updated_at = created_at`, enabled, not failing.
/// - `get` returns it or `None`; `list` returns every destination, by id.
/// - `change` applies the given fields to the destination and returns it as it is
///   now, or `None` when there is no such destination (nothing written).
/// - `record_health` sets `failing_since` (`None` after a success). It does not touch
///   `updated_at`. Returns whether the destination exists.
/// - `delete` removes the destination with every delivery and attempt of it; returns
///   whether it existed.
#[async_trait]
pub trait DestinationStore: Send + Sync {
    async fn create(&self, new: NewDestination) -> Result<Destination, StorageError>;

    async fn get(&self, id: DestinationId) -> Result<Option<Destination>, StorageError>;

    async fn list(&self) -> Result<Vec<Destination>, StorageError>;

    async fn change(
        &self,
        id: DestinationId,
        change: DestinationChange,
    ) -> Result<Option<Destination>, StorageError>;

    async fn record_health(
        &self,
        id: DestinationId,
        failing_since: Option<DateTime<Utc>>,
    ) -> Result<bool, StorageError>;

    async fn delete(&self, id: DestinationId) -> Result<bool, StorageError>;
}

/// The deliveries, their attempts, and how far the event log has been fanned out.
///
/// Contract, for every adapter:
/// - `fanout_position` is the id of the last event fanned out (`0` at first).
/// - `enqueue` stores the given deliveries, `pending` and due at once, except those
///   whose (destination, event, replay) is stored already (any number of processes
///   may fan out the same events: each delivery exists once), and moves the fan-out
///   position to `position` if that is greater, in one transaction; it returns how
///   many it created. Deliveries of a destination or of a lead that no longer exists
///   (deleted, erased, purged) are skipped. The new ones get their ids in
///   [`creation_order`] (event order first), whatever the order given.
/// - `claim` leases to `owner`, until `lease_until`, up to `limit` deliveries of the
///   destination that are `pending`, due (`next_attempt_at <= now`) and not leased
///   (or whose lease expired before `now`), lowest id first, and returns them. Under
///   any number of concurrent claims, on any number of processes, a delivery is
///   leased to one owner at a time.
/// - `finish_all` records each attempt on its delivery, counts it, and applies its
///   `outcome` (`Delivered`, `RetryAt`: pending, due then, `Failed`), releasing the
///   lease, only where `owner` still holds the lease; all in one transaction (one
///   commit for many attempts, as ingest's group commit does for leads). It returns,
///   in the order given, whether it recorded each. `finish` is the same for one.
/// - `get` returns a delivery with its attempts (oldest first), or `None`; `list`
///   returns deliveries that pass the filter ([`DeliveryFilter::matches`]), newest
///   first (id descending), after the cursor.
/// - `retry` makes a `failed` or `pending` delivery pending and due at `now`, with no
///   lease; returns whether there was such a delivery (a delivered one is not
///   retried: `false`).
/// - `release` ends `owner`'s leases on the given deliveries (claimed, never
///   attempted: a graceful stop), so that they are due again at once; returns how many.
/// - `fail_pending` dead-letters every pending delivery of a destination (when it is
///   gone) and returns how many.
/// - `backlog` returns the backlog of each destination with pending deliveries.
/// - A lead's deliveries and their attempts go with it when it is erased or purged
///   ([`crate::LeadErasure`]), and a destination's with it.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    async fn fanout_position(&self) -> Result<i64, StorageError>;

    async fn enqueue(
        &self,
        deliveries: Vec<NewDelivery>,
        position: i64,
    ) -> Result<u64, StorageError>;

    async fn claim(
        &self,
        destination: DestinationId,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StorageError>;

    async fn finish_all(
        &self,
        owner: &str,
        finished: &[FinishedAttempt],
    ) -> Result<Vec<bool>, StorageError>;

    async fn finish(
        &self,
        id: DeliveryId,
        owner: &str,
        attempt: &Attempt,
        outcome: AttemptOutcome,
    ) -> Result<bool, StorageError> {
        let finished = [FinishedAttempt {
            id,
            attempt: attempt.clone(),
            outcome,
        }];
        let recorded = self.finish_all(owner, &finished).await?;
        Ok(recorded.first().copied().unwrap_or(false))
    }

    async fn get(&self, id: DeliveryId) -> Result<Option<(Delivery, Vec<Attempt>)>, StorageError>;

    async fn list(
        &self,
        filter: &DeliveryFilter,
        page: PageRequest<DeliveryId>,
    ) -> Result<Page<(Delivery, Vec<Attempt>), DeliveryId>, StorageError>;

    async fn retry(&self, id: DeliveryId, now: DateTime<Utc>) -> Result<bool, StorageError>;

    async fn release(&self, owner: &str, ids: &[DeliveryId]) -> Result<u64, StorageError>;

    async fn fail_pending(&self, destination: DestinationId) -> Result<u64, StorageError>;

    async fn backlog(&self) -> Result<Vec<Backlog>, StorageError>;
}

/// An attempt to record on its delivery, with what the delivery becomes.
#[derive(Debug, Clone)]
pub struct FinishedAttempt {
    pub id: DeliveryId,
    pub attempt: Attempt,
    pub outcome: AttemptOutcome,
}

/// One message to send: a delivery's body and identity, for its destination.
#[derive(Clone)]
pub struct Outgoing {
    /// The `webhook-id` / `Nats-Msg-Id`.
    pub message_id: String,
    /// Seconds since the epoch, for `webhook-timestamp`.
    pub timestamp: i64,
    pub body: Vec<u8>,
    /// The destination's signing secrets, opened: the current one first.
    pub secrets: Vec<lead_inbox_domain::forwarding::SigningSecret>,
    /// The `token` header of the `casayes` format, opened.
    pub casayes_token: Option<secrecy::SecretString>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("message_id", &self.message_id)
            .field("timestamp", &self.timestamp)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// Hands a message to a destination: an HTTPS request (webhooks) or a JetStream
/// publish (NATS).
///
/// Contract: `send` makes one attempt and reports it, never an `Err`: what happened
/// (status, latency, the first 1 KiB of the answer, an error without secrets) and its
/// [`lead_inbox_domain::forwarding::Verdict`]. It gives up after its timeout. A
/// webhook transport signs the request (Standard Webhooks), never follows a redirect,
/// and refuses, when connecting, an address the rules forbid (unless private
/// addresses are allowed).
#[async_trait]
pub trait Transport: Send + Sync {
    async fn send(&self, destination: &Destination, message: &Outgoing) -> Attempt;
}

/// Seals secrets that must be used again (signing secrets, a destination's CasaYes
/// token) before they are stored, and opens them when they are used.
///
/// Contract: `open(seal(x)) == x`; with a key, what `seal` returns reveals nothing
/// of `x` to anyone without the key (an AEAD), and `open` fails on a sealed text that
/// was changed or sealed with another key.
pub trait SecretSealer: Send + Sync {
    fn seal(&self, secret: &str) -> String;

    fn open(&self, sealed: &str) -> Result<secrecy::SecretString, SealError>;
}

/// A stored secret that cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("a stored secret cannot be opened: {0}")]
pub struct SealError(pub String);

/// Writes the body of the `lead` format: the live feed's JSON for an event, so that a
/// destination receives exactly what an SSE client does. The HTTP adapter owns that
/// wire format and implements this.
pub trait EventRenderer: Send + Sync {
    fn render(&self, item: &crate::FeedItem) -> Vec<u8>;
}

/// Told what forwarding does, for the metrics and the log.
///
/// Contract: called after the fact, quickly (no I/O); never told a secret or lead data.
pub trait ForwardingObserver: Send + Sync {
    /// An attempt was made and recorded with this outcome.
    fn attempted(&self, destination: DestinationId, attempt: &Attempt, outcome: AttemptOutcome);

    /// A destination was disabled by forwarding itself (gone, or failing too long).
    fn disabled(&self, destination: DestinationId, reason: DisabledReason);
}

/// An observer that notes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl ForwardingObserver for NoObserver {
    fn attempted(&self, _: DestinationId, _: &Attempt, _: AttemptOutcome) {}

    fn disabled(&self, _: DestinationId, _: DisabledReason) {}
}
