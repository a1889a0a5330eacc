//! The web console in a real browser (issue #20): Debian's Chromium driven by
//! Playwright for Python (`tests/browser/console.py`), with axe-core. Needs
//! `LEAD_INBOX_TEST_BROWSER_PYTHON`, a Python with the pinned Playwright and
//! axe-playwright-python (`.ci/browser.sh` makes it); skipped without it locally,
//! failed without it in CI. Screenshots of each page go to `target/console-screenshots`.

use std::{path::PathBuf, time::Duration};

use lead_inbox_application::Role;
use lead_inbox_test_env::required_in_ci;
use lead_inbox_tests::{
    WEBHOOK_TOKEN, clean_example,
    console::{PASSWORD, create_user, quarantine},
    example_with,
    receiver::Receiver,
    spawn_app_with,
};
use serde_json::json;

pub const BROWSER_PYTHON_ENV: &str = "LEAD_INBOX_TEST_BROWSER_PYTHON";

/// Leads whose every text field tries to run a script or reach another origin.
fn hostile_fields() -> serde_json::Value {
    json!({
        "SenderName": "<script>window.__pwned=1</script>",
        "Message": "\"><img src=https://attacker.invalid/x.png onerror=\"window.__pwned=1\"><svg onload=window.__pwned=1>",
        "Source": "javascript:window.__pwned=1",
        "EntityReference": "<iframe src=https://attacker.invalid></iframe>",
        "SenderEmail": "x@example.pt\"><style>body{background:url(https://attacker.invalid/c)}</style>",
        "PresentationLetter": "{{7*7}} ${7*7} <link rel=stylesheet href=https://attacker.invalid/s.css>",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_a_real_browser() {
    let Some(python) = required_in_ci(BROWSER_PYTHON_ENV, "the console's browser tests") else {
        return;
    };
    let Some(app) = spawn_app_with("console_browser", |config| {
        config.forward_allow_private = true;
        config.forward_retry_schedule = Some("1s".into());
    })
    .await
    else {
        return;
    };
    for (name, role) in [
        ("ana", Role::Agent),
        ("bea", Role::Agent),
        ("root", Role::Admin),
    ] {
        create_user(&app, name, role).await.expect("a database");
    }
    let deliver = |body: serde_json::Value| {
        let app = &app;
        async move {
            let answer = app.deliver(Some(WEBHOOK_TOKEN), body.to_string()).await;
            assert_eq!(answer.status().as_u16(), 200, "delivered");
        }
    };
    let (search_reference, _) = clean_example(11);
    deliver(example_with(
        &search_reference,
        json!({"SenderName": "Maria Inês Sequeira", "SenderEmail": "maria.sequeira@example.pt"}),
    ))
    .await;
    for n in 12..16 {
        deliver(clean_example(n).1).await;
    }
    let (hostile_reference, _) = clean_example(20);
    deliver(example_with(&hostile_reference, hostile_fields())).await;
    let (quarantined_reference, quarantined) = clean_example(30);
    quarantine(&app, &quarantined, "refused by older rules")
        .await
        .expect("a database");
    let (live_reference, _) = clean_example(40);
    let live_body = example_with(
        &live_reference,
        json!({"SenderName": "Live Lead", "SenderEmail": "live.lead@example.pt"}),
    );

    // A lead the CRM refuses until its delivery is failed (the schedule is spent),
    // for the admin to retry from the console once the CRM is back.
    let receiver = Receiver::start().await;
    let (failed_reference, failed_body) = clean_example(50);
    receiver.answer_when(&failed_reference, 500, None);
    let (status, created) = app
        .api_json(
            reqwest::Method::POST,
            "/api/v1/destinations",
            Some(json!({"url": receiver.url(), "description": "<b>The CRM</b>"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    deliver(failed_body).await;
    let mut failed = false;
    for _ in 0..200 {
        let (_, page) = app.api_get("/api/v1/deliveries?status=failed").await;
        if page["items"][0]["leadReference"] == failed_reference.as_str() {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(failed, "the refused lead's delivery failed");
    receiver.answer_all_ok();
    let delivered_before = receiver.accepted().len();

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shots = root.join("../target/console-screenshots");
    let script = root.join("browser/console.py");
    let mut command = std::process::Command::new(&python);
    command
        .arg(&script)
        .env("BASE_URL", app.url(""))
        .env("WEBHOOK_TOKEN", WEBHOOK_TOKEN)
        .env("PASSWORD", PASSWORD)
        .env("SCREENSHOTS", &shots)
        .env("SEARCH_NAME", "Sequeira")
        .env("SEARCH_REFERENCE", &search_reference)
        .env("HOSTILE_REFERENCE", &hostile_reference)
        .env("QUARANTINED_REFERENCE", &quarantined_reference)
        .env("LIVE_REFERENCE", &live_reference)
        .env("FAILED_REFERENCE", &failed_reference)
        .env("LIVE_LEAD", live_body.to_string());
    // The server runs on this runtime's other thread while the script drives it.
    let run = tokio::task::spawn_blocking(move || command.output());
    let output = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("the browser test ends within 10 minutes")
        .expect("the test's thread ends")
        .expect("the browser test starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    // The retry in the browser reached the CRM.
    let delivered: Vec<String> = receiver.accepted()[delivered_before..]
        .iter()
        .map(|r| {
            r.json()["lead"]["leadReference"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(
        delivered.contains(&failed_reference),
        "the retried delivery arrived: {delivered:?}"
    );
    for page in [
        "login",
        "inbox",
        "lead",
        "contacts",
        "statistics",
        "quarantine",
        "admin",
        "destinations",
        "deliveries",
    ] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "a screenshot of {page}"
        );
    }
}
