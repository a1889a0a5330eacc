//! End-to-end: working leads through the API (PATCH with optimistic concurrency,
//! history, notes) and finding them (status, assignee, tag, free text, sort). Runs on
//! SQLite by default; `LEAD_INBOX_TEST_BACKEND=postgres|mysql` runs it on a server.

use lead_inbox_tests::{API_KEY, TestApp, WEBHOOK_TOKEN, example_with, lead_references, spawn_app};
use serde_json::{Value, json};

async fn deliver(app: &TestApp, reference: &str, changes: Value) {
    let response = app
        .deliver(
            Some(WEBHOOK_TOKEN),
            example_with(reference, changes).to_string(),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
}

/// PATCHes a lead; returns the status, the ETag and the JSON body.
async fn patch(
    app: &TestApp,
    reference: &str,
    if_match: Option<&str>,
    body: Value,
) -> (u16, Option<String>, Value) {
    let mut request = app
        .client
        .patch(app.url(&format!("/api/v1/leads/{reference}")))
        .bearer_auth(API_KEY)
        .json(&body);
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, etag, response.json().await.unwrap_or(Value::Null))
}

async fn references(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = app.api_get(&format!("/api/v1/leads?{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    lead_references(&body["items"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_is_worked_with_optimistic_concurrency_and_a_history() {
    let Some(app) = spawn_app("a_lead_is_worked_with_optimistic_concurrency_and_a_history").await
    else {
        return;
    };
    deliver(
        &app,
        "w-joao",
        json!({"SenderName": "João Gonçalves", "CreatedDate": "2024-01-01T00:00:00Z"}),
    )
    .await;
    deliver(
        &app,
        "w-ana",
        json!({"SenderName": "Ana Pires", "CreatedDate": "2024-02-01T00:00:00Z"}),
    )
    .await;

    let response = app
        .client
        .get(app.url("/api/v1/leads/w-joao"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("answer");
    assert_eq!(
        response.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some("\"1\"")
    );
    let lead: Value = response.json().await.expect("JSON");
    assert_eq!(
        (lead["status"].as_str(), lead["version"].as_i64()),
        (Some("new"), Some(1))
    );

    let (status, _, body) = patch(&app, "w-joao", None, json!({"status": "contacted"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (428, Some("precondition_required"))
    );

    let change = json!({
        "status": "contacted",
        "assignee": "agent-7",
        "tags": ["VIP", "Lisboa"],
        "note": "Prefere visitas à tarde",
        "noteAuthor": "agent-7"
    });
    let (status, etag, body) = patch(&app, "w-joao", Some("\"1\""), change.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(etag.as_deref(), Some("\"2\""));
    assert_eq!(body["status"], "contacted");
    assert_eq!(body["assignee"], "agent-7");
    assert_eq!(body["tags"], json!(["lisboa", "vip"]));
    assert_eq!(body["version"], 2);
    assert!(body["firstResponseAt"].is_string());

    // The same change from the old version: refused, nothing overwritten.
    let (status, _, body) = patch(&app, "w-joao", Some("\"1\""), json!({"assignee": "x"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (412, Some("precondition_failed"))
    );
    let (status, _, body) =
        patch(&app, "w-joao", None, json!({"assignee": "x", "version": 1})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("version_conflict"))
    );
    let (_, lead) = app.api_get("/api/v1/leads/w-joao").await;
    assert_eq!(lead["assignee"], "agent-7", "no silent overwrite");

    // The pipeline's rules.
    let (status, _, body) =
        patch(&app, "w-joao", None, json!({"status": "new", "version": 2})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_transition")),
        "{body}"
    );
    let (status, _, body) = patch(
        &app,
        "w-joao",
        None,
        json!({"tags": ["no spaces"], "version": 2}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_change"))
    );
    let (status, _, _) = patch(
        &app,
        "w-joao",
        None,
        json!({"status": "lost", "version": 2}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, body) = patch(
        &app,
        "w-joao",
        Some("W/\"3\""),
        json!({"status": "qualified", "assignee": null}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("assignee").is_none(), "unassigned: {body}");

    let (status, history) = app.api_get("/api/v1/leads/w-joao/history").await;
    assert_eq!(status, 200);
    let entries: Vec<(String, Value, Value, bool)> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().expect("field").to_owned(),
                e["before"].clone(),
                e["after"].clone(),
                e["reopened"].as_bool().expect("reopened"),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("status".into(), json!("new"), json!("contacted"), false),
            ("assignee".into(), Value::Null, json!("agent-7"), false),
            ("tags".into(), Value::Null, json!("lisboa,vip"), false),
            (
                "note".into(),
                Value::Null,
                json!("Prefere visitas à tarde"),
                false
            ),
            ("status".into(), json!("contacted"), json!("lost"), false),
            ("status".into(), json!("lost"), json!("qualified"), true),
            ("assignee".into(), json!("agent-7"), Value::Null, false),
        ]
    );
    assert!(
        history["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|e| e["actor"] == "config:1"),
        "the API key's name is the actor: {history}"
    );
    let (_, notes) = app.api_get("/api/v1/leads/w-joao/notes").await;
    assert_eq!(notes["items"][0]["author"], "agent-7");
    assert_eq!(notes["items"][0]["text"], "Prefere visitas à tarde");
    assert_eq!(notes["items"].as_array().map(Vec::len), Some(1));
    let (status, _) = app.api_get("/api/v1/leads/nope/history").await;
    assert_eq!(status, 404);

    // Finding them.
    assert_eq!(references(&app, "status=qualified").await, ["w-joao"]);
    assert_eq!(references(&app, "status=new").await, ["w-ana"]);
    assert_eq!(references(&app, "tag=VIP").await, ["w-joao"]);
    assert!(references(&app, "assignee=agent-7").await.is_empty());
    assert_eq!(references(&app, "q=joao%20GONCALVES").await, ["w-joao"]);
    assert_eq!(references(&app, "q=pires").await, ["w-ana"]);
    assert_eq!(references(&app, "sort=received").await, ["w-ana", "w-joao"]);
    assert_eq!(references(&app, "sort=created&limit=1").await, ["w-ana"]);
    let (status, _) = app.api_get("/api/v1/leads?status=open").await;
    assert_eq!(status, 400);

    // Both leads come from the spec example's phone: one contact.
    let (status, contacts) = app.api_get("/api/v1/contacts").await;
    assert_eq!(status, 200, "{contacts}");
    let items = contacts["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["leadCount"], 2);
    assert_eq!(items[0]["phone"], "+351919111222");
    assert_eq!(items[0]["name"], "Ana Pires", "the latest lead's name");
    let id = items[0]["id"].as_str().expect("id").to_owned();
    let (status, contact) = app.api_get(&format!("/api/v1/contacts/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        contact["leads"]
            .as_array()
            .expect("leads")
            .iter()
            .map(|lead| lead["leadReference"].as_str().expect("reference"))
            .collect::<Vec<_>>(),
        ["w-ana", "w-joao"]
    );
    assert_eq!(references(&app, &format!("contactId={id}")).await.len(), 2);
    let (status, _) = app.api_get("/api/v1/contacts/0123").await;
    assert_eq!(status, 404);

    let (status, stats) = app.api_get("/api/v1/stats").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["total"], 2);
    assert_eq!(stats["byDay"].as_array().map(Vec::len), Some(1));
    assert_eq!(stats["byDay"][0]["count"], 2);
    assert_eq!(
        stats["byEntityType"],
        json!([{"entityType": "Listing", "count": 2}])
    );
    let mut statuses: Vec<(String, u64)> = stats["byStatus"]
        .as_array()
        .expect("byStatus")
        .iter()
        .map(|s| {
            (
                s["status"].as_str().expect("status").to_owned(),
                s["count"].as_u64().expect("count"),
            )
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, [("new".into(), 1), ("qualified".into(), 1)]);
    assert_eq!(stats["speedToLead"]["responded"], 1);
    assert!(
        stats["speedToLead"]["medianSeconds"]
            .as_f64()
            .is_some_and(|s| s >= 0.0)
    );
    let (_, future) = app.api_get("/api/v1/stats?from=2999-01-01T00:00:00Z").await;
    assert_eq!(future["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_export_as_csv_and_ndjson_across_pages_with_the_filters() {
    let Some(app) = spawn_app("leads_export_as_csv_and_ndjson_across_pages_with_the_filters").await
    else {
        return;
    };
    deliver(
        &app,
        "x-formula",
        json!({"SenderName": "=HYPERLINK(\"http://evil\",\"x\")", "Message": "olá, \"quoted\", two\nlines"}),
    )
    .await;
    // More than one page (500) of leads.
    let deliveries = (0..501).map(|n| {
        let app = &app;
        async move { deliver(app, &format!("x-{n:04}"), json!({})).await }
    });
    futures_util::future::join_all(deliveries).await;

    let get = |query: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .get(app.url(&format!("/api/v1/leads/export?{query}")))
                .bearer_auth(API_KEY)
                .send()
                .await
                .expect("answer");
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (status, content_type, response.text().await.expect("text"))
        }
    };
    let (status, content_type, csv) = get("format=csv").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let mut lines = csv.split("\r\n");
    assert!(
        lines
            .next()
            .is_some_and(|header| header.starts_with("leadReference,receivedAt,createdDate,")),
        "{csv:.200}"
    );
    // 502 records: the formula lead and 501 others (one has a line break inside quotes).
    assert_eq!(csv.matches("\r\n").count(), 503, "a header and 502 records");
    let formula = csv
        .split("\r\n")
        .find(|line| line.starts_with("x-formula,"))
        .expect("the formula lead");
    assert!(
        formula.contains(",\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\","),
        "neutralised and quoted: {formula}"
    );
    assert!(formula.contains("'+351919111222"), "{formula}");

    let (status, content_type, ndjson) = get("format=ndjson&q=ola").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/x-ndjson")
    );
    let leads: Vec<Value> = ndjson
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON lead per line"))
        .collect();
    assert_eq!(leads.len(), 1, "the filter applies");
    assert_eq!(leads[0]["leadReference"], "x-formula");
    assert_eq!(leads[0]["message"], "olá, \"quoted\", two\nlines");

    let (_, _, all) = get("format=ndjson").await;
    let lines: Vec<String> = all
        .lines()
        .map(|line| {
            let lead: Value = serde_json::from_str(line).expect("JSON");
            lead["leadReference"]
                .as_str()
                .expect("reference")
                .to_owned()
        })
        .collect();
    let references: std::collections::HashSet<&String> = lines.iter().collect();
    assert_eq!(
        (lines.len(), references.len()),
        (502, 502),
        "every lead once, across pages: no line repeated, none missing"
    );
    let (status, _, _) = get("format=xml").await;
    assert_eq!(status, 400);
}
