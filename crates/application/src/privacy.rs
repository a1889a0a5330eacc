//! The data subject's rights (GDPR Art. 15, 17, 20) and retention: what is held about
//! a person, erasing it, and purging what is older than the operator keeps leads.

use std::{fmt, sync::Arc};

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use lead_inbox_domain::{Lead, QuarantineId, Quarantined, Subject};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::{
    Clock, ErasureLog, ErasureRecord, LeadErasure, PageRequest, QuarantineStore, StorageError,
};

/// Everything held about one person.
#[derive(Debug, Clone)]
pub struct SubjectData {
    pub leads: Vec<Lead>,
    /// Payloads that could not be leads and mention the person.
    pub quarantined: Vec<Quarantined>,
}

/// The rows a retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub leads: u64,
    pub quarantined: u64,
}

/// How long leads and quarantined payloads are kept; `None` keeps them for ever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub leads_days: Option<u32>,
    pub quarantine_days: Option<u32>,
}

impl RetentionPolicy {
    pub fn is_off(&self) -> bool {
        self.leads_days.is_none() && self.quarantine_days.is_none()
    }
}

/// Rows deleted per transaction when purging: short transactions, so that intake never
/// waits long behind a purge.
pub const PURGE_BATCH: u32 = 1000;

/// The use cases "export a subject", "erase a subject" and "purge old data".
#[derive(Clone)]
pub struct SubjectRights {
    leads: Arc<dyn LeadErasure>,
    quarantine: Arc<dyn QuarantineStore>,
    log: Arc<dyn ErasureLog>,
    clock: Arc<dyn Clock>,
    audit_key: Option<SecretString>,
}

impl fmt::Debug for SubjectRights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectRights").finish_non_exhaustive()
    }
}

impl SubjectRights {
    /// `audit_key` is the configured key for the audit log's subject hashes; without
    /// one, a random key is created once and kept in the store.
    pub fn new(
        leads: Arc<dyn LeadErasure>,
        quarantine: Arc<dyn QuarantineStore>,
        log: Arc<dyn ErasureLog>,
        clock: Arc<dyn Clock>,
        audit_key: Option<SecretString>,
    ) -> Self {
        SubjectRights {
            leads,
            quarantine,
            log,
            clock,
            audit_key,
        }
    }

    /// Everything held about `subject` (Art. 15 and 20).
    pub async fn export(&self, subject: &Subject) -> Result<SubjectData, StorageError> {
        let leads = self.leads.of_subject(subject).await?;
        let mut quarantined = Vec::new();
        self.each_quarantined_of(subject, |entry| quarantined.push(entry))
            .await?;
        Ok(SubjectData { leads, quarantined })
    }

    /// Erases `subject` (Art. 17): their leads (with raw payloads, and tombstones so
    /// that a redelivery does not bring them back), the quarantined payloads that
    /// mention them, then makes the deleted rows unreadable in the database files, and
    /// records a PII-free audit entry. Running it again is harmless (it finds nothing).
    pub async fn erase(
        &self,
        subject: &Subject,
        requested_by: &str,
    ) -> Result<ErasureRecord, StorageError> {
        let mut leads = self.leads.erase_subject(subject).await?;
        let mut ids: Vec<QuarantineId> = Vec::new();
        self.each_quarantined_of(subject, |entry| ids.push(entry.id))
            .await?;
        let mut quarantined = 0;
        for id in ids {
            if self.quarantine.delete(id).await? {
                quarantined += 1;
            }
        }
        // A redelivery that read no tombstone before the first pass committed may have
        // stored the lead again since; the tombstones stop any later one.
        leads += self.leads.erase_subject(subject).await?;
        self.log.scrub().await?;
        let entry = ErasureRecord {
            id: 0,
            erased_at: crate::ports::now_micros(self.clock.as_ref()),
            subject_kind: subject.kind().to_owned(),
            subject_hash: self.subject_hash(subject).await?,
            leads,
            quarantined,
            requested_by: requested_by.to_owned(),
        };
        self.log.record(entry).await
    }

    /// The audit log, newest first.
    pub async fn erasures(
        &self,
        page: PageRequest<i64>,
    ) -> Result<crate::Page<ErasureRecord, i64>, StorageError> {
        self.log.list(page).await
    }

    /// The keyed hash the audit log keeps for `subject`: hex HMAC-SHA256 of
    /// `kind:normalised value`. Give it the same subject to find their erasure.
    pub async fn subject_hash(&self, subject: &Subject) -> Result<String, StorageError> {
        let key = match &self.audit_key {
            Some(key) => key.expose_secret().as_bytes().to_vec(),
            None => {
                let mut candidate = vec![0; 32];
                getrandom::fill(&mut candidate).map_err(|error| {
                    StorageError::unexpected(format!("no randomness for the audit key: {error}"))
                })?;
                self.log.audit_key(candidate).await?
            }
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(subject.kind().as_bytes());
        mac.update(b":");
        mac.update(subject.key().as_bytes());
        Ok(mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect())
    }

    /// Deletes what is older than the policy keeps, in short batches, calling
    /// `progress` after each with the totals so far.
    pub async fn purge(
        &self,
        policy: RetentionPolicy,
        mut progress: impl FnMut(Purged),
    ) -> Result<Purged, StorageError> {
        let now = self.clock.now();
        let cutoff = |days| retention_cutoff(now, days);
        let mut purged = Purged::default();
        if let Some(days) = policy.leads_days {
            loop {
                let deleted = self
                    .leads
                    .purge_received_before(cutoff(days), PURGE_BATCH)
                    .await?;
                if deleted == 0 {
                    break;
                }
                purged.leads += deleted;
                progress(purged);
            }
        }
        if let Some(days) = policy.quarantine_days {
            loop {
                let deleted = self
                    .quarantine
                    .purge_received_before(cutoff(days), PURGE_BATCH)
                    .await?;
                if deleted == 0 {
                    break;
                }
                purged.quarantined += deleted;
                progress(purged);
            }
        }
        Ok(purged)
    }

    /// Walks the whole quarantine (it is small: payloads that could not be leads) and
    /// hands over the entries that mention `subject`.
    async fn each_quarantined_of(
        &self,
        subject: &Subject,
        mut found: impl FnMut(Quarantined),
    ) -> Result<(), StorageError> {
        let mut after = None;
        loop {
            let page = PageRequest::new(Some(crate::pagination::MAX_PAGE_SIZE), after)
                .unwrap_or_else(|_| unreachable!("the largest page is a valid size"));
            let page = self.quarantine.list(page).await?;
            for entry in page.items {
                if subject.appears_in(entry.raw.as_bytes()) {
                    found(entry);
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }
}

/// When a retention cutoff is, for a policy of `days` at `now`.
pub fn retention_cutoff(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now - TimeDelta::days(i64::from(days))
}
