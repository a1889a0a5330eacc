//! Durability checks, a database that goes away and comes back, and copying stores.
//! PostgreSQL and MariaDB cases run when their `LEAD_INBOX_TEST_*_URL` is set.

use std::time::{Duration, Instant};

use lead_inbox_application::{
    InsertOutcome, LeadFilter, LeadReader, LeadWriter, PageRequest, copy,
};
use lead_inbox_domain::{NewLead, NewQuarantined, RawPayload, Rejection, RejectionKind};
use lead_inbox_server::{Application, Storage};
use lead_inbox_storage_seaorm::{ConnectError, SeaOrmStore, StoreOptions};
use lead_inbox_tests::{
    Backend, TestDatabase, ToggleProxy, WEBHOOK_TOKEN, example, host_and_port,
    migrate_down_through, new_lead, references_listed, scalar, test_config,
};
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

#[tokio::test]
async fn sqlite_in_memory_is_refused_as_not_durable() {
    let refused = SeaOrmStore::connect("sqlite::memory:", &StoreOptions::default()).await;
    match refused {
        Err(ConnectError::NotDurable(why)) => assert!(why.contains("journal_mode"), "{why}"),
        other => panic!("expected NotDurable, got {other:?}"),
    }
    let allowed = SeaOrmStore::connect(
        "sqlite::memory:",
        &StoreOptions {
            allow_unsafe_durability: true,
            ..StoreOptions::default()
        },
    )
    .await;
    assert!(allowed.is_ok(), "the explicit opt-out starts");
}

/// WAL mode is the file's own setting, read back here; `synchronous` belongs to each
/// connection, so the store's connections are checked for FULL in storage-seaorm
/// (`sqlite_connections_run_wal_with_full_sync`), and the refusal to start below FULL
/// there too (`sqlite_below_full_sync_is_refused`).
#[tokio::test]
async fn a_sqlite_file_is_left_in_wal_mode() {
    let database = TestDatabase::create(Backend::Sqlite, "wal")
        .await
        .expect("sqlite");
    let store = database.open_store().await;
    store.close().await;
    // Read the file's own setting back with a separate connection.
    let connection = Database::connect(&database.url).await.expect("open");
    assert_eq!(
        scalar::<String>(&connection, "PRAGMA journal_mode").await,
        "wal"
    );
}

#[tokio::test]
async fn postgres_with_synchronous_commit_off_is_refused() {
    let Some(database) = TestDatabase::create(
        Backend::Postgres,
        "postgres_with_synchronous_commit_off_is_refused",
    )
    .await
    else {
        return;
    };
    let name = database
        .url
        .rsplit('/')
        .next()
        .expect("a name")
        .split('?')
        .next()
        .expect("a name")
        .to_owned();
    let admin = Database::connect(&database.url).await.expect("connect");
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE {name} SET synchronous_commit = off"
        ))
        .await
        .expect("alter");
    admin.close().await.ok();
    match SeaOrmStore::connect(&database.url, &StoreOptions::default()).await {
        Err(ConnectError::NotDurable(why)) => {
            assert!(why.contains("synchronous_commit is off"), "{why}")
        }
        other => panic!("expected NotDurable, got {other:?}"),
    }
}

