//! Working leads: status, assignee, tags and notes, with optimistic concurrency and a
//! history of every change.

use std::{fmt, sync::Arc};

use lead_inbox_domain::{HistoryEntry, Lead, LeadReference, Note, WorkChange, WorkError};

use crate::{Clock, LeadReader, LeadWorkStore, StorageError, ports::now_micros};

/// A change to a lead, as a CRM asks for it.
#[derive(Debug, Clone)]
pub struct WorkRequest {
    pub change: WorkChange,
    /// The version the client read (from the `ETag` or the lead's `version`).
    pub expected_version: i64,
    /// Who asks: the API key's name. Recorded in the history.
    pub actor: String,
    /// Who writes the note, when there is one: an agent id; the actor when absent.
    pub author: Option<String>,
}

/// What became of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkOutcome {
    /// Applied: the lead as it is now.
    Updated(Box<Lead>),
    /// The lead changed since the client read it: nothing was written; the lead as it
    /// is now, so that the client can merge and retry.
    Stale(Box<Lead>),
    /// The change breaks a rule (a transition the pipeline does not allow, a bad tag).
    Refused(WorkError),
    NotFound,
}

/// The use cases "change a lead" and "read its history and notes".
#[derive(Clone)]
pub struct LeadWorkflow {
    leads: Arc<dyn LeadReader>,
    work: Arc<dyn LeadWorkStore>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for LeadWorkflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeadWorkflow").finish_non_exhaustive()
    }
}

impl LeadWorkflow {
    pub fn new(
        leads: Arc<dyn LeadReader>,
        work: Arc<dyn LeadWorkStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        LeadWorkflow { leads, work, clock }
    }

    /// Applies `request` to the lead if it is still at the version the client read.
    /// Never overwrites a change the client has not seen.
    pub async fn update(
        &self,
        reference: &LeadReference,
        request: WorkRequest,
    ) -> Result<WorkOutcome, StorageError> {
        let Some(lead) = self.leads.get(reference).await? else {
            return Ok(WorkOutcome::NotFound);
        };
        if lead.work.version != request.expected_version {
            return Ok(WorkOutcome::Stale(Box::new(lead)));
        }
        let applied = match lead
            .work
            .apply(request.change, now_micros(self.clock.as_ref()))
        {
            Ok(applied) => applied,
            Err(error) => return Ok(WorkOutcome::Refused(error)),
        };
        let author = request.author.as_deref().unwrap_or(&request.actor);
        let saved = self
            .work
            .save_work(
                lead.id,
                request.expected_version,
                &applied,
                &request.actor,
                author,
            )
            .await?;
        if !saved {
            // Another writer got there between our read and our write.
            return match self.leads.get(reference).await? {
                Some(current) => Ok(WorkOutcome::Stale(Box::new(current))),
                None => Ok(WorkOutcome::NotFound),
            };
        }
        Ok(WorkOutcome::Updated(Box::new(Lead {
            work: applied.work,
            ..lead
        })))
    }

    /// The lead's history, oldest first; `None` when there is no such lead.
    pub async fn history(
        &self,
        reference: &LeadReference,
    ) -> Result<Option<(Lead, Vec<HistoryEntry>)>, StorageError> {
        let Some(lead) = self.leads.get(reference).await? else {
            return Ok(None);
        };
        let history = self.work.history(lead.id).await?;
        Ok(Some((lead, history)))
    }

    /// The lead's notes, oldest first; `None` when there is no such lead.
    pub async fn notes(
        &self,
        reference: &LeadReference,
    ) -> Result<Option<Vec<Note>>, StorageError> {
        let Some(lead) = self.leads.get(reference).await? else {
            return Ok(None);
        };
        self.work.notes(lead.id).await.map(Some)
    }
}
