//! Lead Inbox's forwarding adapter (issues #18 and #19): how a delivery leaves the
//! process, and how the secrets it needs are kept.
//!
//! - [`WebhookTransport`]: a signed HTTPS `POST` (Standard Webhooks), redirects never
//!   followed, every address checked when connecting (SSRF, DNS rebinding).
//! - [`NatsTransport`]: a JetStream publish with `Nats-Msg-Id`, acknowledged by the
//!   stream.
//! - [`Transports`]: the one [`lead_inbox_application::forwarding::Transport`] that
//!   picks between them by the destination's kind.
//! - [`AeadSealer`] (XChaCha20-Poly1305, with `LEAD_INBOX_SECRETS_KEY`) and
//!   [`PlainSealer`] (without a key): the
//!   [`lead_inbox_application::forwarding::SecretSealer`]s.
//!
//! Configuration (read by the server crate, handed to the constructors here):
//! `LEAD_INBOX_FORWARD_TIMEOUT_SECONDS` (default 15, [`DEFAULT_TIMEOUT`]),
//! `LEAD_INBOX_FORWARD_ALLOW_PRIVATE`, `LEAD_INBOX_NATS_CREDS` ([`NATS_CREDS_ENV`]),
//! `LEAD_INBOX_SECRETS_KEY` ([`SECRETS_KEY_ENV`]; generate one with
//! `openssl rand -base64 32`).

mod attempt;
mod dispatch;
mod nats;
mod redact;
mod sealer;
mod webhook;

pub use dispatch::Transports;
pub use nats::{NATS_CREDS_ENV, NatsTransport};
pub use sealer::{AeadSealer, PlainSealer, SECRETS_KEY_ENV, SecretsKeyError};
pub use webhook::{
    AddressesRefused, ClientBuildError, DEFAULT_TIMEOUT, GuardedResolver, WEBHOOK_USER_AGENT,
    WebhookTransport,
};
