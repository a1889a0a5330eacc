//! `console_users` and `console_sessions`: the web console's people (issue #20). A
//! password is kept as an argon2id PHC string, a session token as its SHA-256 (hex),
//! never either secret.

use sea_orm_migration::{prelude::*, schema::*};

use crate::table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConsoleUsers {
    Table,
    Id,
    Username,
    Role,
    PasswordHash,
    CreatedAtUs,
    DisabledAtUs,
}

#[derive(DeriveIden)]
enum ConsoleSessions {
    Table,
    Id,
    UserId,
    TokenHash,
    CreatedAtUs,
    LastSeenAtUs,
    RevokedAtUs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                table(backend)
                    .table(ConsoleUsers::Table)
                    .col(big_pk_auto(ConsoleUsers::Id))
                    .col(string_len(ConsoleUsers::Username, 64))
                    .col(string_len(ConsoleUsers::Role, 16))
                    .col(string_len(ConsoleUsers::PasswordHash, 255))
                    .col(big_integer(ConsoleUsers::CreatedAtUs))
                    .col(big_integer_null(ConsoleUsers::DisabledAtUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_console_users_username")
                    .table(ConsoleUsers::Table)
                    .col(ConsoleUsers::Username)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table(backend)
                    .table(ConsoleSessions::Table)
                    .col(big_pk_auto(ConsoleSessions::Id))
                    .col(big_integer(ConsoleSessions::UserId))
                    .col(string_len(ConsoleSessions::TokenHash, 64))
                    .col(big_integer(ConsoleSessions::CreatedAtUs))
                    .col(big_integer(ConsoleSessions::LastSeenAtUs))
                    .col(big_integer_null(ConsoleSessions::RevokedAtUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_console_sessions_token_hash")
                    .table(ConsoleSessions::Table)
                    .col(ConsoleSessions::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_console_sessions_user_id")
                    .table(ConsoleSessions::Table)
                    .col(ConsoleSessions::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ConsoleSessions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ConsoleUsers::Table).to_owned())
            .await
    }
}
