//! End-to-end: the data subject's rights (export, erasure) and what erasure leaves in
//! the database files. Runs on SQLite by default; `LEAD_INBOX_TEST_BACKEND=postgres`
//! (or `mysql`) runs it on a server. The byte-level check reads the SQLite files, or the
//! database's files in PostgreSQL's or MariaDB's data directory (the test must run on
//! the database's machine, as a user who can read them).

use std::path::{Path, PathBuf};

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use chrono::Utc;
use lead_inbox_application::{
    PageRequest, SubjectRights, SystemClock,
    forwarding::{DeliveryFilter, NewDestination},
};
use lead_inbox_domain::{
    LeadEventKind, Subject,
    forwarding::{Attempt, AttemptOutcome, DestinationKind, ForwardFormat, NewDelivery, Verdict},
};
use lead_inbox_tests::{
    Backend, TestApp, WEBHOOK_TOKEN, Writes, example_with, lead_references, new_lead, scalar,
    spawn_app, test_storage,
};
use reqwest::Method;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

const EMAIL: &str = "Joao.Silva@Example.PT";
const PHONE: &str = "919 555 777";
/// What must not be left anywhere once the person is erased (compared without case).
const TRACES: [&str; 3] = ["joao.silva@example.pt", "919 555 777", "919555777"];

async fn deliver(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app.deliver(Some(WEBHOOK_TOKEN), body.to_string()).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// Every file of the database `url` names: the SQLite file with its WAL and shared
/// memory, or the files of the PostgreSQL database (after a checkpoint, so that what
/// is in shared buffers is on disk), or MariaDB's table files of the database (after
/// `FLUSH TABLES ... FOR EXPORT`, which writes the tables' pages from InnoDB's buffer
/// pool into them).
///
/// Not scanned on MariaDB: the redo log (`ib_logfile0`) and the undo logs in the
/// system tablespace (`ibdata1`). The whole server shares them (every other test's
/// database writes there too), and they keep what was written until InnoDB recycles
/// them, whatever the application does: docs/operations.md says so, as it does for
/// PostgreSQL's write-ahead log, which is not scanned either.
async fn database_files(url: &str) -> Vec<PathBuf> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        return ["", "-wal", "-shm"]
            .iter()
            .map(|suffix| PathBuf::from(format!("{path}{suffix}")))
            .filter(|file| file.exists())
            .collect();
    }
    if url.starts_with("mysql") {
        return mariadb_files(url).await;
    }
    assert!(
        url.starts_with("postgres"),
        "no byte-level check for {url}: add one rather than skip it"
    );
    let db = Database::connect(url).await.expect("connect");
    db.execute_unprepared("CHECKPOINT")
        .await
        .expect("CHECKPOINT");
    let data: String = scalar(&db, "SHOW data_directory").await;
    let oid: String = scalar(
        &db,
        "SELECT oid::text FROM pg_database WHERE datname = current_database()",
    )
    .await;
    db.close().await.ok();
    files_under(&Path::new(&data).join("base").join(oid))
}

/// The files of the MariaDB database `url` names, its tables' pages flushed into them.
async fn mariadb_files(url: &str) -> Vec<PathBuf> {
    // One connection: the lock `FOR EXPORT` takes belongs to the session that unlocks.
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).min_connections(1);
    let db = Database::connect(options).await.expect("connect");
    let data: String = scalar(&db, "SELECT @@datadir").await;
    let name: String = scalar(&db, "SELECT DATABASE()").await;
    let tables: Vec<String> = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE()",
        ))
        .await
        .expect("the tables")
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("a name"))
        .collect();
    assert!(tables.iter().any(|table| table == "leads"), "{tables:?}");
    db.execute_unprepared(&format!("FLUSH TABLES {} FOR EXPORT", tables.join(", ")))
        .await
        .expect("FLUSH TABLES ... FOR EXPORT");
    db.execute_unprepared("UNLOCK TABLES")
        .await
        .expect("UNLOCK TABLES");
    db.close().await.ok();
    let folder = Path::new(&data).join(&name);
    assert!(
        std::fs::read_dir(&folder).is_ok(),
        "MariaDB's data directory {} is not readable here: run the test on the database's \
         machine as a user who can read it (root, or mysql)",
        folder.display()
    );
    files_under(&folder)
}

