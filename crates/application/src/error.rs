//! The application's errors: one enum per use case family, plus the storage error
//! every port returns.

use std::error::Error as StdError;

use lead_inbox_domain::Rejection;

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// A storage port failed. Adapters map their driver errors into one of these; the
/// cause stays attached for the log and is never shown to a client.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store cannot be reached or refused the work for now (connection lost, pool
    /// exhausted, database locked). Nothing was committed; retrying later may succeed.
    #[error("storage is unavailable")]
    Unavailable(#[source] Source),
    /// The store answered with something the adapter did not expect (a corrupt row, a
    /// failed constraint other than the lead reference). Nothing was committed.
    #[error("storage failed unexpectedly")]
    Unexpected(#[source] Source),
}

impl StorageError {
    pub fn unavailable(source: impl Into<Source>) -> Self {
        StorageError::Unavailable(source.into())
    }

    pub fn unexpected(source: impl Into<Source>) -> Self {
        StorageError::Unexpected(source.into())
    }
}

/// Why a webhook delivery was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The `token` header is missing or not one that is valid now. Nothing was kept.
    #[error("the webhook token is missing or not valid")]
    Unauthorized,
    /// The body cannot be a lead; it was quarantined with this reason.
    #[error("the payload was refused: {0}")]
    Rejected(Rejection),
    /// The body is larger than the limit; its first bytes were quarantined.
    #[error("the payload is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Nothing could be stored: the lead was not acknowledged and should be sent again.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why an API request was not allowed.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// No API key, or one that is not valid.
    #[error("the API key is missing or not valid")]
    Unauthorized,
    /// A valid key without the scope the operation needs.
    #[error("the API key lacks the {0} scope")]
    Forbidden(crate::Scope),
    #[error(transparent)]
    Storage(#[from] StorageError),
}
