use sea_orm::entity::prelude::*;

/// A row of `leads`; see the migration for what each column holds.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "leads")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub lead_reference: String,
    pub entity_type: Option<String>,
    pub entity_public_id: Option<String>,
    pub entity_reference: Option<String>,
    pub source: Option<String>,
    pub created_date: Option<String>,
    pub created_at_us: Option<i64>,
    pub message: Option<String>,
    pub sender_name: Option<String>,
    pub sender_email: Option<String>,
    pub sender_email_normalised: Option<String>,
    pub sender_phone: Option<String>,
    pub sender_phone_e164: Option<String>,
    pub number_residents: Option<i16>,
    pub has_pets: Option<bool>,
    pub move_timeline: Option<String>,
    pub move_date: Option<String>,
    pub monthly_income: Option<i64>,
    pub presentation_letter: Option<String>,
    pub anomalies: String,
    pub anomaly_count: i32,
    pub raw_payload: Vec<u8>,
    pub received_at_us: i64,
    pub status: String,
    pub assignee: Option<String>,
    pub tags: Option<String>,
    pub version: i64,
    pub first_response_at_us: Option<i64>,
    pub updated_at_us: Option<i64>,
    pub sort_created_us: Option<i64>,
    pub search_text: Option<String>,
    pub contact_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
