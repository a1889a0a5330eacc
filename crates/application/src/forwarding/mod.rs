//! Forwarding (issue #18): every lead event, delivered to the destinations a team
//! configures, signed, retried until it lands, never lost.
//!
//! The path of an event: the event log ([`crate::LeadEventLog`]) is fanned out into
//! deliveries, one per matching destination ([`DeliveryStore::enqueue`], idempotent,
//! so any instance may do it); each instance's dispatcher claims due deliveries under a
//! lease ([`DeliveryStore::claim`]), sends them through a [`Transport`], and records
//! each attempt with what it means ([`DeliveryStore::finish`]).

mod dispatch;
mod manage;

pub use dispatch::{Forwarder, ForwardingOptions, ForwardingPorts};
mod ports;

pub use manage::{
    Deliveries, DestinationError, DestinationRequest, DestinationUpdate, Destinations,
    MAX_IN_FLIGHT, ROTATION_OVERLAP_HOURS, WithSecret, new_message_id, signing_secrets,
};

pub use ports::{
    Backlog, DeliveryFilter, DeliveryStore, DestinationChange, DestinationStore, EventRenderer,
    FinishedAttempt, ForwardingObserver, NewDestination, NoObserver, Outgoing, SealError,
    SecretSealer, Transport, creation_order,
};
