//! Forwarding (issue #18): where events go, and each one on its way.
//!
//! - `destinations`: a webhook URL or a NATS subject, the events and entity types it
//!   wants (text: event names joined by commas, entity types as a JSON array), its
//!   signing secrets and CasaYes token as the application sealed them (a JSON array
//!   of sealed texts with their expiry; never a secret in clear when
//!   `LEAD_INBOX_SECRETS_KEY` is set), and whether it is disabled or failing.
//! - `deliveries`: one event for one destination (once per destination, event and
//!   replay: a unique index, which makes fanning out idempotent), its status, when it
//!   is due, and the lease of the instance attempting it. They go with their
//!   destination and with their lead (`ON DELETE CASCADE`): erasure and retention
//!   delete them in the transaction that deletes the lead, as the notes and history.
//! - `delivery_attempts`: each try, with the first KiB of the answer (which can echo
//!   lead data): they go with their delivery (`ON DELETE CASCADE`).
//! - `forwarding_state`: one row, the id of the last event fanned out.

use sea_orm_migration::{prelude::*, schema::*};

use crate::table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Destinations {
    Table,
    Id,
    Kind,
    Url,
    Subject,
    Events,
    Format,
    EntityTypes,
    Description,
    MaxInFlight,
    Disabled,
    Secrets,
    CasayesToken,
    AfterEvent,
    FailingSinceUs,
    CreatedAtUs,
    UpdatedAtUs,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    DestinationId,
    EventId,
    Kind,
    EventAtUs,
    LeadId,
    LeadReference,
    Replay,
    MessageId,
    Status,
    Attempts,
    NextAttemptAtUs,
    LeaseOwner,
    LeaseUntilUs,
    CreatedAtUs,
    UpdatedAtUs,
}

#[derive(DeriveIden)]
enum DeliveryAttempts {
    Table,
    Id,
    DeliveryId,
    AtUs,
    StatusCode,
    LatencyUs,
    Error,
    Response,
    Verdict,
    RetryAfterMs,
}

#[derive(DeriveIden)]
enum ForwardingState {
    Table,
    Id,
    FanoutPosition,
}

#[derive(DeriveIden)]
enum Leads {
    Table,
    Id,
}

fn cascade(
    from: impl IntoIden,
    to: impl IntoIden,
    to_col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_col(from)
        .to(to, to_col)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                table(backend)
                    .table(Destinations::Table)
                    .col(big_pk_auto(Destinations::Id))
                    .col(string_len(Destinations::Kind, 16))
                    .col(text(Destinations::Url))
                    .col(text_null(Destinations::Subject))
                    .col(string_len(Destinations::Events, 128))
                    .col(string_len(Destinations::Format, 16))
                    .col(text_null(Destinations::EntityTypes))
                    .col(text_null(Destinations::Description))
                    .col(integer(Destinations::MaxInFlight))
                    .col(string_len_null(Destinations::Disabled, 16))
                    .col(text(Destinations::Secrets))
                    .col(text_null(Destinations::CasayesToken))
                    .col(big_integer(Destinations::AfterEvent))
                    .col(big_integer_null(Destinations::FailingSinceUs))
                    .col(big_integer(Destinations::CreatedAtUs))
                    .col(big_integer(Destinations::UpdatedAtUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table(backend)
                    .table(Deliveries::Table)
                    .col(big_pk_auto(Deliveries::Id))
                    .col(big_integer(Deliveries::DestinationId))
                    .col(big_integer(Deliveries::EventId))
                    .col(string_len(Deliveries::Kind, 16))
                    .col(big_integer(Deliveries::EventAtUs))
                    .col(big_integer(Deliveries::LeadId))
                    .col(string_len(Deliveries::LeadReference, 256))
                    .col(big_integer(Deliveries::Replay))
                    .col(string_len(Deliveries::MessageId, 64))
                    .col(string_len(Deliveries::Status, 16))
                    .col(integer(Deliveries::Attempts))
                    .col(big_integer_null(Deliveries::NextAttemptAtUs))
                    .col(string_len_null(Deliveries::LeaseOwner, 128))
                    .col(big_integer_null(Deliveries::LeaseUntilUs))
                    .col(big_integer(Deliveries::CreatedAtUs))
                    .col(big_integer(Deliveries::UpdatedAtUs))
                    .foreign_key(&mut cascade(
                        Deliveries::DestinationId,
                        Destinations::Table,
                        Destinations::Id,
                    ))
                    .foreign_key(&mut cascade(Deliveries::LeadId, Leads::Table, Leads::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_deliveries_event")
                    .table(Deliveries::Table)
                    .col(Deliveries::DestinationId)
                    .col(Deliveries::EventId)
                    .col(Deliveries::Replay)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // What `claim` reads: a destination's pending deliveries that are due, by id.
        manager
            .create_index(
                Index::create()
                    .name("ix_deliveries_claim")
                    .table(Deliveries::Table)
                    .col(Deliveries::DestinationId)
                    .col(Deliveries::Status)
                    .col(Deliveries::NextAttemptAtUs)
                    .col(Deliveries::Id)
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("ix_deliveries_lead", Deliveries::LeadId),
            ("ix_deliveries_reference", Deliveries::LeadReference),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Deliveries::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                table(backend)
                    .table(DeliveryAttempts::Table)
                    .col(big_pk_auto(DeliveryAttempts::Id))
                    .col(big_integer(DeliveryAttempts::DeliveryId))
                    .col(big_integer(DeliveryAttempts::AtUs))
                    .col(integer_null(DeliveryAttempts::StatusCode))
                    .col(big_integer(DeliveryAttempts::LatencyUs))
                    .col(text_null(DeliveryAttempts::Error))
                    .col(text_null(DeliveryAttempts::Response))
                    .col(string_len(DeliveryAttempts::Verdict, 16))
                    .col(big_integer_null(DeliveryAttempts::RetryAfterMs))
                    .foreign_key(&mut cascade(
                        DeliveryAttempts::DeliveryId,
                        Deliveries::Table,
                        Deliveries::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_delivery_attempts_delivery")
                    .table(DeliveryAttempts::Table)
                    .col(DeliveryAttempts::DeliveryId)
                    .col(DeliveryAttempts::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table(backend)
                    .table(ForwardingState::Table)
                    .col(integer(ForwardingState::Id).primary_key())
                    .col(big_integer(ForwardingState::FanoutPosition))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(ForwardingState::Table)
                    .columns([ForwardingState::Id, ForwardingState::FanoutPosition])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ForwardingState::Table.into_iden(),
            DeliveryAttempts::Table.into_iden(),
            Deliveries::Table.into_iden(),
            Destinations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
