//! The load generator: N keep-alive HTTP/1.1 connections (hyper's low-level client,
//! one connection per worker task), closed loop (each sends its next request when the
//! previous answer arrived) or open loop (each sends on a fixed schedule, latency
//! counted from the scheduled moment when the server made it late, so that a slow
//! server cannot hide its queueing: no coordinated omission). The read path uses the
//! same connections and exchange: closed-loop `GET`s whose answers a [`Reader`] checks,
//! and [`export`], which streams one long answer through, counting it.

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
        tokio::time::timeout(Duration::from_secs(2), exchange(&mut sender, request)).await,
        Ok(Some((StatusCode::OK, _)))
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
            let answer = exchange(connection, request).await;
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

/// Sends `request` on `connection` and reads the whole answer; `None` when the
/// transport failed.
async fn exchange<B>(connection: &mut Sender<B>, request: Request<B>) -> Option<(StatusCode, Bytes)>
where
    B: hyper::body::Body + Send + 'static,
{
    connection.ready().await.ok()?;
    let response = connection.send_request(request).await.ok()?;
    let status = response.status();
    let body = response.into_body().collect().await.ok()?;
    Some((status, body.to_bytes()))
}

/// `GET path` on the CRM API, with the benchmark's API key, and the console's session
/// cookie once [`sign_in_console`] has one (the API ignores it; `/inbox` reads it).
fn api_get(address: SocketAddr, path: &str) -> Option<Request<Empty<Bytes>>> {
    let mut request = Request::get(path)
        .header("host", address.to_string())
        .header("authorization", format!("Bearer {API_KEY}"));
    let cookie = CONSOLE_COOKIE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.body(Empty::new()).ok()
}

/// The console's session cookie (`lead_inbox_session=…`), for the inbox page's probe:
/// the latest sign-in's, since each database's server has sessions of its own.
static CONSOLE_COOKIE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Signs in to the web console as `username` (its form's double-submit token is any
/// value sent both as the cookie and as the field), so that later reads carry the
/// session.
pub async fn sign_in_console(
    address: SocketAddr,
    username: &str,
    password: &str,
) -> Result<(), String> {
    let mut connection = connect(address)
        .await
        .ok_or("the console's sign-in: connect failed")?;
    let form = format!("csrf=bench&username={username}&password={password}");
    let request = Request::post("/inbox/login")
        .header("host", address.to_string())
        .header("cookie", "lead_inbox_login=bench")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form)))
        .map_err(|e| e.to_string())?;
    connection.ready().await.map_err(|e| e.to_string())?;
    let response = connection
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let session = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("lead_inbox_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "the console's sign-in answered {} without a session",
                response.status().as_u16()
            )
        })?;
    *CONSOLE_COOKIE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(session);
    Ok(())
}

/// One `GET path` on a connection of its own, outside any measurement (to find a
/// cursor); the body of a `200`, else what went wrong.
pub async fn get_once(address: SocketAddr, path: &str) -> Result<Bytes, String> {
    let mut connection = connect(address)
        .await
        .ok_or_else(|| format!("GET {path}: connect failed"))?;
    let request = api_get(address, path).ok_or_else(|| format!("GET {path}: a bad request"))?;
    match exchange(&mut connection, request).await {
        Some((StatusCode::OK, body)) => Ok(body),
        Some((status, _)) => Err(format!("GET {path}: {}", status.as_u16())),
        None => Err(format!("GET {path}: transport error")),
    }
}

/// A `GET` the read path repeats, and how each answer is judged.
pub trait Reader: Send + 'static {
    /// The path and query of the next request.
    fn next_path(&mut self) -> String;
    /// `Ok` when a `200` answer holds what it must; else what was wrong with it.
    fn judge(&mut self, body: &[u8]) -> Result<(), String>;
}

/// How long a read probe runs: through `window`, and, when its answers are slow,
/// on past it until each connection has had `min_samples` measured requests (so that
/// a query taking seconds still gets a median and a tail).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub window: Window,
    pub min_samples: u64,
}

/// What a read probe saw.
pub struct ReadReport {
    /// Latencies of the requests sent after the warm-up.
    pub latency: Histogram<u64>,
    /// Those requests, answered.
    pub requests: u64,
    /// Answers that were a `200` and passed the reader's check (warm-up included).
    pub checked: u64,
    /// From the end of the warm-up to the last measured answer.
    pub seconds: f64,
    /// Errors only: transport failures, other statuses, failed checks.
    pub tally: Tally,
}

impl ReadReport {
    fn new() -> ReadReport {
        ReadReport {
            latency: stats::new_histogram(),
            requests: 0,
            checked: 0,
            seconds: 0.0,
            tally: Tally::default(),
        }
    }

    fn merge(&mut self, other: &ReadReport) {
        let _ = self.latency.add(&other.latency);
        self.requests += other.requests;
        self.checked += other.checked;
        self.seconds = self.seconds.max(other.seconds);
        self.tally.merge(&other.tally);
    }
}

/// Runs `connections` closed-loop workers, each with its own reader from `reader`,
/// for `budget`.
pub async fn read<R: Reader>(
    address: SocketAddr,
    connections: usize,
    budget: Budget,
    reader: impl Fn(usize) -> R,
) -> ReadReport {
    let tasks: Vec<_> = (0..connections)
        .map(|id| tokio::spawn(read_worker(address, reader(id), budget)))
        .collect();
    let mut report = ReadReport::new();
    for task in tasks {
        match task.await {
            Ok(part) => report.merge(&part),
            Err(_) => report.tally.error("read worker panicked"),
        }
    }
    report
}

