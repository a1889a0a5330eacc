//! The storage contract suite: written once, run on every adapter (in memory, SQLite,
//! and PostgreSQL and MySQL/MariaDB when their `LEAD_INBOX_TEST_*_URL` is set), with
//! leads written straight to the store and through group commit. Forwarding's cases
//! (destinations and deliveries) are in `storage_contract/forwarding.rs`.

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, Duration, FixedOffset, Utc};
use lead_inbox_application::{
    CredentialKind, ErasureRecord, InsertOutcome, LeadCursor, LeadFilter, LeadSort, NewCredential,
    PageRequest, Scope, SecretHash,
};
use lead_inbox_domain::{
    LeadEventKind, LeadReference, LeadStatus, LeadWork, NewLead, NewQuarantined, QuarantineId,
    RawPayload, Rejection, RejectionKind, Subject, WorkChange, search::fold,
};
use lead_inbox_tests::{
    Backend, TestStorage, Writes, clean_example, example_with, new_lead, references_listed,
    test_storage,
};
use serde_json::{Value, json};

#[path = "storage_contract/forwarding.rs"]
mod forwarding;

use forwarding::{
    a_lease_expires_and_only_its_holder_finishes, concurrent_claims_never_lease_a_delivery_twice,
    concurrent_enqueues_create_each_delivery_once, deleting_a_destination_deletes_its_deliveries,
    deliveries_list_by_filter_newest_first_in_pages, destinations_are_created_changed_and_deleted,
    enqueue_creates_each_delivery_once_and_moves_the_position_forward,
    erasure_and_retention_delete_a_leads_deliveries, retry_fail_pending_and_backlog,
};

fn at(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_732_000_000_000_000 + micros).expect("in range")
}

/// The spec example with another reference and `changes` applied.
fn payload(reference: &str, changes: Value) -> Vec<u8> {
    serde_json::to_vec(&example_with(reference, changes)).expect("serialisable")
}

fn lead(reference: &str, received_at: DateTime<Utc>) -> NewLead {
    new_lead(payload(reference, json!({})), received_at)
}

async fn all_references(storage: &TestStorage) -> Vec<String> {
    references_listed(storage.reader.as_ref(), &LeadFilter::default(), 500).await
}

async fn insert_reports_created_then_duplicate(storage: TestStorage) {
    let original = lead("CY-Listing-A-00000000-0000-4000-8000-000000000001", at(1));
    let outcomes = storage
        .writer
        .insert_batch(vec![original.clone()])
        .await
        .expect("insert");
    assert_eq!(outcomes, [InsertOutcome::Created]);

    let mut redelivery = lead("CY-Listing-A-00000000-0000-4000-8000-000000000001", at(99));
    redelivery.raw = RawPayload::new(
        b"{\"LeadReference\":\"CY-Listing-A-00000000-0000-4000-8000-000000000001\"}".to_vec(),
    );
    let outcomes = storage
        .writer
        .insert_batch(vec![redelivery])
        .await
        .expect("insert");
    assert_eq!(outcomes, [InsertOutcome::Duplicate]);

    let stored = storage
        .reader
        .get(&original.details.reference)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        stored.details, original.details,
        "a duplicate changes nothing"
    );
    assert_eq!(stored.raw, original.raw);
    assert_eq!(stored.received_at, original.received_at);
    assert_eq!(all_references(&storage).await.len(), 1);
    assert_eq!(storage.reader.count().await.expect("count"), 1);
}

async fn batch_reports_one_outcome_per_lead(storage: TestStorage) {
    let existing = lead("ref-existing", at(1));
    storage
        .writer
        .insert_batch(vec![existing.clone()])
        .await
        .expect("insert");
    let outcomes = storage
        .writer
        .insert_batch(vec![
            lead("ref-a", at(2)),
            lead("ref-b", at(3)),
            lead("ref-a", at(4)),
            existing,
            lead("ref-c", at(5)),
        ])
        .await
        .expect("insert");
    use InsertOutcome::{Created, Duplicate};
    assert_eq!(outcomes, [Created, Created, Duplicate, Duplicate, Created]);
    assert_eq!(
        all_references(&storage).await,
        ["ref-c", "ref-b", "ref-a", "ref-existing"]
    );
    let first_a = storage
        .reader
        .get(&lead("ref-a", at(0)).details.reference)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        first_a.received_at,
        at(2),
        "the first occurrence in a batch wins"
    );
    assert!(
        storage
            .writer
            .insert_batch(Vec::new())
            .await
            .expect("empty batch")
            .is_empty()
    );
}

async fn concurrent_deliveries_store_one_lead(storage: TestStorage) {
    let writer = storage.writer.clone();
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let writer = Arc::clone(&writer);
            tokio::spawn(async move {
                writer
                    .insert_batch(vec![lead(
                        "CY-Listing-Same-00000000-0000-4000-8000-000000000050",
                        at(n),
                    )])
                    .await
            })
        })
        .collect();
    let mut created = 0;
    let mut duplicate = 0;
    for task in tasks {
        match task
            .await
            .expect("task")
            .expect("no storage error")
            .as_slice()
        {
            [InsertOutcome::Created] => created += 1,
            [InsertOutcome::Duplicate] => duplicate += 1,
            other => panic!("unexpected outcomes {other:?}"),
        }
    }
    assert_eq!((created, duplicate), (1, 49));
    assert_eq!(all_references(&storage).await.len(), 1);
}

