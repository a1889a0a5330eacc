use sea_orm::entity::prelude::*;

/// A row of `quarantine`: a refused payload, its reason and its raw bytes.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quarantine")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub reason_code: String,
    pub reason_message: String,
    pub raw_payload: Vec<u8>,
    pub received_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
