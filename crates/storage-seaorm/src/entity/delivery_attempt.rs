use sea_orm::entity::prelude::*;

/// A row of `delivery_attempts`: one try to hand a delivery over.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub delivery_id: i64,
    pub at_us: i64,
    pub status_code: Option<i32>,
    pub latency_us: i64,
    pub error: Option<String>,
    pub response: Option<String>,
    pub verdict: String,
    pub retry_after_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
