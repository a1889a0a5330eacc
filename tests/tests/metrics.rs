//! `GET /metrics`: Prometheus text, behind a key on the main port or open on its own.

use lead_inbox_tests::{TestApp, WEBHOOK_TOKEN, example, spawn_app, spawn_app_with};

async fn scrape(app: &TestApp, url: String, key: Option<&str>) -> (u16, String) {
    let mut request = app.client.get(url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("answer");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_and_what_became_of_each_lead() {
    let Some(app) = spawn_app_with("metrics", |config| {
        config.metrics_key = Some("metrics-key".into())
    })
    .await
    else {
        return;
    };
    let body = example("metrics-1").to_string();
    assert_eq!(
        app.deliver(Some(WEBHOOK_TOKEN), body.clone())
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        app.deliver(Some(WEBHOOK_TOKEN), body.clone())
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        app.deliver(Some(WEBHOOK_TOKEN), "garbage")
            .await
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        app.deliver(Some("wrong"), body).await.status().as_u16(),
        401
    );
    let _ = app.api_get("/api/v1/leads/metrics-1").await;

    let (status, _) = scrape(&app, app.url("/metrics"), None).await;
    assert_eq!(status, 401);
    let (status, _) = scrape(&app, app.url("/metrics"), Some("wrong")).await;
    assert_eq!(status, 401);
    let (status, text) = scrape(&app, app.url("/metrics"), Some("metrics-key")).await;
    assert_eq!(status, 200);
    assert_eq!(
        value(&text, "lead_inbox_leads_total{outcome=\"created\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "lead_inbox_leads_total{outcome=\"duplicate\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "lead_inbox_leads_total{outcome=\"quarantined\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "lead_inbox_auth_failures_total{kind=\"webhook\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "lead_inbox_http_requests_total{method=\"POST\",route=\"/webhooks/casayes/leads\",status=\"200\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &text,
            "lead_inbox_http_requests_total{method=\"GET\",route=\"/api/v1/leads/{leadReference}\",status=\"200\"}"
        ),
        Some(1.0),
        "routes are templates, never a lead reference"
    );
    assert!(!text.contains("metrics-1"));
    assert!(text.contains("lead_inbox_http_request_duration_seconds_bucket"));
    if app.database.url != "memory://" {
        // Both deliveries went through group commit: the created one and the duplicate.
        assert_eq!(
            value(&text, "lead_inbox_commit_batch_leads_sum"),
            Some(2.0),
            "{text}"
        );
        assert!(
            value(&text, "lead_inbox_commit_batch_leads_count")
                .is_some_and(|n| (1.0..=2.0).contains(&n)),
            "{text}"
        );
        assert!(value(&text, "lead_inbox_commit_duration_seconds_count").is_some_and(|n| n >= 1.0));
    }
    assert_eq!(value(&text, "lead_inbox_commit_failures_total"), Some(0.0));
    assert_eq!(value(&text, "lead_inbox_live_feed_clients"), Some(0.0));
    if app.database.url != "memory://" {
        assert!(
            value(&text, "lead_inbox_db_pool_connections{state=\"idle\"}").is_some(),
            "{text}"
        );
    }
}

#[tokio::test]
async fn without_a_key_metrics_are_not_on_the_main_port() {
    let Some(app) = spawn_app("metrics_off").await else {
        return;
    };
    let (status, _) = scrape(&app, app.url("/metrics"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn metrics_can_have_their_own_open_address() {
    let Some(app) = spawn_app_with("metrics_bind", |config| {
        config.metrics_bind = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await
    else {
        return;
    };
    let address = app.metrics_address.expect("a metrics address");
    assert_ne!(address, app.address);
    let (status, text) = scrape(&app, format!("http://{address}/metrics"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        value(&text, "lead_inbox_rate_limited_total"),
        Some(0.0),
        "{text}"
    );
    let (status, _) = scrape(&app, format!("http://{address}/api/v1/leads"), None).await;
    assert_eq!(status, 404, "only metrics there");
}