/// Batches that overlap (a redelivered backlog arriving on several connections while
/// other writers commit) still create each lead once, with one live-feed event each.
async fn overlapping_concurrent_batches_create_each_lead_once(storage: TestStorage) {
    const DISTINCT: usize = 40;
    let reference = |n: usize| format!("CY-Listing-Overlap-00000000-0000-4000-8000-{n:012}");
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let writer = Arc::clone(&storage.writer);
            let batch: Vec<_> = (0..20)
                .map(|i| lead(&reference((task * 7 + i * 3) % DISTINCT), at(i as i64)))
                .collect();
            tokio::spawn(async move { writer.insert_batch(batch).await })
        })
        .collect();
    let mut created = std::collections::HashMap::<usize, usize>::new();
    for (task, handle) in tasks.into_iter().enumerate() {
        let outcomes = handle.await.expect("task").expect("no storage error");
        assert_eq!(outcomes.len(), 20);
        for (i, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                InsertOutcome::Created => {
                    *created.entry((task * 7 + i * 3) % DISTINCT).or_default() += 1
                }
                InsertOutcome::Duplicate => {}
                other => panic!("unexpected outcome {other:?}"),
            }
        }
    }
    let stored = all_references(&storage).await;
    assert_eq!(stored.len(), DISTINCT, "the batches cover every reference");
    assert_eq!(
        created.len(),
        stored.len(),
        "every stored lead was reported created"
    );
    assert!(
        created.values().all(|&times| times == 1),
        "no lead was created twice: {created:?}"
    );
    let events = storage.events.events_after(0, 1000).await.expect("events");
    assert_eq!(events.len(), stored.len(), "one event per new lead");
    let mut ids: Vec<_> = events.iter().map(|event| event.lead_id.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), stored.len(), "events name distinct leads");
}

async fn get_of_an_unknown_reference_is_none(storage: TestStorage) {
    storage
        .writer
        .insert_batch(vec![lead("known", at(1))])
        .await
        .expect("insert");
    let unknown = lead("Known", at(1)).details.reference;
    assert!(
        storage.reader.get(&unknown).await.expect("get").is_none(),
        "references are case-sensitive"
    );
}

async fn pages_never_skip_or_repeat_while_leads_arrive(storage: TestStorage) {
    // 120 leads; every third shares its received_at with the previous one, so the id
    // decides their order.
    let mut expected = Vec::new();
    for n in 0..120 {
        let reference = format!("page-{n:03}");
        storage
            .writer
            .insert_batch(vec![lead(&reference, at(n - i64::from(n % 3 == 2)))])
            .await
            .expect("insert");
        expected.push(reference);
    }
    expected.reverse();
    let mut seen = Vec::new();
    let mut after: Option<LeadCursor> = None;
    let mut arriving = 0;
    loop {
        let page = storage
            .reader
            .list(
                &LeadFilter::default(),
                PageRequest::new(Some(7), after).expect("valid"),
            )
            .await
            .expect("list");
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|l| l.reference().as_str().to_owned()));
        // New leads arrive between pages.
        storage
            .writer
            .insert_batch(vec![lead(
                &format!("late-{arriving}"),
                at(1_000 + arriving),
            )])
            .await
            .expect("insert");
        arriving += 1;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(
        storage.reader.count().await.expect("count"),
        120 + arriving as u64
    );
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
}

async fn quarantine_round_trips(storage: TestStorage) {
    let mut ids = Vec::new();
    for (n, kind) in [
        RejectionKind::NotJson,
        RejectionKind::NotAnObject,
        RejectionKind::PayloadTooLarge,
    ]
    .into_iter()
    .enumerate()
    {
        let entry = NewQuarantined {
            rejection: Rejection::new(kind, format!("reason {n}")),
            raw: RawPayload::new(vec![0xff, 0x00, b'{', n as u8]),
            received_at: at(n as i64),
        };
        let id = storage
            .quarantine
            .store(entry.clone())
            .await
            .expect("store");
        let stored = storage
            .quarantine
            .get(id)
            .await
            .expect("get")
            .expect("kept");
        assert_eq!(stored.rejection, entry.rejection);
        assert_eq!(stored.raw, entry.raw);
        assert_eq!(stored.received_at, entry.received_at);
        ids.push(id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let first = storage
        .quarantine
        .list(PageRequest::new(Some(2), None).expect("valid"))
        .await
        .expect("list");
    assert_eq!(
        first.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[2], ids[1]]
    );
    let second = storage
        .quarantine
        .list(PageRequest::new(Some(2), first.next).expect("valid"))
        .await
        .expect("list");
    assert_eq!(
        second.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[0]]
    );
    assert_eq!(second.next, None);
    assert!(
        storage
            .quarantine
            .get(QuarantineId(ids[2].0 + 100))
            .await
            .expect("get")
            .is_none()
    );
}

async fn large_payloads_and_unicode_round_trip_byte_for_byte(storage: TestStorage) {
    let text = "Olá! 👋🏽 مرحبا שלום \u{202e}reversed\u{202c} 漢字 \u{1}\u{7}\u{1f}\t\r\n <script>alert('x')</script> \\ \" ";
    let mut message = String::new();
    while message.len() < 250 * 1024 {
        message.push_str(text);
    }
    let raw = payload(
        "unicode-1",
        json!({"Message": message, "SenderName": text, "PresentationLetter": text}),
    );
    assert!(raw.len() > 250 * 1024);
    let original = new_lead(raw.clone(), at(7));
    storage
        .writer
        .insert_batch(vec![original.clone()])
        .await
        .expect("insert");
    let stored = storage
        .reader
        .get(&original.details.reference)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(stored.raw.as_bytes(), raw.as_slice());
    assert_eq!(
        stored.details.message.as_ref().map(|m| m.as_str()),
        Some(message.as_str())
    );
    assert_eq!(stored.details.sender.name.as_deref(), Some(text));
    assert_eq!(stored.details, original.details);
}

async fn timestamps_keep_their_precision_and_offset(storage: TestStorage) {
    let raw = payload(
        "time-1",
        json!({"CreatedDate": "2024-08-09T20:50:44.123456789+05:45", "EstimatedDateToMove": "2025-01-31T08:00:00.6131515-03:30"}),
    );
    let received_at = at(0) + Duration::microseconds(123_457);
    let original = new_lead(raw, received_at);
    storage
        .writer
        .insert_batch(vec![original.clone()])
        .await
        .expect("insert");
    let stored = storage
        .reader
        .get(&original.details.reference)
        .await
        .expect("get")
        .expect("stored");
    let created = stored.details.created_date.expect("a created date");
    assert_eq!(created, original.details.created_date.expect("parsed"));
    assert_eq!(
        created.offset(),
        &FixedOffset::east_opt(5 * 3600 + 45 * 60).expect("offset")
    );
    assert_eq!(created.timestamp_subsec_nanos(), 123_456_789);
    let move_date = stored
        .details
        .profile
        .move_timeline
        .and_then(|t| t.date())
        .expect("a date");
    assert_eq!(
        move_date.offset(),
        &FixedOffset::west_opt(3 * 3600 + 30 * 60).expect("offset")
    );
    assert_eq!(move_date.timestamp_subsec_nanos(), 613_151_500);
    assert_eq!(stored.received_at, received_at);
}

