//! Copying every lead and quarantined payload from one store to another (moving from
//! SQLite to PostgreSQL, say). Idempotent: a lead already in the target is a duplicate
//! and left as it is; a quarantined payload already there (same arrival time, reason
//! and bytes) is skipped.

use std::{collections::HashSet, fmt, sync::Arc};

use lead_inbox_domain::{LeadId, LeadReference, LeadWork, NewLead, NewQuarantined, Quarantined};

use crate::{
    InsertOutcome, LeadErasure, LeadFilter, LeadReader, LeadWorkStore, LeadWriter, PageRequest,
    QuarantineStore, StorageError, pagination::MAX_PAGE_SIZE,
};

/// One side of a copy: the ports it reads from the source and writes to the target.
#[derive(Clone)]
pub struct Store {
    pub reader: Arc<dyn LeadReader>,
    pub writer: Arc<dyn LeadWriter>,
    pub work: Arc<dyn LeadWorkStore>,
    pub erasure: Arc<dyn LeadErasure>,
    pub quarantine: Arc<dyn QuarantineStore>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// What a copy did (so far).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Leads in the source when the copy started.
    pub leads_total: u64,
    pub leads_copied: u64,
    pub leads_already_there: u64,
    /// Leads the target had erased (it keeps their tombstones): not copied.
    pub leads_erased_at_target: u64,
    /// Tombstones of erased leads the target did not have yet.
    pub tombstones_copied: u64,
    /// Leads whose work (status, assignee, tags, notes, history) was copied.
    pub worked_leads_copied: u64,
    pub quarantined_copied: u64,
    pub quarantined_already_there: u64,
}

type Fingerprint = (i64, &'static str, Vec<u8>);

fn fingerprint(entry: &Quarantined) -> Fingerprint {
    (
        entry.received_at.timestamp_micros(),
        entry.rejection.kind.code(),
        entry.raw.as_bytes().to_vec(),
    )
}

async fn all_quarantined(store: &dyn QuarantineStore) -> Result<Vec<Quarantined>, StorageError> {
    let mut entries = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list(
                PageRequest::new(Some(MAX_PAGE_SIZE), after)
                    .unwrap_or_else(|_| unreachable!("a valid size")),
            )
            .await?;
        entries.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(entries),
        }
    }
}

/// Copies `from` into `to`, leads in pages of up to 500 (one transaction each), then the
/// quarantine (oldest first, so that its order is kept). `progress` is called after
/// each page.
pub async fn copy_store(
    from: &Store,
    to: &Store,
    progress: &dyn Fn(&CopyReport),
) -> Result<CopyReport, StorageError> {
    let mut report = CopyReport {
        leads_total: from.reader.count().await?,
        ..CopyReport::default()
    };
    progress(&report);
    // Tombstones first, so that no lead erased at the source lands in the target.
    let mut after_tombstone = None;
    loop {
        let tombstones = from
            .erasure
            .tombstones(after_tombstone.take(), MAX_PAGE_SIZE)
            .await?;
        let Some(last) = tombstones.last().cloned() else {
            break;
        };
        report.tombstones_copied += to.erasure.add_tombstones(tombstones).await?;
        after_tombstone = Some(last);
    }
    let mut after = None;
    loop {
        let page = from
            .reader
            .list(
                &LeadFilter::default(),
                PageRequest::new(Some(MAX_PAGE_SIZE), after)
                    .unwrap_or_else(|_| unreachable!("a valid size")),
            )
            .await?;
        // Leads that were worked carry their status, notes and history along.
        let worked: Vec<(LeadId, LeadReference, LeadWork)> = page
            .items
            .iter()
            .filter(|lead| lead.work != LeadWork::received())
            .map(|lead| (lead.id, lead.reference().clone(), lead.work.clone()))
            .collect();
        let batch: Vec<NewLead> = page
            .items
            .into_iter()
            .map(|lead| NewLead {
                details: lead.details,
                raw: lead.raw,
                received_at: lead.received_at,
            })
            .collect();
        for outcome in to.writer.insert_batch(batch).await? {
            match outcome {
                InsertOutcome::Created => report.leads_copied += 1,
                InsertOutcome::Duplicate => report.leads_already_there += 1,
                InsertOutcome::Erased => report.leads_erased_at_target += 1,
            }
        }
        for (id, reference, work) in worked {
            let notes = from.work.notes(id).await?;
            let history = from.work.history(id).await?;
            if to
                .work
                .restore_work(&reference, &work, &notes, &history)
                .await?
            {
                report.worked_leads_copied += 1;
            }
        }
        progress(&report);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let present: HashSet<Fingerprint> = all_quarantined(to.quarantine.as_ref())
        .await?
        .iter()
        .map(fingerprint)
        .collect();
    let mut source = all_quarantined(from.quarantine.as_ref()).await?;
    source.reverse();
    for entry in source {
        if present.contains(&fingerprint(&entry)) {
            report.quarantined_already_there += 1;
            continue;
        }
        to.quarantine
            .store(NewQuarantined {
                rejection: entry.rejection,
                raw: entry.raw,
                received_at: entry.received_at,
            })
            .await?;
        report.quarantined_copied += 1;
    }
    progress(&report);
    Ok(report)
}
