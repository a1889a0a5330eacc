//! Webhook tokens managed at run time (`lead-inbox tokens …`), beside those from
//! configuration. Only a hash of each token is ever stored.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::StorageError;

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

/// A managed webhook token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenRecord {
    /// Valid at `now`: not revoked, not expired.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires| now < expires)
    }
}

/// A token to record.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub hash: SecretHash,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Where managed webhook tokens are kept (hashed).
///
/// Contract: `create` stores a token and returns its record (ids increase); `list`
/// returns every token, revoked and expired ones too, oldest first; `revoke` marks a
/// token revoked at `at` and returns it (`None` for an unknown id; revoking twice keeps
/// the first time); `find_valid` returns the token with this hash when it is neither
/// revoked nor expired at `now`. Changes are visible to every instance sharing the
/// store as soon as the call returns.
#[async_trait]
pub trait WebhookTokenStore: Send + Sync {
    async fn create(&self, token: NewToken) -> Result<TokenRecord, StorageError>;

    async fn list(&self) -> Result<Vec<TokenRecord>, StorageError>;

    async fn revoke(&self, id: i64, at: DateTime<Utc>)
    -> Result<Option<TokenRecord>, StorageError>;

    async fn find_valid(
        &self,
        hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>, StorageError>;
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
    fn validity_depends_on_revocation_and_expiry() {
        let now = Utc::now();
        let mut token = TokenRecord {
            id: 1,
            name: "casayes".into(),
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
