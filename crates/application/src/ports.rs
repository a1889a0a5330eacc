//! Ports: what the use cases need from the outside world, one trait per role. Adapters
//! implement them (`SeaOrmLeadRepository`, `InMemoryLeadRepository`, `WebhookTokens`,
//! ...); the use cases hold them as `Arc<dyn Port>`, each only those it uses.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_domain::{
    Applied, HistoryEntry, Lead, LeadEvent, LeadId, LeadReference, LeadWork, NewLead,
    NewQuarantined, Note, QuarantineId, Quarantined, Subject,
};
use secrecy::SecretString;

use crate::{ApiPrincipal, LeadCursor, LeadFilter, Page, PageRequest, StorageError};

/// What happened to one lead of an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The lead was not stored before and is now, durably.
    Created,
    /// A lead with this reference was stored already; nothing changed.
    Duplicate,
    /// A lead with this reference was erased at its subject's request (GDPR Art. 17);
    /// it is not stored again.
    Erased,
}

// The leads' ports, one per role. One adapter usually implements them all on one store
// (`SeaOrmLeadRepository`, `InMemoryLeadRepository`); a decorator implements only the
// role it changes (`GroupCommitLeadWriter`: writing); each use case holds only the
// roles it uses. Every method of every one of them returns a [`StorageError`] for a
// failure of the store: `Unavailable` when trying again later may succeed (no
// connection, the pool or a write queue full, the database busy, a transaction chosen
// as a deadlock victim), `Unexpected` for anything else (a row that cannot be read
// back, a constraint the store did not expect). What the contract calls an outcome
// (`Duplicate`, `None`, `Ok(false)`, `0`) is never an error.

/// Where new leads are written: the webhook's, a replayed payload's, a copy's.
///
/// Contract, for every adapter and decorator:
/// - `insert_batch` stores, in one atomic unit, each lead whose `LeadReference` is not
///   stored yet, and returns one outcome per lead, in the order given: `Created` for a
///   lead it stored, `Duplicate` for one whose reference was stored already or appears
///   earlier in the same batch (the first occurrence wins; a duplicate changes
///   nothing). This holds under any number of concurrent calls, on any number of
///   processes sharing the store: of all deliveries of one reference, exactly one is
///   `Created`. A lead whose reference has a tombstone (it was erased, see
///   [`LeadErasure`]) is `Erased` and not stored. An empty batch returns no outcome.
/// - When it returns `Ok`, every `Created` lead is durable (it survives a crash of the
///   process or the machine), and has a [`LeadEvent`] of kind `Created`, written in the
///   same transaction (see [`LeadEventLog`]).
/// - When it returns `Err`, no lead of the batch may be considered stored, and none is
///   acknowledged: `Unavailable` when the store cannot take the batch now (so that the
///   sender is told to retry), `Unexpected` otherwise.
#[async_trait]
pub trait LeadWriter: Send + Sync {
    async fn insert_batch(&self, leads: Vec<NewLead>) -> Result<Vec<InsertOutcome>, StorageError>;
}

/// Reading the stored leads: one, a filtered page, the count, contacts, statistics.
///
/// Contract, for every adapter:
/// - `get` returns the lead with that reference, or `Ok(None)`; `get_by_id` the lead
///   with that id, or `Ok(None)` (an event's lead may have been erased since).
/// - `list` returns the leads that pass the filter ([`LeadFilter::matches`]) newest
///   first (by the filter's sort key, [`crate::LeadSort::key`], then id, both
///   descending), after the cursor when one is given. Leads stored while a client
///   pages through never make it skip or repeat a lead.
/// - `count` returns how many leads are stored.
/// - `contacts` returns the contacts (leads grouped by contact id; leads without one
///   belong to none), most recently active first: in the order of their latest leads
///   (receipt, then lead id, both descending), after the cursor, which is the latest
///   lead's [`LeadCursor`]; `contact` returns one, or `Ok(None)`.
/// - `stats` counts the leads received in `[from, to)` (either bound optional), by the
///   rule of [`LeadStats::of`].
#[async_trait]
pub trait LeadReader: Send + Sync {
    async fn get(&self, reference: &LeadReference) -> Result<Option<Lead>, StorageError>;

