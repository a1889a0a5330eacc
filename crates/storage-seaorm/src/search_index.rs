//! The search indexes the list's free-text search asks before its `LIKE`: SQLite's
//! (migration 9, an FTS5 trigram table filled off the commit path) and MySQL/MariaDB's
//! (migration 10, trigram words under a `FULLTEXT` index, written with each lead; see
//! [`crate::search_words`]). PostgreSQL's `pg_trgm` index serves the
//! `LIKE` itself.
//!
//! - [`SeaOrmStore::index_for_search`] indexes the next SQLite leads, in id order, in a
//!   transaction of its own, and records the last id it indexed. SQLite's ids only
//!   grow (`AUTOINCREMENT`) and it commits one writer at a time, so every lead at or
//!   below that id is indexed and every lead above it is not.
//! - [`SeaOrmStore::keep_search_index`] runs those passes for as long as the server
//!   runs, yielding the writer's turn to ingest between them.
//! - [`candidates`] answers a search: the leads the index says hold the term's
//!   trigrams (on SQLite plus "every lead above the indexed id"), which the caller
//!   checks with the `LIKE` as before. A term with more candidates than
//!   [`MAX_CANDIDATES`] is common: the caller then walks the leads newest first, which
//!   finds a page of a common term after few rows. On MySQL/MariaDB a
//!   [`TrigramSample`] picks which trigrams to ask for.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError},
    time::{Duration, Instant},
};

use lead_inbox_application::StorageError;
use lead_inbox_domain::search::trigrams;
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement, Value};

use crate::{
    Inner, SeaOrmStore,
    search_words::{indexed_trigrams, trigram_word},
    storage_error,
};

/// Leads indexed per pass while the server runs: a pass holds SQLite's one write turn,
/// and deliveries wait for it. 512 per pass cost 15% of the ingest rate at 128 and 512
/// connections and doubled the p99 at 128 against 64 (A/B, `docs/benchmarks.md`).
const LEADS_PER_PASS: i64 = 64;

/// Leads indexed per pass after a bulk load ([`SeaOrmStore::index_all_for_search`]),
/// when no delivery waits: fewer, larger transactions.
const LEADS_PER_BULK_PASS: i64 = 4_096;

/// While the index is behind, the pause after a pass, as a multiple of the pass's own
/// time: the index then takes at most a fifth of the writer's time, and ingest the rest.
const PAUSE_PER_PASS_TIME: u32 = 4;

/// The pause after a pass that found the index up to date.
const IDLE_PAUSE: Duration = Duration::from_millis(500);

/// Most candidates a search takes from the index. A term with more is common enough
/// that walking the leads newest first finds a page within about `total × page ÷
/// MAX_CANDIDATES` rows (25,000 at a million leads and pages of 50).
pub(crate) const MAX_CANDIDATES: usize = 2_000;

/// Most leads a search checks directly because the index has not reached them yet.
/// Beyond that (the index catching up after an upgrade or a bulk load, or behind a
/// long burst), the search walks the leads newest first as without the index: a term
/// that the few indexed leads hold rarely may be common in the rest, and checking
/// every lead of a long tail would cost more than the walk.
const MAX_UNINDEXED: i64 = 20_000;

/// Most trigrams a term is looked up by. Any subset of a term's trigrams gives a
/// superset of its leads, which the `LIKE` then narrows: a long term costs no more.
const MAX_TRIGRAMS: usize = 12;

/// What the index says about a search term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidates {
    /// The indexed leads that may hold the term (a superset: the `LIKE` decides).
    pub(crate) ids: Vec<i64>,
    /// SQLite: leads above this id are not indexed yet and may hold it too. `None` on
    /// MySQL/MariaDB, whose index is written with the leads.
    pub(crate) indexed_through: Option<i64>,
}

