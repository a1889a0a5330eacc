//! Privacy: what erasure (GDPR Art. 17) and retention need.
//!
//! - `erased_leads`: a tombstone per erased lead (a SHA-256 of its reference, never
//!   the reference), so that a redelivery of an erased lead is not stored again.
//! - `erasures`: the audit log; no personal data, only when, how many rows, and a
//!   keyed hash of the subject.
//! - `settings`: small values the store keeps for every process sharing it (the audit
//!   log's key, when none is configured).
//! - indexes on the normalised sender email and phone (finding a subject's leads) and
//!   on the quarantine's arrival time (purging by age).

use sea_orm_migration::{prelude::*, schema::*};

use crate::{table, types::long_blob};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ErasedLeads {
    Table,
    Tombstone,
    ErasedAtUs,
}

#[derive(DeriveIden)]
enum Erasures {
    Table,
    Id,
    ErasedAtUs,
    SubjectKind,
    SubjectHash,
    Leads,
    Quarantined,
    RequestedBy,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Name,
    Value,
}

#[derive(DeriveIden)]
enum Leads {
    Table,
    SenderEmailNormalised,
    SenderPhoneE164,
}

#[derive(DeriveIden)]
enum Quarantine {
    Table,
    ReceivedAtUs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                table(backend)
                    .table(ErasedLeads::Table)
                    .col(string_len(ErasedLeads::Tombstone, 64).primary_key())
                    .col(big_integer(ErasedLeads::ErasedAtUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table(backend)
                    .table(Erasures::Table)
                    .col(big_pk_auto(Erasures::Id))
                    .col(big_integer(Erasures::ErasedAtUs))
                    .col(string_len(Erasures::SubjectKind, 16))
                    .col(string_len(Erasures::SubjectHash, 64))
                    .col(big_integer(Erasures::Leads))
                    .col(big_integer(Erasures::Quarantined))
                    .col(string_len(Erasures::RequestedBy, 128))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table(backend)
                    .table(Settings::Table)
                    .col(string_len(Settings::Name, 64).primary_key())
                    .col(long_blob(backend, Settings::Value).not_null())
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("ix_leads_sender_email", Leads::SenderEmailNormalised),
            ("ix_leads_sender_phone", Leads::SenderPhoneE164),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Leads::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_quarantine_received")
                    .table(Quarantine::Table)
                    .col(Quarantine::ReceivedAtUs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_quarantine_received")
                    .table(Quarantine::Table)
                    .to_owned(),
            )
            .await?;
        for name in ["ix_leads_sender_email", "ix_leads_sender_phone"] {
            manager
                .drop_index(Index::drop().name(name).table(Leads::Table).to_owned())
                .await?;
        }
        for table in [
            Settings::Table.into_iden(),
            Erasures::Table.into_iden(),
            ErasedLeads::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
