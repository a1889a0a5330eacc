//! The person who sent the lead: how to reach them.

/// The sender's email, kept exactly as given, with a normalised form when it is a
/// plausible address (trimmed, lower-cased), used to recognise the same person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderEmail {
    given: String,
    normalised: Option<String>,
}

impl SenderEmail {
    /// Keeps any non-blank value; `None` for a blank one. Whether it is plausible
    /// shows in [`Self::normalised`].
    pub fn parse(given: &str) -> Option<SenderEmail> {
        if given.trim().is_empty() {
            return None;
        }
        let candidate = given.trim();
        let normalised = is_plausible_email(candidate).then(|| candidate.to_lowercase());
        Some(SenderEmail {
            given: given.to_owned(),
            normalised,
        })
    }

    pub fn given(&self) -> &str {
        &self.given
    }

    /// The trimmed, lower-cased address, when it is plausible.
    pub fn normalised(&self) -> Option<&str> {
        self.normalised.as_deref()
    }

    pub fn is_plausible(&self) -> bool {
        self.normalised.is_some()
    }
}

/// A plausibility check, not RFC 5322: one `@`, a local part, a dotted domain of
/// letters, digits and dashes, no white space, at most 254 characters.
fn is_plausible_email(text: &str) -> bool {
    if text.len() > 254 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()))
}

/// The sender's phone, kept exactly as given, with its E.164 form when one can be
/// derived: CasaYes sends Portuguese national numbers without the country code
/// (`919111222` becomes `+351919111222`); international forms (`+351 919 111 222`,
/// `00351…`, `+44…`) are read too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderPhone {
    given: String,
    e164: Option<String>,
}

impl SenderPhone {
    /// Keeps any non-blank value; `None` for a blank one.
    pub fn parse(given: &str) -> Option<SenderPhone> {
        if given.trim().is_empty() {
            return None;
        }
        Some(SenderPhone {
            given: given.to_owned(),
            e164: to_e164(given),
        })
    }

    pub fn given(&self) -> &str {
        &self.given
    }

    pub fn e164(&self) -> Option<&str> {
        self.e164.as_deref()
    }
}

const PORTUGAL: &str = "351";

fn to_e164(given: &str) -> Option<String> {
    let text = given.trim();
    let (international, rest) = if let Some(rest) = text.strip_prefix('+') {
        (true, rest)
    } else if let Some(rest) = text.strip_prefix("00") {
        (true, rest)
    } else {
        (false, text)
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => return None,
        }
    }
    if international {
        if let Some(national) = digits.strip_prefix(PORTUGAL) {
            return is_portuguese_national(national).then(|| format!("+{digits}"));
        }
        return (8..=15)
            .contains(&digits.len())
            .then(|| format!("+{digits}"));
    }
    if is_portuguese_national(&digits) {
        return Some(format!("+{PORTUGAL}{digits}"));
    }
    match digits.strip_prefix(PORTUGAL) {
        Some(national) if is_portuguese_national(national) => Some(format!("+{digits}")),
        _ => None,
    }
}

/// Portuguese numbers have nine digits; those a person uses start with 2 (fixed),
/// 3 (nomadic) or 9 (mobile).
fn is_portuguese_national(digits: &str) -> bool {
    digits.len() == 9 && matches!(digits.as_bytes()[0], b'2' | b'3' | b'9')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::{phone_like, written_phone};
    use proptest::prelude::*;

    #[test]
    fn plausible_emails_are_normalised() {
        let email = SenderEmail::parse(" John.Smith@Example.COM ").expect("given");
        assert_eq!(email.given(), " John.Smith@Example.COM ");
        assert_eq!(email.normalised(), Some("john.smith@example.com"));
        let accented = SenderEmail::parse("joão@correio.pt").expect("given");
        assert!(accented.is_plausible());
    }

    #[test]
    fn implausible_emails_are_kept_as_given() {
        for text in [
            "john",
            "john@",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@@b.com",
            "a@b.1",
            "a@-x.com",
        ] {
            let email = SenderEmail::parse(text).expect("given");
            assert_eq!(email.given(), text);
            assert_eq!(email.normalised(), None, "{text}");
        }
        assert_eq!(SenderEmail::parse("  "), None);
    }

    #[test]
    fn portuguese_numbers_get_the_country_code() {
        let cases = [
            ("919111222", Some("+351919111222")),
            ("+351 919 111 222", Some("+351919111222")),
            ("00351919111222", Some("+351919111222")),
            ("351919111222", Some("+351919111222")),
            ("219 111 222", Some("+351219111222")),
            ("+44 20 7946 0958", Some("+442079460958")),
            ("+351 12345", None),
            ("12345", None),
            ("call me", None),
            ("819111222", None),
        ];
        for (given, e164) in cases {
            let phone = SenderPhone::parse(given).expect("given");
            assert_eq!(phone.given(), given);
            assert_eq!(phone.e164(), e164, "{given}");
        }
        assert_eq!(SenderPhone::parse(""), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in any::<String>()) {
            if let Some(email) = SenderEmail::parse(&text) {
                prop_assert_eq!(email.given(), text.as_str());
            }
            if let Some(phone) = SenderPhone::parse(&text) {
                prop_assert_eq!(phone.given(), text.as_str());
                if let Some(e164) = phone.e164() {
                    prop_assert!(e164.starts_with('+'));
                    prop_assert!(e164[1..].chars().all(|c| c.is_ascii_digit()));
                    prop_assert!((9..=16).contains(&e164.len()));
                }
            }
        }

        #[test]
        fn written_portuguese_numbers_get_their_e164_form((text, e164) in written_phone()) {
            let phone = SenderPhone::parse(&text).expect("given");
            prop_assert_eq!(phone.given(), text.as_str());
            prop_assert_eq!(phone.e164(), Some(e164.as_str()), "{:?}", text);
        }

        #[test]
        fn an_e164_form_keeps_the_digits_given(text in phone_like()) {
            let Some(phone) = SenderPhone::parse(&text) else {
                prop_assert!(text.trim().is_empty(), "{:?} is not blank", text);
                return Ok(());
            };
            prop_assert_eq!(phone.given(), text.as_str());
            let Some(e164) = phone.e164() else {
                return Ok(());
            };
            prop_assert!(
                !text.chars().any(|c| c.is_alphabetic() || c == '#' || c == '*'),
                "{:?} has letters or signs, yet {}", text, e164
            );
            let digits = e164.strip_prefix('+').expect("a plus sign");
            prop_assert!(digits.chars().all(|c| c.is_ascii_digit()), "{}", e164);
            prop_assert!((8..=15).contains(&digits.len()), "{}", e164);
            let given: String = text.chars().filter(char::is_ascii_digit).collect();
            prop_assert!(
                given == digits || given == format!("00{digits}") || format!("351{given}") == digits,
                "{:?} gave {}: digits added or lost", text, e164
            );
            let again = SenderPhone::parse(e164).expect("given");
            prop_assert_eq!(again.e164(), Some(e164), "the E.164 form reads back as itself");
        }

        #[test]
        fn national_mobiles_round_trip(rest in "[0-9]{8}") {
            let national = format!("9{rest}");
            let phone = SenderPhone::parse(&national).expect("given");
            let e164 = phone.e164().expect("portuguese").to_owned();
            prop_assert_eq!(&e164, &format!("+351{national}"));
            let again = SenderPhone::parse(&e164).expect("given");
            prop_assert_eq!(again.e164(), Some(e164.as_str()));
        }
    }
}
