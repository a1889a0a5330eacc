//! [`LeadWorkStore`] on sea-orm: a lead's work saved compare-and-swap, with its
//! history, notes and event in one transaction.

use async_trait::async_trait;
use chrono::Utc;
use lead_inbox_application::{LeadWorkStore, StorageError};
use lead_inbox_domain::{
    Applied, HistoryEntry, LeadEventKind, LeadId, LeadReference, LeadWork, Note, work::tags_to_text,
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};

use super::SeaOrmLeadRepository;
use crate::{
    entity::{lead, lead_event, lead_history, lead_note, lead_tag},
    mapping::{from_micros, to_micros},
    storage_error,
};

/// An update of a lead's work columns (status, assignee, tags, version, first
/// response, last change) to `work`; the caller adds the rows' filter.
fn work_update(work: &LeadWork) -> sea_orm::UpdateMany<lead::Entity> {
    lead::Entity::update_many()
        .col_expr(lead::Column::Status, Expr::value(work.status.code()))
        .col_expr(lead::Column::Assignee, Expr::value(work.assignee.clone()))
        .col_expr(lead::Column::Tags, Expr::value(tags_to_text(&work.tags)))
        .col_expr(lead::Column::Version, Expr::value(work.version))
        .col_expr(
            lead::Column::FirstResponseAtUs,
            Expr::value(work.first_response_at.as_ref().map(to_micros)),
        )
        .col_expr(
            lead::Column::UpdatedAtUs,
            Expr::value(work.updated_at.as_ref().map(to_micros)),
        )
}

/// Appends `entries` to lead `id`'s history (their ids are the store's own).
async fn insert_history(
    txn: &DatabaseTransaction,
    id: i64,
    entries: &[HistoryEntry],
) -> Result<(), StorageError> {
    if entries.is_empty() {
        return Ok(());
    }
    lead_history::Entity::insert_many(entries.iter().map(|entry| lead_history::ActiveModel {
        id: NotSet,
        lead_id: Set(id),
        at_us: Set(to_micros(&entry.at)),
        actor: Set(entry.actor.chars().take(128).collect()),
        field: Set(entry.field.clone()),
        before_value: Set(entry.before.clone()),
        after_value: Set(entry.after.clone()),
        reopened: Set(entry.reopened),
    }))
    .exec_without_returning(txn)
    .await
    .map_err(storage_error)
    .map(drop)
}

/// Appends `notes` to lead `id`'s notes (their ids are the store's own).
async fn insert_notes(
    txn: &DatabaseTransaction,
    id: i64,
    notes: &[Note],
) -> Result<(), StorageError> {
    if notes.is_empty() {
        return Ok(());
    }
    lead_note::Entity::insert_many(notes.iter().map(|note| lead_note::ActiveModel {
        id: NotSet,
        lead_id: Set(id),
        author: Set(note.author.chars().take(128).collect()),
        body: Set(note.text.clone()),
        created_at_us: Set(to_micros(&note.at)),
    }))
    .exec_without_returning(txn)
    .await
    .map_err(storage_error)
    .map(drop)
}

/// Makes `tags` the lead's rows in `lead_tags`.
async fn replace_tags(
    txn: &DatabaseTransaction,
    id: i64,
    tags: &std::collections::BTreeSet<String>,
) -> Result<(), StorageError> {
    lead_tag::Entity::delete_many()
        .filter(lead_tag::Column::LeadId.eq(id))
        .exec(txn)
        .await
        .map_err(storage_error)?;
    if !tags.is_empty() {
        lead_tag::Entity::insert_many(tags.iter().map(|tag| lead_tag::ActiveModel {
            lead_id: Set(id),
            tag: Set(tag.clone()),
        }))
        .exec_without_returning(txn)
        .await
        .map_err(storage_error)?;
    }
    Ok(())
}

