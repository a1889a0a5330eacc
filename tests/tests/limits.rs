//! Abuse limits with real slow and hostile clients, and HTTPS.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use lead_inbox_domain::casayes::SPEC_EXAMPLE;
use lead_inbox_tests::{TestApp, WEBHOOK_TOKEN, spawn_app_with};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Reads until the peer closes or `limit` passes; returns what was read and whether
/// the peer closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let deadline = Instant::now() + limit;
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&received).into_owned(), true);
            }
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), false),
        }
    }
}

/// Reads one response (its head and a `content-length` body) from a connection that
/// stays open, waiting as long as it takes (30 s at most).
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let text = String::from_utf8_lossy(&received).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
            let read = stream.read(&mut buffer).await.expect("read");
            assert!(read > 0, "closed mid-response: {text}");
            received.extend_from_slice(&buffer[..read]);
        }
    })
    .await
    .expect("a response within 30 s")
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_after_the_header_timeout() {
    let Some(app) =
        spawn_app_with("slowloris", |config| config.header_read_timeout_seconds = 1).await
    else {
        return;
    };
    let mut stream = TcpStream::connect(app.address).await.expect("connect");
    stream
        .write_all(b"POST /webhooks/casayes/leads HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    // Trickle one header byte every 200 ms: activity, but never a complete header block.
    let trickle = async {
        for byte in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            .iter()
            .cycle()
            .take(100)
        {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(8), trickle).await;
    let elapsed = started.elapsed();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(2)).await;
    assert!(closed, "the connection must be closed");
    assert!(
        elapsed < Duration::from_secs(6),
        "cut after about a second, not {elapsed:?}"
    );
    assert!(!answer.contains("200 OK"));
}

#[tokio::test]
async fn a_slow_body_gets_408_and_nothing_is_stored() {
    let Some(app) = spawn_app_with("slow body", |config| config.request_timeout_seconds = 1).await
    else {
        return;
    };
    let mut stream = TcpStream::connect(app.address).await.expect("connect");
    let head = format!(
        "POST /webhooks/casayes/leads HTTP/1.1\r\nHost: x\r\ntoken: {WEBHOOK_TOKEN}\r\nContent-Length: {}\r\n\r\n",
        SPEC_EXAMPLE.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
        .write_all(&SPEC_EXAMPLE.as_bytes()[..10])
        .await
        .expect("write");
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    let (status, page) = app.api_get("/api/v1/leads").await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn a_content_length_that_lies_does_not_store_a_lead() {
    let Some(app) = spawn_app_with("lying content length", |config| {
        config.request_timeout_seconds = 1
    })
    .await
    else {
        return;
    };
    // Announces more than it sends: the body never completes.
    let mut longer = TcpStream::connect(app.address).await.expect("connect");
    let head = format!(
        "POST /webhooks/casayes/leads HTTP/1.1\r\nHost: x\r\ntoken: {WEBHOOK_TOKEN}\r\nContent-Length: {}\r\n\r\n{SPEC_EXAMPLE}",
        SPEC_EXAMPLE.len() + 100
    );
    longer.write_all(head.as_bytes()).await.expect("write");
    let (answer, _) = read_until_closed(&mut longer, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // Announces less than it sends: the body is cut at Content-Length (not JSON any more)
    // and the rest is not a request.
    let mut shorter = TcpStream::connect(app.address).await.expect("connect");
    let head = format!(
        "POST /webhooks/casayes/leads HTTP/1.1\r\nHost: x\r\ntoken: {WEBHOOK_TOKEN}\r\nContent-Length: 20\r\n\r\n{SPEC_EXAMPLE}"
    );
    shorter.write_all(head.as_bytes()).await.expect("write");
    let (answer, _) = read_until_closed(&mut shorter, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("not_json"), "{answer}");
    let (_, page) = app.api_get("/api/v1/leads").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_one() {
    let Some(app) = spawn_app_with("connection cap", |config| config.max_connections = 2).await
    else {
        return;
    };
    let mut idle_a = TcpStream::connect(app.address).await.expect("connect");
    let _idle_b = TcpStream::connect(app.address).await.expect("connect");
    let live = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n";
    idle_a.write_all(live).await.expect("write");
    let first = read_response(&mut idle_a).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let mut third = TcpStream::connect(app.address)
        .await
        .expect("the kernel queues it");
    third
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    // An event rather than a timer: a request sent after the third connection's is
    // answered on a connection the server holds; the third has got nothing meanwhile.
    idle_a.write_all(live).await.expect("write");
    let second = read_response(&mut idle_a).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    let mut waiting = [0u8; 256];
    assert!(
        matches!(third.try_read(&mut waiting), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "not served while two connections are open: {}",
        String::from_utf8_lossy(&waiting)
    );
    drop(idle_a);
    let (served, _) = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(
        served.starts_with("HTTP/1.1 200"),
        "served once one closed: {served}"
    );
}

/// The reference of [`SPEC_EXAMPLE`].
const EXAMPLE_REFERENCE: &str = "CY-Listing-A3bT7Y2xL6w-b24e6f80-17c9-4a8f-92b3-7e123d4bcf90";

/// A client whose connections come from `source`: on Linux every 127.0.0.0/8 address is
/// the loopback, so a test can be several clients.
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().ok())
        .build()
        .expect("a client")
}

/// Posts the example lead with `token` and `headers` through `client`.
async fn deliver_with(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client
        .post(app.url("/webhooks/casayes/leads"))
        .header("token", token)
        .body(SPEC_EXAMPLE);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the server answers")
}

/// Asserts `response` is the failure limit's `429`: a `Retry-After` in seconds and the
/// stable code.
async fn assert_too_many_failures(response: reqwest::Response) {
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["code"], "too_many_requests");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("failed authentications")),
        "{body}"
    );
}

/// Sends `quota` wrong tokens, each answered `401`, then one more, answered `429`. The
/// quota refills one failure every 60/`quota` s, far longer than these take.
async fn use_up_failures(
    app: &TestApp,
    client: &reqwest::Client,
    headers: &[(&str, &str)],
    quota: usize,
) {
    for attempt in 1..=quota {
        let status = deliver_with(app, client, "guess", headers).await.status();
        assert_eq!(
            status.as_u16(),
            401,
            "failure {attempt} is within the quota"
        );
    }
    assert_too_many_failures(deliver_with(app, client, "guess", headers).await).await;
}

#[tokio::test]
async fn a_guessers_failures_end_in_429_and_never_refuse_a_valid_request() {
    let Some(app) = spawn_app_with("auth failures", |config| {
        config.auth_failures_per_minute = 3;
        config.metrics_key = Some("metrics-key".into());
        config.metrics_bind = Some("127.0.0.1:0".parse().expect("an address"));
    })
    .await
    else {
        return;
    };
    // The reproduction: a stranger's wrong tokens, then CasaYes's delivery from
    // the same address (as behind a proxy that is not declared).
    let client = client_from("127.0.0.1");
    use_up_failures(&app, &client, &[], 3).await;
    for _ in 0..20 {
        assert_too_many_failures(deliver_with(&app, &client, "guess", &[]).await).await;
    }

    let delivered = deliver_with(&app, &client, WEBHOOK_TOKEN, &[]).await;
    assert_eq!(delivered.status().as_u16(), 200);
    let body: Value = delivered.json().await.expect("JSON");
    assert_eq!(body["status"], "created");
    assert_eq!(body["leadReference"], EXAMPLE_REFERENCE);
    let (status, lead) = app
        .api_get(&format!("/api/v1/leads/{EXAMPLE_REFERENCE}"))
        .await;
    assert_eq!(status, 200, "a valid API key is served: {lead}");
    assert_eq!(lead["sender"]["name"], "John Smith");
    // Still over its quota: its next failure is refused again, with or without a key.
    assert_too_many_failures(deliver_with(&app, &client, "guess", &[]).await).await;
    let wrong_key = client
        .get(app.url("/api/v1/leads"))
        .bearer_auth("not-a-key")
        .send()
        .await
        .expect("answer");
    assert_too_many_failures(wrong_key).await;

    // Probes and metrics are never limited.
    for probe in ["/health/live", "/health/ready"] {
        let answer = client.get(app.url(probe)).send().await.expect("answer");
        assert_eq!(answer.status().as_u16(), 200, "{probe}");
        let body: Value = answer.json().await.expect("JSON");
        assert_eq!(body["status"], "ok", "{probe}");
    }
    let scrape = |key: &'static str| client.get(app.url("/metrics")).bearer_auth(key).send();
    let wrong = scrape("not-the-metrics-key").await.expect("answer");
    assert_eq!(wrong.status().as_u16(), 401, "refused, not limited");
    let metrics = scrape("metrics-key").await.expect("answer");
    assert_eq!(metrics.status().as_u16(), 200);
    let text = metrics.text().await.expect("text");
    assert!(
        text.lines()
            .any(|line| line.starts_with("lead_inbox_rate_limited_total 23")),
        "every refused failure counted: {text}"
    );
    let separate = app.metrics_address.expect("a metrics address");
    let open = client
        .get(format!("http://{separate}/metrics"))
        .send()
        .await
        .expect("answer");
    assert_eq!(open.status().as_u16(), 200);
}

#[tokio::test]
async fn one_clients_failures_do_not_limit_another() {
    let Some(app) = spawn_app_with("auth failures per client", |config| {
        config.auth_failures_per_minute = 3
    })
    .await
    else {
        return;
    };
    let guesser = client_from("127.0.0.1");
    use_up_failures(&app, &guesser, &[], 3).await;
    let other = client_from("127.0.0.2");
    let status = deliver_with(&app, &other, "typo", &[]).await.status();
    assert_eq!(status.as_u16(), 401, "another client's failure is its own");
    let delivered = deliver_with(&app, &other, WEBHOOK_TOKEN, &[]).await;
    assert_eq!(delivered.status().as_u16(), 200);
    assert_too_many_failures(deliver_with(&app, &guesser, "guess", &[]).await).await;
}

/// A server that trusts 127.0.0.1 as its proxy, with a quota of 3 failures a minute.
async fn spawn_behind_a_proxy(what: &str) -> Option<TestApp> {
    spawn_app_with(what, |config| {
        config.auth_failures_per_minute = 3;
        config.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a network")];
    })
    .await
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_quota() {
    let Some(app) = spawn_behind_a_proxy("trusted proxy").await else {
        return;
    };
    let proxy = client_from("127.0.0.1");
    let guesser = [("x-forwarded-for", "203.0.113.9")];
    use_up_failures(&app, &proxy, &guesser, 3).await;
    // A hop the guesser writes itself, left of the one the proxy appended, changes
    // nothing; nor does the RFC 7239 header naming the same client.
    for headers in [
        [("x-forwarded-for", "198.51.100.200, 203.0.113.9")],
        [("forwarded", "for=203.0.113.9;proto=https")],
    ] {
        assert_too_many_failures(deliver_with(&app, &proxy, "guess", &headers).await).await;
    }
    // Other clients of the same proxy: their failures are their own, their deliveries
    // are served; so is a valid delivery of the guesser's address.
    for headers in [
        [("x-forwarded-for", "198.51.100.4")],
        [("forwarded", "for=\"[2001:db8::17]:4711\"")],
    ] {
        let status = deliver_with(&app, &proxy, "typo", &headers).await.status();
        assert_eq!(status.as_u16(), 401, "{headers:?}");
    }
    let status = deliver_with(&app, &proxy, "typo", &[]).await.status();
    assert_eq!(
        status.as_u16(),
        401,
        "the proxy's own requests count for it"
    );
    let delivered = deliver_with(&app, &proxy, WEBHOOK_TOKEN, &guesser).await;
    assert_eq!(delivered.status().as_u16(), 200);
    let (_, page) = app.api_get("/api/v1/leads").await;
    assert_eq!(page["items"][0]["leadReference"], EXAMPLE_REFERENCE);
}

#[tokio::test]
async fn an_untrusted_peer_cannot_dodge_the_limit_with_forwarding_headers() {
    let Some(app) = spawn_behind_a_proxy("untrusted forwarding").await else {
        return;
    };
    let stranger = client_from("127.0.0.2");
    for n in 1..=3 {
        let forged = format!("203.0.113.{n}");
        let status = deliver_with(
            &app,
            &stranger,
            "guess",
            &[
                ("x-forwarded-for", &forged),
                ("forwarded", &format!("for={forged}")),
            ],
        )
        .await
        .status();
        assert_eq!(status.as_u16(), 401);
    }
    for forged in ["203.0.113.4", "198.51.100.4"] {
        let response = deliver_with(&app, &stranger, "guess", &[("x-forwarded-for", forged)]).await;
        assert_too_many_failures(response).await;
    }
    // The trusted proxy's forwarded clients are not the stranger.
    let proxy = client_from("127.0.0.1");
    let status = deliver_with(&app, &proxy, "typo", &[("x-forwarded-for", "127.0.0.2")])
        .await
        .status();
    assert_eq!(
        status.as_u16(),
        429,
        "the stranger's own address, forwarded, is the stranger"
    );
    let status = deliver_with(&app, &proxy, "typo", &[("x-forwarded-for", "203.0.113.1")])
        .await
        .status();
    assert_eq!(status.as_u16(), 401);
}

#[tokio::test]
async fn wrong_api_keys_do_not_use_a_valid_keys_quota() {
    let Some(app) = spawn_app_with("api rate per key", |config| {
        config.api_requests_per_minute = 5;
        config.auth_failures_per_minute = 100;
    })
    .await
    else {
        return;
    };
    assert_eq!(
        app.deliver(Some(WEBHOOK_TOKEN), SPEC_EXAMPLE)
            .await
            .status()
            .as_u16(),
        200
    );
    let stranger = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let answer = stranger
            .get(app.url("/api/v1/leads"))
            .bearer_auth("someone-elses-guess")
            .send()
            .await
            .expect("answer");
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 429, 429, 429],
        "the wrong key's own quota"
    );
    for _ in 0..5 {
        let (status, page) = app.api_get("/api/v1/leads").await;
        assert_eq!(status, 200, "the valid key has its whole quota");
        assert_eq!(page["items"][0]["leadReference"], EXAMPLE_REFERENCE);
    }
    let (status, body) = app.api_get("/api/v1/leads").await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "too_many_requests");
}

