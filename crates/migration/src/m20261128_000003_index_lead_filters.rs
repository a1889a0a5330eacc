//! Indexes for the list filters: by entity type and by entity public id (each with the
//! receipt order the list uses), by creation date, and by whether a lead has anomalies.
//! On MySQL/MariaDB text columns are indexed by their first 64 characters.

use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Leads {
    Table,
    EntityType,
    EntityPublicId,
    CreatedAtUs,
    AnomalyCount,
    ReceivedAtUs,
}

const INDEXES: [(&str, Option<Leads>, Leads); 4] = [
    (
        "ix_leads_entity_type",
        Some(Leads::EntityType),
        Leads::ReceivedAtUs,
    ),
    (
        "ix_leads_entity_public_id",
        Some(Leads::EntityPublicId),
        Leads::ReceivedAtUs,
    ),
    ("ix_leads_created", None, Leads::CreatedAtUs),
    ("ix_leads_anomalies", None, Leads::AnomalyCount),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mysql = manager.get_database_backend() == DatabaseBackend::MySql;
        for (name, text, column) in INDEXES {
            let mut index = Index::create();
            index.name(name).table(Leads::Table);
            match (text, mysql) {
                (Some(text), true) => index.col((text, 64)),
                (Some(text), false) => index.col(text),
                (None, _) => &mut index,
            };
            index.col(column);
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Leads::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
