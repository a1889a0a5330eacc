//! Test support: fresh databases for every backend, and `spawn_app`, which starts the
//! real server (the same `Application::build` as `main`) on port 0.
//!
//! Databases other than SQLite are switched on by environment variables holding a
//! server URL; each test gets its own database on that server, so suites run in
//! parallel and again without cleanup:
//! - `LEAD_INBOX_TEST_POSTGRES_URL`, e.g. `postgres://postgres@127.0.0.1:5432/test`
//! - `LEAD_INBOX_TEST_MYSQL_URL`, e.g. `mysql://root@127.0.0.1:3306/test`
//!
//! A test whose variable is unset is skipped locally and fails when `CI` is set
//! (`lead_inbox_test_env`).
//!
//! `LEAD_INBOX_TEST_BACKEND` (`sqlite`, the default, `postgres` or `mysql`) picks the
//! database the end-to-end HTTP tests run on.

pub mod console;
pub mod receiver;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use lead_inbox_application::{LeadFilter, LeadReader, LeadWriter, PageRequest};
use lead_inbox_domain::{NewLead, RawPayload, casayes::parse_payload};
use lead_inbox_group_commit::{GroupCommitLeadWriter, GroupCommitOptions};
use lead_inbox_server::{Application, Config, Storage};
use lead_inbox_storage_seaorm::{SeaOrmStore, StoreOptions};
pub use lead_inbox_test_env::required_in_ci;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement, TryGetable};
use secrecy::SecretString;

pub const WEBHOOK_TOKEN: &str = "test-webhook-token-0b4ba9b1";
pub const API_KEY: &str = "test-api-key-5e1c";
pub const POSTGRES_ENV: &str = "LEAD_INBOX_TEST_POSTGRES_URL";
pub const MYSQL_ENV: &str = "LEAD_INBOX_TEST_MYSQL_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    pub fn env_var(self) -> Option<&'static str> {
        match self {
            Backend::Postgres => Some(POSTGRES_ENV),
            Backend::MySql => Some(MYSQL_ENV),
            Backend::Memory | Backend::Sqlite => None,
        }
    }

    /// The backend the end-to-end tests run on (`LEAD_INBOX_TEST_BACKEND`).
    pub fn for_end_to_end() -> Backend {
        match std::env::var("LEAD_INBOX_TEST_BACKEND").as_deref() {
            Ok("postgres") => Backend::Postgres,
            Ok("mysql") => Backend::MySql,
            Ok("memory") => Backend::Memory,
            Ok("sqlite") | Err(_) => Backend::Sqlite,
            Ok(other) => {
                panic!("LEAD_INBOX_TEST_BACKEND={other}: use sqlite, postgres, mysql or memory")
            }
        }
    }
}

/// A database of its own for one test; dropped (best effort) with the value.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

