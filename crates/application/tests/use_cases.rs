//! The use cases the command line runs (replaying the quarantine, issuing credentials),
//! against the in-memory adapters.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use lead_inbox_application::{
    Clock, CredentialKind, CredentialManagement, CredentialStore, ExposeSecret, LeadIntake,
    LeadReader, Page, PageRequest, QuarantineStore, ReplayTally, Scope, SecretHash, SecretString,
    StorageError, WebhookTokenVerifier,
};
use lead_inbox_domain::{
    LeadReference, NewQuarantined, QuarantineId, Quarantined, RawPayload, Rejection, RejectionKind,
};
use lead_inbox_storage_memory::{
    InMemoryCredentialStore, InMemoryLeadRepository, InMemoryQuarantineStore,
};

struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("valid")
}

/// Replaying checks no token: a verifier that must not be asked.
struct NoTokens;

#[async_trait]
impl WebhookTokenVerifier for NoTokens {
    async fn verify(&self, _: &SecretString) -> Result<bool, StorageError> {
        panic!("a replay checks no token")
    }
}

/// The in-memory quarantine, whose `get` fails once `failing` is set.
struct Flaky {
    inner: InMemoryQuarantineStore,
    failing: AtomicBool,
}

#[async_trait]
impl QuarantineStore for Flaky {
    async fn store(&self, entry: NewQuarantined) -> Result<QuarantineId, StorageError> {
        self.inner.store(entry).await
    }

    async fn get(&self, id: QuarantineId) -> Result<Option<Quarantined>, StorageError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StorageError::unexpected("the database went away"));
        }
        self.inner.get(id).await
    }

    async fn list(
        &self,
        page: PageRequest<QuarantineId>,
    ) -> Result<Page<Quarantined, QuarantineId>, StorageError> {
        self.inner.list(page).await
    }

    async fn delete(&self, id: QuarantineId) -> Result<bool, StorageError> {
        self.inner.delete(id).await
    }

    async fn purge_received_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StorageError> {
        self.inner.purge_received_before(cutoff, limit).await
    }
}

