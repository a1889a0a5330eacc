//! The integration guide (`docs/integration-guide.md`), run against the service: its
//! sample lead has the fields a stored lead has, its `curl` examples answer as it says,
//! and every answer it promises for a change is in its table of errors. When the guide
//! and the service part, this fails, naming the example.

use std::collections::BTreeMap;

use lead_inbox_tests::{API_KEY, TestApp, WEBHOOK_TOKEN, example_with, spawn_app};
use serde_json::{Value, json};

const GUIDE: &str = include_str!("../../docs/integration-guide.md");
const HOST: &str = "https://leads.example.com";

/// The fenced blocks of `language`, in order.
fn blocks(language: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in GUIDE.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(tag)) if tag.trim() == language => current = Some(String::new()),
            (Some(block), Some("")) => {
                found.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    found
}

/// The words of a shell command: single and double quotes, `\` continuations.
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut chars = command.chars().peekable();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, '\\') if chars.peek() == Some(&'\n') => {
                chars.next();
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// A `curl` the guide shows: method, path, headers, body.
#[derive(Debug)]
struct Curl {
    method: reqwest::Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    streams: bool,
}

/// Every `curl` of the guide's shell blocks that calls the example host, in order.
fn curls() -> Vec<Curl> {
    let mut found = Vec::new();
    for block in blocks("sh") {
        // Comment lines out, continuations joined.
        let text: String = block
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let text = format!("\n{text}");
        for command in text.split("\ncurl ").skip(1) {
            let words = words(command);
            let Some(url) = words.iter().find(|w| w.starts_with(HOST)) else {
                continue;
            };
            let mut curl = Curl {
                method: reqwest::Method::GET,
                path: url[HOST.len()..].to_owned(),
                headers: Vec::new(),
                body: None,
                streams: false,
            };
            let mut words = words.iter();
            while let Some(word) = words.next() {
                match word.as_str() {
                    "-X" => {
                        curl.method = words.next().expect("a method").parse().expect("a method")
                    }
                    "-H" => {
                        let header = words.next().expect("a header");
                        let (name, value) = header.split_once(':').expect("name: value");
                        let value = value
                            .trim()
                            .replace("$KEY", API_KEY)
                            .replace("$ADMIN", API_KEY);
                        curl.headers.push((name.trim().to_owned(), value));
                    }
                    "-d" => curl.body = words.next().cloned(),
                    "-N" => curl.streams = true,
                    _ => {}
                }
            }
            found.push(curl);
        }
    }
    found
}

/// `(status, code)` of every row of the guide's table of errors.
fn error_table() -> Vec<(u16, String)> {
    let section = GUIDE
        .split("### Errors")
        .nth(1)
        .expect("an Errors section")
        .split("\n### ")
        .next()
        .unwrap_or_default();
    let mut rows = Vec::new();
    for line in section.lines().filter(|line| line.starts_with("| ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Ok(status) = cells[1].parse::<u16>() else {
            continue;
        };
        for code in cells[2].split(',') {
            rows.push((status, code.trim().trim_matches('`').to_owned()));
        }
    }
    rows
}

/// The guide's sample lead: the JSON block after "A lead (camelCase):".
fn sample_lead() -> Value {
    let after = GUIDE
        .split("A lead (camelCase):")
        .nth(1)
        .expect("the sample");
    let block = after.split("```json\n").nth(1).expect("a JSON block");
    serde_json::from_str(block.split("```").next().unwrap_or_default()).expect("JSON")
}

/// Every path to a value in `value` (objects only; arrays and `skip` are leaves).
fn leaves(value: &Value, prefix: &str, skip: &[&str], into: &mut BTreeMap<String, Value>) {
    match value.as_object() {
        Some(object) if !skip.contains(&prefix) => {
            for (key, value) in object {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(value, &path, skip, into);
            }
        }
        _ => {
            into.insert(prefix.to_owned(), value.clone());
        }
    }
}

async fn deliver_sample(app: &TestApp, reference: &str) {
    // The guide's sample: the documentation's example as `send-example` sends it.
    let lead = example_with(reference, json!({"SenderEmail": "john.smith@example.com"}));
    let answer = app.deliver(Some(WEBHOOK_TOKEN), lead.to_string()).await;
    assert_eq!(answer.status().as_u16(), 200);
    let answer: Value = answer.json().await.expect("JSON");
    // The webhook's table: `{"leadReference": "…", "status": "created"}`.
    let documented = GUIDE
        .lines()
        .find(|line| line.starts_with("| `200` | `{\"leadReference\""))
        .and_then(|line| line.split('`').nth(3))
        .expect("the 200 row");
    let documented: Value =
        serde_json::from_str(&documented.replace('…', reference)).expect("JSON");
    assert_eq!(answer, documented, "the webhook's answer");
}

const SAMPLE: &str = "CY-Listing-A3bT7Y2xL6w-b24e6f80-17c9-4a8f-92b3-7e123d4bcf90";

#[tokio::test]
async fn the_guide_s_sample_lead_is_what_the_service_sends() {
    let Some(app) = spawn_app("the_guide_s_sample_lead_is_what_the_service_sends").await else {
        return;
    };
    let sample = sample_lead();
    assert_eq!(sample["leadReference"], SAMPLE);
    deliver_sample(&app, SAMPLE).await;
    let (status, lead) = app.api_get(&format!("/api/v1/leads/{SAMPLE}")).await;
    assert_eq!(status, 200, "{lead}");

    let skip = ["original"];
    let (mut documented, mut served) = (BTreeMap::new(), BTreeMap::new());
    leaves(&sample, "", &skip, &mut documented);
    leaves(&lead, "", &skip, &mut served);
    let names = |leaves: &BTreeMap<String, Value>| leaves.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&documented), names(&served), "the sample's fields");
    // Values that depend on the moment or are shortened in the guide aside, the sample
    // is the lead.
    for (path, value) in &documented {
        if ["receivedAt", "message", "contactId", "original"].contains(&path.as_str()) {
            continue;
        }
        assert_eq!(Some(value), served.get(path), "{path}");
    }
}

