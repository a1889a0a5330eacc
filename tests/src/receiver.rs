//! A real HTTP receiver for the forwarding tests: a CRM's endpoint on 127.0.0.1 that
//! records every request it gets (headers, exact body bytes, arrival time) and answers
//! as a test tells it to: `200`, a status for the leads whose body holds a marker, or
//! not at all (down: its port refuses connections until it is up again). Served by
//! poem, like Lead Inbox itself, but sharing no code with it.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::{sync::oneshot, task::JoinHandle};

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    /// Header names lower-cased; the last value of each.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The request's headers, as the `standardwebhooks` crate reads them.
    pub fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                map.insert(name, value);
            }
        }
        map
    }

    /// Whether the `standardwebhooks` crate (a verifier we did not write) accepts the
    /// request's signature with `secret` (`whsec_…`).
    pub fn verifies_with(&self, secret: &str) -> bool {
        standardwebhooks::Webhook::new(secret)
            .and_then(|webhook| webhook.verify(&self.body, &self.header_map()))
            .is_ok()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// How the receiver answers.
#[derive(Debug, Clone, Default)]
struct Rules {
    /// Bodies holding a marker get its status (the first that matches).
    by_marker: Vec<(String, u16, Option<String>)>,
    /// Every other request gets this (default 200).
    otherwise: Option<u16>,
    /// How long to wait before answering.
    delay: Option<Duration>,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    rules: Mutex<Rules>,
}

/// The receiver. Dropping it stops it.
pub struct Receiver {
    address: SocketAddr,
    shared: Arc<Shared>,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Receiver {
    /// Starts a receiver on a free port of 127.0.0.1.
    pub async fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let address = listener.local_addr().expect("address");
        let shared = Arc::new(Shared::default());
        let mut receiver = Receiver {
            address,
            shared,
            running: None,
        };
        receiver.serve(listener);
        receiver
    }

    /// `http://127.0.0.1:PORT/hooks/leads`.
    pub fn url(&self) -> String {
        format!("http://{}/hooks/leads", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("lock").clone()
    }

    /// The requests answered with a `2xx`.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// Answers `status` (with `Retry-After` when given) to every body holding `marker`.
    pub fn answer_when(&self, marker: &str, status: u16, retry_after: Option<&str>) {
        self.shared.rules.lock().expect("lock").by_marker.push((
            marker.to_owned(),
            status,
            retry_after.map(str::to_owned),
        ));
    }

    /// Answers `status` to every request no marker matches.
    pub fn answer_otherwise(&self, status: u16) {
        self.shared.rules.lock().expect("lock").otherwise = Some(status);
    }

    /// Waits this long before answering each request.
    pub fn delay_answers(&self, delay: Duration) {
        self.shared.rules.lock().expect("lock").delay = Some(delay);
    }

    /// Forgets the answering rules: `200` to everything.
    pub fn answer_all_ok(&self) {
        *self.shared.rules.lock().expect("lock") = Rules::default();
    }

    /// Stops listening: connections to its port are refused until [`Self::up`].
    pub async fn down(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// Listens again, on the same port.
    pub async fn up(&mut self) {
        if self.running.is_some() {
            return;
        }
        let listener = std::net::TcpListener::bind(self.address).expect("bind again");
        listener.set_nonblocking(true).expect("non-blocking");
        self.serve(listener);
    }

    /// Waits until `predicate` holds for the requests received, or `timeout`; returns
    /// whether it held.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        predicate: impl Fn(&[Received]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if predicate(&self.received()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn serve(&mut self, listener: std::net::TcpListener) {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let shared = self.shared.clone();
        let app = poem::Route::new().at(
            "/*path",
            poem::endpoint::make(move |request| answer(request, shared.clone())),
        );
        let acceptor = poem::listener::TcpAcceptor::from_std(listener).expect("acceptor");
        let task = tokio::spawn(async move {
            // Down means down: connections still open are cut at once.
            let _ = poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async move {
                        let _ = stop_rx.await;
                    },
                    Some(Duration::ZERO),
                )
                .await;
        });
        self.running = Some((stop_tx, task));
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            task.abort();
        }
    }
}

/// Records one request and answers it by the rules.
async fn answer(mut request: poem::Request, shared: Arc<Shared>) -> poem::Response {
    let body = request.take_body().into_vec().await.unwrap_or_default();
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let rules = shared.rules.lock().expect("lock").clone();
    let text = String::from_utf8_lossy(&body);
    let (status, retry_after) = rules
        .by_marker
        .iter()
        .find(|(marker, _, _)| text.contains(marker.as_str()))
        .map(|(_, status, retry_after)| (*status, retry_after.clone()))
        .unwrap_or((rules.otherwise.unwrap_or(200), None));
    if let Some(delay) = rules.delay {
        tokio::time::sleep(delay).await;
    }
    shared.received.lock().expect("lock").push(Received {
        at: Instant::now(),
        path: request.uri().path().to_owned(),
        headers,
        body,
        status,
    });
    let mut response = poem::Response::builder()
        .status(poem::http::StatusCode::from_u16(status).unwrap_or(poem::http::StatusCode::OK))
        .content_type("application/json");
    if let Some(retry_after) = retry_after {
        response = response.header("retry-after", retry_after);
    }
    response.body(format!("{{\"received\":true,\"status\":{status}}}"))
}
