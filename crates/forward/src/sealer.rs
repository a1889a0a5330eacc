//! Sealing the secrets forwarding must use again (signing secrets, a destination's
//! CasaYes token) before they are stored.
//!
//! The trade-off: a signing secret cannot be stored hashed, as API keys are, because
//! Lead Inbox needs it in the clear to sign every request. So either it is stored
//! encrypted, with a key kept outside the database, or it is stored as it is.
//!
//! - With `LEAD_INBOX_SECRETS_KEY` set ([`AeadSealer`]), a stored secret is
//!   `v1:` and the base64 of a random 24-byte nonce followed by its XChaCha20-Poly1305
//!   ciphertext. A database dump or backup alone reveals no secret, and a changed
//!   sealed text is detected, not used. The key must then be kept as safely as the
//!   database credentials: losing it loses every stored secret (destinations must be
//!   given new ones with `rotate-secret`). Generate one with `openssl rand -base64 32`.
//! - Without a key ([`PlainSealer`]), a stored secret is `plain:` and the secret
//!   itself. Anyone who can read the database or a backup of it can then sign
//!   requests that destinations will accept. This is the default so that a first run
//!   needs no set-up; production deployments should set a key.
//!
//! The two prefixes keep the texts apart: a sealer with a key still opens `plain:`
//! texts (those stored before a key was configured), and a sealer without one refuses
//! `v1:` texts with an error that says a key is needed, instead of handing out
//! ciphertext as if it were the secret.

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use lead_inbox_application::forwarding::{SealError, SecretSealer};
use secrecy::SecretString;

/// The environment variable that holds the key (read by the server's configuration,
/// passed to [`AeadSealer::from_base64`]).
pub const SECRETS_KEY_ENV: &str = "LEAD_INBOX_SECRETS_KEY";

const SEALED_PREFIX: &str = "v1:";
const PLAIN_PREFIX: &str = "plain:";
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
/// Bound into every ciphertext, so that a text sealed by this scheme cannot be passed
/// off as one of another use of the same key.
const ASSOCIATED_DATA: &[u8] = b"lead-inbox stored secret v1";

/// Why a secrets key was refused. The message never contains the key's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsKeyError {
    #[error("{SECRETS_KEY_ENV} is not base64 (generate a key with `openssl rand -base64 32`)")]
    Base64,
    #[error(
        "{SECRETS_KEY_ENV} holds {0} bytes, and a key is 32 bytes (generate one with `openssl rand -base64 32`)"
    )]
    Length(usize),
}

/// Seals with XChaCha20-Poly1305 under a 32-byte key: `v1:<base64 nonce‖ciphertext>`.
/// Each seal draws a new random nonce (192 bits: no risk of reuse), so sealing the
/// same secret twice gives two different texts. Opens `plain:` texts too.
pub struct AeadSealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for AeadSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AeadSealer(key redacted)")
    }
}

impl AeadSealer {
    /// The sealer with this key.
    pub fn new(key: [u8; KEY_BYTES]) -> AeadSealer {
        AeadSealer {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// The sealer with the key written as `LEAD_INBOX_SECRETS_KEY` holds it: the
    /// (standard, padded) base64 of 32 bytes. Surrounding whitespace is ignored.
    pub fn from_base64(text: &str) -> Result<AeadSealer, SecretsKeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SecretsKeyError::Base64)?;
        let key: [u8; KEY_BYTES] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SecretsKeyError::Length(bytes.len()))?;
        Ok(AeadSealer::new(key))
    }
}

impl SecretSealer for AeadSealer {
    fn seal(&self, secret: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        // The operating system's generator failing is not something to carry on from:
        // a fixed nonce would break the cipher.
        getrandom::fill(&mut nonce).expect("the operating system's random generator works");
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: ASSOCIATED_DATA,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any secret of a realistic size");
        let mut bytes = Vec::with_capacity(NONCE_BYTES + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", STANDARD.encode(bytes))
    }

    fn open(&self, sealed: &str) -> Result<SecretString, SealError> {
        let Some(encoded) = sealed.strip_prefix(SEALED_PREFIX) else {
            return open_plain(sealed);
        };
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SealError("the sealed text is not base64".into()))?;
        if bytes.len() < NONCE_BYTES {
            return Err(SealError("the sealed text is too short".into()));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().expect("split at the nonce's length");
        let secret = self
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: ASSOCIATED_DATA,
                },
            )
            .map_err(|_| {
                SealError(format!(
                    "it was changed, or sealed with another key than {SECRETS_KEY_ENV}'s"
                ))
            })?;
        String::from_utf8(secret)
            .map(SecretString::from)
            .map_err(|_| SealError("the opened secret is not UTF-8".into()))
    }
}

/// Stores secrets as they are, marked `plain:`, for when `LEAD_INBOX_SECRETS_KEY` is
/// not set (see the module's documentation for what that costs). Refuses to open a
/// `v1:` text, which only the key opens.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainSealer;

impl SecretSealer for PlainSealer {
    fn seal(&self, secret: &str) -> String {
        format!("{PLAIN_PREFIX}{secret}")
    }

    fn open(&self, sealed: &str) -> Result<SecretString, SealError> {
        if sealed.starts_with(SEALED_PREFIX) {
            return Err(SealError(format!(
                "it is encrypted (`{SEALED_PREFIX}`), and {SECRETS_KEY_ENV} is not set"
            )));
        }
        open_plain(sealed)
    }
}

fn open_plain(sealed: &str) -> Result<SecretString, SealError> {
    sealed
        .strip_prefix(PLAIN_PREFIX)
        .map(SecretString::from)
        .ok_or_else(|| {
            SealError(format!(
                "it starts with neither `{SEALED_PREFIX}` nor `{PLAIN_PREFIX}`"
            ))
        })
}
