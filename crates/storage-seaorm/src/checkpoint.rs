//! SQLite's WAL checkpoints, run by a task of their own instead of inside commits.
//!
//! By default SQLite checkpoints in the commit that takes the WAL past 1,000 pages:
//! that commit copies ~4 MB into the database file and syncs it before it returns, and
//! every delivery waiting on the writer waits for it too (the tail of the ingest
//! latency). Here every connection has `wal_autocheckpoint=0`, and
//! [`SeaOrmStore::keep_wal_short`] checkpoints in two steps:
//!
//! 1. `wal_checkpoint(PASSIVE)` on a connection of its own, beside the writer: it
//!    copies what is committed while deliveries go on committing;
//! 2. once the WAL holds [`RESTART_FRAMES`] frames, the same again with the writer's
//!    turn held, which copies only the few frames committed since step 1. With every
//!    frame copied, the next commit starts the WAL over from its beginning, so the WAL
//!    stays short (a WAL that only grows makes every read slower).
//!
//! Durability does not change: a commit is durable once its frames are synced to the
//! WAL (`synchronous=FULL`); a checkpoint only moves them into the database file.

use std::time::Duration;

use lead_inbox_application::StorageError;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use crate::{Inner, SeaOrmStore, storage_error};

/// How often the task looks at the WAL.
const INTERVAL: Duration = Duration::from_millis(100);

/// WAL frames (pages) past which the WAL is copied in full and starts over: SQLite's
/// own automatic checkpoint threshold.
pub(crate) const RESTART_FRAMES: i64 = 1_000;

/// What `PRAGMA wal_checkpoint` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Whether the checkpoint could not finish (a writer or readers held it back).
    pub busy: bool,
    /// Frames in the WAL.
    pub frames: i64,
    /// Frames of them copied into the database file.
    pub copied: i64,
}

/// How a checkpoint runs (SQLite's modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckpointMode {
    /// Copies the committed frames no reader still needs, beside readers and writers.
    Passive,
    /// Copies every frame, waiting for writers and readers, then empties the WAL file.
    Truncate,
}

impl Inner {
    /// One checkpoint of SQLite's WAL. `None` off SQLite.
    pub(crate) async fn wal_checkpoint(
        &self,
        mode: CheckpointMode,
    ) -> Result<Option<Checkpoint>, StorageError> {
        if self.db.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(None);
        }
        let sql = match mode {
            CheckpointMode::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
            CheckpointMode::Truncate => "PRAGMA wal_checkpoint(TRUNCATE)",
        };
        let row = self
            .db
            .query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, sql))
            .await
            .map_err(storage_error)?;
        let Some(row) = row else { return Ok(None) };
        let column = |index| row.try_get_by_index::<i64>(index).map_err(storage_error);
        Ok(Some(Checkpoint {
            busy: column(0)? != 0,
            frames: column(1)?,
            copied: column(2)?,
        }))
    }
}

impl SeaOrmStore {
    /// One round of the two steps in the module's documentation; returns what the last
    /// checkpoint reported.
    pub async fn checkpoint_round(&self) -> Result<Option<Checkpoint>, StorageError> {
        let passive = || self.inner.wal_checkpoint(CheckpointMode::Passive);
        let Some(first) = passive().await? else {
            return Ok(None);
        };
        if first.frames < RESTART_FRAMES {
            return Ok(Some(first));
        }
        let _writer = self.inner.write_turn().await;
        passive().await
    }

    /// What a store opened with `background_checkpoints` needs done for as long as it
    /// is open: SQLite's search index kept up ([`Self::keep_search_index`]) and its WAL
    /// checkpointed ([`Self::keep_wal_short`]). Returns at once off SQLite.
    pub async fn keep_up(self) {
        tokio::join!(self.clone().keep_search_index(), self.keep_wal_short());
    }

    /// Checkpoints SQLite's WAL for as long as the store is open (returns at once
    /// elsewhere). A failed round is logged and tried again: the WAL only grows
    /// meanwhile.
    pub async fn keep_wal_short(self) {
        if self.backend() != DatabaseBackend::Sqlite {
            return;
        }
        loop {
            tokio::time::sleep(INTERVAL).await;
            if let Err(error) = self.checkpoint_round().await {
                tracing::warn!(error = %error, "checkpointing the SQLite WAL failed; trying again");
            }
        }
    }
}
