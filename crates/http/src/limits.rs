//! Abuse limits enforced in front of every route:
//! - a request timeout (`408`), so a slow body or a stalled handler frees its task;
//! - failed authentications per client (the [`ClientAddr`] resolved for the request,
//!   see [`crate::client`]): once a client has failed `auth_failures_per_minute` times,
//!   each further failure of its own is answered `429` with `Retry-After` instead of
//!   `401`, until its quota refills. Requests are still authenticated meanwhile, and
//!   one whose credentials are valid is served: failures never refuse a valid request,
//!   whoever made them. So the limit does not stop guessing (a right guess would be
//!   served); what does is the tokens' and keys' length (docs/security.md). It tells a
//!   client sending wrong credentials to stop, and keeps its noise bounded.
//! - requests per API key on `/api/v1` (`429` with `Retry-After`), keyed by the
//!   presented header: a wrong key counts against itself, never against a valid one.
//!
//! `/health/*` and `/metrics` are never limited, nor counted: a load balancer's probe
//! and a scraper are answered whatever else their address sent.

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

use crate::{client::ClientAddr, error::ApiError};

/// The limits' settings.
#[derive(Debug, Clone, Copy)]
pub struct LimitConfig {
    pub request_timeout: Duration,
    /// Failed authentications (`401`) allowed per client and minute; past them, a
    /// failure is answered `429`.
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
    /// Until when each client over its failure quota is told to wait: a warning is
    /// logged when a client goes over, not at each of its refused guesses.
    over_quota: Mutex<HashMap<IpAddr, Instant>>,
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
            over_quota: Mutex::new(HashMap::new()),
            api_requests: RateLimiter::keyed(quota(config.api_requests_per_minute)),
            hasher: std::collections::hash_map::RandomState::new(),
            clock: DefaultClock::default(),
        })
    }

    /// Counts a failed authentication of `client`: `Err(wait)` when it is past its
    /// quota. A refused failure uses none of the quota (GCRA), so the quota refills at
    /// its rate however fast the client goes on.
    fn count_auth_failure(&self, client: IpAddr) -> Result<(), Duration> {
        let client = failure_key(client);
        let counted = self
            .auth_failures
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()));
        self.auth_failures.retain_recent();
        if let Err(wait) = counted {
            let mut over = self.over_quota.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            over.retain(|_, until| *until > now);
            if over.insert(client, now + wait).is_none() {
                tracing::warn!(client = %client, retry_after_s = wait.as_secs(), "too many failed authentications: this client's failures get 429");
            }
        }
        counted
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

/// Whose quota a failure from `client` counts against: an IPv4 address's own, and an
/// IPv6 address's /64. A host, or a home connection, is given a whole /64 and picks
/// any address in it at will (privacy extensions rotate them on their own): counted
/// per address, one holder of a /64 would have 2^64 fresh quotas. What is shared is
/// only the quota of failures; valid requests from the same /64 are never refused.
fn failure_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from_bits(
            v6.to_bits() & !u128::from(u64::MAX),
        )),
    }
}

/// Whether `path` is a probe or the metrics, which no limit applies to.
fn never_limited(path: &str) -> bool {
    path.starts_with("/health/") || path == "/metrics"
}

pub(crate) async fn enforce<E: Endpoint>(
    limits: Arc<Limits>,
    next: E,
    request: Request,
) -> poem::Result<Response> {
    let path = request.uri().path();
    let client = ClientAddr::of(&request).filter(|_| !never_limited(path));
    if path.starts_with("/api/")
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
        && let Some(client) = client
        && let Err(wait) = limits.count_auth_failure(client)
    {
        return Ok(too_many(
            wait,
            "too many failed authentications from this client",
        ));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_and_metrics_are_never_limited() {
        for path in ["/health/live", "/health/ready", "/metrics"] {
            assert!(never_limited(path), "{path}");
        }
        for path in [
            "/webhooks/casayes/leads",
            "/api/v1/leads",
            "/metrics/x",
            "/healthz",
        ] {
            assert!(!never_limited(path), "{path}");
        }
    }

    #[test]
    fn past_the_quota_failures_are_refused_and_only_that_clients() {
        let limits = Limits::new(LimitConfig {
            auth_failures_per_minute: 3,
            ..LimitConfig::default()
        });
        let guesser: IpAddr = "203.0.113.9".parse().expect("an address");
        let other: IpAddr = "198.51.100.4".parse().expect("an address");
        for _ in 0..3 {
            assert_eq!(limits.count_auth_failure(guesser), Ok(()));
        }
        for _ in 0..10 {
            let wait = limits
                .count_auth_failure(guesser)
                .expect_err("past the quota");
            assert!(
                wait <= Duration::from_secs(20),
                "one cell at 3 a minute: {wait:?}"
            );
        }
        assert_eq!(limits.count_auth_failure(other), Ok(()));
    }

    #[test]
    fn an_ipv6_64_shares_one_quota_and_the_next_64_has_its_own() {
        let limits = Limits::new(LimitConfig {
            auth_failures_per_minute: 3,
            ..LimitConfig::default()
        });
        let address = |text: &str| -> IpAddr { text.parse().expect("an address") };
        for last in 1..=3 {
            let rotated = address(&format!("2001:db8:1:2::{last}"));
            assert_eq!(limits.count_auth_failure(rotated), Ok(()));
        }
        assert!(
            limits
                .count_auth_failure(address("2001:db8:1:2:ffff:ffff:ffff:ffff"))
                .is_err(),
            "another address of the same /64 counts against the same quota"
        );
        assert_eq!(
            limits.count_auth_failure(address("2001:db8:1:3::1")),
            Ok(()),
            "the next /64 is another client"
        );
        assert_eq!(
            failure_key(address("192.0.2.7")),
            address("192.0.2.7"),
            "IPv4 is counted per address"
        );
    }
}
