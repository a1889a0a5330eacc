//! Frozen copies of the code the migrations compute with. Never edit them.
//!
//! A migration is a frozen fact: a database migrated tomorrow must get what a database
//! migrated the day the migration was written got. A backfill that called the domain
//! (`lead_inbox_domain::search`) or the storage adapter's live code would compute
//! something else as soon as that code changed, and two databases migrated on
//! different days would disagree about the same lead. So each migration that computes
//! a value finds the functions it calls here, copied as they were, and nothing outside
//! this crate calls them.
//!
//! The live code has its own copies: `lead_inbox_domain::search` (the search text, the
//! contact id) and `lead_inbox_storage_seaorm::search_words` (MySQL/MariaDB's index
//! words). A change to the rules is made there, and when stored rows must follow it, a
//! new migration with a new frozen module here recomputes them.
//!
//! The golden values in `tests` were computed with these functions on 2026-12-02; a
//! change to a function, or to the Unicode tables it uses (`unicode-normalization`,
//! the standard library's lower-casing), fails them.

/// The search text and the contact id of a lead, as migration 5
/// (`m20261128_000005_work_and_search`) backfills them: copied on 2026-12-02 from
/// `lead_inbox_domain::search`, unchanged there since the migration was written
/// (2026-11-28, commit 3d18aa0).
pub(crate) mod work_and_search {
    use sha2::{Digest, Sha256};
    use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

    /// `text` lower-cased, its accents removed and its white space collapsed.
    fn fold(text: &str) -> String {
        let stripped: String = text
            .nfd()
            .filter(|c| !is_combining_mark(*c))
            .collect::<String>()
            .to_lowercase();
        stripped.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The folded text a lead is searched by: the sender's name, email and phone (as
    /// given and in E.164), and the message, joined by a unit separator.
    pub(crate) fn search_text(
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

    /// Who a lead is from: the normalised email, else the E.164 phone.
    pub(crate) fn contact_key(
        email_normalised: Option<&str>,
        phone_e164: Option<&str>,
    ) -> Option<String> {
        email_normalised
            .map(|email| format!("email:{email}"))
            .or_else(|| phone_e164.map(|phone| format!("phone:{phone}")))
    }

    /// A contact's id: the first 16 bytes of the SHA-256 of its key, in hex.
    pub(crate) fn contact_id(key: &str) -> String {
        Sha256::new()
            .chain_update(b"lead-inbox contact\0")
            .chain_update(key.as_bytes())
            .finalize()
            .iter()
            .take(16)
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// A lead's row of `lead_search_grams`, as migration 10
/// (`m20261129_000010_mysql_search_index`) backfills it: copied on 2026-12-02 from
/// `search_words.rs` as it stood at commit 95d16a9 (2026-11-29), the last change to
/// it, made the day the migration was written. Why trigrams are written as words:
/// `lead_inbox_storage_seaorm::search_words`.
pub(crate) mod search_grams {
    use sea_orm_migration::prelude::{Alias, InsertStatement, Query};

    /// The letter every index word starts with.
    const WORD_PREFIX: char = 'q';

    /// The position of an indexed character among the 36 (`a`–`z`, `0`–`9`); `None`
    /// for a character that is not indexed.
    fn symbol(c: char) -> Option<usize> {
        match c {
            'a'..='z' => Some(c as usize - 'a' as usize),
            '0'..='9' => Some(26 + c as usize - '0' as usize),
            _ => None,
        }
    }

    /// The words of `search_text`'s trigrams of ASCII letters and digits,
    /// space-separated, each once, in order of first appearance.
    pub(crate) fn trigram_words(search_text: &str) -> String {
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
    /// words of its search text.
    pub(crate) fn grams_insert<'a>(
        leads: impl IntoIterator<Item = (i64, &'a str)>,
    ) -> InsertStatement {
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new("lead_search_grams"))
            .columns([Alias::new("lead_id"), Alias::new("grams")]);
        for (id, search_text) in leads {
            insert.values_panic([id.into(), trigram_words(search_text).into()]);
        }
        insert
    }
}

/// Golden values, computed on 2026-12-02: if one of these fails, a frozen function was
/// changed. Put it back; a new rule belongs in a new migration.
#[cfg(test)]
mod tests {
    use sea_orm_migration::prelude::MysqlQueryBuilder;

    use super::{search_grams, work_and_search};

    #[test]
    fn migration_5_search_text_is_frozen() {
        assert_eq!(
            work_and_search::search_text(
                Some("  João   SILVA "),
                Some("Joao.Silva@Example.PT"),
                Some("912 345 678"),
                Some("+351912345678"),
                Some("Procuro T2 em Ação,\n perto da Praça Çà!"),
            ),
            "joao silva \u{1f} joao.silva@example.pt \u{1f} 912 345 678 \u{1f} +351912345678 \
             \u{1f} procuro t2 em acao, perto da praca ca!"
        );
        assert_eq!(
            work_and_search::search_text(None, None, None, None, Some("ÑANDÚ Zoë ß ǅ")),
            "nandu zoe ß ǆ"
        );
        assert_eq!(
            work_and_search::search_text(None, None, None, None, None),
            ""
        );
    }

    #[test]
    fn migration_5_contact_id_is_frozen() {
        let key = work_and_search::contact_key(Some("rita@example.pt"), Some("+351912345678"));
        assert_eq!(key.as_deref(), Some("email:rita@example.pt"));
        assert_eq!(
            work_and_search::contact_key(None, Some("+351912345678")).as_deref(),
            Some("phone:+351912345678")
        );
        assert_eq!(work_and_search::contact_key(None, None), None);
        assert_eq!(
            work_and_search::contact_id("email:rita@example.pt"),
            "c6e63ec9b2c4f29a797d895f84c10e64"
        );
        assert_eq!(
            work_and_search::contact_id("phone:+351912345678"),
            "0f99758a52263176eb6d1e1a23ce6f09"
        );
    }

    #[test]
    fn migration_10_trigram_words_are_frozen() {
        assert_eq!(search_grams::trigram_words("joao"), "qjoa qoao");
        assert_eq!(search_grams::trigram_words("ana 912"), "qana q912");
        assert_eq!(search_grams::trigram_words("a@b.pt são ab"), "");
        assert_eq!(
            search_grams::trigram_words(
                "rita quaresma \u{1f} rita@example.pt \u{1f} 912345678 \u{1f} +351912345678"
            ),
            "qrit qita qqua quar qare qres qesm qsma qexa qxam qamp qmpl qple q912 q123 q234 q345 q456 q567 q678 \
             q351 q519 q191"
        );
        assert_eq!(
            search_grams::grams_insert([(7, "joao"), (8, "ab")]).to_string(MysqlQueryBuilder),
            "INSERT INTO `lead_search_grams` (`lead_id`, `grams`) VALUES (7, 'qjoa qoao'), (8, '')"
        );
    }
}
