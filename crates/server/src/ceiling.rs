//! The benchmark ceiling: a store that keeps nothing.
//!
//! `LEAD_INBOX_DATABASE_URL=discard://` runs the whole service (transport, limits,
//! token check, body reading, parsing, group commit, the answer) but stores no lead and
//! no quarantined payload: every lead is answered `created`, even a redelivery. It
//! exists for one purpose, the "ceiling" of the benchmark (`crates/bench`, see
//! docs/benchmarks.md): what the same build serves when storage costs nothing, so that
//! the durable figures can be given as a ratio to it.
//!
//! It is compiled only with the `benchmark-ceiling` feature, which only the benchmark
//! crate enables: the binary a plain `cargo build -p lead-inbox-server` makes (the
//! Docker image's) does not know the URL. Even then it is refused unless
//! `LEAD_INBOX_BENCHMARK_CEILING=1` is set as well, and it says so loudly at start-up:
//! a receiver that answers `created` and throws the lead away must never run by
//! mistake.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{
    InsertOutcome, LeadWriter, Page, PageRequest, QuarantineStore, StorageError,
};
use lead_inbox_domain::{NewLead, NewQuarantined, QuarantineId, Quarantined};

/// The URL that selects the discarding store.
pub const CEILING_URL: &str = "discard://";
/// The variable that must be `1` (or `true`) for [`CEILING_URL`] to be accepted.
pub const CEILING_FLAG: &str = "LEAD_INBOX_BENCHMARK_CEILING";

#[derive(Debug, thiserror::Error)]
#[error(
    "{CEILING_URL} stores nothing and answers `created` for every lead: it is the benchmark's \
     ceiling only, and needs {CEILING_FLAG}=1 as well. Never use it for real leads."
)]
pub struct CeilingRefused;

/// The ports the ceiling mode replaces: the two that write.
pub type DiscardingPorts = (Arc<dyn LeadWriter>, Arc<dyn QuarantineStore>);

/// The two discarding ports, when `flag` (the value of [`CEILING_FLAG`]) allows them.
/// The composition root puts the writer behind group commit, as it does a database's,
/// and takes the other ports from an in-memory store.
pub fn open(flag: Option<&str>) -> Result<DiscardingPorts, CeilingRefused> {
    if !allowed(flag) {
        return Err(CeilingRefused);
    }
    tracing::warn!(
        "BENCHMARK CEILING MODE ({CEILING_URL}): leads are parsed and answered `created` but \
         NOTHING IS STORED. Never point CasaYes at this process."
    );
    Ok((
        Arc::new(DiscardingLeadWriter),
        Arc::new(DiscardingQuarantineStore::default()),
    ))
}

/// Whether the flag's value switches the ceiling mode on.
fn allowed(flag: Option<&str>) -> bool {
    matches!(flag.map(str::trim), Some("1" | "true" | "TRUE" | "yes"))
}

/// A [`LeadWriter`] that answers `Created` for every lead and keeps none. It breaks the
/// port's contract on purpose (no lead is durable, a redelivery is `Created` again):
/// benchmark only. It is a writer and nothing else; the ceiling reads from an empty
/// in-memory store.
#[derive(Debug, Default)]
pub struct DiscardingLeadWriter;

#[async_trait]
impl LeadWriter for DiscardingLeadWriter {
    async fn insert_batch(&self, leads: Vec<NewLead>) -> Result<Vec<InsertOutcome>, StorageError> {
        Ok(vec![InsertOutcome::Created; leads.len()])
    }
}

/// A `QuarantineStore` that hands out ids and keeps nothing: what it answers when read
/// is the truth, it holds no entry.
#[derive(Debug, Default)]
pub struct DiscardingQuarantineStore {
    last: AtomicI64,
}

#[async_trait]
impl QuarantineStore for DiscardingQuarantineStore {
    async fn store(&self, _entry: NewQuarantined) -> Result<QuarantineId, StorageError> {
        Ok(QuarantineId(self.last.fetch_add(1, Ordering::Relaxed) + 1))
    }

    async fn get(&self, _id: QuarantineId) -> Result<Option<Quarantined>, StorageError> {
        Ok(None)
    }

    async fn list(
        &self,
        _page: PageRequest<QuarantineId>,
    ) -> Result<Page<Quarantined, QuarantineId>, StorageError> {
        Ok(Page {
            items: Vec::new(),
            next: None,
        })
    }

    async fn delete(&self, _id: QuarantineId) -> Result<bool, StorageError> {
        Ok(false)
    }

    async fn purge_received_before(
        &self,
        _cutoff: DateTime<Utc>,
        _limit: u32,
    ) -> Result<u64, StorageError> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_without_the_explicit_flag() {
        for flag in [None, Some(""), Some("0"), Some("false"), Some("no")] {
            let refused = open(flag).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(refused.contains(CEILING_FLAG), "{flag:?}: {refused}");
        }
        for flag in ["1", "true", " 1 "] {
            assert!(open(Some(flag)).is_ok(), "{flag}");
        }
    }

    #[tokio::test]
    async fn answers_created_for_every_lead_and_keeps_none() {
        let (leads, quarantine) = open(Some("1")).expect("allowed");
        let raw = lead_inbox_domain::casayes::SPEC_EXAMPLE.as_bytes();
        let details = lead_inbox_domain::casayes::parse_payload(raw).expect("the example parses");
        let lead = NewLead {
            details,
            raw: lead_inbox_domain::RawPayload::new(raw.to_vec()),
            received_at: chrono::Utc::now(),
        };
        let outcomes = leads
            .insert_batch(vec![lead.clone(), lead])
            .await
            .expect("ok");
        assert_eq!(outcomes, [InsertOutcome::Created, InsertOutcome::Created]);
        let first = quarantine
            .store(NewQuarantined {
                rejection: lead_inbox_domain::Rejection::new(
                    lead_inbox_domain::RejectionKind::NotJson,
                    "not JSON",
                ),
                raw: lead_inbox_domain::RawPayload::new(b"{".to_vec()),
                received_at: chrono::Utc::now(),
            })
            .await
            .expect("ok");
        assert_eq!(first, QuarantineId(1));
        assert_eq!(quarantine.get(first).await.expect("ok"), None);
        let page = quarantine
            .list(PageRequest::new(Some(10), None).expect("a valid page"))
            .await
            .expect("ok");
        assert!(page.items.is_empty());
    }
}
