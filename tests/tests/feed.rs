//! End-to-end: the live feed (Server-Sent Events), its resumption with
//! `Last-Event-ID`, and delivery by every instance on one database.

use std::time::Duration;

use futures_util::StreamExt;
use lead_inbox_server::Application;
use lead_inbox_tests::{
    API_KEY, Backend, TestApp, WEBHOOK_TOKEN, example, spawn_app, spawn_app_on, spawn_app_with,
    test_config,
};
use serde_json::Value;

/// One SSE event's fields.
#[derive(Debug)]
struct Sse {
    id: String,
    event: String,
    data: Value,
    /// `data` as sent.
    raw: String,
}

/// An open event stream.
struct Feed {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
    content_type: String,
    buffering: String,
}

impl Feed {
    async fn open(base: &str, last_event_id: Option<&str>) -> Feed {
        let mut request = reqwest::Client::new()
            .get(format!("{base}/api/v1/leads/stream"))
            .bearer_auth(API_KEY);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("the stream opens");
        assert_eq!(response.status().as_u16(), 200);
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        Feed {
            content_type: header("content-type"),
            buffering: header("x-accel-buffering"),
            body: response
                .bytes_stream()
                .map(|chunk| chunk.map(|bytes| bytes.to_vec()))
                .boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (comment lines, the heartbeats, are skipped).
    async fn next(&mut self) -> Sse {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let field = |name: &str| {
                        block
                            .lines()
                            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
                            .map(str::to_owned)
                    };
                    let Some(data) = field("data") else {
                        continue;
                    };
                    return Sse {
                        id: field("id").expect("an id"),
                        event: field("event").expect("an event type"),
                        data: serde_json::from_str(&data).expect("JSON data"),
                        raw: data,
                    };
                }
                let chunk = self
                    .body
                    .next()
                    .await
                    .expect("the stream stays open")
                    .expect("bytes");
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("an event within 10 s")
    }
}

async fn deliver(app: &TestApp, reference: &str) {
    let response = app
        .deliver(Some(WEBHOOK_TOKEN), example(reference).to_string())
        .await;
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_live_feed_sends_new_leads_and_changes_and_resumes_without_gap_or_repeat() {
    let Some(app) = spawn_app("the_live_feed_sends_new_leads_and_changes").await else {
        return;
    };
    deliver(&app, "f-before").await;
    let base = app.url("");
    let mut feed = Feed::open(&base, None).await;
    assert_eq!(feed.content_type, "text/event-stream");
    assert_eq!(feed.buffering, "no");

    // Without Last-Event-ID the stream starts with what happens next.
    deliver(&app, "f-1").await;
    let created = feed.next().await;
    assert_eq!(created.event, "lead.created");
    assert_eq!(created.data["kind"], "created");
    assert_eq!(created.data["lead"]["leadReference"], "f-1");
    assert_eq!(created.data["eventId"].to_string(), created.id);

    let patched = app
        .client
        .patch(app.url("/api/v1/leads/f-1"))
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({"status": "contacted", "version": 1}))
        .send()
        .await
        .expect("answer");
    assert_eq!(patched.status().as_u16(), 200);
    let updated = feed.next().await;
    assert_eq!(updated.event, "lead.updated");
    assert_eq!(updated.data["lead"]["status"], "contacted");
    assert!(updated.id.parse::<i64>().expect("id") > created.id.parse::<i64>().expect("id"));
    deliver(&app, "f-2").await;
    let second = feed.next().await;
    assert_eq!(second.data["lead"]["leadReference"], "f-2");
    drop(feed);

    // A client that saw only `created` resumes: the rest, in order, nothing twice.
    let mut resumed = Feed::open(&base, Some(&created.id)).await;
    let again: Vec<String> = vec![resumed.next().await.id, resumed.next().await.id];
    assert_eq!(again, [updated.id.clone(), second.id.clone()]);
    let (status, _) = app.api_get("/api/v1/leads/stream?lastEventId=-1").await;
    assert_eq!(status, 400);

    // A second instance on the same database delivers what the first one stored.
    let other = Application::build(test_config(&app.database.url))
        .await
        .expect("a second instance starts");
    let other_base = format!("http://{}", other.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(other.run_until(async {
        let _ = stopped.await;
    }));
    let mut elsewhere = Feed::open(&other_base, Some(&second.id)).await;
    deliver(&app, "f-3").await;
    let seen = elsewhere.next().await;
    assert_eq!(seen.data["lead"]["leadReference"], "f-3");
    let next_on_first = resumed.next().await;
    assert_eq!(
        next_on_first.id, seen.id,
        "both instances send the same event"
    );

    // Shutting down ends the stream instead of holding the server up.
    let _ = stop.send(());
    let finished = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the instance stopped with a client connected");
    finished
        .expect("the server task did not panic")
        .expect("the server ended without an error");
    let _ = elsewhere.body.next().await;
    app.stop()
        .await
        .expect("the first instance ended without an error");
}

/// Forwarding's `lead` format is the live feed's `data`, byte for byte.
#[tokio::test]
async fn the_lead_format_is_the_feeds_data_byte_for_byte() {
    use lead_inbox_application::{FeedItem, LeadEventLog, LeadReader, forwarding::EventRenderer};
    use lead_inbox_http::FeedRenderer;

    let Some(app) =
        lead_inbox_tests::spawn_app_on(lead_inbox_tests::Backend::Sqlite, "feed-renderer", |_| {})
            .await
    else {
        return;
    };
    let answer = app
        .deliver(Some(WEBHOOK_TOKEN), example("CY-RENDER-1").to_string())
        .await;
    assert_eq!(answer.status().as_u16(), 200);
    let mut feed = Feed::open(&app.url(""), Some("0")).await;
    let sent = feed.next().await;
    assert_eq!(sent.data["lead"]["leadReference"], "CY-RENDER-1");

    let store = app.database.open_store().await;
    let leads = store.leads();
    let event = leads.events_after(0, 1).await.expect("events").remove(0);
    let lead = leads
        .get_by_id(event.lead_id)
        .await
        .expect("read")
        .expect("the lead");
    let item = FeedItem { event, lead };
    assert_eq!(item.event.id.to_string(), sent.id);
    let rendered = FeedRenderer.render(&item);
    assert_eq!(String::from_utf8(rendered).expect("UTF-8"), sent.raw);
    store.close().await;
    app.stop().await.expect("stopped");
}

/// A lead delivered to `app`; the time its answer came.
async fn deliver_timed(app_url: &str, reference: &str) -> std::time::Instant {
    let response = reqwest::Client::new()
        .post(format!("{app_url}/webhooks/casayes/leads"))
        .header("content-type", "application/json")
        .header("token", WEBHOOK_TOKEN)
        .body(example(reference).to_string())
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status().as_u16(), 200);
    std::time::Instant::now()
}

/// Delivers `count` new leads to `to` one at a time, each once the feed is idle, and
/// checks that `feed` sends each, in order, less than `bound` after the webhook's
/// answer; prints how long each took, labelled `what`.
async fn assert_quick(to: &str, feed: &mut Feed, prefix: &str, bound: Duration, what: &str) {
    let count = 5;
    let mut waits = Vec::new();
    for n in 0..count {
        // Idle: the reader has nothing to do and waits.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let reference = format!("{prefix}-{n}");
        let answered = deliver_timed(to, &reference).await;
        let event = feed.next().await;
        waits.push(answered.elapsed());
        assert_eq!(event.data["lead"]["leadReference"], reference.as_str());
    }
    println!("{what}: {waits:?}");
    let slowest = waits.iter().max().copied().unwrap_or_default();
    assert!(slowest < bound, "{what}: the slowest took {slowest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_lead_reaches_an_idle_client_within_milliseconds() {
    // A poll of a minute: only the wake-up on commit can be that quick.
    let Some(app) = spawn_app_with("a new lead reaches an idle client", |config| {
        config.feed_poll_millis = 60_000;
    })
    .await
    else {
        return;
    };
    let mut feed = Feed::open(&app.url(""), None).await;
    // The bound is generous for a loaded machine, yet far below the minute-long poll;
    // in practice a few milliseconds (see the printed numbers).
    assert_quick(
        &app.url(""),
        &mut feed,
        "quick",
        Duration::from_secs(2),
        "from the webhook's answer to the SSE client",
    )
    .await;
    // A change through the API wakes it too.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let patched = app
        .client
        .patch(app.url("/api/v1/leads/quick-0"))
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({"status": "contacted", "version": 1}))
        .send()
        .await
        .expect("answer");
    assert_eq!(patched.status().as_u16(), 200);
    let answered = std::time::Instant::now();
    let updated = feed.next().await;
    let waited = answered.elapsed();
    println!("from the PATCH's answer to the SSE client: {waited:?}");
    assert_eq!(updated.event, "lead.updated");
    assert_eq!(updated.data["lead"]["leadReference"], "quick-0");
    assert!(
        waited < Duration::from_secs(2),
        "the change took {waited:?}"
    );
    drop(feed);
    app.stop().await.expect("the server ended without an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_resuming_with_last_event_id_while_leads_keep_coming_misses_none_and_repeats_none()
{
    let Some(app) = spawn_app("resuming while leads keep coming").await else {
        return;
    };
    const LEADS: usize = 60;
    let base = app.url("");
    let mut feed = Feed::open(&base, None).await;
    let url = base.clone();
    let writer = tokio::spawn(async move {
        for n in 0..LEADS {
            deliver_timed(&url, &format!("steady-{n:03}")).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let mut seen: Vec<(i64, String)> = Vec::new();
    let take = |event: Sse, seen: &mut Vec<(i64, String)>| {
        let reference = event.data["lead"]["leadReference"]
            .as_str()
            .expect("a reference")
            .to_owned();
        seen.push((event.id.parse().expect("a numeric id"), reference));
    };
    // Leave twice in the middle of the flow and come back with the last id seen.
    for leave_after in [15, 35] {
        while seen.len() < leave_after {
            take(feed.next().await, &mut seen);
        }
        drop(feed);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let last = seen.last().expect("events seen").0.to_string();
        feed = Feed::open(&base, Some(&last)).await;
    }
    while seen.len() < LEADS {
        take(feed.next().await, &mut seen);
    }
    writer.await.expect("every lead was delivered");
    let references: Vec<String> = seen
        .iter()
        .map(|(_, reference)| reference.clone())
        .collect();
    let expected: Vec<String> = (0..LEADS).map(|n| format!("steady-{n:03}")).collect();
    assert_eq!(references, expected, "every lead once, in order");
    assert!(
        seen.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "ids increase: {seen:?}"
    );
    drop(feed);
    app.stop().await.expect("the server ended without an error");
}

/// The pids of the connections listening for events on the test's database.
async fn listeners(db: &sea_orm::DatabaseConnection) -> Vec<i32> {
    use sea_orm::{ConnectionTrait, Statement};
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN %' \
             ORDER BY pid",
        ))
        .await
        .expect("pg_stat_activity");
    rows.iter()
        .map(|row| row.try_get_by_index(0).expect("a pid"))
        .collect()
}

/// Waits (up to 10 s) until two connections listen, none of them one of `gone`; their
/// pids.
async fn two_listeners(db: &sea_orm::DatabaseConnection, gone: &[i32]) -> Vec<i32> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let pids = listeners(db).await;
            if pids.len() == 2 && pids.iter().all(|pid| !gone.contains(pid)) {
                return pids;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("both instances listen within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_on_postgres_wake_each_other_through_listen_notify_and_the_listener_recovers() {
    let slow_poll = |config: &mut lead_inbox_server::Config| config.feed_poll_millis = 60_000;
    let Some(first) = spawn_app_on(
        Backend::Postgres,
        "LISTEN/NOTIFY between instances",
        slow_poll,
    )
    .await
    else {
        return;
    };
    let mut config = test_config(&first.database.url);
    slow_poll(&mut config);
    let second = Application::build(config)
        .await
        .expect("a second instance starts");
    let second_base = format!("http://{}", second.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(second.run_until(async {
        let _ = stopped.await;
    }));
    let db = sea_orm::Database::connect(&first.database.url)
        .await
        .expect("the test database");
    // Both instances listen (each on a connection of its own).
    let listening = two_listeners(&db, &[]).await;

    // A lead posted to the first instance reaches a client of the second at once,
    // not at its poll a minute later.
    let mut feed = Feed::open(&second_base, None).await;
    assert_quick(
        &first.url(""),
        &mut feed,
        "across",
        Duration::from_secs(5),
        "from instance A's answer to instance B's SSE client",
    )
    .await;

    // Kill the listeners' connections: they listen again, on new connections.
    use sea_orm::ConnectionTrait;
    let killed: Vec<_> = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN %'",
        ))
        .await
        .expect("pg_terminate_backend");
    assert_eq!(killed.len(), 2);
    let relistening = two_listeners(&db, &listening).await;
    println!("listeners {listening:?} killed; listening again as {relistening:?}");
    assert_quick(
        &first.url(""),
        &mut feed,
        "recovered",
        Duration::from_secs(5),
        "after the listeners recovered",
    )
    .await;

    drop(feed);
    let _ = stop.send(());
    server
        .await
        .expect("the second instance did not panic")
        .expect("the second instance ended without an error");
    let database = first.stop_keeping_database().await;
    // Stopping an instance stops its listener.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !listeners(&db).await.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("no listener is left once both instances stopped");
    db.close().await.ok();
    drop(database);
}
