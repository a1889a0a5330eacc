//! End-to-end: forwarding's API over real HTTP — destinations (secrets shown once,
//! the rules that refuse one, rotation), deliveries (filters, pages, retry, replay),
//! the `admin` scope, and the metrics of the backlog.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use lead_inbox_application::{CredentialKind, CredentialManagement, Scope, SystemClock};
use lead_inbox_domain::forwarding::{Attempt, AttemptOutcome, DestinationId, Verdict};
use lead_inbox_server::Config;
use lead_inbox_tests::{Backend, TestApp, WEBHOOK_TOKEN, example, spawn_app_on, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};

async fn create(app: &TestApp, body: Value) -> (u16, Value) {
    app.api_json(Method::POST, "/api/v1/destinations", Some(body))
        .await
}

/// Creates a destination that must be accepted; its view and its secret.
async fn created(app: &TestApp, body: Value) -> (Value, String) {
    let (status, answer) = create(app, body).await;
    assert_eq!(status, 201, "{answer}");
    let secret = answer["secret"].as_str().expect("a secret").to_owned();
    (answer["destination"].clone(), secret)
}

fn id_of(view: &Value) -> i64 {
    view["id"].as_i64().expect("an id")
}

/// The ids of a page of deliveries, in order.
fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect()
}

fn no_allow_private(_: &mut Config) {}

