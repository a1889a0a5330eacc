//! Lead intake: a CasaYes webhook delivery, from token to stored lead.

use std::{fmt, sync::Arc};

use chrono::{DateTime, Utc};
use lead_inbox_domain::{
    LeadReference, NewLead, NewQuarantined, QuarantineId, RawPayload, Rejection, RejectionKind,
    casayes::parse_payload,
};
use secrecy::SecretString;

use crate::{
    Clock, InsertOutcome, IntakeError, LeadWriter, PageRequest, QuarantineStore, StorageError,
    WebhookTokenVerifier, pagination::MAX_PAGE_SIZE,
};

/// Proof that a delivery's token was checked, and when the delivery arrived. Only
/// [`LeadIntake::authenticate`] makes one, so a body is never read, parsed or kept
/// for a caller that was not authenticated.
#[derive(Debug)]
pub struct AuthenticatedDelivery {
    received_at: DateTime<Utc>,
}

/// The body of a delivery, as read by the transport within its size limit.
pub enum DeliveryBody {
    /// The whole body.
    Complete(Vec<u8>),
    /// The body went past `limit` bytes; `prefix` holds the first bytes read.
    TooLarge { prefix: Vec<u8>, limit: usize },
}

impl fmt::Debug for DeliveryBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryBody::Complete(bytes) => write!(f, "Complete({} bytes)", bytes.len()),
            DeliveryBody::TooLarge { prefix, limit } => {
                write!(f, "TooLarge({} bytes kept, limit {limit})", prefix.len())
            }
        }
    }
}

/// An acknowledged delivery: the lead is durably stored (now or before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub reference: LeadReference,
    pub outcome: InsertOutcome,
}

/// What replaying a quarantined payload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// It is a lead now: stored (or found stored), and removed from the quarantine.
    Stored(Received),
    /// It still cannot be a lead; it stays in the quarantine.
    StillRefused(Rejection),
}

/// How many payloads a replay of many turned into leads, left refused, or did not find.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplayTally {
    /// Stored as leads (or found stored): they left the quarantine.
    pub stored: u64,
    /// Still not leads: they stay.
    pub still_refused: u64,
    /// No such entry (removed meanwhile).
    pub missing: u64,
}

impl ReplayTally {
    /// How many payloads were replayed so far.
    pub fn done(&self) -> u64 {
        self.stored + self.still_refused + self.missing
    }
}

/// A replay of many payloads stopped by a storage failure; what was replayed before it
/// stays replayed.
#[derive(Debug, thiserror::Error)]
#[error("the replay stopped after {} payloads", .so_far.done())]
pub struct ReplayStopped {
    pub so_far: ReplayTally,
    #[source]
    pub error: StorageError,
}

/// The use case "CasaYes delivers a lead".
#[derive(Clone)]
pub struct LeadIntake {
    leads: Arc<dyn LeadWriter>,
    quarantine: Arc<dyn QuarantineStore>,
    tokens: Arc<dyn WebhookTokenVerifier>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for LeadIntake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeadIntake").finish_non_exhaustive()
    }
}

impl LeadIntake {
    pub fn new(
        leads: Arc<dyn LeadWriter>,
        quarantine: Arc<dyn QuarantineStore>,
        tokens: Arc<dyn WebhookTokenVerifier>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        LeadIntake {
            leads,
            quarantine,
            tokens,
            clock,
        }
    }

    /// Checks the `token` header. `Unauthorized` when it is missing or not valid now.
    pub async fn authenticate(
        &self,
        token: Option<&SecretString>,
    ) -> Result<AuthenticatedDelivery, IntakeError> {
        let received_at = self.clock.now();
        let token = token.ok_or(IntakeError::Unauthorized)?;
        if self.tokens.verify(token).await? {
            Ok(AuthenticatedDelivery { received_at })
        } else {
            Err(IntakeError::Unauthorized)
        }
    }

    /// Parses and stores an authenticated delivery.
    ///
    /// `Ok` only once the lead is durably stored, now (`Created`) or by an earlier
    /// delivery (`Duplicate`). A body that cannot be a lead, or is too large, is
    /// quarantined and answered with its reason; if even the quarantine cannot keep
    /// it, the answer is a storage error, so that CasaYes sends it again.
    pub async fn receive(
        &self,
        delivery: AuthenticatedDelivery,
        body: DeliveryBody,
    ) -> Result<Received, IntakeError> {
        let received_at = delivery.received_at;
        let bytes = match body {
            DeliveryBody::Complete(bytes) => bytes,
            DeliveryBody::TooLarge { prefix, limit } => {
                let rejection = Rejection::new(
                    RejectionKind::PayloadTooLarge,
                    format!(
                        "the body is larger than {limit} bytes; its first {} bytes are kept",
                        prefix.len()
                    ),
                );
                self.quarantine(rejection, prefix, received_at).await?;
                return Err(IntakeError::PayloadTooLarge { limit });
            }
        };
        let details = match parse_payload(&bytes) {
            Ok(details) => details,
            Err(rejection) => {
                self.quarantine(rejection.clone(), bytes, received_at)
                    .await?;
                return Err(IntakeError::Rejected(rejection));
            }
        };
        let reference = details.reference.clone();
        let lead = NewLead {
            details,
            raw: RawPayload::new(bytes),
            received_at,
        };
        let outcome = self.store_one(lead).await?;
        Ok(Received { reference, outcome })
    }

