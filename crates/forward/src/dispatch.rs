//! One [`Transport`] for every kind of destination.

use async_trait::async_trait;
use lead_inbox_application::forwarding::{Outgoing, Transport};
use lead_inbox_domain::forwarding::{Attempt, Destination, DestinationKind};

use crate::{NatsTransport, WebhookTransport};

/// Sends each message through the transport of its destination's kind: webhooks
/// through [`WebhookTransport`], NATS through [`NatsTransport`].
#[derive(Debug)]
pub struct Transports {
    pub webhook: WebhookTransport,
    pub nats: NatsTransport,
}

#[async_trait]
impl Transport for Transports {
    async fn send(&self, destination: &Destination, message: &Outgoing) -> Attempt {
        match destination.kind {
            DestinationKind::Webhook => self.webhook.send(destination, message).await,
            DestinationKind::Nats => self.nats.send(destination, message).await,
        }
    }
}
