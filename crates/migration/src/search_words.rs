//! How MySQL/MariaDB's search index (migration 10) writes a lead's trigrams.
//!
//! InnoDB's `FULLTEXT` index matches whole words, not parts of them, and MariaDB has no
//! n-gram parser. So each distinct trigram of a lead's folded search text that is made
//! of ASCII letters and digits only is written as a word of its own in
//! `lead_search_grams.grams` (`joa` → `qjoa`), and the index over those words is a
//! trigram index. A search asks for the leads holding the words of (some of) its
//! term's trigrams, and the `LIKE` decides among them, as on SQLite and PostgreSQL: a
//! lead that holds the term holds each of its trigrams.
//!
//! Trigrams with a space, punctuation or a letter beyond ASCII are left out: they are a
//! third of a lead's trigrams and would double the index, while almost every term has
//! a trigram of letters and digits (folding has already turned `ã` into `a`). A term
//! without one walks the leads. The `q` makes every word one token to the parser, four
//! characters long (InnoDB's default minimum is three), and keeps words such as `the`,
//! `and` or `com` out of InnoDB's default stopword list.

use lead_inbox_domain::search::trigrams;

/// Whether a trigram is written to the index: ASCII letters and digits only.
pub fn is_indexed(trigram: &str) -> bool {
    trigram
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// The index word of one indexed trigram.
pub fn trigram_word(trigram: &str) -> String {
    format!("q{trigram}")
}

/// The distinct indexed trigrams of `text` (folded), in order of first appearance.
pub fn indexed_trigrams(text: &str) -> Vec<String> {
    trigrams(text)
        .into_iter()
        .filter(|trigram| is_indexed(trigram))
        .collect()
}

/// The words of `search_text`'s indexed trigrams, space-separated: what
/// `lead_search_grams.grams` holds for a lead.
pub fn trigram_words(search_text: &str) -> String {
    indexed_trigrams(search_text)
        .iter()
        .map(|trigram| trigram_word(trigram))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trigrams_of_ascii_letters_and_digits_become_words() {
        assert_eq!(trigram_words("joao"), "qjoa qoao");
        assert_eq!(trigram_words("ana 912"), "qana q912");
        assert_eq!(
            trigram_words("a@b.pt"),
            "",
            "no trigram of letters and digits"
        );
        assert_eq!(trigram_words("são"), "", "a letter beyond ASCII");
        assert_eq!(trigram_words("ab"), "");
    }
}