/// Every file under `folder`, however deep.
fn files_under(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![folder.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("the data directory is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Which of [`TRACES`] appear in `files`, ignoring ASCII case.
fn traces_in(files: &[PathBuf]) -> Vec<&'static str> {
    found_in(files, &TRACES)
}

/// Which of `traces` (lower case) appear in `files`, ignoring ASCII case.
fn found_in(files: &[PathBuf], traces: &[&'static str]) -> Vec<&'static str> {
    let bytes: Vec<u8> = files
        .iter()
        .flat_map(|file| std::fs::read(file).unwrap_or_default())
        .map(|byte| byte.to_ascii_lowercase())
        .collect();
    traces
        .iter()
        .copied()
        .filter(|trace| {
            bytes
                .windows(trace.len())
                .any(|window| window == trace.as_bytes())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_exported_then_erased_everywhere_for_good() {
    let Some(app) = spawn_app("a_person_is_exported_then_erased_everywhere_for_good").await else {
        return;
    };
    let person = json!({"SenderEmail": EMAIL, "SenderPhone": PHONE, "SenderName": "João Silva"});
    for reference in ["p-joao-1", "p-joao-2"] {
        let (status, body) = deliver(&app, example_with(reference, person.clone())).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("created")),
            "{body}"
        );
    }
    // A note that repeats the phone: it goes with the lead.
    let noted = app
        .client
        .patch(app.url("/api/v1/leads/p-joao-1"))
        .bearer_auth(lead_inbox_tests::API_KEY)
        .json(&json!({"note": "ligar para 919 555 777", "status": "contacted", "version": 1}))
        .send()
        .await
        .expect("answer");
    assert_eq!(noted.status().as_u16(), 200);
    let other = json!({"SenderEmail": "ana@example.pt", "SenderPhone": "912000111"});
    assert_eq!(deliver(&app, example_with("p-ana", other)).await.0, 200);
    // No reference: quarantined, and it mentions the person.
    let (status, _) = deliver(
        &app,
        json!({"SenderEmail": "joao.silva@example.pt", "Message": "call me"}),
    )
    .await;
    assert_eq!(status, 400);

    let (status, export) = app
        .api_get("/api/v1/subjects/export?email=JOAO.SILVA%40example.pt")
        .await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["subjectKind"], "email");
    assert_eq!(export["subject"], "joao.silva@example.pt");
    assert_eq!(lead_references(&export["leads"]), ["p-joao-1", "p-joao-2"]);
    assert_eq!(export["leads"][0]["sender"]["email"], EMAIL);
    assert_eq!(export["leads"][0]["original"]["SenderPhone"], PHONE);
    let quarantined = export["quarantined"].as_array().expect("quarantined");
    assert_eq!(quarantined.len(), 1);
    assert!(
        quarantined[0]["rawText"]
            .as_str()
            .is_some_and(|raw| raw.contains("call me"))
    );
    for bad in [
        "/api/v1/subjects/export",
        "/api/v1/subjects/export?email=a%40b.pt&phone=919555777",
        "/api/v1/subjects/export?phone=12",
    ] {
        let (status, body) = app.api_get(bad).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_request")),
            "{bad}"
        );
    }

    if app.database.url != "memory://" {
        let files = database_files(&app.database.url).await;
        assert_eq!(
            traces_in(&files),
            TRACES,
            "before erasure the person is in the files (the check can fail)"
        );
    }

    // By phone first: both leads go; the quarantined payload names only the email.
    let (status, by_phone) = app
        .api_call(Method::DELETE, "/api/v1/subjects?phone=%2B351919555777")
        .await;
    assert_eq!(status, 200, "{by_phone}");
    assert_eq!(
        (by_phone["leads"].as_u64(), by_phone["quarantined"].as_u64()),
        (Some(2), Some(0))
    );
    let (status, by_email) = app
        .api_call(
            Method::DELETE,
            "/api/v1/subjects?email=joao.silva%40example.pt",
        )
        .await;
    assert_eq!(status, 200, "{by_email}");
    assert_eq!(
        (by_email["leads"].as_u64(), by_email["quarantined"].as_u64()),
        (Some(0), Some(1))
    );

    let (_, export) = app.api_get("/api/v1/subjects/export?phone=919555777").await;
    assert_eq!(export["leads"], json!([]));
    let (status, _) = app.api_get("/api/v1/leads/p-joao-1").await;
    assert_eq!(status, 404);
    let (_, list) = app.api_get("/api/v1/leads").await;
    assert_eq!(
        lead_references(&list["items"]),
        ["p-ana"],
        "nobody else's data goes"
    );
    let (_, quarantine) = app.api_get("/api/v1/quarantine").await;
    assert_eq!(quarantine["items"], json!([]));

    // CasaYes redelivers: acknowledged, not stored again.
    let (status, body) = deliver(&app, example_with("p-joao-1", person.clone())).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("erased")),
        "{body}"
    );
    let (status, _) = app.api_get("/api/v1/leads/p-joao-1").await;
    assert_eq!(status, 404, "a redelivery does not bring it back");

    // The audit log: newest first, no personal data, hashes that tell subjects apart.
    let (status, log) = app.api_get("/api/v1/erasures").await;
    assert_eq!(status, 200, "{log}");
    let entries = log["items"].as_array().expect("items");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["id"], by_email["id"]);
    assert_eq!(entries[0]["subjectKind"], "email");
    assert_eq!(entries[1]["subjectKind"], "phone");
    for entry in entries {
        let hash = entry["subjectHash"].as_str().expect("hash");
        assert!(
            hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()),
            "{hash}"
        );
    }
    assert_ne!(entries[0]["subjectHash"], entries[1]["subjectHash"]);
    assert_eq!(
        entries[1]["erasedAt"], by_phone["erasedAt"],
        "the answer is what is kept"
    );
    let printed = log.to_string().to_lowercase();
    assert!(
        TRACES.iter().all(|trace| !printed.contains(trace)),
        "{printed}"
    );

    let url = app.database.url.clone();
    let database = app.stop_keeping_database().await;
    if url != "memory://" {
        let files = database_files(&url).await;
        assert!(!files.is_empty());
        assert_eq!(
            traces_in(&files),
            Vec::<&str>::new(),
            "the person's email and phone are nowhere in {files:?}"
        );
    }
    drop(database);
}

