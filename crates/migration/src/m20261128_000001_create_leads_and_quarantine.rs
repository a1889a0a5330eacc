//! The first schema: `leads` and `quarantine`.
//!
//! Instants are `BIGINT` microseconds since the Unix epoch, UTC (`*_us` columns): the
//! same precision and ordering on all three databases. `created_date` and
//! `move_date` also keep the exact text CasaYes's value normalises to (RFC 3339 with
//! its offset and up to nanoseconds), which a database timestamp type would round.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{
    table,
    types::{long_blob, long_text},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Leads {
    Table,
    Id,
    LeadReference,
    EntityType,
    EntityPublicId,
    EntityReference,
    Source,
    CreatedDate,
    CreatedAtUs,
    Message,
    SenderName,
    SenderEmail,
    SenderEmailNormalised,
    SenderPhone,
    SenderPhoneE164,
    NumberResidents,
    HasPets,
    MoveTimeline,
    MoveDate,
    MonthlyIncome,
    PresentationLetter,
    Anomalies,
    AnomalyCount,
    RawPayload,
    ReceivedAtUs,
}

#[derive(DeriveIden)]
enum Quarantine {
    Table,
    Id,
    ReasonCode,
    ReasonMessage,
    RawPayload,
    ReceivedAtUs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                table(backend)
                    .table(Leads::Table)
                    .col(big_pk_auto(Leads::Id))
                    .col(string_len(Leads::LeadReference, 256))
                    .col(long_text(backend, Leads::EntityType).null())
                    .col(long_text(backend, Leads::EntityPublicId).null())
                    .col(long_text(backend, Leads::EntityReference).null())
                    .col(long_text(backend, Leads::Source).null())
                    .col(string_len_null(Leads::CreatedDate, 64))
                    .col(big_integer_null(Leads::CreatedAtUs))
                    .col(long_text(backend, Leads::Message).null())
                    .col(long_text(backend, Leads::SenderName).null())
                    .col(long_text(backend, Leads::SenderEmail).null())
                    .col(string_len_null(Leads::SenderEmailNormalised, 320))
                    .col(long_text(backend, Leads::SenderPhone).null())
                    .col(string_len_null(Leads::SenderPhoneE164, 20))
                    .col(small_integer_null(Leads::NumberResidents))
                    .col(boolean_null(Leads::HasPets))
                    .col(string_len_null(Leads::MoveTimeline, 16))
                    .col(string_len_null(Leads::MoveDate, 64))
                    .col(big_integer_null(Leads::MonthlyIncome))
                    .col(long_text(backend, Leads::PresentationLetter).null())
                    .col(long_text(backend, Leads::Anomalies).not_null())
                    .col(integer(Leads::AnomalyCount))
                    .col(long_blob(backend, Leads::RawPayload).not_null())
                    .col(big_integer(Leads::ReceivedAtUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_leads_lead_reference")
                    .table(Leads::Table)
                    .col(Leads::LeadReference)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_leads_received")
                    .table(Leads::Table)
                    .col(Leads::ReceivedAtUs)
                    .col(Leads::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table(backend)
                    .table(Quarantine::Table)
                    .col(big_pk_auto(Quarantine::Id))
                    .col(string_len(Quarantine::ReasonCode, 64))
                    .col(long_text(backend, Quarantine::ReasonMessage).not_null())
                    .col(long_blob(backend, Quarantine::RawPayload).not_null())
                    .col(big_integer(Quarantine::ReceivedAtUs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Quarantine::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Leads::Table).to_owned())
            .await
    }
}
