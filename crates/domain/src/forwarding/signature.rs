//! Signing requests the Standard Webhooks way (<https://www.standardwebhooks.com>,
//! the scheme of Svix and of the libraries receivers already have): the
//! `webhook-signature` header holds `v1,` and the base64 HMAC-SHA256 of
//! `"{webhook-id}.{webhook-timestamp}.{body}"`, keyed with the destination's secret.
//! During a rotation both secrets sign, space-separated, so a receiver that knows
//! either accepts the request.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";
/// The secret Lead Inbox generates: 32 random bytes (256 bits, HMAC-SHA256's block
/// of security).
pub const SECRET_BYTES: usize = 32;
/// What Standard Webhooks allows a secret to be: 24 to 64 bytes.
const ACCEPTED_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// A destination's signing secret. Its `Debug` does not print it; [`Self::expose`]
/// gives the `whsec_…` text, to show once and to store (encrypted where a key is
/// configured).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

/// Why a signing secret's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningSecretError {
    #[error("a signing secret starts with `whsec_`")]
    Prefix,
    #[error("a signing secret is `whsec_` and base64")]
    Base64,
    #[error("a signing secret holds 24 to 64 bytes")]
    Length,
}

impl SigningSecret {
    /// The secret made of these random bytes.
    pub fn from_random(bytes: [u8; SECRET_BYTES]) -> SigningSecret {
        SigningSecret(bytes.to_vec())
    }

    /// Reads `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<SigningSecret, SigningSecretError> {
        let encoded = text
            .strip_prefix(PREFIX)
            .ok_or(SigningSecretError::Prefix)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SigningSecretError::Base64)?;
        if !ACCEPTED_BYTES.contains(&bytes.len()) {
            return Err(SigningSecretError::Length);
        }
        Ok(SigningSecret(bytes))
    }

    /// The secret's text, `whsec_` and base64.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// `v1,<signature>` of one request.
    pub fn sign(&self, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(webhook_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(redacted)")
    }
}

/// The `webhook-signature` header of one request: one `v1,…` per secret that signs
/// now (the current one, and the previous one during a rotation), space-separated.
pub fn signature_header(
    secrets: &[&SigningSecret],
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(webhook_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn secret(seed: u8) -> SigningSecret {
        SigningSecret::from_random([seed; SECRET_BYTES])
    }

    /// A receiver that uses the Standard Webhooks reference library, which we did not
    /// write, accepts what we sign.
    fn verified_by_the_reference_library(
        key: &SigningSecret,
        id: &str,
        timestamp: i64,
        body: &[u8],
        header: &str,
    ) -> bool {
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", id.parse().expect("header"));
        headers.insert(
            "webhook-timestamp",
            timestamp.to_string().parse().expect("header"),
        );
        headers.insert("webhook-signature", header.parse().expect("header"));
        standardwebhooks::Webhook::new(&key.expose())
            .expect("the library reads our secret")
            .verify(body, &headers)
            .is_ok()
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs() as i64
    }

    #[test]
    fn the_reference_library_verifies_our_signature() {
        let key = secret(7);
        let body = br#"{"eventId":"1","kind":"lead.created","lead":{"senderName":"Jo\u00e3o"}}"#;
        let ts = now();
        let header = signature_header(&[&key], "evt_1_dst_2", ts, body);
        assert!(header.starts_with("v1,"), "{header}");
        assert!(verified_by_the_reference_library(
            &key,
            "evt_1_dst_2",
            ts,
            body,
            &header
        ));
        // A changed body, id or timestamp, or another key, is refused.
        assert!(!verified_by_the_reference_library(
            &key,
            "evt_1_dst_2",
            ts,
            b"{}",
            &header
        ));
        assert!(!verified_by_the_reference_library(
            &key,
            "evt_1_dst_3",
            ts,
            body,
            &header
        ));
        assert!(!verified_by_the_reference_library(
            &key,
            "evt_1_dst_2",
            ts - 1,
            body,
            &header
        ));
        assert!(!verified_by_the_reference_library(
            &secret(8),
            "evt_1_dst_2",
            ts,
            body,
            &header
        ));
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let (old, new) = (secret(1), secret(2));
        let ts = now();
        let header = signature_header(&[&new, &old], "msg", ts, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(verified_by_the_reference_library(
            &new, "msg", ts, b"{}", &header
        ));
        assert!(verified_by_the_reference_library(
            &old, "msg", ts, b"{}", &header
        ));
        assert!(!verified_by_the_reference_library(
            &secret(3),
            "msg",
            ts,
            b"{}",
            &header
        ));
    }

    #[test]
    fn the_specification_s_test_vector() {
        // From the Standard Webhooks specification's reference tests.
        let key = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let key = secret(9);
        let text = key.expose();
        assert!(text.starts_with("whsec_") && text.len() == 6 + 44, "{text}");
        assert_eq!(SigningSecret::parse(&text), Ok(key.clone()));
        assert_eq!(format!("{key:?}"), "SigningSecret(redacted)");
        assert_eq!(
            SigningSecret::parse("MfKQ9r8GKYqr"),
            Err(SigningSecretError::Prefix)
        );
        assert_eq!(
            SigningSecret::parse("whsec_!!!"),
            Err(SigningSecretError::Base64)
        );
        assert_eq!(
            SigningSecret::parse(&format!("whsec_{}", STANDARD.encode([0u8; 16]))),
            Err(SigningSecretError::Length)
        );
    }

    proptest! {
        #[test]
        fn any_body_and_id_verify(
            seed: [u8; SECRET_BYTES],
            id in "[A-Za-z0-9_]{1,40}",
            body in "\\PC{0,200}",
        ) {
            let key = SigningSecret::from_random(seed);
            let ts = now();
            let header = signature_header(&[&key], &id, ts, body.as_bytes());
            prop_assert!(verified_by_the_reference_library(&key, &id, ts, body.as_bytes(), &header));
        }
    }
}