/// The FTS5 query for leads holding `term` (SQLite, already folded): its distinct
/// trigrams, at most [`MAX_TRIGRAMS`] of them spread over the term, each a quoted
/// string, all required. `None` when the term has fewer than three characters, which
/// no trigram can find.
///
/// The index keeps no positions (`detail=none`), so it cannot match the trigrams as one
/// phrase; all of them present is a superset of the term present.
pub(crate) fn match_expression(term: &str) -> Option<String> {
    let trigrams = trigrams(term);
    if trigrams.is_empty() {
        return None;
    }
    // Spread over the term rather than its start, when it has more than the maximum.
    let step = trigrams.len().div_ceil(MAX_TRIGRAMS);
    let quoted: Vec<String> = trigrams
        .iter()
        .step_by(step)
        .map(|trigram| format!("\"{}\"", trigram.replace('"', "\"\"")))
        .collect();
    Some(quoted.join(" AND "))
}

/// What the index knows of `term`; `None` when it cannot help: a term shorter than
/// three characters, a common term (more than [`MAX_CANDIDATES`]), SQLite's index far
/// behind (more than [`MAX_UNINDEXED`] leads), MySQL's sample finding only common
/// trigrams in the term, or PostgreSQL, whose trigram index serves the `LIKE` itself.
pub(crate) async fn candidates(store: &Inner, term: &str) -> Result<Option<Candidates>, DbErr> {
    match store.db.get_database_backend() {
        DatabaseBackend::Sqlite => sqlite_candidates(&store.db, term).await,
        DatabaseBackend::MySql => mysql_candidates(store, term).await,
        _ => Ok(None),
    }
}

/// Leads read for [`TrigramSample`]: the newest ones.
const SAMPLE_LEADS: u64 = 2_000;

/// How long a sample serves before it is taken again; sooner while the table held
/// fewer leads than [`SAMPLE_LEADS`] (a new database filling up).
const SAMPLE_LIFETIME: Duration = Duration::from_secs(300);
const SMALL_SAMPLE_LIFETIME: Duration = Duration::from_secs(10);

/// Most leads of a [`SAMPLE_LEADS`] sample, per thousand, that may hold a trigram a
/// search looks up in MySQL's index. InnoDB reads a word's whole posting list: a
/// trigram every lead holds costs 1.3 s at a million leads, one held by 2% about 25 ms.
const MAX_PER_MILLE_LOOKED_UP: u64 = 20;

/// Most trigrams a search looks up in MySQL's index: the rarest ones narrow it most.
const MAX_WORDS: usize = 4;

/// How many of the newest leads hold each indexed trigram (MySQL/MariaDB): what a
/// search looks at to pick the rarest trigrams of its term. InnoDB's `FULLTEXT` search
/// reads the whole posting list of every word it is asked for, so the words decide its
/// cost (`+qsil`, in a tenth of a million leads: 0.21 s; `+qsen`, in all of them: 1.3 s;
/// `+qzef +qefi`: 10 ms). Which trigrams are looked up changes only the cost, never the
/// result: any of them narrows to a superset that the `LIKE` decides.
#[derive(Debug)]
pub(crate) struct TrigramSample {
    taken_at: Instant,
    leads: u64,
    holding: HashMap<String, u64>,
}

impl TrigramSample {
    /// Counts, for every indexed trigram, the leads among `texts` (search texts) that
    /// hold it.
    pub(crate) fn of<'a>(texts: impl IntoIterator<Item = &'a str>) -> TrigramSample {
        let mut leads = 0;
        let mut holding: HashMap<String, u64> = HashMap::new();
        for text in texts {
            leads += 1;
            for trigram in indexed_trigrams(text) {
                *holding.entry(trigram).or_default() += 1;
            }
        }
        TrigramSample {
            taken_at: Instant::now(),
            leads,
            holding,
        }
    }

    fn is_fresh(&self) -> bool {
        let lifetime = if self.leads < SAMPLE_LEADS {
            SMALL_SAMPLE_LIFETIME
        } else {
            SAMPLE_LIFETIME
        };
        self.taken_at.elapsed() < lifetime
    }

    /// The boolean-mode `FULLTEXT` query for leads holding `term` (folded): the words of
    /// its rarest indexed trigrams in the sample, at most [`MAX_WORDS`], each held by at
    /// most [`MAX_PER_MILLE_LOOKED_UP`] of the sampled leads, all required. `None` when
    /// the term has no such trigram: it is common, or made of common pieces, and walking
    /// the leads newest first costs less than the index.
    pub(crate) fn fulltext_expression(&self, term: &str) -> Option<String> {
        let most = self.leads.max(SAMPLE_LEADS) * MAX_PER_MILLE_LOOKED_UP / 1_000;
        let mut ranked: Vec<(u64, String)> = indexed_trigrams(term)
            .into_iter()
            .map(|trigram| (self.holding.get(&trigram).copied().unwrap_or(0), trigram))
            .filter(|(holding, _)| *holding <= most)
            .collect();
        ranked.sort();
        let words: Vec<String> = ranked
            .iter()
            .take(MAX_WORDS)
            .map(|(_, trigram)| format!("+{}", trigram_word(trigram)))
            .collect();
        (!words.is_empty()).then(|| words.join(" "))
    }
}

