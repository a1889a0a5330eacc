//! How MySQL/MariaDB's search index (migration 10) writes a lead's trigrams.
//!
//! InnoDB's `FULLTEXT` index matches whole words, not parts of them, and MariaDB has no
//! n-gram parser. So each distinct trigram of a lead's folded search text is written as
//! a word of its own in `lead_search_grams.grams`, and the index over those words is a
//! trigram index: a search asks for the leads holding every word of its term's
//! trigrams, and the `LIKE` decides among them, as on SQLite and PostgreSQL.
//!
//! A word is `q` and the trigram when the trigram is lowercase ASCII letters and digits
//! (`joa` → `qjoa`), else `x` and the hex of its UTF-8 bytes (`ão ` → `xc3a36f20`).
//! Every word is then one token to the parser (letters and digits only), at least four
//! characters long (InnoDB's default minimum is three), and none is in InnoDB's
//! default stopword list.

use std::fmt::Write;

use lead_inbox_domain::search::trigrams;

/// The index word of one trigram.
pub fn trigram_word(trigram: &str) -> String {
    if trigram
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        format!("q{trigram}")
    } else {
        trigram.bytes().fold(String::from("x"), |mut word, byte| {
            let _ = write!(word, "{byte:02x}");
            word
        })
    }
}

/// The words of every distinct trigram of `search_text` (folded), space-separated: what
/// `lead_search_grams.grams` holds for a lead.
pub fn trigram_words(search_text: &str) -> String {
    trigrams(search_text)
        .iter()
        .map(|trigram| trigram_word(trigram))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_trigrams_keep_their_letters_and_others_are_hex() {
        assert_eq!(trigram_word("joa"), "qjoa");
        assert_eq!(trigram_word("912"), "q912");
        assert_eq!(trigram_word("a@b"), "x614062");
        assert_eq!(trigram_word("ão "), "xc3a36f20");
        assert_eq!(trigram_words("joao"), "qjoa qoao");
        assert_eq!(trigram_words("ab"), "");
    }
}
