//! On MySQL/MariaDB, a trigram index for the leads' free-text search:
//! `lead_search_grams`, one row per lead holding its trigrams as words (see
//! `lead_inbox_storage_seaorm::search_words`) under a `FULLTEXT` index. The backfill
//! writes them with [`crate::frozen::search_grams`], this migration's own copy.
//!
//! `search_text LIKE '%term%'` cannot use a B-tree, so a term few leads hold read every
//! lead (10.8 s at a million). The storage adapter writes a lead's row in the same
//! transaction as the lead, so the index is never behind; a search asks it for the
//! leads holding every trigram of the term and checks the `LIKE` on those only.
//!
//! - `lead_id` references the lead `ON DELETE CASCADE`: erasure and retention delete
//!   the row with its lead. InnoDB keeps a deleted row's words in the index until the
//!   table is rebuilt, which the erasure's scrub (`OPTIMIZE TABLE`) does.
//! - Leads stored before this migration get their rows here, a page at a time, before
//!   the index is built (building it once over loaded rows is much faster than
//!   maintaining it row by row).
//!
//! SQLite has its trigram index since migration 9, PostgreSQL since migration 5; this
//! migration does nothing there.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value},
};

use crate::frozen::search_grams::grams_insert;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Leads read and written per step of the backfill.
const BACKFILL_PAGE: u64 = 500;

/// Writes the rows of the leads stored before this migration.
async fn backfill(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    let mut after = 0i64;
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DatabaseBackend::MySql,
                "SELECT id, search_text FROM leads \
                 WHERE id > ? AND search_text IS NOT NULL ORDER BY id LIMIT ?",
                [Value::from(after), Value::from(BACKFILL_PAGE)],
            ))
            .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get_by_index(0)?;
        let leads = rows
            .iter()
            .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
            .collect::<Result<Vec<(i64, String)>, DbErr>>()?;
        db.execute(&grams_insert(
            leads.iter().map(|(id, text)| (*id, text.as_str())),
        ))
        .await?;
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::MySql {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE lead_search_grams (\
             lead_id BIGINT NOT NULL PRIMARY KEY, \
             grams MEDIUMTEXT CHARACTER SET ascii COLLATE ascii_bin NOT NULL, \
             CONSTRAINT fk_lead_search_grams_lead FOREIGN KEY (lead_id) \
             REFERENCES leads (id) ON DELETE CASCADE\
             ) ENGINE=InnoDB",
        )
        .await?;
        backfill(db).await?;
        db.execute_unprepared(
            "ALTER TABLE lead_search_grams ADD FULLTEXT INDEX ft_lead_search_grams (grams)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::MySql {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE lead_search_grams")
            .await?;
        Ok(())
    }
}
