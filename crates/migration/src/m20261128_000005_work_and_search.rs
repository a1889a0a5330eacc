//! Working leads and finding them.
//!
//! - `leads` gains the work columns (`status`, `assignee`, `tags` as comma-joined text
//!   for reading, `version` for optimistic concurrency, `first_response_at_us`,
//!   `updated_at_us`), `sort_created_us` (the creation time, or the receipt time when
//!   CasaYes sent none: the key of the "by created date" order, never null for a
//!   stored lead), `search_text` (the folded text free-text search reads) and
//!   `contact_id` (the contact a lead belongs to). Existing rows are filled in.
//! - `lead_tags`: one row per tag of a lead, for the tag filter.
//! - `lead_notes`: append-only notes. `lead_history`: every change, who, before, after.
//!   Both, and `lead_tags`, go with their lead (`ON DELETE CASCADE`): erasure and
//!   retention delete them.
//! - indexes for the status, assignee, tag and contact filters and the created order;
//!   on PostgreSQL a trigram index for the search when `pg_trgm` can be enabled.

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait, Value},
};

use crate::{
    frozen::work_and_search::{contact_id, contact_key, search_text},
    table,
    types::long_text,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Leads {
    Table,
    Id,
    Status,
    Assignee,
    Tags,
    Version,
    FirstResponseAtUs,
    UpdatedAtUs,
    SortCreatedUs,
    SearchText,
    ContactId,
    ReceivedAtUs,
}

#[derive(DeriveIden)]
enum LeadTags {
    Table,
    LeadId,
    Tag,
}

#[derive(DeriveIden)]
enum LeadNotes {
    Table,
    Id,
    LeadId,
    Author,
    Body,
    CreatedAtUs,
}

#[derive(DeriveIden)]
enum LeadHistory {
    Table,
    Id,
    LeadId,
    AtUs,
    Actor,
    Field,
    BeforeValue,
    AfterValue,
    Reopened,
}

fn lead_foreign_key(from: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_col(from)
        .to(Leads::Table, Leads::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// Fills the derived columns of the rows stored before this migration, a page at a time.
async fn backfill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    db.execute_unprepared(
        "UPDATE leads SET sort_created_us = COALESCE(created_at_us, received_at_us) \
         WHERE sort_created_us IS NULL",
    )
    .await?;
    let placeholder = |n: usize| match backend {
        DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let mut after = 0i64;
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT id, sender_name, sender_email, sender_email_normalised, sender_phone, \
                     sender_phone_e164, message FROM leads WHERE id > {} ORDER BY id LIMIT 500",
                    placeholder(1)
                ),
                [Value::from(after)],
            ))
            .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get_by_index(0)?;
        let txn = db.begin().await?;
        for row in rows {
            let text = |index: usize| row.try_get_by_index::<Option<String>>(index);
            let id: i64 = row.try_get_by_index(0)?;
            let (name, email, normalised, phone, e164, message) =
                (text(1)?, text(2)?, text(3)?, text(4)?, text(5)?, text(6)?);
            let search = search_text(
                name.as_deref(),
                email.as_deref(),
                phone.as_deref(),
                e164.as_deref(),
                message.as_deref(),
            );
            let contact =
                contact_key(normalised.as_deref(), e164.as_deref()).map(|key| contact_id(&key));
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "UPDATE leads SET search_text = {}, contact_id = {} WHERE id = {}",
                    placeholder(1),
                    placeholder(2),
                    placeholder(3)
                ),
                [Value::from(search), Value::from(contact), Value::from(id)],
            ))
            .await?;
        }
        txn.commit().await?;
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            string_len(Leads::Status, 32).default("new").to_owned(),
            string_len_null(Leads::Assignee, 128),
            long_text(backend, Leads::Tags).null().to_owned(),
            big_integer(Leads::Version).default(1).to_owned(),
            big_integer_null(Leads::FirstResponseAtUs),
            big_integer_null(Leads::UpdatedAtUs),
            big_integer_null(Leads::SortCreatedUs),
            long_text(backend, Leads::SearchText).null().to_owned(),
            string_len_null(Leads::ContactId, 32),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Leads::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        backfill(manager).await?;
        for (name, first, second) in [
            ("ix_leads_status", Leads::Status, Leads::ReceivedAtUs),
            ("ix_leads_assignee", Leads::Assignee, Leads::ReceivedAtUs),
            ("ix_leads_sort_created", Leads::SortCreatedUs, Leads::Id),
            ("ix_leads_contact", Leads::ContactId, Leads::ReceivedAtUs),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Leads::Table)
                        .col(first)
                        .col(second)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                table(backend)
                    .table(LeadTags::Table)
                    .col(big_integer(LeadTags::LeadId))
                    .col(string_len(LeadTags::Tag, 64))
                    .primary_key(Index::create().col(LeadTags::LeadId).col(LeadTags::Tag))
                    .foreign_key(&mut lead_foreign_key(LeadTags::LeadId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_lead_tags_tag")
                    .table(LeadTags::Table)
                    .col(LeadTags::Tag)
                    .col(LeadTags::LeadId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table(backend)
                    .table(LeadNotes::Table)
                    .col(big_pk_auto(LeadNotes::Id))
                    .col(big_integer(LeadNotes::LeadId))
                    .col(string_len(LeadNotes::Author, 128))
                    .col(long_text(backend, LeadNotes::Body).not_null())
                    .col(big_integer(LeadNotes::CreatedAtUs))
                    .foreign_key(&mut lead_foreign_key(LeadNotes::LeadId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table(backend)
                    .table(LeadHistory::Table)
                    .col(big_pk_auto(LeadHistory::Id))
                    .col(big_integer(LeadHistory::LeadId))
                    .col(big_integer(LeadHistory::AtUs))
                    .col(string_len(LeadHistory::Actor, 128))
                    .col(string_len(LeadHistory::Field, 16))
                    .col(long_text(backend, LeadHistory::BeforeValue).null())
                    .col(long_text(backend, LeadHistory::AfterValue).null())
                    .col(boolean(LeadHistory::Reopened).default(false))
                    .foreign_key(&mut lead_foreign_key(LeadHistory::LeadId))
                    .to_owned(),
            )
            .await?;
        for (name, table, column) in [
            (
                "ix_lead_notes_lead",
                LeadNotes::Table.into_iden(),
                LeadNotes::LeadId.into_iden(),
            ),
            (
                "ix_lead_history_lead",
                LeadHistory::Table.into_iden(),
                LeadHistory::LeadId.into_iden(),
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        if backend == DatabaseBackend::Postgres {
            // A trigram index makes `search_text LIKE '%term%'` an index scan. pg_trgm is
            // a trusted extension (PostgreSQL 13+): a database owner may enable it.
            // Without it the search still works, by scanning.
            let db = manager.get_connection();
            // Asked first rather than tried: a failed statement would abort the
            // migration's transaction.
            let possible = db
                .query_one_raw(Statement::from_string(
                    backend,
                    "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm' \
                     AND (installed_version IS NOT NULL \
                          OR has_database_privilege(current_database(), 'CREATE'))",
                ))
                .await?
                .is_some();
            if possible {
                db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                    .await?;
                db.execute_unprepared(
                    "CREATE INDEX IF NOT EXISTS ix_leads_search ON leads \
                     USING gin (search_text gin_trgm_ops)",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LeadHistory::Table.into_iden(),
            LeadNotes::Table.into_iden(),
            LeadTags::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
