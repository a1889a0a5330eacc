//! Credentials managed at run time (`lead-inbox tokens …`, `lead-inbox api-keys …`),
//! beside those from configuration. Only a hash of each secret is ever stored.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::{Clock, Scope, StorageError};

/// The SHA-256 of a secret. What is stored and looked up instead of the secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    /// The hash of `secret` (SHA-256 of its UTF-8 bytes).
    pub fn of(secret: &SecretString) -> SecretHash {
        SecretHash(Sha256::digest(secret.expose_secret().as_bytes()).into())
    }

    /// Lower-case hex, as stored.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(text: &str) -> Option<SecretHash> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(SecretHash(bytes))
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// What a managed credential is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A `token` CasaYes sends with webhook deliveries.
    WebhookToken,
    /// A bearer key for `/api/v1`, with scopes.
    ApiKey,
}

impl CredentialKind {
    pub fn code(self) -> &'static str {
        match self {
            CredentialKind::WebhookToken => "webhook_token",
            CredentialKind::ApiKey => "api_key",
        }
    }

    /// What a new secret of this kind starts with, so that a leaked one says what it is
    /// (and secret scanners can find it).
    pub fn secret_prefix(self) -> &'static str {
        match self {
            CredentialKind::WebhookToken => "liwt_",
            CredentialKind::ApiKey => "lik_",
        }
    }
}

/// A managed credential, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    pub id: i64,
    pub kind: CredentialKind,
    pub name: String,
    /// What an API key may do; empty for webhook tokens.
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl CredentialRecord {
    /// Valid at `now`: not revoked, not expired.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires| now < expires)
    }
}

/// A credential to record.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub kind: CredentialKind,
    pub name: String,
    pub hash: SecretHash,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Where managed webhook tokens and API keys are kept (hashed).
///
/// Contract: `create` stores a credential and returns its record (ids increase);
/// `list` returns every credential of a kind, revoked and expired ones too, oldest
/// first; `revoke` marks a credential of that kind revoked at `at` and returns it
/// (`None` for an unknown id or another kind; revoking twice keeps the first time);
/// `find_valid` returns the credential of that kind with this hash when it is neither
/// revoked nor expired at `now` (a hash of one kind never matches the other). Changes
/// are visible to every instance sharing the store as soon as the call returns.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn create(&self, credential: NewCredential) -> Result<CredentialRecord, StorageError>;

    async fn list(&self, kind: CredentialKind) -> Result<Vec<CredentialRecord>, StorageError>;

    async fn revoke(
        &self,
        kind: CredentialKind,
        id: i64,
        at: DateTime<Utc>,
    ) -> Result<Option<CredentialRecord>, StorageError>;

    async fn find_valid(
        &self,
        kind: CredentialKind,
        hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<CredentialRecord>, StorageError>;
}

/// A new random secret: `prefix` then 64 hex digits (256 random bits from the
/// operating system's generator).
pub fn generate_secret(prefix: &str) -> Result<SecretString, StorageError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| {
        StorageError::unexpected(format!("no randomness for a new secret: {error}"))
    })?;
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(SecretString::from(format!("{prefix}{random}")))
}

/// A credential just issued: its secret, to be shown once, and its record.
pub struct Issued {
    pub secret: SecretString,
    pub record: CredentialRecord,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// The use cases "issue, list and revoke managed webhook tokens and API keys"
/// (`lead-inbox tokens …`, `lead-inbox api-keys …`).
#[derive(Clone)]
pub struct CredentialManagement {
    store: Arc<dyn CredentialStore>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for CredentialManagement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialManagement")
            .finish_non_exhaustive()
    }
}

impl CredentialManagement {
    pub fn new(store: Arc<dyn CredentialStore>, clock: Arc<dyn Clock>) -> Self {
        CredentialManagement { store, clock }
    }

    /// Makes a new secret of `kind` and records its hash (never the secret), valid
    /// from now until `expires_at` (for ever when `None`). The secret is in the answer
    /// only: it cannot be read again. `scopes` are an API key's; a webhook token has
    /// none.
    pub async fn issue(
        &self,
        kind: CredentialKind,
        name: String,
        scopes: Vec<Scope>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Issued, StorageError> {
        let secret = generate_secret(kind.secret_prefix())?;
        let scopes = match kind {
            CredentialKind::WebhookToken => Vec::new(),
            CredentialKind::ApiKey => scopes,
        };
        let record = self
            .store
            .create(NewCredential {
                kind,
                name,
                hash: SecretHash::of(&secret),
                scopes,
                created_at: self.clock.now(),
                expires_at,
            })
            .await?;
        Ok(Issued { secret, record })
    }

    /// Every credential of `kind`, revoked and expired ones too, oldest first.
    pub async fn list(&self, kind: CredentialKind) -> Result<Vec<CredentialRecord>, StorageError> {
        self.store.list(kind).await
    }

    /// Revokes the credential of `kind` with this id from now on; `None` when there is
    /// none.
    pub async fn revoke(
        &self,
        kind: CredentialKind,
        id: i64,
    ) -> Result<Option<CredentialRecord>, StorageError> {
        self.store.revoke(kind, id, self.clock.now()).await
    }

    /// The instant the use cases take as now (for showing whether a record is valid).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Scopes as stored: their codes, comma-separated.
pub fn scopes_to_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.code())
        .collect::<Vec<_>>()
        .join(",")
}

/// Scopes from their stored text; unknown codes are dropped.
pub fn scopes_from_text(text: &str) -> Vec<Scope> {
    text.split(',')
        .filter_map(|code| Scope::from_code(code.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_through_hex() {
        let hash = SecretHash([0xab; 32]);
        assert_eq!(SecretHash::from_hex(&hash.to_hex()), Some(hash));
        assert_eq!(SecretHash::from_hex("zz"), None);
        assert_eq!(format!("{hash:?}"), "SecretHash(..)");
    }

    #[test]
    fn scopes_round_trip_through_text() {
        assert_eq!(scopes_to_text(&Scope::ALL), "read,write,admin");
        assert_eq!(
            scopes_from_text("read, admin,bogus"),
            [Scope::Read, Scope::Admin]
        );
        assert!(scopes_from_text("").is_empty());
    }

    #[test]
    fn validity_depends_on_revocation_and_expiry() {
        let now = Utc::now();
        let mut token = CredentialRecord {
            id: 1,
            kind: CredentialKind::WebhookToken,
            name: "casayes".into(),
            scopes: Vec::new(),
            created_at: now,
            expires_at: None,
            revoked_at: None,
        };
        assert!(token.is_valid_at(now));
        token.expires_at = Some(now);
        assert!(!token.is_valid_at(now), "expired at its expiry instant");
        token.expires_at = Some(now + chrono::Duration::days(1));
        assert!(token.is_valid_at(now));
        token.revoked_at = Some(now);
        assert!(!token.is_valid_at(now));
    }
}
