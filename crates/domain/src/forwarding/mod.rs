//! Forwarding: the rules by which Lead Inbox pushes each lead event to the
//! destinations a team configures (issue #18). Pure, like the rest of the domain: what
//! a destination may be ([`DestinationUrl`], [`forbidden_address`]), what an answer
//! means ([`Verdict::of_status`]), when to try again ([`RetrySchedule`]), and how a
//! request is signed ([`SigningSecret`], Standard Webhooks). The dispatcher that
//! claims deliveries and the HTTP and NATS transports that send them are built on
//! these.

mod address;
mod model;
mod schedule;
mod signature;
mod verdict;

pub use address::{
    DestinationUrl, DestinationUrlError, ForbiddenAddress, forbidden_address,
    redact_destination_url,
};
pub use model::{
    Attempt, AttemptOutcome, DEFAULT_MAX_IN_FLIGHT, Delivery, DeliveryId, DeliveryStatus,
    Destination, DestinationId, DestinationKind, DisabledReason, ForwardFormat, NewDelivery,
    RESPONSE_PREFIX_BYTES, StoredSecret, UnknownValue, event_name, parse_event_name,
    response_prefix,
};
pub use schedule::{RetrySchedule, RetryScheduleError};
pub use signature::{SECRET_BYTES, SigningSecret, SigningSecretError, signature_header};
pub use verdict::{Verdict, parse_retry_after};
