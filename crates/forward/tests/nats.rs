//! The NATS transport against the machine's NATS server with JetStream
//! (`LEAD_INBOX_TEST_NATS_URL`). Streams are made, read and removed with async-nats's
//! own JetStream API, not through the transport.

mod common;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use async_nats::jetstream::{self, consumer, stream};
use chrono::Utc;
use futures_util::StreamExt;
use lead_inbox_application::forwarding::{Outgoing, Transport};
use lead_inbox_domain::forwarding::{
    Attempt, Destination, DestinationKind, SigningSecret, Verdict,
};
use lead_inbox_forward::{NatsTransport, Transports, WebhookTransport};
use lead_inbox_test_env::required_in_ci;

const NATS_ENV: &str = "LEAD_INBOX_TEST_NATS_URL";

fn nats_url(what: &str) -> Option<String> {
    required_in_ci(NATS_ENV, what)
}

/// A name no other test (of this run or of another process) uses.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        Utc::now().timestamp_micros(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A stream of its own, capturing one subject of its own; deleted by [`Self::delete`].
struct TestStream {
    context: jetstream::Context,
    name: String,
    subject: String,
}

impl TestStream {
    async fn create(url: &str) -> TestStream {
        let client = async_nats::connect(url).await.expect("NATS is up");
        let context = jetstream::new(client);
        let name = unique("LEAD_INBOX_TEST");
        let subject = format!("leads.test.{name}");
        context
            .create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![subject.clone()],
                duplicate_window: Duration::from_secs(120),
                // Nothing of a test needs to outlive the server.
                storage: stream::StorageType::Memory,
                ..Default::default()
            })
            .await
            .expect("a stream");
        TestStream {
            context,
            name,
            subject,
        }
    }

    async fn message_count(&self) -> u64 {
        let mut stream = self
            .context
            .get_stream(&self.name)
            .await
            .expect("the stream");
        stream.info().await.expect("its info").state.messages
    }

    /// Every message in the stream, read by a consumer of async-nats's own.
    async fn read_all(&self) -> Vec<jetstream::Message> {
        let stream = self
            .context
            .get_stream(&self.name)
            .await
            .expect("the stream");
        let consumer = stream
            .create_consumer(consumer::pull::Config {
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .expect("a consumer");
        let mut batch = consumer
            .fetch()
            .max_messages(100)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .expect("a batch");
        let mut messages = Vec::new();
        while let Some(message) = batch.next().await {
            messages.push(message.expect("a message"));
        }
        messages
    }

    async fn delete(self) {
        self.context
            .delete_stream(&self.name)
            .await
            .expect("the stream is deleted");
    }
}

fn destination(url: &str, subject: &str) -> Destination {
    Destination {
        subject: Some(subject.to_owned()),
        ..common::destination(DestinationKind::Nats, url)
    }
}

fn message(message_id: &str) -> Outgoing {
    Outgoing {
        message_id: message_id.to_owned(),
        timestamp: Utc::now().timestamp(),
        body: br#"{"eventId":"9","kind":"lead.created","lead":{"senderName":"Ana"}}"#.to_vec(),
        secrets: vec![SigningSecret::from_random([1; 32])],
        casayes_token: None,
    }
}

fn transport() -> NatsTransport {
    NatsTransport::new(Duration::from_secs(5), None)
}

#[tokio::test]
async fn a_publish_acknowledged_by_the_stream_is_delivered_once_per_message_id() {
    let Some(url) = nats_url("the NATS transport's publish") else {
        return;
    };
    let stream = TestStream::create(&url).await;
    let transport = transport();
    let destination = destination(&url, &stream.subject);
    let first = message("msg_00000000000000000000000000000001");

    let attempt = transport.send(&destination, &first).await;
    assert_eq!(attempt.verdict, Verdict::Delivered, "{attempt:?}");
    assert_eq!(attempt.error, None);
    assert_eq!(
        attempt.response.as_deref(),
        Some(format!("stream {} sequence 1", stream.name).as_str())
    );
    // The same message again (a retry after a lost ack): acknowledged, kept once.
    let again = transport.send(&destination, &first).await;
    assert_eq!(again.verdict, Verdict::Delivered, "{again:?}");
    assert_eq!(
        again.response.as_deref(),
        Some(format!("stream {} sequence 1 (duplicate)", stream.name).as_str())
    );
    let second = message("msg_00000000000000000000000000000002");
    assert_eq!(
        transport.send(&destination, &second).await.verdict,
        Verdict::Delivered
    );
    assert_eq!(stream.message_count().await, 2);

    let read = stream.read_all().await;
    let seen: Vec<(String, Vec<u8>)> = read
        .iter()
        .map(|m| {
            let id = m
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            (id, m.payload.to_vec())
        })
        .collect();
    assert_eq!(
        seen,
        [
            (first.message_id.clone(), first.body.clone()),
            (second.message_id.clone(), second.body.clone())
        ]
    );
    assert!(read.iter().all(|m| m.subject.as_str() == stream.subject));
    stream.delete().await;
}

#[tokio::test]
async fn a_subject_no_stream_captures_fails_saying_so_and_creates_none() {
    let Some(url) = nats_url("the NATS transport without a stream") else {
        return;
    };
    let subject = format!("leads.nostream.{}", unique("s"));
    let attempt = transport()
        .send(&destination(&url, &subject), &message("msg_3"))
        .await;

    assert_eq!(attempt.verdict, Verdict::Retry { not_before: None });
    assert_eq!(attempt.status_code, None);
    assert_eq!(
        attempt.error.as_deref(),
        Some(format!("no JetStream stream captures subject {subject}").as_str())
    );
    // Lead Inbox made no stream for it.
    let client = async_nats::connect(&url).await.expect("NATS is up");
    let found = jetstream::new(client).stream_by_subject(&subject).await;
    assert!(found.is_err(), "a stream was created: {found:?}");
}

fn assert_no_credentials(attempt: &Attempt, secrets: &[&str]) {
    let error = attempt.error.as_deref().expect("an error");
    for secret in secrets {
        assert!(!error.contains(secret), "{secret} in {error}");
    }
    assert!(!format!("{attempt:?}").contains(secrets[0]), "{attempt:?}");
}

#[tokio::test]
async fn credentials_in_the_url_never_reach_an_error() {
    let Some(url) = nats_url("the NATS transport's redaction") else {
        return;
    };
    let transport = transport();

    // A server that is not there: the connection error.
    let port = common::unused_port();
    let unreachable = format!("nats://broker-user:hunter2-pass@127.0.0.1:{port}");
    let attempt = transport
        .send(&destination(&unreachable, "leads.x"), &message("msg_4"))
        .await;
    assert_eq!(attempt.verdict, Verdict::Retry { not_before: None });
    let error = attempt.error.as_deref().unwrap_or_default();
    assert!(error.starts_with("could not connect to NATS"), "{error}");
    assert_no_credentials(&attempt, &["hunter2-pass", "broker-user"]);

    // The real server, with a token in the URL (a server without authentication
    // ignores it), and a subject without a stream.
    let with_token = url.replacen("nats://", "nats://s3cret-token-value@", 1);
    let subject = format!("leads.nostream.{}", unique("t"));
    let attempt = transport
        .send(&destination(&with_token, &subject), &message("msg_5"))
        .await;
    assert_eq!(
        attempt.error.as_deref(),
        Some(format!("no JetStream stream captures subject {subject}").as_str())
    );
    assert_no_credentials(&attempt, &["s3cret-token-value"]);
    assert!(
        !format!("{transport:?}").contains("s3cret"),
        "{transport:?}"
    );
}

#[tokio::test]
async fn the_dispatcher_sends_each_kind_through_its_transport() {
    let Some(url) = nats_url("the transports' dispatcher") else {
        return;
    };
    let stream = TestStream::create(&url).await;
    let transports = Transports {
        webhook: WebhookTransport::new(Duration::from_secs(5), false).expect("a client"),
        nats: transport(),
    };
    let nats = transports
        .send(&destination(&url, &stream.subject), &message("msg_6"))
        .await;
    assert_eq!(nats.verdict, Verdict::Delivered, "{nats:?}");

    // The same URL as a webhook goes through the webhook transport, whose rules refuse it.
    let mut webhook = destination(&url, &stream.subject);
    webhook.kind = DestinationKind::Webhook;
    let refused = transports.send(&webhook, &message("msg_7")).await;
    let error = refused.error.as_deref().unwrap_or_default();
    assert!(error.starts_with("refused (https_required)"), "{error}");
    assert_eq!(stream.message_count().await, 1);
    stream.delete().await;
}

/// A TCP relay to the NATS server, whose connections can all be cut at once (a
/// connection lost as a network or a server restart loses it).
struct Relay {
    address: std::net::SocketAddr,
    accepted: Arc<AtomicU32>,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn to(nats_url: &str) -> Relay {
        let upstream = url::Url::parse(nats_url).expect("a NATS URL");
        let upstream = format!(
            "{}:{}",
            upstream.host_str().expect("a host"),
            upstream.port().unwrap_or(4222)
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let address = listener.local_addr().expect("an address");
        let accepted = Arc::new(AtomicU32::new(0));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (count, tasks) = (accepted.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    let mut server = tokio::net::TcpStream::connect(upstream)
                        .await
                        .expect("NATS is up");
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                tasks.lock().expect("the tasks").push(task.abort_handle());
            }
        });
        Relay {
            address,
            accepted,
            open,
        }
    }

    fn url(&self) -> String {
        format!("nats://{}", self.address)
    }

    /// Closes every relayed connection (new ones are still accepted).
    fn cut(&self) {
        for task in self.open.lock().expect("the tasks").drain(..) {
            task.abort();
        }
    }

    fn connections(&self) -> u32 {
        self.accepted.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn one_connection_serves_every_attempt_and_a_lost_one_is_reestablished() {
    let Some(url) = nats_url("the NATS transport's reconnection") else {
        return;
    };
    let stream = TestStream::create(&url).await;
    let relay = Relay::to(&url).await;
    let transport = transport();
    let destination = destination(&relay.url(), &stream.subject);

    for id in ["msg_a1", "msg_a2", "msg_a3"] {
        let attempt = transport.send(&destination, &message(id)).await;
        assert_eq!(attempt.verdict, Verdict::Delivered, "{attempt:?}");
    }
    assert_eq!(relay.connections(), 1, "one connection, reused");

    relay.cut();
    // Give the client the moment it takes to see the connection close.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let attempt = transport.send(&destination, &message("msg_a4")).await;
    assert_eq!(attempt.verdict, Verdict::Delivered, "{attempt:?}");
    assert!(relay.connections() >= 2, "a new connection was opened");
    assert_eq!(stream.message_count().await, 4);
    stream.delete().await;
}

#[tokio::test]
async fn a_server_that_never_answers_times_the_attempt_out() {
    // Accepts connections and says nothing (no NATS server needed).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let transport = NatsTransport::new(Duration::from_millis(500), None);
    let started = std::time::Instant::now();
    let attempt = transport
        .send(
            &destination(&format!("nats://{address}"), "leads.x"),
            &message("msg_b1"),
        )
        .await;

    assert!(started.elapsed() < Duration::from_secs(3), "{attempt:?}");
    assert_eq!(attempt.verdict, Verdict::Retry { not_before: None });
    let error = attempt.error.as_deref().unwrap_or_default();
    assert!(error.contains("timed out"), "{error}");
    held.abort();
}
