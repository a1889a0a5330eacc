//! [`LeadWriter`] on sea-orm: a batch of leads in one transaction.

use std::collections::{HashMap, HashSet};

use crate::search_words::grams_insert;
use async_trait::async_trait;
use lead_inbox_application::{InsertOutcome, LeadWriter, StorageError};
use lead_inbox_domain::{LeadEventKind, NewLead};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QuerySelect, QueryTrait, SqlErr,
    sea_query::{OnConflict, Query},
};

use super::{
    SeaOrmLeadRepository, erasure::existing_tombstones, in_list, statement_chunks, statement_sizes,
};
use crate::{
    Inner, deadlocked,
    entity::{lead, lead_event},
    mapping::lead_to_row,
    storage_error,
};

/// A lead this batch stored: its id, reference and receipt instant (for its event).
struct Created {
    id: i64,
    reference: String,
    received_at_us: i64,
}

/// Inserts `leads` (distinct references, none erased) inside `txn`, each unless its
/// reference is already stored, and returns the ones stored.
///
/// PostgreSQL and SQLite: one multi-row `INSERT … ON CONFLICT (lead_reference) DO
/// NOTHING RETURNING id, …` per [`ROWS_PER_INSERT`](super::ROWS_PER_INSERT) leads; a
/// reference absent from what it returns was already stored. MySQL has neither
/// `RETURNING` nor a per-row outcome for `INSERT IGNORE` (which would also hide other
/// errors), so see [`insert_new_mysql`].
async fn insert_new(txn: &DatabaseTransaction, leads: Vec<NewLead>) -> Result<Vec<Created>, DbErr> {
    if txn.get_database_backend() == DatabaseBackend::MySql {
        return insert_new_mysql(txn, leads).await;
    }
    let mut created = Vec::with_capacity(leads.len());
    let sizes: Vec<usize> = statement_sizes(leads.len()).collect();
    let mut leads = leads.into_iter();
    for size in sizes {
        let mut insert = lead::Entity::insert_many(
            leads
                .by_ref()
                .take(size)
                .map(lead_to_row)
                .collect::<Vec<_>>(),
        )
        .on_conflict(
            OnConflict::column(lead::Column::LeadReference)
                .do_nothing()
                .to_owned(),
        )
        .into_query();
        insert.returning(Query::returning().columns([
            lead::Column::Id,
            lead::Column::LeadReference,
            lead::Column::ReceivedAtUs,
        ]));
        for row in txn.query_all(&insert).await? {
            created.push(Created {
                id: row.try_get("", "id")?,
                reference: row.try_get("", "lead_reference")?,
                received_at_us: row.try_get("", "received_at_us")?,
            });
        }
    }
    Ok(created)
}

/// [`insert_new`] on MySQL/MariaDB: a plain select drops the references already
/// stored, one multi-row `INSERT` stores the rest, and a select reads their ids. When
/// another writer stored one of them in between, the `INSERT` fails on the unique key
/// (MySQL rolls back that statement only) and the leads go one by one, each
/// duplicate key meaning "already stored".
async fn insert_new_mysql(
    txn: &DatabaseTransaction,
    leads: Vec<NewLead>,
) -> Result<Vec<Created>, DbErr> {
    let references = |leads: &[NewLead]| -> Vec<String> {
        leads
            .iter()
            .map(|lead| lead.details.reference.as_str().to_owned())
            .collect()
    };
    let stored: std::collections::HashSet<String> = lead::Entity::find()
        .select_only()
        .column(lead::Column::LeadReference)
        .filter(lead::Column::LeadReference.is_in(in_list(references(&leads))))
        .into_tuple()
        .all(txn)
        .await?
        .into_iter()
        .collect();
    let leads: Vec<NewLead> = leads
        .into_iter()
        .filter(|lead| !stored.contains(lead.details.reference.as_str()))
        .collect();
    let mut new = Vec::with_capacity(leads.len());
    for chunk in statement_chunks(&leads) {
        let rows: Vec<_> = chunk.iter().cloned().map(lead_to_row).collect();
        match lead::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await
        {
            Ok(_) => new.extend(references(chunk)),
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                // This chunk and the ones after it go one by one; the chunks before
                // it are stored (`new` holds them), and stay reported as new.
                for lead in &leads[new.len()..] {
                    match lead::Entity::insert(lead_to_row(lead.clone()))
                        .exec_without_returning(txn)
                        .await
                    {
                        Ok(_) => new.push(lead.details.reference.as_str().to_owned()),
                        Err(error)
                            if matches!(
                                error.sql_err(),
                                Some(SqlErr::UniqueConstraintViolation(_))
                            ) => {}
                        Err(error) => return Err(error),
                    }
                }
                break;
            }
            Err(error) => return Err(error),
        }
    }
    if new.is_empty() {
        return Ok(Vec::new());
    }
    // A plain (non-locking) select: an `INSERT … SELECT` would take shared locks on
    // `leads` and deadlock concurrent batches.
    let rows: Vec<(i64, String, i64)> = lead::Entity::find()
        .select_only()
        .column(lead::Column::Id)
        .column(lead::Column::LeadReference)
        .column(lead::Column::ReceivedAtUs)
        .filter(lead::Column::LeadReference.is_in(in_list(new)))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, reference, received_at_us)| Created {
            id,
            reference,
            received_at_us,
        })
        .collect())
}