#[tokio::test]
async fn destinations_show_their_secret_once_and_refuse_what_breaks_a_rule() {
    let Some(app) = spawn_app_with("forwarding-destinations", no_allow_private).await else {
        return;
    };
    // Refusals name the rule, with the API's error shape.
    for (url, rule) in [
        ("http://crm.example.com/hook", "https_required"),
        ("http://127.0.0.1:8080/hook", "https_required"),
        ("https://127.0.0.1/hook", "loopback_address"),
        ("https://localhost/hook", "loopback_address"),
        ("https://10.1.2.3/hook", "private_address"),
        ("https://169.254.169.254/latest", "cloud_metadata_address"),
        ("https://user:pw@crm.example.com/hook", "credentials_in_url"),
        ("not a url", "invalid_url"),
    ] {
        let (status, error) = create(&app, json!({ "url": url })).await;
        assert_eq!(status, 400, "{url}: {error}");
        assert_eq!(error["code"], rule, "{url}: {error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap_or_default()
                .contains("url"),
            "the message names the field: {error}"
        );
    }
    for (body, rule) in [
        (
            json!({"url": "https://crm.example.com/h", "events": []}),
            "no_events",
        ),
        (
            json!({"url": "https://crm.example.com/h", "format": "casayes", "events": ["lead.created", "lead.updated"]}),
            "casayes_created_only",
        ),
        (
            json!({"url": "https://crm.example.com/h", "casayesToken": "t"}),
            "casayes_token_without_casayes_format",
        ),
        (
            json!({"url": "https://crm.example.com/h", "maxInFlight": 0}),
            "max_in_flight",
        ),
        (
            json!({"url": "https://crm.example.com/h", "entityTypes": []}),
            "no_entity_types",
        ),
        (
            json!({"url": "https://crm.example.com/h", "subject": "leads"}),
            "subject",
        ),
        (
            json!({"kind": "nats", "url": "https://crm.example.com/h", "subject": "leads"}),
            "invalid_nats_url",
        ),
    ] {
        let (status, error) = create(&app, body.clone()).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (400, Some(rule)),
            "{body}"
        );
    }
    let (status, error) = create(
        &app,
        json!({"url": "https://crm.example.com/h", "format": "xml"}),
    )
    .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("invalid_request")),
        "{error}"
    );

    // Created: the defaults, and the secret this once.
    let (view, secret) = created(
        &app,
        json!({
            "url": "https://crm.example.com/hooks/lead-inbox",
            "events": ["lead.updated", "lead.created"],
            "entityTypes": ["Listing", "Office"],
            "description": "Our CRM",
        }),
    )
    .await;
    let id = id_of(&view);
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(secret.len(), "whsec_".len() + 44, "base64 of 32 bytes");
    assert_eq!(view["kind"], "webhook");
    assert_eq!(view["url"], "https://crm.example.com/hooks/lead-inbox");
    assert_eq!(view["events"], json!(["lead.created", "lead.updated"]));
    assert_eq!(view["format"], "lead");
    assert_eq!(view["entityTypes"], json!(["Listing", "Office"]));
    assert_eq!(view["maxInFlight"], 8);
    assert_eq!(view["enabled"], true);
    assert_eq!(view["casayesTokenSet"], false);
    assert!(view.get("secret").is_none() && view.get("disabledReason").is_none());

    // Never again: not in a read, not in the list, not sealed either.
    let (status, read) = app
        .api_json(Method::GET, &format!("/api/v1/destinations/{id}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(read, view);
    let (_, list) = app
        .api_json(Method::GET, "/api/v1/destinations", None)
        .await;
    assert_eq!(list["items"], json!([view]));
    for text in [read.to_string(), list.to_string()] {
        assert!(!text.contains(&secret[6..]), "{text}");
        assert!(
            !text.contains("plain:") && !text.contains("\"secret"),
            "{text}"
        );
    }

    // Rotation: a new secret, and two that sign until the old one expires in 24 h.
    let (status, rotated) = app
        .api_json(
            Method::POST,
            &format!("/api/v1/destinations/{id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().expect("a secret");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let stored = app
        .destinations
        .get(DestinationId(id))
        .await
        .expect("read")
        .expect("there");
    let now = Utc::now();
    let live: Vec<_> = stored
        .secrets
        .iter()
        .filter(|secret| secret.expires_at.is_none_or(|at| at > now))
        .collect();
    assert_eq!(live.len(), 2, "the new secret and the previous one sign");
    let expiring = live
        .iter()
        .find_map(|secret| secret.expires_at)
        .expect("the previous one expires");
    let hours = (expiring - now).num_minutes() as f64 / 60.0;
    assert!((23.9..=24.0).contains(&hours), "{hours} h");

    // A change: the rules again, then what changed.
    let path = format!("/api/v1/destinations/{id}");
    let (status, error) = app
        .api_json(Method::PATCH, &path, Some(json!({"maxInFlight": 300})))
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("max_in_flight"))
    );
    let (status, error) = app
        .api_json(
            Method::PATCH,
            &path,
            Some(json!({"url": "https://192.168.1.9/x"})),
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("private_address"))
    );
    let (status, changed) = app.api_json(Method::PATCH,
        &path,
        Some(json!({"description": null, "entityTypes": null, "maxInFlight": 2, "enabled": false})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["disabledReason"], "operator");
    assert_eq!(changed["maxInFlight"], 2);
    assert!(changed.get("description").is_none() && changed.get("entityTypes").is_none());
    assert_eq!(changed["url"], view["url"], "what is not given stays");
    let (_, enabled) = app
        .api_json(Method::PATCH, &path, Some(json!({"enabled": true})))
        .await;
    assert_eq!(
        (enabled["enabled"].as_bool(), enabled.get("disabledReason")),
        (Some(true), None)
    );

    // The CasaYes token is write-only; a NATS URL's credentials are never shown.
    let (casayes, _) = created(
        &app,
        json!({"url": "https://crm.example.com/casayes", "format": "casayes", "casayesToken": "crm-token-4242"}),
    )
    .await;
    assert_eq!(casayes["casayesTokenSet"], true);
    assert!(!casayes.to_string().contains("crm-token-4242"));
    let (nats, _) = created(
        &app,
        json!({"kind": "nats", "url": "nats://lead-inbox:hunter2@127.0.0.1:4222", "subject": "leads.casayes"}),
    )
    .await;
    assert_eq!(nats["url"], "nats://***@127.0.0.1:4222");
    assert_eq!(nats["subject"], "leads.casayes");
    let (_, list) = app
        .api_json(Method::GET, "/api/v1/destinations", None)
        .await;
    assert_eq!(ids(&list), [id, id_of(&casayes), id_of(&nats)]);
    assert!(!list.to_string().contains("hunter2") && !list.to_string().contains("crm-token"));

    // Removed, then gone.
    let (status, _) = app.api_json(Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    for method in [Method::GET, Method::DELETE] {
        let (status, error) = app.api_json(method, &path, None).await;
        assert_eq!((status, error["code"].as_str()), (404, Some("not_found")));
    }
    let (status, _) = app
        .api_json(Method::POST, &format!("{path}/rotate-secret"), None)
        .await;
    assert_eq!(status, 404);
    app.stop().await.expect("stopped");
}

#[tokio::test]
async fn plain_http_and_loopback_are_accepted_only_with_allow_private() {
    let Some(app) = spawn_app_with("forwarding-allow-private", |config| {
        config.forward_allow_private = true;
    })
    .await
    else {
        return;
    };
    let (view, _) = created(&app, json!({"url": "http://127.0.0.1:9/hook"})).await;
    assert_eq!(view["url"], "http://127.0.0.1:9/hook");
    let (status, error) = create(&app, json!({"url": "ftp://127.0.0.1/hook"})).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("https_required"))
    );
    app.stop().await.expect("stopped");
}

