//! The sea-orm storage adapter: `SeaOrmLeadRepository` and `SeaOrmQuarantineStore` on
//! SQLite (the embedded default), PostgreSQL or MySQL/MariaDB, chosen by the URL.
//!
//! [`SeaOrmStore::connect`] opens the pool, checks that the database will not lose a
//! committed lead (SQLite WAL with `synchronous=FULL`; PostgreSQL `fsync` on and
//! `synchronous_commit` not `off`; MySQL/MariaDB `innodb_flush_log_at_trx_commit=1`),
//! and [`SeaOrmStore::migrate`] brings the schema up to date. Entity models stay in
//! this crate; the ports see only domain types.

mod checkpoint;
mod console;
mod credentials;
mod entity;
mod listen;
mod mapping;
mod nodelay;
mod privacy;
mod repository;
mod search_index;
pub mod search_words;

use std::{fmt, path::Path, str::FromStr, sync::Arc, time::Duration};

use lead_inbox_application::StorageError;
use lead_inbox_migration::Migrator;
/// Which database a store is on.
pub use sea_orm::DatabaseBackend;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    RuntimeErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
    sqlx::{
        mysql::MySqlConnectOptions,
        pool::PoolOptions,
        postgres::PgConnectOptions,
        sqlite::{SqliteJournalMode, SqliteSynchronous},
    },
};
use sea_orm_migration::MigratorTrait;

pub use checkpoint::Checkpoint;
pub use console::SeaOrmConsoleStore;
pub use credentials::SeaOrmCredentialStore;
pub use listen::EVENTS_CHANNEL;
pub use privacy::SeaOrmErasureLog;
pub use repository::{SeaOrmForwardingStore, SeaOrmLeadRepository, SeaOrmQuarantineStore};

/// Pool and safety settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections in the pool.
    pub max_connections: u32,
    /// How long a request waits for a free connection before storage counts as unavailable.
    pub acquire_timeout: Duration,
    /// Start even when the database is set up so that a committed transaction can be
    /// lost in a crash. Never for real leads.
    pub allow_unsafe_durability: bool,
    /// SQLite: no checkpoint inside a commit (`wal_autocheckpoint=0`); the opener runs
    /// [`SeaOrmStore::keep_up`], which checkpoints beside the writer (see the
    /// `checkpoint` module). The server does; a short command leaves SQLite to
    /// checkpoint in its commits.
    pub background_checkpoints: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(3),
            allow_unsafe_durability: false,
            background_checkpoints: false,
        }
    }
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "unsupported database URL scheme (use sqlite://, postgres://, postgresql://, mysql:// or mariadb://)"
    )]
    UnsupportedScheme,
    #[error("cannot create the folder {folder} for the SQLite database")]
    CreateFolder {
        folder: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to the database")]
    Connect(#[source] DbErr),
    #[error("the database could lose acknowledged leads: {0}")]
    NotDurable(String),
    #[error("the database migrations failed")]
    Migrate(#[source] DbErr),
}

/// An open database: the pool, and what the repositories share.
#[derive(Clone)]
pub struct SeaOrmStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: DatabaseConnection,
    /// SQLite has one writer at a time: writes from this process queue here instead of
    /// contending for the database lock. `None` on servers with row locks.
    pub(crate) write_gate: Option<tokio::sync::Mutex<()>>,
    /// MySQL/MariaDB: which trigrams the newest leads hold, for picking the rarest
    /// trigrams of a search term (see [`search_index::TrigramSample`]).
    pub(crate) trigram_sample: std::sync::Mutex<Option<Arc<search_index::TrigramSample>>>,
}

impl Inner {
    /// Waits for this process's turn to write (SQLite); no wait on other databases.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        }
    }

    /// Starts a transaction that writes. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), waiting up to the busy timeout while another process (a
    /// second instance, a `lead-inbox` command) writes. A deferred transaction that
    /// read first would instead fail at its first write, without waiting, when another
    /// process was writing or had committed since the read (`SQLITE_BUSY`: a reader
    /// cannot wait to become the writer, as the two could wait on each other).
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        let immediate = (self.db.get_database_backend() == DatabaseBackend::Sqlite)
            .then_some(SqliteTransactionMode::Immediate);
        self.db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: immediate,
                ..TransactionOptions::default()
            })
            .await
    }
}

