//! Configuration: defaults in code, then an optional TOML file (`--config` or
//! `LEAD_INBOX_CONFIG`), then `LEAD_INBOX_*` environment variables. Read and checked
//! once, at start-up; a bad value stops start-up with a message naming the key.

use std::{fmt, net::SocketAddr, path::Path};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use ipnet::IpNet;
use lead_inbox_domain::forwarding::{RetrySchedule, RetryScheduleError};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, de};

/// The environment variables' prefix.
pub const ENV_PREFIX: &str = "LEAD_INBOX_";
/// Where the SQLite database lives unless configured otherwise.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/lead-inbox.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// `LEAD_INBOX_*` variables that are read elsewhere, not configuration keys.
const OTHER_VARIABLES: [&str; 4] = ["config", "log", "log_format", "benchmark_ceiling"];

/// A good value of each key, for error messages and `serve --help`. A key without one
/// fails `every_key_has_an_example_that_is_read`; each differs from the default, so
/// that the test can see its variable was read.
fn example(key: &str) -> Option<&'static str> {
    Some(match key {
        "bind" => "0.0.0.0:8080",
        "database_url" => "postgres://app@db.internal/leads",
        "webhook_tokens" => "token-one,token-two",
        "api_keys" => "key-one,key-two",
        "max_body_bytes" => "524288",
        "database_max_connections" => "16",
        "database_connect_timeout_seconds" => "30",
        "allow_unsafe_durability" => "true",
        "shutdown_grace_seconds" => "20",
        "header_read_timeout_seconds" => "5",
        "request_timeout_seconds" => "60",
        "max_connections" => "2048",
        "auth_failures_per_minute" => "10",
        "api_requests_per_minute" => "600",
        "trusted_proxies" => "10.0.0.0/8,192.168.1.7/32",
        "tls_cert" => "/etc/lead-inbox/cert.pem",
        "tls_key" => "/etc/lead-inbox/key.pem",
        "retry_after_seconds" => "10",
        "metrics_bind" => "127.0.0.1:9090",
        "metrics_key" => "a-long-random-metrics-key",
        "group_commit_max_batch" => "128",
        "group_commit_max_wait_micros" => "500",
        "write_queue_capacity" => "8192",
        "feed_poll_millis" => "1000",
        "retention_days" => "730",
        "quarantine_retention_days" => "90",
        "erasure_audit_key" => "a-long-random-audit-key",
        "forward_allow_private" => "true",
        "secrets_key" => "q83vEjT9H8qz0cPpmQ2lP5Rr0nWm2vHk5m4b3i0dJ7Q=",
        "forward_retry_schedule" => "1s,1s,2s",
        "forward_timeout_seconds" => "5",
        "forward_disable_after_hours" => "48",
        "nats_creds" => "/etc/lead-inbox/nats.creds",
        // The web console (issue #20).
        "console" => "off",
        "timezone" => "America/New_York",
        "console_session_idle_minutes" => "60",
        "config" => "/etc/lead-inbox/lead-inbox.toml",
        "log" => "info,lead_inbox_http=debug",
        "log_format" => "json",
        _ => return None,
    })
}