    async fn get_by_id(&self, id: LeadId) -> Result<Option<Lead>, StorageError>;

    async fn list(
        &self,
        filter: &LeadFilter,
        page: PageRequest<LeadCursor>,
    ) -> Result<Page<Lead, LeadCursor>, StorageError>;

    async fn count(&self) -> Result<u64, StorageError>;

    async fn contacts(
        &self,
        page: PageRequest<LeadCursor>,
    ) -> Result<Page<ContactSummary, LeadCursor>, StorageError>;

    async fn contact(&self, id: &str) -> Result<Option<ContactSummary>, StorageError>;

    async fn stats(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<LeadStats, StorageError>;
}

/// Working leads: their status, assignee, tags and notes, with the history of every
/// change.
///
/// Contract, for every adapter:
/// - `save_work` writes `applied` to lead `id` only if its version is still
///   `expected_version` (compare and swap), with one history entry per change (by
///   `actor`, at `applied.work.updated_at`), the note, if any (by `author`), and a
///   [`LeadEvent`] of kind `Updated`, in one transaction. `Ok(false)` when the version
///   moved on or there is no such lead: nothing was written.
/// - `history` and `notes` return a lead's entries, oldest first (none for an unknown
///   lead).
/// - `restore_work` sets the work of the lead with `reference` exactly (version
///   included) and replaces its notes and history with the given ones, in one
///   transaction (for `copy`); `Ok(false)` when there is no such lead.
/// - A lead's notes and history go with it when it is erased or purged.
#[async_trait]
pub trait LeadWorkStore: Send + Sync {
    async fn save_work(
        &self,
        id: LeadId,
        expected_version: i64,
        applied: &Applied,
        actor: &str,
        author: &str,
    ) -> Result<bool, StorageError>;

    async fn history(&self, id: LeadId) -> Result<Vec<HistoryEntry>, StorageError>;

    async fn notes(&self, id: LeadId) -> Result<Vec<Note>, StorageError>;

    async fn restore_work(
        &self,
        reference: &LeadReference,
        work: &LeadWork,
        notes: &[Note],
        history: &[HistoryEntry],
    ) -> Result<bool, StorageError>;
}

/// The log of new leads and changes that the live feed follows.
///
/// Contract, for every adapter: every `Created` lead of [`LeadWriter::insert_batch`]
/// and every saved change of [`LeadWorkStore::save_work`] adds a [`LeadEvent`] in the
/// same transaction.
/// - `events_after` returns up to `limit` events with an id greater than `after`, by
///   id.
/// - `last_event_id` is the greatest id (`0` when there is none).
/// - `prune_events_before` deletes at most `limit` events older than `cutoff` and
///   returns how many; callers repeat until `0`.
/// - An event goes with its lead (erasure, retention).
#[async_trait]
pub trait LeadEventLog: Send + Sync {
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<LeadEvent>, StorageError>;

    async fn last_event_id(&self) -> Result<i64, StorageError>;

    async fn prune_events_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StorageError>;
}

/// A data subject's leads, their erasure (GDPR Art. 17) with the tombstones that keep
/// them out, and retention.
///
/// Contract, for every adapter:
/// - `of_subject` returns every lead [`Subject::owns`], oldest first (by receipt, then
///   id).
/// - `erase_subject` deletes every lead of the subject (with its raw payload and
///   everything attached to it: work, notes, history, events) and leaves a tombstone
///   ([`LeadReference::tombstone`]) for each, in one transaction; it returns how many
///   leads it deleted (`0` when there were none). From its commit on,
///   [`LeadWriter::insert_batch`] answers `Erased` for those references.
/// - `tombstones` returns up to `limit` stored tombstones greater than `after`, in
///   ascending order; `add_tombstones` stores those of the given tombstones not stored
///   yet and returns how many it stored (for `copy`).
/// - `purge_received_before` deletes at most `limit` leads received before `cutoff`
///   (oldest first, with everything attached to them, no tombstone) and returns how
///   many; callers repeat until `0`.
#[async_trait]
pub trait LeadErasure: Send + Sync {
    async fn of_subject(&self, subject: &Subject) -> Result<Vec<Lead>, StorageError>;