impl fmt::Debug for SeaOrmStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeaOrmStore")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// The SQLite file a URL names, or `None` for an in-memory database.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Sets `TCP_NODELAY` on each new PostgreSQL or MySQL/MariaDB connection made over TCP
/// (see [`nodelay`]). A URL sqlx cannot read is left for `Database::connect` to report.
fn with_tcp_nodelay(connect: &mut ConnectOptions, backend: DatabaseBackend, url: &str) {
    let tcp_port = match backend {
        DatabaseBackend::Postgres => PgConnectOptions::from_str(url)
            .ok()
            .filter(|options| options.get_socket().is_none())
            .map(|options| options.get_port()),
        DatabaseBackend::MySql => MySqlConnectOptions::from_str(url)
            .ok()
            .filter(|options| options.get_socket().is_none())
            .map(|options| options.get_port()),
        _ => None,
    };
    let Some(port) = tcp_port else { return };
    if backend == DatabaseBackend::Postgres {
        connect.map_sqlx_postgres_pool_opts(move |pool| nodelay_after_connect(pool, port));
    } else {
        connect.map_sqlx_mysql_pool_opts(move |pool| nodelay_after_connect(pool, port));
    }
}

fn nodelay_after_connect<Db: sea_orm::sqlx::Database>(
    pool: PoolOptions<Db>,
    port: u16,
) -> PoolOptions<Db> {
    pool.after_connect(move |_, _| {
        Box::pin(async move {
            nodelay::after_connect(port);
            Ok(())
        })
    })
}

/// Connections a PostgreSQL or MySQL/MariaDB pool opens before its first query.
const CONNECTIONS_AT_START: u32 = 4;

/// Opens `count` connections of `pool` side by side and waits until they are idle in
/// it. One by one, as the start-up's queries would open them, each costs a full round
/// of TCP, TLS and authentication (~95 ms to a local PostgreSQL with TLS): the pool
/// hands a finished query's connection back in a task of its own, so the next query,
/// a moment earlier, finds none idle and opens another. Three of them in a row made
/// start-up take 300 ms.
async fn open_at_once<Db: sea_orm::sqlx::Database>(
    pool: &sea_orm::sqlx::Pool<Db>,
    count: u32,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..count {
        let pool = pool.clone();
        opening.spawn(async move { pool.acquire().await });
    }
    let mut connections = Vec::new();
    while let Some(joined) = opening.join_next().await {
        match joined {
            Ok(Ok(connection)) => connections.push(connection),
            Ok(Err(error)) => return Err(cause_of(pool, error).await),
            Err(_) => return Err(sea_orm::sqlx::Error::WorkerCrashed),
        }
    }
    drop(connections);
    // Back in the pool a moment later (each in its own task): wait, briefly, for them.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
    while pool.num_idle() < count as usize && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Why `pool` could not open a connection. The pool retries a refused connection
/// silently until its acquire timeout and then says only `PoolTimedOut` ("pool timed
/// out while waiting for an open connection"), never why; one connection opened
/// directly, within the same timeout, gives the cause ("Connection refused", an
/// unknown host, a failed login, no answer).
async fn cause_of<Db: sea_orm::sqlx::Database>(
    pool: &sea_orm::sqlx::Pool<Db>,
    error: sea_orm::sqlx::Error,
) -> sea_orm::sqlx::Error {
    use sea_orm::sqlx::{ConnectOptions as _, Error};
    if !matches!(error, Error::PoolTimedOut) {
        return error;
    }
    let within = pool.options().get_acquire_timeout();
    match tokio::time::timeout(within, pool.connect_options().connect()).await {
        Ok(Err(cause)) => cause,
        // It answers now: the pool's failure was passing; report it as it was.
        Ok(Ok(_connection)) => error,
        Err(_) => Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "the database server did not answer within {} s",
                within.as_secs_f64()
            ),
        )),
    }
}

