//! Group commit: a [`LeadWriter`] in front of another that gathers concurrent
//! deliveries into one `insert_batch` (one transaction, one disk flush) per batch.
//! It is a writer only: reads, work and erasure go to the store itself.
//!
//! Durability costs one flush per commit; one commit per request caps the service far
//! below what its HTTP layer can do when a portal sends leads in bursts. Here each
//! caller's leads join a bounded queue; writers take what is queued (up to
//! `max_batch` leads, waiting at most `max_wait` for more after the first), commit it
//! as one batch, and answer each caller with its own outcomes. A caller is answered
//! only after its batch committed; a failed batch fails every caller in it (none of
//! its leads is acknowledged). When the queue is full, a caller gets
//! [`StorageError::Unavailable`] at once (the webhook answers `503` with
//! `Retry-After`) instead of memory growing without bound.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use lead_inbox_application::{InsertOutcome, LeadWriter, StorageError};
use lead_inbox_domain::NewLead;
use tokio::sync::{Mutex, mpsc, oneshot};

/// How batches are formed.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommitOptions {
    /// Most leads in one batch (one transaction).
    pub max_batch: usize,
    /// How long a writer waits for more after the first request of a batch.
    pub max_wait: Duration,
    /// Most requests waiting for a writer; past it, callers are refused at once.
    pub queue_capacity: usize,
    /// Writers committing in parallel: 1 for SQLite (one writer anyway), more for
    /// database servers, where a batch can be collected while another commits.
    pub writers: usize,
}

impl Default for GroupCommitOptions {
    fn default() -> Self {
        GroupCommitOptions {
            max_batch: 64,
            max_wait: Duration::ZERO,
            queue_capacity: 4096,
            writers: 1,
        }
    }
}

/// One committed (or failed) batch, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchReport {
    /// Leads in the batch.
    pub leads: usize,
    /// How long the inner `insert_batch` (the transaction and its flush) took.
    pub commit: Duration,
    /// Whether it committed.
    pub committed: bool,
}

/// Told about every batch, after it committed or failed.
pub type BatchObserver = Arc<dyn Fn(BatchReport) + Send + Sync>;

type Reply = oneshot::Sender<Result<Vec<InsertOutcome>, StorageError>>;

struct Job {
    leads: Vec<NewLead>,
    reply: Reply,
}

/// The decorator: the queue in front of the writers.
pub struct GroupCommitLeadWriter {
    queue: mpsc::Sender<Job>,
}

impl fmt::Debug for GroupCommitLeadWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommitLeadWriter")
            .finish_non_exhaustive()
    }
}

impl GroupCommitLeadWriter {
    /// Starts the writers on the current tokio runtime. They stop when this value (and
    /// every clone of its queue) is dropped, after answering what was queued.
    pub fn new(inner: Arc<dyn LeadWriter>, options: GroupCommitOptions) -> Self {
        Self::observed(inner, options, None)
    }

    /// As [`Self::new`], telling `observer` about every batch.
    pub fn observed(
        inner: Arc<dyn LeadWriter>,
        options: GroupCommitOptions,
        observer: Option<BatchObserver>,
    ) -> Self {
        let (queue, receiver) = mpsc::channel(options.queue_capacity.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..options.writers.max(1) {
            tokio::spawn(write_batches(
                inner.clone(),
                receiver.clone(),
                options,
                observer.clone(),
            ));
        }
        GroupCommitLeadWriter { queue }
    }
}

/// Takes the next batch: the first job, then whatever arrives within `max_wait`, up to
/// `max_batch` leads. `None` when the queue is closed and empty.
async fn next_batch(
    receiver: &Mutex<mpsc::Receiver<Job>>,
    options: GroupCommitOptions,
) -> Option<Vec<Job>> {
    let mut receiver = receiver.lock().await;
    let first = receiver.recv().await?;
    let mut count = first.leads.len();
    let mut jobs = vec![first];
    let deadline = tokio::time::Instant::now() + options.max_wait;
    while count < options.max_batch {
        let job = match receiver.try_recv() {
            Ok(job) => job,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                match tokio::time::timeout_at(deadline, receiver.recv()).await {
                    Ok(Some(job)) => job,
                    Ok(None) | Err(_) => break,
                }
            }
        };
        count += job.leads.len();
        jobs.push(job);
    }
    Some(jobs)
}