    /// Parses a quarantined payload again (after an upgrade, say). When it is now a
    /// lead, the lead is stored, with the payload's original arrival time, and the entry
    /// leaves the quarantine. `Ok(None)` when there is no such entry.
    pub async fn replay(&self, id: QuarantineId) -> Result<Option<Replay>, StorageError> {
        let Some(entry) = self.quarantine.get(id).await? else {
            return Ok(None);
        };
        if entry.rejection.kind == RejectionKind::PayloadTooLarge {
            return Ok(Some(Replay::StillRefused(Rejection::new(
                RejectionKind::PayloadTooLarge,
                "only the first bytes of an oversized body were kept; it cannot become a lead",
            ))));
        }
        let details = match parse_payload(entry.raw.as_bytes()) {
            Ok(details) => details,
            Err(rejection) => return Ok(Some(Replay::StillRefused(rejection))),
        };
        let reference = details.reference.clone();
        let lead = NewLead {
            details,
            raw: entry.raw,
            received_at: entry.received_at,
        };
        let outcome = self.store_one(lead).await?;
        // Stored first, removed second: a crash in between leaves the entry, and its
        // next replay is a duplicate that removes it.
        self.quarantine.delete(id).await?;
        Ok(Some(Replay::Stored(Received { reference, outcome })))
    }

    /// Replays every quarantined payload, oldest first (see [`LeadIntake::replay`]).
    /// `progress` is told how many there are, then the tally after each one.
    pub async fn replay_all(
        &self,
        progress: impl FnMut(u64, &ReplayTally),
    ) -> Result<ReplayTally, ReplayStopped> {
        let stopped = |error| ReplayStopped {
            so_far: ReplayTally::default(),
            error,
        };
        let mut ids = Vec::new();
        let mut after = None;
        loop {
            let page = PageRequest::new(Some(MAX_PAGE_SIZE), after)
                .unwrap_or_else(|_| unreachable!("the largest page size is valid"));
            let page = self.quarantine.list(page).await.map_err(stopped)?;
            ids.extend(page.items.iter().map(|entry| entry.id));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        // Pages come newest first.
        ids.reverse();
        self.replay_each(&ids, progress).await
    }

    /// Replays the quarantined payloads `ids`, in that order (see
    /// [`LeadIntake::replay`]). `progress` is told how many there are, then the tally
    /// after each one. A storage failure stops it: the entries replayed before stay
    /// replayed, and running it again finishes the rest.
    pub async fn replay_each(
        &self,
        ids: &[QuarantineId],
        mut progress: impl FnMut(u64, &ReplayTally),
    ) -> Result<ReplayTally, ReplayStopped> {
        let total = ids.len() as u64;
        let mut tally = ReplayTally::default();
        progress(total, &tally);
        for id in ids {
            match self.replay(*id).await {
                Ok(Some(Replay::Stored(_))) => tally.stored += 1,
                Ok(Some(Replay::StillRefused(_))) => tally.still_refused += 1,
                Ok(None) => tally.missing += 1,
                Err(error) => {
                    return Err(ReplayStopped {
                        so_far: tally,
                        error,
                    });
                }
            }
            progress(total, &tally);
        }
        Ok(tally)
    }

    /// Removes a quarantined payload; `false` when there was none.
    pub async fn discard(&self, id: QuarantineId) -> Result<bool, StorageError> {
        self.quarantine.delete(id).await
    }

    async fn store_one(&self, lead: NewLead) -> Result<InsertOutcome, StorageError> {
        match self.leads.insert_batch(vec![lead]).await?.as_slice() {
            [outcome] => Ok(*outcome),
            other => Err(StorageError::unexpected(format!(
                "the repository answered {} outcomes for one lead",
                other.len()
            ))),
        }
    }

    async fn quarantine(
        &self,
        rejection: Rejection,
        bytes: Vec<u8>,
        received_at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.quarantine
            .store(NewQuarantined {
                rejection,
                raw: RawPayload::new(bytes),
                received_at,
            })
            .await
            .map(|_| ())
    }
}
