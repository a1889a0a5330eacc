//! [`LeadReader`] on sea-orm: one lead, a filtered page, the count; contacts and
//! statistics are in their own modules.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{
    ContactSummary, LeadCursor, LeadFilter, LeadReader, LeadSort, LeadStats, Page, PageRequest,
    StorageError,
};
use lead_inbox_domain::{Lead, LeadId, LeadReference};
use sea_orm::{
    ColumnTrait, Condition, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Statement,
    sea_query::{Expr, ExprTrait, LikeExpr, Query},
};

use super::{SeaOrmLeadRepository, contacts::later_lead_of_the_same_contact, in_list};
use crate::{
    entity::{lead, lead_tag},
    mapping::{lead_from_row, to_micros},
    search_index::{self, Candidates},
    storage_error,
};

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

/// The column a list sorts by.
fn sort_column(sort: LeadSort) -> lead::Column {
    match sort {
        LeadSort::Received => lead::Column::ReceivedAtUs,
        LeadSort::Created => lead::Column::SortCreatedUs,
    }
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

#[async_trait]
impl LeadReader for SeaOrmLeadRepository {
    async fn get(&self, reference: &LeadReference) -> Result<Option<Lead>, StorageError> {
        lead::Entity::find()
            .filter(lead::Column::LeadReference.eq(reference.as_str()))
            .one(&self.inner.db)
            .await
            .map_err(storage_error)?
            .map(lead_from_row)
            .transpose()
    }

    async fn get_by_id(&self, id: LeadId) -> Result<Option<Lead>, StorageError> {
        lead::Entity::find_by_id(id.0)
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
        self.period_stats(from, to).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
