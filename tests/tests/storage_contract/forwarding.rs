//! The forwarding cases of the contract suite: [`DestinationStore`] and
//! [`DeliveryStore`], every bullet of their contracts, on every backend.

use std::{
    collections::{BTreeSet, HashSet},
    sync::Arc,
    time::Duration as StdDuration,
};

use chrono::Duration;
use lead_inbox_application::{
    PageRequest,
    forwarding::{Backlog, DeliveryFilter, DestinationChange, FinishedAttempt, NewDestination},
};
use lead_inbox_domain::{
    LeadEventKind, LeadId, LeadReference, Subject,
    forwarding::{
        Attempt, AttemptOutcome, Delivery, DeliveryId, DeliveryStatus, DestinationId,
        DestinationKind, DisabledReason, ForwardFormat, NewDelivery, StoredSecret, Verdict,
    },
};
use lead_inbox_tests::TestStorage;

use super::{at, lead, lead_of};

fn new_destination(url: &str) -> NewDestination {
    NewDestination {
        kind: DestinationKind::Webhook,
        url: url.to_owned(),
        subject: None,
        events: BTreeSet::from([LeadEventKind::Created]),
        format: ForwardFormat::Lead,
        entity_types: None,
        description: None,
        max_in_flight: 8,
        secrets: vec![StoredSecret {
            sealed: "sealed:current".into(),
            expires_at: None,
        }],
        casayes_token: None,
        after_event: 0,
        created_at: at(10),
    }
}

async fn destination(storage: &TestStorage, url: &str) -> DestinationId {
    storage
        .destinations
        .create(new_destination(url))
        .await
        .expect("create")
        .id
}

/// Stores leads with these references (received at 1, 2, ... µs), each with the
/// email `<reference>@example.pt`; returns their ids in order.
async fn leads(storage: &TestStorage, references: &[&str]) -> Vec<(LeadId, LeadReference)> {
    let new = references
        .iter()
        .enumerate()
        .map(|(n, reference)| {
            lead_of(
                reference,
                &format!("{reference}@example.pt"),
                "",
                at(n as i64 + 1),
            )
        })
        .collect();
    storage.writer.insert_batch(new).await.expect("insert");
    let mut ids = Vec::new();
    for reference in references {
        let reference = LeadReference::parse(reference).expect("reference");
        let lead = storage
            .reader
            .get(&reference)
            .await
            .expect("get")
            .expect("stored");
        ids.push((lead.id, reference));
    }
    ids
}

fn delivery(
    destination: DestinationId,
    event_id: i64,
    (lead_id, reference): &(LeadId, LeadReference),
) -> NewDelivery {
    NewDelivery {
        destination_id: destination,
        event_id,
        kind: LeadEventKind::Created,
        event_at: at(100 + event_id),
        lead_id: *lead_id,
        lead_reference: reference.clone(),
        replay: 0,
        message_id: format!("msg_{:016x}{event_id:016x}", destination.0),
        created_at: at(1_000),
    }
}

fn attempt(at_micros: i64, status_code: Option<u16>, verdict: Verdict) -> Attempt {
    Attempt {
        at: at(at_micros),
        status_code,
        latency: StdDuration::from_micros(1_234),
        error: status_code
            .is_none()
            .then(|| "connection refused".to_owned()),
        response: status_code.map(|code| format!("answer {code} «ok»")),
        verdict,
    }
}

fn event_ids(deliveries: &[Delivery]) -> Vec<i64> {
    deliveries
        .iter()
        .map(|delivery| delivery.event_id)
        .collect()
}

/// Every delivery with its attempts, newest first (one page: the cases hold fewer).
async fn all_deliveries(storage: &TestStorage) -> Vec<(Delivery, Vec<Attempt>)> {
    let page = storage
        .deliveries
        .list(
            &DeliveryFilter::default(),
            PageRequest::new(Some(100), None).expect("page"),
        )
        .await
        .expect("list");
    assert_eq!(page.next, None, "one page holds them");
    page.items
}

async fn stored(storage: &TestStorage, id: DeliveryId) -> (Delivery, Vec<Attempt>) {
    storage
        .deliveries
        .get(id)
        .await
        .expect("get")
        .expect("stored")
}

