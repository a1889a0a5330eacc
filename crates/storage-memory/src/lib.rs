//! An in-memory storage adapter: `InMemoryLeadRepository` (every lead port, on one
//! state), `InMemoryForwardingStore` (forwarding's ports, on that same state),
//! `InMemoryQuarantineStore`, `InMemoryErasureLog`, `InMemoryCredentialStore`.
//!
//! It keeps the same contract as the database adapters (the contract suite in `tests/`
//! runs on it), but nothing survives the process: use it for tests and demos
//! (`LEAD_INBOX_DATABASE_URL=memory://`), never for real leads.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard},
};

mod forwarding;

pub use forwarding::InMemoryForwardingStore;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{
    ContactSummary, CredentialKind, CredentialRecord, CredentialStore, ErasureLog, ErasureRecord,
    InsertOutcome, LeadCursor, LeadErasure, LeadEventLog, LeadFilter, LeadReader, LeadStats,
    LeadWorkStore, LeadWriter, NewCredential, Page, PageRequest, QuarantineStore, SecretHash,
    StorageError, StoreHealth,
};
use lead_inbox_application::{
    NewUser, PasswordHash, SessionRecord, SessionStore, UserRecord, UserStore, Username,
};
use lead_inbox_domain::{
    Applied, HistoryEntry, Lead, LeadEvent, LeadEventKind, LeadId, LeadReference, LeadWork,
    NewLead, NewQuarantined, Note, QuarantineId, Quarantined, Subject,
};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the state half-written: every
    // mutation below is a single push/insert after all checks.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, Default)]
struct Leads {
    rows: BTreeMap<LeadId, Lead>,
    by_reference: HashMap<LeadReference, LeadId>,
    /// Tombstones of erased leads.
    erased: BTreeSet<String>,
    last_id: i64,
    notes: BTreeMap<LeadId, Vec<Note>>,
    history: BTreeMap<LeadId, Vec<HistoryEntry>>,
    /// The last note and history entry ids handed out.
    last_note: i64,
    last_entry: i64,
    events: Vec<LeadEvent>,
    last_event: i64,
    /// Destinations and deliveries: a lead's deliveries go with it.
    forwarding: forwarding::Forwarding,
}

impl Leads {
    /// Removes a lead with everything attached to it.
    fn remove(&mut self, id: LeadId) -> Option<Lead> {
        let lead = self.rows.remove(&id)?;
        self.by_reference.remove(lead.reference());
        self.notes.remove(&id);
        self.history.remove(&id);
        self.events.retain(|event| event.lead_id != id);
        self.forwarding.remove_lead(id);
        Some(lead)
    }

    fn record(&mut self, lead_id: LeadId, kind: LeadEventKind, at: DateTime<Utc>) {
        self.last_event += 1;
        let id = self.last_event;
        self.events.push(LeadEvent {
            id,
            lead_id,
            kind,
            at,
        });
    }
}

/// Leads in memory: every lead port ([`LeadWriter`], [`LeadReader`], [`LeadWorkStore`],
/// [`LeadEventLog`], [`LeadErasure`], [`StoreHealth`]) on one state, as one database
/// holds them.
#[derive(Debug, Default)]
pub struct InMemoryLeadRepository {
    state: Arc<Mutex<Leads>>,
}

impl InMemoryLeadRepository {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forwarding's ports on this repository's state, so that erasing or purging a
    /// lead removes its deliveries too, as one database does.
    pub fn forwarding(&self) -> InMemoryForwardingStore {
        InMemoryForwardingStore::on(self.state.clone())
    }
}

#[async_trait]
impl LeadWriter for InMemoryLeadRepository {
    async fn insert_batch(&self, leads: Vec<NewLead>) -> Result<Vec<InsertOutcome>, StorageError> {
        let mut state = lock(&self.state);
        let outcomes = leads
            .into_iter()
            .map(|lead| {
                if state.by_reference.contains_key(&lead.details.reference) {
                    return InsertOutcome::Duplicate;
                }
                if state.erased.contains(&lead.details.reference.tombstone()) {
                    return InsertOutcome::Erased;
                }
                state.last_id += 1;
                let id = LeadId(state.last_id);
                state
                    .by_reference
                    .insert(lead.details.reference.clone(), id);
                state.rows.insert(
                    id,
                    Lead {
                        id,
                        details: lead.details,
                        raw: lead.raw,
                        received_at: lead.received_at,
                        work: LeadWork::received(),
                    },
                );
                state.record(id, LeadEventKind::Created, lead.received_at);
                InsertOutcome::Created
            })
            .collect();
        Ok(outcomes)
    }
}

