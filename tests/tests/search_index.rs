//! The search indexes of SQLite (migration 9) and MySQL/MariaDB (migration 10):
//! searches are exact whether a lead is indexed yet or not, the index is what answers,
//! erasure and retention take a lead's trigrams out of it, SQLite's server keeps its
//! index up by itself, and the migrations go down and up. (PostgreSQL's trigram index
//! serves the `LIKE` itself: the storage contract covers it.)

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lead_inbox_application::{LeadErasure, LeadFilter, LeadReader, LeadWriter, PageRequest};
use lead_inbox_domain::{NewLead, Subject, search::fold};
use lead_inbox_storage_seaorm::{
    SeaOrmStore,
    search_words::{trigram_word, trigram_words},
};
use lead_inbox_tests::{
    Backend, TestDatabase, WEBHOOK_TOKEN, example_with, migrate_down_through, new_lead,
    references_listed, scalar, spawn_app_on,
};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use sea_orm_migration::MigratorTrait;
use serde_json::json;

/// A lead from `name` at `email`, received at `received_at`.
fn lead(reference: &str, name: &str, email: &str, received_at: DateTime<Utc>) -> NewLead {
    let raw = serde_json::to_vec(&example_with(
        reference,
        json!({ "SenderName": name, "SenderEmail": email }),
    ))
    .expect("json");
    new_lead(raw, received_at)
}

/// The references `term` finds, newest first, in pages of `limit`, all pages.
async fn found(store: &SeaOrmStore, term: &str, limit: u32) -> Vec<String> {
    let filter = LeadFilter {
        search: Some(fold(term)),
        ..LeadFilter::default()
    };
    references_listed(&store.leads(), &filter, limit).await
}

/// How many indexed leads hold the trigram `trigram`, read from the index itself.
async fn indexed_with(connection: &DatabaseConnection, trigram: &str) -> i64 {
    scalar(
        connection,
        &format!("SELECT count(*) FROM lead_search WHERE lead_search MATCH '\"{trigram}\"'"),
    )
    .await
}

#[tokio::test]
async fn sqlite_searches_are_exact_before_during_and_after_indexing() {
    let database = TestDatabase::create(Backend::Sqlite, "search_index")
        .await
        .expect("sqlite");
    let store = database.open_store().await;
    let start = Utc::now() - chrono::Duration::days(1);
    let at = |n: i64| start + chrono::Duration::seconds(n);
    let (rare, newest_silvas) = silvas_and_quaresmas(&store, start).await;

    // Nothing indexed yet: every lead is above the indexed id, and checked directly.
    assert_eq!(store.search_index_lag().await.expect("lag"), 2_100);
    assert_eq!(found(&store, "QUARESMA", 2).await, rare);

    // One pass indexes part; the rest is still checked directly.
    assert_eq!(store.index_for_search().await.expect("a pass"), 64);
    assert_eq!(store.search_index_lag().await.expect("lag"), 2_100 - 64);
    assert_eq!(found(&store, "quaresma", 2).await, rare);

    // All indexed: the index answers, accents and case folded, in pages.
    assert_eq!(
        store.index_all_for_search().await.expect("catch up"),
        2_100 - 64
    );
    assert_eq!(store.search_index_lag().await.expect("lag"), 0);
    assert_eq!(found(&store, "Quarésma", 2).await, rare);
    assert_eq!(found(&store, "rita quaresma 10", 50).await, ["s-1000"]);
    // The index is what answers: a lead taken out of it behind the store's back is not
    // found any more (and is again once put back).
    let connection = Database::connect(&database.url).await.expect("open");
    let take_out = "INSERT INTO lead_search (lead_search, rowid, search_text) \
                  SELECT 'delete', id, search_text FROM leads WHERE lead_reference = 's-1000'";
    connection
        .execute_unprepared(take_out)
        .await
        .expect("take out");
    assert_eq!(found(&store, "quaresma", 50).await, ["s-2090", "s-7"]);
    connection
        .execute_unprepared(
            "INSERT INTO lead_search (rowid, search_text) \
             SELECT id, search_text FROM leads WHERE lead_reference = 's-1000'",
        )
        .await
        .expect("put back");
    assert_eq!(found(&store, "quaresma", 50).await, rare);
    assert!(found(&store, "quaresmas", 50).await.is_empty());
    // A term shorter than a trigram, and a common one, walk the leads instead.
    let short = found(&store, "a 1", 500).await;
    assert_eq!(
        short.len(),
        1_111,
        "\"a 1\" is in every `Ana Silva 1…` and `Rita Quaresma 1000`"
    );
    assert_eq!(first_page(&store, "silva").await, newest_silvas);

    // Leads after the index: found with the indexed ones.
    store
        .leads()
        .insert_batch(vec![lead(
            "late",
            "Rui Quaresma",
            "rui@example.pt",
            at(3_000),
        )])
        .await
        .expect("insert");
    assert_eq!(
        found(&store, "quaresma", 50).await,
        ["late", "s-2090", "s-1000", "s-7"]
    );

    // Erasure and retention take a lead out of the index, in their own transaction.
    erasure_and_retention_leave(Index::Sqlite, &store, &connection, start).await;
    // The others are still indexed and found.
    assert_eq!(indexed_with(&connection, "qua").await, 4);
    assert_eq!(found(&store, "quaresma", 50).await.len(), 4);
    store.close().await;
}