/// The server URL for `backend`, or `None` (with a line saying what is skipped) when
/// its variable is unset; in CI an unset variable fails the test instead
/// ([`lead_inbox_test_env::required_in_ci`], the gate every outside service uses).
pub fn server_url(backend: Backend, what: &str) -> Option<String> {
    let var = backend.env_var()?;
    required_in_ci(var, &format!("{what} on {backend:?}"))
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[authority_end..]
        .find('/')
        .map(|i| i + authority_end)
        .unwrap_or(base.len());
    let mut result = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

impl TestDatabase {
    /// A fresh, empty database. `None` when the backend's server is not configured.
    pub async fn create(backend: Backend, what: &str) -> Option<TestDatabase> {
        match backend {
            Backend::Memory => Some(TestDatabase {
                url: "memory://".into(),
                cleanup: None,
                _dir: None,
            }),
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary folder");
                let url = format!("sqlite://{}/nested/lead-inbox.db", dir.path().display());
                Some(TestDatabase {
                    url,
                    cleanup: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres | Backend::MySql => {
                let server = server_url(backend, what)?;
                let name = format!("li_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&server)
                    .await
                    .expect("the test database server answers");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("CREATE DATABASE");
                admin.close().await.ok();
                Some(TestDatabase {
                    url: replace_database(&server, &name),
                    cleanup: Some((server, name)),
                    _dir: None,
                })
            }
        }
    }

    /// Opens this database with the sea-orm adapter (migrated), as the server does.
    pub async fn open_store(&self) -> SeaOrmStore {
        let store = SeaOrmStore::connect(&self.url, &StoreOptions::default())
            .await
            .expect("the test database opens");
        store.migrate().await.expect("migrations run");
        store
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.cleanup.take() else {
            return;
        };
        let statement = if server.starts_with("postgres") {
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        } else {
            format!("DROP DATABASE IF EXISTS {name}")
        };
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = Database::connect(&server).await.ok()?;
                tokio::time::timeout(
                    Duration::from_secs(10),
                    admin.execute_unprepared(&statement),
                )
                .await
                .ok()?
                .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

/// How the contract suite's leads are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// Straight to the store's own [`LeadWriter`].
    Direct,
    /// Through a [`GroupCommitLeadWriter`] in front of it, as the server writes.
    GroupCommit,
}

/// Every port of a backend, for the contract suite: the ports wired as the server wires
/// them ([`Storage::on`]), and the database they live in. It reads as the
/// [`Storage`] it holds (`storage.writer`, `storage.reader`, ...).
pub struct TestStorage {
    storage: Storage,
    pub database: TestDatabase,
}

impl std::ops::Deref for TestStorage {
    type Target = Storage;

    fn deref(&self) -> &Storage {
        &self.storage
    }
}

/// The ports of `backend` on a fresh database, its leads written as `writes` says.
/// Group commit runs as the server runs it: one writer on SQLite and in memory,
/// several on a database server.
pub async fn test_storage(backend: Backend, writes: Writes, what: &str) -> Option<TestStorage> {
    let database = TestDatabase::create(backend, what).await?;
    let writers = match backend {
        Backend::Memory | Backend::Sqlite => 1,
        Backend::Postgres | Backend::MySql => 4,
    };
    let writer = |direct: Arc<dyn LeadWriter>| -> Arc<dyn LeadWriter> {
        match writes {
            Writes::Direct => direct,
            Writes::GroupCommit => Arc::new(GroupCommitLeadWriter::new(
                direct,
                GroupCommitOptions {
                    writers,
                    ..GroupCommitOptions::default()
                },
            )),
        }
    };
    if backend == Backend::Memory {
        let leads = Arc::new(lead_inbox_storage_memory::InMemoryLeadRepository::new());
        let forwarding = Arc::new(leads.forwarding());
        return Some(TestStorage {
            storage: Storage::on(
                leads.clone(),
                writer(leads),
                Arc::new(lead_inbox_storage_memory::InMemoryQuarantineStore::new()),
                Arc::new(lead_inbox_storage_memory::InMemoryCredentialStore::new()),
                Arc::new(lead_inbox_storage_memory::InMemoryErasureLog::new()),
                forwarding,
            ),
            database,
        });
    }
    let store = database.open_store().await;
    let leads = Arc::new(store.leads());
    Some(TestStorage {
        storage: Storage::on(
            leads.clone(),
            writer(leads),
            Arc::new(store.quarantine()),
            Arc::new(store.credentials()),
            Arc::new(store.erasures()),
            Arc::new(store.forwarding()),
        )
        .with_console(Arc::new(store.console())),
        database,
    })
}

/// A running server and a client for it.
pub struct TestApp {
    pub address: SocketAddr,
    /// The separate metrics address, when the test configured one.
    pub metrics_address: Option<SocketAddr>,
    pub client: reqwest::Client,
    pub database: TestDatabase,
    /// The server's own forwarding stores.
    pub destinations: Arc<dyn lead_inbox_application::forwarding::DestinationStore>,
    pub deliveries: Arc<dyn lead_inbox_application::forwarding::DeliveryStore>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Posts `body` to the webhook with `token` (none when `None`).
    pub async fn deliver(
        &self,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/webhooks/casayes/leads"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.header("token", token);
        }
        request.send().await.expect("the server answers")
    }

    /// GETs an `/api/v1` path with the test API key; returns the status and JSON body.
    pub async fn api_get(&self, path: &str) -> (u16, serde_json::Value) {
        self.api_call(reqwest::Method::GET, path).await
    }

    /// Calls an `/api/v1` path with the test API key; returns the status and JSON body
    /// (`null` when there is none).
    pub async fn api_call(&self, method: reqwest::Method, path: &str) -> (u16, serde_json::Value) {
        self.api_json(method, path, None).await
    }

    /// Calls an `/api/v1` path with the test API key and `body` as JSON when given;
    /// returns the status and JSON body (`null` when there is none).
    pub async fn api_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.api_json_as(API_KEY, method, path, body).await
    }

    /// As [`Self::api_json`], with the API key `key`.
    pub async fn api_json_as(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }

    /// Tells the server to stop gracefully (requests in flight finish) and waits for
    /// its task; `None` when it was stopped already.
    async fn shut_down(&mut self) -> Option<Result<std::io::Result<()>, tokio::task::JoinError>> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        Some(self.server.take()?.await)
    }

    /// Stops the server gracefully (requests in flight finish), waits for it and
    /// returns how its serving ended.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shut_down()
            .await
            .map(|ended| ended.expect("the server task ends without panicking"))
            .unwrap_or(Ok(()))
    }

    /// Stops the server gracefully (requests in flight finish) and waits for it;
    /// returns the database, still there, for inspection.
    pub async fn stop_keeping_database(mut self) -> TestDatabase {
        let _ = self.shut_down().await;
        std::mem::replace(
            &mut self.database,
            TestDatabase {
                url: String::new(),
                cleanup: None,
                _dir: None,
            },
        )
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// The configuration a test server gets: port 0, one token, one API key.
pub fn test_config(database_url: &str) -> Config {
    Config {
        bind: "127.0.0.1:0".parse().expect("an address"),
        database_url: database_url.to_owned(),
        webhook_tokens: vec![SecretString::from(WEBHOOK_TOKEN.to_owned())],
        api_keys: vec![SecretString::from(API_KEY.to_owned())],
        shutdown_grace_seconds: 5,
        ..Config::default()
    }
}

/// Starts the real server on a fresh database of the end-to-end backend. `None` when
/// that backend is not configured (the skip is printed).
pub async fn spawn_app(what: &str) -> Option<TestApp> {
    spawn_app_with(what, |_| {}).await
}

pub async fn spawn_app_with(what: &str, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
    spawn_app_on(Backend::for_end_to_end(), what, adjust).await
}

/// As [`spawn_app_with`], on a fresh database of `backend` whatever the end-to-end
/// backend is (for behaviour of one database only).
pub async fn spawn_app_on(
    backend: Backend,
    what: &str,
    adjust: impl FnOnce(&mut Config),
) -> Option<TestApp> {
    let database = TestDatabase::create(backend, what).await?;
    let mut config = test_config(&database.url);
    adjust(&mut config);
    let app = Application::build(config).await.expect("the server starts");
    let address = app.address();
    let metrics_address = app.metrics_address();
    let (destinations, deliveries) = app.forwarding_stores();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    Some(TestApp {
        address,
        metrics_address,
        client: reqwest::Client::new(),
        database,
        destinations,
        deliveries,
        shutdown: Some(shutdown),
        server: Some(server),
    })
}

/// A TCP proxy in front of a database server that a test can cut and restore: the
/// database "goes away" for the service under test only, while other tests keep using
/// the same server.
pub struct ToggleProxy {
    pub address: SocketAddr,
    state: Arc<std::sync::Mutex<ProxyState>>,
    accept: tokio::task::JoinHandle<()>,
}

struct ProxyState {
    open: bool,
    connections: Vec<tokio::task::JoinHandle<()>>,
}

impl ToggleProxy {
    /// A proxy to `target` (`host:port`), open or cut from the start.
    pub async fn start(target: String, open: bool) -> ToggleProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let state = Arc::new(std::sync::Mutex::new(ProxyState {
            open,
            connections: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                if !state.open {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                state.connections.push(tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        ToggleProxy {
            address,
            state,
            accept,
        }
    }

    /// Closes every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.open = false;
        for connection in state.connections.drain(..) {
            connection.abort();
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).open = true;
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let authority_start = url.find("://").map(|i| i + 3).unwrap_or(0);
        let rest = &url[authority_start..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let credentials = authority
            .rfind('@')
            .map(|at| &authority[..=at])
            .unwrap_or("");
        format!(
            "{}{credentials}{}{}",
            &url[..authority_start],
            self.address,
            &rest[authority_end..]
        )
    }
}

impl Drop for ToggleProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// The `host:port` of a database URL.
pub fn host_and_port(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority.rsplit('@').next().unwrap_or(authority).to_owned()
}

/// The CasaYes documentation's example lead with another `LeadReference` and `changes`
/// applied (keys in `changes` replace the example's).
pub fn example_with(reference: &str, changes: serde_json::Value) -> serde_json::Value {
    let mut value: serde_json::Value =
        serde_json::from_str(lead_inbox_domain::casayes::SPEC_EXAMPLE)
            .expect("the example is JSON");
    value["LeadReference"] = serde_json::Value::String(reference.to_owned());
    if let (serde_json::Value::Object(target), serde_json::Value::Object(changes)) =
        (&mut value, changes)
    {
        target.extend(changes);
    }
    value
}

/// A lead as the webhook hands it to storage: the body `raw`, parsed, received at
/// `received_at`.
pub fn new_lead(raw: Vec<u8>, received_at: DateTime<Utc>) -> NewLead {
    NewLead {
        details: parse_payload(&raw).expect("a lead"),
        raw: RawPayload::new(raw),
        received_at,
    }
}

/// The documentation's example lead with another `LeadReference`.
pub fn example(reference: &str) -> serde_json::Value {
    example_with(reference, serde_json::Value::Null)
}

/// A lead without anomalies, the `n`th of its kind: the documentation's example with a
/// reference of the documented shape (`CY-<type>-<public id>-<uuid>`, agreeing with the
/// payload's entity) and a plausible email (the example's own is a placeholder, which
/// is an anomaly, as are references of any other shape). Returns the reference too.
pub fn clean_example(n: u32) -> (String, serde_json::Value) {
    let reference = format!("CY-Listing-A3bT7Y2xL6w-00000000-0000-4000-8000-{n:012}");
    let body = example_with(
        &reference,
        serde_json::json!({"SenderEmail": "ana.clean@example.pt"}),
    );
    (reference, body)
}

/// The first column of the one row `sql` answers on `db` (a setting, a count, a type).
pub async fn scalar<T: TryGetable>(db: &DatabaseConnection, sql: &str) -> T {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .unwrap_or_else(|| panic!("{sql}: no row"))
        .try_get_by_index(0)
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

/// The `leadReference` of each lead in a JSON list of leads (an API page's `items`), in
/// order.
pub fn lead_references(items: &serde_json::Value) -> Vec<String> {
    items
        .as_array()
        .expect("a list of leads")
        .iter()
        .map(|lead| {
            lead["leadReference"]
                .as_str()
                .expect("every lead has a reference")
                .to_owned()
        })
        .collect()
}

/// The references of every lead `filter` lists, in the list's order, read page after
/// page of `limit` through the cursors.
pub async fn references_listed(
    leads: &dyn LeadReader,
    filter: &LeadFilter,
    limit: u32,
) -> Vec<String> {
    let mut references = Vec::new();
    let mut after = None;
    loop {
        let page = leads
            .list(
                filter,
                PageRequest::new(Some(limit), after).expect("a page"),
            )
            .await
            .expect("list");
        references.extend(page.items.iter().map(|l| l.reference().as_str().to_owned()));
        match page.next {
            Some(next) => after = Some(next),
            None => return references,
        }
    }
}

/// Rolls the migrations back down to and including the one named `name` (those after
/// it first), so that a test of one migration does not depend on how many follow it.
pub async fn migrate_down_through(db: &DatabaseConnection, name: &str) {
    use lead_inbox_migration::Migrator;
    use sea_orm_migration::MigratorTrait;

    let after = Migrator::migrations()
        .iter()
        .rev()
        .position(|migration| migration.name() == name)
        .unwrap_or_else(|| panic!("no migration {name}"));
    let steps = u32::try_from(after + 1).expect("a few migrations");
    Migrator::down(db, Some(steps)).await.expect("down");
}