    async fn erase_subject(&self, subject: &Subject) -> Result<u64, StorageError>;

    async fn tombstones(
        &self,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<String>, StorageError>;

    async fn add_tombstones(&self, tombstones: Vec<String>) -> Result<u64, StorageError>;

    async fn purge_received_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StorageError>;
}

/// Whether the store can serve now, for the readiness probe.
///
/// Contract: `ping` returns `Ok` when the store can serve requests now, `Unavailable`
/// when it cannot be reached now.
#[async_trait]
pub trait StoreHealth: Send + Sync {
    async fn ping(&self) -> Result<(), StorageError>;
}

/// A person, as the leads they sent: grouped by normalised email, else E.164 phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactSummary {
    pub id: String,
    pub leads: u64,
    pub first_received_at: DateTime<Utc>,
    pub last_received_at: DateTime<Utc>,
    /// Their most recent lead: the name, email and phone they gave last.
    pub latest: Lead,
}

impl ContactSummary {
    /// Where a page of contacts that ends with this one stops: its latest lead.
    pub fn cursor(&self) -> LeadCursor {
        LeadCursor {
            at: self.latest.received_at,
            id: self.latest.id,
        }
    }
}

/// Counts over the leads received in a period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadStats {
    pub total: u64,
    /// Leads per UTC day (the day's start), oldest first.
    pub by_day: Vec<(DateTime<Utc>, u64)>,
    /// Leads per entity type (`None`: none given), most first.
    pub by_entity_type: Vec<(Option<String>, u64)>,
    /// Leads per status, most first.
    pub by_status: Vec<(lead_inbox_domain::LeadStatus, u64)>,
    /// Leads whose status has changed from `new`.
    pub responded: u64,
    /// The median time from receipt to the first status change, over `responded`.
    pub median_seconds_to_first_response: Option<f64>,
}

impl LeadStats {
    /// The stats of `leads` (already limited to the period): the rule every adapter
    /// computes, the in-memory one with this very function.
    pub fn of<'a>(leads: impl IntoIterator<Item = &'a Lead>) -> LeadStats {
        use std::collections::BTreeMap;
        let mut days: BTreeMap<i64, u64> = BTreeMap::new();
        let mut types: BTreeMap<Option<String>, u64> = BTreeMap::new();
        let mut statuses: BTreeMap<lead_inbox_domain::LeadStatus, u64> = BTreeMap::new();
        let mut delays = Vec::new();
        let mut total = 0;
        for lead in leads {
            total += 1;
            *days
                .entry(day_start(lead.received_at.timestamp_micros()))
                .or_default() += 1;
            let kind = lead
                .details
                .entity_type
                .as_ref()
                .map(|t| t.as_str().to_owned());
            *types.entry(kind).or_default() += 1;
            *statuses.entry(lead.work.status).or_default() += 1;
            if let Some(first) = lead.work.first_response_at {
                delays.push(
                    (first - lead.received_at)
                        .num_microseconds()
                        .unwrap_or(i64::MAX),
                );
            }
        }
        delays.sort_unstable();
        LeadStats {
            total,
            by_day: days
                .into_iter()
                .filter_map(|(day, n)| DateTime::from_timestamp_micros(day).map(|d| (d, n)))
                .collect(),
            by_entity_type: most_first(types.into_iter().collect()),
            by_status: most_first(statuses.into_iter().collect()),
            responded: delays.len() as u64,
            median_seconds_to_first_response: median_micros(&delays).map(|m| m / 1e6),
        }
    }
}

/// Counts sorted most first (ties keep their order).
pub fn most_first<K>(mut counts: Vec<(K, u64)>) -> Vec<(K, u64)> {
    counts.sort_by_key(|count| std::cmp::Reverse(count.1));
    counts
}

/// Microseconds in a day.
pub const DAY_MICROS: i64 = 86_400_000_000;

