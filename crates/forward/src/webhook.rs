//! The webhook transport: one signed HTTPS `POST` per attempt (Standard Webhooks).
//!
//! Rules it keeps:
//! - **SSRF.** Unless private addresses are allowed (`LEAD_INBOX_FORWARD_ALLOW_PRIVATE`),
//!   the URL must be `https`, an address written in it must not be one that
//!   [`forbidden_address`] forbids, and a name is resolved by [`GuardedResolver`] each
//!   time a connection is opened: forbidden addresses are dropped, and when none is
//!   left the attempt fails with an error naming the rule. Checking when connecting,
//!   not only when the destination is saved, is what defeats DNS rebinding (a name
//!   that resolved to a public address at saving and to `169.254.169.254` later).
//!   Proxies from the environment are not used: through a proxy, the address checked
//!   would be the proxy's, not the destination's.
//! - **Signed, always.** `webhook-signature` holds one `v1,` signature per secret in
//!   [`Outgoing::secrets`] (two during a rotation); a message without any secret is
//!   not sent.
//! - **Redirects are never followed.** A `3xx` is an answer like any other non-`2xx`:
//!   retried. Following one would let a destination send the request, signed, to an
//!   address the rules forbid.
//! - **Timeout.** One attempt, from connecting to the end of reading the answer's
//!   first KiB, takes at most the configured time (`LEAD_INBOX_FORWARD_TIMEOUT_SECONDS`,
//!   default 15).
//! - **What is kept.** The status, the latency (from the attempt's start to the end
//!   of reading what is kept of the answer, or to the failure), the first
//!   [`RESPONSE_PREFIX_BYTES`] of the body (reading stops there: a huge answer is
//!   never buffered), and an error text that never holds the URL's userinfo or query.

use std::{
    error::Error,
    fmt,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use chrono::Utc;
use lead_inbox_application::forwarding::{Outgoing, Transport};
use lead_inbox_domain::forwarding::{
    Attempt, Destination, DestinationUrl, DestinationUrlError, ForbiddenAddress, ForwardFormat,
    RESPONSE_PREFIX_BYTES, Verdict, forbidden_address, response_prefix, signature_header,
};
use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT},
    redirect,
};
use secrecy::ExposeSecret;

use crate::{attempt::AttemptClock, redact::Secrets};

/// The `User-Agent` of every request: `lead-inbox/<version>`.
pub const WEBHOOK_USER_AGENT: &str = concat!("lead-inbox/", env!("CARGO_PKG_VERSION"));

/// The timeout when none is configured (`LEAD_INBOX_FORWARD_TIMEOUT_SECONDS`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Sends webhook deliveries over one shared HTTP client (its connection pool serves
/// every destination). See the module's documentation for the rules it keeps.
#[derive(Debug, Clone)]
pub struct WebhookTransport {
    client: reqwest::Client,
    timeout: Duration,
    allow_private: bool,
}

/// The HTTP client could not be built (its TLS set-up failed).
#[derive(Debug, thiserror::Error)]
#[error("the webhook transport's HTTP client cannot be built: {0}")]
pub struct ClientBuildError(#[source] reqwest::Error);

impl WebhookTransport {
    /// A transport whose attempts give up after `timeout`. With `allow_private`, `http`
    /// and every address are allowed (tests, a CRM on the same network); without it,
    /// the rules of the module's documentation apply.
    pub fn new(
        timeout: Duration,
        allow_private: bool,
    ) -> Result<WebhookTransport, ClientBuildError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(WEBHOOK_USER_AGENT)
            .redirect(redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .no_proxy();
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        let client = builder.build().map_err(ClientBuildError)?;
        Ok(WebhookTransport {
            client,
            timeout,
            allow_private,
        })
    }

    /// Whether this transport may post to `url`: the rules of a saved destination
    /// ([`DestinationUrl::parse`]), except that a name is not refused for its spelling
    /// (`localhost`): every name is judged by the addresses it resolves to, when
    /// connecting.
    fn check(&self, url: &str) -> Result<(), DestinationUrlError> {
        match DestinationUrl::parse(url, self.allow_private) {
            Ok(_) => Ok(()),
            Err(DestinationUrlError::Forbidden(_)) if !host_is_literal(url) => Ok(()),
            Err(refused) => Err(refused),
        }
    }

    async fn post(
        &self,
        destination: &Destination,
        message: &Outgoing,
        secrets: &Secrets,
    ) -> Result<Answer, String> {
        let headers = headers(destination, message)?;
        let mut response = self
            .client
            .post(&destination.url)
            .headers(headers)
            .body(message.body.clone())
            .send()
            .await
            .map_err(|error| self.describe(&error, secrets))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        // One byte past the limit tells `response_prefix` that the body went on (so a
        // character cut at the limit is dropped, not replaced).
        let keep = RESPONSE_PREFIX_BYTES + 1;
        let mut body = Vec::new();
        while body.len() < keep {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = keep - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                // The status is the answer; a body cut short (or slow past the
                // timeout) only shortens what is kept of it.
                Ok(None) | Err(_) => break,
            }
        }
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    fn describe(&self, error: &reqwest::Error, secrets: &Secrets) -> String {
        if error.is_timeout() {
            return format!(
                "timed out after {} s without an answer",
                self.timeout.as_secs_f64()
            );
        }
        // A refusal by the resolver reads like one of the URL's: the rule first.
        let mut source = error.source();
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<AddressesRefused>() {
                return secrets.redact(&refused.refusal());
            }
            source = cause.source();
        }
        // reqwest's own text would print the URL whole, query and all.
        secrets.describe(kind_of(error), error.source())
    }
}

