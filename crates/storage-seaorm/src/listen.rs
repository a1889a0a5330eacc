//! The wake-up across instances on PostgreSQL: every transaction that adds events also
//! notifies [`EVENTS_CHANNEL`] (delivered by PostgreSQL when, and only if, it commits),
//! and each server listens on that channel and bumps its [`EventSignal`]. SQLite and
//! MySQL/MariaDB have no such thing: there, followers of the event log fall back to
//! their poll for what other processes commit.

use std::time::Duration;

use lead_inbox_application::EventSignal;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr,
    sqlx::postgres::{PgListener, PgPoolOptions},
};

use crate::SeaOrmStore;

/// The PostgreSQL notification channel that says "new events were committed".
pub const EVENTS_CHANNEL: &str = "lead_inbox_events";

/// The longest wait between attempts to listen again after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// In a transaction that adds events: on PostgreSQL, notifies [`EVENTS_CHANNEL`], which
/// listeners receive once the transaction commits (never if it rolls back; several
/// notifications of one transaction arrive as one). Nothing elsewhere.
pub(crate) async fn notify_events(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared("SELECT pg_notify('lead_inbox_events', '')")
            .await?;
    }
    Ok(())
}

impl SeaOrmStore {
    /// On PostgreSQL, listens on [`EVENTS_CHANNEL`] on a connection of its own (beside
    /// the pool) and bumps `signal` on each notification, whichever instance or
    /// command committed the events. When the connection is lost it connects again,
    /// with backoff, and bumps once it listens again, since notifications sent
    /// meanwhile are lost. Runs until the task running it is aborted; returns at once
    /// on other databases.
    pub async fn listen_for_events(self, signal: EventSignal) {
        if self.backend() != DatabaseBackend::Postgres {
            return;
        }
        let options = self
            .inner
            .db
            .get_postgres_connection_pool()
            .connect_options();
        let mut backoff = Duration::from_millis(100);
        let mut listened_before = false;
        loop {
            // A pool of one connection, for the listener's reconnections only.
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .max_lifetime(None)
                .idle_timeout(None)
                .connect_lazy_with((*options).clone());
            let listening = async {
                let mut listener = PgListener::connect_with(&pool).await?;
                listener.listen(EVENTS_CHANNEL).await?;
                Ok::<_, sea_orm::sqlx::Error>(listener)
            };
            let mut listener = match listening.await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, "cannot listen for other instances' events; the live feed and forwarding poll meanwhile");
                    pool.close().await;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            if listened_before {
                tracing::info!("listening for other instances' events again");
                // Whatever was committed while nobody listened.
                signal.bump();
            }
            listened_before = true;
            backoff = Duration::from_millis(100);
            loop {
                match listener.try_recv().await {
                    Ok(Some(_)) => signal.bump(),
                    // The connection was lost and is back (sqlx connects again and
                    // listens before answering): notifications may have been missed.
                    Ok(None) => {
                        tracing::info!("the connection listening for events was lost and is back");
                        signal.bump();
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "the connection listening for other instances' events failed; listening again");
                        break;
                    }
                }
            }
            drop(listener);
            pool.close().await;
        }
    }
}
