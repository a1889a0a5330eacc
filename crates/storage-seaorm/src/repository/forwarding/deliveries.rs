//! [`DeliveryStore`] on sea-orm: the `deliveries`, `delivery_attempts` and
//! `forwarding_state` tables.
//!
//! Several instances share one database: fanning out is idempotent (the unique
//! index on destination, event and replay, `ON CONFLICT DO NOTHING` / `INSERT
//! IGNORE`), and a claim leases rows that no other claim can see at the same time
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL and MySQL/MariaDB; on SQLite the claim's
//! transaction holds the database's one write lock from its start).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{
    Page, PageRequest, StorageError,
    forwarding::{Backlog, DeliveryFilter, DeliveryStore, FinishedAttempt, creation_order},
};
use lead_inbox_domain::forwarding::{
    Attempt, Delivery, DeliveryId, DeliveryStatus, DestinationId, NewDelivery,
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict},
};

use super::{
    super::{in_list, statement_chunks},
    SeaOrmForwardingStore, attempt_from_row, delivery_from_row, verdict_to_columns,
};
use crate::{
    deadlocked,
    entity::{delivery, delivery_attempt, destination, forwarding_state, lead},
    mapping::to_micros,
    storage_error,
};

/// The one row of `forwarding_state`.
const STATE_ROW: i32 = 1;

/// Times an `enqueue` is run again after the database broke a deadlock by rolling it
/// back (concurrent fan-outs inserting the same rows on MySQL/MariaDB).
const ENQUEUE_ATTEMPTS: u32 = 3;

/// The longest lease owner kept (the column's width): claim and finish cut it alike.
const OWNER_CHARS: usize = 128;

fn owner_column(owner: &str) -> String {
    owner.chars().take(OWNER_CHARS).collect()
}

fn status_column(status: DeliveryStatus) -> &'static str {
    status.as_str()
}

/// Which of `ids` (a column of `E` named `id`) are stored, read under a shared lock
/// (none on SQLite, whose write transaction excludes every other writer): a row read
/// here cannot be deleted before the transaction ends.
async fn existing<E: EntityTrait>(
    txn: &DatabaseTransaction,
    id: E::Column,
    ids: BTreeSet<i64>,
) -> Result<BTreeSet<i64>, DbErr> {
    let found: Vec<i64> = E::find()
        .select_only()
        .column(id)
        .filter(id.is_in(in_list(ids.into_iter().collect())))
        .order_by_asc(id)
        .lock(LockType::Share)
        .into_tuple()
        .all(txn)
        .await?;
    Ok(found.into_iter().collect())
}

fn new_row(new: NewDelivery) -> delivery::ActiveModel {
    let created_at_us = to_micros(&new.created_at);
    delivery::ActiveModel {
        id: NotSet,
        destination_id: Set(new.destination_id.0),
        event_id: Set(new.event_id),
        kind: Set(new.kind.code().to_owned()),
        event_at_us: Set(to_micros(&new.event_at)),
        lead_id: Set(new.lead_id.0),
        lead_reference: Set(new.lead_reference.as_str().to_owned()),
        replay: Set(new.replay),
        message_id: Set(new.message_id),
        status: Set(status_column(DeliveryStatus::Pending).to_owned()),
        attempts: Set(0),
        next_attempt_at_us: Set(Some(created_at_us)),
        lease_owner: Set(None),
        lease_until_us: Set(None),
        created_at_us: Set(created_at_us),
        updated_at_us: Set(created_at_us),
    }
}

/// Inserts those of `deliveries` whose destination and lead exist and that are not
/// stored yet; returns how many it inserted.
///
/// Rows go in [`creation_order`], which is also one order for every fan-out, so that
/// two fan-outs of the same events wait for each other rather than deadlock. PostgreSQL and SQLite skip a
/// stored row with `ON CONFLICT DO NOTHING`; MySQL/MariaDB with `INSERT IGNORE`,
/// which would also hide a value too long for its column (none can be: the domain
/// bounds a reference to the column's 256 characters, a message id is 36) and a
/// missing lead or destination (read under a shared lock just before, so there is
/// none). Either way the rows affected are the rows inserted.
async fn insert_new(
    txn: &DatabaseTransaction,
    mut deliveries: Vec<NewDelivery>,
) -> Result<u64, DbErr> {
    let destinations = existing::<destination::Entity>(
        txn,
        destination::Column::Id,
        deliveries.iter().map(|new| new.destination_id.0).collect(),
    )
    .await?;
    let leads = existing::<lead::Entity>(
        txn,
        lead::Column::Id,
        deliveries.iter().map(|new| new.lead_id.0).collect(),
    )
    .await?;
    deliveries.retain(|new| {
        destinations.contains(&new.destination_id.0) && leads.contains(&new.lead_id.0)
    });
    deliveries.sort_by_key(creation_order);
    deliveries.dedup_by_key(|new| creation_order(new));
    let backend = txn.get_database_backend();
    let mut inserted = 0;
    for chunk in statement_chunks(&deliveries) {
        let mut insert =
            delivery::Entity::insert_many(chunk.iter().cloned().map(new_row)).into_query();
        if backend != DatabaseBackend::MySql {
            insert.on_conflict(
                OnConflict::columns([
                    delivery::Column::DestinationId,
                    delivery::Column::EventId,
                    delivery::Column::Replay,
                ])
                .do_nothing()
                .to_owned(),
            );
        }
        let mut statement = backend.build(&insert);
        if backend == DatabaseBackend::MySql {
            statement.sql = statement.sql.replacen("INSERT ", "INSERT IGNORE ", 1);
        }
        inserted += txn.execute_raw(statement).await?.rows_affected();
    }
    Ok(inserted)
}

