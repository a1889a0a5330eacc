//! The web console over real HTTP, as a browser without JavaScript uses it: sign-in,
//! the form tokens, the roles, sessions ending, a hostile lead escaped, the security
//! headers, the static files' caching, and the console switched off.

use lead_inbox_application::{Role, SecretString, SystemClock};
use lead_inbox_server::{Config, config::ConsoleSwitch};
use lead_inbox_tests::{
    TestApp, WEBHOOK_TOKEN, clean_example,
    console::{PASSWORD, Visitor, create_user, open, quarantine},
    example_with,
    receiver::Receiver,
    spawn_app, spawn_app_with,
};
use serde_json::json;

/// A started app with an agent `ana` and an admin `root`; `None` when skipped.
async fn app_with_people(what: &str) -> Option<TestApp> {
    let app = spawn_app(what).await?;
    create_user(&app, "ana", Role::Agent).await?;
    create_user(&app, "root", Role::Admin).await?;
    Some(app)
}

async fn deliver(app: &TestApp, body: &serde_json::Value) {
    let response = app.deliver(Some(WEBHOOK_TOKEN), body.to_string()).await;
    assert_eq!(response.status().as_u16(), 200, "delivered");
}

#[tokio::test]
async fn sign_in_refuses_wrong_credentials_with_one_message_and_opens_a_session() {
    let Some(app) = app_with_people("console_sign_in").await else {
        return;
    };
    let mut visitor = Visitor::new(&app);
    let before = visitor.get("/inbox").await;
    assert_eq!(before.status, 303, "no session: to the sign-in page");
    assert_eq!(before.header("location"), "/inbox/login");

    let form = visitor.get("/inbox/login").await;
    for label in ["Username", "Password", "Sign in"] {
        assert!(form.body.contains(label), "the form says {label}");
    }
    let wrong_password = visitor.sign_in("ana", "not the password at all").await;
    let unknown_user = visitor.sign_in("nobody", PASSWORD).await;
    assert_eq!(wrong_password.status, 401);
    assert_eq!(unknown_user.status, 401);
    let message = "The username or password is not right.";
    assert!(wrong_password.body.contains(message));
    assert!(unknown_user.body.contains(message), "the same message");
    assert!(!visitor.cookies.contains_key("lead_inbox_session"));

    let forged = visitor
        .post(
            "/inbox/login",
            &[
                ("csrf", "forged"),
                ("username", "ana"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "a sign-in without the form's token");

    let signed = visitor.sign_in("ana", PASSWORD).await;
    assert_eq!(signed.status, 303);
    let cookie = signed
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("lead_inbox_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/inbox"), "{cookie}");
    assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");
    let inbox = visitor.get("/inbox").await;
    assert_eq!(inbox.status, 200);
    assert!(inbox.body.contains("Signed in as <strong>ana</strong>"));
    assert!(inbox.body.contains(r#"<label for="q">Search</label>"#));
    assert!(inbox.body.contains(r#"<label for="status">Status</label>"#));
}

#[tokio::test]
async fn a_hostile_lead_is_escaped_everywhere_under_a_strict_policy() {
    let Some(app) = app_with_people("console_hostile").await else {
        return;
    };
    let (reference, _) = clean_example(1);
    let hostile = example_with(
        &reference,
        json!({
            "SenderName": "<script>alert(1)</script>",
            "Message": "\"><img src=x onerror=alert(2)>",
            "SenderEmail": "ana.clean@example.pt",
        }),
    );
    deliver(&app, &hostile).await;
    let mut agent = Visitor::signed_in(&app, "ana").await;
    let inbox = agent.get("/inbox").await;
    assert_eq!(
        inbox.header("content-security-policy"),
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    );
    assert_eq!(inbox.header("x-frame-options"), "DENY");
    assert_eq!(inbox.header("x-content-type-options"), "nosniff");
    assert_eq!(inbox.header("referrer-policy"), "same-origin");
    assert_eq!(inbox.header("cache-control"), "no-store");
    assert!(
        inbox
            .body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || inbox.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        inbox.body
    );
    assert!(!inbox.body.contains("<script>alert"));

    let lead = agent.get(&format!("/inbox/leads/{reference}")).await;
    assert_eq!(lead.status, 200);
    assert!(!lead.body.contains("<script>alert"));
    assert!(!lead.body.contains("<img src=x"));
    assert!(!lead.body.contains(" style="), "no inline style");
    let scripts: Vec<&str> = lead
        .body
        .match_indices("<script")
        .map(|(i, _)| &lead.body[i..i + 40])
        .collect();
    assert_eq!(scripts.len(), 2, "only the two script files: {scripts:?}");
    assert!(
        scripts
            .iter()
            .all(|s| s.starts_with("<script src=\"/inbox/static/"))
    );
}

#[tokio::test]
async fn changes_need_the_form_token_and_the_version_read() {
    let Some(app) = app_with_people("console_changes").await else {
        return;
    };
    let (reference, body) = clean_example(2);
    deliver(&app, &body).await;
    let path = format!("/inbox/leads/{reference}");
    let mut ana = Visitor::signed_in(&app, "ana").await;
    let mut root = Visitor::signed_in(&app, "root").await;
    let page = ana.get(&path).await;
    assert!(
        page.body
            .contains(r#"<label for="work-status">Status</label>"#)
    );
    assert!(
        page.body.contains(r#"value="qualified""#),
        "forward moves offered"
    );
    let token = page.form_token();

    let forged = ana
        .post(&path, &[("version", "1"), ("status", "contacted")])
        .await;
    assert_eq!(forged.status, 403, "no token");
    let stolen = root
        .post(
            &path,
            &[("csrf", &token), ("version", "1"), ("status", "contacted")],
        )
        .await;
    assert_eq!(stolen.status, 403, "another session's token");
    let (_, lead) = app.api_get(&format!("/api/v1/leads/{reference}")).await;
    assert_eq!(lead["status"], "new", "nothing changed");
    let version = lead["version"].as_i64().expect("a version").to_string();

    let saved = ana
        .post(
            &path,
            &[
                ("csrf", &token),
                ("version", &version),
                ("status", "contacted"),
                ("assignee", "ana"),
                ("tags", "Hot, rent"),
                ("note", "called <b>twice</b>"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let (_, lead) = app.api_get(&format!("/api/v1/leads/{reference}")).await;
    assert_eq!(lead["status"], "contacted");
    assert_eq!(lead["assignee"], "ana");
    assert_eq!(lead["tags"], json!(["hot", "rent"]));
    let shown = ana.get(saved.header("location")).await;
    assert!(shown.body.contains("Saved."));
    assert!(
        shown.body.contains("called &#60;b&#62;twice&#60;/b&#62;")
            || shown.body.contains("called &lt;b&gt;twice&lt;/b&gt;")
    );
    assert!(
        shown
            .body
            .contains("<strong>status</strong> new → contacted"),
        "the history shows the change"
    );

    // root read version `version` too: their change is refused, nothing overwritten.
    let root_token = root.get(&path).await.form_token();
    let stale = root
        .post(
            &path,
            &[
                ("csrf", &root_token),
                ("version", &version),
                ("status", "lost"),
                ("assignee", "root"),
            ],
        )
        .await;
    assert_eq!(stale.status, 409);
    assert!(stale.body.contains("Someone else changed this lead"));
    assert!(
        stale
            .body
            .contains(r#"id="work-assignee" name="assignee" value="ana""#),
        "the current values"
    );
    let (_, lead) = app.api_get(&format!("/api/v1/leads/{reference}")).await;
    assert_eq!(lead["status"], "contacted");
    assert_eq!(lead["assignee"], "ana");
}

#[tokio::test]
async fn admin_pages_are_for_admins() {
    let Some(app) = app_with_people("console_roles").await else {
        return;
    };
    let mut ana = Visitor::signed_in(&app, "ana").await;
    let mut root = Visitor::signed_in(&app, "root").await;
    for path in ["/inbox/quarantine", "/inbox/admin"] {
        assert_eq!(ana.get(path).await.status, 403, "{path} for an agent");
        assert_eq!(root.get(path).await.status, 200, "{path} for an admin");
    }
    assert!(
        !ana.get("/inbox").await.body.contains("/inbox/admin\""),
        "no admin link for agents"
    );
    let token = ana.get("/inbox").await.form_token();
    let refused = ana
        .post(
            "/inbox/admin/users",
            &[
                ("csrf", &token),
                ("username", "eve"),
                ("role", "admin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);

    // An admin issues an API key; its secret is shown once and works on the API.
    let token = root.get("/inbox/admin").await.form_token();
    let issued = root
        .post(
            "/inbox/admin/credentials/api-keys",
            &[("csrf", &token), ("name", "crm"), ("read", "on")],
        )
        .await;
    assert_eq!(issued.status, 200);
    let start = issued
        .body
        .find("<output id=\"new-secret\">")
        .expect("the secret")
        + 24;
    let secret = &issued.body[start..start + issued.body[start..].find('<').expect("ends")];
    assert!(secret.starts_with("lik_"), "{secret}");
    let listed = app
        .client
        .get(app.url("/api/v1/leads"))
        .bearer_auth(secret)
        .send()
        .await
        .expect("answers");
    assert_eq!(listed.status().as_u16(), 200);
    assert!(
        !root.get("/inbox/admin").await.body.contains(secret),
        "shown once"
    );

    // The agent list shows both people; an admin disables the agent.
    let page = root.get("/inbox/admin").await;
    assert!(page.body.contains("<th scope=\"row\">ana</th>"));
    let disabled = root
        .post(
            "/inbox/admin/users/ana/disable",
            &[("csrf", &page.form_token())],
        )
        .await;
    assert_eq!(disabled.status, 303);
    assert_eq!(
        ana.get("/inbox").await.status,
        303,
        "the agent's session ended"
    );
    assert_eq!(
        ana.sign_in("ana", PASSWORD).await.status,
        401,
        "and they cannot sign in"
    );
}

#[tokio::test]
async fn sessions_end_at_sign_out_and_when_the_password_is_reset() {
    let Some(app) = app_with_people("console_sessions").await else {
        return;
    };
    let mut ana = Visitor::signed_in(&app, "ana").await;
    let cookie = ana.cookies.clone();
    let token = ana.get("/inbox").await.form_token();
    let out = ana.post("/inbox/logout", &[("csrf", &token)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), "/inbox/login");
    ana.cookies = cookie;
    assert_eq!(
        ana.get("/inbox").await.status,
        303,
        "the old cookie is revoked server-side"
    );

    let mut again = Visitor::signed_in(&app, "ana").await;
    let storage = open(&app).await.expect("opened");
    storage
        .console_access(&Config::default(), std::sync::Arc::new(SystemClock))
        .reset_password("ana", SecretString::from("a brand new password".to_owned()))
        .await
        .expect("reset");
    storage.close().await;
    assert_eq!(
        again.get("/inbox").await.status,
        303,
        "a reset ends the sessions"
    );
    assert_eq!(
        again.sign_in("ana", "a brand new password").await.status,
        303
    );
}

#[tokio::test]
async fn a_quarantined_payload_is_replayed_and_another_deleted() {
    let Some(app) = app_with_people("console_quarantine").await else {
        return;
    };
    let (reference, body) = clean_example(3);
    let entry = quarantine(&app, &body, "older rules")
        .await
        .expect("a database");
    let refused = app
        .deliver(Some(WEBHOOK_TOKEN), "<not json onclick=x>")
        .await;
    assert_eq!(refused.status().as_u16(), 400);

    let mut root = Visitor::signed_in(&app, "root").await;
    let page = root.get("/inbox/quarantine").await;
    assert!(page.body.contains("older rules"));
    assert!(
        page.body.contains("&#60;not json onclick=x&#62;")
            || page.body.contains("&lt;not json onclick=x&gt;")
    );
    let replayed = root
        .post(
            &format!("/inbox/quarantine/{entry}/replay"),
            &[("csrf", &page.form_token())],
        )
        .await;
    assert_eq!(replayed.status, 303);
    assert_eq!(
        replayed.header("location"),
        format!("/inbox/leads/{reference}")
    );
    let (status, lead) = app.api_get(&format!("/api/v1/leads/{reference}")).await;
    assert_eq!(status, 200, "it is a lead now");
    assert_eq!(lead["leadReference"], reference.as_str());

    let (_, left) = app.api_get("/api/v1/quarantine").await;
    let items = left["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "the replayed entry left: {left}");
    let id = items[0]["id"].as_i64().expect("an id");
    let deleted = root
        .post(
            &format!("/inbox/quarantine/{id}/delete"),
            &[("csrf", &page.form_token())],
        )
        .await;
    assert_eq!(deleted.status, 303);
    let (_, left) = app.api_get("/api/v1/quarantine").await;
    assert_eq!(left["items"], json!([]));
}

#[tokio::test]
async fn static_files_are_cached_for_a_year_and_revalidate_with_304() {
    let Some(app) = spawn_app("console_static").await else {
        return;
    };
    let mut visitor = Visitor::new(&app);
    let login = visitor.get("/inbox/login").await;
    let start = login
        .body
        .find("href=\"/inbox/static/")
        .expect("the stylesheet")
        + 6;
    let path = &login.body[start..start + login.body[start..].find('"').expect("ends")];
    let css = visitor.get(path).await;
    assert_eq!(css.status, 200);
    assert!(
        css.body.contains(":focus-visible"),
        "the console's stylesheet"
    );
    assert_eq!(
        css.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    let etag = css.header("etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
    assert!(
        path.contains(&etag[1..17]),
        "the path holds the content hash"
    );
    let again = visitor.get_with(path, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let other = path.replace(&etag[1..17], "0000000000000000");
    assert_eq!(visitor.get(&other).await.status, 404, "another version");
}

#[tokio::test]
async fn the_language_follows_accept_language_and_the_switch() {
    let Some(app) = app_with_people("console_language").await else {
        return;
    };
    let mut visitor = Visitor::new(&app);
    let pt = visitor
        .get_with("/inbox/login", &[("accept-language", "pt-PT,pt;q=0.9")])
        .await;
    assert!(pt.body.contains("<html lang=\"pt-PT\">"));
    assert!(pt.body.contains("Palavra-passe"));
    let en = visitor.get("/inbox/login?lang=en").await;
    assert!(en.body.contains("<html lang=\"en\">"));
    let remembered = visitor
        .get_with("/inbox/login", &[("accept-language", "pt-PT")])
        .await;
    assert!(
        remembered.body.contains("<html lang=\"en\">"),
        "the switch is kept in a cookie"
    );
}

#[tokio::test]
async fn the_console_can_be_switched_off() {
    let Some(app) =
        spawn_app_with("console_off", |config| config.console = ConsoleSwitch::Off).await
    else {
        return;
    };
    let response = app
        .client
        .get(app.url("/inbox/login"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 404);
    let (status, _) = app.api_get("/api/v1/leads").await;
    assert_eq!(status, 200, "the API is served still");
}

#[tokio::test]
async fn an_admin_finds_and_erases_a_persons_data() {
    let Some(app) = app_with_people("console_person").await else {
        return;
    };
    let (reference, _) = clean_example(4);
    deliver(
        &app,
        &example_with(&reference, json!({"SenderEmail": "erase.me@example.pt"})),
    )
    .await;
    let (kept, body) = clean_example(5);
    deliver(&app, &body).await;
    let mut ana = Visitor::signed_in(&app, "ana").await;
    assert_eq!(
        ana.get("/inbox/admin/person?email=erase.me@example.pt")
            .await
            .status,
        403
    );
    let mut root = Visitor::signed_in(&app, "root").await;
    let found = root
        .get("/inbox/admin/person?email=Erase.Me@example.pt")
        .await;
    assert_eq!(found.status, 200);
    assert!(found.body.contains(&reference), "the person's lead");
    assert!(!found.body.contains(&kept), "not another's");
    let erased = root
        .post(
            "/inbox/admin/person",
            &[
                ("csrf", &found.form_token()),
                ("email", "erase.me@example.pt"),
                ("phone", ""),
            ],
        )
        .await;
    assert_eq!(erased.status, 200);
    assert!(
        erased
            .body
            .contains("Erased: leads and quarantined payloads: 1 + 0")
    );
    let (gone, _) = app.api_get(&format!("/api/v1/leads/{reference}")).await;
    assert_eq!(gone, 404);
    let (still, _) = app.api_get(&format!("/api/v1/leads/{kept}")).await;
    assert_eq!(still, 200);
    let (_, log) = app.api_get("/api/v1/erasures").await;
    assert_eq!(log["items"][0]["requestedBy"], "console:root", "{log}");
}

#[tokio::test]
async fn admins_see_destinations_and_deliveries_retry_a_failed_one_and_replay() {
    let Some(app) = spawn_app_with("console_forwarding", |config| {
        config.forward_allow_private = true;
        config.forward_retry_schedule = Some("1s".into());
    })
    .await
    else {
        return;
    };
    create_user(&app, "ana", Role::Agent)
        .await
        .expect("a database");
    create_user(&app, "root", Role::Admin)
        .await
        .expect("a database");
    let receiver = Receiver::start().await;
    receiver.answer_otherwise(500);
    let (status, created) = app
        .api_json(
            reqwest::Method::POST,
            "/api/v1/destinations",
            Some(json!({"url": receiver.url(), "description": "<script>alert(1)</script> CRM"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let destination = created["destination"]["id"].as_i64().expect("an id");
    let (reference, body) = clean_example(60);
    deliver(&app, &body).await;
    let mut delivery = None;
    for _ in 0..200 {
        let (_, page) = app.api_get("/api/v1/deliveries?status=failed").await;
        if let Some(id) = page["items"][0]["id"].as_i64() {
            delivery = Some(id);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let delivery = delivery.expect("the delivery failed: two attempts, each a 500");

    let mut ana = Visitor::signed_in(&app, "ana").await;
    let mut root = Visitor::signed_in(&app, "root").await;
    for path in ["/inbox/destinations", "/inbox/deliveries"] {
        assert_eq!(ana.get(path).await.status, 403, "{path} for an agent");
    }
    let lead_path = format!("/inbox/leads/{reference}");
    assert!(
        !ana.get(&lead_path).await.body.contains("Forwarded to"),
        "an agent's lead page has no deliveries"
    );

    let page = root.get("/inbox/destinations").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&receiver.url()));
    assert!(page.body.contains("lead.created"));
    assert!(
        page.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62; CRM")
            || page
                .body
                .contains("&lt;script&gt;alert(1)&lt;/script&gt; CRM"),
        "the description escaped"
    );
    assert!(!page.body.contains("<script>alert(1)"));

    let dead = root.get("/inbox/deliveries?status=failed").await;
    assert_eq!(dead.status, 200);
    assert!(dead.body.contains("Failed deliveries"));
    assert!(dead.body.contains(&reference));
    assert!(dead.body.contains("HTTP 500"));
    let lead_page = root.get(&lead_path).await;
    assert!(lead_page.body.contains("Forwarded to"));
    assert!(
        lead_page
            .body
            .contains(&format!("/inbox/deliveries/{delivery}/retry"))
    );

    let forged = root
        .post(
            &format!("/inbox/deliveries/{delivery}/retry"),
            &[("csrf", "forged"), ("back", &lead_path)],
        )
        .await;
    assert_eq!(forged.status, 403, "a retry without the form's token");
    receiver.answer_all_ok();
    let retried = root
        .post(
            &format!("/inbox/deliveries/{delivery}/retry"),
            &[("csrf", &dead.form_token()), ("back", &lead_path)],
        )
        .await;
    assert_eq!(retried.status, 303);
    assert_eq!(
        retried.header("location"),
        format!("{lead_path}?done=retried")
    );
    assert!(
        receiver
            .wait_for(std::time::Duration::from_secs(15), |r| r
                .iter()
                .any(|r| r.status == 200))
            .await,
        "the retry reached the CRM"
    );
    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, found) = app.api_get(&format!("/api/v1/deliveries/{delivery}")).await;
        status = found["status"].clone();
        if status == "delivered" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "delivered");
    let retried_page = root.get(&format!("{lead_path}?done=retried")).await;
    assert!(retried_page.body.contains("Retried"));
    assert!(
        !retried_page
            .body
            .contains(&format!("/inbox/deliveries/{delivery}/retry")),
        "no retry button on a delivered one"
    );

    // A replay since an hour ago (the console's zone, Lisbon) sends the lead again, as
    // a new delivery with a new webhook-id.
    let token = root.get("/inbox/destinations").await.form_token();
    let since = (chrono::Utc::now() - chrono::Duration::hours(1))
        .with_timezone(&chrono_tz::Europe::Lisbon)
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let replayed = root
        .post(
            &format!("/inbox/destinations/{destination}/replay"),
            &[("csrf", &token), ("since", &since)],
        )
        .await;
    assert_eq!(replayed.status, 303);
    assert_eq!(
        replayed.header("location"),
        "/inbox/destinations?done=replayed&count=1"
    );
    assert!(
        receiver
            .wait_for(std::time::Duration::from_secs(15), |r| r
                .iter()
                .filter(|r| r.status == 200)
                .count()
                == 2)
            .await,
        "the replay reached the CRM"
    );
    let ids: std::collections::BTreeSet<String> = receiver
        .accepted()
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 2, "a replay has its own webhook-id");
    let bad = root
        .post(
            &format!("/inbox/destinations/{destination}/replay"),
            &[("csrf", &token), ("since", "yesterday")],
        )
        .await;
    assert_eq!(bad.header("location"), "/inbox/destinations?done=bad-since");

    // Disabled in the console: the API says so, with the operator as the reason.
    let token = root.get("/inbox/destinations").await.form_token();
    let disabled = root
        .post(
            &format!("/inbox/destinations/{destination}/disable"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(disabled.status, 303);
    let (_, view) = app
        .api_get(&format!("/api/v1/destinations/{destination}"))
        .await;
    assert_eq!(view["enabled"], false);
    assert_eq!(view["disabledReason"], "operator");
    let page = root.get("/inbox/destinations?done=disabled").await;
    assert!(page.body.contains("Disabled (operator)"));
    assert!(
        page.body
            .contains(&format!("/inbox/destinations/{destination}/enable"))
    );
    let enabled = root
        .post(
            &format!("/inbox/destinations/{destination}/enable"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(enabled.status, 303);
    let (_, view) = app
        .api_get(&format!("/api/v1/destinations/{destination}"))
        .await;
    assert_eq!(view["enabled"], true);
    assert_eq!(
        root.post("/inbox/destinations/1/explode", &[("csrf", &token)])
            .await
            .status,
        404
    );
}
