//! The webhook transport against a real HTTP receiver on 127.0.0.1 (hyper), whose
//! signature check is the Standard Webhooks library's, not ours.

mod common;

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use chrono::Utc;
use futures_util::stream;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::{Request, Response, body::Frame, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use lead_inbox_application::forwarding::{Outgoing, Transport};
use lead_inbox_domain::forwarding::{
    Attempt, Destination, DestinationKind, ForwardFormat, RESPONSE_PREFIX_BYTES, SigningSecret,
    Verdict,
};
use lead_inbox_forward::{WEBHOOK_USER_AGENT, WebhookTransport};
use secrecy::SecretString;

/// What the receiver was sent.
#[derive(Debug, Clone)]
struct Received {
    path_and_query: String,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

/// How the receiver answers.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: ReplyBody,
    delay: Duration,
}

#[derive(Clone)]
enum ReplyBody {
    Bytes(&'static [u8]),
    /// 1 KiB chunks, without end.
    Endless,
}

impl Reply {
    fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: ReplyBody::Bytes(b""),
            delay: Duration::ZERO,
        }
    }

    fn ok() -> Reply {
        Reply {
            body: ReplyBody::Bytes(b"thanks"),
            ..Reply::status(200)
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// A real HTTP/1.1 server on 127.0.0.1 that records every request and answers it
/// with one reply.
struct Receiver {
    address: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(reply: Reply) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let address = listener.local_addr().expect("an address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, reply) = (log.clone(), reply.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let (log, reply) = (log.clone(), reply.clone());
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.expect("a body").to_bytes();
                            log.lock().expect("the log").push(Received {
                                path_and_query: parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.as_str().to_owned())
                                    .unwrap_or_default(),
                                headers: parts.headers,
                                body: body.to_vec(),
                            });
                            tokio::time::sleep(reply.delay).await;
                            Ok::<_, Infallible>(respond(&reply))
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver { address, received }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("the log").clone()
    }

    fn only_request(&self) -> Received {
        let mut received = self.received();
        assert_eq!(received.len(), 1, "one request: {received:?}");
        received.remove(0)
    }
}

fn respond(reply: &Reply) -> Response<BoxBody<Bytes, Infallible>> {
    let body = match reply.body {
        ReplyBody::Bytes(bytes) => Full::new(Bytes::from_static(bytes)).boxed(),
        ReplyBody::Endless => StreamBody::new(stream::repeat_with(|| {
            Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'x'; 1024])))
        }))
        .boxed(),
    };
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(*name, value);
    }
    response.body(body).expect("a response")
}

fn destination(url: &str, format: ForwardFormat) -> Destination {
    Destination {
        format,
        ..common::destination(DestinationKind::Webhook, url)
    }
}

/// One attempt to `path` on `receiver`, private addresses allowed.
async fn post(
    receiver: &Receiver,
    path: &str,
    format: ForwardFormat,
    message: &Outgoing,
) -> Attempt {
    allowing_private()
        .send(&destination(&receiver.url(path), format), message)
        .await
}

/// [`post`] of some message, in the `lead` format.
async fn post_any(receiver: &Receiver, path: &str) -> Attempt {
    post(
        receiver,
        path,
        ForwardFormat::Lead,
        &message(vec![secret(1)], None),
    )
    .await
}

fn secret(seed: u8) -> SigningSecret {
    SigningSecret::from_random([seed; 32])
}

fn message(secrets: Vec<SigningSecret>, casayes_token: Option<&str>) -> Outgoing {
    Outgoing {
        message_id: "msg_0123456789abcdef0123456789abcdef".into(),
        timestamp: Utc::now().timestamp(),
        body: r#"{"eventId":"7","kind":"lead.created","lead":{"senderName":"Jo\u00e3o"}}"#.into(),
        secrets,
        casayes_token: casayes_token.map(SecretString::from),
    }
}

fn allowing_private() -> WebhookTransport {
    WebhookTransport::new(Duration::from_secs(5), true).expect("a client")
}

fn forbidding_private() -> WebhookTransport {
    WebhookTransport::new(Duration::from_secs(5), false).expect("a client")
}

/// Whether the Standard Webhooks library accepts the request with `key`.
fn verifies(key: &SigningSecret, received: &Received) -> bool {
    standardwebhooks::Webhook::new(&key.expose())
        .expect("the library reads our secret")
        .verify(&received.body, &received.headers)
        .is_ok()
}

fn header<'a>(received: &'a Received, name: &str) -> Option<&'a str> {
    received
        .headers
        .get(name)
        .map(|value| value.to_str().expect("a text header"))
}

