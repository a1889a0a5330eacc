//! The port implementations.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    sync::Arc,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{
    ContactSummary, InsertOutcome, LeadCursor, LeadFilter, LeadRepository, LeadSort, LeadStats,
    Page, PageRequest, QuarantineStore, StorageError,
    ports::{DAY_MICROS, median_micros, most_first},
};
use lead_inbox_domain::{
    Applied, HistoryEntry, Lead, LeadEvent, LeadEventKind, LeadId, LeadReference, LeadStatus,
    LeadWork, NewLead, NewQuarantined, Note, QuarantineId, Quarantined, Subject,
    work::tags_to_text,
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, SqlErr, Statement,
    sea_query::{Alias, Expr, ExprTrait, Func, LikeExpr, OnConflict, Order, Query},
};

use crate::{
    Inner, deadlocked,
    entity::{erased_lead, lead, lead_event, lead_history, lead_note, lead_tag, quarantine},
    mapping::{
        corrupt, from_micros, lead_from_row, lead_to_row, quarantined_from_row, quarantined_to_row,
        to_micros,
    },
    search_index::{self, Candidates},
    search_words::grams_insert,
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
/// NOTHING RETURNING id, …` per [`ROWS_PER_INSERT`] leads; a reference absent from what
/// it returns was already stored. MySQL has neither `RETURNING` nor a per-row outcome
/// for `INSERT IGNORE` (which would also hide other errors), so see [`insert_new_mysql`].
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
    if let Some(status) = filter.status {
        condition = condition.add(lead::Column::Status.eq(status.code()));
    }
    if let Some(assignee) = &filter.assignee {
        condition = condition.add(lead::Column::Assignee.eq(assignee.as_str()));
    }
    if let Some(contact) = &filter.contact_id {
        condition = condition.add(lead::Column::ContactId.eq(contact.as_str()));
    }
    if let Some(tag) = &filter.tag {
        condition = condition.add(
            lead::Column::Id.in_subquery(
                Query::select()
                    .column(lead_tag::Column::LeadId)
                    .from(lead_tag::Entity)
                    .and_where(lead_tag::Column::Tag.eq(tag.as_str()))
                    .to_owned(),
            ),
        );
    }
    if let Some(term) = &filter.search {
        let escaped: String = term
            .chars()
            .flat_map(|c| match c {
                '\\' | '%' | '_' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        condition = condition
            .add(lead::Column::SearchText.like(LikeExpr::new(format!("%{escaped}%")).escape('\\')));
    }
    condition
}

/// `statement` (a SQLite `SELECT … FROM "leads" …`) with its `leads` read through the
/// rowid only (`NOT INDEXED`), for a search the index narrowed to a few ids. Left to
/// itself, the planner walks `ix_leads_received` for the order (or another index for an
/// equality filter, which it guesses matches ten rows) and checks the ids on every
/// lead: 78 ms at a million leads instead of a fraction of one. sea-query cannot write
/// the clause, so it goes in after the first `FROM "leads"`, the outer query's (any
/// subquery, such as the tag filter's, comes later and reads another table).
fn by_rowid_only(mut statement: Statement) -> Statement {
    statement.sql = statement
        .sql
        .replacen(r#"FROM "leads""#, r#"FROM "leads" NOT INDEXED"#, 1);
    statement
}

/// The rows of `query` (two integers each) on MySQL/MariaDB, sent as text rather than
/// as a prepared statement. MariaDB 10.11 runs the statistics' count by day (a `GROUP
/// BY` on an expression) from a covering index the first time a connection executes
/// the prepared statement, and by reading and sorting the whole table from the second
/// time on: 0.13 s, then 1.95 s at 300,000 leads (its slow log shows the plan change).
/// As text it is planned afresh each time, like a query from the `mysql` client, which
/// stays on the index. The query's values are integers, written into the text by
/// sea-query's MySQL printer.
async fn mysql_unprepared_pairs(
    db: &DatabaseConnection,
    query: sea_orm::Select<lead::Entity>,
) -> Result<Vec<(i64, i64)>, DbErr> {
    use sea_orm::sqlx::{AssertSqlSafe, Row};
    let sql = query
        .into_query()
        .to_string(sea_orm::sea_query::MysqlQueryBuilder);
    let query_error = |error| DbErr::Query(sea_orm::RuntimeErr::SqlxError(Arc::new(error)));
    sea_orm::sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_all(db.get_mysql_connection_pool())
        .await
        .map_err(query_error)?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, sea_orm::sqlx::Error>>()
        .map_err(query_error)
}

/// The column a list sorts by.
fn sort_column(sort: LeadSort) -> lead::Column {
    match sort {
        LeadSort::Received => lead::Column::ReceivedAtUs,
        LeadSort::Created => lead::Column::SortCreatedUs,
    }
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
impl LeadRepository for SeaOrmLeadRepository {
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
        let narrowed = match &filter.search {
            Some(term) => search_index::candidates(&self.inner, term)
                .await
                .map_err(storage_error)?,
            None => None,
        };
        let mut condition = filter_condition(filter);
        if let Some(Candidates {
            ids,
            indexed_through,
        }) = &narrowed
        {
            // The indexed leads that may hold the term, and those not indexed yet; the
            // `LIKE` in the filter decides among them.
            let mut among = Condition::any();
            if let Some(through) = indexed_through {
                among = among.add(lead::Column::Id.gt(*through));
            }
            if !ids.is_empty() {
                among = among.add(lead::Column::Id.is_in(in_list(ids.clone())));
            }
            if among.is_empty() {
                // No lead holds the term.
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            }
            condition = condition.add(among);
        }
        let query = newest_first(
            lead::Entity::find().filter(condition),
            sort_column(filter.sort),
            &page,
        );
        let backend = self.inner.db.get_database_backend();
        let rows = if narrowed.is_some() && backend == DatabaseBackend::Sqlite {
            lead::Entity::find()
                .from_raw_sql(by_rowid_only(query.build(DatabaseBackend::Sqlite)))
                .all(&self.inner.db)
                .await
        } else {
            query.all(&self.inner.db).await
        }
        .map_err(storage_error)?;
        let leads = rows
            .into_iter()
            .map(lead_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(leads, page.limit(), |lead: &Lead| {
            filter.sort.cursor(lead)
        }))
    }

    async fn count(&self) -> Result<u64, StorageError> {
        lead::Entity::find()
            .count(&self.inner.db)
            .await
            .map_err(storage_error)
    }

    async fn save_work(
        &self,
        id: LeadId,
        expected_version: i64,
        applied: &Applied,
        actor: &str,
        author: &str,
    ) -> Result<bool, StorageError> {
        let work = &applied.work;
        let at = work.updated_at.unwrap_or_else(Utc::now);
        let at_us = to_micros(&at);
        let _writer = self.inner.write_turn().await;
        let txn = self.inner.begin_write().await.map_err(storage_error)?;
        let updated = work_update(work)
            .filter(lead::Column::Id.eq(id.0))
            .filter(lead::Column::Version.eq(expected_version))
            .exec(&txn)
            .await
            .map_err(storage_error)?;
        if updated.rows_affected == 0 {
            return Ok(false);
        }
        if applied.changes.iter().any(|change| change.field == "tags") {
            replace_tags(&txn, id.0, &work.tags).await?;
        }
        let entries: Vec<HistoryEntry> = applied
            .changes
            .iter()
            .map(|change| change.entry(0, at, actor))
            .collect();
        insert_history(&txn, id.0, &entries).await?;
        lead_event::Entity::insert(lead_event::ActiveModel {
            id: NotSet,
            lead_id: Set(id.0),
            kind: Set(LeadEventKind::Updated.code().to_owned()),
            at_us: Set(at_us),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(storage_error)?;
        if let Some(text) = &applied.note {
            let note = Note {
                id: 0,
                author: author.to_owned(),
                text: text.clone(),
                at,
            };
            insert_notes(&txn, id.0, std::slice::from_ref(&note)).await?;
        }
        txn.commit().await.map_err(storage_error)?;
        Ok(true)
    }

    async fn restore_work(
        &self,
        reference: &LeadReference,
        work: &LeadWork,
        notes: &[Note],
        history: &[HistoryEntry],
    ) -> Result<bool, StorageError> {
        let _writer = self.inner.write_turn().await;
        let txn = self.inner.begin_write().await.map_err(storage_error)?;
        let id: Option<i64> = lead::Entity::find()
            .select_only()
            .column(lead::Column::Id)
            .filter(lead::Column::LeadReference.eq(reference.as_str()))
            .into_tuple()
            .one(&txn)
            .await
            .map_err(storage_error)?;
        let Some(id) = id else {
            return Ok(false);
        };
        work_update(work)
            .filter(lead::Column::Id.eq(id))
            .exec(&txn)
            .await
            .map_err(storage_error)?;
        replace_tags(&txn, id, &work.tags).await?;
        lead_note::Entity::delete_many()
            .filter(lead_note::Column::LeadId.eq(id))
            .exec(&txn)
            .await
            .map_err(storage_error)?;
        lead_history::Entity::delete_many()
            .filter(lead_history::Column::LeadId.eq(id))
            .exec(&txn)
            .await
            .map_err(storage_error)?;
        insert_notes(&txn, id, notes).await?;
        insert_history(&txn, id, history).await?;
        txn.commit().await.map_err(storage_error)?;
        Ok(true)
    }

    async fn history(&self, id: LeadId) -> Result<Vec<HistoryEntry>, StorageError> {
        let rows = lead_history::Entity::find()
            .filter(lead_history::Column::LeadId.eq(id.0))
            .order_by_asc(lead_history::Column::Id)
            .all(&self.inner.db)
            .await
            .map_err(storage_error)?;
        rows.into_iter()
            .map(|row| {
                Ok(HistoryEntry {
                    id: row.id,
                    at: from_micros("lead_history", row.id, row.at_us)?,
                    actor: row.actor,
                    field: row.field,
                    before: row.before_value,
                    after: row.after_value,
                    reopened: row.reopened,
                })
            })
            .collect()
    }

    async fn notes(&self, id: LeadId) -> Result<Vec<Note>, StorageError> {
        let rows = lead_note::Entity::find()
            .filter(lead_note::Column::LeadId.eq(id.0))
            .order_by_asc(lead_note::Column::Id)
            .all(&self.inner.db)
            .await
            .map_err(storage_error)?;
        rows.into_iter()
            .map(|row| {
                Ok(Note {
                    id: row.id,
                    at: from_micros("lead_notes", row.id, row.created_at_us)?,
                    author: row.author,
                    text: row.body,
                })
            })
            .collect()
    }

    async fn contacts(
        &self,
        page: PageRequest<LeadCursor>,
    ) -> Result<Page<ContactSummary, LeadCursor>, StorageError> {
        // Each contact's latest lead, newest first: the scan walks `ix_leads_received`
        // from the cursor on and keeps a lead when `ix_leads_contact` has no later
        // lead of its contact, so a page costs about a page of index probes, not a
        // grouping of every lead.
        let latest_leads = lead::Entity::find()
            .filter(lead::Column::ContactId.is_not_null())
            .filter(Expr::exists(later_lead_of_the_same_contact()).not());
        let latest = newest_first(latest_leads, lead::Column::ReceivedAtUs, &page)
            .all(&self.inner.db)
            .await
            .map_err(storage_error)?;
        Ok(Page::from_overfetch(
            self.contact_summaries(latest).await?,
            page.limit(),
            ContactSummary::cursor,
        ))
    }

    async fn contact(&self, id: &str) -> Result<Option<ContactSummary>, StorageError> {
        let latest = lead::Entity::find()
            .filter(lead::Column::ContactId.eq(id))
            .order_by_desc(lead::Column::ReceivedAtUs)
            .order_by_desc(lead::Column::Id)
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?;
        Ok(self
            .contact_summaries(latest.into_iter().collect())
            .await?
            .pop())
    }

    async fn stats(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<LeadStats, StorageError> {
        let db = &self.inner.db;
        let mut period = Condition::all();
        if let Some(from) = from {
            period = period.add(lead::Column::ReceivedAtUs.gte(to_micros(&from)));
        }
        if let Some(to) = to {
            period = period.add(lead::Column::ReceivedAtUs.lt(to_micros(&to)));
        }
        let in_period = || lead::Entity::find().filter(period.clone());
        // A literal, not a bound parameter: PostgreSQL matches the GROUP BY expression
        // to the selected one only when they are the same text.
        let day = Expr::cust(format!("(received_at_us - received_at_us % {DAY_MICROS})"));
        let by_day = in_period()
            .select_only()
            .column_as(day.clone(), "day")
            .column_as(lead::Column::Id.count(), "n")
            .group_by(day.clone())
            .order_by(day, Order::Asc);
        let days: Vec<(i64, i64)> = if db.get_database_backend() == DatabaseBackend::MySql {
            mysql_unprepared_pairs(db, by_day).await
        } else {
            by_day.into_tuple().all(db).await
        }
        .map_err(storage_error)?;
        let types: Vec<(Option<String>, i64)> = in_period()
            .select_only()
            .column(lead::Column::EntityType)
            .column_as(lead::Column::Id.count(), "n")
            .group_by(lead::Column::EntityType)
            .into_tuple()
            .all(db)
            .await
            .map_err(storage_error)?;
        let statuses: Vec<(String, i64)> = in_period()
            .select_only()
            .column(lead::Column::Status)
            .column_as(lead::Column::Id.count(), "n")
            .group_by(lead::Column::Status)
            .into_tuple()
            .all(db)
            .await
            .map_err(storage_error)?;
        let responded_only = || in_period().filter(lead::Column::FirstResponseAtUs.is_not_null());
        let responded = responded_only().count(db).await.map_err(storage_error)?;
        // The median without loading every delay: the middle one or two, by offset.
        let delay =
            Expr::col(lead::Column::FirstResponseAtUs).sub(Expr::col(lead::Column::ReceivedAtUs));
        let middle: Vec<i64> = if responded == 0 {
            Vec::new()
        } else {
            responded_only()
                .select_only()
                .column_as(delay.clone(), "delay")
                .order_by(delay, Order::Asc)
                .offset((responded - 1) / 2)
                .limit(if responded % 2 == 0 { 2 } else { 1 })
                .into_tuple()
                .all(db)
                .await
                .map_err(storage_error)?
        };
        let count = |n: i64| u64::try_from(n).unwrap_or_default();
        let statuses = statuses
            .into_iter()
            .map(|(code, n)| {
                LeadStatus::from_code(&code)
                    .map(|status| (status, count(n)))
                    .ok_or_else(|| corrupt("leads", 0, format!("unknown status {code}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LeadStats {
            total: days.iter().map(|(_, n)| count(*n)).sum(),
            by_day: days
                .into_iter()
                .filter_map(|(day, n)| DateTime::from_timestamp_micros(day).map(|d| (d, count(n))))
                .collect(),
            by_entity_type: most_first(
                types
                    .into_iter()
                    .map(|(kind, n)| (kind, count(n)))
                    .collect(),
            ),
            by_status: most_first(statuses),
            responded,
            median_seconds_to_first_response: median_micros(&middle).map(|m| m / 1e6),
        })
    }

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

    async fn get_by_id(&self, id: LeadId) -> Result<Option<Lead>, StorageError> {
        lead::Entity::find_by_id(id.0)
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?
            .map(lead_from_row)
            .transpose()
    }

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

    async fn ping(&self) -> Result<(), StorageError> {
        self.inner.db.ping().await.map_err(storage_error)
    }
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

/// An update of a lead's work columns (status, assignee, tags, version, first
/// response, last change) to `work`; the caller adds the rows' filter.
fn work_update(work: &LeadWork) -> sea_orm::UpdateMany<lead::Entity> {
    lead::Entity::update_many()
        .col_expr(lead::Column::Status, Expr::value(work.status.code()))
        .col_expr(lead::Column::Assignee, Expr::value(work.assignee.clone()))
        .col_expr(lead::Column::Tags, Expr::value(tags_to_text(&work.tags)))
        .col_expr(lead::Column::Version, Expr::value(work.version))
        .col_expr(
            lead::Column::FirstResponseAtUs,
            Expr::value(work.first_response_at.as_ref().map(to_micros)),
        )
        .col_expr(
            lead::Column::UpdatedAtUs,
            Expr::value(work.updated_at.as_ref().map(to_micros)),
        )
}

/// Appends `entries` to lead `id`'s history (their ids are the store's own).
async fn insert_history(
    txn: &DatabaseTransaction,
    id: i64,
    entries: &[HistoryEntry],
) -> Result<(), StorageError> {
    if entries.is_empty() {
        return Ok(());
    }
    lead_history::Entity::insert_many(entries.iter().map(|entry| lead_history::ActiveModel {
        id: NotSet,
        lead_id: Set(id),
        at_us: Set(to_micros(&entry.at)),
        actor: Set(entry.actor.chars().take(128).collect()),
        field: Set(entry.field.clone()),
        before_value: Set(entry.before.clone()),
        after_value: Set(entry.after.clone()),
        reopened: Set(entry.reopened),
    }))
    .exec_without_returning(txn)
    .await
    .map_err(storage_error)
    .map(drop)
}

/// Appends `notes` to lead `id`'s notes (their ids are the store's own).
async fn insert_notes(
    txn: &DatabaseTransaction,
    id: i64,
    notes: &[Note],
) -> Result<(), StorageError> {
    if notes.is_empty() {
        return Ok(());
    }
    lead_note::Entity::insert_many(notes.iter().map(|note| lead_note::ActiveModel {
        id: NotSet,
        lead_id: Set(id),
        author: Set(note.author.chars().take(128).collect()),
        body: Set(note.text.clone()),
        created_at_us: Set(to_micros(&note.at)),
    }))
    .exec_without_returning(txn)
    .await
    .map_err(storage_error)
    .map(drop)
}

/// Makes `tags` the lead's rows in `lead_tags`.
async fn replace_tags(
    txn: &DatabaseTransaction,
    id: i64,
    tags: &std::collections::BTreeSet<String>,
) -> Result<(), StorageError> {
    lead_tag::Entity::delete_many()
        .filter(lead_tag::Column::LeadId.eq(id))
        .exec(txn)
        .await
        .map_err(storage_error)?;
    if !tags.is_empty() {
        lead_tag::Entity::insert_many(tags.iter().map(|tag| lead_tag::ActiveModel {
            lead_id: Set(id),
            tag: Set(tag.clone()),
        }))
        .exec_without_returning(txn)
        .await
        .map_err(storage_error)?;
    }
    Ok(())
}

/// `query`'s leads newest first by `key`, then by id, one more than the page's limit,
/// after the page's cursor.
fn newest_first(
    query: sea_orm::Select<lead::Entity>,
    key: lead::Column,
    page: &PageRequest<LeadCursor>,
) -> sea_orm::Select<lead::Entity> {
    let query = query
        .order_by_desc(key)
        .order_by_desc(lead::Column::Id)
        .limit(u64::from(page.limit()) + 1);
    let Some(after) = page.after() else {
        return query;
    };
    // `key <= at AND (key < at OR id < after)`, not the equivalent
    // `key < at OR (key = at AND id < after)`: the planners (PostgreSQL's measurably)
    // take only the first form's `key <= at` as the index range, so a page deep in a
    // million leads starts where the cursor is instead of filtering every row before
    // it (407 ms → 0.3 ms at row 600,000).
    let at = to_micros(&after.at);
    query.filter(key.lte(at)).filter(
        Condition::any()
            .add(key.lt(at))
            .add(lead::Column::Id.lt(after.id.0)),
    )
}

/// A lead of the same contact as the outer query's lead, received after it (or at the
/// same instant, with a greater id). Written as `received >= r AND (received > r OR
/// id > i)` for the same reason as the keyset in [`newest_first`]: the planner then
/// probes `ix_leads_contact` from the outer lead's receipt on.
fn later_lead_of_the_same_contact() -> sea_orm::sea_query::SelectStatement {
    let later = Alias::new("later");
    let outer = |column: lead::Column| Expr::col((lead::Entity, column));
    let inner = |column: lead::Column| Expr::col((later.clone(), column));
    let received = lead::Column::ReceivedAtUs;
    Query::select()
        .expr(Expr::val(1))
        .from_as(lead::Entity, later.clone())
        .and_where(inner(lead::Column::ContactId).eq(outer(lead::Column::ContactId)))
        .and_where(inner(received).gte(outer(received)))
        .cond_where(
            Condition::any()
                .add(inner(received).gt(outer(received)))
                .add(inner(lead::Column::Id).gt(outer(lead::Column::Id))),
        )
        .to_owned()
}

impl SeaOrmLeadRepository {
    /// The contacts whose latest leads are `latest`, in that order, with their lead
    /// counts and first receipts (one grouped query over `ix_leads_contact`).
    async fn contact_summaries(
        &self,
        latest: Vec<lead::Model>,
    ) -> Result<Vec<ContactSummary>, StorageError> {
        let ids: Vec<String> = latest
            .iter()
            .filter_map(|row| row.contact_id.clone())
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let groups: Vec<(String, i64, i64)> = lead::Entity::find()
            .select_only()
            .column(lead::Column::ContactId)
            .column_as(lead::Column::Id.count(), "leads")
            .column_as(
                Expr::from(Func::min(Expr::col(lead::Column::ReceivedAtUs))),
                "first_us",
            )
            .filter(lead::Column::ContactId.is_in(in_list(ids)))
            .group_by(lead::Column::ContactId)
            .into_tuple()
            .all(&self.inner.db)
            .await
            .map_err(storage_error)?;
        let groups: HashMap<String, (i64, i64)> = groups
            .into_iter()
            .map(|(id, leads, first_us)| (id, (leads, first_us)))
            .collect();
        latest
            .into_iter()
            .map(|row| {
                let id = row.contact_id.clone().unwrap_or_default();
                // A contact erased between the two queries still has its latest lead.
                let (leads, first_us) = groups.get(&id).copied().unwrap_or((1, row.received_at_us));
                let latest = lead_from_row(row)?;
                Ok(ContactSummary {
                    leads: u64::try_from(leads).unwrap_or_default(),
                    first_received_at: from_micros("leads", latest.id.0, first_us)?,
                    last_received_at: latest.received_at,
                    latest,
                    id,
                })
            })
            .collect()
    }
}

/// Which of `tombstones` are stored.
async fn existing_tombstones(
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
    fn a_narrowed_search_reads_the_outer_leads_by_rowid_only() {
        let filter = LeadFilter {
            tag: Some("vip".into()),
            search: Some("joao".into()),
            ..LeadFilter::default()
        };
        let page = PageRequest::new(Some(10), None).expect("a page");
        let query = newest_first(
            lead::Entity::find().filter(filter_condition(&filter)),
            lead::Column::ReceivedAtUs,
            &page,
        );
        let sql = by_rowid_only(query.build(DatabaseBackend::Sqlite)).sql;
        assert_eq!(sql.matches("NOT INDEXED").count(), 1, "{sql}");
        let from = sql.find(r#"FROM "leads" NOT INDEXED WHERE"#).expect(&sql);
        let tags = sql.find(r#"FROM "lead_tags""#).expect(&sql);
        assert!(
            from < tags,
            "the outer query's table, not the subquery's: {sql}"
        );
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
