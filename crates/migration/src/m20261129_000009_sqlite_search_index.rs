//! On SQLite, a full-text index for the leads' free-text search: `lead_search`, an FTS5
//! table with the trigram tokenizer over `leads.search_text`, keyed by the lead's id.
//!
//! `search_text LIKE '%term%'` cannot use a B-tree, so a term few leads hold read every
//! lead (2.1 s at a million). The trigram index answers "which leads hold all of the
//! term's three-character pieces" from posting lists; the list query then checks the
//! `LIKE` on those few leads only.
//!
//! - Contentless (`content=''`) and `detail=none`: the index keeps only which leads
//!   hold each trigram, not the text or positions, so it stays small and the text is
//!   stored once, in `leads`.
//! - Filled off the commit path: the storage adapter indexes leads in id order after
//!   they are committed and records how far it got in `lead_search_progress`. A search
//!   reads the index for leads up to that id and checks the few newer ones directly.
//! - `secure-delete`, and a trigger that removes a deleted lead (erasure, retention)
//!   from the index in the same transaction, with the text it was indexed with, so
//!   that no trace of an erased person stays in the index's pages.
//!
//! PostgreSQL has its trigram index since migration 5; MySQL/MariaDB have no trigram
//! index and are unchanged.

use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        for statement in [
            "CREATE VIRTUAL TABLE lead_search USING fts5(\
             search_text, content='', detail=none, tokenize='trigram')",
            "INSERT INTO lead_search(lead_search, rank) VALUES ('secure-delete', 1)",
            "CREATE TABLE lead_search_progress (\
             id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1), \
             indexed_through INTEGER NOT NULL)",
            "INSERT INTO lead_search_progress (id, indexed_through) VALUES (1, 0)",
            "CREATE TRIGGER leads_leave_search AFTER DELETE ON leads \
             WHEN old.search_text IS NOT NULL \
             AND old.id <= (SELECT indexed_through FROM lead_search_progress) \
             BEGIN \
             INSERT INTO lead_search(lead_search, rowid, search_text) \
             VALUES ('delete', old.id, old.search_text); \
             END",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        for statement in [
            "DROP TRIGGER leads_leave_search",
            "DROP TABLE lead_search_progress",
            "DROP TABLE lead_search",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
