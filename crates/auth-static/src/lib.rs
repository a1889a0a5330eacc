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
    ApiKeyVerifier, ApiPrincipal, Clock, CredentialKind, CredentialRecord, CredentialStore, Scope,
    SecretHash, SecretString, StorageError, WebhookTokenVerifier,
};
use subtle::{Choice, ConstantTimeEq};

type Hash = [u8; 32];

fn hash(secret: &SecretString) -> Hash {
    SecretHash::of(secret).0
}

/// The hash under which a secret is stored.
pub fn hash_secret(secret: &SecretString) -> SecretHash {
    SecretHash::of(secret)
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

/// Where a presented secret was found.
enum Found {
    /// The configured secret at this position.
    Configured(usize),
    Managed(CredentialRecord),
}

/// Secrets of one kind: those from configuration, compared as hashes in constant time,
/// and, when a store is given, the managed ones valid now, looked up by hash on each
/// request (not cached), so a revoked or expired one is refused at once on every
/// instance.
#[derive(Clone)]
struct Secrets {
    kind: CredentialKind,
    configured: Vec<Hash>,
    managed: Option<Arc<dyn CredentialStore>>,
    clock: Arc<dyn Clock>,
}

impl Secrets {
    fn new<'a>(
        kind: CredentialKind,
        configured: impl IntoIterator<Item = &'a SecretString>,
        managed: Option<Arc<dyn CredentialStore>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Secrets {
            kind,
            configured: configured.into_iter().map(hash).collect(),
            managed,
            clock,
        }
    }

    async fn find(&self, secret: &SecretString) -> Result<Option<Found>, StorageError> {
        if let Some(index) = find(&self.configured, secret) {
            return Ok(Some(Found::Configured(index)));
        }
        let Some(store) = &self.managed else {
            return Ok(None);
        };
        let record = store
            .find_valid(self.kind, &hash_secret(secret), self.clock.now())
            .await?;
        Ok(record.map(Found::Managed))
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} configured, managed: {}",
            self.configured.len(),
            self.managed.is_some()
        )
    }
}

/// The webhook tokens CasaYes may send: configured ones (several at once, for
/// rotation) and managed ones (`lead-inbox tokens`).
#[derive(Clone)]
pub struct WebhookTokens(Secrets);

impl fmt::Debug for WebhookTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookTokens({:?})", self.0)
    }
}

impl WebhookTokens {
    pub fn new<'a>(
        configured: impl IntoIterator<Item = &'a SecretString>,
        managed: Option<Arc<dyn CredentialStore>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        WebhookTokens(Secrets::new(
            CredentialKind::WebhookToken,
            configured,
            managed,
            clock,
        ))
    }
}

#[async_trait]
impl WebhookTokenVerifier for WebhookTokens {
    async fn verify(&self, token: &SecretString) -> Result<bool, StorageError> {
        Ok(self.0.find(token).await?.is_some())
    }
}

/// API keys: configured ones (every scope; principal `config:<n>` after the key's
/// position in the list) and managed ones (`lead-inbox api-keys`: their own scopes;
/// principal `<name>#<id>`). A principal is never named by the key itself.
#[derive(Clone)]
pub struct ApiKeys(Secrets);

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({:?})", self.0)
    }
}

impl ApiKeys {
    pub fn new<'a>(
        configured: impl IntoIterator<Item = &'a SecretString>,
        managed: Option<Arc<dyn CredentialStore>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        ApiKeys(Secrets::new(
            CredentialKind::ApiKey,
            configured,
            managed,
            clock,
        ))
    }
}

#[async_trait]
impl ApiKeyVerifier for ApiKeys {
    async fn verify(&self, key: &SecretString) -> Result<Option<ApiPrincipal>, StorageError> {
        Ok(self.0.find(key).await?.map(|found| match found {
            Found::Configured(index) => ApiPrincipal {
                name: format!("config:{}", index + 1),
                scopes: Scope::ALL.to_vec(),
            },
            Found::Managed(record) => ApiPrincipal {
                name: format!("{}#{}", record.name, record.id),
                scopes: record.scopes,
            },
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
    fn a_secret_is_stored_under_its_sha256() {
        let a = secret("s3cr3t");
        assert_eq!(hash_secret(&a), hash_secret(&secret("s3cr3t")));
        assert_eq!(
            hash_secret(&a).to_hex(),
            "4e738ca5563c06cfd0018299933d58db1dd8bf97f6973dc99bf6cdc64b5550bd"
        );
    }
}