#[tokio::test]
async fn each_api_key_has_a_request_rate() {
    let Some(app) = spawn_app_with("api rate", |config| config.api_requests_per_minute = 5).await
    else {
        return;
    };
    for _ in 0..5 {
        assert_eq!(app.api_get("/api/v1/leads").await.0, 200);
    }
    let (status, body) = app.api_get("/api/v1/leads").await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "too_many_requests");
    // The webhook is not counted against API keys.
    assert_eq!(
        app.deliver(Some(WEBHOOK_TOKEN), SPEC_EXAMPLE)
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn https_is_served_with_the_configured_certificate() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("write");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write");
    let Some(app) = spawn_app_with("https", |config| {
        config.tls_cert = Some(cert.clone());
        config.tls_key = Some(key.clone());
    })
    .await
    else {
        return;
    };
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).expect("pem"),
        )
        .build()
        .expect("client");
    let url = format!(
        "https://localhost:{}/webhooks/casayes/leads",
        app.address.port()
    );
    let response = client
        .post(&url)
        .header("token", WEBHOOK_TOKEN)
        .body(SPEC_EXAMPLE)
        .send()
        .await
        .expect("HTTPS answers");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "created");
    let plain = reqwest::Client::new()
        .get(format!(
            "http://localhost:{}/health/live",
            app.address.port()
        ))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()),
        "plain HTTP is not served on the TLS port"
    );
}
