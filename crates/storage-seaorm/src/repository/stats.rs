//! The statistics of [`LeadReader`](lead_inbox_application::LeadReader) on sea-orm.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lead_inbox_application::{
    LeadStats, StorageError,
    ports::{DAY_MICROS, median_micros, most_first},
};
use lead_inbox_domain::LeadStatus;
use sea_orm::{
    ColumnTrait, Condition, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait, Order},
};

use super::SeaOrmLeadRepository;
use crate::{
    entity::lead,
    mapping::{corrupt, to_micros},
    storage_error,
};

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

impl SeaOrmLeadRepository {
    /// [`LeadReader::stats`](lead_inbox_application::LeadReader::stats): counted by
    /// the database, grouped, with the median found by offset.
    pub(super) async fn period_stats(
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
}