async fn managed_credentials_are_found_only_while_valid(storage: TestStorage) {
    let store = &storage.credentials;
    let hash = |n: u8| SecretHash([n; 32]);
    let now = at(1_000_000);
    let new = |kind, name: &str, n: u8, scopes: Vec<Scope>, expires_at| NewCredential {
        kind,
        name: name.into(),
        hash: hash(n),
        scopes,
        created_at: now,
        expires_at,
    };
    let token = CredentialKind::WebhookToken;
    let key = CredentialKind::ApiKey;
    let forever = store
        .create(new(token, "forever", 1, vec![], None))
        .await
        .expect("create");
    let expiring = store
        .create(new(token, "expiring", 2, vec![], Some(at(2_000_000))))
        .await
        .expect("create");
    let scoped = store
        .create(new(key, "crm", 3, vec![Scope::Read, Scope::Admin], None))
        .await
        .expect("create");
    assert!(expiring.id > forever.id);
    assert_eq!(forever.created_at, now);
    assert_eq!(
        store
            .find_valid(token, &hash(1), now)
            .await
            .expect("find")
            .map(|t| t.id),
        Some(forever.id)
    );
    assert_eq!(
        store
            .find_valid(token, &hash(2), at(1_999_999))
            .await
            .expect("find")
            .map(|t| t.id),
        Some(expiring.id)
    );
    assert_eq!(
        store
            .find_valid(token, &hash(2), at(2_000_000))
            .await
            .expect("find"),
        None,
        "expired"
    );
    assert_eq!(
        store.find_valid(token, &hash(9), now).await.expect("find"),
        None,
        "unknown"
    );
    let found = store
        .find_valid(key, &hash(3), now)
        .await
        .expect("find")
        .expect("valid key");
    assert_eq!(
        (found.id, found.scopes.clone()),
        (scoped.id, vec![Scope::Read, Scope::Admin])
    );
    assert_eq!(
        store.find_valid(token, &hash(3), now).await.expect("find"),
        None,
        "a key is not a token"
    );
    assert_eq!(
        store.find_valid(key, &hash(1), now).await.expect("find"),
        None,
        "a token is not a key"
    );

    let revoked = store
        .revoke(token, forever.id, at(1_500_000))
        .await
        .expect("revoke")
        .expect("known");
    assert_eq!(revoked.revoked_at, Some(at(1_500_000)));
    assert_eq!(
        store.find_valid(token, &hash(1), now).await.expect("find"),
        None,
        "revoked"
    );
    let again = store
        .revoke(token, forever.id, at(1_600_000))
        .await
        .expect("revoke")
        .expect("known");
    assert_eq!(
        again.revoked_at,
        Some(at(1_500_000)),
        "the first revocation is kept"
    );
    assert_eq!(store.revoke(token, 9_999, now).await.expect("revoke"), None);
    assert_eq!(
        store.revoke(key, forever.id, now).await.expect("revoke"),
        None,
        "not a key"
    );

    let tokens = store.list(token).await.expect("list");
    assert_eq!(
        tokens.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["forever", "expiring"]
    );
    assert_eq!(tokens[1].expires_at, Some(at(2_000_000)));
    let keys = store.list(key).await.expect("list");
    assert_eq!(
        keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["crm"]
    );
}

async fn filters_narrow_the_list_and_page_with_it(storage: TestStorage) {
    let created = |day: u32| format!("2024-08-{day:02}T10:00:00Z");
    let leads = [
        (
            "f-1",
            json!({"EntityType": "Listing", "EntityPublicId": "AAA", "CreatedDate": created(1)}),
        ),
        (
            "f-2",
            json!({"EntityType": "Office", "EntityPublicId": "BBB", "CreatedDate": created(2)}),
        ),
        (
            "f-3",
            json!({"EntityType": "Listing", "EntityPublicId": "BBB", "CreatedDate": created(3), "EntityReference": "ref-9"}),
        ),
        (
            "f-4",
            json!({"EntityType": "Development", "EntityPublicId": "AAA", "CreatedDate": created(4)}),
        ),
        (
            "f-5",
            json!({"EntityType": "Listing", "EntityPublicId": "AAA", "CreatedDate": "not a date"}),
        ),
    ];
    for (n, (reference, changes)) in leads.into_iter().enumerate() {
        let lead = new_lead(payload(reference, changes), at(n as i64 * 10));
        storage
            .writer
            .insert_batch(vec![lead])
            .await
            .expect("insert");
    }
    let listed = |filter: LeadFilter| {
        let reader = storage.reader.clone();
        async move { references_listed(reader.as_ref(), &filter, 1).await }
    };
    let time = |day: u32| {
        chrono::DateTime::parse_from_rfc3339(&created(day))
            .expect("valid")
            .with_timezone(&Utc)
    };
    assert_eq!(
        listed(LeadFilter::default()).await,
        ["f-5", "f-4", "f-3", "f-2", "f-1"]
    );
    let listing = LeadFilter {
        entity_type: Some("Listing".into()),
        ..LeadFilter::default()
    };
    assert_eq!(listed(listing).await, ["f-5", "f-3", "f-1"]);
    let new_type = LeadFilter {
        entity_type: Some("Development".into()),
        ..LeadFilter::default()
    };
    assert_eq!(listed(new_type).await, ["f-4"]);
    let entity = LeadFilter {
        entity_public_id: Some("AAA".into()),
        ..LeadFilter::default()
    };
    assert_eq!(listed(entity).await, ["f-5", "f-4", "f-1"]);
    let reference = LeadFilter {
        entity_reference: Some("ref-9".into()),
        ..LeadFilter::default()
    };
    assert_eq!(listed(reference).await, ["f-3"]);
    let received = LeadFilter {
        received_from: Some(at(10)),
        received_to: Some(at(30)),
        ..LeadFilter::default()
    };
    assert_eq!(
        listed(received).await,
        ["f-3", "f-2"],
        "from inclusive, to exclusive"
    );
    let created_range = LeadFilter {
        created_from: Some(time(2)),
        created_to: Some(time(4)),
        ..LeadFilter::default()
    };
    assert_eq!(
        listed(created_range).await,
        ["f-3", "f-2"],
        "a lead without a created date is outside any range"
    );
    let odd = LeadFilter {
        has_anomalies: Some(true),
        ..LeadFilter::default()
    };
    let clean = LeadFilter {
        has_anomalies: Some(false),
        ..LeadFilter::default()
    };
    let (odd, clean) = (listed(odd).await, listed(clean).await);
    assert_eq!(odd.len() + clean.len(), 5);
    assert!(
        odd.contains(&"f-4".to_owned()) && odd.contains(&"f-5".to_owned()),
        "{odd:?}"
    );
    let combined = LeadFilter {
        entity_type: Some("Listing".into()),
        entity_public_id: Some("AAA".into()),
        created_from: Some(time(1)),
        ..LeadFilter::default()
    };
    assert_eq!(listed(combined).await, ["f-1"]);
}

