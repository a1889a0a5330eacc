use sea_orm::entity::prelude::*;

/// A row of `lead_history`: one field's change, who made it, before and after.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lead_history")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub lead_id: i64,
    pub at_us: i64,
    pub actor: String,
    pub field: String,
    pub before_value: Option<String>,
    pub after_value: Option<String>,
    pub reopened: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