fn lead_payload(reference: &str) -> Vec<u8> {
    format!(r#"{{"LeadReference": "{reference}", "EntityType": "Listing"}}"#).into_bytes()
}

async fn quarantine(store: &dyn QuarantineStore, raw: Vec<u8>, kind: RejectionKind, seconds: i64) {
    store
        .store(NewQuarantined {
            rejection: Rejection::new(kind, "kept for the test"),
            raw: RawPayload::new(raw),
            received_at: at(seconds),
        })
        .await
        .expect("quarantined");
}

#[tokio::test]
async fn replaying_the_whole_quarantine_stores_what_reads_now_oldest_first() {
    let leads = Arc::new(InMemoryLeadRepository::new());
    let store = Arc::new(Flaky {
        inner: InMemoryQuarantineStore::new(),
        failing: AtomicBool::new(false),
    });
    // Kept by an older version that read less; two read as leads now.
    quarantine(&*store, lead_payload("replay-1"), RejectionKind::NotJson, 1).await;
    quarantine(
        &*store,
        b"still not JSON".to_vec(),
        RejectionKind::NotJson,
        2,
    )
    .await;
    quarantine(
        &*store,
        lead_payload("replay-2"),
        RejectionKind::NotAnObject,
        3,
    )
    .await;
    quarantine(
        &*store,
        lead_payload("cut"),
        RejectionKind::PayloadTooLarge,
        4,
    )
    .await;
    let intake = LeadIntake::new(
        leads.clone(),
        store.clone(),
        Arc::new(NoTokens),
        Arc::new(FixedClock(at(100))),
    );

    let mut seen = Vec::new();
    let tally = intake
        .replay_all(|total, tally| seen.push((total, *tally)))
        .await
        .expect("replayed");
    assert_eq!(
        tally,
        ReplayTally {
            stored: 2,
            still_refused: 2,
            missing: 0
        }
    );
    assert_eq!(seen.len(), 5, "the total first, then once a payload");
    assert!(seen.iter().all(|(total, _)| *total == 4));
    assert_eq!(seen[1].1.stored, 1, "the oldest first: replay-1 is a lead");
    assert_eq!(seen[2].1.still_refused, 1);

    let first = leads
        .get(&LeadReference::parse("replay-1").expect("a reference"))
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(first.received_at, at(1), "its original arrival time");
    let left = store
        .list(PageRequest::new(Some(10), None).expect("a page"))
        .await
        .expect("listed");
    let kinds: Vec<RejectionKind> = left.items.iter().map(|e| e.rejection.kind).collect();
    assert_eq!(
        kinds,
        [RejectionKind::PayloadTooLarge, RejectionKind::NotJson],
        "the refused stay, the stored left"
    );

    // Again: nothing new becomes a lead, the refused are counted again.
    let again = intake.replay_all(|_, _| {}).await.expect("replayed");
    assert_eq!((again.stored, again.still_refused), (0, 2));
}

#[tokio::test]
async fn a_replay_that_fails_midway_says_what_it_did_before() {
    let store = Arc::new(Flaky {
        inner: InMemoryQuarantineStore::new(),
        failing: AtomicBool::new(false),
    });
    quarantine(&*store, lead_payload("before"), RejectionKind::NotJson, 1).await;
    quarantine(&*store, lead_payload("after"), RejectionKind::NotJson, 2).await;
    let intake = LeadIntake::new(
        Arc::new(InMemoryLeadRepository::new()),
        store.clone(),
        Arc::new(NoTokens),
        Arc::new(FixedClock(at(100))),
    );
    let ids = [QuarantineId(1), QuarantineId(2), QuarantineId(99)];
    let stopped = intake
        .replay_each(&ids, |_, tally| {
            if tally.done() == 1 {
                store.failing.store(true, Ordering::SeqCst);
            }
        })
        .await
        .expect_err("the store fails at the second");
    assert_eq!(
        stopped.so_far,
        ReplayTally {
            stored: 1,
            still_refused: 0,
            missing: 0
        }
    );
    assert_eq!(stopped.to_string(), "the replay stopped after 1 payloads");

    store.failing.store(false, Ordering::SeqCst);
    let rest = intake.replay_each(&ids, |_, _| {}).await.expect("finished");
    assert_eq!(
        rest,
        ReplayTally {
            stored: 1,
            still_refused: 0,
            missing: 2
        },
        "the first left already; 99 never was"
    );
}

#[tokio::test]
async fn issuing_a_credential_shows_its_secret_once_and_keeps_its_hash() {
    let store = Arc::new(InMemoryCredentialStore::new());
    let credentials = CredentialManagement::new(store.clone(), Arc::new(FixedClock(at(0))));

    let key = credentials
        .issue(
            CredentialKind::ApiKey,
            "crm-sync".into(),
            vec![Scope::Read, Scope::Write],
            Some(at(3600)),
        )
        .await
        .expect("issued");
    let secret = key.secret.expose_secret();
    assert!(secret.starts_with("lik_"), "prefixed by kind");
    assert_eq!(secret.len(), 4 + 64);
    assert!(!format!("{key:?}").contains(secret), "Debug hides it");
    assert_eq!(key.record.name, "crm-sync");
    assert_eq!(key.record.scopes, [Scope::Read, Scope::Write]);
    assert_eq!(key.record.created_at, at(0));
    assert_eq!(key.record.expires_at, Some(at(3600)));
    let found = store
        .find_valid(CredentialKind::ApiKey, &SecretHash::of(&key.secret), at(1))
        .await
        .expect("looked up");
    assert_eq!(
        found.map(|record| record.id),
        Some(key.record.id),
        "stored by its hash"
    );

    let token = credentials
        .issue(
            CredentialKind::WebhookToken,
            "casayes".into(),
            vec![Scope::Admin],
            None,
        )
        .await
        .expect("issued");
    assert!(token.secret.expose_secret().starts_with("liwt_"));
    assert!(
        token.record.scopes.is_empty(),
        "a webhook token has no scopes"
    );
    assert_ne!(token.secret.expose_secret(), secret, "random");

    let revoked = credentials
        .revoke(CredentialKind::ApiKey, key.record.id)
        .await
        .expect("revoked")
        .expect("it exists");
    assert_eq!(revoked.revoked_at, Some(at(0)));
    assert!(
        credentials
            .revoke(CredentialKind::WebhookToken, key.record.id + 100)
            .await
            .expect("asked")
            .is_none()
    );
    let listed = credentials
        .list(CredentialKind::ApiKey)
        .await
        .expect("listed");
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].is_valid_at(at(0) + Duration::seconds(1)));
}