#[async_trait]
impl LeadWorkStore for SeaOrmLeadRepository {
    async fn save_work(
        &self,
        id: LeadId,
        expected_version: i64,
        applied: &Applied,
        actor: &str,
        author: &str,
    ) -> Result<bool, StorageError> {
        let work = &applied.work;
        let at = work.updated_at.unwrap_or_else(Utc::now);
        let at_us = to_micros(&at);
        let _writer = self.inner.write_turn().await;
        let txn = self.inner.begin_write().await.map_err(storage_error)?;
        let updated = work_update(work)
            .filter(lead::Column::Id.eq(id.0))
            .filter(lead::Column::Version.eq(expected_version))
            .exec(&txn)
            .await
            .map_err(storage_error)?;
        if updated.rows_affected == 0 {
            return Ok(false);
        }
        if applied.changes.iter().any(|change| change.field == "tags") {
            replace_tags(&txn, id.0, &work.tags).await?;
        }
        let entries: Vec<HistoryEntry> = applied
            .changes
            .iter()
            .map(|change| change.entry(0, at, actor))
            .collect();
        insert_history(&txn, id.0, &entries).await?;
        lead_event::Entity::insert(lead_event::ActiveModel {
            id: NotSet,
            lead_id: Set(id.0),
            kind: Set(LeadEventKind::Updated.code().to_owned()),
            at_us: Set(at_us),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(storage_error)?;
        if let Some(text) = &applied.note {
            let note = Note {
                id: 0,
                author: author.to_owned(),
                text: text.clone(),
                at,
            };
            insert_notes(&txn, id.0, std::slice::from_ref(&note)).await?;
        }
        crate::listen::notify_events(&txn)
            .await
            .map_err(storage_error)?;
        txn.commit().await.map_err(storage_error)?;
        Ok(true)
    }

    async fn history(&self, id: LeadId) -> Result<Vec<HistoryEntry>, StorageError> {
        let rows = lead_history::Entity::find()
            .filter(lead_history::Column::LeadId.eq(id.0))
            .order_by_asc(lead_history::Column::Id)
            .all(&self.inner.db)
            .await
            .map_err(storage_error)?;
        rows.into_iter()
            .map(|row| {
                Ok(HistoryEntry {
                    id: row.id,
                    at: from_micros("lead_history", row.id, row.at_us)?,
                    actor: row.actor,
                    field: row.field,
                    before: row.before_value,
                    after: row.after_value,
                    reopened: row.reopened,
                })
            })
            .collect()
    }

    async fn notes(&self, id: LeadId) -> Result<Vec<Note>, StorageError> {
        let rows = lead_note::Entity::find()
            .filter(lead_note::Column::LeadId.eq(id.0))
            .order_by_asc(lead_note::Column::Id)
            .all(&self.inner.db)
            .await
            .map_err(storage_error)?;
        rows.into_iter()
            .map(|row| {
                Ok(Note {
                    id: row.id,
                    at: from_micros("lead_notes", row.id, row.created_at_us)?,
                    author: row.author,
                    text: row.body,
                })
            })
            .collect()
    }

    async fn restore_work(
        &self,
        reference: &LeadReference,
        work: &LeadWork,
        notes: &[Note],
        history: &[HistoryEntry],
    ) -> Result<bool, StorageError> {
        let _writer = self.inner.write_turn().await;
        let txn = self.inner.begin_write().await.map_err(storage_error)?;
        let id: Option<i64> = lead::Entity::find()
            .select_only()
            .column(lead::Column::Id)
            .filter(lead::Column::LeadReference.eq(reference.as_str()))
            .into_tuple()
            .one(&txn)
            .await
            .map_err(storage_error)?;
        let Some(id) = id else {
            return Ok(false);
        };
        work_update(work)
            .filter(lead::Column::Id.eq(id))
            .exec(&txn)
            .await
            .map_err(storage_error)?;
        replace_tags(&txn, id, &work.tags).await?;
        lead_note::Entity::delete_many()
            .filter(lead_note::Column::LeadId.eq(id))
            .exec(&txn)
            .await
            .map_err(storage_error)?;
        lead_history::Entity::delete_many()
            .filter(lead_history::Column::LeadId.eq(id))
            .exec(&txn)
            .await
            .map_err(storage_error)?;
        insert_notes(&txn, id, notes).await?;
        insert_history(&txn, id, history).await?;
        txn.commit().await.map_err(storage_error)?;
        Ok(true)
    }
}