#[async_trait]
impl LeadReader for InMemoryLeadRepository {
    async fn get(&self, reference: &LeadReference) -> Result<Option<Lead>, StorageError> {
        let state = lock(&self.state);
        Ok(state
            .by_reference
            .get(reference)
            .and_then(|id| state.rows.get(id))
            .cloned())
    }

    async fn get_by_id(&self, id: LeadId) -> Result<Option<Lead>, StorageError> {
        Ok(lock(&self.state).rows.get(&id).cloned())
    }

    async fn list(
        &self,
        filter: &LeadFilter,
        page: PageRequest<LeadCursor>,
    ) -> Result<Page<Lead, LeadCursor>, StorageError> {
        let state = lock(&self.state);
        let key = |lead: &Lead| (filter.sort.key(lead), lead.id);
        let mut newest_first: Vec<&Lead> = state
            .rows
            .values()
            .filter(|lead| {
                page.after()
                    .is_none_or(|after| key(lead) < (after.at, after.id))
                    && filter.matches(lead)
            })
            .collect();
        newest_first.sort_by_key(|lead| std::cmp::Reverse(key(lead)));
        let items = newest_first
            .into_iter()
            .take(page.limit() as usize + 1)
            .cloned()
            .collect();
        Ok(Page::from_overfetch(items, page.limit(), |lead: &Lead| {
            filter.sort.cursor(lead)
        }))
    }

    async fn count(&self) -> Result<u64, StorageError> {
        Ok(lock(&self.state).rows.len() as u64)
    }

    async fn contacts(
        &self,
        page: PageRequest<LeadCursor>,
    ) -> Result<Page<ContactSummary, LeadCursor>, StorageError> {
        let state = lock(&self.state);
        let mut contacts = contacts_of(state.rows.values());
        contacts.retain(|contact| {
            page.after().is_none_or(|after| {
                (contact.latest.received_at, contact.latest.id) < (after.at, after.id)
            })
        });
        contacts.truncate(page.limit() as usize + 1);
        Ok(Page::from_overfetch(
            contacts,
            page.limit(),
            ContactSummary::cursor,
        ))
    }

    async fn contact(&self, id: &str) -> Result<Option<ContactSummary>, StorageError> {
        let state = lock(&self.state);
        Ok(contacts_of(
            state
                .rows
                .values()
                .filter(|lead| lead.details.contact_id().as_deref() == Some(id)),
        )
        .pop())
    }

    async fn stats(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<LeadStats, StorageError> {
        let state = lock(&self.state);
        Ok(LeadStats::of(state.rows.values().filter(|lead| {
            from.is_none_or(|from| lead.received_at >= from)
                && to.is_none_or(|to| lead.received_at < to)
        })))
    }
}

#[async_trait]
impl LeadWorkStore for InMemoryLeadRepository {
    async fn save_work(
        &self,
        id: LeadId,
        expected_version: i64,
        applied: &Applied,
        actor: &str,
        author: &str,
    ) -> Result<bool, StorageError> {
        let mut state = lock(&self.state);
        let Some(lead) = state.rows.get_mut(&id) else {
            return Ok(false);
        };
        if lead.work.version != expected_version {
            return Ok(false);
        }
        lead.work = applied.work.clone();
        let at = applied.work.updated_at.unwrap_or_else(Utc::now);
        for change in &applied.changes {
            state.last_entry += 1;
            let entry = change.entry(state.last_entry, at, actor);
            state.history.entry(id).or_default().push(entry);
        }
        if let Some(text) = &applied.note {
            state.last_note += 1;
            let note = Note {
                id: state.last_note,
                author: author.to_owned(),
                text: text.clone(),
                at,
            };
            state.notes.entry(id).or_default().push(note);
        }
        state.record(id, LeadEventKind::Updated, at);
        Ok(true)
    }

    async fn history(&self, id: LeadId) -> Result<Vec<HistoryEntry>, StorageError> {
        Ok(lock(&self.state)
            .history
            .get(&id)
            .cloned()
            .unwrap_or_default())
    }

    async fn notes(&self, id: LeadId) -> Result<Vec<Note>, StorageError> {
        Ok(lock(&self.state)
            .notes
            .get(&id)
            .cloned()
            .unwrap_or_default())
    }

