//! Credentials managed at run time (`lead-inbox tokens …`, `lead-inbox api-keys …`),
//! beside those from configuration. Only a hash of each secret is ever stored.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Scope, StorageError};

/// The SHA-256 of a secret. What is stored and looked up instead of the secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
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
