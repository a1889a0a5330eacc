//! `lead_events`: the live feed's log. One row per new lead and per change, written in
//! the transaction that made it, numbered by an increasing id: every instance polls it
//! by id, so that each delivers every event to its clients, whichever instance wrote
//! it. Rows go with their lead (`ON DELETE CASCADE`) and are pruned after a while.

use sea_orm_migration::{prelude::*, schema::*};

use crate::table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LeadEvents {
    Table,
    Id,
    LeadId,
    Kind,
    AtUs,
}

#[derive(DeriveIden)]
enum Leads {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                table(backend)
                    .table(LeadEvents::Table)
                    .col(big_pk_auto(LeadEvents::Id))
                    .col(big_integer(LeadEvents::LeadId))
                    .col(string_len(LeadEvents::Kind, 16))
                    .col(big_integer(LeadEvents::AtUs))
                    .foreign_key(
                        ForeignKey::create()
                            .from_col(LeadEvents::LeadId)
                            .to(Leads::Table, Leads::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("ix_lead_events_lead", LeadEvents::LeadId),
            ("ix_lead_events_at", LeadEvents::AtUs),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(LeadEvents::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LeadEvents::Table).to_owned())
            .await
    }
}
