//! End-to-end: the real server forwards to a real HTTP receiver. Signatures are checked
//! with the `standardwebhooks` crate (a verifier we did not write); the `casayes` format
//! is the exact bytes CasaYes posted; a receiver down for 30 s gets every lead once it
//! is up; a lead refused every time ends `failed` and a retry through the API delivers
//! it; `410` disables the destination; two instances on one PostgreSQL send each event
//! once.

use std::{collections::HashMap, time::Duration};

use lead_inbox_server::{Application, Config};
use lead_inbox_tests::{
    Backend, TestApp, WEBHOOK_TOKEN, example,
    receiver::{Received, Receiver},
    spawn_app_on, spawn_app_with, test_config,
};
use reqwest::Method;
use serde_json::{Value, json};

/// Creates a destination; its id and its secret.
async fn destination(app: &TestApp, body: Value) -> (i64, String) {
    let (status, answer) = app
        .api_json(Method::POST, "/api/v1/destinations", Some(body))
        .await;
    assert_eq!(status, 201, "{answer}");
    (
        answer["destination"]["id"].as_i64().expect("an id"),
        answer["secret"].as_str().expect("a secret").to_owned(),
    )
}

/// Posts the example lead with `reference` as CasaYes does; it must be acknowledged.
async fn post_lead(app: &TestApp, reference: &str) {
    let response = app
        .deliver(Some(WEBHOOK_TOKEN), example(reference).to_string())
        .await;
    assert_eq!(response.status().as_u16(), 200, "{reference}");
}

/// A server that forwards to loopback, retrying on `schedule`.
async fn forwarding_app(what: &str, schedule: &str) -> Option<TestApp> {
    let schedule = schedule.to_owned();
    spawn_app_with(what, move |config| forwarding(config, &schedule)).await
}

fn forwarding(config: &mut Config, schedule: &str) {
    config.forward_allow_private = true;
    config.forward_retry_schedule = Some(schedule.to_owned());
    config.forward_timeout_seconds = 5;
}