pub(crate) async fn destinations_are_created_changed_and_deleted(storage: TestStorage) {
    let store = &storage.destinations;
    let mut new = new_destination("https://crm.example/hook");
    new.kind = DestinationKind::Nats;
    new.subject = Some("leads.created".into());
    new.events = BTreeSet::from([LeadEventKind::Created, LeadEventKind::Updated]);
    new.entity_types = Some(BTreeSet::from(["Listing".into(), "Odd, \"type\"".into()]));
    new.description = Some("the CRM «prod»".into());
    new.max_in_flight = 3;
    new.secrets.push(StoredSecret {
        sealed: "sealed:previous".into(),
        expires_at: Some(at(86_400_000_000)),
    });
    new.casayes_token = Some("sealed:token".into());
    new.after_event = 41;
    let first = store.create(new.clone()).await.expect("create");
    assert_eq!(
        (
            first.kind,
            first.url.as_str(),
            first.subject.as_deref(),
            &first.events,
            first.format,
            &first.entity_types,
            first.description.as_deref(),
            first.max_in_flight,
            &first.secrets,
            first.casayes_token.as_deref(),
            first.after_event,
        ),
        (
            new.kind,
            new.url.as_str(),
            new.subject.as_deref(),
            &new.events,
            new.format,
            &new.entity_types,
            new.description.as_deref(),
            new.max_in_flight,
            &new.secrets,
            new.casayes_token.as_deref(),
            new.after_event,
        )
    );
    assert_eq!(
        (first.disabled, first.failing_since, first.updated_at),
        (None, None, first.created_at),
        "enabled, not failing, updated when created"
    );
    assert_eq!(first.created_at, at(10));
    let second = store
        .create(new_destination("https://other.example/hook"))
        .await
        .expect("create");
    assert!(second.id > first.id, "ids increase");
    assert_eq!(store.get(first.id).await.expect("get"), Some(first.clone()));
    assert_eq!(
        store.list().await.expect("list"),
        [first.clone(), second.clone()]
    );

    assert!(
        store
            .record_health(first.id, Some(at(20)))
            .await
            .expect("health")
    );
    let changed = store
        .change(
            first.id,
            DestinationChange {
                url: Some("https://crm.example/v2".into()),
                entity_types: Some(None),
                description: Some(None),
                disabled: Some(Some(DisabledReason::Operator)),
                updated_at: at(30),
                ..DestinationChange::default()
            },
        )
        .await
        .expect("change")
        .expect("exists");
    assert_eq!(changed.url, "https://crm.example/v2");
    assert_eq!(changed.entity_types, None);
    assert_eq!(changed.description, None);
    assert_eq!(changed.disabled, Some(DisabledReason::Operator));
    assert_eq!(
        changed.failing_since,
        Some(at(20)),
        "disabling keeps the failure"
    );
    assert_eq!(changed.updated_at, at(30));
    assert_eq!(
        (changed.max_in_flight, &changed.secrets, changed.created_at),
        (3, &first.secrets, first.created_at),
        "what is not given is kept"
    );
    assert_eq!(store.get(first.id).await.expect("get"), Some(changed));
    let enabled = store
        .change(
            first.id,
            DestinationChange {
                disabled: Some(None),
                secrets: Some(Vec::new()),
                updated_at: at(40),
                ..DestinationChange::default()
            },
        )
        .await
        .expect("change")
        .expect("exists");
    assert_eq!(
        (
            enabled.disabled,
            enabled.failing_since,
            enabled.secrets.len()
        ),
        (None, None, 0),
        "enabling forgets the failure"
    );
    assert!(
        store
            .record_health(first.id, Some(at(50)))
            .await
            .expect("health")
    );
    let failing = store.get(first.id).await.expect("get").expect("exists");
    assert_eq!(
        (failing.failing_since, failing.updated_at),
        (Some(at(50)), at(40)),
        "health does not touch updated_at"
    );
    assert!(store.record_health(first.id, None).await.expect("health"));
    assert_eq!(
        store
            .get(first.id)
            .await
            .expect("get")
            .expect("exists")
            .failing_since,
        None
    );

    let missing = DestinationId(second.id.0 + 100);
    assert_eq!(store.get(missing).await.expect("get"), None);
    assert!(!store.record_health(missing, None).await.expect("health"));
    assert_eq!(
        store
            .change(
                missing,
                DestinationChange {
                    url: Some("https://x.example".into()),
                    updated_at: at(60),
                    ..DestinationChange::default()
                }
            )
            .await
            .expect("change"),
        None
    );
    assert!(store.delete(first.id).await.expect("delete"));
    assert!(!store.delete(first.id).await.expect("delete"), "gone");
    assert_eq!(store.list().await.expect("list"), [second]);
}

