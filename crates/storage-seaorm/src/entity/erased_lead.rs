use sea_orm::entity::prelude::*;

/// A row of `erased_leads`: the tombstone of an erased lead.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "erased_leads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tombstone: String,
    pub erased_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