/// One `enqueue`, in one transaction.
async fn enqueue_once(
    store: &SeaOrmForwardingStore,
    deliveries: Vec<NewDelivery>,
    position: i64,
) -> Result<u64, DbErr> {
    let txn = store.inner.begin_write().await?;
    let inserted = insert_new(&txn, deliveries).await?;
    forwarding_state::Entity::update_many()
        .col_expr(
            forwarding_state::Column::FanoutPosition,
            Expr::value(position),
        )
        .filter(forwarding_state::Column::Id.eq(STATE_ROW))
        .filter(forwarding_state::Column::FanoutPosition.lt(position))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(inserted)
}

/// The ids of up to `limit` deliveries `claim` may lease, lowest first, locked
/// against every other claim until `txn` ends.
async fn claimable(
    txn: &DatabaseTransaction,
    destination: DestinationId,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<i64>, DbErr> {
    let now_us = to_micros(&now);
    let mut query = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .filter(delivery::Column::DestinationId.eq(destination.0))
        .filter(delivery::Column::Status.eq(status_column(DeliveryStatus::Pending)))
        .filter(delivery::Column::NextAttemptAtUs.lte(now_us))
        .filter(
            delivery::Column::LeaseUntilUs
                .is_null()
                .or(delivery::Column::LeaseUntilUs.lt(now_us)),
        )
        .order_by_asc(delivery::Column::Id)
        .limit(u64::from(limit));
    if txn.get_database_backend() != DatabaseBackend::Sqlite {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    query.into_tuple().all(txn).await
}

/// The attempts of the deliveries `ids`, oldest first, by delivery.
async fn attempts_of(
    db: &impl ConnectionTrait,
    ids: Vec<i64>,
) -> Result<BTreeMap<i64, Vec<Attempt>>, StorageError> {
    let mut attempts: BTreeMap<i64, Vec<Attempt>> = BTreeMap::new();
    if ids.is_empty() {
        return Ok(attempts);
    }
    let rows = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::DeliveryId.is_in(in_list(ids)))
        .order_by_asc(delivery_attempt::Column::DeliveryId)
        .order_by_asc(delivery_attempt::Column::Id)
        .all(db)
        .await
        .map_err(storage_error)?;
    for row in rows {
        let delivery_id = row.delivery_id;
        attempts
            .entry(delivery_id)
            .or_default()
            .push(attempt_from_row(row)?);
    }
    Ok(attempts)
}

#[async_trait]
impl DeliveryStore for SeaOrmForwardingStore {
    async fn fanout_position(&self) -> Result<i64, StorageError> {
        let position: Option<i64> = forwarding_state::Entity::find_by_id(STATE_ROW)
            .select_only()
            .column(forwarding_state::Column::FanoutPosition)
            .into_tuple()
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?;
        position.ok_or_else(|| StorageError::unexpected("the forwarding_state row is missing"))
    }

    async fn enqueue(
        &self,
        deliveries: Vec<NewDelivery>,
        position: i64,
    ) -> Result<u64, StorageError> {
        let mut attempt = 1;
        loop {
            let _writer = self.inner.write_turn().await;
            match enqueue_once(self, deliveries.clone(), position).await {
                Err(error) if attempt < ENQUEUE_ATTEMPTS && deadlocked(&error) => attempt += 1,
                result => return result.map_err(storage_error),
            }
        }
    }

    async fn claim(
        &self,
        destination: DestinationId,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StorageError> {
        let _writer = self.inner.write_turn().await;
        let txn = self.inner.begin_write().await.map_err(storage_error)?;
        let ids = claimable(&txn, destination, now, limit)
            .await
            .map_err(storage_error)?;
        if ids.is_empty() {
            // Ends the transaction now (on SQLite it holds the write lock), not when the
            // pool next tests the connection.
            txn.commit().await.map_err(storage_error)?;
            return Ok(Vec::new());
        }
        delivery::Entity::update_many()
            .col_expr(
                delivery::Column::LeaseOwner,
                Expr::value(owner_column(owner)),
            )
            .col_expr(
                delivery::Column::LeaseUntilUs,
                Expr::value(to_micros(&lease_until)),
            )
            .filter(delivery::Column::Id.is_in(ids.clone()))
            .exec(&txn)
            .await
            .map_err(storage_error)?;
        let rows = delivery::Entity::find()
            .filter(delivery::Column::Id.is_in(ids))
            .order_by_asc(delivery::Column::Id)
            .all(&txn)
            .await
            .map_err(storage_error)?;
        txn.commit().await.map_err(storage_error)?;
        rows.into_iter().map(delivery_from_row).collect()
    }

    async fn finish_all(
        &self,
        owner: &str,
        finished: &[FinishedAttempt],
    ) -> Result<Vec<bool>, StorageError> {
        if finished.is_empty() {
            return Ok(Vec::new());
        }
        let _writer = self.inner.write_turn().await;
        let txn = self.inner.begin_write().await.map_err(storage_error)?;
        let mut recorded = Vec::with_capacity(finished.len());
        for done in finished {
            let (status, next_attempt_at) = done.outcome.status_after();
            let attempt = &done.attempt;
            let at_us = to_micros(&attempt.at);
            let updated = delivery::Entity::update_many()
                .col_expr(delivery::Column::Status, Expr::value(status_column(status)))
                .col_expr(
                    delivery::Column::Attempts,
                    Expr::col(delivery::Column::Attempts).add(1),
                )
                .col_expr(
                    delivery::Column::NextAttemptAtUs,
                    Expr::value(next_attempt_at.as_ref().map(to_micros)),
                )
                .col_expr(delivery::Column::LeaseOwner, Expr::value(None::<String>))
                .col_expr(delivery::Column::LeaseUntilUs, Expr::value(None::<i64>))
                .col_expr(delivery::Column::UpdatedAtUs, Expr::value(at_us))
                .filter(delivery::Column::Id.eq(done.id.0))
                .filter(delivery::Column::LeaseOwner.eq(owner_column(owner)))
                .exec(&txn)
                .await
                .map_err(storage_error)?;
            if updated.rows_affected == 0 {
                recorded.push(false);
                continue;
            }
            let (verdict, retry_after_ms) = verdict_to_columns(attempt.verdict);
            delivery_attempt::Entity::insert(delivery_attempt::ActiveModel {
                id: NotSet,
                delivery_id: Set(done.id.0),
                at_us: Set(at_us),
                status_code: Set(attempt.status_code.map(i32::from)),
                latency_us: Set(i64::try_from(attempt.latency.as_micros()).unwrap_or(i64::MAX)),
                error: Set(attempt.error.clone()),
                response: Set(attempt.response.clone()),
                verdict: Set(verdict.to_owned()),
                retry_after_ms: Set(retry_after_ms),
            })
            .exec_without_returning(&txn)
            .await
            .map_err(storage_error)?;
            recorded.push(true);
        }
        txn.commit().await.map_err(storage_error)?;
        Ok(recorded)
    }

    async fn get(&self, id: DeliveryId) -> Result<Option<(Delivery, Vec<Attempt>)>, StorageError> {
        let db = &self.inner.db;
        let Some(row) = delivery::Entity::find_by_id(id.0)
            .one(db)
            .await
            .map_err(storage_error)?
        else {
            return Ok(None);
        };
        let attempts = attempts_of(db, vec![id.0]).await?.remove(&id.0);
        Ok(Some((
            delivery_from_row(row)?,
            attempts.unwrap_or_default(),
        )))
    }

    async fn list(
        &self,
        filter: &DeliveryFilter,
        page: PageRequest<DeliveryId>,
    ) -> Result<Page<(Delivery, Vec<Attempt>), DeliveryId>, StorageError> {
        let mut query = delivery::Entity::find()
            .order_by_desc(delivery::Column::Id)
            .limit(u64::from(page.limit()) + 1);
        if let Some(after) = page.after() {
            query = query.filter(delivery::Column::Id.lt(after.0));
        }
        if let Some(destination) = filter.destination {
            query = query.filter(delivery::Column::DestinationId.eq(destination.0));
        }
        if let Some(status) = filter.status {
            query = query.filter(delivery::Column::Status.eq(status_column(status)));
        }
        if let Some(reference) = &filter.lead_reference {
            query = query.filter(delivery::Column::LeadReference.eq(reference.as_str()));
        }
        let db = &self.inner.db;
        let rows = query.all(db).await.map_err(storage_error)?;
        let mut attempts = attempts_of(db, rows.iter().map(|row| row.id).collect()).await?;
        let items = rows
            .into_iter()
            .map(|row| {
                let attempts = attempts.remove(&row.id).unwrap_or_default();
                Ok((delivery_from_row(row)?, attempts))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(Page::from_overfetch(
            items,
            page.limit(),
            |(delivery, _)| delivery.id,
        ))
    }

    async fn retry(&self, id: DeliveryId, now: DateTime<Utc>) -> Result<bool, StorageError> {
        let now_us = to_micros(&now);
        let _writer = self.inner.write_turn().await;
        let updated = delivery::Entity::update_many()
            .col_expr(
                delivery::Column::Status,
                Expr::value(status_column(DeliveryStatus::Pending)),
            )
            .col_expr(delivery::Column::NextAttemptAtUs, Expr::value(now_us))
            .col_expr(delivery::Column::LeaseOwner, Expr::value(None::<String>))
            .col_expr(delivery::Column::LeaseUntilUs, Expr::value(None::<i64>))
            .col_expr(delivery::Column::UpdatedAtUs, Expr::value(now_us))
            .filter(delivery::Column::Id.eq(id.0))
            .filter(delivery::Column::Status.is_in([
                status_column(DeliveryStatus::Pending),
                status_column(DeliveryStatus::Failed),
            ]))
            .exec(&self.inner.db)
            .await
            .map_err(storage_error)?;
        Ok(updated.rows_affected > 0)
    }

    async fn release(&self, owner: &str, ids: &[DeliveryId]) -> Result<u64, StorageError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let _writer = self.inner.write_turn().await;
        let updated = delivery::Entity::update_many()
            .col_expr(delivery::Column::LeaseOwner, Expr::value(None::<String>))
            .col_expr(delivery::Column::LeaseUntilUs, Expr::value(None::<i64>))
            .filter(delivery::Column::Id.is_in(ids.iter().map(|id| id.0)))
            .filter(delivery::Column::LeaseOwner.eq(owner_column(owner)))
            .exec(&self.inner.db)
            .await
            .map_err(storage_error)?;
        Ok(updated.rows_affected)
    }

    async fn fail_pending(&self, destination: DestinationId) -> Result<u64, StorageError> {
        let _writer = self.inner.write_turn().await;
        let updated = delivery::Entity::update_many()
            .col_expr(
                delivery::Column::Status,
                Expr::value(status_column(DeliveryStatus::Failed)),
            )
            .col_expr(delivery::Column::NextAttemptAtUs, Expr::value(None::<i64>))
            .col_expr(delivery::Column::LeaseOwner, Expr::value(None::<String>))
            .col_expr(delivery::Column::LeaseUntilUs, Expr::value(None::<i64>))
            .col_expr(
                delivery::Column::UpdatedAtUs,
                Expr::value(to_micros(&Utc::now())),
            )
            .filter(delivery::Column::DestinationId.eq(destination.0))
            .filter(delivery::Column::Status.eq(status_column(DeliveryStatus::Pending)))
            .exec(&self.inner.db)
            .await
            .map_err(storage_error)?;
        Ok(updated.rows_affected)
    }

    async fn backlog(&self) -> Result<Vec<Backlog>, StorageError> {
        let rows: Vec<(i64, i64, Option<i64>)> = delivery::Entity::find()
            .select_only()
            .column(delivery::Column::DestinationId)
            .column_as(delivery::Column::Id.count(), "pending")
            .column_as(delivery::Column::CreatedAtUs.min(), "oldest")
            .filter(delivery::Column::Status.eq(status_column(DeliveryStatus::Pending)))
            .group_by(delivery::Column::DestinationId)
            .order_by_asc(delivery::Column::DestinationId)
            .into_tuple()
            .all(&self.inner.db)
            .await
            .map_err(storage_error)?;
        rows.into_iter()
            .map(|(destination, pending, oldest)| {
                Ok(Backlog {
                    destination_id: DestinationId(destination),
                    pending: u64::try_from(pending).unwrap_or_default(),
                    oldest_pending_at: oldest
                        .map(|us| crate::mapping::from_micros("deliveries", destination, us))
                        .transpose()?,
                })
            })
            .collect()
    }
}