/// Times a batch is tried when the database chose it as a deadlock victim (MySQL's
/// gap locks can still cross between writers) before the callers get `Unavailable`.
const BATCH_ATTEMPTS: u32 = 3;

/// One batch's transaction: the tombstones among `leads` (distinct references, each
/// with its [`LeadReference::tombstone`]), then the others inserted unless stored, and
/// an event per new lead in id order for the live feed. Returns the tombstones found
/// and the leads created.
async fn store_batch(
    store: &Inner,
    leads: &[(String, NewLead)],
) -> Result<(HashSet<String>, Vec<Created>), DbErr> {
    let txn = store.begin_write().await?;
    let erased = existing_tombstones(
        &txn,
        leads
            .iter()
            .map(|(tombstone, _)| tombstone.clone())
            .collect(),
    )
    .await?;
    let candidates = leads
        .iter()
        .filter(|(tombstone, _)| !erased.contains(tombstone))
        .map(|(_, lead)| lead.clone())
        .collect();
    let mut created = insert_new(&txn, candidates).await?;
    if !created.is_empty() {
        created.sort_by_key(|lead| lead.id);
        for chunk in statement_chunks(&created) {
            lead_event::Entity::insert_many(chunk.iter().map(|lead| lead_event::ActiveModel {
                id: NotSet,
                lead_id: Set(lead.id),
                kind: Set(LeadEventKind::Created.code().to_owned()),
                at_us: Set(lead.received_at_us),
            }))
            .exec_without_returning(&txn)
            .await?;
        }
        if txn.get_database_backend() == DatabaseBackend::MySql {
            index_for_search_mysql(&txn, leads, &created).await?;
        }
        crate::listen::notify_events(&txn).await?;
    }
    txn.commit().await?;
    Ok((erased, created))
}

/// Writes the `lead_search_grams` rows of the leads a batch `created` (MySQL/MariaDB),
/// in the batch's transaction: a lead is searchable by the index once it is committed.
async fn index_for_search_mysql(
    txn: &DatabaseTransaction,
    leads: &[(String, NewLead)],
    created: &[Created],
) -> Result<(), DbErr> {
    let by_reference: HashMap<&str, &NewLead> = leads
        .iter()
        .map(|(_, lead)| (lead.details.reference.as_str(), lead))
        .collect();
    for chunk in statement_chunks(created) {
        let texts: Vec<(i64, String)> = chunk
            .iter()
            .map(|lead| {
                let text = by_reference
                    .get(lead.reference.as_str())
                    .map(|new| new.details.search_text())
                    .unwrap_or_default();
                (lead.id, text)
            })
            .collect();
        txn.execute(&grams_insert(
            texts.iter().map(|(id, text)| (*id, text.as_str())),
        ))
        .await?;
    }
    Ok(())
}

#[async_trait]
impl LeadWriter for SeaOrmLeadRepository {
    async fn insert_batch(&self, leads: Vec<NewLead>) -> Result<Vec<InsertOutcome>, StorageError> {
        if leads.is_empty() {
            return Ok(Vec::new());
        }
        // The first occurrence of a reference in the batch decides; later ones are
        // redeliveries of it.
        let references: Vec<String> = leads
            .iter()
            .map(|lead| lead.details.reference.as_str().to_owned())
            .collect();
        let mut first: HashMap<&str, usize> = HashMap::with_capacity(leads.len());
        let is_first: Vec<bool> = references
            .iter()
            .enumerate()
            .map(|(index, reference)| *first.entry(reference).or_insert(index) == index)
            .collect();
        let tombstones: Vec<String> = leads
            .iter()
            .map(|lead| lead.details.reference.tombstone())
            .collect();
        // Rows go in reference order, so that concurrent writers (several per
        // instance on a database server, or several instances) take the unique key's
        // locks in one order and cannot deadlock each other on it.
        let mut unique: Vec<(String, NewLead)> = leads
            .into_iter()
            .enumerate()
            .filter(|&(index, _)| is_first[index])
            .map(|(index, lead)| (tombstones[index].clone(), lead))
            .collect();
        unique.sort_by(|(_, a), (_, b)| {
            a.details
                .reference
                .as_str()
                .cmp(b.details.reference.as_str())
        });
        let mut attempt = 1;
        let (erased, created) = loop {
            let _writer = self.inner.write_turn().await;
            match store_batch(&self.inner, &unique).await {
                Err(error) if attempt < BATCH_ATTEMPTS && deadlocked(&error) => attempt += 1,
                result => break result.map_err(storage_error)?,
            }
        };
        let is_erased: Vec<bool> = tombstones
            .iter()
            .map(|tombstone| erased.contains(tombstone))
            .collect();
        let created: HashSet<&str> = created.iter().map(|lead| lead.reference.as_str()).collect();
        Ok(references
            .iter()
            .enumerate()
            .map(|(index, reference)| {
                if is_erased[index] {
                    InsertOutcome::Erased
                } else if is_first[index] && created.contains(reference.as_str()) {
                    InsertOutcome::Created
                } else {
                    InsertOutcome::Duplicate
                }
            })
            .collect())
    }
}
