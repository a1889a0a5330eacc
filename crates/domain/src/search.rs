//! What makes leads findable: free text folded for accent- and case-insensitive search,
//! and the contact a lead belongs to.

use sha2::{Digest, Sha256};
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

use crate::LeadDetails;

/// `text` lower-cased, its accents removed and its white space collapsed: "João
/// SILVA" and "joao silva" fold to the same. Search terms and searched text are both
/// folded, so that any spelling finds any other.
pub fn fold(text: &str) -> String {
    let stripped: String = text
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase();
    stripped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The folded text a lead is searched by: the sender's name, email and phone (as
/// given and in E.164), and the message.
pub fn search_text(
    name: Option<&str>,
    email: Option<&str>,
    phone: Option<&str>,
    phone_e164: Option<&str>,
    message: Option<&str>,
) -> String {
    let parts: Vec<&str> = [name, email, phone, phone_e164, message]
        .into_iter()
        .flatten()
        .collect();
    fold(&parts.join(" \u{1f} "))
}

/// The distinct three-character pieces of `text` (folded), in order of first
/// appearance: what the trigram search indexes keep of a lead, and look a term up by.
/// Any lead whose text holds a term holds every trigram of it.
pub fn trigrams(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut seen = std::collections::HashSet::new();
    chars
        .windows(3)
        .map(|window| window.iter().collect::<String>())
        .filter(|trigram| seen.insert(trigram.clone()))
        .collect()
}

/// Who a lead is from, as one contact: the normalised email, else the E.164 phone.
/// `None` when the lead has neither (such a lead is a contact of its own).
pub fn contact_key(email_normalised: Option<&str>, phone_e164: Option<&str>) -> Option<String> {
    email_normalised
        .map(|email| format!("email:{email}"))
        .or_else(|| phone_e164.map(|phone| format!("phone:{phone}")))
}

/// A contact's id in the API: the first 16 bytes of the SHA-256 of its key, in hex.
/// Opaque, stable, and not the email or phone itself (ids end up in URLs and logs).
pub fn contact_id(key: &str) -> String {
    Sha256::new()
        .chain_update(b"lead-inbox contact\0")
        .chain_update(key.as_bytes())
        .finalize()
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl LeadDetails {
    pub fn search_text(&self) -> String {
        let sender = &self.sender;
        search_text(
            sender.name.as_deref(),
            sender.email.as_ref().map(|email| email.given()),
            sender.phone.as_ref().map(|phone| phone.given()),
            sender.phone.as_ref().and_then(|phone| phone.e164()),
            self.message.as_ref().map(|message| message.as_str()),
        )
    }

    /// The id of the contact this lead belongs to, when it has an email or a phone.
    pub fn contact_id(&self) -> Option<String> {
        let sender = &self.sender;
        contact_key(
            sender.email.as_ref().and_then(|email| email.normalised()),
            sender.phone.as_ref().and_then(|phone| phone.e164()),
        )
        .map(|key| contact_id(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigrams_are_distinct_and_in_order() {
        assert_eq!(trigrams("joao"), ["joa", "oao"]);
        assert_eq!(trigrams("aaaa"), ["aaa"]);
        assert_eq!(trigrams("são é"), ["são", "ão ", "o é"]);
        assert!(trigrams("ab").is_empty());
    }

    #[test]
    fn folding_ignores_case_accents_and_spacing() {
        assert_eq!(fold("  João   SILVA "), "joao silva");
        assert_eq!(fold("Ação Çà"), "acao ca");
        assert_eq!(fold("joao"), fold("JOÃO"));
    }

    #[test]
    fn contacts_prefer_the_email_and_hide_it() {
        let by_email = contact_key(Some("a@b.pt"), Some("+351919111222"));
        assert_eq!(by_email.as_deref(), Some("email:a@b.pt"));
        assert_eq!(
            contact_key(None, Some("+351919111222")).as_deref(),
            Some("phone:+351919111222")
        );
        assert_eq!(contact_key(None, None), None);
        let id = contact_id("email:a@b.pt");
        assert_eq!(id.len(), 32);
        assert!(!id.contains("a@b"));
        assert_eq!(id, contact_id("email:a@b.pt"));
        assert_ne!(id, contact_id("phone:+351919111222"));
    }
}
