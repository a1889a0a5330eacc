//! The NATS JetStream transport (issue #19): each attempt publishes the body to the
//! destination's subject, with `Nats-Msg-Id` set to the delivery's message id, and
//! the stream's publish acknowledgement is what counts as delivered. A redelivery
//! within the stream's duplicate window is dropped by the stream (and acknowledged as
//! a duplicate, which is still delivered).
//!
//! - **No stream, no delivery.** When no stream captures the subject, the attempt
//!   fails with an error that says so ("no JetStream stream captures subject …") and
//!   is retried: Lead Inbox never creates streams behind the operator's back.
//! - **Connections.** One per destination URL, opened at the first attempt and reused
//!   by every later one; async-nats reconnects it by itself, and one found
//!   disconnected is replaced by a new one at the next attempt.
//! - **Credentials.** In the URL (`nats://user:password@host:4222`, or
//!   `nats://token@host:4222`), or in a creds file (`LEAD_INBOX_NATS_CREDS`, for every
//!   NATS destination; read again at each new connection, so a rotated file is picked
//!   up). The URL's credentials are handed to async-nats apart from its address, so
//!   that its own logs never print them, and every error text has them (and the
//!   URL's query) redacted.
//! - **Timeout.** Connecting and publishing until the acknowledgement take at most
//!   the configured time (`LEAD_INBOX_FORWARD_TIMEOUT_SECONDS`).

use std::{
    collections::HashMap,
    error::Error,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::{
    ConnectOptions,
    connection::State,
    jetstream::{self, context::PublishErrorKind, message::PublishMessage},
};
use async_trait::async_trait;
use lead_inbox_application::forwarding::{Outgoing, Transport};
use lead_inbox_domain::forwarding::{Attempt, Destination};

use crate::{
    attempt::AttemptClock,
    redact::{Secrets, percent_decoded},
};

/// The environment variable that names a creds file (read by the server's
/// configuration, passed to [`NatsTransport::new`]).
pub const NATS_CREDS_ENV: &str = "LEAD_INBOX_NATS_CREDS";

/// Publishes NATS deliveries to JetStream. See the module's documentation.
pub struct NatsTransport {
    timeout: Duration,
    creds_file: Option<PathBuf>,
    /// One slot per destination URL. The slot's own lock is held while connecting, so
    /// that concurrent attempts to one destination open one connection, and a slow
    /// server delays only its own destination's attempts.
    connections: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<jetstream::Context>>>>>,
}

impl std::fmt::Debug for NatsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The map's keys are URLs, which may hold credentials.
        f.debug_struct("NatsTransport")
            .field("timeout", &self.timeout)
            .field("creds_file", &self.creds_file)
            .finish_non_exhaustive()
    }
}

impl NatsTransport {
    /// A transport whose attempts (connecting included) give up after `timeout`, that
    /// authenticates with the creds file at `creds_file` when one is given (and with
    /// the URL's credentials when it holds some).
    pub fn new(timeout: Duration, creds_file: Option<PathBuf>) -> NatsTransport {
        NatsTransport {
            timeout,
            creds_file,
            connections: Mutex::new(HashMap::new()),
        }
    }

    /// The JetStream context of `url`'s connection: the open one, or a new one when
    /// there is none yet or it was lost.
    async fn context(&self, url: &str, secrets: &Secrets) -> Result<jetstream::Context, String> {
        let slot = {
            let mut connections = self
                .connections
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            connections.entry(url.to_owned()).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some(context) = slot.as_ref()
            && context.client().connection_state() != State::Disconnected
        {
            return Ok(context.clone());
        }
        // Dropping the lost connection's last handle ends its reconnecting task.
        *slot = None;
        let client = self.connect(url, secrets).await?;
        let mut context = jetstream::new(client);
        context.set_timeout(self.timeout);
        *slot = Some(context.clone());
        Ok(context)
    }

    async fn connect(&self, url: &str, secrets: &Secrets) -> Result<async_nats::Client, String> {
        let mut options = match &self.creds_file {
            Some(path) => ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|error| {
                    secrets.describe(
                        &format!(
                            "the NATS creds file {} ({NATS_CREDS_ENV}) cannot be read",
                            path.display()
                        ),
                        Some(&error),
                    )
                })?,
            None => ConnectOptions::new(),
        };
        let mut address = url::Url::parse(url.trim())
            .map_err(|error| format!("the destination's NATS URL is not valid: {error}"))?;
        let user = percent_decoded(address.username());
        let password = address.password().map(percent_decoded);
        options = match (user.is_empty(), password) {
            (true, _) => options,
            (false, Some(password)) => options.user_and_password(user, password),
            (false, None) => options.token(user),
        };
        // Neither can fail on a URL with a host, which a NATS URL without one is not
        // worth connecting to anyway (the connect below says so).
        let _ = address.set_username("");
        let _ = address.set_password(None);
        options
            .name("lead-inbox")
            .connection_timeout(self.timeout)
            .request_timeout(Some(self.timeout))
            .connect(address.as_str())
            .await
            .map_err(|error| {
                secrets.describe(
                    &format!("could not connect to NATS: {error}"),
                    error.source(),
                )
            })
    }

    async fn publish(
        &self,
        destination: &Destination,
        message: &Outgoing,
        secrets: &Secrets,
    ) -> Result<String, String> {
        let subject = destination
            .subject
            .as_deref()
            .ok_or("the destination has no subject to publish to")?;
        let context = self.context(&destination.url, secrets).await?;
        let publish = PublishMessage::build()
            .payload(message.body.clone().into())
            .message_id(&message.message_id);
        let ack = async {
            context
                .send_publish(subject.to_owned(), publish)
                .await?
                .await
        }
        .await
        .map_err(|error| match error.kind() {
            PublishErrorKind::StreamNotFound => {
                format!("no JetStream stream captures subject {subject}")
            }
            PublishErrorKind::TimedOut => format!(
                "no acknowledgement from JetStream within {} s",
                self.timeout.as_secs_f64()
            ),
            _ => secrets.describe(
                &format!("publishing to JetStream failed: {error}"),
                error.source(),
            ),
        })?;
        Ok(format!(
            "stream {} sequence {}{}",
            ack.stream,
            ack.sequence,
            if ack.duplicate { " (duplicate)" } else { "" }
        ))
    }
}

#[async_trait]
impl Transport for NatsTransport {
    async fn send(&self, destination: &Destination, message: &Outgoing) -> Attempt {
        let clock = AttemptClock::start();
        let secrets = Secrets::of_url(&destination.url);
        let published =
            tokio::time::timeout(self.timeout, self.publish(destination, message, &secrets)).await;
        match published {
            Ok(Ok(ack)) => clock.acknowledged(Some(ack)),
            Ok(Err(error)) => clock.failed(error),
            Err(_) => clock.failed(format!(
                "timed out after {} s without a JetStream acknowledgement",
                self.timeout.as_secs_f64()
            )),
        }
    }
}