    async fn restore_work(
        &self,
        reference: &LeadReference,
        work: &LeadWork,
        notes: &[Note],
        history: &[HistoryEntry],
    ) -> Result<bool, StorageError> {
        let mut state = lock(&self.state);
        let Some(&id) = state.by_reference.get(reference) else {
            return Ok(false);
        };
        if let Some(lead) = state.rows.get_mut(&id) {
            lead.work = work.clone();
        }
        let mut renumbered = Vec::with_capacity(notes.len());
        for note in notes {
            state.last_note += 1;
            renumbered.push(Note {
                id: state.last_note,
                ..note.clone()
            });
        }
        state.notes.insert(id, renumbered);
        let mut entries = Vec::with_capacity(history.len());
        for entry in history {
            state.last_entry += 1;
            entries.push(HistoryEntry {
                id: state.last_entry,
                ..entry.clone()
            });
        }
        state.history.insert(id, entries);
        Ok(true)
    }
}

#[async_trait]
impl LeadEventLog for InMemoryLeadRepository {
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<LeadEvent>, StorageError> {
        Ok(lock(&self.state)
            .events
            .iter()
            .filter(|event| event.id > after)
            .take(limit as usize)
            .copied()
            .collect())
    }

    async fn last_event_id(&self) -> Result<i64, StorageError> {
        Ok(lock(&self.state).events.last().map_or(0, |event| event.id))
    }

    async fn prune_events_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StorageError> {
        let mut state = lock(&self.state);
        let old: Vec<i64> = state
            .events
            .iter()
            .filter(|event| event.at < cutoff)
            .take(limit as usize)
            .map(|event| event.id)
            .collect();
        state.events.retain(|event| !old.contains(&event.id));
        Ok(old.len() as u64)
    }
}

#[async_trait]
impl LeadErasure for InMemoryLeadRepository {
    async fn of_subject(&self, subject: &Subject) -> Result<Vec<Lead>, StorageError> {
        let mut leads: Vec<Lead> = lock(&self.state)
            .rows
            .values()
            .filter(|lead| subject.owns(&lead.details))
            .cloned()
            .collect();
        leads.sort_by_key(|lead| (lead.received_at, lead.id.0));
        Ok(leads)
    }

    async fn erase_subject(&self, subject: &Subject) -> Result<u64, StorageError> {
        let mut state = lock(&self.state);
        let ids: Vec<LeadId> = state
            .rows
            .values()
            .filter(|lead| subject.owns(&lead.details))
            .map(|lead| lead.id)
            .collect();
        for id in &ids {
            if let Some(lead) = state.remove(*id) {
                state.erased.insert(lead.reference().tombstone());
            }
        }
        Ok(ids.len() as u64)
    }