#[tokio::test]
async fn a_delivery_is_posted_signed_with_its_headers_and_exact_body() {
    let receiver = Receiver::start(Reply::ok()).await;
    let key = secret(1);
    let message = message(vec![key.clone()], Some("casayes-token"));
    let attempt = post(
        &receiver,
        "/hooks/leads?crm=1",
        ForwardFormat::Lead,
        &message,
    )
    .await;

    assert_eq!(attempt.verdict, Verdict::Delivered, "{attempt:?}");
    assert_eq!(attempt.status_code, Some(200));
    assert_eq!(attempt.response.as_deref(), Some("thanks"));
    assert_eq!(attempt.error, None);
    let received = receiver.only_request();
    assert_eq!(received.path_and_query, "/hooks/leads?crm=1");
    assert_eq!(received.body, message.body);
    assert_eq!(
        header(&received, "webhook-id"),
        Some(message.message_id.as_str())
    );
    assert_eq!(
        header(&received, "webhook-timestamp"),
        Some(message.timestamp.to_string().as_str())
    );
    assert_eq!(header(&received, "content-type"), Some("application/json"));
    assert_eq!(header(&received, "user-agent"), Some(WEBHOOK_USER_AGENT));
    assert_eq!(WEBHOOK_USER_AGENT, "lead-inbox/0.1.0");
    // The `lead` format carries no CasaYes token, even when the destination has one.
    assert_eq!(header(&received, "token"), None);
    let signature = header(&received, "webhook-signature").expect("signed");
    assert_eq!(signature.split(' ').count(), 1, "{signature}");
    assert!(verifies(&key, &received));
    assert!(!verifies(&secret(9), &received));
}

#[tokio::test]
async fn during_a_rotation_either_secret_verifies_the_one_header() {
    let receiver = Receiver::start(Reply::ok()).await;
    let (new, old) = (secret(2), secret(3));
    let attempt = post(
        &receiver,
        "/",
        ForwardFormat::Lead,
        &message(vec![new.clone(), old.clone()], None),
    )
    .await;

    assert_eq!(attempt.verdict, Verdict::Delivered, "{attempt:?}");
    let received = receiver.only_request();
    let signature = header(&received, "webhook-signature").expect("signed");
    assert_eq!(signature.split(' ').count(), 2, "{signature}");
    assert!(verifies(&new, &received));
    assert!(verifies(&old, &received));
    assert!(!verifies(&secret(4), &received));

    // Without any secret, nothing is sent.
    let unsigned = post(
        &receiver,
        "/",
        ForwardFormat::Lead,
        &message(Vec::new(), None),
    )
    .await;
    assert_eq!(
        unsigned.error.as_deref(),
        Some("the destination has no signing secret; a webhook is never sent unsigned")
    );
    assert_eq!(unsigned.verdict, Verdict::Retry { not_before: None });
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn the_casayes_format_sends_the_destination_s_token() {
    let receiver = Receiver::start(Reply::status(204)).await;
    let key = secret(5);
    let mut message = message(vec![key.clone()], Some("tok-123"));
    message.body = br#"{"ClientListingId":"A1","SenderName":"Ana"}"#.to_vec();
    let attempt = post(&receiver, "/casayes", ForwardFormat::Casayes, &message).await;

    assert_eq!(attempt.verdict, Verdict::Delivered, "{attempt:?}");
    assert_eq!(attempt.status_code, Some(204));
    assert_eq!(attempt.response, None);
    let received = receiver.only_request();
    assert_eq!(header(&received, "token"), Some("tok-123"));
    assert_eq!(received.body, message.body);
    assert!(verifies(&key, &received));
}

/// The rule a refused attempt names, after checking that it is a retried transport
/// error.
fn refused_rule(attempt: &Attempt, rule: &str) {
    assert_eq!(attempt.status_code, None, "{attempt:?}");
    assert_eq!(attempt.verdict, Verdict::Retry { not_before: None });
    let error = attempt.error.as_deref().expect("an error");
    assert!(error.contains(rule), "{error}");
}

#[tokio::test]
async fn loopback_and_private_addresses_are_refused_unless_allowed() {
    let receiver = Receiver::start(Reply::ok()).await;
    let port = receiver.address.port();
    let transport = forbidding_private();
    let message = message(vec![secret(1)], None);
    let send = |url: String| {
        let transport = transport.clone();
        let message = message.clone();
        async move {
            transport
                .send(&destination(&url, ForwardFormat::Lead), &message)
                .await
        }
    };

    // Addresses written in the URL, which no resolver sees.
    refused_rule(
        &send(format!("https://127.0.0.1:{port}/")).await,
        "loopback_address",
    );
    refused_rule(
        &send(format!("https://[::1]:{port}/")).await,
        "loopback_address",
    );
    refused_rule(&send("https://10.1.2.3/".into()).await, "private_address");
    refused_rule(
        &send("https://169.254.169.254/latest/meta-data/".into()).await,
        "cloud_metadata_address",
    );
    // A name is judged by what it resolves to, when connecting: `localhost` reaches
    // the resolver, which finds only loopback addresses.
    let by_name = send(format!("https://localhost:{port}/")).await;
    refused_rule(&by_name, "loopback_address");
    let error = by_name.error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with(
            "refused (loopback_address): localhost resolves only to addresses a destination may not use ("
        ) && error.contains("127.0.0.1: loopback_address")
            && error.ends_with("); set LEAD_INBOX_FORWARD_ALLOW_PRIVATE=1 to allow them"),
        "{error}"
    );
    // Plain http is refused as well.
    refused_rule(
        &send(format!("http://localhost:{port}/")).await,
        "https_required",
    );
    assert!(receiver.received().is_empty(), "{:?}", receiver.received());

    // Allowed, both by address and by name.
    let transport = allowing_private();
    for url in [receiver.url("/a"), format!("http://localhost:{port}/b")] {
        let attempt = transport
            .send(&destination(&url, ForwardFormat::Lead), &message)
            .await;
        assert_eq!(attempt.verdict, Verdict::Delivered, "{url}: {attempt:?}");
    }
    let paths: Vec<_> = receiver
        .received()
        .into_iter()
        .map(|r| r.path_and_query)
        .collect();
    assert_eq!(paths, ["/a", "/b"]);
}

