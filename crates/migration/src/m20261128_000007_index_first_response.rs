//! An index on when a lead was first answered (with its receipt), for the statistics'
//! speed to lead: counting the answered leads and finding the median delay read this
//! index alone instead of every row of `leads` (0.6–3 s at a million leads on SQLite
//! before). A new lead enters it with a null first key, next to the previous new lead,
//! so ingest touches one page that is already being written.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Leads {
    Table,
    FirstResponseAtUs,
    ReceivedAtUs,
}

const NAME: &str = "ix_leads_first_response";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Leads::Table)
                    .col(Leads::FirstResponseAtUs)
                    .col(Leads::ReceivedAtUs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(NAME).table(Leads::Table).to_owned())
            .await
    }
}