async fn only_leads_without_anomalies_match_has_anomalies_false(storage: TestStorage) {
    let (clean_reference, clean) = clean_example(1);
    let clean = new_lead(serde_json::to_vec(&clean).expect("JSON"), at(0));
    assert!(
        clean.details.anomalies.is_empty(),
        "{:?}",
        clean.details.anomalies
    );
    let odd = lead("odd-1", at(10));
    assert!(!odd.details.anomalies.is_empty());
    assert_eq!(
        storage
            .writer
            .insert_batch(vec![clean, odd])
            .await
            .expect("insert"),
        [InsertOutcome::Created, InsertOutcome::Created]
    );
    let listed = |has_anomalies: bool| {
        let leads = storage.reader.clone();
        async move {
            let filter = LeadFilter {
                has_anomalies: Some(has_anomalies),
                ..LeadFilter::default()
            };
            references_listed(leads.as_ref(), &filter, 1).await
        }
    };
    assert_eq!(listed(false).await, [clean_reference]);
    assert_eq!(listed(true).await, ["odd-1"]);
}

/// A lead of the spec example's shape sent by someone with this email and phone.
fn lead_of(reference: &str, email: &str, phone: &str, received_at: DateTime<Utc>) -> NewLead {
    new_lead(
        payload(
            reference,
            json!({"SenderEmail": email, "SenderPhone": phone}),
        ),
        received_at,
    )
}

