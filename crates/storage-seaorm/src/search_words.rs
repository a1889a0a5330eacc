//! How MySQL/MariaDB's search index (migration 10) writes a lead's trigrams.
//!
//! This is the live code: the store writes each new lead's row with it, and a search
//! looks its term's words up with it. Migration 10's backfill has its own frozen copy
//! (`lead_inbox_migration`'s private `frozen::search_grams`), so that a change here
//! cannot change what an applied migration computes: when stored rows must follow a
//! change here, a new migration recomputes them.
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
use sea_orm::sea_query::{Alias, InsertStatement, Query};

/// The letter every index word starts with (why: the module's documentation).
const WORD_PREFIX: char = 'q';

/// Whether a trigram is written to the index: ASCII letters and digits only.
pub fn is_indexed(trigram: &str) -> bool {
    trigram.chars().all(|c| symbol(c).is_some())
}

/// The index word of one indexed trigram.
pub fn trigram_word(trigram: &str) -> String {
    format!("{WORD_PREFIX}{trigram}")
}

/// The distinct indexed trigrams of `text` (folded), in order of first appearance.
pub fn indexed_trigrams(text: &str) -> Vec<String> {
    trigrams(text)
        .into_iter()
        .filter(|trigram| is_indexed(trigram))
        .collect()
}

/// The position of an indexed character among the 36 (`a`–`z`, `0`–`9`); `None` for
/// a character that is not indexed.
fn symbol(c: char) -> Option<usize> {
    match c {
        'a'..='z' => Some(c as usize - 'a' as usize),
        '0'..='9' => Some(26 + c as usize - '0' as usize),
        _ => None,
    }
}

/// The words of `search_text`'s indexed trigrams, space-separated, each once, in order
/// of first appearance: what `lead_search_grams.grams` holds for a lead. Written for
/// every stored lead, so it allocates nothing per trigram: a bit per possible trigram
/// (36³) says which are written already.
pub fn trigram_words(search_text: &str) -> String {
    const SYMBOLS: usize = 36;
    let mut written = vec![0u64; (SYMBOLS * SYMBOLS * SYMBOLS).div_ceil(64)];
    let mut words = String::new();
    let mut previous: [Option<(char, usize)>; 2] = [None, None];
    for c in search_text.chars() {
        let current = symbol(c).map(|position| (c, position));
        if let ([Some((a, i)), Some((b, j))], Some((c, k))) = (previous, current) {
            let trigram = (i * SYMBOLS + j) * SYMBOLS + k;
            let (slot, bit) = (trigram / 64, 1u64 << (trigram % 64));
            if written[slot] & bit == 0 {
                written[slot] |= bit;
                if !words.is_empty() {
                    words.push(' ');
                }
                words.extend([WORD_PREFIX, a, b, c]);
            }
        }
        previous = [previous[1], current];
    }
    words
}

/// The `INSERT` of the `lead_search_grams` rows of `leads`: each lead's id and the
/// words of its search text, as the store's batches write them.
pub fn grams_insert<'a>(leads: impl IntoIterator<Item = (i64, &'a str)>) -> InsertStatement {
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("lead_search_grams"))
        .columns([Alias::new("lead_id"), Alias::new("grams")]);
    for (id, search_text) in leads {
        insert.values_panic([id.into(), trigram_words(search_text).into()]);
    }
    insert
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

    #[test]
    fn the_words_are_the_indexed_trigrams_each_once_in_order() {
        for text in [
            "rita quaresma \u{1f} rita@example.pt \u{1f} 912345678 \u{1f} +351912345678",
            "aaaa aaaa zz9 9zz a1b2c3 são joão ñandú 0000",
            "",
        ] {
            let expected: Vec<String> = indexed_trigrams(text)
                .iter()
                .map(|trigram| trigram_word(trigram))
                .collect();
            assert_eq!(trigram_words(text), expected.join(" "), "{text}");
        }
    }
}