async fn database_goes_away_and_comes_back(backend: Backend, what: &str) {
    let Some(database) = TestDatabase::create(backend, what).await else {
        return;
    };
    database.open_store().await.close().await; // migrate directly first
    let proxy = ToggleProxy::start(host_and_port(&database.url), true).await;
    let mut config = test_config(&proxy.url_for(&database.url));
    config.database_max_connections = 2;
    let app = Application::build(config)
        .await
        .expect("starts through the proxy");
    let address = app.address();
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let webhook = format!("http://{address}/webhooks/casayes/leads");
    let ready = format!("http://{address}/health/ready");
    let deliver = |reference: &'static str| {
        let client = client.clone();
        let webhook = webhook.clone();
        async move {
            client
                .post(&webhook)
                .header("token", WEBHOOK_TOKEN)
                .body(example(reference).to_string())
                .send()
                .await
                .expect("answer")
        }
    };

    assert_eq!(deliver("before-outage").await.status().as_u16(), 200);
    assert_eq!(
        client
            .get(&ready)
            .send()
            .await
            .expect("answer")
            .status()
            .as_u16(),
        200
    );

    proxy.cut();
    let during = deliver("during-outage").await;
    assert_eq!(
        during.status().as_u16(),
        503,
        "never a 2xx for a lead that was not stored"
    );
    let retry_after = during
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert!(
        retry_after
            .as_deref()
            .is_some_and(|v| v.parse::<u64>().is_ok()),
        "{retry_after:?}"
    );
    let body: Value = during.json().await.expect("JSON");
    assert_eq!(body["code"], "storage_unavailable");
    assert_eq!(
        client
            .get(&ready)
            .send()
            .await
            .expect("answer")
            .status()
            .as_u16(),
        503
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = deliver("during-outage").await;
        if response.status().as_u16() == 200 {
            let body: Value = response.json().await.expect("JSON");
            assert_eq!(
                body["status"], "created",
                "the refused delivery was not stored"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the service did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        client
            .get(&ready)
            .send()
            .await
            .expect("answer")
            .status()
            .as_u16(),
        200
    );
    let store = database.open_store().await;
    assert_eq!(store.leads().count().await.expect("count"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_goes_away_and_comes_back() {
    database_goes_away_and_comes_back(Backend::Postgres, "postgres_goes_away_and_comes_back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_goes_away_and_comes_back() {
    database_goes_away_and_comes_back(Backend::MySql, "mysql_goes_away_and_comes_back").await;
}

async fn start_up_waits_for_the_database(backend: Backend, what: &str) {
    let Some(database) = TestDatabase::create(backend, what).await else {
        return;
    };
    let proxy = ToggleProxy::start(host_and_port(&database.url), false).await;
    let config = test_config(&proxy.url_for(&database.url));
    let started = Instant::now();
    let building = tokio::spawn(Application::build(config));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !building.is_finished(),
        "start-up waits while the database is unreachable"
    );
    proxy.restore();
    let app = building
        .await
        .expect("task")
        .expect("starts once the database answers");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_waits_for_postgres() {
    start_up_waits_for_the_database(Backend::Postgres, "start_up_waits_for_postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_waits_for_mysql() {
    start_up_waits_for_the_database(Backend::MySql, "start_up_waits_for_mysql").await;
}

#[tokio::test]
async fn start_up_gives_up_after_its_timeout() {
    let proxy = ToggleProxy::start("127.0.0.1:9".into(), false).await;
    let mut config = test_config(&format!("postgres://nobody@{}/none", proxy.address));
    config.database_connect_timeout_seconds = 1;
    let started = Instant::now();
    let error = Application::build(config).await.expect_err("no database");
    assert!(started.elapsed() < Duration::from_secs(10));
    let message = error.to_string();
    assert!(
        message.contains("cannot reach the database")
            && message.contains("LEAD_INBOX_DATABASE_CONNECT_TIMEOUT_SECONDS is 1"),
        "{message}"
    );
}

async fn copy_to(backend: Backend, what: &str) {
    let Some(target_db) = TestDatabase::create(backend, what).await else {
        return;
    };
    let source_db = TestDatabase::create(Backend::Sqlite, what)
        .await
        .expect("sqlite");
    let config = test_config(&source_db.url);
    let source = Storage::open(&source_db.url, &config)
        .await
        .expect("source");
    let target = Storage::open(&target_db.url, &config)
        .await
        .expect("target");
    for n in 0..1_205 {
        let raw = serde_json::to_vec(&example(&format!("copy-{n:04}"))).expect("JSON");
        let received_at =
            chrono::DateTime::from_timestamp_micros(1_700_000_000_000_000 + n).expect("valid");
        let lead = new_lead(raw, received_at);
        assert_eq!(
            source
                .writer
                .insert_batch(vec![lead])
                .await
                .expect("insert"),
            [InsertOutcome::Created]
        );
    }
    for n in 0..3u8 {
        source
            .quarantine
            .store(NewQuarantined {
                rejection: Rejection::new(RejectionKind::NotJson, "not JSON"),
                raw: RawPayload::new(vec![n, 0xff]),
                received_at: chrono::DateTime::from_timestamp_micros(
                    1_700_000_000_000_000 + i64::from(n),
                )
                .expect("valid"),
            })
            .await
            .expect("store");
    }
    // A worked lead: its status, tags, note and history travel with it.
    let worked_ref = lead_inbox_domain::LeadReference::parse("copy-0007").expect("reference");
    let worked = source
        .reader
        .get(&worked_ref)
        .await
        .expect("get")
        .expect("stored");
    let applied = worked
        .work
        .apply(
            lead_inbox_domain::WorkChange {
                status: Some(lead_inbox_domain::LeadStatus::Qualified),
                tags: Some(vec!["vip".into()]),
                note: Some("call back".into()),
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .expect("valid");
    assert!(
        source
            .work
            .save_work(worked.id, 1, &applied, "crm", "agent-1")
            .await
            .expect("save")
    );
    // A lead erased at the source: its tombstone travels, so it stays out of the target.
    let erased = lead_inbox_domain::LeadReference::parse("copy-erased").expect("reference");
    source
        .erasure
        .add_tombstones(vec![erased.tombstone()])
        .await
        .expect("tombstone");
    let first = copy::copy_store(&source.as_copy_side(), &target.as_copy_side(), &|_| {})
        .await
        .expect("copy");
    assert_eq!(first.tombstones_copied, 1);
    assert_eq!(first.worked_leads_copied, 1);
    let copied = target
        .reader
        .get(&worked_ref)
        .await
        .expect("get")
        .expect("copied");
    let original = source
        .reader
        .get(&worked_ref)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(original.work.version, 2);
    assert_eq!(copied.work, original.work, "status, tags, version, times");
    let summary = |history: Vec<lead_inbox_domain::HistoryEntry>| -> Vec<(String, Option<String>)> {
        history.into_iter().map(|e| (e.field, e.after)).collect()
    };
    assert_eq!(
        summary(target.work.history(copied.id).await.expect("history")),
        summary(source.work.history(worked.id).await.expect("history"))
    );
    let notes = target.work.notes(copied.id).await.expect("notes");
    assert_eq!(
        notes
            .iter()
            .map(|n| (n.author.as_str(), n.text.as_str()))
            .collect::<Vec<_>>(),
        [("agent-1", "call back")]
    );
    let raw = serde_json::to_vec(&example("copy-erased")).expect("JSON");
    let redelivered = new_lead(raw, chrono::Utc::now());
    assert_eq!(
        target
            .writer
            .insert_batch(vec![redelivered])
            .await
            .expect("insert"),
        [InsertOutcome::Erased]
    );
    assert_eq!(
        (
            first.leads_total,
            first.leads_copied,
            first.leads_already_there
        ),
        (1_205, 1_205, 0)
    );
    assert_eq!(
        (first.quarantined_copied, first.quarantined_already_there),
        (3, 0)
    );
    let again = copy::copy_store(&source.as_copy_side(), &target.as_copy_side(), &|_| {})
        .await
        .expect("copy");
    assert_eq!((again.leads_copied, again.leads_already_there), (0, 1_205));
    assert_eq!(again.tombstones_copied, 0);
    assert_eq!(
        again.worked_leads_copied, 1,
        "copied again: replaced, not doubled"
    );
    assert_eq!(target.work.notes(copied.id).await.expect("notes").len(), 1);
    assert_eq!(
        (again.quarantined_copied, again.quarantined_already_there),
        (0, 3)
    );

    let everything = |store: &Storage| {
        let reader = store.reader.clone();
        async move {
            let mut all = Vec::new();
            let mut after = None;
            loop {
                let page = reader
                    .list(
                        &LeadFilter::default(),
                        PageRequest::new(Some(500), after).expect("valid"),
                    )
                    .await
                    .expect("list");
                all.extend(page.items);
                match page.next {
                    Some(next) => after = Some(next),
                    None => return all,
                }
            }
        }
    };
    let (from, to) = (everything(&source).await, everything(&target).await);
    assert_eq!(
        (from.len(), to.len()),
        (1_205, 1_205),
        "every lead, all pages"
    );
    for (a, b) in from.iter().zip(&to) {
        assert_eq!(
            (&a.details, &a.raw, a.received_at),
            (&b.details, &b.raw, b.received_at)
        );
    }
    let quarantined = target
        .quarantine
        .list(PageRequest::new(Some(10), None).expect("valid"))
        .await
        .expect("list")
        .items;
    let raw: Vec<Vec<u8>> = quarantined
        .iter()
        .map(|q| q.raw.as_bytes().to_vec())
        .collect();
    assert_eq!(
        raw,
        [vec![2, 0xff], vec![1, 0xff], vec![0, 0xff]],
        "the quarantine keeps its order"
    );
}

#[tokio::test]
async fn copy_sqlite_to_sqlite() {
    copy_to(Backend::Sqlite, "copy_sqlite_to_sqlite").await;
}

#[tokio::test]
async fn copy_sqlite_to_postgres() {
    copy_to(Backend::Postgres, "copy_sqlite_to_postgres").await;
}

#[tokio::test]
async fn copy_sqlite_to_mysql() {
    copy_to(Backend::MySql, "copy_sqlite_to_mysql").await;
}

/// After a bulk load, `settle_after_bulk_load` gives PostgreSQL's planner statistics and
/// visibility map on the leads at once (MariaDB: the statement runs; SQLite indexes the
/// leads for search, which `search_index.rs` checks).
#[tokio::test]
async fn planner_statistics_are_gathered_on_request() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        let Some(database) = TestDatabase::create(backend, "planner_statistics").await else {
            continue;
        };
        let store = database.open_store().await;
        let leads: Vec<NewLead> = (0..20)
            .map(|n| {
                let raw = serde_json::to_vec(&example(&format!("CY-Listing-A3bT7Y2xL6w-{n}")))
                    .expect("json");
                new_lead(raw, chrono::Utc::now())
            })
            .collect();
        store.leads().insert_batch(leads).await.expect("insert");
        store.settle_after_bulk_load().await.expect("statistics");
        if backend == Backend::Postgres {
            let connection = Database::connect(&database.url).await.expect("open");
            let analysed: i64 = scalar(
                &connection,
                "SELECT count(*) FROM pg_stats WHERE tablename = 'leads' \
                 AND attname IN ('received_at_us', 'contact_id')",
            )
            .await;
            assert_eq!(analysed, 2);
            // The vacuum set the visibility map, so that scans can be index-only.
            let visible: i32 = scalar(
                &connection,
                "SELECT relallvisible FROM pg_class WHERE relname = 'leads'",
            )
            .await;
            assert!(visible > 0);
        }
        store.close().await;
    }
}

/// Two processes writing to one SQLite file (two instances, or a `lead-inbox` command
/// beside the server) take turns instead of failing: each store below has its own pool
/// and its own in-process write queue, as a second process would. A store's batch reads
/// (the tombstones) before it inserts; begun deferred, it failed at once with
/// `database is locked` when the other wrote in between, and the webhook answered
/// `503`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_write_to_one_sqlite_file_in_turn() {
    let database = TestDatabase::create(Backend::Sqlite, "two_writers")
        .await
        .expect("sqlite");
    let first = database.open_store().await;
    let second = database.open_store().await;
    let write = |store: SeaOrmStore, side: &'static str| {
        tokio::spawn(async move {
            for batch in 0..60 {
                let leads = (0..5)
                    .map(|n| {
                        let raw = serde_json::to_vec(&example(&format!("{side}-{batch:02}-{n}")))
                            .expect("JSON");
                        new_lead(raw, chrono::Utc::now())
                    })
                    .collect();
                let outcomes = store.leads().insert_batch(leads).await;
                assert_eq!(
                    outcomes.expect("the batch waits for its turn and is stored"),
                    [InsertOutcome::Created; 5],
                    "{side} batch {batch}"
                );
            }
        })
    };
    let writers = [write(first.clone(), "one"), write(second.clone(), "two")];
    for writer in writers {
        writer.await.expect("the writer finished");
    }
    let mut stored = references_listed(&first.leads(), &LeadFilter::default(), 100).await;
    stored.sort();
    let mut expected: Vec<String> = ["one", "two"]
        .iter()
        .flat_map(|side| {
            (0..60).flat_map(move |batch| (0..5).map(move |n| format!("{side}-{batch:02}-{n}")))
        })
        .collect();
    expected.sort();
    assert_eq!(stored, expected);
    first.close().await;
    second.close().await;
}

/// Frames in the SQLite WAL beside `database`'s file, from the WAL's size (a checkpoint
/// does not shrink the file; only a WAL that started over reuses it).
fn wal_frames(database: &TestDatabase) -> u64 {
    let path = database.url.trim_start_matches("sqlite://").to_owned() + "-wal";
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    size.saturating_sub(32) / (4_096 + 24)
}

/// Stores `batches` batches of 20 leads named `prefix`.
async fn store_leads(store: &SeaOrmStore, prefix: &str, batches: usize) {
    for batch in 0..batches {
        let leads = (0..20)
            .map(|n| {
                let raw =
                    serde_json::to_vec(&example(&format!("{prefix}-{batch}-{n}"))).expect("JSON");
                new_lead(raw, chrono::Utc::now())
            })
            .collect();
        store.leads().insert_batch(leads).await.expect("insert");
    }
}

/// The server's store checkpoints SQLite's WAL beside the writer instead of inside a
/// commit: no commit copies the WAL (it grows past SQLite's 1,000-frame threshold), a
/// round of `checkpoint_round` copies all of it, and the WAL then starts over.
#[tokio::test]
async fn sqlite_checkpoints_run_beside_the_writer_and_the_wal_starts_over() {
    let background = TestDatabase::create(Backend::Sqlite, "checkpoints")
        .await
        .expect("sqlite");
    let options = StoreOptions {
        background_checkpoints: true,
        ..StoreOptions::default()
    };
    let store = SeaOrmStore::connect(&background.url, &options)
        .await
        .expect("open");
    store.migrate().await.expect("migrations run");
    store_leads(&store, "b", 60).await;
    let grown = wal_frames(&background);
    assert!(grown > 2_000, "no commit checkpointed: {grown} frames");
    let round = store
        .checkpoint_round()
        .await
        .expect("a round")
        .expect("SQLite");
    assert!(round.frames >= 1_000, "{round:?}");
    assert_eq!(round.copied, round.frames, "every frame copied");
    store_leads(&store, "c", 1).await;
    let after = store
        .checkpoint_round()
        .await
        .expect("a round")
        .expect("SQLite");
    assert!(
        after.frames < 200,
        "the WAL started over with the next commit: {after:?}"
    );
    assert_eq!(wal_frames(&background), grown, "and reuses its file");
    store.close().await;

    // Opened as commands open it, SQLite checkpoints inside commits: the WAL stays short.
    let inline = TestDatabase::create(Backend::Sqlite, "checkpoints_inline")
        .await
        .expect("sqlite");
    let store = inline.open_store().await;
    store_leads(&store, "b", 60).await;
    assert!(
        wal_frames(&inline) < 1_500,
        "{} frames",
        wal_frames(&inline)
    );
    store.close().await;
}

/// Migration 008 on MariaDB: `entity_type` becomes `VARCHAR(64)` (its index whole) and
/// goes back to `LONGTEXT` on the way down.
#[tokio::test]
async fn mysql_entity_type_becomes_a_varchar_and_back() {
    use lead_inbox_migration::Migrator;
    use sea_orm_migration::MigratorTrait;

    let Some(database) = TestDatabase::create(Backend::MySql, "entity_type_column").await else {
        return;
    };
    database.open_store().await.close().await;
    let connection = Database::connect(&database.url).await.expect("open");
    let column_type = || {
        scalar::<String>(
            &connection,
            "SELECT CAST(COLUMN_TYPE AS CHAR) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'leads' \
             AND COLUMN_NAME = 'entity_type'",
        )
    };
    assert_eq!(column_type().await, "varchar(64)");
    // Down through 008, past the later ones (no-ops on MariaDB).
    migrate_down_through(&connection, "m20261129_000008_entity_type_column").await;
    assert_eq!(column_type().await, "longtext");
    Migrator::up(&connection, None).await.expect("up");
    assert_eq!(column_type().await, "varchar(64)");
}
