//! Credentials: [`WebhookTokens`] (from configuration and, optionally, managed in the
//! database with `lead-inbox tokens`) and [`ApiKeys`] (likewise, `lead-inbox api-keys`).
//!
//! Secrets are hashed (SHA-256) as soon as they are loaded or created, and only the
//! hashes are kept. A presented secret is hashed and compared with every configured
//! hash in constant time ([`subtle`]), without stopping at the first match, so the
//! time taken says nothing about which secret, or how much of one, matched. Managed
//! tokens are looked up by their hash: what an attacker controls is the hash's input,
//! so the lookup's timing cannot reveal a stored token.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use lead_inbox_application::{
    ApiKeyVerifier, ApiPrincipal, Clock, CredentialKind, CredentialStore, ExposeSecret, Scope,
    SecretHash, SecretString, StorageError, WebhookTokenVerifier,
};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

type Hash = [u8; 32];

fn hash(secret: &SecretString) -> Hash {
    Sha256::digest(secret.expose_secret().as_bytes()).into()
}

/// The hash under which a secret is stored.
pub fn hash_secret(secret: &SecretString) -> SecretHash {
    SecretHash(hash(secret))
}

/// A new random secret: `prefix` then 64 hex digits (244 random bits from the
/// operating system's generator).
pub fn generate_secret(prefix: &str) -> SecretString {
    let random = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    SecretString::from(format!("{prefix}{random}"))
}

/// The index of the stored hash equal to the presented secret's, examining all of them.
fn find(hashes: &[Hash], secret: &SecretString) -> Option<usize> {
    let presented = hash(secret);
    let mut found: Option<usize> = None;
    for (index, stored) in hashes.iter().enumerate() {
        let equal: Choice = stored.ct_eq(&presented);
        if bool::from(equal) && found.is_none() {
            found = Some(index);
        }
    }
    found
}

/// The webhook tokens CasaYes may send: those from configuration (several at once,
/// for rotation) and, when a store is given, the valid managed ones. A managed token
/// revoked or expired is refused from that moment on, on every instance: it is looked
/// up for each request, not cached.
#[derive(Clone)]
pub struct WebhookTokens {
    configured: Vec<Hash>,
    managed: Option<Arc<dyn CredentialStore>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for WebhookTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WebhookTokens({} configured, managed: {})",
            self.configured.len(),
            self.managed.is_some()
        )
    }
}

impl WebhookTokens {
    pub fn new<'a>(
        configured: impl IntoIterator<Item = &'a SecretString>,
        managed: Option<Arc<dyn CredentialStore>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        WebhookTokens {
            configured: configured.into_iter().map(hash).collect(),
            managed,
            clock,
        }
    }
}

#[async_trait]
impl WebhookTokenVerifier for WebhookTokens {
    async fn verify(&self, token: &SecretString) -> Result<bool, StorageError> {
        if find(&self.configured, token).is_some() {
            return Ok(true);
        }
        match &self.managed {
            Some(store) => Ok(store
                .find_valid(
                    CredentialKind::WebhookToken,
                    &hash_secret(token),
                    self.clock.now(),
                )
                .await?
                .is_some()),
            None => Ok(false),
        }
    }
}

/// API keys: those from configuration (every scope; principal `config:<n>` after the
/// key's position in the list) and, when a store is given, the valid managed ones (their
/// own scopes; principal `<name>#<id>`). Never named by the key itself.
#[derive(Clone)]
pub struct ApiKeys {
    configured: Vec<Hash>,
    managed: Option<Arc<dyn CredentialStore>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ApiKeys({} configured, managed: {})",
            self.configured.len(),
            self.managed.is_some()
        )
    }
}

impl ApiKeys {
    pub fn new<'a>(
        configured: impl IntoIterator<Item = &'a SecretString>,
        managed: Option<Arc<dyn CredentialStore>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        ApiKeys {
            configured: configured.into_iter().map(hash).collect(),
            managed,
            clock,
        }
    }
}

#[async_trait]
impl ApiKeyVerifier for ApiKeys {
    async fn verify(&self, key: &SecretString) -> Result<Option<ApiPrincipal>, StorageError> {
        if let Some(index) = find(&self.configured, key) {
            return Ok(Some(ApiPrincipal {
                name: format!("config:{}", index + 1),
                scopes: Scope::ALL.to_vec(),
            }));
        }
        let Some(store) = &self.managed else {
            return Ok(None);
        };
        let found = store
            .find_valid(CredentialKind::ApiKey, &hash_secret(key), self.clock.now())
            .await?;
        Ok(found.map(|record| ApiPrincipal {
            name: format!("{}#{}", record.name, record.id),
            scopes: record.scopes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    fn configured_only(configured: &[SecretString]) -> WebhookTokens {
        WebhookTokens::new(
            configured,
            None,
            Arc::new(lead_inbox_application::SystemClock),
        )
    }

    #[tokio::test]
    async fn any_configured_token_is_accepted_and_nothing_else() {
        let configured = [secret("old-token"), secret("new-token")];
        let tokens = configured_only(&configured);
        assert!(
            tokens
                .verify(&secret("old-token"))
                .await
                .expect("no storage")
        );
        assert!(
            tokens
                .verify(&secret("new-token"))
                .await
                .expect("no storage")
        );
        for wrong in ["", "new-token ", "NEW-TOKEN", "new-toke", "new-tokenn"] {
            assert!(
                !tokens.verify(&secret(wrong)).await.expect("no storage"),
                "{wrong:?}"
            );
        }
    }

    #[tokio::test]
    async fn api_keys_name_their_principal_without_the_key() {
        let configured = [secret("key-one"), secret("key-two")];
        let keys = ApiKeys::new(
            &configured,
            None,
            Arc::new(lead_inbox_application::SystemClock),
        );
        let principal = keys.verify(&secret("key-two")).await.expect("no storage");
        assert_eq!(
            principal,
            Some(ApiPrincipal {
                name: "config:2".into(),
                scopes: Scope::ALL.to_vec()
            })
        );
        assert_eq!(
            keys.verify(&secret("key-three")).await.expect("no storage"),
            None
        );
    }

    #[test]
    fn debug_never_shows_a_secret_or_its_hash() {
        let configured = [secret("s3cr3t")];
        let keys = ApiKeys::new(
            &configured,
            None,
            Arc::new(lead_inbox_application::SystemClock),
        );
        let printed = format!("{:?} {:?}", configured_only(&configured), keys);
        assert_eq!(
            printed,
            "WebhookTokens(1 configured, managed: false) ApiKeys(1 configured, managed: false)"
        );
    }

    #[test]
    fn generated_secrets_are_long_random_and_prefixed() {
        let a = generate_secret("liwt_");
        let b = generate_secret("liwt_");
        assert!(a.expose_secret().starts_with("liwt_"));
        assert_eq!(a.expose_secret().len(), 5 + 64);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(hash_secret(&a), hash_secret(&secret(a.expose_secret())));
    }
}
