//! One log line per request: method, path, status, latency. Never the query string
//! (it could carry a secret), headers, or bodies.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Request, Response};

pub(crate) async fn log_request<E: Endpoint>(next: E, request: Request) -> poem::Result<Response> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let result = next.call(request).await.map(IntoResponse::into_response);
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.status(),
    };
    tracing::info!(
        method = %method,
        path = %path,
        status = status.as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    result
}