/// The same failure for each caller of a failed batch (the error itself is not `Clone`).
fn failure(error: &StorageError) -> StorageError {
    let message = format!("the batch this lead was in failed: {error}");
    match error {
        StorageError::Unavailable(_) => StorageError::unavailable(message),
        StorageError::Unexpected(_) => StorageError::unexpected(message),
    }
}

async fn write_batches(
    inner: Arc<dyn LeadWriter>,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    options: GroupCommitOptions,
    observer: Option<BatchObserver>,
) {
    while let Some(jobs) = next_batch(&receiver, options).await {
        let sizes: Vec<usize> = jobs.iter().map(|job| job.leads.len()).collect();
        let mut replies = Vec::with_capacity(jobs.len());
        let mut leads = Vec::with_capacity(sizes.iter().sum());
        for job in jobs {
            leads.extend(job.leads);
            replies.push(job.reply);
        }
        let total = leads.len();
        let started = Instant::now();
        let result = inner.insert_batch(leads).await;
        tracing::debug!(
            leads = total,
            commit_us = started.elapsed().as_micros() as u64,
            committed = result.is_ok(),
            "batch"
        );
        if let Some(observer) = &observer {
            observer(BatchReport {
                leads: total,
                commit: started.elapsed(),
                committed: result.is_ok(),
            });
        }
        match result {
            Ok(outcomes) if outcomes.len() == total => {
                let mut outcomes = outcomes.into_iter();
                for (reply, size) in replies.into_iter().zip(sizes) {
                    let _ = reply.send(Ok(outcomes.by_ref().take(size).collect()));
                }
            }
            Ok(outcomes) => {
                let error = StorageError::unexpected(format!(
                    "{} outcomes for a batch of {total}",
                    outcomes.len()
                ));
                for reply in replies {
                    let _ = reply.send(Err(failure(&error)));
                }
            }
            Err(error) => {
                tracing::warn!(leads = total, error = %error, "a batch failed; none of its leads is acknowledged");
                for reply in replies {
                    let _ = reply.send(Err(failure(&error)));
                }
            }
        }
    }
}

