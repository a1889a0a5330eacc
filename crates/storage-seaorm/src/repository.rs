//! The port implementations.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use lead_inbox_application::{
    InsertOutcome, LeadCursor, LeadFilter, LeadRepository, Page, PageRequest, QuarantineStore,
    StorageError,
};
use lead_inbox_domain::{Lead, LeadReference, NewLead, NewQuarantined, QuarantineId, Quarantined};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, TransactionTrait,
    TryInsertResult,
};

use crate::{
    Inner,
    entity::{lead, quarantine},
    mapping::{lead_from_row, lead_to_row, quarantined_from_row, quarantined_to_row, to_micros},
    storage_error,
};

/// [`LeadRepository`] on sea-orm.
#[derive(Clone)]
pub struct SeaOrmLeadRepository {
    inner: Arc<Inner>,
}

impl fmt::Debug for SeaOrmLeadRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeaOrmLeadRepository")
            .finish_non_exhaustive()
    }
}

impl SeaOrmLeadRepository {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        SeaOrmLeadRepository { inner }
    }
}

/// Inserts one lead inside `txn` unless its reference is stored: `Created` or `Duplicate`.
///
/// PostgreSQL and SQLite: `INSERT … ON CONFLICT (lead_reference) DO NOTHING`, and the
/// affected row count tells which. MySQL's equivalent (`ON DUPLICATE KEY UPDATE`)
/// reports a found row as affected, so there a plain `INSERT` runs and the unique-key
/// error, which MySQL rolls back for that statement only, means `Duplicate`.
async fn insert_one(
    txn: &DatabaseTransaction,
    lead: NewLead,
) -> Result<InsertOutcome, StorageError> {
    let row = lead_to_row(lead);
    if txn.get_database_backend() == DatabaseBackend::MySql {
        return match lead::Entity::insert(row).exec_without_returning(txn).await {
            Ok(_) => Ok(InsertOutcome::Created),
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Ok(InsertOutcome::Duplicate)
            }
            Err(error) => Err(storage_error(error)),
        };
    }
    let result = lead::Entity::insert(row)
        .on_conflict_do_nothing_on([lead::Column::LeadReference])
        .exec_without_returning(txn)
        .await
        .map_err(storage_error)?;
    Ok(match result {
        TryInsertResult::Inserted(rows) if rows > 0 => InsertOutcome::Created,
        TryInsertResult::Inserted(_) | TryInsertResult::Conflicted | TryInsertResult::Empty => {
            InsertOutcome::Duplicate
        }
    })
}

/// [`LeadFilter`] as SQL; the same rule as [`LeadFilter::matches`].
fn filter_condition(filter: &LeadFilter) -> Condition {
    let mut condition = Condition::all();
    let micros = |at: &chrono::DateTime<chrono::Utc>| to_micros(at);
    if let Some(entity_type) = &filter.entity_type {
        condition = condition.add(lead::Column::EntityType.eq(entity_type.as_str()));
    }
    if let Some(id) = &filter.entity_public_id {
        condition = condition.add(lead::Column::EntityPublicId.eq(id.as_str()));
    }
    if let Some(reference) = &filter.entity_reference {
        condition = condition.add(lead::Column::EntityReference.eq(reference.as_str()));
    }
    if let Some(from) = &filter.received_from {
        condition = condition.add(lead::Column::ReceivedAtUs.gte(micros(from)));
    }
    if let Some(to) = &filter.received_to {
        condition = condition.add(lead::Column::ReceivedAtUs.lt(micros(to)));
    }
    if let Some(from) = &filter.created_from {
        condition = condition.add(lead::Column::CreatedAtUs.gte(micros(from)));
    }
    if let Some(to) = &filter.created_to {
        condition = condition.add(lead::Column::CreatedAtUs.lt(micros(to)));
    }
    match filter.has_anomalies {
        Some(true) => condition = condition.add(lead::Column::AnomalyCount.gt(0)),
        Some(false) => condition = condition.add(lead::Column::AnomalyCount.eq(0)),
        None => {}
    }
    condition
}

