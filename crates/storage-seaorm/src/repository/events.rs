//! [`LeadEventLog`] on sea-orm: the `lead_events` table the live feed follows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{LeadEventLog, StorageError};
use lead_inbox_domain::{LeadEvent, LeadEventKind, LeadId};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{SeaOrmLeadRepository, delete_oldest};
use crate::{
    entity::lead_event,
    mapping::{corrupt, from_micros},
    storage_error,
};

#[async_trait]
impl LeadEventLog for SeaOrmLeadRepository {
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<LeadEvent>, StorageError> {
        let rows = lead_event::Entity::find()
            .filter(lead_event::Column::Id.gt(after))
            .order_by_asc(lead_event::Column::Id)
            .limit(u64::from(limit))
            .all(&self.inner.db)
            .await
            .map_err(storage_error)?;
        rows.into_iter()
            .map(|row| {
                Ok(LeadEvent {
                    id: row.id,
                    lead_id: LeadId(row.lead_id),
                    kind: LeadEventKind::from_code(&row.kind)
                        .ok_or_else(|| corrupt("lead_events", row.id, "unknown kind"))?,
                    at: from_micros("lead_events", row.id, row.at_us)?,
                })
            })
            .collect()
    }

    async fn last_event_id(&self) -> Result<i64, StorageError> {
        let last: Option<i64> = lead_event::Entity::find()
            .select_only()
            .column(lead_event::Column::Id)
            .order_by_desc(lead_event::Column::Id)
            .limit(1)
            .into_tuple()
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?;
        Ok(last.unwrap_or(0))
    }

    async fn prune_events_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StorageError> {
        let _writer = self.inner.write_turn().await;
        delete_oldest::<lead_event::Entity>(
            &self.inner.db,
            lead_event::Column::Id,
            lead_event::Column::AtUs,
            cutoff,
            limit,
        )
        .await
    }
}
