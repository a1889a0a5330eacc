use sea_orm::entity::prelude::*;

/// A row of `destinations`: where events go, and which (see the forwarding migration
/// for the text forms of its columns).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "destinations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub url: String,
    pub subject: Option<String>,
    pub events: String,
    pub format: String,
    pub entity_types: Option<String>,
    pub description: Option<String>,
    pub max_in_flight: i32,
    pub disabled: Option<String>,
    pub secrets: String,
    pub casayes_token: Option<String>,
    pub after_event: i64,
    pub failing_since_us: Option<i64>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