#[tokio::test]
async fn the_guide_s_requests_answer_as_it_says() {
    let Some(app) = spawn_app("the_guide_s_requests_answer_as_it_says").await else {
        return;
    };
    deliver_sample(&app, SAMPLE).await;
    let curls = curls();
    assert!(curls.len() >= 13, "the guide's curls: {curls:?}");
    let mut patched = false;
    for curl in curls.iter().filter(|curl| !curl.streams) {
        let mut request = app.client.request(curl.method.clone(), app.url(&curl.path));
        for (name, value) in &curl.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &curl.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        // The quarantine's examples name an entry (7) this service has not got.
        let absent = curl.path.starts_with("/api/v1/quarantine/") && status == 404;
        assert!(
            (200..300).contains(&status) || absent,
            "{} {}: {status} {body}",
            curl.method,
            curl.path
        );
        if curl.method == reqwest::Method::PATCH {
            patched = true;
            let lead: Value = serde_json::from_str(&body).expect("the lead");
            assert_eq!(lead["status"], "contacted");
        }
    }
    assert!(patched, "the guide's PATCH ran");
}

#[tokio::test]
async fn the_answers_to_a_change_are_in_the_guide_s_table() {
    let Some(app) = spawn_app("the_answers_to_a_change_are_in_the_guide_s_table").await else {
        return;
    };
    let table = error_table();
    deliver_sample(&app, SAMPLE).await;
    let path = format!("/api/v1/leads/{SAMPLE}");
    let send = |if_match: Option<&str>, body: Option<Value>, raw: Option<&str>| {
        let mut request = app.client.patch(app.url(&path)).bearer_auth(API_KEY);
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(raw) = raw {
            request = request.body(raw.to_owned());
        }
        request
    };
    let answer = |request: reqwest::RequestBuilder| async {
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("JSON");
        (status, body["code"].as_str().unwrap_or_default().to_owned())
    };
    let cases = [
        // The status it has already, and nothing else: a change of nothing.
        (
            send(Some("\"1\""), Some(json!({"status": "new"})), None),
            (400, "invalid_change"),
        ),
        // Without Content-Type.
        (
            send(Some("\"1\""), None, Some(r#"{"status": "contacted"}"#)),
            (415, "unsupported_media_type"),
        ),
        (
            send(None, Some(json!({"status": "contacted"})), None),
            (428, "precondition_required"),
        ),
        (
            send(Some("\"7\""), Some(json!({"status": "contacted"})), None),
            (412, "precondition_failed"),
        ),
        (
            send(
                None,
                Some(json!({"status": "contacted", "version": 7})),
                None,
            ),
            (409, "version_conflict"),
        ),
        (
            send(Some("\"1\""), Some(json!({"status": "bogus"})), None),
            (400, "invalid_request"),
        ),
    ];
    for (request, expected) in cases {
        let (status, code) = answer(request).await;
        assert_eq!((status, code.as_str()), expected);
        assert!(
            table.contains(&(status, code.clone())),
            "{status} {code} is not in the guide's table of errors"
        );
    }
    // Moving on, then back: a move the pipeline refuses.
    let (status, _) = answer(send(
        Some("\"1\""),
        Some(json!({"status": "qualified"})),
        None,
    ))
    .await;
    assert_eq!(status, 200);
    let (status, code) = answer(send(
        Some("\"2\""),
        Some(json!({"status": "contacted"})),
        None,
    ))
    .await;
    assert_eq!((status, code.as_str()), (409, "invalid_transition"));
    assert!(table.contains(&(409, "invalid_transition".to_owned())));
    // The status it has, beside another change: the other change is made.
    let (status, _) = answer(send(
        Some("\"2\""),
        Some(json!({"status": "qualified", "tags": ["vip"]})),
        None,
    ))
    .await;
    assert_eq!(status, 200);

    // History's actor: the guide names the configured keys' form.
    let (status, history) = app.api_get(&format!("{path}/history")).await;
    assert_eq!(status, 200);
    let actors: Vec<&str> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|entry| entry["actor"].as_str())
        .collect();
    assert_eq!(actors, ["config:1", "config:1"], "{history}");
    let documented = GUIDE
        .split("Every change is recorded")
        .nth(1)
        .expect("the history paragraph");
    assert!(
        documented.contains("`config:1` for the first key of `LEAD_INBOX_API_KEYS`"),
        "the guide names the actor of a configured key"
    );
}