fn attempt(status: u16, response: &str) -> Attempt {
    Attempt {
        at: Utc::now(),
        status_code: Some(status),
        latency: Duration::from_millis(12),
        error: None,
        response: Some(response.to_owned()),
        verdict: Verdict::of_status(status, None, Utc::now()),
    }
}

#[tokio::test]
async fn deliveries_are_listed_filtered_paged_retried_and_replayed() {
    let Some(app) = spawn_app_with("forwarding-deliveries", |config| {
        config.forward_allow_private = true;
        config.metrics_key = Some("metrics-key".into());
    })
    .await
    else {
        return;
    };
    // Two destinations, disabled so that nothing but this test touches their deliveries.
    let mut destinations = Vec::new();
    for n in 0..2 {
        let (view, _) = created(&app, json!({"url": format!("http://127.0.0.1:9/{n}")})).await;
        let id = id_of(&view);
        let (status, _) = app
            .api_json(
                Method::PATCH,
                &format!("/api/v1/destinations/{id}"),
                Some(json!({"enabled": false})),
            )
            .await;
        assert_eq!(status, 200);
        destinations.push(id);
    }
    let [first, second] = destinations[..] else {
        unreachable!()
    };
    let before = Utc::now() - chrono::Duration::minutes(1);
    let references: Vec<String> = (1..=3).map(|n| format!("CY-FWD-{n}")).collect();
    for reference in &references {
        let answer = app
            .deliver(Some(WEBHOOK_TOKEN), example(reference).to_string())
            .await;
        assert_eq!(answer.status().as_u16(), 200);
    }

    // Replays count what they queue.
    let replay = |id: i64, since: String| {
        let app = &app;
        async move {
            app.api_json(
                Method::POST,
                &format!("/api/v1/destinations/{id}/replay"),
                Some(json!({ "since": since })),
            )
            .await
        }
    };
    let (status, answer) = replay(first, before.to_rfc3339()).await;
    assert_eq!(
        (status, answer["deliveries"].as_u64()),
        (200, Some(3)),
        "{answer}"
    );
    let (_, answer) = replay(
        second,
        (Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
    )
    .await;
    assert_eq!(answer["deliveries"], 0, "nothing happened since then");
    let (_, answer) = replay(second, "2020-01-01T00:00:00+01:00".into()).await;
    assert_eq!(answer["deliveries"], 3);
    let (status, _) = replay(999_999, before.to_rfc3339()).await;
    assert_eq!(status, 404);
    let (status, error) = replay(first, "yesterday".into()).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("invalid_request"))
    );

    // The list: newest first, each with what it is.
    let (status, page) = app
        .api_json(
            Method::GET,
            &format!("/api/v1/deliveries?destination={first}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let all = ids(&page);
    assert_eq!(all.len(), 3);
    assert!(
        all.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first: {all:?}"
    );
    let newest = &page["items"][0];
    assert_eq!(newest["destinationId"], first);
    assert_eq!(newest["leadReference"], "CY-FWD-3");
    assert_eq!(newest["status"], "pending");
    assert_eq!(newest["kind"], "lead.created");
    assert_eq!(newest["attempts"], json!([]));
    assert!(newest["eventId"].as_i64().is_some() && newest["createdAt"].is_string());
    assert!(
        newest["messageId"]
            .as_str()
            .is_some_and(|id| id.starts_with("msg_") && id.len() == 36)
    );
    assert!(page.get("nextCursor").is_none());

    // Pages of two.
    let (_, one) = app
        .api_json(
            Method::GET,
            &format!("/api/v1/deliveries?destination={first}&limit=2"),
            None,
        )
        .await;
    let cursor = one["nextCursor"].as_str().expect("a next page").to_owned();
    let (_, two) = app
        .api_json(
            Method::GET,
            &format!("/api/v1/deliveries?destination={first}&limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!([ids(&one), ids(&two)].concat(), all);
    assert!(two.get("nextCursor").is_none());

    // Filters narrow.
    let (_, by_lead) = app
        .api_json(
            Method::GET,
            "/api/v1/deliveries?leadReference=CY-FWD-2",
            None,
        )
        .await;
    let items = by_lead["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{by_lead}");
    assert!(items.iter().all(|item| item["leadReference"] == "CY-FWD-2"));
    let mut to: Vec<i64> = items
        .iter()
        .map(|item| item["destinationId"].as_i64().unwrap_or(0))
        .collect();
    to.sort_unstable();
    assert_eq!(to, [first, second]);
    let (_, failed) = app
        .api_json(Method::GET, "/api/v1/deliveries?status=failed", None)
        .await;
    assert_eq!(failed["items"], json!([]));
    let (status, error) = app
        .api_json(Method::GET, "/api/v1/deliveries?status=lost", None)
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("invalid_request"))
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("status"),
        "{error}"
    );

    // A delivery fails (its schedule spent); it is in the dead-letter view with its
    // attempt, and a retry makes it pending again.
    let now = Utc::now();
    let claimed = app
        .deliveries
        .claim(
            DestinationId(first),
            "test",
            now,
            now + chrono::Duration::minutes(1),
            2,
        )
        .await
        .expect("claimed");
    assert_eq!(claimed.len(), 2);
    let (dead, done) = (claimed[0].id, claimed[1].id);
    assert!(
        app.deliveries
            .finish(
                dead,
                "test",
                &attempt(500, "{\"error\":\"down\"}"),
                AttemptOutcome::Failed
            )
            .await
            .expect("recorded")
    );
    assert!(
        app.deliveries
            .finish(done, "test", &attempt(204, ""), AttemptOutcome::Delivered)
            .await
            .expect("recorded")
    );
    let (_, failed) = app
        .api_json(
            Method::GET,
            &format!("/api/v1/deliveries?status=failed&destination={first}"),
            None,
        )
        .await;
    assert_eq!(ids(&failed), [dead.0]);
    let attempts = &failed["items"][0]["attempts"];
    assert_eq!(attempts[0]["statusCode"], 500);
    assert_eq!(attempts[0]["latencyMs"], 12);
    assert_eq!(attempts[0]["response"], "{\"error\":\"down\"}");
    let (status, one) = app
        .api_json(Method::GET, &format!("/api/v1/deliveries/{}", dead.0), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(one, failed["items"][0]);
    let (status, retried) = app
        .api_json(
            Method::POST,
            &format!("/api/v1/deliveries/{}/retry", dead.0),
            None,
        )
        .await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["status"], "pending");
    assert_eq!(
        retried["attempts"].as_array().map(Vec::len),
        Some(1),
        "its history stays"
    );
    assert!(retried["nextAttemptAt"].is_string());
    let (status, error) = app
        .api_json(
            Method::POST,
            &format!("/api/v1/deliveries/{}/retry", done.0),
            None,
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (409, Some("already_delivered"))
    );
    for path in [
        "/api/v1/deliveries/999999",
        "/api/v1/deliveries/999999/retry",
    ] {
        let method = if path.ends_with("retry") {
            Method::POST
        } else {
            Method::GET
        };
        let (status, error) = app.api_json(method, path, None).await;
        assert_eq!(
            (status, error["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }

    // The backlog, sampled when scraped: two pending for the first destination (one
    // retried, one never tried), three for the second.
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("metrics-key")
        .send()
        .await
        .expect("scraped")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(&format!(
            "lead_inbox_forward_queue_depth{{destination=\"{first}\"}} 2"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "lead_inbox_forward_queue_depth{{destination=\"{second}\"}} 3"
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "lead_inbox_forward_oldest_pending_seconds{{destination=\"{first}\"}}"
    )));

    // Removing a destination removes its deliveries.
    let (status, _) = app
        .api_json(
            Method::DELETE,
            &format!("/api/v1/destinations/{first}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, left) = app
        .api_json(
            Method::GET,
            &format!("/api/v1/deliveries?destination={first}"),
            None,
        )
        .await;
    assert_eq!(left["items"], json!([]));
    app.stop().await.expect("stopped");
}

#[tokio::test]
async fn forwarding_needs_the_admin_scope() {
    let Some(app) = spawn_app_on(Backend::Sqlite, "forwarding-scopes", no_allow_private).await
    else {
        return;
    };
    let store = app.database.open_store().await;
    let credentials =
        CredentialManagement::new(Arc::new(store.credentials()), Arc::new(SystemClock));
    let mut keys = Vec::new();
    for scopes in [vec![Scope::Read], vec![Scope::Read, Scope::Write]] {
        let issued = credentials
            .issue(CredentialKind::ApiKey, "crm".into(), scopes, None)
            .await
            .expect("issued");
        keys.push(secrecy::ExposeSecret::expose_secret(&issued.secret).to_owned());
    }
    store.close().await;
    let (view, _) = created(&app, json!({"url": "https://crm.example.com/h"})).await;
    let id = id_of(&view);
    let calls = [
        (
            Method::POST,
            "/api/v1/destinations".to_owned(),
            Some(json!({"url": "https://crm.example.com/x"})),
        ),
        (Method::GET, "/api/v1/destinations".to_owned(), None),
        (Method::GET, format!("/api/v1/destinations/{id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/destinations/{id}"),
            Some(json!({"enabled": false})),
        ),
        (Method::DELETE, format!("/api/v1/destinations/{id}"), None),
        (
            Method::POST,
            format!("/api/v1/destinations/{id}/rotate-secret"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/destinations/{id}/replay"),
            Some(json!({"since": "2026-01-01T00:00:00Z"})),
        ),
        (Method::GET, "/api/v1/deliveries".to_owned(), None),
        (Method::GET, "/api/v1/deliveries/1".to_owned(), None),
        (Method::POST, "/api/v1/deliveries/1/retry".to_owned(), None),
    ];
    for key in &keys {
        for (method, path, body) in &calls {
            let (status, error) = app
                .api_json_as(key, method.clone(), path, body.clone())
                .await;
            assert_eq!(
                (status, error["code"].as_str()),
                (403, Some("forbidden")),
                "{method} {path}"
            );
        }
    }
    let (status, _) = app
        .api_json_as("not-a-key", Method::GET, "/api/v1/destinations", None)
        .await;
    assert_eq!(status, 401);
    // Nothing was changed by the refused calls.
    let (_, still) = app
        .api_json(Method::GET, &format!("/api/v1/destinations/{id}"), None)
        .await;
    assert_eq!(still, view);
    app.stop().await.expect("stopped");
}

#[tokio::test]
async fn with_a_secrets_key_secrets_are_stored_encrypted_and_a_bad_key_stops_start_up() {
    let key = "q83vEjT9H8qz0cPpmQ2lP5Rr0nWm2vHk5m4b3i0dJ7Q=";
    let Some(app) = spawn_app_with("forwarding-secrets-key", |config| {
        config.secrets_key = Some(key.into());
    })
    .await
    else {
        return;
    };
    let (view, secret) = created(
        &app,
        json!({"url": "https://crm.example.com/casayes", "format": "casayes", "casayesToken": "crm-token-9"}),
    )
    .await;
    let stored = app
        .destinations
        .get(DestinationId(id_of(&view)))
        .await
        .expect("read")
        .expect("there");
    let sealed = [
        stored.secrets[0].sealed.as_str(),
        stored.casayes_token.as_deref().expect("a token"),
    ];
    for text in sealed {
        assert!(text.starts_with("v1:"), "encrypted: {text}");
        assert!(!text.contains(&secret[6..]) && !text.contains("crm-token-9"));
    }
    app.stop().await.expect("stopped");

    let database = lead_inbox_tests::TestDatabase::create(Backend::Sqlite, "forwarding-bad-key")
        .await
        .expect("sqlite");
    let mut config = lead_inbox_tests::test_config(&database.url);
    config.secrets_key = Some("too-short".into());
    let error = lead_inbox_server::Application::build(config)
        .await
        .expect_err("a bad key stops start-up");
    let text = format!(
        "{error}: {}",
        std::error::Error::source(&error)
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    assert!(text.contains("LEAD_INBOX_SECRETS_KEY"), "{text}");
    assert!(
        !text.contains("too-short"),
        "the key is never printed: {text}"
    );
}
