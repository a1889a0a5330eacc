//! [`ErasureLog`] on sea-orm: the audit log of erasures, its key, and scrubbing the
//! database files after an erasure.

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
use lead_inbox_application::{ErasureLog, ErasureRecord, Page, PageRequest, StorageError};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr, Statement,
};

use crate::{
    Inner,
    checkpoint::CheckpointMode,
    entity::{erasure, setting},
    mapping::{from_micros, to_micros},
    storage_error,
};

/// The tables that hold personal data: what a scrub rewrites. Deliveries name their
/// lead's reference, and attempts keep the first KiB of an answer, which can echo it.
const PERSONAL_TABLES: &str =
    "leads, lead_notes, lead_history, lead_tags, quarantine, deliveries, delivery_attempts";

/// The `settings` row holding the audit log's key.
const AUDIT_KEY: &str = "erasure_audit_key";

#[derive(Clone)]
pub struct SeaOrmErasureLog {
    inner: Arc<Inner>,
}

impl fmt::Debug for SeaOrmErasureLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeaOrmErasureLog").finish_non_exhaustive()
    }
}

impl SeaOrmErasureLog {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        SeaOrmErasureLog { inner }
    }

    async fn stored_key(&self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(setting::Entity::find_by_id(AUDIT_KEY.to_owned())
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?
            .map(|row| row.value))
    }

    async fn run(&self, sql: &str) -> Result<(), StorageError> {
        let backend = self.inner.db.get_database_backend();
        self.inner
            .db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .map_err(storage_error)
            .map(drop)
    }
}

fn record_from_row(row: erasure::Model) -> Result<ErasureRecord, StorageError> {
    Ok(ErasureRecord {
        id: row.id,
        erased_at: from_micros("erasures", row.id, row.erased_at_us)?,
        subject_kind: row.subject_kind,
        subject_hash: row.subject_hash,
        leads: u64::try_from(row.leads).unwrap_or_default(),
        quarantined: u64::try_from(row.quarantined).unwrap_or_default(),
        requested_by: row.requested_by,
    })
}

#[async_trait]
impl ErasureLog for SeaOrmErasureLog {
    async fn audit_key(&self, candidate: Vec<u8>) -> Result<Vec<u8>, StorageError> {
        if let Some(key) = self.stored_key().await? {
            return Ok(key);
        }
        let inserted = setting::Entity::insert(setting::ActiveModel {
            name: Set(AUDIT_KEY.to_owned()),
            value: Set(candidate),
        })
        .exec_without_returning(&self.inner.db)
        .await;
        match inserted {
            // Another process stored its key first: use that one.
            Ok(_) => {}
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            }
            Err(error) => return Err(storage_error(error)),
        }
        self.stored_key()
            .await?
            .ok_or_else(|| StorageError::unexpected("the audit key vanished after it was stored"))
    }

    async fn record(&self, entry: ErasureRecord) -> Result<ErasureRecord, StorageError> {
        let _writer = self.inner.write_turn().await;
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let result = erasure::Entity::insert(erasure::ActiveModel {
            id: NotSet,
            erased_at_us: Set(to_micros(&entry.erased_at)),
            subject_kind: Set(entry.subject_kind.clone()),
            subject_hash: Set(entry.subject_hash.clone()),
            leads: Set(count(entry.leads)),
            quarantined: Set(count(entry.quarantined)),
            requested_by: Set(entry.requested_by.chars().take(128).collect()),
        })
        .exec(&self.inner.db)
        .await
        .map_err(storage_error)?;
        Ok(ErasureRecord {
            id: result.last_insert_id,
            ..entry
        })
    }

    async fn list(&self, page: PageRequest<i64>) -> Result<Page<ErasureRecord, i64>, StorageError> {
        let mut query = erasure::Entity::find()
            .order_by_desc(erasure::Column::Id)
            .limit(u64::from(page.limit()) + 1);
        if let Some(after) = page.after() {
            query = query.filter(erasure::Column::Id.lt(*after));
        }
        let rows = query.all(&self.inner.db).await.map_err(storage_error)?;
        let entries = rows
            .into_iter()
            .map(record_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(
            entries,
            page.limit(),
            |entry: &ErasureRecord| entry.id,
        ))
    }

    async fn scrub(&self) -> Result<(), StorageError> {
        match self.inner.db.get_database_backend() {
            // Every connection runs with `secure_delete`, so deleted rows are zeroed in
            // the pages; the old page images left in the WAL go with a truncating
            // checkpoint, retried while readers hold it back.
            DatabaseBackend::Sqlite => {
                let _writer = self.inner.write_turn().await;
                for attempt in 0..50 {
                    let checkpoint = self.inner.wal_checkpoint(CheckpointMode::Truncate).await?;
                    if checkpoint.is_some_and(|done| !done.busy) {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(20 * (attempt + 1))).await;
                }
                Err(StorageError::unavailable(
                    "the SQLite WAL could not be checkpointed: readers kept it busy",
                ))
            }
            // A deleted row's bytes stay in its page until the page is rewritten:
            // rewrite the tables that held personal data (and their indexes), and
            // refresh the planner's statistics, which sample column values.
            DatabaseBackend::Postgres => {
                self.run(&format!("VACUUM (FULL, ANALYZE) {PERSONAL_TABLES}"))
                    .await
            }
            // The search index's table too: InnoDB keeps a deleted row's words in its
            // `FULLTEXT` index until the table is rebuilt.
            DatabaseBackend::MySql => {
                self.run(&format!(
                    "OPTIMIZE TABLE {PERSONAL_TABLES}, lead_search_grams"
                ))
                .await
            }
            _ => Ok(()),
        }
    }
}