async fn read_worker<R: Reader>(address: SocketAddr, mut reader: R, budget: Budget) -> ReadReport {
    let mut report = ReadReport::new();
    let window = budget.window;
    let mut sender: Option<Sender<Empty<Bytes>>> = None;
    // Requests sent after the warm-up, answered or not: the stopping rule counts
    // failures too, so that a server that stopped answering does not keep it going.
    let mut attempts = 0u64;
    loop {
        let sent_at = Instant::now();
        if sent_at >= window.stop_at && attempts >= budget.min_samples {
            break;
        }
        let measured = sent_at >= window.measure_from;
        if measured {
            attempts += 1;
        }
        let path = reader.next_path();
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            sender = connect(address).await;
        }
        let Some(connection) = sender.as_mut() else {
            report.tally.error("connect failed");
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Some(request) = api_get(address, &path) else {
            report.tally.error("request build failed");
            continue;
        };
        let answer = exchange(connection, request).await;
        let done = Instant::now();
        let Some((status, body)) = answer else {
            report.tally.error("transport error");
            sender = None;
            continue;
        };
        if measured {
            stats::record(&mut report.latency, done - sent_at);
            report.requests += 1;
            report.seconds = (done - window.measure_from).as_secs_f64();
        }
        if status != StatusCode::OK {
            report.tally.error(format!("{}", status.as_u16()));
            continue;
        }
        match reader.judge(&body) {
            Ok(()) => report.checked += 1,
            Err(what) => report.tally.error(what),
        }
    }
    report
}

/// What one export transferred.
#[derive(Debug, Clone, Default)]
pub struct ExportReport {
    pub status: u16,
    pub bytes: u64,
    /// Line feeds in the body: one per NDJSON lead, one per CSV row.
    pub lines: u64,
    /// The first two lines and the last one (a line is kept up to 64 KiB).
    pub first_lines: Vec<String>,
    pub last_line: String,
    pub first_byte: Duration,
    pub took: Duration,
    /// Whether the body ended before the time limit.
    pub complete: bool,
}

/// The most of a line [`Lines`] keeps.
const KEPT_LINE: usize = 64 * 1024;

/// Counts the lines of a body fed chunk by chunk, keeping only the first two and the
/// last: memory stays bounded whatever the size of the body.
#[derive(Debug, Default)]
struct Lines {
    count: u64,
    first: Vec<String>,
    current: Vec<u8>,
    last: Vec<u8>,
}

impl Lines {
    fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            self.keep(&chunk[..end]);
            self.count += 1;
            let line = std::mem::take(&mut self.current);
            if self.first.len() < 2 {
                self.first.push(String::from_utf8_lossy(&line).into_owned());
            }
            self.last = line;
            chunk = &chunk[end + 1..];
        }
        self.keep(chunk);
    }

    fn keep(&mut self, part: &[u8]) {
        let room = KEPT_LINE.saturating_sub(self.current.len());
        self.current
            .extend_from_slice(&part[..part.len().min(room)]);
    }
}

/// `GET path` (an export), reading the body as it streams in: counts bytes and lines,
/// never holding more than a chunk and a line. Stops reading after `limit` (then
/// `complete` is false and the figures are those of the part received).
pub async fn export(
    address: SocketAddr,
    path: &str,
    limit: Duration,
) -> Result<ExportReport, String> {
    let mut connection = connect::<Empty<Bytes>>(address)
        .await
        .ok_or("connect failed")?;
    let request = api_get(address, path).ok_or("a bad request")?;
    let started = Instant::now();
    connection.ready().await.map_err(|e| e.to_string())?;
    let response = connection
        .send_request(request)
        .await
        .map_err(|e| format!("transport error: {e}"))?;
    let mut report = ExportReport {
        status: response.status().as_u16(),
        first_byte: started.elapsed(),
        ..ExportReport::default()
    };
    let mut body = response.into_body();
    let mut lines = Lines::default();
    let deadline = tokio::time::Instant::from_std(started + limit);
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(frame)) => frame.map_err(|e| format!("the transfer broke off: {e}"))?,
            Ok(None) => {
                report.complete = true;
                break;
            }
            Err(_) => break,
        };
        if let Ok(data) = frame.into_data() {
            report.bytes += data.len() as u64;
            lines.feed(&data);
        }
    }
    report.took = started.elapsed();
    report.lines = lines.count;
    report.first_lines = lines.first;
    report.last_line = String::from_utf8_lossy(&lines.last).into_owned();
    Ok(report)
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
    fn lines_are_counted_across_chunks_keeping_the_first_two_and_the_last() {
        let mut lines = Lines::default();
        for chunk in ["hea", "der\r\nrow 1\r", "\nrow", " 2\r\n", "", "row 3\r\n"] {
            lines.feed(chunk.as_bytes());
        }
        assert_eq!(lines.count, 4);
        assert_eq!(lines.first, ["header\r", "row 1\r"]);
        assert_eq!(lines.last, b"row 3\r");
        let mut long = Lines::default();
        long.feed(&vec![b'x'; KEPT_LINE + 10]);
        long.feed(b"\n");
        assert_eq!((long.count, long.last.len()), (1, KEPT_LINE));
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
