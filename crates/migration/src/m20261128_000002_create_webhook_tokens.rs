//! `webhook_tokens`: tokens managed with `lead-inbox tokens`, stored as SHA-256 hashes.

use sea_orm_migration::{prelude::*, schema::*};

use crate::table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookTokens {
    Table,
    Id,
    Name,
    TokenHash,
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
                    .table(WebhookTokens::Table)
                    .col(big_pk_auto(WebhookTokens::Id))
                    .col(string_len(WebhookTokens::Name, 128))
                    .col(string_len(WebhookTokens::TokenHash, 64))
                    .col(big_integer(WebhookTokens::CreatedAtUs))
                    .col(big_integer_null(WebhookTokens::ExpiresAtUs))
                    .col(big_integer_null(WebhookTokens::RevokedAtUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_webhook_tokens_token_hash")
                    .table(WebhookTokens::Table)
                    .col(WebhookTokens::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookTokens::Table).to_owned())
            .await
    }
}
