//! One log line per request: method, path, status, latency and the client's address
//! (as [`crate::client`] resolved it), under a span carrying the request id, so every
//! line logged while serving the request carries it too. Never the query string (it
//! could carry a secret), other headers, or bodies.
//!
//! The request id is the client's `x-request-id` when it is a plausible id (1 to 128
//! characters of letters, digits, `.`, `_`, `-`), a new UUID otherwise; it is sent back
//! in the `x-request-id` response header.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Request, Response, http::HeaderValue};
use tracing::Instrument;

use crate::client::ClientAddr;

pub(crate) const REQUEST_ID: &str = "x-request-id";

fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub(crate) async fn log_request<E: Endpoint>(next: E, request: Request) -> poem::Result<Response> {
    let id = request_id(&request);
    let span = tracing::info_span!("request", request_id = %id);
    async move {
        let client = ClientAddr::of(&request);
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let started = Instant::now();
        let result = crate::call_boxed(&next, request)
            .await
            .map(IntoResponse::into_response);
        let status = match &result {
            Ok(response) => response.status(),
            Err(error) => error.status(),
        };
        tracing::info!(
            method = %method,
            path = %path,
            status = status.as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            client = client.map(tracing::field::display),
            "request"
        );
        result.map(|mut response| {
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            response
        })
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(value: &str) -> Request {
        Request::builder().header(REQUEST_ID, value).finish()
    }

    #[test]
    fn a_plausible_client_id_is_kept_anything_else_replaced() {
        assert_eq!(request_id(&with_header("abc-123_x.y")), "abc-123_x.y");
        for bad in ["", "has space", "<script>", &"x".repeat(129)] {
            let id = request_id(&with_header(bad));
            assert_ne!(id, bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        }
        assert!(uuid::Uuid::parse_str(&request_id(&Request::default())).is_ok());
    }
}
