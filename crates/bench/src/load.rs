//! The load generator: N keep-alive HTTP/1.1 connections (hyper's low-level client,
//! one connection per worker task), closed loop (each sends its next request when the
//! previous answer arrived) or open loop (each sends on a fixed schedule, latency
//! counted from the scheduled moment when the server made it late, so that a slow
//! server cannot hide its queueing: no coordinated omission).

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, StatusCode, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;

use crate::{
    mix::{Kind, Mix, Payloads, Random, Recent, reference},
    server::{API_KEY, TOKEN, WRONG_TOKEN},
    stats::{self, Tally},
};

pub const WEBHOOK_PATH: &str = "/webhooks/casayes/leads";

type Sender<B> = SendRequest<B>;

async fn connect<B>(address: SocketAddr) -> Option<Sender<B>>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(address).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Some(sender)
}

/// Whether `GET /health/ready` answers `200` now.
pub async fn ready(address: SocketAddr) -> bool {
    let Some(mut sender) = connect::<Empty<Bytes>>(address).await else {
        return false;
    };
    let Ok(request) = Request::get("/health/ready")
        .header("host", address.to_string())
        .body(Empty::new())
    else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), sender.send_request(request)).await,
        Ok(Ok(response)) if response.status() == StatusCode::OK
    )
}

/// When the measured window starts and when the load stops.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub measure_from: Instant,
    pub stop_at: Instant,
}

impl Window {
    pub fn after_warmup(warmup: Duration, duration: Duration) -> Window {
        let measure_from = Instant::now() + warmup;
        Window {
            measure_from,
            stop_at: measure_from + duration,
        }
    }

    pub fn length(&self) -> Duration {
        self.stop_at - self.measure_from
    }

    fn measures(&self, sent_at: Instant) -> bool {
        sent_at >= self.measure_from && sent_at < self.stop_at
    }
}

/// An open-loop schedule: `rate` requests a second over all connections.
#[derive(Debug, Clone, Copy)]
pub struct Rate(pub f64);

/// What one ingest run saw.
pub struct IngestReport {
    pub tally: Tally,
    /// Every reference answered `created`, once per answer.
    pub created: Vec<String>,
    /// Latencies of requests sent in the measured window.
    pub latency: Histogram<u64>,
    /// Requests sent in the measured window and answered.
    pub measured_requests: u64,
    /// Of those, leads answered `200` (`created` or `duplicate`).
    pub measured_accepted: u64,
}

#[derive(serde::Deserialize)]
struct Delivery {
    status: String,
}

struct Worker {
    id: usize,
    address: SocketAddr,
    run: Arc<str>,
    payloads: Arc<Payloads>,
    mix: Mix,
    window: Window,
}

/// Sends the mix over `connections` connections until the window ends.
pub async fn ingest(
    address: SocketAddr,
    run: &str,
    connections: usize,
    window: Window,
    rate: Option<Rate>,
) -> IngestReport {
    let run: Arc<str> = Arc::from(run);
    let payloads = Arc::new(Payloads::new());
    let tasks: Vec<_> = (0..connections)
        .map(|id| {
            let worker = Worker {
                id,
                address,
                run: run.clone(),
                payloads: payloads.clone(),
                mix: Mix::ISSUE,
                window,
            };
            let schedule = rate.map(|Rate(rate)| {
                let interval = Duration::from_secs_f64(connections as f64 / rate.max(0.001));
                let offset = Duration::from_secs_f64(id as f64 / rate.max(0.001));
                (Instant::now() + offset, interval)
            });
            tokio::spawn(worker.run(schedule))
        })
        .collect();
    let mut report = IngestReport {
        tally: Tally::default(),
        created: Vec::new(),
        latency: stats::new_histogram(),
        measured_requests: 0,
        measured_accepted: 0,
    };
    for task in tasks {
        match task.await {
            Ok(part) => {
                report.tally.merge(&part.tally);
                report.created.extend(part.created);
                let _ = report.latency.add(&part.latency);
                report.measured_requests += part.measured_requests;
                report.measured_accepted += part.measured_accepted;
            }
            Err(_) => report.tally.error("load worker panicked"),
        }
    }
    report
}

