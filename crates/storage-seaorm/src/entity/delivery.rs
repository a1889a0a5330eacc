use sea_orm::entity::prelude::*;

/// A row of `deliveries`: one event on its way to one destination, with its lease.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub destination_id: i64,
    pub event_id: i64,
    pub kind: String,
    pub event_at_us: i64,
    pub lead_id: i64,
    pub lead_reference: String,
    pub replay: i64,
    pub message_id: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at_us: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_until_us: Option<i64>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