/// `LEAD_INBOX_<KEY>`.
pub fn variable(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

/// `key (LEAD_INBOX_KEY)`, and a good value when there is one.
fn named(key: &str) -> String {
    format!("{key} ({})", variable(key))
}

fn for_example(key: &str) -> String {
    example(key)
        .map(|value| format!(" (for example {}={value})", variable(key)))
        .unwrap_or_default()
}

/// Keys holding secrets. They are read from the environment as raw strings (figment
/// would read `0123` as the number 123) and never printed.
const SECRET_KEYS: [&str; 5] = [
    "webhook_tokens",
    "api_keys",
    "metrics_key",
    "erasure_audit_key",
    "secrets_key",
];

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `LEAD_INBOX_BIND`: the address to listen on.
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    /// `LEAD_INBOX_DATABASE_URL`: `sqlite://…`, `postgres://…`, `mysql://…` or `memory://`.
    #[serde(default = "default_database_url")]
    pub database_url: String,
    /// `LEAD_INBOX_WEBHOOK_TOKENS`: the tokens CasaYes may send, comma-separated.
    #[serde(default, deserialize_with = "secret_list")]
    pub webhook_tokens: Vec<SecretString>,
    /// `LEAD_INBOX_API_KEYS`: API keys for `/api/v1`, comma-separated.
    #[serde(default, deserialize_with = "secret_list")]
    pub api_keys: Vec<SecretString>,
    /// `LEAD_INBOX_MAX_BODY_BYTES`: the largest webhook body accepted.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// `LEAD_INBOX_DATABASE_MAX_CONNECTIONS`: the database pool's size.
    #[serde(default = "default_max_connections")]
    pub database_max_connections: u32,
    /// `LEAD_INBOX_DATABASE_CONNECT_TIMEOUT_SECONDS`: how long start-up waits for an
    /// unreachable database (retrying with backoff) before giving up.
    #[serde(default = "default_connect_timeout")]
    pub database_connect_timeout_seconds: u64,
    /// `LEAD_INBOX_ALLOW_UNSAFE_DURABILITY`: start even if the database could lose
    /// committed leads in a crash. Never in production.
    #[serde(default)]
    pub allow_unsafe_durability: bool,
    /// `LEAD_INBOX_SHUTDOWN_GRACE_SECONDS`: how long requests in flight may take to
    /// finish after SIGTERM or ctrl-c.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_seconds: u64,
    /// `LEAD_INBOX_HEADER_READ_TIMEOUT_SECONDS`: how long a client may take to send a
    /// request's headers (or finish a TLS handshake).
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_seconds: u64,
    /// `LEAD_INBOX_REQUEST_TIMEOUT_SECONDS`: how long a request may take, body included.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// `LEAD_INBOX_MAX_CONNECTIONS`: most client connections open at once.
    #[serde(default = "default_max_client_connections")]
    pub max_connections: usize,
    /// `LEAD_INBOX_AUTH_FAILURES_PER_MINUTE`: failed authentications allowed per client
    /// address and minute before it gets `429`.
    #[serde(default = "default_auth_failures")]
    pub auth_failures_per_minute: u32,
    /// `LEAD_INBOX_API_REQUESTS_PER_MINUTE`: requests allowed per API key and minute.
    #[serde(default = "default_api_requests")]
    pub api_requests_per_minute: u32,
    /// `LEAD_INBOX_TRUSTED_PROXIES`: the networks (CIDRs, comma-separated) of the
    /// reverse proxies in front; from them, `Forwarded` / `X-Forwarded-For` name the
    /// client. None by default: those headers are ignored.
    #[serde(default, deserialize_with = "network_list")]
    pub trusted_proxies: Vec<IpNet>,
    /// `LEAD_INBOX_TLS_CERT`: a PEM certificate chain; with `tls_key`, serve HTTPS.
    #[serde(default)]
    pub tls_cert: Option<std::path::PathBuf>,
    /// `LEAD_INBOX_TLS_KEY`: the PEM private key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<std::path::PathBuf>,
    /// `LEAD_INBOX_RETRY_AFTER_SECONDS`: what `503` answers ask senders to wait.
    #[serde(default = "default_retry_after")]
    pub retry_after_seconds: u64,
    /// `LEAD_INBOX_METRICS_BIND`: serve `GET /metrics`, open, on this separate address.
    #[serde(default)]
    pub metrics_bind: Option<SocketAddr>,
    /// `LEAD_INBOX_METRICS_KEY`: serve `GET /metrics` on the main address to
    /// `Authorization: Bearer <key>`.
    #[serde(default)]
    pub metrics_key: Option<String>,
    /// `LEAD_INBOX_GROUP_COMMIT_MAX_BATCH`: most leads committed in one transaction.
    #[serde(default = "default_max_batch")]
    pub group_commit_max_batch: usize,
    /// `LEAD_INBOX_GROUP_COMMIT_MAX_WAIT_MICROS`: how long a batch waits for more leads
    /// after its first. `0` (the default): a writer takes what is queued and commits at
    /// once; the deliveries that arrive during a commit form the next batch, so batches
    /// grow with the load and a lone delivery waits for nobody.
    #[serde(default = "default_max_wait")]
    pub group_commit_max_wait_micros: u64,
    /// `LEAD_INBOX_WRITE_QUEUE_CAPACITY`: most deliveries waiting to be committed; past
    /// it the webhook answers `503` with `Retry-After`.
    #[serde(default = "default_write_queue")]
    pub write_queue_capacity: usize,
    /// `LEAD_INBOX_FEED_POLL_MILLIS`: how often the live feed's reader looks for new
    /// events when nothing woke it. Commits of this instance (and, on PostgreSQL, of
    /// every instance) wake it at once; this bounds the delay of events written by
    /// other processes on SQLite and MySQL/MariaDB, at one cheap query per poll.
    #[serde(default = "default_feed_poll")]
    pub feed_poll_millis: u64,
    /// `LEAD_INBOX_RETENTION_DAYS`: delete leads (with their raw payloads) received more
    /// than this many days ago, hourly in the background and with `lead-inbox purge`.
    /// Unset: leads are kept until erased.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// `LEAD_INBOX_QUARANTINE_RETENTION_DAYS`: the same for quarantined payloads.
    #[serde(default)]
    pub quarantine_retention_days: Option<u32>,
    /// `LEAD_INBOX_ERASURE_AUDIT_KEY`: the key of the erasure audit log's subject
    /// hashes. Unset: a random key is made once and kept in the database.
    #[serde(default)]
    pub erasure_audit_key: Option<String>,
    /// `LEAD_INBOX_FORWARD_ALLOW_PRIVATE`: accept forwarding destinations on `http`
    /// and on loopback, private and link-local addresses (tests, a CRM on the same
    /// network). Off: such destinations are refused, when saved and when connecting.
    #[serde(default, deserialize_with = "flag")]
    pub forward_allow_private: bool,
    /// `LEAD_INBOX_SECRETS_KEY`: base64 of 32 random bytes (`openssl rand -base64 32`);
    /// forwarding's signing secrets and CasaYes tokens are stored encrypted with it.
    /// Unset: they are stored in plain text.
    #[serde(default)]
    pub secrets_key: Option<String>,
    /// `LEAD_INBOX_FORWARD_RETRY_SCHEDULE`: the delays between a delivery's attempts,
    /// comma-separated (`5s,5m,30m`). Unset: at once, 5 s, 5 min, 30 min, 2 h, 5 h,
    /// 10 h, 10 h.
    #[serde(default)]
    pub forward_retry_schedule: Option<String>,
    /// `LEAD_INBOX_FORWARD_TIMEOUT_SECONDS`: how long one forwarding request may take.
    #[serde(default = "default_forward_timeout")]
    pub forward_timeout_seconds: u64,
    /// `LEAD_INBOX_FORWARD_DISABLE_AFTER_HOURS`: a destination whose attempts have all
    /// failed for this long is disabled.
    #[serde(default = "default_forward_disable_after")]
    pub forward_disable_after_hours: u64,
    /// `LEAD_INBOX_NATS_CREDS`: a NATS credentials file (`.creds`) for NATS destinations.
    #[serde(default)]
    pub nats_creds: Option<std::path::PathBuf>,
    // ---- The web console (issue #20) ----
    /// `LEAD_INBOX_CONSOLE`: `on` (the default) serves the web console at `/inbox`;
    /// `off` does not.
    #[serde(default)]
    pub console: ConsoleSwitch,
    /// `LEAD_INBOX_TIMEZONE`: the IANA zone the console shows times in.
    #[serde(default = "default_timezone", deserialize_with = "timezone")]
    pub timezone: chrono_tz::Tz,
    /// `LEAD_INBOX_CONSOLE_SESSION_IDLE_MINUTES`: a console session ends after this
    /// many minutes without a request.
    #[serde(default = "default_session_idle")]
    pub console_session_idle_minutes: u32,
}