impl SeaOrmStore {
    /// Opens the database at `url` and checks its durability settings.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<SeaOrmStore, ConnectError> {
        let scheme = url.split(':').next().unwrap_or_default();
        let backend = match scheme {
            "sqlite" => DatabaseBackend::Sqlite,
            "postgres" | "postgresql" => DatabaseBackend::Postgres,
            "mysql" | "mariadb" => DatabaseBackend::MySql,
            _ => return Err(ConnectError::UnsupportedScheme),
        };
        let url = match scheme {
            "mariadb" => format!("mysql{}", &url[scheme.len()..]),
            _ => url.to_owned(),
        };
        if let Some(folder) = sqlite_path(&url)
            .and_then(|path| Path::new(path).parent())
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder).map_err(|source| ConnectError::CreateFolder {
                folder: folder.display().to_string(),
                source,
            })?;
        }
        // SQLite's default, unless the opener checkpoints in the background.
        let autocheckpoint = if options.background_checkpoints {
            "0"
        } else {
            "1000"
        };
        let mut connect = ConnectOptions::new(&url);
        connect
            .max_connections(options.max_connections)
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_timeout(options.acquire_timeout)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(move |opts| {
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
                    // Deleted rows are overwritten with zeros, so that an erased
                    // person's data does not linger in free pages.
                    .pragma("secure_delete", "ON")
                    .pragma("wal_autocheckpoint", autocheckpoint)
            });
        with_tcp_nodelay(&mut connect, backend, &url);
        // Database servers: no connection yet; `open_at_once` opens the first ones
        // side by side.
        connect.connect_lazy(backend != DatabaseBackend::Sqlite);
        let db = Database::connect(connect)
            .await
            .map_err(ConnectError::Connect)?;
        let at_start = options.max_connections.min(CONNECTIONS_AT_START);
        let opened = match backend {
            DatabaseBackend::Postgres => {
                open_at_once(db.get_postgres_connection_pool(), at_start).await
            }
            DatabaseBackend::MySql => open_at_once(db.get_mysql_connection_pool(), at_start).await,
            _ => Ok(()),
        };
        opened.map_err(|error| {
            ConnectError::Connect(DbErr::Conn(RuntimeErr::SqlxError(Arc::new(error))))
        })?;
        let store = SeaOrmStore {
            inner: Arc::new(Inner {
                write_gate: (backend == DatabaseBackend::Sqlite)
                    .then(|| tokio::sync::Mutex::new(())),
                trigram_sample: std::sync::Mutex::new(None),
                db,
            }),
        };
        match store.check_durability().await {
            Ok(()) => {}
            Err(ConnectError::NotDurable(why)) if options.allow_unsafe_durability => {
                tracing::error!(
                    problem = %why,
                    "STARTING WITH UNSAFE DURABILITY: acknowledged leads can be lost in a crash"
                );
            }
            Err(error) => return Err(error),
        }
        Ok(store)
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.inner.db.get_database_backend()
    }

    /// Applies every migration not applied yet.
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        Migrator::up(&self.inner.db, None)
            .await
            .map_err(ConnectError::Migrate)
    }

    pub fn leads(&self) -> SeaOrmLeadRepository {
        SeaOrmLeadRepository::new(self.inner.clone())
    }

    /// Forwarding's ports ([`DestinationStore`], [`DeliveryStore`]) on this database.
    ///
    /// [`DestinationStore`]: lead_inbox_application::forwarding::DestinationStore
    /// [`DeliveryStore`]: lead_inbox_application::forwarding::DeliveryStore
    pub fn forwarding(&self) -> SeaOrmForwardingStore {
        SeaOrmForwardingStore::new(self.inner.clone())
    }

    pub fn quarantine(&self) -> SeaOrmQuarantineStore {
        SeaOrmQuarantineStore::new(self.inner.clone())
    }

    /// The pool now: `(open connections, idle connections)`.
    pub fn pool_stats(&self) -> Option<(u32, u32)> {
        let db = &self.inner.db;
        match self.backend() {
            DatabaseBackend::Sqlite => {
                let pool = db.get_sqlite_connection_pool();
                Some((pool.size(), pool.num_idle() as u32))
            }
            DatabaseBackend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                Some((pool.size(), pool.num_idle() as u32))
            }
            DatabaseBackend::MySql => {
                let pool = db.get_mysql_connection_pool();
                Some((pool.size(), pool.num_idle() as u32))
            }
            _ => None,
        }
    }

    pub fn erasures(&self) -> SeaOrmErasureLog {
        SeaOrmErasureLog::new(self.inner.clone())
    }

    pub fn credentials(&self) -> SeaOrmCredentialStore {
        SeaOrmCredentialStore::new(self.inner.clone())
    }

    /// The web console's users and sessions.
    pub fn console(&self) -> SeaOrmConsoleStore {
        SeaOrmConsoleStore::new(self.inner.clone())
    }

    /// Brings the database up to date after a bulk load (a `copy`, the benchmark's
    /// million leads), with what background work would reach only later:
    ///
    /// - PostgreSQL and MySQL/MariaDB gather fresh planner statistics on the leads.
    ///   Without them PostgreSQL plans a freshly loaded table as if it were small: a
    ///   contacts page took 238 ms instead of 3 ms. On PostgreSQL this is `VACUUM
    ///   (ANALYZE)`, as its documentation advises after a bulk load: the vacuum also
    ///   sets the visibility map, without which no scan can be index-only (the
    ///   statistics' counts read every row).
    /// - SQLite indexes every new lead for search ([`Self::index_all_for_search`]); its
    ///   planner needs no statistics for the indexed queries.
    pub async fn settle_after_bulk_load(&self) -> Result<(), StorageError> {
        let sql = match self.backend() {
            DatabaseBackend::Postgres => "VACUUM (ANALYZE)",
            DatabaseBackend::MySql => "ANALYZE TABLE leads, lead_tags, lead_events",
            _ => return self.index_all_for_search().await.map(drop),
        };
        self.inner
            .db
            .execute_unprepared(sql)
            .await
            .map(drop)
            .map_err(storage_error)
    }

    /// Closes the pool, waiting for connections in use to come back.
    pub async fn close(&self) {
        if let Err(error) = self.inner.db.close_by_ref().await {
            tracing::warn!(error = %error, "closing the database pool failed");
        }
    }

    async fn setting(&self, sql: &str) -> Result<String, ConnectError> {
        let backend = self.backend();
        let row = self
            .inner
            .db
            .query_one_raw(Statement::from_string(backend, sql))
            .await
            .map_err(ConnectError::Connect)?
            .ok_or_else(|| ConnectError::NotDurable(format!("`{sql}` returned nothing")))?;
        row.try_get_by_index::<String>(0)
            .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
            .map_err(ConnectError::Connect)
    }

    /// Reads the settings that decide whether a commit survives a crash.
    async fn check_durability(&self) -> Result<(), ConnectError> {
        let require = |setting: &str, actual: String, ok: bool, fix: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConnectError::NotDurable(format!(
                    "{setting} is {actual}; {fix}"
                )))
            }
        };
        match self.backend() {
            DatabaseBackend::Sqlite => {
                let mode = self.setting("PRAGMA journal_mode").await?;
                require(
                    "SQLite journal_mode",
                    mode.clone(),
                    mode.eq_ignore_ascii_case("wal"),
                    "Lead Inbox needs a file database in WAL mode",
                )?;
                let sync = self.setting("PRAGMA synchronous").await?;
                require(
                    "SQLite synchronous",
                    sync.clone(),
                    sync == "2" || sync == "3",
                    "it must be FULL (2)",
                )
            }
            DatabaseBackend::Postgres => {
                let fsync = self.setting("SHOW fsync").await?;
                require(
                    "PostgreSQL fsync",
                    fsync.clone(),
                    fsync == "on",
                    "set fsync = on",
                )?;
                let commit = self.setting("SHOW synchronous_commit").await?;
                require(
                    "PostgreSQL synchronous_commit",
                    commit.clone(),
                    commit != "off",
                    "set synchronous_commit to on (or local, remote_write, remote_apply)",
                )
            }
            DatabaseBackend::MySql => {
                let flush = self
                    .setting("SELECT CAST(@@innodb_flush_log_at_trx_commit AS SIGNED)")
                    .await?;
                require(
                    "MySQL innodb_flush_log_at_trx_commit",
                    flush.clone(),
                    flush == "1",
                    "set innodb_flush_log_at_trx_commit = 1",
                )
            }
            _ => Err(ConnectError::UnsupportedScheme),
        }
    }
}