/// Waits (up to 10 s) until no other session of the PostgreSQL database `url` holds a
/// snapshot. `VACUUM FULL` keeps a deleted row that a snapshot older than the delete
/// may still see. Erasing right after the test's first writes left the erased rows in
/// the files in 3 runs of 8 without this wait (none in 12 with it or with a 1 s pause);
/// the likely holder is autovacuum's `ANALYZE` of the catalogs a fresh database's
/// migrations filled.
async fn no_older_snapshots(url: &str) {
    let db = Database::connect(url).await.expect("connect");
    for _ in 0..100 {
        let holding: i64 = scalar(
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL",
        )
        .await;
        if holding == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.close().await.ok();
}

/// Forwarding keeps a person's data beside the lead: the delivery names the lead, and an
/// attempt keeps the first KiB of the CRM's answer, which may echo it. Erasing the
/// person deletes both, and the scrub leaves none of their bytes in the files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_deletes_the_deliveries_and_attempt_bodies_from_the_files() {
    /// Only in the CRM's answer, which only the attempt keeps.
    const ECHO: &str = "crm-echo-7f3a91";
    let Some(storage) = test_storage(
        Backend::for_end_to_end(),
        Writes::Direct,
        "erasure_deletes_the_deliveries_and_attempt_bodies_from_the_files",
    )
    .await
    else {
        return;
    };
    let now = Utc::now();
    let person = json!({"SenderEmail": EMAIL, "SenderPhone": PHONE});
    let other = json!({"SenderEmail": "ana@example.pt", "SenderPhone": "912000111"});
    storage
        .writer
        .insert_batch(vec![
            new_lead(
                serde_json::to_vec(&example_with("fw-joao", person)).expect("json"),
                now,
            ),
            new_lead(
                serde_json::to_vec(&example_with("fw-ana", other)).expect("json"),
                now,
            ),
        ])
        .await
        .expect("insert");
    let destination = storage
        .destinations
        .create(NewDestination {
            kind: DestinationKind::Webhook,
            url: "https://crm.example/hook".into(),
            subject: None,
            events: BTreeSet::from([LeadEventKind::Created]),
            format: ForwardFormat::Lead,
            entity_types: None,
            description: None,
            max_in_flight: 8,
            secrets: Vec::new(),
            casayes_token: None,
            after_event: 0,
            created_at: now,
        })
        .await
        .expect("destination");
    let events = storage.events.events_after(0, 10).await.expect("events");
    let mut deliveries = Vec::new();
    for event in &events {
        let lead = storage
            .reader
            .get_by_id(event.lead_id)
            .await
            .expect("get")
            .expect("stored");
        deliveries.push(NewDelivery {
            destination_id: destination.id,
            event_id: event.id,
            kind: event.kind,
            event_at: event.at,
            lead_id: lead.id,
            lead_reference: lead.reference().clone(),
            replay: 0,
            message_id: format!("msg_{:032x}", event.id),
            created_at: now,
        });
    }
    assert_eq!(
        storage
            .deliveries
            .enqueue(deliveries, events.len() as i64)
            .await
            .expect("enqueue"),
        2
    );
    let claimed = storage
        .deliveries
        .claim(
            destination.id,
            "test",
            now,
            now + chrono::Duration::seconds(30),
            10,
        )
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    for delivery in &claimed {
        let echo = format!(
            "{{\"error\":\"rejected\",\"lead\":\"{}\",\"trace\":\"{ECHO}-{}\"}}",
            delivery.lead_reference.as_str(),
            if delivery.lead_reference.as_str() == "fw-joao" {
                format!("{EMAIL} {PHONE}")
            } else {
                "ana".into()
            },
        );
        let attempt = Attempt {
            at: now,
            status_code: Some(422),
            latency: Duration::from_millis(3),
            error: None,
            response: Some(echo),
            verdict: Verdict::Retry { not_before: None },
        };
        assert!(
            storage
                .deliveries
                .finish(delivery.id, "test", &attempt, AttemptOutcome::Failed)
                .await
                .expect("finish")
        );
    }
    let is_file = storage.database.url != "memory://";
    let echo_trace: &'static str = "crm-echo-7f3a91-joao.silva@example.pt";
    if is_file {
        let files = database_files(&storage.database.url).await;
        assert_eq!(
            found_in(&files, &[echo_trace]),
            [echo_trace],
            "before erasure the answer is in the files (the check can fail)"
        );
    }

    let rights = SubjectRights::new(
        storage.erasure.clone(),
        storage.quarantine.clone(),
        storage.erasures.clone(),
        Arc::new(SystemClock),
        None,
    );
    if storage.database.url.starts_with("postgres") {
        no_older_snapshots(&storage.database.url).await;
    }
    let record = rights
        .erase(&Subject::email(EMAIL).expect("email"), "test")
        .await
        .expect("erase");
    assert_eq!(record.leads, 1);
    let left = storage
        .deliveries
        .list(
            &DeliveryFilter::default(),
            PageRequest::new(Some(10), None).expect("page"),
        )
        .await
        .expect("list");
    let left: Vec<(&str, usize)> = left
        .items
        .iter()
        .map(|(delivery, attempts)| (delivery.lead_reference.as_str(), attempts.len()))
        .collect();
    assert_eq!(
        left,
        [("fw-ana", 1)],
        "only the other person's delivery stays"
    );
    for delivery in claimed
        .iter()
        .filter(|d| d.lead_reference.as_str() == "fw-joao")
    {
        assert_eq!(
            storage.deliveries.get(delivery.id).await.expect("get"),
            None
        );
    }
    if is_file {
        let files = database_files(&storage.database.url).await;
        let mut traces = vec![echo_trace];
        traces.extend(TRACES);
        assert_eq!(
            found_in(&files, &traces),
            Vec::<&str>::new(),
            "the answer, email and phone are nowhere in {files:?}"
        );
        assert_eq!(
            found_in(&files, &["crm-echo-7f3a91-ana"]),
            ["crm-echo-7f3a91-ana"],
            "the other person's attempt stays"
        );
    }
}
