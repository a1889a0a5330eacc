//! [`QuarantineStore`] on sea-orm.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{Page, PageRequest, QuarantineStore, StorageError};
use lead_inbox_domain::{NewQuarantined, QuarantineId, Quarantined};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::delete_oldest;
use crate::{
    Inner,
    entity::quarantine,
    mapping::{quarantined_from_row, quarantined_to_row},
    storage_error,
};

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

    async fn purge_received_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StorageError> {
        let _writer = self.inner.write_turn().await;
        delete_oldest::<quarantine::Entity>(
            &self.inner.db,
            quarantine::Column::Id,
            quarantine::Column::ReceivedAtUs,
            cutoff,
            limit,
        )
        .await
    }
}
