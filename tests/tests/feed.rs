//! End-to-end: the live feed (Server-Sent Events), its resumption with
//! `Last-Event-ID`, and delivery by every instance on one database.

use std::time::Duration;

use futures_util::StreamExt;
use lead_inbox_server::Application;
use lead_inbox_tests::{API_KEY, TestApp, WEBHOOK_TOKEN, example, spawn_app, test_config};
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
    use lead_inbox_application::{LeadFeed, forwarding::EventRenderer};
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
    let leads = std::sync::Arc::new(store.leads());
    let mut events = Box::pin(LeadFeed::new(leads.clone(), leads).follow(0));
    let item = events.next().await.expect("the event");
    assert_eq!(item.event.id.to_string(), sent.id);
    let rendered = FeedRenderer.render(&item);
    assert_eq!(String::from_utf8(rendered).expect("UTF-8"), sent.raw);
    store.close().await;
    app.stop().await.expect("stopped");
}
