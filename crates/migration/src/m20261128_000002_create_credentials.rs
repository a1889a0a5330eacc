//! `credentials`: webhook tokens and API keys managed with `lead-inbox tokens` and
//! `lead-inbox api-keys`, stored as SHA-256 hashes (hex), never as secrets.

use sea_orm_migration::{prelude::*, schema::*};

use crate::table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Credentials {
    Table,
    Id,
    Kind,
    Name,
    SecretHash,
    Scopes,
    CreatedAtUs,
    ExpiresAtUs,
    RevokedAtUs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                table(backend)
                    .table(Credentials::Table)
                    .col(big_pk_auto(Credentials::Id))
                    .col(string_len(Credentials::Kind, 32))
                    .col(string_len(Credentials::Name, 128))
                    .col(string_len(Credentials::SecretHash, 64))
                    .col(string_len(Credentials::Scopes, 64))
                    .col(big_integer(Credentials::CreatedAtUs))
                    .col(big_integer_null(Credentials::ExpiresAtUs))
                    .col(big_integer_null(Credentials::RevokedAtUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_credentials_secret_hash")
                    .table(Credentials::Table)
                    .col(Credentials::SecretHash)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Credentials::Table).to_owned())
            .await
    }
}