    async fn tombstones(
        &self,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<String>, StorageError> {
        let state = lock(&self.state);
        Ok(state
            .erased
            .iter()
            .filter(|tombstone| after.as_ref().is_none_or(|after| *tombstone > after))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn add_tombstones(&self, tombstones: Vec<String>) -> Result<u64, StorageError> {
        let mut state = lock(&self.state);
        Ok(tombstones
            .into_iter()
            .filter(|tombstone| state.erased.insert(tombstone.clone()))
            .count() as u64)
    }

    async fn purge_received_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StorageError> {
        let mut state = lock(&self.state);
        let mut old: Vec<(DateTime<Utc>, LeadId)> = state
            .rows
            .values()
            .filter(|lead| lead.received_at < cutoff)
            .map(|lead| (lead.received_at, lead.id))
            .collect();
        old.sort();
        old.truncate(limit as usize);
        for (_, id) in &old {
            state.remove(*id);
        }
        Ok(old.len() as u64)
    }
}

#[async_trait]
impl StoreHealth for InMemoryLeadRepository {
    async fn ping(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// The contacts of `leads`, most recently active first.
fn contacts_of<'a>(leads: impl Iterator<Item = &'a Lead>) -> Vec<ContactSummary> {
    let mut by_id: HashMap<String, ContactSummary> = HashMap::new();
    for lead in leads {
        let Some(id) = lead.details.contact_id() else {
            continue;
        };
        let contact = by_id.entry(id.clone()).or_insert_with(|| ContactSummary {
            id,
            leads: 0,
            first_received_at: lead.received_at,
            last_received_at: lead.received_at,
            latest: lead.clone(),
        });
        contact.leads += 1;
        contact.first_received_at = contact.first_received_at.min(lead.received_at);
        if (lead.received_at, lead.id) > (contact.latest.received_at, contact.latest.id) {
            contact.last_received_at = lead.received_at;
            contact.latest = lead.clone();
        }
    }
    let mut contacts: Vec<ContactSummary> = by_id.into_values().collect();
    contacts
        .sort_by_key(|contact| std::cmp::Reverse((contact.latest.received_at, contact.latest.id)));
    contacts
}

/// Quarantined payloads in memory.
#[derive(Debug, Default)]
pub struct InMemoryQuarantineStore {
    state: Mutex<(i64, BTreeMap<QuarantineId, Quarantined>)>,
}

impl InMemoryQuarantineStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl QuarantineStore for InMemoryQuarantineStore {
    async fn store(&self, entry: NewQuarantined) -> Result<QuarantineId, StorageError> {
        let mut state = lock(&self.state);
        state.0 += 1;
        let id = QuarantineId(state.0);
        state.1.insert(
            id,
            Quarantined {
                id,
                rejection: entry.rejection,
                raw: entry.raw,
                received_at: entry.received_at,
            },
        );
        Ok(id)
    }

    async fn get(&self, id: QuarantineId) -> Result<Option<Quarantined>, StorageError> {
        Ok(lock(&self.state).1.get(&id).cloned())
    }

    async fn list(
        &self,
        page: PageRequest<QuarantineId>,
    ) -> Result<Page<Quarantined, QuarantineId>, StorageError> {
        let state = lock(&self.state);
        let items = state
            .1
            .values()
            .rev()
            .filter(|entry| page.after().is_none_or(|after| entry.id < *after))
            .take(page.limit() as usize + 1)
            .cloned()
            .collect();
        Ok(Page::from_overfetch(
            items,
            page.limit(),
            |entry: &Quarantined| entry.id,
        ))
    }

    async fn delete(&self, id: QuarantineId) -> Result<bool, StorageError> {
        Ok(lock(&self.state).1.remove(&id).is_some())
    }

    async fn purge_received_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StorageError> {
        let mut state = lock(&self.state);
        let old: Vec<QuarantineId> = state
            .1
            .values()
            .filter(|entry| entry.received_at < cutoff)
            .map(|entry| entry.id)
            .take(limit as usize)
            .collect();
        for id in &old {
            state.1.remove(id);
        }
        Ok(old.len() as u64)
    }
}

/// The erasure audit log in memory.
#[derive(Debug, Default)]
pub struct InMemoryErasureLog {
    state: Mutex<(Option<Vec<u8>>, Vec<ErasureRecord>)>,
}

impl InMemoryErasureLog {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ErasureLog for InMemoryErasureLog {
    async fn audit_key(&self, candidate: Vec<u8>) -> Result<Vec<u8>, StorageError> {
        Ok(lock(&self.state).0.get_or_insert(candidate).clone())
    }

    async fn record(&self, mut entry: ErasureRecord) -> Result<ErasureRecord, StorageError> {
        let mut state = lock(&self.state);
        entry.id = state.1.len() as i64 + 1;
        state.1.push(entry.clone());
        Ok(entry)
    }

    async fn list(&self, page: PageRequest<i64>) -> Result<Page<ErasureRecord, i64>, StorageError> {
        let state = lock(&self.state);
        let items = state
            .1
            .iter()
            .rev()
            .filter(|entry| page.after().is_none_or(|after| entry.id < *after))
            .take(page.limit() as usize + 1)
            .cloned()
            .collect();
        Ok(Page::from_overfetch(
            items,
            page.limit(),
            |entry: &ErasureRecord| entry.id,
        ))
    }

    /// Nothing to do: a removed value is gone from memory once dropped.
    async fn scrub(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// Managed credentials in memory.
#[derive(Debug, Default)]
pub struct InMemoryCredentialStore {
    credentials: Mutex<Vec<(SecretHash, CredentialRecord)>>,
}

impl InMemoryCredentialStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CredentialStore for InMemoryCredentialStore {
    async fn create(&self, credential: NewCredential) -> Result<CredentialRecord, StorageError> {
        let mut credentials = lock(&self.credentials);
        let record = CredentialRecord {
            id: credentials.len() as i64 + 1,
            kind: credential.kind,
            name: credential.name,
            scopes: credential.scopes,
            created_at: credential.created_at,
            expires_at: credential.expires_at,
            revoked_at: None,
        };
        credentials.push((credential.hash, record.clone()));
        Ok(record)
    }

    async fn list(&self, kind: CredentialKind) -> Result<Vec<CredentialRecord>, StorageError> {
        Ok(lock(&self.credentials)
            .iter()
            .filter(|(_, record)| record.kind == kind)
            .map(|(_, record)| record.clone())
            .collect())
    }

    async fn revoke(
        &self,
        kind: CredentialKind,
        id: i64,
        at: DateTime<Utc>,
    ) -> Result<Option<CredentialRecord>, StorageError> {
        let mut credentials = lock(&self.credentials);
        Ok(credentials
            .iter_mut()
            .find(|(_, record)| record.id == id && record.kind == kind)
            .map(|(_, record)| {
                record.revoked_at.get_or_insert(at);
                record.clone()
            }))
    }

    async fn find_valid(
        &self,
        kind: CredentialKind,
        hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<CredentialRecord>, StorageError> {
        Ok(lock(&self.credentials)
            .iter()
            .find(|(stored, record)| {
                stored == hash && record.kind == kind && record.is_valid_at(now)
            })
            .map(|(_, record)| record.clone()))
    }
}

// ---- The web console's users and sessions (issue #20) ----

/// Console users and sessions in memory.
#[derive(Debug, Default)]
pub struct InMemoryConsoleStore {
    users: Mutex<Vec<(UserRecord, PasswordHash)>>,
    sessions: Mutex<Vec<StoredSession>>,
}

/// A session with its token's hash and its revocation time.
type StoredSession = (SecretHash, SessionRecord, Option<DateTime<Utc>>);

impl InMemoryConsoleStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl UserStore for InMemoryConsoleStore {
    async fn create(&self, user: NewUser) -> Result<Option<UserRecord>, StorageError> {
        let mut users = lock(&self.users);
        if users.iter().any(|(u, _)| u.username == user.username) {
            return Ok(None);
        }
        let record = UserRecord {
            id: users.len() as i64 + 1,
            username: user.username,
            role: user.role,
            created_at: user.created_at,
            disabled_at: None,
        };
        users.push((record.clone(), user.password));
        Ok(Some(record))
    }

    async fn list(&self) -> Result<Vec<UserRecord>, StorageError> {
        let mut users: Vec<UserRecord> = lock(&self.users).iter().map(|(u, _)| u.clone()).collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    async fn find(
        &self,
        username: &Username,
    ) -> Result<Option<(UserRecord, PasswordHash)>, StorageError> {
        Ok(lock(&self.users)
            .iter()
            .find(|(u, _)| &u.username == username)
            .cloned())
    }

    async fn get(&self, id: i64) -> Result<Option<UserRecord>, StorageError> {
        Ok(lock(&self.users)
            .iter()
            .find(|(u, _)| u.id == id)
            .map(|(u, _)| u.clone()))
    }

    async fn disable(
        &self,
        username: &Username,
        at: DateTime<Utc>,
    ) -> Result<Option<UserRecord>, StorageError> {
        Ok(lock(&self.users)
            .iter_mut()
            .find(|(u, _)| &u.username == username)
            .map(|(u, _)| {
                u.disabled_at.get_or_insert(at);
                u.clone()
            }))
    }

    async fn set_password(
        &self,
        username: &Username,
        password: PasswordHash,
    ) -> Result<Option<UserRecord>, StorageError> {
        Ok(lock(&self.users)
            .iter_mut()
            .find(|(u, _)| &u.username == username)
            .map(|(u, hash)| {
                *hash = password;
                u.clone()
            }))
    }
}

#[async_trait]
impl SessionStore for InMemoryConsoleStore {
    async fn create(
        &self,
        user_id: i64,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<SessionRecord, StorageError> {
        let mut sessions = lock(&self.sessions);
        let record = SessionRecord {
            id: sessions.len() as i64 + 1,
            user_id,
            created_at: at,
            last_seen_at: at,
        };
        sessions.push((*hash, record.clone(), None));
        Ok(record)
    }

    async fn find(&self, hash: &SecretHash) -> Result<Option<SessionRecord>, StorageError> {
        Ok(lock(&self.sessions)
            .iter()
            .find(|(h, _, revoked)| h == hash && revoked.is_none())
            .map(|(_, s, _)| s.clone()))
    }

    async fn touch(&self, id: i64, at: DateTime<Utc>) -> Result<(), StorageError> {
        if let Some((_, session, _)) = lock(&self.sessions).iter_mut().find(|(_, s, _)| s.id == id)
        {
            session.last_seen_at = session.last_seen_at.max(at);
        }
        Ok(())
    }

    async fn revoke(&self, hash: &SecretHash, at: DateTime<Utc>) -> Result<(), StorageError> {
        for (h, _, revoked) in lock(&self.sessions).iter_mut() {
            if h == hash {
                revoked.get_or_insert(at);
            }
        }
        Ok(())
    }

    async fn revoke_user(&self, user_id: i64, at: DateTime<Utc>) -> Result<u64, StorageError> {
        let mut revoked_now = 0;
        for (_, session, revoked) in lock(&self.sessions).iter_mut() {
            if session.user_id == user_id && revoked.is_none() {
                *revoked = Some(at);
                revoked_now += 1;
            }
        }
        Ok(revoked_now)
    }
}