#[tokio::test]
async fn the_server_indexes_new_leads_by_itself() {
    let app = spawn_app_on(Backend::Sqlite, "search_indexer", |_| {})
        .await
        .expect("sqlite");
    for n in 0..20 {
        let body = example_with(
            &format!("i-{n}"),
            json!({ "SenderName": format!("Eva Indexada {n}") }),
        );
        let response = app.deliver(Some(WEBHOOK_TOKEN), body.to_string()).await;
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
    }
    let store = app.database.open_store().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.search_index_lag().await.expect("lag") > 0 {
        assert!(
            Instant::now() < deadline,
            "the server never indexed its leads"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connection = Database::connect(&app.database.url).await.expect("open");
    assert_eq!(indexed_with(&connection, "xad").await, 20);
    assert_eq!(found(&store, "indexada 1", 50).await.len(), 11);
    store.close().await;
    app.stop().await.expect("served until stopped");
}

#[tokio::test]
async fn the_sqlite_search_index_migrates_down_and_up() {
    use lead_inbox_migration::Migrator;
    use sea_orm_migration::MigratorTrait;

    let database = TestDatabase::create(Backend::Sqlite, "search_index_migration")
        .await
        .expect("sqlite");
    let store = database.open_store().await;
    store
        .leads()
        .insert_batch(vec![lead(
            "m-1",
            "Lia Migrada",
            "lia@example.pt",
            Utc::now(),
        )])
        .await
        .expect("insert");
    store.index_all_for_search().await.expect("index");
    let connection = Database::connect(&database.url).await.expect("open");
    let tables = || {
        scalar::<i64>(
            &connection,
            "SELECT count(*) FROM sqlite_master WHERE name IN \
             ('lead_search', 'lead_search_progress', 'leads_leave_search')",
        )
    };
    assert_eq!(tables().await, 3);
    migrate_down_through(&connection, "m20261129_000009_sqlite_search_index").await;
    assert_eq!(tables().await, 0);
    // Erasing without the index works, and so does indexing from scratch after `up`.
    assert_eq!(
        store
            .leads()
            .erase_subject(&Subject::email("nobody@example.pt").expect("an email"))
            .await
            .expect("erase"),
        0
    );
    Migrator::up(&connection, None).await.expect("up");
    assert_eq!(tables().await, 3);
    assert_eq!(store.search_index_lag().await.expect("lag"), 1);
    assert_eq!(store.index_all_for_search().await.expect("index"), 1);
    assert_eq!(indexed_with(&connection, "lia").await, 1);
    assert_eq!(found(&store, "migrada", 50).await, ["m-1"]);
    store.close().await;
}

/// 2,100 leads: Silvas (a common term) and three Quaresmas, early, middle and late.
/// Returns the Quaresmas newest first, and the newest 60 Silvas.
async fn silvas_and_quaresmas(
    store: &SeaOrmStore,
    start: DateTime<Utc>,
) -> ([&'static str; 3], Vec<String>) {
    let quaresmas = [7_i64, 1_000, 2_090];
    let mut batch = Vec::new();
    for n in 0..2_100_i64 {
        let name = if quaresmas.contains(&n) {
            format!("Rita Quaresma {n}")
        } else {
            format!("Ana Silva {n}")
        };
        batch.push(lead(
            &format!("s-{n}"),
            &name,
            &format!("p{n}@example.pt"),
            start + chrono::Duration::seconds(n),
        ));
        if batch.len() == 256 {
            store
                .leads()
                .insert_batch(std::mem::take(&mut batch))
                .await
                .expect("insert");
        }
    }
    store.leads().insert_batch(batch).await.expect("insert");
    let newest_silvas = (0..2_100_i64)
        .rev()
        .filter(|n| !quaresmas.contains(n))
        .take(60)
        .map(|n| format!("s-{n}"))
        .collect();
    (["s-2090", "s-1000", "s-7"], newest_silvas)
}

/// The first page of a search for `term`, 60 leads.
async fn first_page(store: &SeaOrmStore, term: &str) -> Vec<String> {
    store
        .leads()
        .list(
            &LeadFilter {
                search: Some(fold(term)),
                ..LeadFilter::default()
            },
            PageRequest::new(Some(60), None).expect("a page"),
        )
        .await
        .expect("list")
        .items
        .iter()
        .map(|l| l.reference().as_str().to_owned())
        .collect()
}

/// How many leads hold the trigram `trigram` in MySQL's index, read from the index.
async fn mysql_indexed_with(connection: &DatabaseConnection, trigram: &str) -> i64 {
    scalar(
        connection,
        &format!(
            "SELECT count(*) FROM lead_search_grams \
             WHERE MATCH (grams) AGAINST ('+{}' IN BOOLEAN MODE)",
            trigram_word(trigram)
        ),
    )
    .await
}

/// Which search index a test reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Index {
    Sqlite,
    MySql,
}

impl Index {
    /// How many leads hold `trigram` in this index, read from the index itself.
    async fn holding(self, connection: &DatabaseConnection, trigram: &str) -> i64 {
        match self {
            Index::Sqlite => indexed_with(connection, trigram).await,
            Index::MySql => mysql_indexed_with(connection, trigram).await,
        }
    }
}

/// Stores a lead to erase and one past retention, both indexed, then checks that
/// erasure and the retention purge take each out of `index`.
async fn erasure_and_retention_leave(
    index: Index,
    store: &SeaOrmStore,
    connection: &DatabaseConnection,
    start: DateTime<Utc>,
) {
    store
        .leads()
        .insert_batch(vec![
            lead(
                "erased",
                "Zé Xkwq",
                "xkwq@example.pt",
                start + chrono::Duration::seconds(3_001),
            ),
            lead(
                "purged",
                "Vqjz Old",
                "vqjz@example.pt",
                start - chrono::Duration::days(400),
            ),
        ])
        .await
        .expect("insert");
    store.index_all_for_search().await.expect("catch up");
    assert_eq!(index.holding(connection, "xkw").await, 1);
    assert_eq!(index.holding(connection, "vqj").await, 1);
    let subject = Subject::email("xkwq@example.pt").expect("an email");
    assert_eq!(
        store.leads().erase_subject(&subject).await.expect("erase"),
        1
    );
    assert_eq!(index.holding(connection, "xkw").await, 0);
    assert!(found(store, "xkwq", 50).await.is_empty());
    let purged = store
        .leads()
        .purge_received_before(start - chrono::Duration::days(300), 100)
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    assert_eq!(index.holding(connection, "vqj").await, 0);
}

#[tokio::test]
async fn mysql_searches_ask_the_fulltext_index() {
    let Some(database) = TestDatabase::create(Backend::MySql, "mysql_search_index").await else {
        return;
    };
    let store = database.open_store().await;
    let start = Utc::now() - chrono::Duration::days(1);
    let (rare, newest_silvas) = silvas_and_quaresmas(&store, start).await;
    let connection = Database::connect(&database.url).await.expect("open");
    let rows = || scalar::<i64>(&connection, "SELECT count(*) FROM lead_search_grams");
    assert_eq!(rows().await, 2_100, "every lead is indexed as it is stored");
    assert_eq!(mysql_indexed_with(&connection, "qua").await, 3);

    // The index answers, accents and case folded, in pages.
    assert_eq!(found(&store, "QUARESMA", 2).await, rare);
    assert_eq!(found(&store, "Quarésma", 50).await, rare);
    assert_eq!(found(&store, "rita quaresma 10", 50).await, ["s-1000"]);
    assert!(found(&store, "quaresmas", 50).await.is_empty());
    // A lead taken out of the index behind the store's back is not found any more
    // (and is again once put back).
    connection
        .execute_unprepared(
            "DELETE FROM lead_search_grams WHERE lead_id = \
             (SELECT id FROM leads WHERE lead_reference = 's-1000')",
        )
        .await
        .expect("take out");
    assert_eq!(found(&store, "quaresma", 50).await, ["s-2090", "s-7"]);
    let words = trigram_words(&fold("Rita Quaresma 1000"));
    connection
        .execute_unprepared(&format!(
            "INSERT INTO lead_search_grams (lead_id, grams) \
             SELECT id, '{words}' FROM leads WHERE lead_reference = 's-1000'"
        ))
        .await
        .expect("put back");
    assert_eq!(found(&store, "quaresma", 50).await, rare);

    // A term shorter than a trigram, and a common one, walk the leads instead.
    assert_eq!(found(&store, "a 1", 500).await.len(), 1_111);
    assert_eq!(first_page(&store, "silva").await, newest_silvas);

    // Accents fold away before indexing; a term without a trigram of ASCII letters and
    // digits (none of them is indexed) walks the leads.
    store
        .leads()
        .insert_batch(vec![lead(
            "accents",
            "Zoë Ñandú",
            "zoe.n@example.pt",
            start + chrono::Duration::seconds(3_000),
        )])
        .await
        .expect("insert");
    assert_eq!(found(&store, "ÑANDU", 50).await, ["accents"]);
    assert_eq!(found(&store, "zoe n", 50).await, ["accents"]);
    assert_eq!(found(&store, "e.n@ex", 50).await, ["accents"]);

    // Erasure and retention delete a lead's row with the lead.
    erasure_and_retention_leave(Index::MySql, &store, &connection, start).await;
    assert_eq!(rows().await, 2_101);

    // Down and up again: the migration indexes the leads stored before it.
    migrate_down_through(&connection, "m20261129_000010_mysql_search_index").await;
    let tables = || {
        scalar::<i64>(
            &connection,
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_schema = database() AND table_name = 'lead_search_grams'",
        )
    };
    assert_eq!(tables().await, 0);
    lead_inbox_migration::Migrator::up(&connection, None)
        .await
        .expect("up");
    assert_eq!(rows().await, 2_101);
    assert_eq!(mysql_indexed_with(&connection, "qua").await, 3);
    assert_eq!(found(&store, "quaresma", 50).await, rare);
    assert_eq!(found(&store, "e.n@ex", 50).await, ["accents"]);
    store.close().await;
}