#[async_trait]
impl LeadWriter for GroupCommitLeadWriter {
    async fn insert_batch(&self, leads: Vec<NewLead>) -> Result<Vec<InsertOutcome>, StorageError> {
        if leads.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Job { leads, reply })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => {
                    StorageError::unavailable("the write queue is full")
                }
                mpsc::error::TrySendError::Closed(_) => {
                    StorageError::unavailable("the writers have stopped")
                }
            })?;
        answer
            .await
            .map_err(|_| StorageError::unexpected("a writer stopped before answering"))?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use lead_inbox_application::LeadReader;
    use lead_inbox_domain::{RawPayload, casayes::parse_payload};
    use lead_inbox_storage_memory::InMemoryLeadRepository;

    use super::*;

    /// Counts the batches the inner repository sees; can be told to fail or stall.
    #[derive(Default)]
    struct Counting {
        inner: InMemoryLeadRepository,
        batches: AtomicUsize,
        largest: AtomicUsize,
        fail: AtomicBool,
        stall: AtomicBool,
    }

    #[async_trait]
    impl LeadWriter for Counting {
        async fn insert_batch(
            &self,
            leads: Vec<NewLead>,
        ) -> Result<Vec<InsertOutcome>, StorageError> {
            self.batches.fetch_add(1, Ordering::SeqCst);
            self.largest.fetch_max(leads.len(), Ordering::SeqCst);
            while self.stall.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // A commit takes time: that is when the next batch gathers.
            tokio::time::sleep(Duration::from_millis(5)).await;
            if self.fail.load(Ordering::SeqCst) {
                return Err(StorageError::unavailable("disk gone"));
            }
            self.inner.insert_batch(leads).await
        }
    }

    fn lead(reference: &str) -> NewLead {
        let raw = format!(r#"{{"LeadReference":"{reference}"}}"#).into_bytes();
        NewLead {
            details: parse_payload(&raw).expect("a lead"),
            raw: RawPayload::new(raw),
            received_at: chrono::Utc::now(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_deliveries_share_commits_and_keep_their_own_outcomes() {
        let counting = Arc::new(Counting::default());
        let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = reports.clone();
        let repository = Arc::new(GroupCommitLeadWriter::observed(
            counting.clone(),
            GroupCommitOptions::default(),
            Some(Arc::new(move |report: BatchReport| {
                seen.lock().expect("reports").push(report)
            })),
        ));
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let repository = repository.clone();
                // Every fourth delivery repeats an earlier reference.
                let reference = if n % 4 == 3 {
                    format!("ref-{}", n - 1)
                } else {
                    format!("ref-{n}")
                };
                tokio::spawn(async move {
                    (
                        reference.clone(),
                        repository.insert_batch(vec![lead(&reference)]).await,
                    )
                })
            })
            .collect();
        let mut created = std::collections::HashSet::new();
        let mut duplicates = 0;
        for task in tasks {
            let (reference, outcome) = task.await.expect("task");
            match outcome.expect("stored").as_slice() {
                [InsertOutcome::Created] => assert!(created.insert(reference), "created twice"),
                [InsertOutcome::Duplicate] => duplicates += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((created.len(), duplicates), (150, 50));
        assert_eq!(counting.inner.count().await.expect("count"), 150);
        let batches = counting.batches.load(Ordering::SeqCst);
        assert!(batches < 200, "{batches} commits for 200 deliveries");
        assert!(
            counting.largest.load(Ordering::SeqCst) <= 64,
            "batches are bounded"
        );
        let reports = reports.lock().expect("reports");
        assert_eq!(reports.len(), batches, "one report per batch");
        assert_eq!(reports.iter().map(|r| r.leads).sum::<usize>(), 200);
        assert!(
            reports
                .iter()
                .all(|r| r.committed && r.commit >= Duration::from_millis(5))
        );
    }

    #[tokio::test]
    async fn a_failed_batch_acknowledges_none_of_its_leads() {
        let counting = Arc::new(Counting::default());
        counting.fail.store(true, Ordering::SeqCst);
        let repository =
            GroupCommitLeadWriter::new(counting.clone(), GroupCommitOptions::default());
        let (a, b) = tokio::join!(
            repository.insert_batch(vec![lead("a")]),
            repository.insert_batch(vec![lead("b")])
        );
        assert!(matches!(a, Err(StorageError::Unavailable(_))));
        assert!(matches!(b, Err(StorageError::Unavailable(_))));
        assert_eq!(counting.inner.count().await.expect("count"), 0);
    }

    /// Waits (polling, 10 s at most) until `done`: for an event, not a guess of its time.
    async fn until(what: &str, done: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "{what} within 10 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once() {
        let counting = Arc::new(Counting::default());
        counting.stall.store(true, Ordering::SeqCst);
        let options = GroupCommitOptions {
            queue_capacity: 2,
            max_batch: 1,
            ..GroupCommitOptions::default()
        };
        let repository = Arc::new(GroupCommitLeadWriter::new(counting.clone(), options));
        let mut waiting = Vec::new();
        for n in 0..3 {
            let repository = repository.clone();
            waiting.push(tokio::spawn(async move {
                repository.insert_batch(vec![lead(&format!("q-{n}"))]).await
            }));
            if n == 0 {
                until("the writer took the first", || {
                    counting.batches.load(Ordering::SeqCst) == 1
                })
                .await;
            }
        }
        until("two wait in the queue", || repository.queue.capacity() == 0).await;
        // One batch is stalled in the writer, two wait in the queue: the next is refused,
        // at once.
        let refused = tokio::time::timeout(
            Duration::from_secs(10),
            repository.insert_batch(vec![lead("q-refused")]),
        )
        .await
        .expect("refused at once, not queued");
        assert!(
            matches!(refused, Err(StorageError::Unavailable(_))),
            "{refused:?}"
        );
        counting.stall.store(false, Ordering::SeqCst);
        for task in waiting {
            assert_eq!(
                task.await.expect("task").expect("stored"),
                [InsertOutcome::Created]
            );
        }
        assert!(
            counting
                .inner
                .get(&lead("q-refused").details.reference)
                .await
                .expect("get")
                .is_none()
        );
    }
}