/// Maps a driver error to the port's error: anything that says "not now" (no
/// connection, pool exhausted, database busy) is `Unavailable`, the rest `Unexpected`.
/// Whether the database rolled the transaction back to break a deadlock or a
/// serialisation conflict (SQLSTATE class 40: PostgreSQL `40001`/`40P01`, MySQL
/// `40001` for error 1213), so that running it again may succeed.
pub(crate) fn deadlocked(error: &DbErr) -> bool {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx)) => {
            match sqlx.as_ref() {
                sea_orm::sqlx::Error::Database(db) => {
                    matches!(db.code().as_deref(), Some("40001" | "40P01"))
                }
                _ => false,
            }
        }
        _ => false,
    }
}

pub(crate) fn storage_error(error: DbErr) -> StorageError {
    let transient = match &error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx)) => {
            use sea_orm::sqlx::Error;
            match sqlx.as_ref() {
                Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => {
                    true
                }
                Error::Database(db) => {
                    // SQLite busy/locked; PostgreSQL admin shutdown / cannot connect now;
                    // MySQL lock wait timeout / deadlock / server gone.
                    matches!(
                        db.code().as_deref(),
                        Some(
                            "5" | "6"
                                | "517"
                                | "57P01"
                                | "57P02"
                                | "57P03"
                                | "40001"
                                | "40P01"
                                | "1205"
                                | "1213"
                        )
                    )
                }
                _ => false,
            }
        }
        _ => false,
    };
    if transient {
        StorageError::unavailable(error)
    } else {
        StorageError::unexpected(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_are_read_from_urls() {
        assert_eq!(
            sqlite_path("sqlite://./data/lead-inbox.db"),
            Some("./data/lead-inbox.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/x.db?mode=rwc"),
            Some("/var/lib/x.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }

    /// A store on the SQLite file `url` whose one connection runs with `synchronous`: what
    /// `connect` would check if its own options (FULL) were ever changed or overridden.
    async fn sqlite_store_with(url: &str, synchronous: SqliteSynchronous) -> SeaOrmStore {
        let mut connect = ConnectOptions::new(url);
        connect
            .max_connections(1)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(move |opts| {
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(synchronous)
            });
        SeaOrmStore {
            inner: Arc::new(Inner {
                db: Database::connect(connect).await.expect("open"),
                write_gate: None,
                trigram_sample: std::sync::Mutex::new(None),
            }),
        }
    }

    #[tokio::test]
    async fn sqlite_below_full_sync_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/leads.db", dir.path().display());
        for (synchronous, code) in [(SqliteSynchronous::Off, 0), (SqliteSynchronous::Normal, 1)] {
            let store = sqlite_store_with(&url, synchronous).await;
            match store.check_durability().await {
                Err(ConnectError::NotDurable(why)) => assert!(
                    why.contains(&format!("SQLite synchronous is {code}")),
                    "{why}"
                ),
                other => panic!("{synchronous:?}: expected NotDurable, got {other:?}"),
            }
            store.close().await;
        }
        for synchronous in [SqliteSynchronous::Full, SqliteSynchronous::Extra] {
            let store = sqlite_store_with(&url, synchronous).await;
            assert!(
                store.check_durability().await.is_ok(),
                "{synchronous:?} is durable"
            );
            store.close().await;
        }
    }

    /// `synchronous` belongs to each connection, not to the file: read it on the store's.
    #[tokio::test]
    async fn sqlite_connections_run_wal_with_full_sync() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/leads.db", dir.path().display());
        let store = SeaOrmStore::connect(&url, &StoreOptions::default())
            .await
            .expect("connect");
        assert_eq!(
            store
                .setting("PRAGMA synchronous")
                .await
                .expect("synchronous"),
            "2",
            "FULL"
        );
        assert_eq!(
            store.setting("PRAGMA journal_mode").await.expect("mode"),
            "wal"
        );
        store.close().await;
    }

    /// Connects to the server in `var` (skipping, with a line saying so, when it is unset;
    /// failing in CI) and checks that every connection the pool opened has `TCP_NODELAY`.
    #[cfg(target_os = "linux")]
    async fn pool_connections_have_nodelay(var: &str, default_port: u16) {
        let Some(url) = lead_inbox_test_env::required_in_ci(var, "TCP_NODELAY check") else {
            return;
        };
        let store = SeaOrmStore::connect(&url, &StoreOptions::default())
            .await
            .expect("connect");
        let port = url
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next()?.parse().ok())
            .unwrap_or(default_port);
        let settings = nodelay::nodelay_of_sockets_to(port);
        store.close().await;
        assert!(!settings.is_empty(), "the pool holds a connection");
        assert!(settings.iter().all(|&on| on), "{settings:?}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn postgres_connections_have_nodelay() {
        pool_connections_have_nodelay("LEAD_INBOX_TEST_POSTGRES_URL", 5432).await;
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn mysql_connections_have_nodelay() {
        pool_connections_have_nodelay("LEAD_INBOX_TEST_MYSQL_URL", 3306).await;
    }
}
