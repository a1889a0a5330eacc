//! A `400` for a bad parameter or body names it, says what was wrong and what is
//! accepted, in the words of the API (never poem-openapi's internal type names), for
//! every kind of parameter: an enum, a date-time, an integer, a pattern, a missing
//! required one, a path segment, a header, the JSON body.

use lead_inbox_domain::LeadStatus;
use lead_inbox_tests::{API_KEY, WEBHOOK_TOKEN, example, spawn_app};
use serde_json::Value;

/// The `code` and `message` of a `400`.
async fn refused(app: &lead_inbox_tests::TestApp, request: reqwest::RequestBuilder) -> String {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_request", "{body}");
    let message = body["message"].as_str().expect("a message").to_owned();
    for internal in [
        "LeadStatusView",
        "ExportFormat",
        "string_date-time",
        "optional_",
        "integer_",
    ] {
        assert!(!message.contains(internal), "{internal} in {message}");
    }
    let _ = app;
    message
}

#[tokio::test]
async fn a_bad_parameter_is_named_with_what_it_accepts() {
    let Some(app) = spawn_app("a_bad_parameter_is_named_with_what_it_accepts").await else {
        return;
    };
    let get = |path: &str| app.client.get(app.url(path)).bearer_auth(API_KEY);

    // An enum: every value of the type, and only them.
    let message = refused(&app, get("/api/v1/leads?status=bogus")).await;
    assert!(
        message.starts_with("the query parameter `status` is not valid: it must be one of "),
        "{message}"
    );
    for status in LeadStatus::ALL {
        assert!(
            message.contains(&format!("`{}`", status.code())),
            "{status} in {message}"
        );
    }

    // A required enum, missing.
    let message = refused(&app, get("/api/v1/leads/export")).await;
    assert_eq!(
        message,
        "the query parameter `format` is required: it must be one of `csv`, `ndjson`"
    );
    let message = refused(&app, get("/api/v1/leads/export?format=xml")).await;
    assert!(message.contains("`format` is not valid"), "{message}");

    // A date-time without its time.
    for (path, name) in [
        ("/api/v1/stats?from=2026-12-01", "from"),
        ("/api/v1/leads?receivedFrom=2026-12-01", "receivedFrom"),
    ] {
        let message = refused(&app, get(path)).await;
        assert_eq!(
            message,
            format!(
                "the query parameter `{name}` is not valid: it must be an RFC 3339 date-time with its offset, such as `2026-12-01T00:00:00Z`"
            )
        );
    }

    // Integers: out of bounds, not a number, below a minimum.
    for path in ["/api/v1/leads?limit=0", "/api/v1/leads?limit=many"] {
        let message = refused(&app, get(path)).await;
        assert_eq!(
            message,
            "the query parameter `limit` is not valid: it must be an integer from 1 to 500"
        );
    }
    let message = refused(&app, get("/api/v1/leads/stream?lastEventId=-1")).await;
    assert!(
        message.contains("`lastEventId` is not valid: it must be an integer of at least 0"),
        "{message}"
    );

    // A boolean, a pattern, a path segment.
    let message = refused(&app, get("/api/v1/leads?hasAnomalies=maybe")).await;
    assert!(
        message.ends_with("`hasAnomalies` is not valid: it must be `true` or `false`"),
        "{message}"
    );
    let message = refused(&app, get("/api/v1/leads?cursor=abc")).await;
    assert!(
        message.contains("`cursor` is not valid: it must be text matching the pattern `^[0-9]{1,18}_[0-9]{1,18}$`"),
        "{message}"
    );
    let message = refused(&app, get("/api/v1/quarantine/seven")).await;
    assert_eq!(
        message,
        "the path parameter `id` is not valid: it must be an integer"
    );

    // The JSON body of a change: its fields and what each accepts.
    let delivered = app
        .deliver(Some(WEBHOOK_TOKEN), example("param-1").to_string())
        .await;
    assert_eq!(delivered.status().as_u16(), 200);
    let message = refused(
        &app,
        app.client
            .patch(app.url("/api/v1/leads/param-1"))
            .bearer_auth(API_KEY)
            .header("if-match", "\"1\"")
            .json(&serde_json::json!({"status": "bogus"})),
    )
    .await;
    assert!(
        message.starts_with("the JSON body is not valid"),
        "{message}"
    );
    assert!(
        message.contains("`status` (one of `new`, `contacted`"),
        "{message}"
    );
    assert!(message.contains("`version` (an integer)"), "{message}");

    // Without Content-Type: 415, saying what to send.
    let response = app
        .client
        .patch(app.url("/api/v1/leads/param-1"))
        .bearer_auth(API_KEY)
        .header("if-match", "\"1\"")
        .body(r#"{"status": "contacted"}"#)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status().as_u16(), 415);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["code"], "unsupported_media_type");
    assert_eq!(
        body["message"],
        "the `Content-Type` header is missing: send the body as `application/json`"
    );
}
