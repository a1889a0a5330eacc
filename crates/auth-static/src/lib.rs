//! Credentials from configuration: [`StaticWebhookTokens`] and [`StaticApiKeys`].
//!
//! The secrets are hashed (SHA-256) as soon as they are loaded, and only the hashes
//! are kept. A presented secret is hashed and compared with every stored hash in
//! constant time ([`subtle`]), without stopping at the first match, so the time taken
//! says nothing about which secret, or how much of one, matched.

use std::fmt;

use async_trait::async_trait;
use lead_inbox_application::{
    ApiKeyVerifier, ApiPrincipal, ExposeSecret, Scope, SecretString, StorageError,
    WebhookTokenVerifier,
};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

type Hash = [u8; 32];

fn hash(secret: &SecretString) -> Hash {
    Sha256::digest(secret.expose_secret().as_bytes()).into()
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

/// The webhook tokens CasaYes may send (several at once, for rotation).
#[derive(Clone)]
pub struct StaticWebhookTokens {
    hashes: Vec<Hash>,
}

impl fmt::Debug for StaticWebhookTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StaticWebhookTokens({} tokens)", self.hashes.len())
    }
}

impl StaticWebhookTokens {
    pub fn new<'a>(tokens: impl IntoIterator<Item = &'a SecretString>) -> Self {
        StaticWebhookTokens {
            hashes: tokens.into_iter().map(hash).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

#[async_trait]
impl WebhookTokenVerifier for StaticWebhookTokens {
    async fn verify(&self, token: &SecretString) -> Result<bool, StorageError> {
        Ok(find(&self.hashes, token).is_some())
    }
}

/// API keys from configuration. Each has every scope; its principal is named
/// `config:<n>` after its position in the list, never by the key itself.
#[derive(Clone)]
pub struct StaticApiKeys {
    hashes: Vec<Hash>,
}

impl fmt::Debug for StaticApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StaticApiKeys({} keys)", self.hashes.len())
    }
}

impl StaticApiKeys {
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a SecretString>) -> Self {
        StaticApiKeys {
            hashes: keys.into_iter().map(hash).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

#[async_trait]
impl ApiKeyVerifier for StaticApiKeys {
    async fn verify(&self, key: &SecretString) -> Result<Option<ApiPrincipal>, StorageError> {
        Ok(find(&self.hashes, key).map(|index| ApiPrincipal {
            name: format!("config:{}", index + 1),
            scopes: Scope::ALL.to_vec(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[tokio::test]
    async fn any_configured_token_is_accepted_and_nothing_else() {
        let configured = [secret("old-token"), secret("new-token")];
        let tokens = StaticWebhookTokens::new(&configured);
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
        let keys = StaticApiKeys::new(&configured);
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
        let printed = format!(
            "{:?} {:?}",
            StaticWebhookTokens::new(&configured),
            StaticApiKeys::new(&configured)
        );
        assert_eq!(
            printed,
            "StaticWebhookTokens(1 tokens) StaticApiKeys(1 keys)"
        );
    }
}
