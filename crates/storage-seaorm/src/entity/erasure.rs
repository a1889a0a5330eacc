use sea_orm::entity::prelude::*;

/// A row of `erasures`: the audit log of erasures, without personal data.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "erasures")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub erased_at_us: i64,
    pub subject_kind: String,
    pub subject_hash: String,
    pub leads: i64,
    pub quarantined: i64,
    pub requested_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
