use sea_orm::entity::prelude::*;

/// A row of `destinations`: where events go, and which (see the forwarding migration
/// for the text forms of its columns). Its `Debug` leaves out the URL (a NATS URL may
/// carry credentials) and the sealed secrets and token (sealed is clear text when no
/// `LEAD_INBOX_SECRETS_KEY` is set).
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
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

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("destination::Model")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("events", &self.events)
            .field("format", &self.format)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}