#[tokio::test]
async fn a_redirect_is_an_answer_not_followed_and_retried() {
    let target = Receiver::start(Reply::ok()).await;
    let redirecting =
        Receiver::start(Reply::status(302).header("location", target.url("/stolen"))).await;
    let attempt = post_any(&redirecting, "/hook").await;

    assert_eq!(attempt.status_code, Some(302), "{attempt:?}");
    assert_eq!(attempt.verdict, Verdict::Retry { not_before: None });
    assert_eq!(redirecting.received().len(), 1);
    assert!(target.received().is_empty(), "{:?}", target.received());
}

#[tokio::test]
async fn statuses_give_their_verdicts() {
    let cases = [
        (Reply::status(410), Verdict::Gone),
        (
            Reply::status(429).header("retry-after", "120"),
            Verdict::Retry {
                not_before: Some(Duration::from_secs(120)),
            },
        ),
        (
            Reply::status(503).header("retry-after", "7"),
            Verdict::Retry {
                not_before: Some(Duration::from_secs(7)),
            },
        ),
        (
            Reply::status(500).header("retry-after", "7"),
            Verdict::Retry { not_before: None },
        ),
    ];
    let transport = allowing_private();
    for (reply, expected) in cases {
        let status = reply.status;
        let receiver = Receiver::start(reply).await;
        let attempt = transport
            .send(
                &destination(&receiver.url("/"), ForwardFormat::Lead),
                &message(vec![secret(1)], None),
            )
            .await;
        assert_eq!(attempt.status_code, Some(status));
        assert_eq!(attempt.verdict, expected, "{status}");
        assert_eq!(attempt.error, None);
    }
}

#[tokio::test]
async fn a_slow_destination_times_out_and_is_retried() {
    let receiver = Receiver::start(Reply {
        delay: Duration::from_secs(5),
        ..Reply::ok()
    })
    .await;
    let transport = WebhookTransport::new(Duration::from_millis(500), true).expect("a client");
    let started = Instant::now();
    let attempt = transport
        .send(
            &destination(&receiver.url("/"), ForwardFormat::Lead),
            &message(vec![secret(1)], None),
        )
        .await;

    assert!(started.elapsed() < Duration::from_secs(3), "{attempt:?}");
    assert_eq!(attempt.status_code, None);
    assert_eq!(attempt.verdict, Verdict::Retry { not_before: None });
    assert_eq!(
        attempt.error.as_deref(),
        Some("timed out after 0.5 s without an answer")
    );
    assert!(attempt.latency >= Duration::from_millis(500), "{attempt:?}");
}

#[tokio::test]
async fn only_the_first_kib_of_an_endless_answer_is_read() {
    let receiver = Receiver::start(Reply {
        body: ReplyBody::Endless,
        ..Reply::status(500)
    })
    .await;
    let started = Instant::now();
    let attempt = post_any(&receiver, "/").await;

    // Well within the 5 s timeout: reading stopped at the prefix.
    assert!(started.elapsed() < Duration::from_secs(2), "{attempt:?}");
    assert_eq!(attempt.status_code, Some(500));
    assert_eq!(attempt.error, None);
    let response = attempt.response.expect("a prefix");
    assert_eq!(response.len(), RESPONSE_PREFIX_BYTES);
    assert!(response.bytes().all(|b| b == b'x'));
}

#[tokio::test]
async fn errors_never_hold_the_url_s_credentials_or_query() {
    let port = common::unused_port();
    let message = message(vec![secret(1)], None);
    let error_of = |url: String| {
        let message = message.clone();
        async move {
            allowing_private()
                .send(&destination(&url, ForwardFormat::Lead), &message)
                .await
                .error
                .expect("an error")
        }
    };

    let error = error_of(format!("http://127.0.0.1:{port}/hook?api_key=sekrit-query")).await;
    assert!(
        error.starts_with("could not connect: ") && error.contains("Connection refused"),
        "{error}"
    );
    assert!(!error.contains("sekrit"), "{error}");

    let error = error_of(format!("http://alice:pa55word@127.0.0.1:{port}/hook")).await;
    assert!(error.contains("credentials_in_url"), "{error}");
    assert!(
        !error.contains("pa55word") && !error.contains("alice"),
        "{error}"
    );
}
