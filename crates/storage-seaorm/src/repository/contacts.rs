//! The contacts of [`LeadReader`](lead_inbox_application::LeadReader) on sea-orm: each
//! contact's latest lead, and the contact's counts.

use std::collections::HashMap;

use lead_inbox_application::{ContactSummary, StorageError};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Alias, Expr, ExprTrait, Func, Query},
};

use super::{SeaOrmLeadRepository, in_list};
use crate::{
    entity::lead,
    mapping::{from_micros, lead_from_row},
    storage_error,
};

/// A lead of the same contact as the outer query's lead, received after it (or at the
/// same instant, with a greater id). Written as `received >= r AND (received > r OR
/// id > i)` for the same reason as the keyset in `query::newest_first`: the planner
/// then probes `ix_leads_contact` from the outer lead's receipt on.
pub(super) fn later_lead_of_the_same_contact() -> sea_orm::sea_query::SelectStatement {
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
    pub(super) async fn contact_summaries(
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