pub(crate) async fn enqueue_creates_each_delivery_once_and_moves_the_position_forward(
    storage: TestStorage,
) {
    let hook = destination(&storage, "https://crm.example/hook").await;
    let leads = leads(&storage, &["f-1", "f-2"]).await;
    let store = &storage.deliveries;
    assert_eq!(store.fanout_position().await.expect("position"), 0);
    let first = vec![delivery(hook, 1, &leads[0]), delivery(hook, 2, &leads[1])];
    assert_eq!(store.enqueue(first.clone(), 7).await.expect("enqueue"), 2);
    assert_eq!(store.fanout_position().await.expect("position"), 7);
    // Again, with one new delivery, a replay of event 1, a destination that does not
    // exist, and an older position: only the new ones, and the position stays.
    let mut replayed = delivery(hook, 1, &leads[0]);
    replayed.replay = 1_764_000_000_000_000;
    replayed.message_id = "msg_replay".into();
    let mut again = first.clone();
    again.extend([
        delivery(hook, 3, &leads[0]),
        replayed.clone(),
        delivery(DestinationId(hook.0 + 100), 4, &leads[0]),
    ]);
    assert_eq!(store.enqueue(again, 5).await.expect("enqueue"), 2);
    assert_eq!(store.fanout_position().await.expect("position"), 7);
    assert_eq!(store.enqueue(Vec::new(), 9).await.expect("enqueue"), 0);
    assert_eq!(
        store.fanout_position().await.expect("position"),
        9,
        "an empty fan-out moves the position too"
    );

    let page = all_deliveries(&storage).await;
    let listed: Vec<(i64, i64)> = page
        .iter()
        .map(|(delivery, _)| (delivery.event_id, delivery.replay))
        .collect();
    assert_eq!(
        listed,
        [(3, 0), (1, replayed.replay), (2, 0), (1, 0)],
        "newest first; one call creates its deliveries in event order"
    );
    let (delivery, attempts) = &page[3];
    let expected = &first[0];
    assert_eq!(
        (
            delivery.destination_id,
            delivery.kind,
            delivery.event_at,
            delivery.lead_id,
            &delivery.lead_reference,
            delivery.message_id.as_str(),
            delivery.status,
            delivery.attempts,
            delivery.next_attempt_at,
            delivery.created_at,
            delivery.updated_at,
        ),
        (
            expected.destination_id,
            expected.kind,
            expected.event_at,
            expected.lead_id,
            &expected.lead_reference,
            expected.message_id.as_str(),
            DeliveryStatus::Pending,
            0,
            Some(expected.created_at),
            expected.created_at,
            expected.created_at,
        ),
        "pending and due at once"
    );
    assert!(attempts.is_empty());
    assert_eq!(
        stored(&storage, delivery.id).await,
        (delivery.clone(), Vec::new())
    );
    assert_eq!(
        store
            .get(DeliveryId(delivery.id.0 + 1_000))
            .await
            .expect("get"),
        None
    );
}