async fn erasure_removes_a_subjects_leads_and_keeps_them_out(storage: TestStorage) {
    storage
        .writer
        .insert_batch(vec![
            lead_of("e-joao-1", "joao@example.pt", "919111222", at(1)),
            lead_of("e-joao-2", " JOAO@Example.PT", "+351 966 000 111", at(2)),
            lead_of("e-ana", "ana@example.pt", "00351 919 111 222", at(3)),
            lead_of("e-odd", "Odd@Local", "", at(4)),
            lead_of("e-other", "rui@example.pt", "912000000", at(5)),
        ])
        .await
        .expect("insert");
    let references = |leads: Vec<lead_inbox_domain::Lead>| -> Vec<String> {
        leads
            .iter()
            .map(|l| l.reference().as_str().to_owned())
            .collect()
    };
    let joao = Subject::email("Joao@example.pt").expect("email");
    assert_eq!(
        references(storage.erasure.of_subject(&joao).await.expect("find")),
        ["e-joao-1", "e-joao-2"],
        "any case, oldest first"
    );
    let phone = Subject::phone("919 111 222").expect("phone");
    assert_eq!(
        references(storage.erasure.of_subject(&phone).await.expect("find")),
        ["e-joao-1", "e-ana"],
        "any written form of the number"
    );
    // An email that is not a plausible address is found by its text.
    let odd = Subject::email("odd@local").expect("email");
    assert_eq!(
        references(storage.erasure.of_subject(&odd).await.expect("find")),
        ["e-odd"]
    );

    assert_eq!(
        storage.erasure.erase_subject(&joao).await.expect("erase"),
        2
    );
    assert!(
        storage
            .erasure
            .of_subject(&joao)
            .await
            .expect("find")
            .is_empty()
    );
    assert_eq!(
        all_references(&storage).await,
        ["e-other", "e-odd", "e-ana"],
        "nobody else's leads go"
    );
    // A redelivery of an erased lead stays out; a new lead of someone else goes in.
    let outcomes = storage
        .writer
        .insert_batch(vec![
            lead_of("e-joao-1", "joao@example.pt", "919111222", at(6)),
            lead("e-new", at(7)),
        ])
        .await
        .expect("insert");
    assert_eq!(outcomes, [InsertOutcome::Erased, InsertOutcome::Created]);
    assert!(
        storage
            .reader
            .get(&lead_inbox_domain::LeadReference::parse("e-joao-1").expect("reference"))
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(
        storage.erasure.erase_subject(&joao).await.expect("again"),
        0
    );
    // The tombstones can be read out (for `copy`) and added elsewhere, once each.
    let tombstones = storage
        .erasure
        .tombstones(None, 500)
        .await
        .expect("tombstones");
    let mut expected = vec![
        lead_inbox_domain::LeadReference::parse("e-joao-1")
            .expect("reference")
            .tombstone(),
        lead_inbox_domain::LeadReference::parse("e-joao-2")
            .expect("reference")
            .tombstone(),
    ];
    expected.sort();
    assert_eq!(tombstones, expected);
    assert_eq!(
        storage
            .erasure
            .tombstones(Some(expected[0].clone()), 500)
            .await
            .expect("after"),
        expected[1..]
    );
    assert_eq!(
        storage
            .erasure
            .add_tombstones(expected.clone())
            .await
            .expect("add"),
        0
    );
    let elsewhere = lead_inbox_domain::LeadReference::parse("e-gone").expect("reference");
    assert_eq!(
        storage
            .erasure
            .add_tombstones(vec![elsewhere.tombstone()])
            .await
            .expect("add"),
        1
    );
    assert_eq!(
        storage
            .writer
            .insert_batch(vec![lead("e-gone", at(8))])
            .await
            .expect("insert"),
        [InsertOutcome::Erased]
    );
    assert_eq!(storage.erasure.erase_subject(&odd).await.expect("erase"), 1);
    assert_eq!(storage.reader.count().await.expect("count"), 3);
}

async fn retention_purges_the_oldest_in_batches(storage: TestStorage) {
    let batch: Vec<NewLead> = (1..=5)
        .map(|n| lead(&format!("r-{n}"), at(n * 1_000_000)))
        .collect();
    storage.writer.insert_batch(batch).await.expect("insert");
    let cutoff = at(4_000_000);
    let purge = || storage.erasure.purge_received_before(cutoff, 2);
    assert_eq!(purge().await.expect("purge"), 2);
    assert_eq!(purge().await.expect("purge"), 1);
    assert_eq!(purge().await.expect("purge"), 0);
    assert_eq!(all_references(&storage).await, ["r-5", "r-4"]);

    for n in 1..=3 {
        storage
            .quarantine
            .store(NewQuarantined {
                rejection: Rejection::new(RejectionKind::NotJson, "not JSON"),
                raw: RawPayload::new(format!("junk {n}").into_bytes()),
                received_at: at(n * 1_000_000),
            })
            .await
            .expect("store");
    }
    let quarantine = &storage.quarantine;
    assert_eq!(
        quarantine
            .purge_received_before(at(3_000_000), 10)
            .await
            .expect("purge"),
        2
    );
    let left = quarantine
        .list(PageRequest::new(None, None).expect("page"))
        .await
        .expect("list");
    assert_eq!(
        left.items
            .iter()
            .map(|e| e.raw.as_bytes().to_vec())
            .collect::<Vec<_>>(),
        [b"junk 3".to_vec()]
    );
    // Ids are never reused after a delete.
    let id = quarantine
        .store(NewQuarantined {
            rejection: Rejection::new(RejectionKind::NotJson, "not JSON"),
            raw: RawPayload::new(b"junk 4".to_vec()),
            received_at: at(4_000_000),
        })
        .await
        .expect("store");
    assert!(id > left.items[0].id, "{id:?}");
}

async fn the_erasure_log_keeps_one_key_and_its_entries(storage: TestStorage) {
    let log = &storage.erasures;
    let first = log.audit_key(vec![1; 32]).await.expect("key");
    assert_eq!(first, vec![1; 32]);
    assert_eq!(
        log.audit_key(vec![2; 32]).await.expect("key"),
        first,
        "the key stored first stays"
    );
    let entry = |n: u64| ErasureRecord {
        id: 0,
        erased_at: at(n as i64),
        subject_kind: "email".into(),
        subject_hash: format!("{n:064x}"),
        leads: n,
        quarantined: 1,
        requested_by: "dpo".into(),
    };
    let one = log.record(entry(1)).await.expect("record");
    let two = log.record(entry(2)).await.expect("record");
    assert!(two.id > one.id);
    let page = log
        .list(PageRequest::new(Some(1), None).expect("page"))
        .await
        .expect("list");
    assert_eq!(
        page.items,
        [ErasureRecord {
            id: two.id,
            ..entry(2)
        }]
    );
    let rest = log
        .list(PageRequest::new(Some(1), page.next).expect("page"))
        .await
        .expect("list");
    assert_eq!(
        rest.items,
        [ErasureRecord {
            id: one.id,
            ..entry(1)
        }]
    );
    assert_eq!(rest.next, None);
    log.scrub().await.expect("scrub");
}

async fn work_is_saved_compare_and_swap_with_history_and_notes(storage: TestStorage) {
    storage
        .writer
        .insert_batch(vec![
            lead_of("w-1", "joao@example.pt", "919111222", at(1)),
            lead_of("w-2", "ana@example.pt", "912000000", at(2)),
        ])
        .await
        .expect("insert");
    let reference = LeadReference::parse("w-1").expect("reference");
    let lead = storage
        .reader
        .get(&reference)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(lead.work, LeadWork::received());
    let when = at(10);
    let applied = lead
        .work
        .apply(
            WorkChange {
                status: Some(LeadStatus::Contacted),
                assignee: Some(Some("agent-7".into())),
                tags: Some(vec!["VIP".into(), "lisboa".into()]),
                note: Some("Ligar à tarde".into()),
            },
            when,
        )
        .expect("valid");
    assert!(
        storage
            .work
            .save_work(lead.id, 1, &applied, "crm", "agent-7")
            .await
            .expect("save")
    );
    assert!(
        !storage
            .work
            .save_work(lead.id, 1, &applied, "crm", "agent-7")
            .await
            .expect("save"),
        "a second write from version 1 is stale"
    );
    let stored = storage
        .reader
        .get(&reference)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(stored.work, applied.work);
    assert_eq!(stored.work.version, 2);
    assert_eq!(stored.work.first_response_at, Some(when));

    let history = storage.work.history(lead.id).await.expect("history");
    let summary: Vec<(String, Option<String>, Option<String>, String)> = history
        .iter()
        .map(|e| {
            (
                e.field.clone(),
                e.before.clone(),
                e.after.clone(),
                e.actor.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "status".into(),
                Some("new".into()),
                Some("contacted".into()),
                "crm".into()
            ),
            (
                "assignee".into(),
                None,
                Some("agent-7".into()),
                "crm".into()
            ),
            ("tags".into(), None, Some("lisboa,vip".into()), "crm".into()),
            (
                "note".into(),
                None,
                Some("Ligar à tarde".into()),
                "crm".into()
            ),
        ]
    );
    assert!(history.iter().all(|e| e.at == when && !e.reopened));
    let notes = storage.work.notes(lead.id).await.expect("notes");
    assert_eq!(
        notes
            .iter()
            .map(|n| (n.author.as_str(), n.text.as_str(), n.at))
            .collect::<Vec<_>>(),
        [("agent-7", "Ligar à tarde", when)]
    );

    let listed = |filter: LeadFilter| {
        let reader = storage.reader.clone();
        async move {
            reader
                .list(&filter, PageRequest::new(None, None).expect("page"))
                .await
                .expect("list")
                .items
                .iter()
                .map(|l| l.reference().as_str().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let only = |f: fn(&mut LeadFilter)| {
        let mut filter = LeadFilter::default();
        f(&mut filter);
        filter
    };
    assert_eq!(
        listed(only(|f| f.status = Some(LeadStatus::Contacted))).await,
        ["w-1"]
    );
    assert_eq!(
        listed(only(|f| f.status = Some(LeadStatus::New))).await,
        ["w-2"]
    );
    assert_eq!(
        listed(only(|f| f.assignee = Some("agent-7".into()))).await,
        ["w-1"]
    );
    assert_eq!(listed(only(|f| f.tag = Some("vip".into()))).await, ["w-1"]);
    assert!(
        listed(only(|f| f.tag = Some("porto".into())))
            .await
            .is_empty()
    );
    // Free text: case and accents do not matter, in the name, email, phone or message.
    assert_eq!(
        listed(only(|f| f.search = Some(fold("JOAO@")))).await,
        ["w-1"]
    );
    assert_eq!(
        listed(only(|f| f.search = Some(fold("912000")))).await,
        ["w-2"]
    );
    assert_eq!(
        listed(only(|f| f.search = Some(fold("smith")))).await,
        ["w-2", "w-1"]
    );
    assert!(
        listed(only(|f| f.search = Some(fold("100%_"))))
            .await
            .is_empty()
    );
    let contact = lead.details.contact_id().expect("a contact");
    let by_contact = LeadFilter {
        contact_id: Some(contact),
        ..LeadFilter::default()
    };
    assert_eq!(listed(by_contact).await, ["w-1"]);

    // Erasure takes the notes and history with the lead.
    let subject = Subject::email("joao@example.pt").expect("email");
    assert_eq!(
        storage
            .erasure
            .erase_subject(&subject)
            .await
            .expect("erase"),
        1
    );
    assert!(
        storage
            .work
            .history(lead.id)
            .await
            .expect("history")
            .is_empty()
    );
    assert!(storage.work.notes(lead.id).await.expect("notes").is_empty());
}

async fn leads_sort_by_created_date_and_page_in_that_order(storage: TestStorage) {
    // Received in one order, created in another; one has no CreatedDate.
    let created = |reference: &str, created: &str, received: i64| {
        new_lead(
            payload(reference, json!({"CreatedDate": created})),
            at(received),
        )
    };
    storage
        .writer
        .insert_batch(vec![
            created("s-a", "2024-01-03T00:00:00Z", 1),
            created("s-b", "2024-01-01T00:00:00Z", 2),
            created("s-c", "2024-01-02T00:00:00Z", 3),
            new_lead(payload("s-d", json!({"CreatedDate": null})), at(4)),
        ])
        .await
        .expect("insert");
    let mut order = Vec::new();
    let mut after = None;
    let filter = LeadFilter {
        sort: LeadSort::Created,
        ..LeadFilter::default()
    };
    loop {
        let page = storage
            .reader
            .list(&filter, PageRequest::new(Some(1), after).expect("page"))
            .await
            .expect("list");
        order.extend(page.items.iter().map(|l| l.reference().as_str().to_owned()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    // s-d has no CreatedDate: it sorts by its receipt (2024-11-19), the newest.
    assert_eq!(order, ["s-d", "s-a", "s-c", "s-b"]);
}

async fn new_leads_and_changes_are_logged_as_events_in_order(storage: TestStorage) {
    assert_eq!(storage.events.last_event_id().await.expect("head"), 0);
    let outcomes = storage
        .writer
        .insert_batch(vec![
            lead("ev-1", at(1)),
            lead("ev-2", at(2)),
            lead("ev-1", at(3)),
        ])
        .await
        .expect("insert");
    assert_eq!(
        outcomes,
        [
            InsertOutcome::Created,
            InsertOutcome::Created,
            InsertOutcome::Duplicate
        ]
    );
    let first = storage.events.events_after(0, 100).await.expect("events");
    let get = |reference: &str| {
        let reference = LeadReference::parse(reference).expect("reference");
        let reader = storage.reader.clone();
        async move { reader.get(&reference).await.expect("get").expect("stored") }
    };
    let (one, two) = (get("ev-1").await, get("ev-2").await);
    assert_eq!(
        first
            .iter()
            .map(|e| (e.lead_id, e.kind, e.at))
            .collect::<Vec<_>>(),
        [
            (one.id, LeadEventKind::Created, at(1)),
            (two.id, LeadEventKind::Created, at(2))
        ],
        "one event per new lead, none for the duplicate"
    );
    assert!(first[0].id < first[1].id);
    let applied = two
        .work
        .apply(
            WorkChange {
                status: Some(LeadStatus::Spam),
                ..WorkChange::default()
            },
            at(5),
        )
        .expect("valid");
    assert!(
        storage
            .work
            .save_work(two.id, 1, &applied, "crm", "crm")
            .await
            .expect("save")
    );
    let after = storage
        .events
        .events_after(first[1].id, 100)
        .await
        .expect("events");
    assert_eq!(
        after
            .iter()
            .map(|e| (e.lead_id, e.kind, e.at))
            .collect::<Vec<_>>(),
        [(two.id, LeadEventKind::Updated, at(5))]
    );
    assert_eq!(
        storage.events.last_event_id().await.expect("head"),
        after[0].id
    );
    assert_eq!(
        storage
            .reader
            .get_by_id(two.id)
            .await
            .expect("by id")
            .map(|l| l.work.status),
        Some(LeadStatus::Spam)
    );
    assert_eq!(
        storage
            .events
            .events_after(0, 1)
            .await
            .expect("limited")
            .len(),
        1
    );
    // Old events are pruned; an erased lead's events go with it.
    assert_eq!(
        storage
            .events
            .prune_events_before(at(2), 100)
            .await
            .expect("prune"),
        1
    );
    assert_eq!(
        storage
            .events
            .events_after(0, 100)
            .await
            .expect("events")
            .len(),
        2
    );
    let subject = Subject::phone("919111222").expect("phone");
    assert_eq!(
        storage
            .erasure
            .erase_subject(&subject)
            .await
            .expect("erase"),
        2
    );
    assert!(
        storage
            .events
            .events_after(0, 100)
            .await
            .expect("events")
            .is_empty()
    );
    assert_eq!(storage.reader.get_by_id(two.id).await.expect("by id"), None);
}

async fn leads_group_into_contacts_by_email_else_phone(storage: TestStorage) {
    storage
        .writer
        .insert_batch(vec![
            lead_of("c-1", "Joao@Example.pt", "919111222", at(1)),
            lead_of("c-2", "joao@example.pt ", "966000111", at(5)),
            lead_of("c-3", "", "+351 919 111 222", at(3)),
            lead_of("c-4", "", "00351919111222", at(4)),
            lead_of("c-5", "", "", at(6)),
        ])
        .await
        .expect("insert");
    // Stored later (greater ids), at the same instant as c-2: ties go to the greater id,
    // and a contact with two leads at one instant is still one contact.
    storage
        .writer
        .insert_batch(vec![
            lead_of("c-6", "ana@example.pt", "", at(5)),
            lead_of("c-7", "ANA@example.pt", "", at(5)),
        ])
        .await
        .expect("insert");
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = storage
            .reader
            .contacts(PageRequest::new(Some(1), after).expect("page"))
            .await
            .expect("contacts");
        seen.extend(page.items.iter().map(|c| {
            (
                c.latest.reference().as_str().to_owned(),
                c.leads,
                c.first_received_at,
                c.last_received_at,
            )
        }));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            ("c-7".into(), 2, at(5), at(5)),
            ("c-2".into(), 2, at(1), at(5)),
            ("c-4".into(), 2, at(3), at(4)),
        ],
        "by email (any case) first, else by phone (any form); no contact without either; \
         most recent first, then the latest lead's id"
    );
    let joao = storage
        .reader
        .get(&LeadReference::parse("c-1").expect("reference"))
        .await
        .expect("get")
        .expect("stored")
        .details
        .contact_id()
        .expect("a contact");
    let contact = storage
        .reader
        .contact(&joao)
        .await
        .expect("contact")
        .expect("found");
    assert_eq!(
        (contact.leads, contact.latest.reference().as_str()),
        (2, "c-2")
    );
    assert_eq!(storage.reader.contact("0000").await.expect("contact"), None);
}

async fn stats_count_by_day_type_and_status_with_the_median_speed_to_lead(storage: TestStorage) {
    let day = |d: i64, seconds: i64| {
        DateTime::from_timestamp(
            1_800_000_000 - 1_800_000_000 % 86_400 + d * 86_400 + seconds,
            0,
        )
        .expect("valid")
    };
    let typed = |reference: &str, kind: &str, at: DateTime<Utc>| {
        new_lead(payload(reference, json!({"EntityType": kind})), at)
    };
    storage
        .writer
        .insert_batch(vec![
            typed("st-1", "Listing", day(0, 10)),
            typed("st-2", "Listing", day(0, 20)),
            typed("st-3", "Office", day(1, 30)),
            typed("st-4", "Listing", day(2, 40)),
            typed("st-out", "Listing", day(5, 0)),
        ])
        .await
        .expect("insert");
    // First responses after 60, 120 and 600 seconds: the median is 120.
    for (reference, delay) in [("st-1", 60), ("st-2", 120), ("st-3", 600)] {
        let lead = storage
            .reader
            .get(&LeadReference::parse(reference).expect("reference"))
            .await
            .expect("get")
            .expect("stored");
        let applied = lead
            .work
            .apply(
                WorkChange {
                    status: Some(LeadStatus::Contacted),
                    ..WorkChange::default()
                },
                lead.received_at + Duration::seconds(delay),
            )
            .expect("valid");
        assert!(
            storage
                .work
                .save_work(lead.id, 1, &applied, "crm", "crm")
                .await
                .expect("save")
        );
    }
    let stats = storage
        .reader
        .stats(Some(day(0, 0)), Some(day(3, 0)))
        .await
        .expect("stats");
    assert_eq!(stats.total, 4);
    assert_eq!(
        stats.by_day,
        [(day(0, 0), 2), (day(1, 0), 1), (day(2, 0), 1)]
    );
    assert_eq!(
        stats.by_entity_type,
        [
            (Some("Listing".to_owned()), 3),
            (Some("Office".to_owned()), 1)
        ]
    );
    assert_eq!(
        stats.by_status,
        [(LeadStatus::Contacted, 3), (LeadStatus::New, 1)]
    );
    assert_eq!(stats.responded, 3);
    assert_eq!(stats.median_seconds_to_first_response, Some(120.0));
    let all = storage.reader.stats(None, None).await.expect("stats");
    assert_eq!(all.total, 5);
    let empty = storage
        .reader
        .stats(Some(day(9, 0)), None)
        .await
        .expect("stats");
    assert_eq!(
        (empty.total, empty.median_seconds_to_first_response),
        (0, None)
    );
}

async fn console_users_are_unique_and_can_be_disabled(storage: TestStorage) {
    use lead_inbox_application::{NewUser, PasswordHash, Role, Username};
    let users = &storage.users;
    let name = |n: &str| Username::parse(n).expect("a username");
    let new = |n: &str, role| NewUser {
        username: name(n),
        role,
        password: PasswordHash(format!("$argon2id$hash-of-{n}")),
        created_at: at(5),
    };
    let zoe = users
        .create(new("zoe", Role::Agent))
        .await
        .expect("create")
        .expect("a new name");
    let ana = users
        .create(new("ana", Role::Admin))
        .await
        .expect("create")
        .expect("a new name");
    assert!(ana.id > zoe.id, "ids increase");
    assert_eq!(
        users.create(new("ana", Role::Agent)).await.expect("create"),
        None,
        "a taken name is refused and changes nothing"
    );
    let listed: Vec<(String, Role)> = users
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|u| (u.username.to_string(), u.role))
        .collect();
    assert_eq!(
        listed,
        [
            ("ana".to_owned(), Role::Admin),
            ("zoe".to_owned(), Role::Agent)
        ]
    );
    let (found, hash) = users.find(&name("ana")).await.expect("find").expect("ana");
    assert_eq!(found, ana);
    assert_eq!(found.created_at, at(5));
    assert_eq!(hash.0, "$argon2id$hash-of-ana");
    assert_eq!(users.get(zoe.id).await.expect("get"), Some(zoe.clone()));
    assert_eq!(users.find(&name("nobody")).await.expect("find"), None);

    let disabled = users
        .disable(&name("zoe"), at(9))
        .await
        .expect("disable")
        .expect("zoe");
    assert_eq!(disabled.disabled_at, Some(at(9)));
    let again = users.disable(&name("zoe"), at(20)).await.expect("disable");
    assert_eq!(
        again.and_then(|u| u.disabled_at),
        Some(at(9)),
        "disabling twice keeps the first time"
    );
    assert_eq!(
        users
            .disable(&name("nobody"), at(9))
            .await
            .expect("disable"),
        None
    );

    let changed = users
        .set_password(&name("ana"), PasswordHash("$argon2id$new".into()))
        .await
        .expect("set")
        .expect("ana");
    assert_eq!(changed.id, ana.id);
    let (_, hash) = users.find(&name("ana")).await.expect("find").expect("ana");
    assert_eq!(hash.0, "$argon2id$new");
}

async fn console_sessions_are_found_until_revoked(storage: TestStorage) {
    let sessions = &storage.sessions;
    let hash = |n: u8| SecretHash([n; 32]);
    let first = sessions.create(7, &hash(1), at(10)).await.expect("create");
    let second = sessions.create(7, &hash(2), at(11)).await.expect("create");
    let other = sessions.create(8, &hash(3), at(12)).await.expect("create");
    assert_eq!(first.user_id, 7);
    assert_eq!(first.last_seen_at, at(10));
    assert_eq!(
        sessions.find(&hash(1)).await.expect("find"),
        Some(first.clone())
    );
    assert_eq!(sessions.find(&hash(9)).await.expect("find"), None);

    sessions.touch(first.id, at(50)).await.expect("touch");
    sessions.touch(first.id, at(40)).await.expect("touch");
    let touched = sessions.find(&hash(1)).await.expect("find").expect("open");
    assert_eq!(touched.last_seen_at, at(50), "never earlier than it was");
    assert_eq!(touched.created_at, at(10));

    sessions.revoke(&hash(1), at(60)).await.expect("revoke");
    assert_eq!(sessions.find(&hash(1)).await.expect("find"), None);
    assert_eq!(sessions.find(&hash(2)).await.expect("find"), Some(second));

    assert_eq!(
        sessions.revoke_user(7, at(70)).await.expect("revoke"),
        1,
        "one of user 7's sessions was still open"
    );
    assert_eq!(sessions.find(&hash(2)).await.expect("find"), None);
    assert_eq!(
        sessions.find(&hash(3)).await.expect("find"),
        Some(other),
        "another user's session stays"
    );
}

async fn ping_answers(storage: TestStorage) {
    storage.health.ping().await.expect("the store is ready");
}

/// Every case on every backend, twice: leads written straight to the store
/// (`direct::…`), and through the group-commit writer in front of it, as the server
/// writes them (`group_commit::…`).
macro_rules! contract_suite {
    ($($case:ident),* $(,)?) => {
        contract_suite!(@writes direct, Writes::Direct, $($case),*);
        contract_suite!(@writes group_commit, Writes::GroupCommit, $($case),*);
    };
    (@writes $module:ident, $writes:expr, $($case:ident),*) => {
        mod $module {
            use super::*;
            contract_suite!(@backend memory, Backend::Memory, $writes, $($case),*);
            contract_suite!(@backend sqlite, Backend::Sqlite, $writes, $($case),*);
            contract_suite!(@backend postgres, Backend::Postgres, $writes, $($case),*);
            contract_suite!(@backend mysql, Backend::MySql, $writes, $($case),*);
        }
    };
    (@backend $module:ident, $backend:expr, $writes:expr, $($case:ident),*) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(storage) = test_storage($backend, $writes, stringify!($case)).await
                    else {
                        return;
                    };
                    crate::$case(storage).await;
                }
            )*
        }
    };
}

