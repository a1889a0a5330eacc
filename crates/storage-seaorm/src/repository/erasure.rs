//! [`LeadErasure`] on sea-orm: a subject's leads, their erasure with tombstones, and
//! retention.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{LeadErasure, StorageError};
use lead_inbox_domain::{Lead, Subject};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::{SeaOrmLeadRepository, delete_oldest, in_list};
use crate::{
    entity::{erased_lead, lead},
    mapping::{lead_from_row, to_micros},
    storage_error,
};

/// Which of `tombstones` are stored.
pub(super) async fn existing_tombstones(
    db: &impl ConnectionTrait,
    tombstones: Vec<String>,
) -> Result<HashSet<String>, DbErr> {
    let found: Vec<String> = erased_lead::Entity::find()
        .select_only()
        .column(erased_lead::Column::Tombstone)
        .filter(erased_lead::Column::Tombstone.is_in(in_list(tombstones)))
        .into_tuple()
        .all(db)
        .await?;
    Ok(found.into_iter().collect())
}

/// The leads [`Subject::owns`], oldest first. The indexed normalised column finds the
/// usual ones; rows whose email or phone could not be normalised are candidates too,
/// and the domain's rule decides.
async fn subject_leads(
    db: &impl ConnectionTrait,
    subject: &Subject,
) -> Result<Vec<Lead>, StorageError> {
    let (normalised, given) = match subject {
        Subject::Email(_) => (
            lead::Column::SenderEmailNormalised,
            lead::Column::SenderEmail,
        ),
        Subject::Phone(_) => (lead::Column::SenderPhoneE164, lead::Column::SenderPhone),
    };
    let rows = lead::Entity::find()
        .filter(
            Condition::any().add(normalised.eq(subject.key())).add(
                Condition::all()
                    .add(normalised.is_null())
                    .add(given.is_not_null()),
            ),
        )
        .order_by_asc(lead::Column::ReceivedAtUs)
        .order_by_asc(lead::Column::Id)
        .all(db)
        .await
        .map_err(storage_error)?;
    let mut leads = Vec::new();
    for row in rows {
        let lead = lead_from_row(row)?;
        if subject.owns(&lead.details) {
            leads.push(lead);
        }
    }
    Ok(leads)
}

/// Stores those of `tombstones` not stored yet; returns how many.
async fn insert_tombstones(
    db: &impl ConnectionTrait,
    tombstones: Vec<String>,
) -> Result<u64, StorageError> {
    let present = existing_tombstones(db, tombstones.clone())
        .await
        .map_err(storage_error)?;
    let erased_at_us = to_micros(&Utc::now());
    let mut missing: Vec<String> = tombstones
        .into_iter()
        .filter(|tombstone| !present.contains(tombstone))
        .collect();
    missing.sort();
    missing.dedup();
    let count = missing.len() as u64;
    if !missing.is_empty() {
        erased_lead::Entity::insert_many(missing.into_iter().map(|tombstone| {
            erased_lead::ActiveModel {
                tombstone: Set(tombstone),
                erased_at_us: Set(erased_at_us),
            }
        }))
        .exec_without_returning(db)
        .await
        .map_err(storage_error)?;
    }
    Ok(count)
}

#[async_trait]
impl LeadErasure for SeaOrmLeadRepository {
    async fn of_subject(&self, subject: &Subject) -> Result<Vec<Lead>, StorageError> {
        subject_leads(&self.inner.db, subject).await
    }

    async fn erase_subject(&self, subject: &Subject) -> Result<u64, StorageError> {
        let _writer = self.inner.write_turn().await;
        let txn = self.inner.begin_write().await.map_err(storage_error)?;
        let leads = subject_leads(&txn, subject).await?;
        if leads.is_empty() {
            return Ok(0);
        }
        let tombstones: Vec<String> = leads
            .iter()
            .map(|lead| lead.reference().tombstone())
            .collect();
        insert_tombstones(&txn, tombstones).await?;
        let deleted = lead::Entity::delete_many()
            .filter(lead::Column::Id.is_in(leads.iter().map(|lead| lead.id.0)))
            .exec(&txn)
            .await
            .map_err(storage_error)?;
        txn.commit().await.map_err(storage_error)?;
        Ok(deleted.rows_affected)
    }

    async fn tombstones(
        &self,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<String>, StorageError> {
        let mut query = erased_lead::Entity::find()
            .select_only()
            .column(erased_lead::Column::Tombstone)
            .order_by_asc(erased_lead::Column::Tombstone)
            .limit(u64::from(limit));
        if let Some(after) = after {
            query = query.filter(erased_lead::Column::Tombstone.gt(after));
        }
        query
            .into_tuple()
            .all(&self.inner.db)
            .await
            .map_err(storage_error)
    }

    async fn add_tombstones(&self, tombstones: Vec<String>) -> Result<u64, StorageError> {
        let _writer = self.inner.write_turn().await;
        let txn = self.inner.begin_write().await.map_err(storage_error)?;
        let added = insert_tombstones(&txn, tombstones).await?;
        txn.commit().await.map_err(storage_error)?;
        Ok(added)
    }

    async fn purge_received_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StorageError> {
        let _writer = self.inner.write_turn().await;
        delete_oldest::<lead::Entity>(
            &self.inner.db,
            lead::Column::Id,
            lead::Column::ReceivedAtUs,
            cutoff,
            limit,
        )
        .await
    }
}