/// The store's trigram sample, taken again when stale.
async fn trigram_sample(store: &Inner) -> Result<Arc<TrigramSample>, DbErr> {
    if let Some(sample) = store
        .trigram_sample
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .filter(|sample| sample.is_fresh())
    {
        return Ok(Arc::clone(sample));
    }
    let rows = store
        .db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::MySql,
            "SELECT search_text FROM leads WHERE search_text IS NOT NULL \
             ORDER BY id DESC LIMIT ?",
            [Value::from(SAMPLE_LEADS)],
        ))
        .await?;
    let texts = rows
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect::<Result<Vec<_>, _>>()?;
    let sample = Arc::new(TrigramSample::of(texts.iter().map(String::as_str)));
    *store
        .trigram_sample
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&sample));
    Ok(sample)
}

/// [`candidates`] on MySQL/MariaDB: the leads whose `lead_search_grams` row holds the
/// words of the term's rarest trigrams.
async fn mysql_candidates(store: &Inner, term: &str) -> Result<Option<Candidates>, DbErr> {
    let Some(expression) = trigram_sample(store).await?.fulltext_expression(term) else {
        return Ok(None);
    };
    let rows = store
        .db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::MySql,
            "SELECT lead_id FROM lead_search_grams \
             WHERE MATCH (grams) AGAINST (? IN BOOLEAN MODE) LIMIT ?",
            [
                Value::from(expression),
                Value::from(MAX_CANDIDATES as i64 + 1),
            ],
        ))
        .await?;
    if rows.len() > MAX_CANDIDATES {
        return Ok(None);
    }
    let ids = rows
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Candidates {
        ids,
        indexed_through: None,
    }))
}

