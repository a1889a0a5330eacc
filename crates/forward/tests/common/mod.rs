//! What the transport tests share: a destination of each kind, a closed port.

use std::collections::BTreeSet;

use chrono::Utc;
use lead_inbox_domain::{
    LeadEventKind,
    forwarding::{
        DEFAULT_MAX_IN_FLIGHT, Destination, DestinationId, DestinationKind, ForwardFormat,
    },
};

/// An enabled destination of `kind` at `url`, in the `lead` format, for `lead.created`.
pub fn destination(kind: DestinationKind, url: &str) -> Destination {
    let now = Utc::now();
    Destination {
        id: DestinationId(1),
        kind,
        url: url.to_owned(),
        subject: None,
        events: BTreeSet::from([LeadEventKind::Created]),
        format: ForwardFormat::Lead,
        entity_types: None,
        description: None,
        max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        disabled: None,
        secrets: Vec::new(),
        casayes_token: None,
        after_event: 0,
        failing_since: None,
        created_at: now,
        updated_at: now,
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.local_addr().expect("an address").port()
}