#[async_trait]
impl LeadRepository for SeaOrmLeadRepository {
    async fn insert_batch(&self, leads: Vec<NewLead>) -> Result<Vec<InsertOutcome>, StorageError> {
        if leads.is_empty() {
            return Ok(Vec::new());
        }
        let _writer = self.inner.write_turn().await;
        let txn = self.inner.db.begin().await.map_err(storage_error)?;
        let mut outcomes = Vec::with_capacity(leads.len());
        for lead in leads {
            outcomes.push(insert_one(&txn, lead).await?);
        }
        txn.commit().await.map_err(storage_error)?;
        Ok(outcomes)
    }

    async fn get(&self, reference: &LeadReference) -> Result<Option<Lead>, StorageError> {
        lead::Entity::find()
            .filter(lead::Column::LeadReference.eq(reference.as_str()))
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?
            .map(lead_from_row)
            .transpose()
    }

    async fn list(
        &self,
        filter: &LeadFilter,
        page: PageRequest<LeadCursor>,
    ) -> Result<Page<Lead, LeadCursor>, StorageError> {
        let mut query = lead::Entity::find()
            .filter(filter_condition(filter))
            .order_by_desc(lead::Column::ReceivedAtUs)
            .order_by_desc(lead::Column::Id)
            .limit(u64::from(page.limit()) + 1);
        if let Some(after) = page.after() {
            let at = to_micros(&after.received_at);
            query = query.filter(
                Condition::any().add(lead::Column::ReceivedAtUs.lt(at)).add(
                    Condition::all()
                        .add(lead::Column::ReceivedAtUs.eq(at))
                        .add(lead::Column::Id.lt(after.id.0)),
                ),
            );
        }
        let rows = query.all(&self.inner.db).await.map_err(storage_error)?;
        let leads = rows
            .into_iter()
            .map(lead_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(leads, page.limit(), |lead: &Lead| {
            LeadCursor {
                received_at: lead.received_at,
                id: lead.id,
            }
        }))
    }

    async fn count(&self) -> Result<u64, StorageError> {
        lead::Entity::find()
            .count(&self.inner.db)
            .await
            .map_err(storage_error)
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.inner.db.ping().await.map_err(storage_error)
    }
}

/// [`QuarantineStore`] on sea-orm.
#[derive(Clone)]
pub struct SeaOrmQuarantineStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for SeaOrmQuarantineStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeaOrmQuarantineStore")
            .finish_non_exhaustive()
    }
}

impl SeaOrmQuarantineStore {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        SeaOrmQuarantineStore { inner }
    }
}

#[async_trait]
impl QuarantineStore for SeaOrmQuarantineStore {
    async fn store(&self, entry: NewQuarantined) -> Result<QuarantineId, StorageError> {
        let _writer = self.inner.write_turn().await;
        let result = quarantine::Entity::insert(quarantined_to_row(entry))
            .exec(&self.inner.db)
            .await
            .map_err(storage_error)?;
        Ok(QuarantineId(result.last_insert_id))
    }

    async fn get(&self, id: QuarantineId) -> Result<Option<Quarantined>, StorageError> {
        quarantine::Entity::find_by_id(id.0)
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?
            .map(quarantined_from_row)
            .transpose()
    }

    async fn list(
        &self,
        page: PageRequest<QuarantineId>,
    ) -> Result<Page<Quarantined, QuarantineId>, StorageError> {
        let mut query = quarantine::Entity::find()
            .order_by_desc(quarantine::Column::Id)
            .limit(u64::from(page.limit()) + 1);
        if let Some(after) = page.after() {
            query = query.filter(quarantine::Column::Id.lt(after.0));
        }
        let rows = query.all(&self.inner.db).await.map_err(storage_error)?;
        let entries = rows
            .into_iter()
            .map(quarantined_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(
            entries,
            page.limit(),
            |entry: &Quarantined| entry.id,
        ))
    }

    async fn delete(&self, id: QuarantineId) -> Result<bool, StorageError> {
        let _writer = self.inner.write_turn().await;
        let result = quarantine::Entity::delete_by_id(id.0)
            .exec(&self.inner.db)
            .await
            .map_err(storage_error)?;
        Ok(result.rows_affected > 0)
    }
}