/// The reference of the lead a `lead`-format request carries.
fn reference_of(request: &Received) -> String {
    request.json()["lead"]["leadReference"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The deliveries the API lists with `query`, by lead reference.
async fn deliveries(app: &TestApp, query: &str) -> HashMap<String, Value> {
    let (status, page) = app
        .api_json(
            Method::GET,
            &format!("/api/v1/deliveries?limit=500&{query}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| {
            (
                d["leadReference"].as_str().expect("a reference").to_owned(),
                d.clone(),
            )
        })
        .collect()
}

/// Waits until the API lists `query`'s deliveries as `predicate` wants, for up to `limit`.
async fn until_deliveries(
    app: &TestApp,
    query: &str,
    limit: Duration,
    predicate: impl Fn(&HashMap<String, Value>) -> bool,
) -> HashMap<String, Value> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let listed = deliveries(app, query).await;
        if predicate(&listed) {
            return listed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the deliveries did not become as expected within {limit:?}: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn both_formats_reach_a_real_receiver_signed_and_the_casayes_one_byte_for_byte() {
    let Some(app) = forwarding_app("forward-formats", "1s,1s,2s").await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (lead_id, lead_secret) = destination(
        &app,
        json!({"url": receiver.url(), "events": ["lead.created", "lead.updated"]}),
    )
    .await;
    let (casayes_id, casayes_secret) = destination(
        &app,
        json!({"url": receiver.url(), "format": "casayes", "casayesToken": "crm-own-token"}),
    )
    .await;

    // CasaYes's bytes as they were posted: spacing, key order and escapes of its own.
    let posted = "{ \"LeadReference\" : \"FWD-BYTES-1\",\n  \"SenderName\": \"Ana \\u00c1vila\", \
                  \"SenderEmail\": \"ana@example.pt\", \"EntityType\": \"Listing\" }";
    let response = app.deliver(Some(WEBHOOK_TOKEN), posted).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        receiver
            .wait_for(Duration::from_secs(20), |r| r.len() >= 2)
            .await,
        "two requests: {:?}",
        receiver.received()
    );
    let received = receiver.received();
    let casayes: Vec<&Received> = received
        .iter()
        .filter(|r| r.json().get("lead").is_none())
        .collect();
    let lead: Vec<&Received> = received
        .iter()
        .filter(|r| r.json().get("lead").is_some())
        .collect();
    assert_eq!((casayes.len(), lead.len()), (1, 1), "{received:?}");

    let casayes = casayes[0];
    assert_eq!(
        casayes.body,
        posted.as_bytes(),
        "the exact bytes CasaYes posted"
    );
    assert_eq!(casayes.header("token"), Some("crm-own-token"));
    assert!(casayes.verifies_with(&casayes_secret));
    assert!(
        !casayes.verifies_with(&lead_secret),
        "each destination signs with its own"
    );

    let lead = lead[0];
    assert!(lead.verifies_with(&lead_secret));
    assert_eq!(
        lead.header("token"),
        None,
        "no CasaYes token on the lead format"
    );
    let body = lead.json();
    assert_eq!(body["kind"], "created");
    assert_eq!(body["lead"]["leadReference"], "FWD-BYTES-1");
    assert_eq!(body["lead"]["sender"]["name"], "Ana Ávila");
    assert!(body["eventId"].as_i64().is_some(), "{body}");
    for request in [casayes, lead] {
        assert_eq!(request.header("content-type"), Some("application/json"));
        let agent = request.header("user-agent").unwrap_or_default();
        assert_eq!(agent, format!("lead-inbox/{}", env!("CARGO_PKG_VERSION")));
        assert!(
            request
                .header("webhook-id")
                .is_some_and(|id| id.starts_with("msg_"))
        );
        let stamp: i64 = request
            .header("webhook-timestamp")
            .and_then(|t| t.parse().ok())
            .expect("a timestamp");
        assert!((chrono::Utc::now().timestamp() - stamp).abs() < 60);
    }

    // A change through the API goes to the destination that asked for lead.updated only.
    let (status, answer) = app
        .api_json(
            Method::PATCH,
            "/api/v1/leads/FWD-BYTES-1",
            Some(json!({"status": "contacted", "version": 1})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        receiver
            .wait_for(Duration::from_secs(20), |r| r.len() >= 3)
            .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 3, "nothing more: {received:?}");
    let updated = received[2].json();
    assert_eq!(updated["kind"], "updated");
    assert_eq!(updated["lead"]["status"], "contacted");
    assert!(received[2].verifies_with(&lead_secret));

    let by_destination = |id: i64| {
        let app = &app;
        async move { deliveries(app, &format!("destination={id}")).await }
    };
    let listed = by_destination(lead_id).await;
    assert_eq!(listed.len(), 1, "listed by reference: {listed:?}");
    let listed = by_destination(casayes_id).await;
    assert_eq!(listed["FWD-BYTES-1"]["status"], "delivered");
    app.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_receiver_down_for_30_seconds_gets_every_lead_once_it_is_up() {
    // The schedule spans the outage: 1 + 2 + 4 + 8 + 16 s, then 32 s more.
    let Some(app) = forwarding_app("forward-outage", "1s,2s,4s,8s,16s,32s,32s").await else {
        return;
    };
    let mut receiver = Receiver::start().await;
    let (_, secret) = destination(&app, json!({"url": receiver.url()})).await;
    receiver.down().await;
    let references: Vec<String> = (0..12).map(|n| format!("FWD-DOWN-{n:02}")).collect();
    for reference in &references {
        post_lead(&app, reference).await;
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    // Every attempt so far failed, and is recorded with its network error.
    let waiting = deliveries(&app, "status=pending").await;
    assert_eq!(waiting.len(), references.len(), "{waiting:?}");
    for delivery in waiting.values() {
        let attempts = delivery["attempts"].as_array().expect("attempts");
        assert!(attempts.len() >= 3, "tried while down: {delivery}");
        assert!(
            attempts
                .iter()
                .all(|a| a["statusCode"].is_null() && a["error"].is_string())
        );
    }
    receiver.up().await;
    assert!(
        receiver
            .wait_for(Duration::from_secs(60), |r| r.len() >= references.len())
            .await,
        "every lead after the outage: {:?}",
        receiver.received().len()
    );
    until_deliveries(&app, "status=delivered", Duration::from_secs(10), |d| {
        d.len() == references.len()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = receiver.received();
    let mut got: Vec<String> = received.iter().map(reference_of).collect();
    got.sort();
    assert_eq!(got, references, "each lead once, none lost, none twice");
    assert!(received.iter().all(|r| r.verifies_with(&secret)));
    app.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_lead_refused_every_time_ends_failed_and_a_retry_through_the_api_delivers_it() {
    let Some(app) = forwarding_app("forward-dead-letter", "1s,1s").await else {
        return;
    };
    let receiver = Receiver::start().await;
    receiver.answer_when("FWD-POISON", 500, None);
    let (destination_id, secret) = destination(&app, json!({"url": receiver.url()})).await;
    for reference in ["FWD-OK-1", "FWD-POISON", "FWD-OK-2"] {
        post_lead(&app, reference).await;
    }
    let listed = until_deliveries(
        &app,
        &format!("destination={destination_id}"),
        Duration::from_secs(30),
        |d| d.get("FWD-POISON").is_some_and(|p| p["status"] == "failed"),
    )
    .await;
    // The schedule (at once, 1 s, 1 s) is spent: three attempts, each a 500.
    let poison = &listed["FWD-POISON"];
    let attempts = poison["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 3, "{poison}");
    assert!(attempts.iter().all(|a| a["statusCode"] == 500));
    assert_eq!(listed["FWD-OK-1"]["status"], "delivered");
    assert_eq!(listed["FWD-OK-2"]["status"], "delivered");
    let dead = deliveries(&app, "status=failed").await;
    assert_eq!(dead.keys().collect::<Vec<_>>(), ["FWD-POISON"]);
    let message_id = poison["messageId"]
        .as_str()
        .expect("a message id")
        .to_owned();
    let refused: Vec<Received> = receiver
        .received()
        .into_iter()
        .filter(|r| reference_of(r) == "FWD-POISON")
        .collect();
    assert_eq!(refused.len(), 3);
    assert!(
        refused
            .iter()
            .all(|r| r.header("webhook-id") == Some(message_id.as_str()))
    );

    receiver.answer_all_ok();
    let id = poison["id"].as_i64().expect("an id");
    let (status, answer) = app
        .api_json(
            Method::POST,
            &format!("/api/v1/deliveries/{id}/retry"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        receiver
            .wait_for(Duration::from_secs(20), |r| r
                .iter()
                .any(|r| { reference_of(r) == "FWD-POISON" && r.status == 200 }))
            .await
    );
    let delivered = receiver
        .accepted()
        .into_iter()
        .find(|r| reference_of(r) == "FWD-POISON")
        .expect("delivered");
    assert_eq!(
        delivered.header("webhook-id"),
        Some(message_id.as_str()),
        "a retry keeps its id"
    );
    assert!(delivered.verifies_with(&secret));
    until_deliveries(&app, "status=failed", Duration::from_secs(10), |d| {
        d.is_empty()
    })
    .await;
    app.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn gone_disables_the_destination_and_nothing_more_is_sent_to_it() {
    let Some(app) = forwarding_app("forward-gone", "1s,1s,2s").await else {
        return;
    };
    let receiver = Receiver::start().await;
    receiver.answer_otherwise(410);
    let (id, _) = destination(&app, json!({"url": receiver.url()})).await;
    post_lead(&app, "FWD-GONE-1").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let view = loop {
        let (status, view) = app
            .api_json(Method::GET, &format!("/api/v1/destinations/{id}"), None)
            .await;
        assert_eq!(status, 200, "{view}");
        if view["enabled"] == false {
            break view;
        }
        assert!(std::time::Instant::now() < deadline, "not disabled: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(view["disabledReason"], "gone");
    let listed = deliveries(&app, &format!("destination={id}")).await;
    assert_eq!(listed["FWD-GONE-1"]["status"], "failed");
    assert_eq!(listed["FWD-GONE-1"]["attempts"][0]["statusCode"], 410);
    post_lead(&app, "FWD-GONE-2").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 1, "one request, then none: {received:?}");
    assert!(
        !deliveries(&app, &format!("destination={id}"))
            .await
            .contains_key("FWD-GONE-2")
    );
    app.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn two_instances_on_one_postgresql_send_each_event_once() {
    let Some(first) = spawn_app_on(Backend::Postgres, "forward-two", |config| {
        forwarding(config, "1s,1s,2s")
    })
    .await
    else {
        return;
    };
    let mut config = test_config(&first.database.url);
    forwarding(&mut config, "1s,1s,2s");
    let second = Application::build(config)
        .await
        .expect("the second instance starts");
    let second_address = second.address();
    let (stop_second, stopped) = tokio::sync::oneshot::channel::<()>();
    let second_task = tokio::spawn(second.run_until(async {
        let _ = stopped.await;
    }));

    let receiver = Receiver::start().await;
    receiver.delay_answers(Duration::from_millis(5));
    let (_, secret) = destination(&first, json!({"url": receiver.url(), "maxInFlight": 4})).await;
    let client = reqwest::Client::new();
    let references: Vec<String> = (0..120).map(|n| format!("FWD-TWO-{n:03}")).collect();
    for (n, reference) in references.iter().enumerate() {
        let address = if n % 2 == 0 {
            first.address
        } else {
            second_address
        };
        let response = client
            .post(format!("http://{address}/webhooks/casayes/leads"))
            .header("content-type", "application/json")
            .header("token", WEBHOOK_TOKEN)
            .body(example(reference).to_string())
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status().as_u16(), 200);
    }
    assert!(
        receiver
            .wait_for(Duration::from_secs(60), |r| r.len() >= references.len())
            .await,
        "every lead: {}",
        receiver.received().len()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = receiver.received();
    let mut got: Vec<String> = received.iter().map(reference_of).collect();
    got.sort();
    assert_eq!(got, references, "each event once across the two instances");
    assert!(received.iter().all(|r| r.verifies_with(&secret)));
    let _ = stop_second.send(());
    second_task.await.expect("joins").expect("a clean stop");
    first.stop().await.expect("a clean stop");
}
