//! The Lead Inbox application layer: the ports the use cases need (traits, implemented
//! by adapters) and the use cases themselves (plain structs, one method per case).
//!
//! Nothing here knows HTTP, SQL or configuration. The composition root (`server`)
//! builds adapters, puts them behind `Arc<dyn Port>` and hands them to the use cases.

pub mod access;
pub mod console;
pub mod copy;
pub mod credentials;
pub mod error;
pub mod feed;
pub mod forwarding;
pub mod intake;
pub mod pagination;
pub mod ports;
pub mod privacy;
pub mod queries;
pub mod signal;
pub mod work;

pub use access::{ApiAccess, ApiPrincipal, Scope};
pub use console::{
    AdminOnly, BadFormToken, CheckedForm, ConsoleAccess, NewSession, NewUser, NotAdmin,
    PasswordHash, Role, SessionRecord, SessionStore, SignInError, SignedIn, Throttle, UserError,
    UserRecord, UserStore, Username,
};
pub use credentials::{
    CredentialKind, CredentialManagement, CredentialRecord, CredentialStore, Issued, NewCredential,
    SecretHash, generate_secret, scopes_from_text, scopes_to_text,
};
pub use error::{AccessError, IntakeError, StorageError};
pub use feed::{FeedHub, FeedItem, LeadFeed};
pub use intake::{
    AuthenticatedDelivery, DeliveryBody, LeadIntake, Received, Replay, ReplayStopped, ReplayTally,
};
pub use pagination::{LeadCursor, LeadFilter, LeadSort, Page, PageRequest, PageSizeError};
pub use ports::{
    ApiKeyVerifier, Clock, ContactSummary, ErasureLog, ErasureRecord, InsertOutcome, LeadErasure,
    LeadEventLog, LeadReader, LeadStats, LeadWorkStore, LeadWriter, QuarantineStore, StoreHealth,
    SystemClock, WebhookTokenVerifier,
};
pub use privacy::{Purged, RetentionPolicy, SubjectData, SubjectRights};
pub use queries::LeadQueries;
pub use secrecy::{ExposeSecret, SecretString};
pub use signal::{EventSignal, EventWatch, SignallingLeadWriter, SignallingWorkStore};
pub use work::{LeadWorkflow, WorkOutcome, WorkRequest};
