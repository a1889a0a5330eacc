//! The sealers of stored secrets: the AEAD one (with `LEAD_INBOX_SECRETS_KEY`) and the
//! plain one (without).

use base64::{Engine, engine::general_purpose::STANDARD};
use lead_inbox_application::forwarding::SecretSealer;
use lead_inbox_forward::{AeadSealer, PlainSealer, SecretsKeyError};
use secrecy::ExposeSecret;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn key(seed: u8) -> String {
    STANDARD.encode([seed; 32])
}

fn sealer(seed: u8) -> AeadSealer {
    AeadSealer::from_base64(&key(seed)).expect("a valid key")
}

fn opened(sealer: &dyn SecretSealer, sealed: &str) -> String {
    sealer
        .open(sealed)
        .expect("it opens")
        .expose_secret()
        .to_owned()
}

#[test]
fn a_sealed_secret_opens_to_itself_and_shows_nothing_of_it() {
    let sealer = sealer(1);
    let sealed = sealer.seal(SECRET);
    assert!(sealed.starts_with("v1:"), "{sealed}");
    assert!(!sealed.contains("MfKQ9r8G"), "{sealed}");
    // 24 bytes of nonce, the secret's bytes, 16 bytes of tag.
    let bytes = STANDARD.decode(&sealed[3..]).expect("base64");
    assert_eq!(bytes.len(), 24 + SECRET.len() + 16);
    assert_eq!(opened(&sealer, &sealed), SECRET);
    // A new nonce each time: the same secret never seals to the same text.
    let again = sealer.seal(SECRET);
    assert_ne!(again, sealed);
    assert_eq!(opened(&sealer, &again), SECRET);
    assert_eq!(opened(&sealer, &sealer.seal("")), "");
    assert_eq!(format!("{sealer:?}"), "AeadSealer(key redacted)");
}

#[test]
fn a_changed_sealed_text_is_refused() {
    let sealer = sealer(2);
    let sealed = sealer.seal(SECRET);
    let bytes = STANDARD.decode(&sealed[3..]).expect("base64");
    // Any one bit flipped, in the nonce, the ciphertext or the tag.
    for index in [0, 23, 24, bytes.len() - 1] {
        let mut changed = bytes.clone();
        changed[index] ^= 0x01;
        let error = sealer
            .open(&format!("v1:{}", STANDARD.encode(&changed)))
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "a stored secret cannot be opened: it was changed, or sealed with another key than LEAD_INBOX_SECRETS_KEY's"
        );
    }
    // Cut short, and not base64.
    assert!(
        sealer
            .open(&format!("v1:{}", STANDARD.encode(&bytes[..10])))
            .is_err()
    );
    assert_eq!(
        sealer.open("v1:%%%").expect_err("refused").to_string(),
        "a stored secret cannot be opened: the sealed text is not base64"
    );
}

#[test]
fn another_key_cannot_open_it() {
    let sealed = sealer(3).seal(SECRET);
    let error = sealer(4).open(&sealed).expect_err("refused");
    assert!(error.to_string().contains("another key"), "{error}");
}

#[test]
fn plain_and_sealed_texts_are_told_apart() {
    let plain = PlainSealer.seal(SECRET);
    assert_eq!(plain, format!("plain:{SECRET}"));
    assert_eq!(opened(&PlainSealer, &plain), SECRET);
    // A key set later still opens what was stored before it.
    assert_eq!(opened(&sealer(5), &plain), SECRET);
    // Without the key, an encrypted text is refused, not handed out as the secret.
    let error = PlainSealer
        .open(&sealer(5).seal(SECRET))
        .expect_err("refused");
    assert_eq!(
        error.to_string(),
        "a stored secret cannot be opened: it is encrypted (`v1:`), and LEAD_INBOX_SECRETS_KEY is not set"
    );
    // A text of neither kind is refused by both.
    for sealer in [&PlainSealer as &dyn SecretSealer, &sealer(5)] {
        let error = sealer.open(SECRET).expect_err("refused");
        assert!(
            error.to_string().contains("neither `v1:` nor `plain:`"),
            "{error}"
        );
    }
}

#[test]
fn a_malformed_key_is_refused_clearly_without_showing_it() {
    assert_eq!(
        AeadSealer::from_base64("not base64 at all!").unwrap_err(),
        SecretsKeyError::Base64
    );
    let short = STANDARD.encode([7u8; 16]);
    let error = AeadSealer::from_base64(&short).unwrap_err();
    assert_eq!(error, SecretsKeyError::Length(16));
    let message = error.to_string();
    assert_eq!(
        message,
        "LEAD_INBOX_SECRETS_KEY holds 16 bytes, and a key is 32 bytes (generate one with `openssl rand -base64 32`)"
    );
    assert!(!message.contains(&short));
    // Whitespace around it (a trailing newline from a file) is ignored.
    let sealed = sealer(6).seal(SECRET);
    let reread = AeadSealer::from_base64(&format!(" {}\n", key(6))).expect("valid");
    assert_eq!(opened(&reread, &sealed), SECRET);
}