contract_suite!(
    insert_reports_created_then_duplicate,
    batch_reports_one_outcome_per_lead,
    concurrent_deliveries_store_one_lead,
    overlapping_concurrent_batches_create_each_lead_once,
    get_of_an_unknown_reference_is_none,
    pages_never_skip_or_repeat_while_leads_arrive,
    quarantine_round_trips,
    large_payloads_and_unicode_round_trip_byte_for_byte,
    timestamps_keep_their_precision_and_offset,
    managed_credentials_are_found_only_while_valid,
    filters_narrow_the_list_and_page_with_it,
    only_leads_without_anomalies_match_has_anomalies_false,
    erasure_removes_a_subjects_leads_and_keeps_them_out,
    retention_purges_the_oldest_in_batches,
    the_erasure_log_keeps_one_key_and_its_entries,
    work_is_saved_compare_and_swap_with_history_and_notes,
    leads_sort_by_created_date_and_page_in_that_order,
    new_leads_and_changes_are_logged_as_events_in_order,
    leads_group_into_contacts_by_email_else_phone,
    stats_count_by_day_type_and_status_with_the_median_speed_to_lead,
    ping_answers,
    destinations_are_created_changed_and_deleted,
    enqueue_creates_each_delivery_once_and_moves_the_position_forward,
    concurrent_enqueues_create_each_delivery_once,
    concurrent_claims_never_lease_a_delivery_twice,
    a_lease_expires_and_only_its_holder_finishes,
    deliveries_list_by_filter_newest_first_in_pages,
    retry_fail_pending_and_backlog,
    deleting_a_destination_deletes_its_deliveries,
    erasure_and_retention_delete_a_leads_deliveries,
    console_users_are_unique_and_can_be_disabled,
    console_sessions_are_found_until_revoked,
);
