//! Lead Inbox's schema, as migrations. They run at start-up (and with
//! `lead-inbox migrate`), the same code on SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! An applied migration is never edited: a change to the schema is a new migration
//! appended to [`Migrator::migrations`]. Nor does a migration call code that may
//! change: what a backfill computes with is frozen in the private `frozen` module.

use sea_orm_migration::prelude::*;

mod frozen;
mod m20261128_000001_create_leads_and_quarantine;
mod m20261128_000002_create_credentials;
mod m20261128_000003_index_lead_filters;
mod m20261128_000004_privacy;
mod m20261128_000005_work_and_search;
mod m20261128_000006_lead_events;
mod m20261128_000007_index_first_response;
mod m20261129_000008_entity_type_column;
mod m20261129_000009_sqlite_search_index;
mod m20261129_000010_mysql_search_index;
mod m20261202_000011_forwarding;
mod m20261202_000012_console;

/// All migrations, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_leads_and_quarantine::Migration),
            Box::new(m20261128_000002_create_credentials::Migration),
            Box::new(m20261128_000003_index_lead_filters::Migration),
            Box::new(m20261128_000004_privacy::Migration),
            Box::new(m20261128_000005_work_and_search::Migration),
            Box::new(m20261128_000006_lead_events::Migration),
            Box::new(m20261128_000007_index_first_response::Migration),
            Box::new(m20261129_000008_entity_type_column::Migration),
            Box::new(m20261129_000009_sqlite_search_index::Migration),
            Box::new(m20261129_000010_mysql_search_index::Migration),
            Box::new(m20261202_000011_forwarding::Migration),
            Box::new(m20261202_000012_console::Migration),
        ]
    }
}

/// A new table. On MySQL/MariaDB: InnoDB (transactions, crash recovery) and
/// `utf8mb4_bin`, so that every Unicode character fits and text compares byte for
/// byte, case-sensitive, as on SQLite and PostgreSQL.
pub(crate) fn table(backend: sea_orm_migration::sea_orm::DatabaseBackend) -> TableCreateStatement {
    let mut table = Table::create();
    table.if_not_exists();
    if backend == sea_orm_migration::sea_orm::DatabaseBackend::MySql {
        table
            .engine("InnoDB")
            .character_set("utf8mb4")
            .collate("utf8mb4_bin");
    }
    table
}

/// Column types that hold a whole payload (up to the body limit and beyond) on every
/// backend: MySQL's plain `TEXT` and `BLOB` stop at 64 KiB, so they become `LONGTEXT`
/// and `LONGBLOB` there.
pub(crate) mod types {
    use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

    pub fn long_text(backend: DatabaseBackend, column: impl IntoIden) -> ColumnDef {
        let mut def = ColumnDef::new(column);
        match backend {
            DatabaseBackend::MySql => def.custom(Alias::new("LONGTEXT")),
            _ => def.text(),
        };
        def
    }

    pub fn long_blob(backend: DatabaseBackend, column: impl IntoIden) -> ColumnDef {
        let mut def = ColumnDef::new(column);
        match backend {
            DatabaseBackend::MySql => def.custom(Alias::new("LONGBLOB")),
            _ => def.blob(),
        };
        def
    }
}