impl Worker {
    async fn run(self, schedule: Option<(Instant, Duration)>) -> IngestReport {
        let mut report = IngestReport {
            tally: Tally::default(),
            created: Vec::new(),
            latency: stats::new_histogram(),
            measured_requests: 0,
            measured_accepted: 0,
        };
        let mut random = Random::new(self.id as u64 + 1);
        let mut recent = Recent::new();
        let mut sender: Option<Sender<Full<Bytes>>> = None;
        let mut sequence = 0u64;
        let mut next_due = schedule.map(|(first, _)| first);
        let host = self.address.to_string();
        loop {
            // When this request counts from.
            let sent_at = match (next_due, schedule) {
                (Some(due), Some((_, interval))) => {
                    next_due = Some(due + interval);
                    if due >= self.window.stop_at {
                        break;
                    }
                    let now = Instant::now();
                    if now < due {
                        // On time: wait for the slot; count from the actual send, so
                        // that the timer's own lateness is not charged to the server.
                        tokio::time::sleep_until(due.into()).await;
                        Instant::now()
                    } else {
                        // Late because the previous answer was: count from the slot.
                        due
                    }
                }
                _ => {
                    let now = Instant::now();
                    if now >= self.window.stop_at {
                        break;
                    }
                    now
                }
            };
            let kind = self.mix.pick(random.below(100) as u32);
            let (kind, reference) = match kind {
                Kind::Redelivery => match recent.pick(&mut random) {
                    Some(known) => (Kind::Redelivery, known.to_owned()),
                    None => {
                        sequence += 1;
                        (Kind::New, reference(&self.run, self.id, sequence))
                    }
                },
                other => {
                    sequence += 1;
                    (other, reference(&self.run, self.id, sequence))
                }
            };
            let (body, token) = match kind {
                Kind::Malformed => (self.payloads.malformed(&reference), TOKEN),
                Kind::WrongToken => (self.payloads.lead(&reference), WRONG_TOKEN),
                Kind::New | Kind::Redelivery => (self.payloads.lead(&reference), TOKEN),
            };
            if sender.as_ref().is_none_or(|s| s.is_closed()) {
                sender = connect(self.address).await;
            }
            let Some(connection) = sender.as_mut() else {
                report.tally.error("connect failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let request = Request::post(WEBHOOK_PATH)
                .header("host", &host)
                .header("content-type", "application/json")
                .header("token", token)
                .body(Full::new(body));
            let Ok(request) = request else {
                report.tally.error("request build failed");
                continue;
            };
            let answer = match connection.ready().await {
                Ok(()) => match connection.send_request(request).await {
                    Ok(response) => {
                        let status = response.status();
                        match response.into_body().collect().await {
                            Ok(body) => Some((status, body.to_bytes())),
                            Err(_) => None,
                        }
                    }
                    Err(_) => None,
                },
                Err(_) => None,
            };
            let done = Instant::now();
            let Some((status, body)) = answer else {
                report.tally.error("transport error");
                sender = None;
                continue;
            };
            let measured = self.window.measures(sent_at);
            if measured {
                stats::record(&mut report.latency, done - sent_at);
                report.measured_requests += 1;
            }
            match (kind, status.as_u16()) {
                (Kind::New | Kind::Redelivery, 200) => {
                    match serde_json::from_slice::<Delivery>(&body) {
                        Ok(answer) if answer.status == "created" => {
                            report.tally.created += 1;
                            report.created.push(reference.clone());
                            if kind == Kind::New {
                                recent.remember(&reference);
                            }
                        }
                        Ok(answer) if answer.status == "duplicate" => {
                            report.tally.duplicate += 1;
                        }
                        _ => report.tally.error("200 with an unreadable body"),
                    }
                    if measured {
                        report.measured_accepted += 1;
                    }
                }
                (Kind::WrongToken, 401) => report.tally.refused_wrong_token += 1,
                (Kind::Malformed, 400) => report.tally.refused_malformed += 1,
                (kind, code) => report.tally.error(format!("{code} for {kind:?}")),
            }
        }
        report
    }
}

/// What a read-path run saw.
pub struct ReadReport {
    pub latency: Histogram<u64>,
    pub requests: u64,
    /// Answers that were a full page of 50 leads.
    pub full_pages: u64,
    /// Errors only (everything but a full page).
    pub tally: Tally,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeadPage {
    items: Vec<serde::de::IgnoredAny>,
    next_cursor: Option<String>,
}

/// The entity types the read path filters on, and how the seeded leads are spread
/// over them (percent).
pub const ENTITY_TYPES: [(&str, u32); 5] = [
    ("Listing", 60),
    ("Office", 15),
    ("BusinessForm", 10),
    ("User", 10),
    ("EvaluationForm", 5),
];

/// `GET /api/v1/leads?limit=50&entityType=…` (every other one the next page, through
/// the cursor) over `connections` connections until the window ends. A page must hold
/// 50 leads, or it counts as an error.
pub async fn read(address: SocketAddr, connections: usize, window: Window) -> ReadReport {
    let tasks: Vec<_> = (0..connections)
        .map(|id| tokio::spawn(read_worker(address, id, window)))
        .collect();
    let mut report = ReadReport {
        latency: stats::new_histogram(),
        requests: 0,
        full_pages: 0,
        tally: Tally::default(),
    };
    for task in tasks {
        match task.await {
            Ok(part) => {
                let _ = report.latency.add(&part.latency);
                report.requests += part.requests;
                report.full_pages += part.full_pages;
                report.tally.merge(&part.tally);
            }
            Err(_) => report.tally.error("read worker panicked"),
        }
    }
    report
}

async fn read_worker(address: SocketAddr, id: usize, window: Window) -> ReadReport {
    let mut report = ReadReport {
        latency: stats::new_histogram(),
        requests: 0,
        full_pages: 0,
        tally: Tally::default(),
    };
    let mut random = Random::new(1000 + id as u64);
    let mut sender: Option<Sender<Empty<Bytes>>> = None;
    let mut cursor: Option<(usize, String)> = None;
    let host = address.to_string();
    let authorization = format!("Bearer {API_KEY}");
    loop {
        let sent_at = Instant::now();
        if sent_at >= window.stop_at {
            break;
        }
        let (entity, after) = match cursor.take() {
            Some((entity, next)) => (entity, Some(next)),
            None => (random.below(ENTITY_TYPES.len() as u64) as usize, None),
        };
        let mut path = format!(
            "/api/v1/leads?limit=50&entityType={}",
            ENTITY_TYPES[entity].0
        );
        if let Some(after) = &after {
            path.push_str("&cursor=");
            path.push_str(&percent_encode(after));
        }
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            sender = connect(address).await;
        }
        let Some(connection) = sender.as_mut() else {
            report.tally.error("connect failed");
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(request) = Request::get(path)
            .header("host", &host)
            .header("authorization", &authorization)
            .body(Empty::new())
        else {
            report.tally.error("request build failed");
            continue;
        };
        let answer = match connection.ready().await {
            Ok(()) => match connection.send_request(request).await {
                Ok(response) => {
                    let status = response.status();
                    response
                        .into_body()
                        .collect()
                        .await
                        .ok()
                        .map(|body| (status, body.to_bytes()))
                }
                Err(_) => None,
            },
            Err(_) => None,
        };
        let done = Instant::now();
        let Some((status, body)) = answer else {
            report.tally.error("transport error");
            sender = None;
            continue;
        };
        if window.measures(sent_at) {
            stats::record(&mut report.latency, done - sent_at);
            report.requests += 1;
        }
        if status != StatusCode::OK {
            report.tally.error(format!("{}", status.as_u16()));
            continue;
        }
        match serde_json::from_slice::<LeadPage>(&body) {
            Ok(page) if page.items.len() == 50 => {
                report.full_pages += 1;
                // A first page is followed by its next page, then a fresh first page.
                if after.is_none() {
                    cursor = page.next_cursor.map(|next| (entity, next));
                }
            }
            Ok(page) => report
                .tally
                .error(format!("a page of {} leads", page.items.len())),
            Err(_) => report.tally.error("unreadable page"),
        }
    }
    report
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_percent_encoded() {
        assert_eq!(percent_encode("abc-_.~"), "abc-_.~");
        assert_eq!(percent_encode("a+b/c=="), "a%2Bb%2Fc%3D%3D");
    }

    #[test]
    fn entity_shares_add_up_to_100() {
        assert_eq!(
            ENTITY_TYPES.iter().map(|(_, share)| share).sum::<u32>(),
            100
        );
    }

    #[test]
    fn the_window_measures_only_inside_it() {
        let window = Window::after_warmup(Duration::from_secs(1), Duration::from_secs(2));
        assert!(!window.measures(Instant::now()));
        assert!(window.measures(window.measure_from));
        assert!(!window.measures(window.stop_at));
        assert_eq!(window.length(), Duration::from_secs(2));
    }
}
