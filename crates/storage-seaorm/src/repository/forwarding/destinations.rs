//! [`DestinationStore`] on sea-orm: the `destinations` table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{
    StorageError,
    forwarding::{DestinationChange, DestinationStore, NewDestination},
};
use lead_inbox_domain::forwarding::{Destination, DestinationId};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::{
    SeaOrmForwardingStore, destination_from_row, entity_types_to_text, events_to_text,
    secrets_to_text,
};
use crate::{entity::destination, mapping::to_micros, storage_error};

/// `max_in_flight` as stored (an `INTEGER`).
fn in_flight_column(max_in_flight: u32) -> i32 {
    i32::try_from(max_in_flight).unwrap_or(i32::MAX)
}

async fn find(
    db: &impl ConnectionTrait,
    id: DestinationId,
) -> Result<Option<Destination>, StorageError> {
    destination::Entity::find_by_id(id.0)
        .one(db)
        .await
        .map_err(storage_error)?
        .map(destination_from_row)
        .transpose()
}

/// The columns `change` sets, and no other: a concurrent [`DestinationStore::record_health`]
/// is not undone by a change that read the row before it.
fn changed_columns(change: DestinationChange) -> destination::ActiveModel {
    let DestinationChange {
        url,
        subject,
        events,
        format,
        entity_types,
        description,
        max_in_flight,
        disabled,
        secrets,
        casayes_token,
        updated_at,
    } = change;
    fn set<T: Into<sea_orm::Value>>(value: Option<T>) -> sea_orm::ActiveValue<T> {
        value.map_or(NotSet, Set)
    }
    let enabled = matches!(disabled, Some(None));
    destination::ActiveModel {
        id: NotSet,
        kind: NotSet,
        url: set(url),
        subject: set(subject),
        events: set(events.as_ref().map(events_to_text)),
        format: set(format.map(|format| format.as_str().to_owned())),
        entity_types: set(entity_types.as_ref().map(entity_types_to_text)),
        description: set(description),
        max_in_flight: set(max_in_flight.map(in_flight_column)),
        disabled: set(disabled.map(|reason| reason.map(|reason| reason.as_str().to_owned()))),
        secrets: set(secrets.as_deref().map(secrets_to_text)),
        casayes_token: set(casayes_token),
        after_event: NotSet,
        // Enabling a destination forgets that it was failing.
        failing_since_us: if enabled { Set(None) } else { NotSet },
        created_at_us: NotSet,
        updated_at_us: Set(to_micros(&updated_at)),
    }
}

#[async_trait]
impl DestinationStore for SeaOrmForwardingStore {
    async fn create(&self, new: NewDestination) -> Result<Destination, StorageError> {
        let _writer = self.inner.write_turn().await;
        let created_at_us = to_micros(&new.created_at);
        let row = destination::ActiveModel {
            id: NotSet,
            kind: Set(new.kind.as_str().to_owned()),
            url: Set(new.url),
            subject: Set(new.subject),
            events: Set(events_to_text(&new.events)),
            format: Set(new.format.as_str().to_owned()),
            entity_types: Set(entity_types_to_text(&new.entity_types)),
            description: Set(new.description),
            max_in_flight: Set(in_flight_column(new.max_in_flight)),
            disabled: Set(None),
            secrets: Set(secrets_to_text(&new.secrets)),
            casayes_token: Set(new.casayes_token),
            after_event: Set(new.after_event),
            failing_since_us: Set(None),
            created_at_us: Set(created_at_us),
            updated_at_us: Set(created_at_us),
        };
        let id = destination::Entity::insert(row)
            .exec(&self.inner.db)
            .await
            .map_err(storage_error)?
            .last_insert_id;
        find(&self.inner.db, DestinationId(id))
            .await?
            .ok_or_else(|| StorageError::unexpected("a destination vanished as it was created"))
    }

    async fn get(&self, id: DestinationId) -> Result<Option<Destination>, StorageError> {
        find(&self.inner.db, id).await
    }

    async fn list(&self) -> Result<Vec<Destination>, StorageError> {
        destination::Entity::find()
            .order_by_asc(destination::Column::Id)
            .all(&self.inner.db)
            .await
            .map_err(storage_error)?
            .into_iter()
            .map(destination_from_row)
            .collect()
    }

    async fn change(
        &self,
        id: DestinationId,
        change: DestinationChange,
    ) -> Result<Option<Destination>, StorageError> {
        let _writer = self.inner.write_turn().await;
        let txn = self.inner.begin_write().await.map_err(storage_error)?;
        let updated = destination::Entity::update_many()
            .set(changed_columns(change))
            .filter(destination::Column::Id.eq(id.0))
            .exec(&txn)
            .await
            .map_err(storage_error)?;
        if updated.rows_affected == 0 {
            txn.rollback().await.map_err(storage_error)?;
            return Ok(None);
        }
        let destination = find(&txn, id).await?;
        txn.commit().await.map_err(storage_error)?;
        Ok(destination)
    }

    async fn record_health(
        &self,
        id: DestinationId,
        failing_since: Option<DateTime<Utc>>,
    ) -> Result<bool, StorageError> {
        let _writer = self.inner.write_turn().await;
        let row = destination::ActiveModel {
            failing_since_us: Set(failing_since.as_ref().map(to_micros)),
            ..Default::default()
        };
        let updated = destination::Entity::update_many()
            .set(row)
            .filter(destination::Column::Id.eq(id.0))
            .exec(&self.inner.db)
            .await
            .map_err(storage_error)?;
        Ok(updated.rows_affected > 0)
    }

    async fn delete(&self, id: DestinationId) -> Result<bool, StorageError> {
        let _writer = self.inner.write_turn().await;
        let deleted = destination::Entity::delete_by_id(id.0)
            .exec(&self.inner.db)
            .await
            .map_err(storage_error)?;
        Ok(deleted.rows_affected > 0)
    }
}
