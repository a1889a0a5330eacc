//! Abuse limits enforced in front of every route:
//! - a request timeout (`408`), so a slow body or a stalled handler frees its task;
//! - failed authentications per client address: past the quota, every request from
//!   that address gets `429` with `Retry-After` until the quota refills (so a token
//!   cannot be guessed, even a right guess is refused while blocked);
//! - requests per API key on `/api/v1` (`429` with `Retry-After`).
//!
//! The client address is the TCP peer: behind a reverse proxy every request comes from
//! the proxy, so put the limits there or give the proxy a quota to match.

use std::{
    collections::HashMap,
    hash::BuildHasher,
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};
use poem_openapi::payload::Json;

use crate::error::ApiError;

/// The limits' settings.
#[derive(Debug, Clone, Copy)]
pub struct LimitConfig {
    pub request_timeout: Duration,
    /// Failed authentications (`401`) allowed per client address and minute.
    pub auth_failures_per_minute: u32,
    /// Requests allowed per API key and minute on `/api/v1`.
    pub api_requests_per_minute: u32,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            request_timeout: Duration::from_secs(30),
            auth_failures_per_minute: 20,
            api_requests_per_minute: 1200,
        }
    }
}

pub(crate) struct Limits {
    config: LimitConfig,
    auth_failures: DefaultKeyedRateLimiter<IpAddr>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    api_requests: DefaultKeyedRateLimiter<u64>,
    /// Keys the per-key limiter by a keyed hash of the presented key, so the key itself
    /// is not kept in the limiter's map.
    hasher: std::collections::hash_map::RandomState,
    clock: DefaultClock,
}

fn quota(per_minute: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl Limits {
    pub(crate) fn new(config: LimitConfig) -> Arc<Self> {
        Arc::new(Limits {
            config,
            auth_failures: RateLimiter::keyed(quota(config.auth_failures_per_minute)),
            blocked: Mutex::new(HashMap::new()),
            api_requests: RateLimiter::keyed(quota(config.api_requests_per_minute)),
            hasher: std::collections::hash_map::RandomState::new(),
            clock: DefaultClock::default(),
        })
    }

    fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        blocked.retain(|_, until| *until > now);
        blocked.get(&ip).map(|until| *until - now)
    }

    fn record_auth_failure(&self, ip: IpAddr) {
        if let Err(not_until) = self.auth_failures.check_key(&ip) {
            let wait = not_until.wait_time_from(self.clock.now());
            tracing::warn!(client = %ip, retry_after_s = wait.as_secs(), "too many failed authentications: client blocked");
            self.blocked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(ip, Instant::now() + wait);
        }
        self.auth_failures.retain_recent();
    }

    fn check_api_key(&self, authorization: &[u8]) -> Result<(), Duration> {
        let key = self.hasher.hash_one(authorization);
        let result = self
            .api_requests
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()));
        self.api_requests.retain_recent();
        result
    }
}

fn too_many(wait: Duration, what: &str) -> Response {
    let seconds = wait.as_secs().max(1);
    let mut response = Json(ApiError::new(
        "too_many_requests",
        format!("{what}; retry after {seconds} s"),
    ))
    .with_status(StatusCode::TOO_MANY_REQUESTS)
    .into_response();
    if let Ok(value) = seconds.to_string().parse() {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

pub(crate) async fn enforce<E: Endpoint>(
    limits: Arc<Limits>,
    next: E,
    request: Request,
) -> poem::Result<Response> {
    let ip = request.remote_addr().as_socket_addr().map(|addr| addr.ip());
    if let Some(wait) = ip.and_then(|ip| limits.blocked_for(ip)) {
        return Ok(too_many(
            wait,
            "too many failed authentications from this address",
        ));
    }
    if request.uri().path().starts_with("/api/")
        && let Some(authorization) = request.headers().get("authorization")
        && let Err(wait) = limits.check_api_key(authorization.as_bytes())
    {
        return Ok(too_many(wait, "too many requests with this API key"));
    }
    let response = match tokio::time::timeout(
        limits.config.request_timeout,
        crate::call_boxed(&next, request),
    )
    .await
    {
        Ok(result) => result.map(IntoResponse::into_response)?,
        Err(_) => {
            tracing::warn!(
                timeout_s = limits.config.request_timeout.as_secs(),
                "request timed out"
            );
            return Ok(Json(ApiError::new(
                "request_timeout",
                "the request took too long; nothing was stored",
            ))
            .with_status(StatusCode::REQUEST_TIMEOUT)
            .into_response());
        }
    };
    if response.status() == StatusCode::UNAUTHORIZED
        && let Some(ip) = ip
    {
        limits.record_auth_failure(ip);
    }
    Ok(response)
}