/// Whether the web console is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleSwitch {
    #[default]
    On,
    Off,
}

fn default_timezone() -> chrono_tz::Tz {
    chrono_tz::Europe::Lisbon
}

fn default_session_idle() -> u32 {
    30
}

fn timezone<'de, D: Deserializer<'de>>(deserializer: D) -> Result<chrono_tz::Tz, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.trim().parse().map_err(|_| {
        de::Error::custom(format!(
            "{text:?} is not an IANA time zone (for example Europe/Lisbon)"
        ))
    })
}

fn default_forward_timeout() -> u64 {
    15
}

fn default_forward_disable_after() -> u64 {
    120
}

fn default_max_batch() -> usize {
    64
}

fn default_max_wait() -> u64 {
    0
}

fn default_write_queue() -> usize {
    4096
}

fn default_feed_poll() -> u64 {
    lead_inbox_application::feed::POLL_INTERVAL.as_millis() as u64
}

fn default_header_read_timeout() -> u64 {
    10
}

fn default_request_timeout() -> u64 {
    30
}

fn default_max_client_connections() -> usize {
    1024
}

fn default_auth_failures() -> u32 {
    20
}

fn default_api_requests() -> u32 {
    1200
}

fn default_retry_after() -> u64 {
    5
}

fn default_bind() -> SocketAddr {
    DEFAULT_BIND
        .parse()
        .unwrap_or_else(|_| unreachable!("a valid literal"))
}

fn default_database_url() -> String {
    DEFAULT_DATABASE_URL.to_owned()
}

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

fn default_max_connections() -> u32 {
    8
}