/// What failed, in reqwest's terms, without the URL.
fn kind_of(error: &reqwest::Error) -> &'static str {
    if error.is_connect() {
        "could not connect"
    } else if error.is_body() {
        "the body could not be sent"
    } else {
        "the request failed"
    }
}

#[async_trait]
impl Transport for WebhookTransport {
    async fn send(&self, destination: &Destination, message: &Outgoing) -> Attempt {
        let clock = AttemptClock::start();
        let secrets = Secrets::of_url(&destination.url);
        if let Err(refused) = self.check(&destination.url) {
            return clock.failed(refusal(refused.rule(), &refused));
        }
        match self.post(destination, message, &secrets).await {
            Ok(answer) => {
                let verdict =
                    Verdict::of_status(answer.status, answer.retry_after.as_deref(), Utc::now());
                let response = (!answer.body.is_empty()).then(|| response_prefix(&answer.body));
                clock.answered(answer.status, response, verdict)
            }
            Err(error) => clock.failed(error),
        }
    }
}

/// What a destination answered.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    /// The body's first bytes (at most one past the kept prefix).
    body: Vec<u8>,
}

/// The headers of one request (Standard Webhooks, and the CasaYes `token`).
fn headers(destination: &Destination, message: &Outgoing) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    let value = |text: &str, what: &str| {
        HeaderValue::from_str(text).map_err(|_| format!("the {what} cannot be sent in a header"))
    };
    headers.insert("webhook-id", value(&message.message_id, "message id")?);
    headers.insert("webhook-timestamp", HeaderValue::from(message.timestamp));
    if message.secrets.is_empty() {
        // Receivers trust what is signed: better no request than an unsigned one.
        return Err(
            "the destination has no signing secret; a webhook is never sent unsigned".into(),
        );
    }
    let secrets: Vec<_> = message.secrets.iter().collect();
    let signature = signature_header(
        &secrets,
        &message.message_id,
        message.timestamp,
        &message.body,
    );
    headers.insert("webhook-signature", value(&signature, "signature")?);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(USER_AGENT, HeaderValue::from_static(WEBHOOK_USER_AGENT));
    if destination.format == ForwardFormat::Casayes
        && let Some(token) = &message.casayes_token
    {
        let mut token = value(token.expose_secret(), "CasaYes token")?;
        token.set_sensitive(true);
        headers.insert("token", token);
    }
    Ok(headers)
}

/// Whether the URL's host is an address written out (which no resolver sees).
fn host_is_literal(url: &str) -> bool {
    url::Url::parse(url.trim())
        .is_ok_and(|url| matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))))
}

/// Resolves names with the system's resolver and keeps only the addresses a
/// destination may use ([`forbidden_address`]). reqwest calls it each time it opens
/// a connection, so the check holds whatever the name resolves to at that moment.
/// When no address is left, resolving fails with [`AddressesRefused`], which names
/// the rule of each refused address.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = resolved
                .into_iter()
                .partition(|address| forbidden_address(address.ip()).is_none());
            if allowed.is_empty() {
                let refused = refused
                    .into_iter()
                    .filter_map(|address| {
                        forbidden_address(address.ip()).map(|rule| (address.ip(), rule))
                    })
                    .collect();
                return Err(Box::new(AddressesRefused { host, refused }) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// A name resolved to no address a destination may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressesRefused {
    /// The name.
    pub host: String,
    /// Each address it resolved to, with the rule that forbids it.
    pub refused: Vec<(IpAddr, ForbiddenAddress)>,
}

impl fmt::Display for AddressesRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.refused.is_empty() {
            return write!(f, "{} resolves to no address", self.host);
        }
        write!(
            f,
            "{} resolves only to addresses a destination may not use (",
            self.host
        )?;
        for (i, (address, rule)) in self.refused.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            write!(f, "{separator}{address}: {rule}")?;
        }
        f.write_str("); set LEAD_INBOX_FORWARD_ALLOW_PRIVATE=1 to allow them")
    }
}

impl AddressesRefused {
    /// The attempt's error: the rule of the first refused address, and why.
    fn refusal(&self) -> String {
        let rule = self
            .refused
            .first()
            .map_or("unresolved_name", |(_, rule)| rule.rule());
        refusal(rule, self)
    }
}

impl Error for AddressesRefused {}

/// An attempt's error when the rules refused the destination's address:
/// `refused (<rule>): <why>`.
fn refusal(rule: &str, why: &dyn fmt::Display) -> String {
    format!("refused ({rule}): {why}")
}
