//! End-to-end: the real server on port 0, a fresh database, HTTP requests. Runs on
//! SQLite by default; `LEAD_INBOX_TEST_BACKEND=postgres|mysql` runs it on a server.

use futures_util::future::join_all;
use lead_inbox_domain::casayes::SPEC_EXAMPLE;
use lead_inbox_tests::{
    API_KEY, TestApp, WEBHOOK_TOKEN, clean_example, example_with, lead_references, spawn_app,
    spawn_app_with,
};
use serde_json::{Value, json};

const SPEC_REFERENCE: &str = "CY-Listing-A3bT7Y2xL6w-b24e6f80-17c9-4a8f-92b3-7e123d4bcf90";

fn spec_example() -> Value {
    serde_json::from_str(SPEC_EXAMPLE).expect("JSON")
}

async fn deliver_json(app: &TestApp, body: &Value) -> (u16, Value) {
    let response = app.deliver(Some(WEBHOOK_TOKEN), body.to_string()).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

async fn lead(app: &TestApp, reference: &str) -> Value {
    let encoded: String = reference
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let (status, body) = app.api_get(&format!("/api/v1/leads/{encoded}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn lead_count(app: &TestApp) -> usize {
    let (status, body) = app.api_get("/api/v1/leads?limit=500").await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().expect("items").len()
}

async fn quarantine(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.api_get("/api/v1/quarantine?limit=500").await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().expect("items").clone()
}

fn anomalies(lead: &Value) -> Vec<(String, String)> {
    lead["anomalies"]
        .as_array()
        .expect("anomalies")
        .iter()
        .map(|a| {
            (
                a["field"].as_str().unwrap_or_default().to_owned(),
                a["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_spec_example_round_trips_field_by_field() {
    let Some(app) = spawn_app("the_spec_example_round_trips_field_by_field").await else {
        return;
    };
    let before = chrono::Utc::now();
    let (status, answer) = deliver_json(&app, &spec_example()).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"leadReference": SPEC_REFERENCE, "status": "created"})
    );

    let lead = lead(&app, SPEC_REFERENCE).await;
    assert_eq!(lead["leadReference"], SPEC_REFERENCE);
    assert_eq!(lead["entityType"], "Listing");
    assert_eq!(lead["entityPublicId"], "A3bT7Y2xL6w");
    assert_eq!(lead["entityReference"], "857632194-6");
    assert_eq!(lead["source"], "CasaYes");
    assert_eq!(lead["createdDate"], "2024-08-09T15:05:44.613151500Z");
    assert_eq!(
        lead["message"],
        "Hi, I’m interested in this listing and would like to schedule a viewing. Please contact me. Thanks"
    );
    assert_eq!(lead["sender"]["name"], "John Smith");
    assert_eq!(lead["sender"]["email"], "[email protected]");
    assert_eq!(lead["sender"]["emailNormalised"], Value::Null);
    assert_eq!(lead["sender"]["phone"], "919111222");
    assert_eq!(lead["sender"]["phoneE164"], "+351919111222");
    assert_eq!(lead["profile"]["numberResidents"], 2);
    assert_eq!(lead["profile"]["hasPets"], false);
    assert_eq!(lead["profile"]["monthlyIncome"], 2000);
    assert_eq!(lead["profile"]["presentationLetter"], Value::Null);
    assert_eq!(
        lead["profile"]["moveTimeline"],
        json!({"kind": "exact_date", "date": "2024-12-09T15:05:44.613151500Z"})
    );
    assert_eq!(
        anomalies(&lead),
        [("SenderEmail".to_owned(), "not_plausible".to_owned())]
    );
    assert_eq!(lead["original"], spec_example());
    let received_at: chrono::DateTime<chrono::Utc> = lead["receivedAt"]
        .as_str()
        .expect("receivedAt")
        .parse()
        .expect("RFC 3339");
    assert!(
        received_at >= before - chrono::Duration::seconds(1) && received_at <= chrono::Utc::now()
    );

    let (status, page) = app.api_get("/api/v1/leads").await;
    assert_eq!(status, 200);
    assert_eq!(page["items"][0]["leadReference"], SPEC_REFERENCE);
    assert_eq!(page["nextCursor"], Value::Null);
}

#[tokio::test]
async fn the_same_reference_twice_stores_one_lead_and_changes_nothing() {
    let Some(app) = spawn_app("the_same_reference_twice_stores_one_lead_and_changes_nothing").await
    else {
        return;
    };
    let first = example_with(
        "CY-Listing-A3bT7Y2xL6w-11111111-1111-4111-8111-111111111111",
        json!({}),
    );
    assert_eq!(deliver_json(&app, &first).await.1["status"], "created");
    let changed = example_with(
        "CY-Listing-A3bT7Y2xL6w-11111111-1111-4111-8111-111111111111",
        json!({"Message": "a different message"}),
    );
    let (status, answer) = deliver_json(&app, &changed).await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "duplicate");
    assert_eq!(lead_count(&app).await, 1);
    let stored = lead(
        &app,
        "CY-Listing-A3bT7Y2xL6w-11111111-1111-4111-8111-111111111111",
    )
    .await;
    assert_eq!(stored["original"], first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deliveries_of_one_lead_store_it_once() {
    let Some(app) = spawn_app("fifty_concurrent_deliveries_of_one_lead_store_it_once").await else {
        return;
    };
    let body = example_with(
        "CY-Listing-A3bT7Y2xL6w-50505050-5050-4050-8050-505050505050",
        json!({}),
    );
    let answers = join_all((0..50).map(|_| deliver_json(&app, &body))).await;
    let created = answers
        .iter()
        .filter(|(s, a)| *s == 200 && a["status"] == "created")
        .count();
    let duplicate = answers
        .iter()
        .filter(|(s, a)| *s == 200 && a["status"] == "duplicate")
        .count();
    assert_eq!((created, duplicate), (1, 49), "{answers:?}");
    assert_eq!(lead_count(&app).await, 1);
}

#[tokio::test]
async fn a_wrong_or_missing_token_stores_nothing() {
    let Some(app) = spawn_app("a_wrong_or_missing_token_stores_nothing").await else {
        return;
    };
    let body = spec_example().to_string();
    for token in [
        None,
        Some("wrong"),
        Some(""),
        Some("test-webhook-token-0b4ba9b"),
    ] {
        let response = app.deliver(token, body.clone()).await;
        assert_eq!(response.status().as_u16(), 401, "{token:?}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["code"], "unauthorized");
    }
    let in_query = app
        .client
        .post(app.url(&format!("/webhooks/casayes/leads?token={WEBHOOK_TOKEN}")))
        .body(body.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(
        in_query.status().as_u16(),
        401,
        "the token belongs in the header"
    );
    let garbage = app.deliver(Some("wrong"), "not json").await;
    assert_eq!(garbage.status().as_u16(), 401);
    assert_eq!(lead_count(&app).await, 0);
    assert!(
        quarantine(&app).await.is_empty(),
        "unauthenticated bodies are not kept"
    );
}

#[tokio::test]
async fn created_dates_with_any_precision_offset_or_no_zone_are_kept() {
    let Some(app) = spawn_app("created_dates_with_any_precision_offset_or_no_zone_are_kept").await
    else {
        return;
    };
    let cases = [
        ("2024-08-09T15:05:44Z", "2024-08-09T15:05:44Z", false),
        ("2024-08-09T15:05:44.6Z", "2024-08-09T15:05:44.600Z", false),
        (
            "2024-08-09T15:05:44.613151512Z",
            "2024-08-09T15:05:44.613151512Z",
            false,
        ),
        (
            "2024-08-09T16:05:44.6131515+01:00",
            "2024-08-09T16:05:44.613151500+01:00",
            false,
        ),
        (
            "2024-08-09T15:05:44.6131515",
            "2024-08-09T15:05:44.613151500Z",
            true,
        ),
    ];
    for (n, (sent, stored, no_zone)) in cases.into_iter().enumerate() {
        let reference = format!("date-{n}");
        let (status, _) = deliver_json(
            &app,
            &example_with(&reference, json!({"CreatedDate": sent})),
        )
        .await;
        assert_eq!(status, 200, "{sent}");
        let lead = lead(&app, &reference).await;
        assert_eq!(lead["createdDate"], stored, "{sent}");
        assert_eq!(
            anomalies(&lead).contains(&("CreatedDate".into(), "missing_time_zone".into())),
            no_zone,
            "{sent}"
        );
    }
}

#[tokio::test]
async fn move_timelines_are_words_or_datetimes() {
    let Some(app) = spawn_app("move_timelines_are_words_or_datetimes").await else {
        return;
    };
    let cases = [
        (json!("Soon"), json!({"kind": "soon"})),
        (json!("Flexible"), json!({"kind": "flexible"})),
        (json!("ExactDate"), json!({"kind": "exact_date"})),
        (
            json!("2024-12-09T15:05:44.6131515Z"),
            json!({"kind": "exact_date", "date": "2024-12-09T15:05:44.613151500Z"}),
        ),
        (json!("next summer"), Value::Null),
    ];
    for (n, (sent, expected)) in cases.into_iter().enumerate() {
        let reference = format!("move-{n}");
        let (status, _) = deliver_json(
            &app,
            &example_with(&reference, json!({"EstimatedDateToMove": sent})),
        )
        .await;
        assert_eq!(status, 200);
        let lead = lead(&app, &reference).await;
        assert_eq!(lead["profile"]["moveTimeline"], expected, "{sent}");
    }
    let unreadable = lead(&app, "move-4").await;
    assert!(anomalies(&unreadable).contains(&("EstimatedDateToMove".into(), "unparseable".into())));
    assert_eq!(unreadable["anomalies"][1]["original"], "next summer");
}

#[tokio::test]
async fn profile_fields_may_be_missing_null_or_empty() {
    let Some(app) = spawn_app("profile_fields_may_be_missing_null_or_empty").await else {
        return;
    };
    let fields = [
        "NumberResidents",
        "HasPets",
        "EstimatedDateToMove",
        "MonthlyIncome",
        "PresentationLetter",
    ];
    for (n, missing) in [None, Some(Value::Null), Some(json!(""))]
        .into_iter()
        .enumerate()
    {
        let reference = format!("profile-{n}");
        let mut body = example_with(&reference, json!({}));
        for field in fields {
            match &missing {
                None => {
                    body.as_object_mut().expect("object").remove(field);
                }
                Some(value) => body[field] = value.clone(),
            }
        }
        let (status, _) = deliver_json(&app, &body).await;
        assert_eq!(status, 200, "{missing:?}");
        let lead = lead(&app, &reference).await;
        assert_eq!(lead["profile"], json!({}), "absent fields are left out");
        let profile_anomalies: Vec<_> = anomalies(&lead)
            .into_iter()
            .filter(|(f, _)| fields.contains(&f.as_str()))
            .collect();
        assert!(
            profile_anomalies.is_empty(),
            "{missing:?}: {profile_anomalies:?}"
        );
    }
    let (status, _) = deliver_json(
        &app,
        &example_with(
            "profile-strings",
            json!({"NumberResidents": "2", "MonthlyIncome": "1500"}),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let strings = lead(&app, "profile-strings").await;
    assert_eq!(strings["profile"]["numberResidents"], 2);
    assert_eq!(strings["profile"]["monthlyIncome"], 1500);
    let (status, _) = deliver_json(
        &app,
        &example_with(
            "profile-odd",
            json!({"NumberResidents": 0, "MonthlyIncome": -1, "HasPets": "maybe"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "implausible values never refuse a lead");
    let odd = lead(&app, "profile-odd").await;
    assert_eq!(odd["profile"]["numberResidents"], Value::Null);
    assert_eq!(odd["profile"]["monthlyIncome"], Value::Null);
    assert_eq!(odd["profile"]["hasPets"], Value::Null);
    for expected in [
        ("NumberResidents", "out_of_range"),
        ("MonthlyIncome", "out_of_range"),
        ("HasPets", "wrong_type"),
    ] {
        assert!(
            anomalies(&odd).contains(&(expected.0.into(), expected.1.into())),
            "{expected:?}"
        );
    }
}

#[tokio::test]
async fn phones_get_an_e164_form_when_one_can_be_derived() {
    let Some(app) = spawn_app("phones_get_an_e164_form_when_one_can_be_derived").await else {
        return;
    };
    for (n, (sent, e164)) in [
        ("919111222", json!("+351919111222")),
        ("+351 919 111 222", json!("+351919111222")),
        ("+44 20 7946 0958", json!("+442079460958")),
        ("call after 6pm", Value::Null),
    ]
    .into_iter()
    .enumerate()
    {
        let reference = format!("phone-{n}");
        deliver_json(
            &app,
            &example_with(&reference, json!({"SenderPhone": sent})),
        )
        .await;
        let lead = lead(&app, &reference).await;
        assert_eq!(lead["sender"]["phone"], sent);
        assert_eq!(lead["sender"]["phoneE164"], e164, "{sent}");
    }
}

#[tokio::test]
async fn odd_references_and_entity_types_are_flagged_not_dropped() {
    let Some(app) = spawn_app("odd_references_and_entity_types_are_flagged_not_dropped").await
    else {
        return;
    };
    let disagreeing = "CY-Office-ZZZ-b24e6f80-17c9-4a8f-92b3-7e123d4bcf91";
    deliver_json(&app, &example_with(disagreeing, json!({}))).await;
    let lead_a = lead(&app, disagreeing).await;
    assert!(anomalies(&lead_a).contains(&("LeadReference".into(), "inconsistent".into())));

    let new_type = "CY-Development-A3bT7Y2xL6w-b24e6f80-17c9-4a8f-92b3-7e123d4bcf92";
    deliver_json(
        &app,
        &example_with(new_type, json!({"EntityType": "Development"})),
    )
    .await;
    let lead_b = lead(&app, new_type).await;
    assert_eq!(lead_b["entityType"], "Development");
    assert!(anomalies(&lead_b).contains(&("EntityType".into(), "unknown_value".into())));

    let (status, answer) =
        deliver_json(&app, &example_with("  padded-reference \n", json!({}))).await;
    assert_eq!(status, 200);
    assert_eq!(answer["leadReference"], "padded-reference");
}

#[tokio::test]
async fn untrusted_text_is_stored_and_returned_verbatim() {
    let Some(app) = spawn_app("untrusted_text_is_stored_and_returned_verbatim").await else {
        return;
    };
    let text = "<script>alert('x')</script><img src=x onerror=alert(1)> \u{202e}مرحبا 👋🏽 \u{1}\u{7} \"quoted\" \\ ".repeat(200);
    deliver_json(
        &app,
        &example_with(
            "text-1",
            json!({"Message": text, "PresentationLetter": text, "SenderName": "Zoë 🏠"}),
        ),
    )
    .await;
    let lead = lead(&app, "text-1").await;
    assert_eq!(lead["message"], text.as_str());
    assert_eq!(lead["profile"]["presentationLetter"], text.as_str());
    assert_eq!(lead["sender"]["name"], "Zoë 🏠");
}

#[tokio::test]
async fn bodies_that_cannot_be_leads_are_refused_and_quarantined() {
    let Some(app) = spawn_app("bodies_that_cannot_be_leads_are_refused_and_quarantined").await
    else {
        return;
    };
    let cases: [(&[u8], &str); 6] = [
        (b"this is not json", "not_json"),
        (b"\xff\xfe\x00garbage", "not_json"),
        (b"[{\"LeadReference\": \"x\"}]", "not_an_object"),
        (b"{\"EntityType\": \"Listing\"}", "lead_reference_missing"),
        (b"{\"LeadReference\": \"   \"}", "lead_reference_invalid"),
        (b"{\"LeadReference\": true}", "lead_reference_invalid"),
    ];
    for (body, code) in cases {
        let response = app.deliver(Some(WEBHOOK_TOKEN), body.to_vec()).await;
        assert_eq!(response.status().as_u16(), 400, "{code}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["code"], code);
        assert!(!error["message"].as_str().unwrap_or_default().is_empty());
    }
    assert_eq!(lead_count(&app).await, 0);
    let kept = quarantine(&app).await;
    assert_eq!(kept.len(), cases.len());
    // Newest first: the last refused body is the first entry.
    for (entry, (body, code)) in kept.iter().rev().zip(cases) {
        assert_eq!(entry["reason"], code);
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(entry["rawBase64"].as_str().expect("base64"))
            .expect("valid base64");
        assert_eq!(raw, body, "the exact bytes are kept");
    }
    let id = kept[0]["id"].as_i64().expect("an id");
    let (status, one) = app.api_get(&format!("/api/v1/quarantine/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one, kept[0]);
    let (status, missing) = app.api_get("/api/v1/quarantine/999999").await;
    assert_eq!((status, missing["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn oversized_bodies_get_413_and_their_start_is_quarantined() {
    let Some(app) = spawn_app_with(
        "oversized_bodies_get_413_and_their_start_is_quarantined",
        |config| {
            config.max_body_bytes = 4096;
        },
    )
    .await
    else {
        return;
    };
    let big = example_with("big-1", json!({"Message": "x".repeat(10_000)})).to_string();
    let response = app.deliver(Some(WEBHOOK_TOKEN), big.clone()).await;
    assert_eq!(response.status().as_u16(), 413);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["code"], "payload_too_large");

    // Chunked, without Content-Length.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .as_bytes()
        .chunks(1000)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let response = app
        .deliver(
            Some(WEBHOOK_TOKEN),
            reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
        )
        .await;
    assert_eq!(response.status().as_u16(), 413);

    // Exactly at the limit is fine.
    let mut exact = example_with("big-2", json!({"Message": ""})).to_string();
    let filler = 4096 - exact.len();
    exact = example_with("big-2", json!({"Message": "y".repeat(filler)})).to_string();
    assert_eq!(exact.len(), 4096);
    assert_eq!(
        app.deliver(Some(WEBHOOK_TOKEN), exact)
            .await
            .status()
            .as_u16(),
        200
    );

    assert_eq!(lead_count(&app).await, 1);
    let kept = quarantine(&app).await;
    assert_eq!(kept.len(), 2);
    for entry in &kept {
        assert_eq!(entry["reason"], "payload_too_large");
        assert_eq!(entry["rawText"].as_str().map(str::len), Some(4096));
        assert!(big.starts_with(entry["rawText"].as_str().unwrap_or_default()));
    }
}

#[tokio::test]
async fn a_missing_or_plain_text_content_type_is_accepted() {
    let Some(app) = spawn_app("a_missing_or_plain_text_content_type_is_accepted").await else {
        return;
    };
    for (n, content_type) in [
        None,
        Some("text/plain"),
        Some("application/json; charset=utf-8"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut request = app
            .client
            .post(app.url("/webhooks/casayes/leads"))
            .header("token", WEBHOOK_TOKEN)
            .body(example_with(&format!("ct-{n}"), json!({})).to_string());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("answer");
        assert_eq!(response.status().as_u16(), 200, "{content_type:?}");
    }
    assert_eq!(lead_count(&app).await, 3);
}

#[tokio::test]
async fn the_api_needs_a_valid_key() {
    let Some(app) = spawn_app("the_api_needs_a_valid_key").await else {
        return;
    };
    deliver_json(&app, &spec_example()).await;
    for key in [None, Some("wrong-key"), Some(WEBHOOK_TOKEN)] {
        let mut request = app.client.get(app.url("/api/v1/leads"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("answer");
        assert_eq!(response.status().as_u16(), 401, "{key:?}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["code"], "unauthorized");
        assert!(error.get("items").is_none());
    }
    let ok = app
        .client
        .get(app.url("/api/v1/leads"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("answer");
    assert_eq!(ok.status().as_u16(), 200);
}

#[tokio::test]
async fn leads_are_listed_newest_first_in_pages() {
    let Some(app) = spawn_app("leads_are_listed_newest_first_in_pages").await else {
        return;
    };
    for n in 0..5 {
        deliver_json(&app, &example_with(&format!("page-{n}"), json!({}))).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/leads?limit=2&cursor={cursor}"),
            None => "/api/v1/leads?limit=2".to_owned(),
        };
        let (status, page) = app.api_get(&path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|l| l["leadReference"].as_str().unwrap_or_default().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["page-4", "page-3", "page-2", "page-1", "page-0"]);
    for bad in [
        "/api/v1/leads?limit=0",
        "/api/v1/leads?limit=501",
        "/api/v1/leads?cursor=garbage",
        "/api/v1/leads?limit=ten",
    ] {
        let (status, error) = app.api_get(bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(error["code"], "invalid_request", "{bad}");
    }
    let (status, error) = app.api_get("/api/v1/leads/no-such-lead").await;
    assert_eq!((status, error["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn health_docs_and_errors_are_served() {
    let Some(app) = spawn_app("health_docs_and_errors_are_served").await else {
        return;
    };
    let live: Value = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(live["status"], "ok");
    let traced = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "crm-trace-42")
        .send()
        .await
        .expect("answer");
    assert_eq!(
        traced
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("crm-trace-42")
    );
    let fresh = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .expect("answer");
    let id = fresh
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        uuid::Uuid::parse_str(&id).is_ok(),
        "a new id when none is given: {id:?}"
    );
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .expect("answer");
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(
        ready.json::<Value>().await.expect("JSON"),
        json!({"status": "ok", "check": "database"})
    );
    let spec = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    assert_eq!(spec, lead_inbox_http::openapi_json());
    let yaml = app
        .client
        .get(app.url("/openapi.yaml"))
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    assert_eq!(yaml, lead_inbox_http::openapi_yaml());
    let docs = app
        .client
        .get(app.url("/docs"))
        .send()
        .await
        .expect("answer");
    assert_eq!(docs.status().as_u16(), 200);
    assert!(
        docs.text()
            .await
            .expect("html")
            .to_lowercase()
            .contains("swagger")
    );
    let missing = app
        .client
        .get(app.url("/nowhere"))
        .send()
        .await
        .expect("answer");
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(
        missing.json::<Value>().await.expect("JSON")["code"],
        "not_found"
    );
    let wrong_method = app
        .client
        .get(app.url("/webhooks/casayes/leads"))
        .send()
        .await
        .expect("answer");
    assert_eq!(wrong_method.status().as_u16(), 405);
    assert_eq!(
        wrong_method
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    assert_eq!(
        wrong_method.json::<Value>().await.expect("JSON")["code"],
        "method_not_allowed"
    );
}

#[tokio::test]
async fn graceful_shutdown_answers_requests_in_flight() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some(app) = spawn_app("graceful_shutdown_answers_requests_in_flight").await else {
        return;
    };
    let body = example_with("in-flight-1", json!({})).to_string();
    let mut stream = tokio::net::TcpStream::connect(app.address)
        .await
        .expect("connect");
    // The headers alone, asking to be told when the server reads the body: its
    // `100 Continue` says the request is in the server's hands, no guess of when.
    let head = format!(
        "POST /webhooks/casayes/leads HTTP/1.1\r\nHost: x\r\ntoken: {WEBHOOK_TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\
         expect: 100-continue\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut interim = Vec::new();
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(Duration::from_secs(30), async {
        while !interim.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = stream.read(&mut buffer).await.expect("read");
            assert!(read > 0, "closed before 100 Continue");
            interim.extend_from_slice(&buffer[..read]);
        }
    })
    .await
    .expect("100 Continue within 30 s");
    let interim = String::from_utf8_lossy(&interim).into_owned();
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");

    let address = app.address;
    let database_url = app.database.url.clone();
    let stopping = tokio::spawn(app.stop_keeping_database());
    // Shutdown has begun once the server no longer accepts connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(address).await.is_ok() {
        assert!(Instant::now() < deadline, "the server kept accepting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stream.write_all(body.as_bytes()).await.expect("the body");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("answered within 30 s")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""status":"created""#), "{answer}");
    let database = stopping.await.expect("stopped");
    // The acknowledged lead is in the database the server used.
    if database_url != "memory://" {
        let store = database.open_store().await;
        use lead_inbox_application::LeadReader;
        let reference = lead_inbox_domain::LeadReference::parse("in-flight-1").expect("valid");
        assert!(store.leads().get(&reference).await.expect("get").is_some());
    }
}

#[tokio::test]
async fn the_raw_payload_is_returned_byte_for_byte() {
    let Some(app) = spawn_app("the_raw_payload_is_returned_byte_for_byte").await else {
        return;
    };
    let body = "{ \"LeadReference\" : \"raw-1\",\n\t\"Message\": \"caf\\u00e9 ☕\"   }";
    let response = app.deliver(Some(WEBHOOK_TOKEN), body).await;
    assert_eq!(response.status().as_u16(), 200);
    let raw = app
        .client
        .get(app.url("/api/v1/leads/raw-1/raw"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("answer");
    assert_eq!(raw.status().as_u16(), 200);
    assert_eq!(
        raw.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/octet-stream")
    );
    assert_eq!(raw.bytes().await.expect("bytes").as_ref(), body.as_bytes());
    let missing = app
        .client
        .get(app.url("/api/v1/leads/nope/raw"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("answer");
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn quarantined_payloads_can_be_replayed_or_deleted() {
    let Some(app) = spawn_app("quarantined_payloads_can_be_replayed_or_deleted").await else {
        return;
    };
    if app.database.url == "memory://" {
        return;
    }
    // An entry an older version could not read, but this one can.
    let store = app.database.open_store().await;
    use lead_inbox_application::QuarantineStore;
    let arrived = chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("valid");
    let readable = store
        .quarantine()
        .store(lead_inbox_domain::NewQuarantined {
            rejection: lead_inbox_domain::Rejection::new(
                lead_inbox_domain::RejectionKind::NotJson,
                "older rules",
            ),
            raw: lead_inbox_domain::RawPayload::new(
                example_with("replayed-1", json!({}))
                    .to_string()
                    .into_bytes(),
            ),
            received_at: arrived,
        })
        .await
        .expect("stored");
    // And one nobody can read.
    let garbage = app.deliver(Some(WEBHOOK_TOKEN), "still garbage").await;
    assert_eq!(garbage.status().as_u16(), 400);
    let garbage_id = quarantine(&app).await[0]["id"].as_i64().expect("id");

    let post = |path: String| app.client.post(app.url(&path)).bearer_auth(API_KEY).send();
    let replayed = post(format!("/api/v1/quarantine/{}/replay", readable.0))
        .await
        .expect("answer");
    assert_eq!(replayed.status().as_u16(), 200);
    assert_eq!(
        replayed.json::<Value>().await.expect("JSON"),
        json!({"leadReference": "replayed-1", "status": "created"})
    );
    let stored = lead(&app, "replayed-1").await;
    assert_eq!(
        stored["receivedAt"], "2023-11-14T22:13:20.123456Z",
        "the original arrival time is kept"
    );
    let again = post(format!("/api/v1/quarantine/{}/replay", readable.0))
        .await
        .expect("answer");
    assert_eq!(again.status().as_u16(), 404, "it left the quarantine");

    let refused = post(format!("/api/v1/quarantine/{garbage_id}/replay"))
        .await
        .expect("answer");
    assert_eq!(refused.status().as_u16(), 409);
    assert_eq!(
        refused.json::<Value>().await.expect("JSON")["code"],
        "not_json"
    );
    assert_eq!(quarantine(&app).await.len(), 1, "still quarantined");

    let delete = |id: i64| {
        app.client
            .delete(app.url(&format!("/api/v1/quarantine/{id}")))
            .bearer_auth(API_KEY)
            .send()
    };
    assert_eq!(
        delete(garbage_id).await.expect("answer").status().as_u16(),
        204
    );
    assert_eq!(
        delete(garbage_id).await.expect("answer").status().as_u16(),
        404
    );
    assert!(quarantine(&app).await.is_empty());
    store.close().await;
}

#[tokio::test]
async fn leads_can_be_filtered_over_http() {
    let Some(app) = spawn_app("leads_can_be_filtered_over_http").await else {
        return;
    };
    for (reference, entity_type, public_id) in [
        ("h-1", "Listing", "AAA"),
        ("h-2", "Office", "AAA"),
        ("h-3", "Listing", "BBB"),
    ] {
        let body = example_with(
            reference,
            json!({"EntityType": entity_type, "EntityPublicId": public_id}),
        );
        assert_eq!(deliver_json(&app, &body).await.0, 200);
    }
    let (status, page) = app.api_get("/api/v1/leads?entityType=listing").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        lead_references(&page["items"]),
        ["h-3", "h-1"],
        "entity types match in any case"
    );
    let (_, page) = app
        .api_get("/api/v1/leads?entityType=Listing&entityPublicId=AAA")
        .await;
    assert_eq!(lead_references(&page["items"]), ["h-1"]);
    let (_, page) = app
        .api_get(
            "/api/v1/leads?createdFrom=2024-08-09T15:05:44Z&createdTo=2024-08-09T15:05:45%2B00:00",
        )
        .await;
    assert_eq!(
        lead_references(&page["items"]).len(),
        3,
        "the example's CreatedDate is inside"
    );
    let (_, page) = app
        .api_get("/api/v1/leads?receivedFrom=2099-01-01T00:00:00Z")
        .await;
    assert!(lead_references(&page["items"]).is_empty());
    let (_, page) = app.api_get("/api/v1/leads?hasAnomalies=false").await;
    assert!(
        lead_references(&page["items"]).is_empty(),
        "the example's placeholder email is an anomaly"
    );
    let (status, error) = app.api_get("/api/v1/leads?createdFrom=yesterday").await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn only_a_lead_without_anomalies_matches_has_anomalies_false() {
    let Some(app) = spawn_app("only_a_lead_without_anomalies_matches_has_anomalies_false").await
    else {
        return;
    };
    let (clean_reference, clean) = clean_example(1);
    assert_eq!(deliver_json(&app, &clean).await.0, 200);
    assert_eq!(deliver_json(&app, &spec_example()).await.0, 200);
    assert_eq!(
        anomalies(&lead(&app, &clean_reference).await),
        Vec::<(String, String)>::new()
    );
    assert!(!anomalies(&lead(&app, SPEC_REFERENCE).await).is_empty());
    let (status, page) = app.api_get("/api/v1/leads?hasAnomalies=false").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(lead_references(&page["items"]), [clean_reference]);
    let (_, page) = app.api_get("/api/v1/leads?hasAnomalies=true").await;
    assert_eq!(lead_references(&page["items"]), [SPEC_REFERENCE]);
}