fn default_shutdown_grace() -> u64 {
    30
}

fn default_connect_timeout() -> u64 {
    60
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: default_bind(),
            database_url: default_database_url(),
            webhook_tokens: Vec::new(),
            api_keys: Vec::new(),
            max_body_bytes: default_max_body_bytes(),
            database_max_connections: default_max_connections(),
            database_connect_timeout_seconds: default_connect_timeout(),
            allow_unsafe_durability: false,
            shutdown_grace_seconds: default_shutdown_grace(),
            header_read_timeout_seconds: default_header_read_timeout(),
            request_timeout_seconds: default_request_timeout(),
            max_connections: default_max_client_connections(),
            auth_failures_per_minute: default_auth_failures(),
            api_requests_per_minute: default_api_requests(),
            trusted_proxies: Vec::new(),
            tls_cert: None,
            tls_key: None,
            retry_after_seconds: default_retry_after(),
            metrics_bind: None,
            metrics_key: None,
            group_commit_max_batch: default_max_batch(),
            group_commit_max_wait_micros: default_max_wait(),
            write_queue_capacity: default_write_queue(),
            feed_poll_millis: default_feed_poll(),
            retention_days: None,
            quarantine_retention_days: None,
            erasure_audit_key: None,
            forward_allow_private: false,
            secrets_key: None,
            forward_retry_schedule: None,
            forward_timeout_seconds: default_forward_timeout(),
            forward_disable_after_hours: default_forward_disable_after(),
            nats_creds: None,
            console: ConsoleSwitch::default(),
            timezone: default_timezone(),
            console_session_idle_minutes: default_session_idle(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database_url", &redact_url(&self.database_url))
            .field(
                "webhook_tokens",
                &format_args!("[{} redacted]", self.webhook_tokens.len()),
            )
            .field(
                "api_keys",
                &format_args!("[{} redacted]", self.api_keys.len()),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("database_max_connections", &self.database_max_connections)
            .field(
                "database_connect_timeout_seconds",
                &self.database_connect_timeout_seconds,
            )
            .field("allow_unsafe_durability", &self.allow_unsafe_durability)
            .field("shutdown_grace_seconds", &self.shutdown_grace_seconds)
            .field(
                "header_read_timeout_seconds",
                &self.header_read_timeout_seconds,
            )
            .field("request_timeout_seconds", &self.request_timeout_seconds)
            .field("max_connections", &self.max_connections)
            .field("auth_failures_per_minute", &self.auth_failures_per_minute)
            .field("api_requests_per_minute", &self.api_requests_per_minute)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("retry_after_seconds", &self.retry_after_seconds)
            .field("metrics_bind", &self.metrics_bind)
            .field(
                "metrics_key",
                &self.metrics_key.as_ref().map(|_| "[redacted]"),
            )
            .field("group_commit_max_batch", &self.group_commit_max_batch)
            .field(
                "group_commit_max_wait_micros",
                &self.group_commit_max_wait_micros,
            )
            .field("write_queue_capacity", &self.write_queue_capacity)
            .field("feed_poll_millis", &self.feed_poll_millis)
            .field("retention_days", &self.retention_days)
            .field("quarantine_retention_days", &self.quarantine_retention_days)
            .field(
                "erasure_audit_key",
                &self.erasure_audit_key.as_ref().map(|_| "[redacted]"),
            )
            .field("forward_allow_private", &self.forward_allow_private)
            .field(
                "secrets_key",
                &self.secrets_key.as_ref().map(|_| "[redacted]"),
            )
            .field("forward_retry_schedule", &self.forward_retry_schedule)
            .field("forward_timeout_seconds", &self.forward_timeout_seconds)
            .field(
                "forward_disable_after_hours",
                &self.forward_disable_after_hours,
            )
            .field("nats_creds", &self.nats_creds)
            .field("console", &self.console)
            .field("timezone", &self.timezone)
            .field(
                "console_session_idle_minutes",
                &self.console_session_idle_minutes,
            )
            .finish()
    }
}

/// The URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration file {0} does not exist")]
    MissingFile(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error(
        "invalid configuration: {} must be at least 1024{}",
        named("max_body_bytes"),
        for_example("max_body_bytes")
    )]
    BodyLimitTooSmall,
    #[error("invalid configuration: {} must be at least 1{}", named(.0), for_example(.0))]
    Zero(&'static str),
    #[error(
        "invalid configuration: tls_cert (LEAD_INBOX_TLS_CERT) and tls_key (LEAD_INBOX_TLS_KEY) go together: set both{}{}, or neither",
        for_example("tls_cert"),
        for_example("tls_key")
    )]
    HalfTls,
    #[error(
        "invalid configuration: {} is not a retry schedule: {source}{}",
        named("forward_retry_schedule"),
        for_example("forward_retry_schedule")
    )]
    RetrySchedule {
        #[source]
        source: RetryScheduleError,
    },
}

