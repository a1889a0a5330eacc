//! Lead queries: what a CRM integrator reads.

use std::{fmt, sync::Arc};

use lead_inbox_domain::{Lead, LeadReference, QuarantineId, Quarantined};

use crate::{
    ContactSummary, LeadCursor, LeadFilter, LeadReader, LeadStats, Page, PageRequest,
    QuarantineStore, StorageError, StoreHealth,
};

/// The use cases "read a lead", "list leads", "read the quarantine".
#[derive(Clone)]
pub struct LeadQueries {
    leads: Arc<dyn LeadReader>,
    quarantine: Arc<dyn QuarantineStore>,
    health: Arc<dyn StoreHealth>,
}

impl fmt::Debug for LeadQueries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeadQueries").finish_non_exhaustive()
    }
}

impl LeadQueries {
    pub fn new(
        leads: Arc<dyn LeadReader>,
        quarantine: Arc<dyn QuarantineStore>,
        health: Arc<dyn StoreHealth>,
    ) -> Self {
        LeadQueries {
            leads,
            quarantine,
            health,
        }
    }

    pub async fn lead(&self, reference: &LeadReference) -> Result<Option<Lead>, StorageError> {
        self.leads.get(reference).await
    }

    pub async fn leads(
        &self,
        filter: &LeadFilter,
        page: PageRequest<LeadCursor>,
    ) -> Result<Page<Lead, LeadCursor>, StorageError> {
        self.leads.list(filter, page).await
    }

    pub async fn quarantined(&self, id: QuarantineId) -> Result<Option<Quarantined>, StorageError> {
        self.quarantine.get(id).await
    }

    pub async fn quarantine(
        &self,
        page: PageRequest<QuarantineId>,
    ) -> Result<Page<Quarantined, QuarantineId>, StorageError> {
        self.quarantine.list(page).await
    }

    pub async fn contacts(
        &self,
        page: PageRequest<LeadCursor>,
    ) -> Result<Page<ContactSummary, LeadCursor>, StorageError> {
        self.leads.contacts(page).await
    }

    pub async fn contact(&self, id: &str) -> Result<Option<ContactSummary>, StorageError> {
        self.leads.contact(id).await
    }

    pub async fn stats(
        &self,
        from: Option<chrono::DateTime<chrono::Utc>>,
        to: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<LeadStats, StorageError> {
        self.leads.stats(from, to).await
    }

    /// `Ok` when the store can serve requests now.
    pub async fn ready(&self) -> Result<(), StorageError> {
        self.health.ping().await
    }
}