pub(crate) async fn concurrent_enqueues_create_each_delivery_once(storage: TestStorage) {
    let hooks = [
        destination(&storage, "https://a.example/hook").await,
        destination(&storage, "https://b.example/hook").await,
    ];
    let references: Vec<String> = (0..10).map(|n| format!("ce-{n}")).collect();
    let references: Vec<&str> = references.iter().map(String::as_str).collect();
    let leads = leads(&storage, &references).await;
    let all: Vec<NewDelivery> = hooks
        .iter()
        .flat_map(|hook| {
            leads
                .iter()
                .enumerate()
                .map(|(n, lead)| delivery(*hook, n as i64 + 1, lead))
        })
        .collect();
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let store = Arc::clone(&storage.deliveries);
            let mut batch = all.clone();
            // Each fan-out in its own order, and some with only part of the events.
            batch.rotate_left(task * 3 % all.len());
            if task % 2 == 1 {
                batch.reverse();
                batch.truncate(12);
            }
            tokio::spawn(async move { store.enqueue(batch, task as i64).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        created += task.await.expect("task").expect("enqueue");
    }
    assert_eq!(created, all.len() as u64, "each delivery created once");
    let page = all_deliveries(&storage).await;
    let keys: HashSet<(DestinationId, i64)> = page
        .iter()
        .map(|(delivery, _)| (delivery.destination_id, delivery.event_id))
        .collect();
    assert_eq!((page.len(), keys.len()), (all.len(), all.len()));
    assert_eq!(
        storage
            .deliveries
            .fanout_position()
            .await
            .expect("position"),
        7,
        "the greatest position given"
    );
}

pub(crate) async fn concurrent_claims_never_lease_a_delivery_twice(storage: TestStorage) {
    const DELIVERIES: usize = 30;
    let hook = destination(&storage, "https://crm.example/hook").await;
    let other = destination(&storage, "https://other.example/hook").await;
    let leads = leads(&storage, &["cc-1", "cc-2", "cc-3"]).await;
    let mut new: Vec<NewDelivery> = (0..DELIVERIES)
        .map(|n| delivery(hook, n as i64 + 1, &leads[n % leads.len()]))
        .collect();
    new.push(delivery(other, 1, &leads[0]));
    storage.deliveries.enqueue(new, 1).await.expect("enqueue");
    let now = at(2_000);
    let tasks: Vec<_> = (0..6)
        .map(|task| {
            let store = Arc::clone(&storage.deliveries);
            tokio::spawn(async move {
                let owner = format!("instance-{task}");
                let mut leased = Vec::new();
                loop {
                    let claimed = store
                        .claim(hook, &owner, now, now + Duration::seconds(30), 4)
                        .await
                        .expect("claim");
                    if claimed.is_empty() {
                        return leased;
                    }
                    assert!(claimed.len() <= 4, "at most the limit");
                    assert!(
                        claimed.windows(2).all(|pair| pair[0].id < pair[1].id),
                        "lowest id first"
                    );
                    leased.extend(claimed.into_iter().map(|delivery| delivery.id));
                }
            })
        })
        .collect();
    let mut leased = Vec::new();
    for task in tasks {
        leased.extend(task.await.expect("task"));
    }
    let distinct: HashSet<DeliveryId> = leased.iter().copied().collect();
    assert_eq!(
        (leased.len(), distinct.len()),
        (DELIVERIES, DELIVERIES),
        "every delivery of the destination leased once, to one owner"
    );
    assert!(
        storage
            .deliveries
            .claim(hook, "late", now, now + Duration::seconds(30), 10)
            .await
            .expect("claim")
            .is_empty(),
        "all leased"
    );
    let others = storage
        .deliveries
        .claim(other, "late", now, now + Duration::seconds(30), 10)
        .await
        .expect("claim");
    assert_eq!(
        (others.len(), others[0].destination_id),
        (1, other),
        "a claim takes its destination's deliveries only"
    );
}

pub(crate) async fn a_lease_expires_and_only_its_holder_finishes(storage: TestStorage) {
    let hook = destination(&storage, "https://crm.example/hook").await;
    let leads = leads(&storage, &["l-1"]).await;
    let store = &storage.deliveries;
    store
        .enqueue(
            vec![delivery(hook, 1, &leads[0]), delivery(hook, 2, &leads[0])],
            2,
        )
        .await
        .expect("enqueue");
    assert!(
        store
            .claim(hook, "a", at(999), at(5_000), 10)
            .await
            .expect("claim")
            .is_empty(),
        "not due before it was created"
    );
    let claimed = store
        .claim(hook, "a", at(2_000), at(5_000), 1)
        .await
        .expect("claim");
    assert_eq!(event_ids(&claimed), [1], "up to the limit, lowest id first");
    let id = claimed[0].id;
    let b = store
        .claim(hook, "b", at(5_000), at(9_000), 10)
        .await
        .expect("claim");
    assert_eq!(
        event_ids(&b),
        [2],
        "a lease holds until it expires, not after"
    );
    let failed_try = attempt(5_500, Some(500), Verdict::Retry { not_before: None });
    assert!(
        !store
            .finish(id, "b", &failed_try, AttemptOutcome::Failed)
            .await
            .expect("finish"),
        "b does not hold it"
    );
    assert_eq!(stored(&storage, id).await.1, Vec::new(), "nothing recorded");
    // a's lease has expired: b takes the delivery over, and a can no longer finish it.
    let taken = store
        .claim(hook, "b", at(5_001), at(9_000), 10)
        .await
        .expect("claim");
    assert_eq!(event_ids(&taken), [1]);
    assert!(
        !store
            .finish(id, "a", &failed_try, AttemptOutcome::Failed)
            .await
            .expect("finish"),
        "a's lease was taken over"
    );
    let throttled = attempt(
        5_500,
        Some(429),
        Verdict::Retry {
            not_before: Some(StdDuration::from_secs(120)),
        },
    );
    assert!(
        store
            .finish(id, "b", &throttled, AttemptOutcome::RetryAt(at(8_000)))
            .await
            .expect("finish")
    );
    let (delivery, attempts) = stored(&storage, id).await;
    assert_eq!(
        (
            delivery.status,
            delivery.attempts,
            delivery.next_attempt_at,
            delivery.updated_at
        ),
        (DeliveryStatus::Pending, 1, Some(at(8_000)), at(5_500))
    );
    assert_eq!(attempts, std::slice::from_ref(&throttled));
    assert!(
        !store
            .finish(id, "b", &throttled, AttemptOutcome::Delivered)
            .await
            .expect("finish"),
        "the lease was released"
    );
    assert!(
        store
            .claim(hook, "c", at(7_999), at(20_000), 10)
            .await
            .expect("claim")
            .iter()
            .all(|delivery| delivery.id != id),
        "not due before its retry time"
    );
    let again = store
        .claim(hook, "c", at(9_001), at(20_000), 10)
        .await
        .expect("claim");
    assert_eq!(event_ids(&again), [1, 2], "due, and b's lease on 2 expired");
    let refused = attempt(9_500, None, Verdict::Retry { not_before: None });
    assert!(
        store
            .finish(id, "c", &refused, AttemptOutcome::Failed)
            .await
            .expect("finish")
    );
    let gone = attempt(9_600, Some(410), Verdict::Gone);
    assert!(
        store
            .finish(again[1].id, "c", &gone, AttemptOutcome::Delivered)
            .await
            .expect("finish")
    );
    let (delivery, attempts) = stored(&storage, id).await;
    assert_eq!(
        (delivery.status, delivery.attempts, delivery.next_attempt_at),
        (DeliveryStatus::Failed, 2, None)
    );
    assert_eq!(attempts, [throttled, refused], "oldest first");
    let (delivered, attempts) = stored(&storage, again[1].id).await;
    assert_eq!(
        (delivered.status, delivered.next_attempt_at, attempts),
        (DeliveryStatus::Delivered, None, vec![gone])
    );
    assert!(
        store
            .claim(hook, "d", at(99_999), at(200_000), 10)
            .await
            .expect("claim")
            .is_empty(),
        "failed and delivered ones are not claimed"
    );
}

pub(crate) async fn deliveries_list_by_filter_newest_first_in_pages(storage: TestStorage) {
    let hooks = [
        destination(&storage, "https://a.example/hook").await,
        destination(&storage, "https://b.example/hook").await,
    ];
    let leads = leads(&storage, &["p-1", "p-2", "p-3"]).await;
    let new: Vec<NewDelivery> = (0..12)
        .map(|n| delivery(hooks[n % 2], n as i64 + 1, &leads[n % 3]))
        .collect();
    let store = &storage.deliveries;
    store.enqueue(new, 12).await.expect("enqueue");
    // Deliver some, fail some: three statuses to filter by. They are recorded in one
    // batch, with a delivery "x" does not hold, which is not recorded.
    let claimed = store
        .claim(hooks[0], "x", at(2_000), at(3_000), 4)
        .await
        .expect("claim");
    let mut batch: Vec<FinishedAttempt> = claimed
        .iter()
        .enumerate()
        .map(|(n, delivery)| {
            let (outcome, code, verdict) = if n % 2 == 0 {
                (AttemptOutcome::Delivered, 200, Verdict::Delivered)
            } else {
                (
                    AttemptOutcome::Failed,
                    500,
                    Verdict::Retry { not_before: None },
                )
            };
            FinishedAttempt {
                id: delivery.id,
                attempt: attempt(2_100, Some(code), verdict),
                outcome,
            }
        })
        .collect();
    let unheld = all_deliveries(&storage)
        .await
        .into_iter()
        .map(|(delivery, _)| delivery.id)
        .find(|id| claimed.iter().all(|c| c.id != *id))
        .expect("a delivery not claimed");
    batch.insert(
        1,
        FinishedAttempt {
            id: unheld,
            attempt: attempt(2_100, Some(200), Verdict::Delivered),
            outcome: AttemptOutcome::Delivered,
        },
    );
    assert_eq!(
        store.finish_all("x", &batch).await.expect("finish"),
        [true, false, true, true, true],
        "in the order given; only what x holds"
    );
    assert_eq!(
        stored(&storage, unheld).await.0.status,
        DeliveryStatus::Pending
    );
    assert_eq!(stored(&storage, unheld).await.1, Vec::new());
    let everything = all_deliveries(&storage).await;
    assert_eq!(everything.len(), 12);
    let filters = [
        DeliveryFilter::default(),
        DeliveryFilter {
            destination: Some(hooks[0]),
            ..DeliveryFilter::default()
        },
        DeliveryFilter {
            status: Some(DeliveryStatus::Failed),
            ..DeliveryFilter::default()
        },
        DeliveryFilter {
            status: Some(DeliveryStatus::Pending),
            lead_reference: Some(leads[1].1.clone()),
            ..DeliveryFilter::default()
        },
        DeliveryFilter {
            destination: Some(hooks[0]),
            status: Some(DeliveryStatus::Delivered),
            lead_reference: Some(leads[0].1.clone()),
        },
        DeliveryFilter {
            lead_reference: Some(LeadReference::parse("nobody").expect("reference")),
            ..DeliveryFilter::default()
        },
    ];
    for filter in filters {
        let expected: Vec<_> = everything
            .iter()
            .filter(|(delivery, _)| filter.matches(delivery))
            .cloned()
            .collect();
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list(&filter, PageRequest::new(Some(2), after).expect("page"))
                .await
                .expect("list");
            assert!(page.items.len() <= 2);
            paged.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(
            paged, expected,
            "{filter:?}: every match once, newest first"
        );
    }
    let statuses: Vec<DeliveryStatus> = everything
        .iter()
        .map(|(delivery, _)| delivery.status)
        .collect();
    for status in [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ] {
        assert!(statuses.contains(&status), "{status:?} is listed");
    }
    let with_attempts = everything
        .iter()
        .filter(|(_, attempts)| attempts.len() == 1)
        .count();
    assert_eq!(with_attempts, 4, "each item carries its attempts");
}

pub(crate) async fn retry_fail_pending_and_backlog(storage: TestStorage) {
    let hook = destination(&storage, "https://crm.example/hook").await;
    let other = destination(&storage, "https://other.example/hook").await;
    let leads = leads(&storage, &["r-1", "r-2"]).await;
    let store = &storage.deliveries;
    let mut later = delivery(other, 9, &leads[1]);
    later.created_at = at(1_500);
    store
        .enqueue(
            vec![
                delivery(hook, 1, &leads[0]),
                delivery(hook, 2, &leads[1]),
                delivery(hook, 3, &leads[0]),
                delivery(other, 8, &leads[0]),
                later,
            ],
            9,
        )
        .await
        .expect("enqueue");
    let mut backlog = store.backlog().await.expect("backlog");
    backlog.sort_by_key(|backlog| backlog.destination_id);
    assert_eq!(
        backlog,
        [
            Backlog {
                destination_id: hook,
                pending: 3,
                oldest_pending_at: Some(at(1_000)),
            },
            Backlog {
                destination_id: other,
                pending: 2,
                oldest_pending_at: Some(at(1_000)),
            },
        ]
    );
    // A claim released by its holder (a graceful stop) is due again at once; another
    // owner cannot release it.
    let early = store
        .claim(other, "a", at(2_000), at(60_000), 10)
        .await
        .expect("claim");
    let early_ids: Vec<DeliveryId> = early.iter().map(|d| d.id).collect();
    assert_eq!(early_ids.len(), 2);
    assert_eq!(store.release("b", &early_ids).await.expect("release"), 0);
    assert!(
        store
            .claim(other, "b", at(2_001), at(60_000), 10)
            .await
            .expect("claim")
            .is_empty(),
        "still a's"
    );
    assert_eq!(store.release("a", &early_ids).await.expect("release"), 2);
    let taken = store
        .claim(other, "b", at(2_002), at(60_000), 10)
        .await
        .expect("claim");
    assert_eq!(event_ids(&taken), [8, 9], "due again at once");
    assert_eq!(store.release("b", &early_ids).await.expect("release"), 2);
    let claimed = store
        .claim(hook, "a", at(2_000), at(60_000), 10)
        .await
        .expect("claim");
    assert_eq!(event_ids(&claimed), [1, 2, 3]);
    let ok = attempt(2_100, Some(200), Verdict::Delivered);
    let bad = attempt(2_100, Some(500), Verdict::Retry { not_before: None });
    assert!(
        store
            .finish(claimed[0].id, "a", &ok, AttemptOutcome::Delivered)
            .await
            .expect("finish")
    );
    assert!(
        store
            .finish(claimed[1].id, "a", &bad, AttemptOutcome::Failed)
            .await
            .expect("finish")
    );
    // A failed delivery is retried: pending, due now, leasable at once.
    assert!(store.retry(claimed[1].id, at(3_000)).await.expect("retry"));
    let (retried, attempts) = stored(&storage, claimed[1].id).await;
    assert_eq!(
        (
            retried.status,
            retried.next_attempt_at,
            retried.attempts,
            retried.updated_at
        ),
        (DeliveryStatus::Pending, Some(at(3_000)), 1, at(3_000))
    );
    assert_eq!(attempts, [bad], "its attempts are kept");
    // A pending one still leased to `a` is made due now and loses its lease.
    assert!(store.retry(claimed[2].id, at(3_000)).await.expect("retry"));
    assert_eq!(
        event_ids(
            &store
                .claim(hook, "b", at(3_000), at(60_000), 10)
                .await
                .expect("claim")
        ),
        [2, 3]
    );
    assert!(
        !store
            .finish(claimed[2].id, "a", &ok, AttemptOutcome::Delivered)
            .await
            .expect("finish"),
        "a's lease went with the retry"
    );
    assert!(
        !store.retry(claimed[0].id, at(3_000)).await.expect("retry"),
        "a delivered one is not retried"
    );
    assert_eq!(
        stored(&storage, claimed[0].id).await.0.status,
        DeliveryStatus::Delivered
    );
    assert!(
        !store
            .retry(DeliveryId(claimed[2].id.0 + 1_000), at(3_000))
            .await
            .expect("retry")
    );

    assert_eq!(store.fail_pending(hook).await.expect("fail"), 2);
    assert_eq!(store.fail_pending(hook).await.expect("fail"), 0);
    for delivery in &claimed[1..] {
        let (failed, _) = stored(&storage, delivery.id).await;
        assert_eq!(
            (failed.status, failed.next_attempt_at),
            (DeliveryStatus::Failed, None)
        );
    }
    assert!(
        store
            .claim(hook, "c", at(99_000), at(100_000), 10)
            .await
            .expect("claim")
            .is_empty(),
        "nothing pending is left, even with b's lease expired"
    );
    assert_eq!(
        store.backlog().await.expect("backlog"),
        [Backlog {
            destination_id: other,
            pending: 2,
            oldest_pending_at: Some(at(1_000)),
        }],
        "only destinations with pending deliveries"
    );
}

pub(crate) async fn deleting_a_destination_deletes_its_deliveries(storage: TestStorage) {
    let hook = destination(&storage, "https://crm.example/hook").await;
    let other = destination(&storage, "https://other.example/hook").await;
    let leads = leads(&storage, &["d-1"]).await;
    let store = &storage.deliveries;
    store
        .enqueue(
            vec![delivery(hook, 1, &leads[0]), delivery(other, 1, &leads[0])],
            1,
        )
        .await
        .expect("enqueue");
    let claimed = store
        .claim(hook, "a", at(2_000), at(3_000), 10)
        .await
        .expect("claim");
    let failed = attempt(2_100, Some(500), Verdict::Retry { not_before: None });
    assert!(
        store
            .finish(
                claimed[0].id,
                "a",
                &failed,
                AttemptOutcome::RetryAt(at(9_000))
            )
            .await
            .expect("finish")
    );
    assert!(storage.destinations.delete(hook).await.expect("delete"));
    assert_eq!(store.get(claimed[0].id).await.expect("get"), None);
    let left = all_deliveries(&storage).await;
    assert_eq!(
        left.iter()
            .map(|(delivery, _)| delivery.destination_id)
            .collect::<Vec<_>>(),
        [other],
        "the other destination's delivery stays"
    );
    assert_eq!(
        store
            .enqueue(vec![delivery(hook, 2, &leads[0])], 2)
            .await
            .expect("enqueue"),
        0,
        "no delivery to a destination that is gone"
    );
    assert_eq!(store.backlog().await.expect("backlog").len(), 1);
}

pub(crate) async fn erasure_and_retention_delete_a_leads_deliveries(storage: TestStorage) {
    let hook = destination(&storage, "https://crm.example/hook").await;
    let leads = leads(&storage, &["x-gone", "x-kept"]).await;
    let store = &storage.deliveries;
    store
        .enqueue(
            vec![
                delivery(hook, 1, &leads[0]),
                delivery(hook, 2, &leads[1]),
                delivery(hook, 3, &leads[0]),
            ],
            3,
        )
        .await
        .expect("enqueue");
    let claimed = store
        .claim(hook, "a", at(2_000), at(3_000), 10)
        .await
        .expect("claim");
    for delivery in &claimed {
        let echo = attempt(2_100, Some(500), Verdict::Retry { not_before: None });
        assert!(
            store
                .finish(delivery.id, "a", &echo, AttemptOutcome::Failed)
                .await
                .expect("finish")
        );
    }
    let subject = Subject::email("x-gone@example.pt").expect("email");
    assert_eq!(
        storage
            .erasure
            .erase_subject(&subject)
            .await
            .expect("erase"),
        1
    );
    for delivery in &claimed {
        let found = store.get(delivery.id).await.expect("get");
        if delivery.lead_id == leads[0].0 {
            assert_eq!(found, None, "the erased lead's deliveries and attempts go");
        } else {
            assert_eq!(found.map(|(_, attempts)| attempts.len()), Some(1));
        }
    }
    let gone = store
        .list(
            &DeliveryFilter {
                lead_reference: Some(leads[0].1.clone()),
                ..DeliveryFilter::default()
            },
            PageRequest::new(Some(10), None).expect("page"),
        )
        .await
        .expect("list");
    assert!(gone.items.is_empty());
    assert_eq!(
        store
            .enqueue(vec![delivery(hook, 4, &leads[0])], 4)
            .await
            .expect("enqueue"),
        0,
        "no delivery of a lead that is gone"
    );

    // Retention: the remaining lead was received at 2 µs.
    storage
        .writer
        .insert_batch(vec![lead("x-new", at(50))])
        .await
        .expect("insert");
    assert_eq!(
        storage
            .erasure
            .purge_received_before(at(10), 100)
            .await
            .expect("purge"),
        1
    );
    let left = all_deliveries(&storage).await;
    assert!(left.is_empty(), "the purged lead's deliveries go");
    assert_eq!(store.backlog().await.expect("backlog"), []);
}