/// The `LEAD_INBOX_*` variables among `names` that are neither keys nor read elsewhere,
/// each with the known variable closest to it (a typo's likely meaning).
fn unknown_variables(names: impl IntoIterator<Item = String>) -> Vec<(String, String)> {
    let known: Vec<&str> = Config::keys()
        .iter()
        .copied()
        .chain(OTHER_VARIABLES)
        .collect();
    names
        .into_iter()
        .filter_map(|name| {
            let key = name.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
            if known.contains(&key.as_str()) || key.starts_with("test_") {
                return None;
            }
            let closest = known.iter().max_by(|a, b| {
                strsim::jaro_winkler(&key, a).total_cmp(&strsim::jaro_winkler(&key, b))
            })?;
            Some((name, variable(closest)))
        })
        .collect()
}

fn warn_about_unknown_variables() {
    let names = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    for (name, closest) in unknown_variables(names) {
        tracing::warn!(variable = %name, closest = %closest, "not a configuration variable: ignored (did you mean {closest}?)");
    }
}

/// Every problem figment found, each naming its key, the environment variable that
/// sets it, and where the bad value came from.
fn describe(errors: figment::Error) -> String {
    errors
        .into_iter()
        .map(|error| {
            let key = error.path.join(".").to_ascii_lowercase();
            let source = error
                .metadata
                .as_ref()
                .map(|metadata| format!(" (from {})", metadata.name))
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{source}", error.kind)
            } else {
                format!(
                    "{}: {}{source}{}",
                    named(&key),
                    error.kind,
                    for_example(&key)
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A list of secrets: a comma-separated string (environment) or an array (TOML).
/// Blank entries are dropped and white space around each is trimmed.
/// A switch: `true`/`false`, `1`/`0`, `yes`/`no` or `on`/`off` (any case), as a
/// string, a number or a boolean.
fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    struct Flag;

    impl de::Visitor<'_> for Flag {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a switch: true or false, 1 or 0, yes or no, on or off")
        }

        fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
            Ok(value)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<bool, E> {
            match value {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(E::invalid_value(de::Unexpected::Unsigned(value), &self)),
            }
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<bool, E> {
            match u64::try_from(value) {
                Ok(value) => self.visit_u64(value),
                Err(_) => Err(E::invalid_value(de::Unexpected::Signed(value), &self)),
            }
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<bool, E> {
            match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" | "" => Ok(false),
                _ => Err(E::invalid_value(de::Unexpected::Str(text), &self)),
            }
        }
    }

    deserializer.deserialize_any(Flag)
}

fn secret_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<SecretString>, D::Error> {
    struct SecretList;

    impl<'de> de::Visitor<'de> for SecretList {
        type Value = Vec<SecretString>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a comma-separated string or an array of strings")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| SecretString::from(s.to_owned()))
                .collect())
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut secrets = Vec::new();
            while let Some(text) = seq.next_element::<String>()? {
                if !text.trim().is_empty() {
                    secrets.push(SecretString::from(text.trim().to_owned()));
                }
            }
            Ok(secrets)
        }
    }

    deserializer.deserialize_any(SecretList)
}

/// Networks: a comma-separated string (environment) or an array (TOML) of CIDRs; a
/// lone address is its own network.
fn network_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    struct NetworkList;

    const EXAMPLE: &str = "10.0.0.0/8,192.168.1.7/32";

    fn network<E: de::Error>(text: &str) -> Result<IpNet, E> {
        let text = text.trim();
        text.parse::<IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| {
                E::custom(format!(
                    "`{text}` is not a network: give CIDRs separated by commas, e.g. {EXAMPLE}"
                ))
            })
    }

    impl<'de> de::Visitor<'de> for NetworkList {
        type Value = Vec<IpNet>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "CIDRs separated by commas, e.g. {EXAMPLE}")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            text.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(network)
                .collect()
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut networks = Vec::new();
            while let Some(text) = seq.next_element::<String>()? {
                networks.push(network(&text)?);
            }
            Ok(networks)
        }
    }

    deserializer.deserialize_any(NetworkList)
}