/// [`candidates`] on SQLite: the leads the FTS5 index holds with every trigram of the
/// term, and the leads it has not reached yet.
async fn sqlite_candidates(
    db: &impl ConnectionTrait,
    term: &str,
) -> Result<Option<Candidates>, DbErr> {
    let Some(expression) = match_expression(term) else {
        return Ok(None);
    };
    // The progress first: a lead indexed after this read is above it, so the caller
    // still checks it; read the other way round, it could be in neither.
    let progress = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Sqlite,
            "SELECT indexed_through, coalesce((SELECT max(id) FROM leads), 0) \
             FROM lead_search_progress WHERE id = 1",
        ))
        .await?;
    let Some(progress) = progress else {
        return Ok(None);
    };
    let indexed_through: i64 = progress.try_get_by_index(0)?;
    let last_id: i64 = progress.try_get_by_index(1)?;
    if last_id - indexed_through > MAX_UNINDEXED {
        return Ok(None);
    }
    // One row, the ids joined: sqlx hands SQLite's rows over one by one, and 2,001 of
    // them (a common term) cost more than the lookup itself.
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "SELECT count(*), coalesce(group_concat(rowid), '') FROM \
             (SELECT rowid FROM lead_search WHERE lead_search MATCH ? LIMIT ?)",
            [
                Value::from(expression),
                Value::from(MAX_CANDIDATES as i64 + 1),
            ],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let found: i64 = row.try_get_by_index(0)?;
    if found > MAX_CANDIDATES as i64 {
        return Ok(None);
    }
    let joined: String = row.try_get_by_index(1)?;
    let ids = joined
        .split(',')
        .filter(|id| !id.is_empty())
        .map(|id| {
            id.parse::<i64>().map_err(|_| {
                DbErr::Type(format!(
                    "lead_search returned a rowid that is not a number: {id}"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Candidates {
        ids,
        indexed_through: Some(indexed_through),
    }))
}

async fn indexed_through(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    scalar(
        db,
        "SELECT indexed_through FROM lead_search_progress WHERE id = 1",
        [],
    )
    .await
    .map(Option::unwrap_or_default)
}

async fn scalar(
    db: &impl ConnectionTrait,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<Option<i64>, DbErr> {
    db.query_one_raw(Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        sql,
        values,
    ))
    .await?
    .map(|row| row.try_get_by_index::<Option<i64>>(0))
    .transpose()
    .map(Option::flatten)
}

impl SeaOrmStore {
    /// Indexes the next leads (at most 64) for search; returns how many it indexed.
    /// Nothing to do, and 0, on PostgreSQL and MySQL/MariaDB.
    pub async fn index_for_search(&self) -> Result<u64, StorageError> {
        self.index_next_for_search(LEADS_PER_PASS).await
    }

    /// Indexes the next `leads` leads for search, in one transaction.
    async fn index_next_for_search(&self, leads: i64) -> Result<u64, StorageError> {
        if self.backend() != DatabaseBackend::Sqlite {
            return Ok(0);
        }
        let db = &self.inner.db;
        let _writer = self.inner.write_turn().await;
        let from = indexed_through(db).await.map_err(storage_error)?;
        let Some(through) = scalar(
            db,
            "SELECT max(id) FROM (SELECT id FROM leads WHERE id > ? ORDER BY id LIMIT ?)",
            [Value::from(from), Value::from(leads)],
        )
        .await
        .map_err(storage_error)?
        else {
            return Ok(0);
        };
        let txn = self.inner.begin_write().await.map_err(storage_error)?;
        // The transaction holds the write lock from its start, so it copies the leads as
        // they are now: a lead erased since the reads above is not in `leads` any more.
        let indexed = txn
            .execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Sqlite,
                "INSERT INTO lead_search (rowid, search_text) \
                 SELECT id, search_text FROM leads \
                 WHERE id > ? AND id <= ? AND search_text IS NOT NULL",
                [Value::from(from), Value::from(through)],
            ))
            .await
            .map_err(storage_error)?
            .rows_affected();
        // Compare and set: another process (a `lead-inbox` command on the same file)
        // that indexed these leads first leaves this pass to be undone.
        let advanced = txn
            .execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Sqlite,
                "UPDATE lead_search_progress SET indexed_through = ? \
                 WHERE id = 1 AND indexed_through = ?",
                [Value::from(through), Value::from(from)],
            ))
            .await
            .map_err(storage_error)?
            .rows_affected();
        if advanced == 0 {
            txn.rollback().await.map_err(storage_error)?;
            return Ok(0);
        }
        txn.commit().await.map_err(storage_error)?;
        Ok(indexed)
    }

    /// Indexes every lead not indexed yet, pass after pass: after a bulk load, so that
    /// its leads are searchable at once. Returns how many it indexed.
    pub async fn index_all_for_search(&self) -> Result<u64, StorageError> {
        let mut total = 0;
        loop {
            let indexed = self.index_next_for_search(LEADS_PER_BULK_PASS).await?;
            if indexed == 0 && self.search_index_lag().await? == 0 {
                return Ok(total);
            }
            total += indexed;
        }
    }

    /// How many leads are not in the search index yet (0 off SQLite).
    pub async fn search_index_lag(&self) -> Result<u64, StorageError> {
        if self.backend() != DatabaseBackend::Sqlite {
            return Ok(0);
        }
        let db = &self.inner.db;
        let from = indexed_through(db).await.map_err(storage_error)?;
        scalar(
            db,
            "SELECT count(*) FROM leads WHERE id > ?",
            [Value::from(from)],
        )
        .await
        .map_err(storage_error)
        .map(|n| n.unwrap_or_default().unsigned_abs())
    }

    /// Keeps the search index up with the leads for as long as the server runs (SQLite;
    /// returns at once elsewhere). While the index is behind, each pass is followed by a
    /// pause four times its length, so that ingest keeps most of the one writer; once it
    /// is up to date, it looks again every half second. A failed pass is logged and
    /// tried again after the pause: searches stay correct meanwhile, only slower.
    pub async fn keep_search_index(self) {
        if self.backend() != DatabaseBackend::Sqlite {
            return;
        }
        loop {
            let started = Instant::now();
            let pause = match self.index_for_search().await {
                Ok(indexed) if indexed > 0 => started.elapsed() * PAUSE_PER_PASS_TIME,
                Ok(_) => IDLE_PAUSE,
                Err(error) => {
                    tracing::warn!(error = %error, "indexing leads for search failed; trying again");
                    IDLE_PAUSE
                }
            };
            tokio::time::sleep(pause.max(Duration::from_millis(1))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_looked_up_by_their_distinct_trigrams() {
        assert_eq!(
            match_expression("joao").as_deref(),
            Some(r#""joa" AND "oao""#)
        );
        assert_eq!(
            match_expression("aaaa").as_deref(),
            Some(r#""aaa""#),
            "a trigram repeated in the term is asked for once"
        );
        assert_eq!(
            match_expression("o s").as_deref(),
            Some(r#""o s""#),
            "spaces are characters of a trigram"
        );
        assert_eq!(match_expression("jo"), None);
        assert_eq!(match_expression(""), None);
    }

    #[test]
    fn mysql_looks_a_term_up_by_its_rarest_trigrams_in_the_sample() {
        // 1,000 leads: every one "sender …@example.com", one in ten a Silva, one a
        // Quaresma.
        let texts: Vec<String> = (0..1_000)
            .map(|n| match n {
                7 => format!("rita quaresma sender{n}@example.com"),
                n if n % 10 == 0 => format!("ana silva sender{n}@example.com"),
                n => format!("rui costa sender{n}@example.com"),
            })
            .collect();
        let sample = TrigramSample::of(texts.iter().map(String::as_str));
        assert_eq!(
            sample.fulltext_expression("quaresma").as_deref(),
            Some("+qare +qesm +qqua +qres"),
            "four of its trigrams none of the others hold"
        );
        assert_eq!(
            sample.fulltext_expression("sender777@example").as_deref(),
            Some("+q777 +qr77"),
            "its rare trigrams (in 1 and 11 leads), not those every lead holds, nor `er7` (111)"
        );
        assert_eq!(sample.fulltext_expression("silva"), None, "a common term");
        assert_eq!(
            sample.fulltext_expression("a@b"),
            None,
            "no indexed trigram"
        );
        assert_eq!(
            sample.fulltext_expression("zzz").as_deref(),
            Some("+qzzz"),
            "a trigram the sample lacks"
        );
        assert_eq!(
            TrigramSample::of([])
                .fulltext_expression("silva")
                .as_deref(),
            Some("+qilv +qlva +qsil"),
            "an empty sample knows no common trigram"
        );
    }

    #[test]
    fn quotes_in_a_term_are_escaped_and_characters_count_not_bytes() {
        assert_eq!(match_expression(r#"a"b"#).as_deref(), Some(r#""a""b""#));
        assert_eq!(
            match_expression("ção").as_deref(),
            Some(r#""ção""#),
            "three characters, six bytes: one trigram"
        );
    }

    #[test]
    fn long_terms_are_looked_up_by_at_most_twelve_trigrams_spread_over_them() {
        let term = "abcdefghijklmnopqrstuvwxyz0123456789";
        let expression = match_expression(term).expect("trigrams");
        let trigrams: Vec<&str> = expression.split(" AND ").collect();
        assert!(trigrams.len() <= MAX_TRIGRAMS, "{expression}");
        assert_eq!(trigrams.first(), Some(&r#""abc""#));
        assert!(
            trigrams.iter().any(|t| t.contains('7')),
            "the end of the term is looked up too: {expression}"
        );
    }
}