/// The start of the UTC day of an instant in microseconds.
pub fn day_start(micros: i64) -> i64 {
    micros - micros.rem_euclid(DAY_MICROS)
}

/// The median of sorted values (the mean of the two middle ones for an even count).
pub fn median_micros(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    Some(if n % 2 == 1 {
        sorted[n / 2] as f64
    } else {
        (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0
    })
}

/// Where payloads that cannot be leads are kept, with the reason and the raw bytes,
/// for inspection and replay.
///
/// Contract: `store` keeps the payload durably before it returns `Ok` with its new id
/// (ids increase in the order entries are stored); `get` returns the entry or `None`;
/// `list` returns entries newest first (id descending), after the cursor when one is
/// given; `delete` removes the entry and returns whether it existed;
/// `purge_received_before` deletes at most `limit` entries received before `cutoff`
/// and returns how many.
#[async_trait]
pub trait QuarantineStore: Send + Sync {
    async fn store(&self, entry: NewQuarantined) -> Result<QuarantineId, StorageError>;

    async fn get(&self, id: QuarantineId) -> Result<Option<Quarantined>, StorageError>;

    async fn list(
        &self,
        page: PageRequest<QuarantineId>,
    ) -> Result<Page<Quarantined, QuarantineId>, StorageError>;

    async fn delete(&self, id: QuarantineId) -> Result<bool, StorageError>;

    async fn purge_received_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StorageError>;
}

/// One erasure, as the audit log keeps it: no personal data, only when, how much, and
/// a keyed hash (HMAC-SHA256) of the subject, with which the operator can later show
/// that a given person's data was erased, and which nobody without the key can link
/// to anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRecord {
    pub id: i64,
    pub erased_at: DateTime<Utc>,
    /// `email` or `phone`.
    pub subject_kind: String,
    /// Hex HMAC-SHA256 of the normalised subject.
    pub subject_hash: String,
    pub leads: u64,
    pub quarantined: u64,
    /// Who asked: an API key's name, or `cli`.
    pub requested_by: String,
}

/// The erasure audit log, its key, and the physical side of erasure.
///
/// Contract: `audit_key` returns the key stored before, or stores `candidate` and
/// returns it when there is none (so every process sharing the store uses one key);
/// `record` keeps an entry durably and returns it with its id; `list` returns entries
/// newest first; `scrub` makes deleted rows unreadable in the database's files (SQLite:
/// `secure_delete` has zeroed them, the WAL is checkpointed and truncated; PostgreSQL:
/// the tables are rewritten; MySQL: the tables are rebuilt).
#[async_trait]
pub trait ErasureLog: Send + Sync {
    async fn audit_key(&self, candidate: Vec<u8>) -> Result<Vec<u8>, StorageError>;

    async fn record(&self, entry: ErasureRecord) -> Result<ErasureRecord, StorageError>;

    async fn list(&self, page: PageRequest<i64>) -> Result<Page<ErasureRecord, i64>, StorageError>;

    async fn scrub(&self) -> Result<(), StorageError>;
}

/// The time. A port so that tests can fix it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// `clock`'s time, cut to the microseconds the stores keep, so that what an operation
/// answers is what a later read says.
pub fn now_micros(clock: &dyn Clock) -> DateTime<Utc> {
    let now = clock.now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Decides whether a `token` header is one CasaYes may use now.
///
/// Contract: returns `Ok(true)` only for a token that is valid at this moment (several
/// may be, for rotation). The comparison takes the same time whatever the token's
/// contents, and the token is neither logged nor kept.
#[async_trait]
pub trait WebhookTokenVerifier: Send + Sync {
    async fn verify(&self, token: &SecretString) -> Result<bool, StorageError>;
}

/// Decides whether an API key is valid and what it may do.
///
/// Contract: returns the key's principal (with its scopes) for a valid key, `None`
/// otherwise; constant time in the key's contents; the key is neither logged nor kept.
#[async_trait]
pub trait ApiKeyVerifier: Send + Sync {
    async fn verify(&self, key: &SecretString) -> Result<Option<ApiPrincipal>, StorageError>;
}