/// A deserializer that reads nothing: it keeps the field names a derived `Deserialize`
/// hands to `deserialize_struct`, which are the struct's keys exactly.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only a struct's field names are read"))
    }

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("field names read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

impl Config {
    /// Every configuration key, in the order of the struct's fields; `LEAD_INBOX_<KEY>`
    /// sets it. Taken from `Config`'s own `Deserialize`, so that a field is a key the
    /// environment sets as soon as it exists: there is no list to forget it in.
    pub fn keys() -> &'static [&'static str] {
        let mut fields: &'static [&'static str] = &[];
        let _ = Config::deserialize(FieldNames(&mut fields));
        fields
    }

    /// The environment variables, one a line with a good value, for `serve --help`.
    pub fn environment_help() -> String {
        let mut help = String::from(
            "Environment variables, each with an example value, not its default (each sets \
             the key of the same name in the TOML file; docs/operations.md gives the \
             defaults and describes them):\n",
        );
        for key in Config::keys().iter().chain(&OTHER_VARIABLES) {
            if let Some(value) = example(key) {
                help.push_str(&format!("  {}={value}\n", variable(key)));
            }
        }
        help
    }

    /// What the retention settings keep.
    pub fn retention(&self) -> lead_inbox_application::RetentionPolicy {
        lead_inbox_application::RetentionPolicy {
            leads_days: self.retention_days,
            quarantine_days: self.quarantine_retention_days,
        }
    }

    /// Loads the configuration: defaults, then `file` (or `LEAD_INBOX_CONFIG`) when
    /// given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let config = Config::read(file)?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration from its sources, before the checks across keys.
    fn read(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(format!("{ENV_PREFIX}CONFIG")).map(Into::into));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::MissingFile(file.display().to_string()));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        let plain: Vec<&str> = Config::keys()
            .iter()
            .copied()
            .filter(|key| !SECRET_KEYS.contains(key))
            .collect();
        figment = figment.merge(Env::prefixed(ENV_PREFIX).only(&plain));
        warn_about_unknown_variables();
        for key in SECRET_KEYS {
            if let Ok(value) = std::env::var(format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())) {
                figment = figment.merge((key, value));
            }
        }
        figment
            .extract()
            .map_err(|errors| ConfigError::Invalid(describe(errors)))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::BodyLimitTooSmall);
        }
        for (value, name) in [
            (
                u64::from(self.database_max_connections),
                "database_max_connections",
            ),
            (
                self.header_read_timeout_seconds,
                "header_read_timeout_seconds",
            ),
            (self.request_timeout_seconds, "request_timeout_seconds"),
            (self.max_connections as u64, "max_connections"),
            (
                u64::from(self.auth_failures_per_minute),
                "auth_failures_per_minute",
            ),
            (
                u64::from(self.api_requests_per_minute),
                "api_requests_per_minute",
            ),
            (self.group_commit_max_batch as u64, "group_commit_max_batch"),
            (self.write_queue_capacity as u64, "write_queue_capacity"),
            (self.feed_poll_millis, "feed_poll_millis"),
            (self.retention_days.map_or(1, u64::from), "retention_days"),
            (
                self.quarantine_retention_days.map_or(1, u64::from),
                "quarantine_retention_days",
            ),
            (self.forward_timeout_seconds, "forward_timeout_seconds"),
            (
                self.forward_disable_after_hours,
                "forward_disable_after_hours",
            ),
            (
                u64::from(self.console_session_idle_minutes),
                "console_session_idle_minutes",
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::HalfTls);
        }
        self.retry_schedule()?;
        Ok(())
    }

    /// Forwarding's retry schedule: `forward_retry_schedule`, or the standard one.
    pub fn retry_schedule(&self) -> Result<RetrySchedule, ConfigError> {
        match &self.forward_retry_schedule {
            Some(text) => {
                RetrySchedule::parse(text).map_err(|source| ConfigError::RetrySchedule { source })
            }
            None => Ok(RetrySchedule::standard()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error.
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_logs() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/leads"),
            "postgres://app:***@db:5432/leads"
        );
        assert_eq!(
            redact_url("sqlite://./data/lead-inbox.db"),
            "sqlite://./data/lead-inbox.db"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
    }

    #[test]
    fn debug_never_prints_secrets() {
        let config = Config {
            webhook_tokens: vec![SecretString::from("tok-canary".to_owned())],
            api_keys: vec![SecretString::from("key-canary".to_owned())],
            ..Config::default()
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("canary"), "{printed}");
        assert!(printed.contains("[1 redacted]"));
    }

    fn load_in(jail: &mut figment::Jail) -> Result<Config, ConfigError> {
        let _ = jail;
        Config::load(None)
    }

    #[test]
    fn environment_lists_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LEAD_INBOX_WEBHOOK_TOKENS", "0123, second-token,,");
            jail.set_env("LEAD_INBOX_API_KEYS", "key-1");
            let config = load_in(jail).map_err(|e| e.to_string())?;
            use secrecy::ExposeSecret;
            let tokens: Vec<&str> = config
                .webhook_tokens
                .iter()
                .map(|t| t.expose_secret())
                .collect();
            assert_eq!(tokens, ["0123", "second-token"]);
            assert_eq!(config.api_keys.len(), 1);
            assert_eq!(config.bind.to_string(), DEFAULT_BIND);
            assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
            assert_eq!(config.max_body_bytes, 256 * 1024);
            Ok(())
        });
    }

    #[test]
    fn a_switch_is_on_as_1_true_yes_or_on_and_off_as_their_opposites() {
        for (text, on) in [
            ("1", true),
            ("true", true),
            ("YES", true),
            ("on", true),
            ("0", false),
            ("false", false),
            ("No", false),
            ("off", false),
        ] {
            figment::Jail::expect_with(|jail| {
                jail.set_env("LEAD_INBOX_FORWARD_ALLOW_PRIVATE", text);
                let config = load_in(jail).map_err(|e| e.to_string())?;
                assert_eq!(config.forward_allow_private, on, "{text}");
                Ok(())
            });
        }
        figment::Jail::expect_with(|jail| {
            jail.set_env("LEAD_INBOX_FORWARD_ALLOW_PRIVATE", "2");
            let error = load_in(jail).expect_err("2 is no switch").to_string();
            assert!(error.contains("1 or 0"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_file_is_overridden_by_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "lead-inbox.toml",
                "bind = \"0.0.0.0:9000\"\nmax_body_bytes = 4096\nwebhook_tokens = [\"from-file\"]\n",
            )?;
            jail.set_env("LEAD_INBOX_MAX_BODY_BYTES", "8192");
            let config =
                Config::load(Some(Path::new("lead-inbox.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.bind.to_string(), "0.0.0.0:9000");
            assert_eq!(config.max_body_bytes, 8192);
            assert_eq!(config.webhook_tokens.len(), 1);
            Ok(())
        });
    }

    #[test]
    fn other_prefixed_variables_are_not_errors() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LEAD_INBOX_TEST_MYSQL_URL", "mysql://x");
            jail.set_env("LEAD_INBOX_LOG", "debug");
            jail.set_env("LEAD_INBOX_BIDN", "typo");
            jail.set_env("LEAD_INBOX_DATABASE_CONNECT_TIMEOUT_SECONDS", "7");
            let config = load_in(jail).map_err(|e| e.to_string())?;
            assert_eq!(config.database_connect_timeout_seconds, 7);
            Ok(())
        });
    }

    #[test]
    fn trusted_proxies_are_networks_and_a_bad_one_stops_start_up() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "LEAD_INBOX_TRUSTED_PROXIES",
                "10.0.0.0/8, 192.168.1.7,2001:db8::/32",
            );
            let config = load_in(jail).map_err(|e| e.to_string())?;
            let networks: Vec<String> = config
                .trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(networks, ["10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"]);
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            assert!(
                load_in(jail)
                    .map_err(|e| e.to_string())?
                    .trusted_proxies
                    .is_empty()
            );
            jail.create_file("lead-inbox.toml", "trusted_proxies = [\"172.16.0.0/12\"]\n")?;
            let config =
                Config::load(Some(Path::new("lead-inbox.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.trusted_proxies.len(), 1);
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("LEAD_INBOX_TRUSTED_PROXIES", "10.0.0.0/8,10.0.0.0/33");
            let error = load_in(jail).expect_err("not a network").to_string();
            assert!(error.contains("LEAD_INBOX_TRUSTED_PROXIES"), "{error}");
            assert!(error.contains("`10.0.0.0/33`"), "{error}");
            assert!(error.contains("e.g. 10.0.0.0/8,192.168.1.7/32"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn the_keys_are_the_fields_of_config() {
        let keys = Config::keys();
        for key in ["bind", "database_url", "erasure_audit_key"] {
            assert!(keys.contains(&key), "{key} in {keys:?}");
        }
        for key in SECRET_KEYS {
            assert!(keys.contains(&key), "the secret {key} is a key");
        }
        for name in OTHER_VARIABLES {
            assert!(!keys.contains(&name), "{name} is read elsewhere");
        }
    }

    /// Every key's variable is read: set alone to its example, it changes the
    /// configuration. A key without an example, or a field `Debug` leaves out, fails.
    #[test]
    fn every_key_has_an_example_that_is_read() {
        let default = format!("{:?}", Config::default());
        for key in Config::keys() {
            let value = example(key).unwrap_or_else(|| panic!("{key} has no example"));
            figment::Jail::expect_with(|jail| {
                jail.set_env(variable(key), value);
                let config = Config::read(None).map_err(|e| e.to_string())?;
                assert_ne!(
                    format!("{config:?}"),
                    default,
                    "{} was not read",
                    variable(key)
                );
                Ok(())
            });
        }
        let help = Config::environment_help();
        assert!(help.contains("  LEAD_INBOX_BIND=0.0.0.0:8080\n"), "{help}");
        assert!(help.contains("  LEAD_INBOX_LOG_FORMAT=json\n"), "{help}");
    }

    #[test]
    fn an_unknown_variable_names_the_closest_known_one() {
        let names = [
            "LEAD_INBOX_WEBHOOK_TOKEN",
            "LEAD_INBOX_BIDN",
            "LEAD_INBOX_BIND",
            "LEAD_INBOX_LOG",
            "LEAD_INBOX_TEST_MYSQL_URL",
            "PATH",
        ];
        assert_eq!(
            unknown_variables(names.map(str::to_owned)),
            [
                (
                    "LEAD_INBOX_WEBHOOK_TOKEN".to_owned(),
                    "LEAD_INBOX_WEBHOOK_TOKENS".to_owned()
                ),
                ("LEAD_INBOX_BIDN".to_owned(), "LEAD_INBOX_BIND".to_owned()),
            ]
        );
    }

    #[test]
    fn a_bad_value_says_what_a_good_one_looks_like() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LEAD_INBOX_BIND", "8081");
            let error = load_in(jail)
                .expect_err("a port is not an address")
                .to_string();
            assert!(error.contains("LEAD_INBOX_BIND"), "{error}");
            assert!(error.contains("socket address"), "{error}");
            assert!(
                error.contains("for example LEAD_INBOX_BIND=0.0.0.0:8080"),
                "{error}"
            );
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("LEAD_INBOX_MAX_CONNECTIONS", "0");
            let error = load_in(jail).expect_err("zero").to_string();
            assert!(
                error.contains("LEAD_INBOX_MAX_CONNECTIONS) must be at least 1 (for example LEAD_INBOX_MAX_CONNECTIONS=2048)"),
                "{error}"
            );
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("LEAD_INBOX_TLS_CERT", "/tmp/cert.pem");
            let error = load_in(jail).expect_err("half of TLS").to_string();
            assert!(
                error.contains("LEAD_INBOX_TLS_KEY=/etc/lead-inbox/key.pem"),
                "{error}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_its_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LEAD_INBOX_MAX_BODY_BYTES", "lots");
            let error = load_in(jail).expect_err("not a number").to_string();
            assert!(error.contains("max_body_bytes"), "{error}");
            assert!(error.contains("LEAD_INBOX_MAX_BODY_BYTES"), "{error}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("LEAD_INBOX_BIND", "nowhere");
            let error = load_in(jail).expect_err("not an address").to_string();
            assert!(error.contains("bind"), "{error}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            let error = Config::load(Some(Path::new("missing.toml")))
                .expect_err("no file")
                .to_string();
            assert!(error.contains("missing.toml"), "{error}");
            let _ = jail;
            Ok(())
        });
    }

    #[test]
    fn a_bad_retry_schedule_stops_start_up_and_a_good_one_is_used() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LEAD_INBOX_FORWARD_RETRY_SCHEDULE", "1s,soon");
            let error = load_in(jail).expect_err("not a schedule").to_string();
            assert!(
                error.contains("LEAD_INBOX_FORWARD_RETRY_SCHEDULE"),
                "{error}"
            );
            assert!(error.contains("`soon` is not a duration"), "{error}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("LEAD_INBOX_FORWARD_RETRY_SCHEDULE", "1s, 2s");
            let config = load_in(jail).map_err(|e| e.to_string())?;
            let delays = config.retry_schedule().map_err(|e| e.to_string())?;
            assert_eq!(
                delays.delays(),
                [
                    std::time::Duration::from_secs(1),
                    std::time::Duration::from_secs(2)
                ]
            );
            assert_eq!(config.forward_timeout_seconds, 15);
            assert_eq!(config.forward_disable_after_hours, 120);
            Ok(())
        });
        assert_eq!(
            Config::default().retry_schedule().ok(),
            Some(RetrySchedule::standard())
        );
    }
}
