//! The lead ports on sea-orm, one module per port: [`LeadWriter`] (`insert`),
//! [`LeadReader`] (`query`, with `contacts` and `stats`), [`LeadWorkStore`] (`work`),
//! [`LeadEventLog`] (`events`), [`LeadErasure`] (`erasure`), and [`QuarantineStore`]
//! (`quarantine`). What several of them share is here: the statement sizes, `IN`
//! lists, batched deletes of the oldest rows, and [`StoreHealth`].
//!
//! [`LeadWriter`]: lead_inbox_application::LeadWriter
//! [`LeadReader`]: lead_inbox_application::LeadReader
//! [`LeadWorkStore`]: lead_inbox_application::LeadWorkStore
//! [`LeadEventLog`]: lead_inbox_application::LeadEventLog
//! [`LeadErasure`]: lead_inbox_application::LeadErasure
//! [`QuarantineStore`]: lead_inbox_application::QuarantineStore

mod contacts;
mod erasure;
mod events;
mod forwarding;
mod insert;
mod quarantine;
mod query;
mod stats;
mod work;

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{StorageError, StoreHealth};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

pub use forwarding::SeaOrmForwardingStore;
pub use quarantine::SeaOrmQuarantineStore;

use crate::{Inner, mapping::to_micros, storage_error};

/// The lead ports on sea-orm: one value implements them all, on one pool.
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

/// Most leads in one `INSERT` statement: 34 columns each keeps a statement far below
/// SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
const ROWS_PER_INSERT: usize = 256;

/// How many rows each statement of a multi-row write of `total` rows takes: powers of
/// two (at most [`ROWS_PER_INSERT`]), largest first, e.g. 37 → 32, 4, 1.
///
/// Each row count is another SQL text, and sqlx keeps 100 prepared statements per
/// connection: with one text per batch size, batches of every size from 1 to 64
/// overflowed that cache, and each eviction (a `Close` sent ahead of the next `Parse`)
/// cost PostgreSQL and MariaDB connections a ~40 ms stall (Nagle's algorithm against the
/// server's delayed acknowledgement). Nine texts per statement stay prepared.
fn statement_sizes(total: usize) -> impl Iterator<Item = usize> {
    let full = total / ROWS_PER_INSERT;
    let rest = total % ROWS_PER_INSERT;
    std::iter::repeat_n(ROWS_PER_INSERT, full).chain(
        (0..usize::BITS)
            .rev()
            .map(|bit| 1 << bit)
            .filter(move |size| rest & size != 0),
    )
}

/// `items` in the chunks [`statement_sizes`] gives, in order.
fn statement_chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    statement_sizes(items.len()).map(move |size| {
        let (chunk, after) = rest.split_at(size);
        rest = after;
        chunk
    })
}

/// `values` for an `IN (…)` list, its length rounded up to a power of two by repeating
/// the last value (which changes nothing): one SQL text per power of two, for the
/// reason given at [`statement_sizes`].
fn in_list<T: Clone>(mut values: Vec<T>) -> Vec<T> {
    if let Some(last) = values.last().cloned() {
        values.resize(values.len().next_power_of_two(), last);
    }
    values
}

/// Deletes at most `limit` rows of `E` whose `time` column (microseconds) is before
/// `cutoff`, oldest first, in two short statements (MySQL takes no `LIMIT` in a
/// subquery of `IN`); returns how many. Callers repeat until `0`.
async fn delete_oldest<E: EntityTrait>(
    db: &impl ConnectionTrait,
    id: E::Column,
    time: E::Column,
    cutoff: DateTime<Utc>,
    limit: u32,
) -> Result<u64, StorageError> {
    let ids: Vec<i64> = E::find()
        .select_only()
        .column(id)
        .filter(time.lt(to_micros(&cutoff)))
        .order_by_asc(time)
        .order_by_asc(id)
        .limit(u64::from(limit))
        .into_tuple()
        .all(db)
        .await
        .map_err(storage_error)?;
    if ids.is_empty() {
        return Ok(0);
    }
    let deleted = E::delete_many()
        .filter(id.is_in(ids))
        .exec(db)
        .await
        .map_err(storage_error)?;
    Ok(deleted.rows_affected)
}

#[async_trait]
impl StoreHealth for SeaOrmLeadRepository {
    async fn ping(&self) -> Result<(), StorageError> {
        self.inner.db.ping().await.map_err(storage_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_take_powers_of_two_rows_largest_first() {
        assert_eq!(statement_sizes(0).collect::<Vec<_>>(), Vec::<usize>::new());
        assert_eq!(statement_sizes(1).collect::<Vec<_>>(), [1]);
        assert_eq!(statement_sizes(37).collect::<Vec<_>>(), [32, 4, 1]);
        assert_eq!(statement_sizes(64).collect::<Vec<_>>(), [64]);
        assert_eq!(
            statement_sizes(2 * ROWS_PER_INSERT + 3).collect::<Vec<_>>(),
            [ROWS_PER_INSERT, ROWS_PER_INSERT, 2, 1]
        );
        for total in 0..1000 {
            assert_eq!(statement_sizes(total).sum::<usize>(), total);
        }
        let items: Vec<usize> = (0..37).collect();
        let chunks: Vec<&[usize]> = statement_chunks(&items).collect();
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [32, 4, 1]
        );
        assert_eq!(chunks.concat(), items, "every item once, in order");
    }

    #[test]
    fn in_lists_round_up_to_a_power_of_two_with_the_last_value() {
        assert_eq!(in_list(Vec::<u8>::new()), Vec::<u8>::new());
        assert_eq!(in_list(vec![7]), [7]);
        assert_eq!(in_list(vec![1, 2, 3]), [1, 2, 3, 3]);
        assert_eq!(in_list(vec![1, 2, 3, 4]), [1, 2, 3, 4]);
        assert_eq!(in_list((0..33).collect()).len(), 64);
    }
}
