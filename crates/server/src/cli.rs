//! The `lead-inbox` command line.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};
use lead_inbox_application::{
    CredentialKind, CredentialManagement, CredentialRecord, LeadIntake, ReplayTally,
    RetentionPolicy, Scope, SystemClock, copy::copy_store, scopes_to_text,
};
use lead_inbox_application::{
    EventSignal, Role, UserError, UserRecord,
    forwarding::{DestinationError, DestinationRequest, Destinations},
};
use lead_inbox_domain::{
    LeadEventKind, QuarantineId, Subject,
    casayes::SPEC_EXAMPLE,
    format_utc,
    forwarding::{
        Destination, DestinationId, DestinationKind, ForwardFormat, UnknownValue, event_name,
        parse_event_name,
    },
};
use secrecy::{ExposeSecret, SecretString};

use crate::{Application, Config, Storage};

#[derive(Debug, Parser)]
#[command(
    name = "lead-inbox",
    version,
    about = "Receives CasaYes real-estate leads, stores each exactly once, and serves them to CRMs.",
    after_help = "Configuration comes from defaults, then the TOML file (--config or LEAD_INBOX_CONFIG), \
                  then LEAD_INBOX_* environment variables. See docs/operations.md.\n\n\
                  Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage."
)]
pub struct Cli {
    /// A TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses the process's arguments; `serve --help` lists the environment variables,
    /// generated from the configuration's keys.
    pub fn parse_args() -> Cli {
        let matches = Cli::command_with_environment().get_matches();
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
            .unwrap_or_else(|error| error.exit())
    }

    fn command_with_environment() -> clap::Command {
        <Cli as clap::CommandFactory>::command().mut_subcommand("serve", |serve| {
            serve.after_help(Config::environment_help())
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default).
    ///
    /// Example: LEAD_INBOX_WEBHOOK_TOKENS=secret LEAD_INBOX_API_KEYS=key lead-inbox serve
    Serve,
    /// Apply the database migrations, then exit.
    ///
    /// Example: LEAD_INBOX_DATABASE_URL=postgres://app@db/leads lead-inbox migrate
    Migrate,
    /// Print the OpenAPI document.
    ///
    /// Example: lead-inbox openapi --format yaml > openapi/lead-inbox.yaml
    Openapi {
        #[arg(long, value_enum, default_value_t = SpecFormat::Json)]
        format: SpecFormat,
    },
    /// Manage webhook tokens kept in the database (beside LEAD_INBOX_WEBHOOK_TOKENS).
    /// A token is shown once, when created; only its hash is stored. A revoked or
    /// expired token is refused at once by every instance.
    ///
    /// Example: lead-inbox tokens create --name casayes-2027 --expires-at 2027-12-31T23:59:59Z
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Manage API keys kept in the database (beside LEAD_INBOX_API_KEYS), with scopes:
    /// `read` (leads, quarantine), `write` (change leads), `admin` (replay and delete
    /// quarantined payloads). A key is shown once, when created; only its hash is stored.
    ///
    /// Example: lead-inbox api-keys create --name crm-sync --scopes read,write
    #[command(subcommand)]
    ApiKeys(ApiKeysCommand),
    /// Manage the web console's users (at /inbox): `agent` reads and works leads,
    /// `admin` also the quarantine, users, webhook tokens and API keys. Passwords are
    /// read from standard input (never from an argument, which `ps` shows) and kept as
    /// argon2id hashes. Disabling a user or resetting their password ends their sessions.
    ///
    /// Example: printf '%s' "$PASSWORD" | lead-inbox users create --username ana --role admin --password-stdin
    #[command(subcommand)]
    Users(UsersCommand),
    /// Copy every lead and quarantined payload from one store to another (SQLite to
    /// PostgreSQL, say). Idempotent: run it again and only what is missing is copied.
    /// The target's migrations run first. Stop the service writing to the source first,
    /// or run it again after switching over to pick up late leads.
    ///
    /// Example: lead-inbox copy --from sqlite://./data/lead-inbox.db --to postgres://app@db/leads
    Copy {
        /// The source database URL.
        #[arg(long)]
        from: String,
        /// The target database URL.
        #[arg(long)]
        to: String,
    },
    /// Erase everything held about a person (GDPR Art. 17): their leads with the raw
    /// payloads and the quarantined payloads that mention them, physically (the
    /// database files are scrubbed). A PII-free audit entry is kept, and a hash of each
    /// erased lead's reference, so that a redelivery is answered `erased` and not stored.
    /// Give exactly one of --email and --phone.
    ///
    /// Example: lead-inbox erase --email joao.silva@example.pt
    Erase {
        #[command(flatten)]
        subject: SubjectArgs,
    },
    /// Write everything held about a person (GDPR Art. 15 and 20) as JSON: the same
    /// document as `GET /api/v1/subjects/export`.
    ///
    /// Example: lead-inbox export-subject --phone 919111222 --output joao.json
    ExportSubject {
        #[command(flatten)]
        subject: SubjectArgs,
        /// Where to write the JSON; standard output when absent.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Delete leads and quarantined payloads older than the retention settings
    /// (LEAD_INBOX_RETENTION_DAYS, LEAD_INBOX_QUARANTINE_RETENTION_DAYS), or than the
    /// days given here, in batches of 1000, showing progress. The service does the same
    /// hourly when retention is configured.
    ///
    /// Example: lead-inbox purge --days 730 --quarantine-days 90
    Purge {
        /// Delete leads received more than this many days ago.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        days: Option<u32>,
        /// Delete quarantined payloads received more than this many days ago.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        quarantine_days: Option<u32>,
    },
    /// Work on the quarantine: payloads that could not be leads.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Manage forwarding's destinations: where each lead event is pushed, signed and
    /// retried (docs/forwarding.md). A destination's signing secret is shown once,
    /// when it is created or rotated.
    ///
    /// Example: lead-inbox destinations add --url https://crm.example.com/hooks/leads --events lead.created,lead.updated
    #[command(subcommand)]
    Destinations(DestinationsCommand),
    /// Post the CasaYes documentation's example lead (with john.smith@example.com as the
    /// sender's email) to a running Lead Inbox and print the answer: the integrator's
    /// smoke test.
    ///
    /// Example: lead-inbox send-example --url http://127.0.0.1:8080 --token secret
    SendExample {
        /// The Lead Inbox base URL, or the full webhook URL.
        #[arg(long)]
        url: String,
        /// The webhook token to send in the `token` header.
        #[arg(long)]
        token: String,
        /// The LeadReference to send; a fresh one unless given.
        #[arg(long)]
        reference: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Parse quarantined payloads again with this version's rules (after an upgrade
    /// that reads more, say): each one that is a lead now is stored, with its original
    /// arrival time, and leaves the quarantine; the others stay. Shows progress.
    ///
    /// Example: lead-inbox quarantine replay --all
    /// Example: lead-inbox quarantine replay 7 12
    Replay {
        /// The ids to replay (`GET /api/v1/quarantine` lists them).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<i64>,
        /// Replay every quarantined payload.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DestinationsCommand {
    /// Create a destination; prints its id and its signing secret (shown once).
    ///
    /// Example: lead-inbox destinations add --url https://crm.example.com/hooks/leads --entity-types Listing,Office
    /// Example: lead-inbox destinations add --nats nats://nats.internal:4222 --subject leads.casayes
    /// Example: echo "$CRM_TOKEN" | lead-inbox destinations add --url https://crm.example.com/casayes --format casayes --casayes-token-stdin
    Add {
        /// The webhook's https:// URL.
        #[arg(long, required_unless_present = "nats", conflicts_with = "nats")]
        url: Option<String>,
        /// A NATS server's URL (nats://…): events are published to --subject on JetStream.
        #[arg(long, requires = "subject")]
        nats: Option<String>,
        /// The JetStream subject (with --nats).
        #[arg(long, requires = "nats")]
        subject: Option<String>,
        /// The events to forward, comma-separated (default lead.created).
        #[arg(long, value_delimiter = ',', value_parser = parse_event)]
        events: Vec<LeadEventKind>,
        /// Only leads of these entity types, comma-separated (default: every lead).
        #[arg(long, value_delimiter = ',')]
        entity_types: Vec<String>,
        /// `lead` (the live feed's JSON, the default) or `casayes` (the bytes CasaYes posted).
        #[arg(long, value_parser = parse_format)]
        format: Option<ForwardFormat>,
        /// For people: what it is.
        #[arg(long)]
        description: Option<String>,
        /// At most this many requests open to it at once (1 to 256, default 8).
        #[arg(long)]
        max_in_flight: Option<u32>,
        /// Read the `token` header sent with the casayes format from standard input
        /// (one line), so that it stays out of the shell's history.
        #[arg(long)]
        casayes_token_stdin: bool,
    },
    /// List the destinations (never their secrets).
    ///
    /// Example: lead-inbox destinations list
    List,
    /// Stop forwarding to a destination (its pending deliveries wait).
    ///
    /// Example: lead-inbox destinations disable 3
    Disable {
        /// The id `destinations list` shows.
        id: i64,
    },
    /// Resume forwarding to a destination (also one disabled by forwarding itself).
    ///
    /// Example: lead-inbox destinations enable 3
    Enable {
        /// The id `destinations list` shows.
        id: i64,
    },
    /// Remove a destination with its deliveries.
    ///
    /// Example: lead-inbox destinations remove 3
    Remove {
        /// The id `destinations list` shows.
        id: i64,
    },
    /// Give a destination a new signing secret and print it (once); the previous one
    /// keeps signing beside it for 24 hours.
    ///
    /// Example: lead-inbox destinations rotate-secret 3
    RotateSecret {
        /// The id `destinations list` shows.
        id: i64,
    },
}

fn parse_event(text: &str) -> Result<LeadEventKind, UnknownValue> {
    parse_event_name(text.trim())
}

fn parse_format(text: &str) -> Result<ForwardFormat, UnknownValue> {
    text.trim().parse()
}

/// A person, by email or phone.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct SubjectArgs {
    /// The person's email (any case).
    #[arg(long)]
    email: Option<String>,
    /// The person's phone, in any form (`919111222`, `+351 919 111 222`).
    #[arg(long)]
    phone: Option<String>,
}

impl SubjectArgs {
    fn subject(&self) -> Result<Subject, ExitCode> {
        let parsed = match (&self.email, &self.phone) {
            (Some(email), _) => Subject::email(email),
            (None, Some(phone)) => Subject::phone(phone),
            (None, None) => unreachable!("clap requires one of them"),
        };
        parsed.map_err(|error| {
            eprintln!("lead-inbox: {error}");
            ExitCode::from(2)
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it (once).
    ///
    /// Example: lead-inbox tokens create --name casayes --expires-at 2027-06-30T00:00:00Z
    Create {
        /// A name for people: who uses it, why.
        #[arg(long)]
        name: String,
        /// When it stops being valid (RFC 3339); never when absent.
        #[arg(long, value_name = "RFC3339")]
        expires_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// List tokens (never their secrets).
    ///
    /// Example: lead-inbox tokens list
    List,
    /// Revoke a token by its id; it is refused from now on.
    ///
    /// Example: lead-inbox tokens revoke 3
    Revoke {
        /// The id `tokens list` shows.
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create an API key and print it (once).
    ///
    /// Example: lead-inbox api-keys create --name crm-sync --scopes read,write
    Create {
        /// A name for people: who uses it, why.
        #[arg(long)]
        name: String,
        /// What the key may do, comma-separated.
        #[arg(long, value_enum, value_delimiter = ',', default_value = "read")]
        scopes: Vec<ScopeArg>,
        /// When it stops being valid (RFC 3339); never when absent.
        #[arg(long, value_name = "RFC3339")]
        expires_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// List API keys (never their secrets).
    ///
    /// Example: lead-inbox api-keys list
    List,
    /// Revoke an API key by its id; it is refused from now on.
    ///
    /// Example: lead-inbox api-keys revoke 2
    Revoke {
        /// The id `api-keys list` shows.
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a console user.
    ///
    /// Example: printf '%s' "$PASSWORD" | lead-inbox users create --username ana --role agent --password-stdin
    Create {
        /// 1 to 64 of a-z, 0-9, '.', '_', '@', '-' (kept lower-case).
        #[arg(long)]
        username: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the password (at least 12 characters) from standard input's first line.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List the console's users (never their passwords).
    ///
    /// Example: lead-inbox users list
    List,
    /// Disable a user: they cannot sign in, and their sessions end now.
    ///
    /// Example: lead-inbox users disable ana
    Disable {
        /// The username.
        name: String,
    },
    /// Give a user a new password (from standard input); their sessions end now.
    ///
    /// Example: printf '%s' "$PASSWORD" | lead-inbox users reset-password ana --password-stdin
    ResetPassword {
        /// The username.
        name: String,
        /// Read the password (at least 12 characters) from standard input's first line.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// A console role, as the command line spells it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Agent,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Agent => Role::Agent,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// A scope, as the command line spells it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    Read,
    Write,
    Admin,
}

impl From<ScopeArg> for Scope {
    fn from(scope: ScopeArg) -> Self {
        match scope {
            ScopeArg::Read => Scope::Read,
            ScopeArg::Write => Scope::Write,
            ScopeArg::Admin => Scope::Admin,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SpecFormat {
    Json,
    Yaml,
}

pub const WEBHOOK_PATH: &str = "/webhooks/casayes/leads";

/// Runs the command line; returns the process's exit code.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config).await,
        Command::Migrate => migrate(cli.config).await,
        Command::Openapi { format } => {
            let spec = match format {
                SpecFormat::Json => lead_inbox_http::openapi_json(),
                SpecFormat::Yaml => lead_inbox_http::openapi_yaml(),
            };
            println!("{spec}");
            ExitCode::SUCCESS
        }
        Command::SendExample {
            url,
            token,
            reference,
        } => send_example(&url, &token, reference).await,
        Command::Copy { from, to } => copy(cli.config, &from, &to).await,
        Command::Erase { subject } => erase(cli.config, &subject).await,
        Command::ExportSubject { subject, output } => {
            export_subject(cli.config, &subject, output).await
        }
        Command::Purge {
            days,
            quarantine_days,
        } => purge(cli.config, days, quarantine_days).await,
        Command::Quarantine(QuarantineCommand::Replay { ids, all }) => {
            replay_quarantine(cli.config, ids, all).await
        }
        Command::Destinations(command) => destinations(cli.config, command).await,
        Command::Tokens(command) => {
            credentials(cli.config, CredentialKind::WebhookToken, command.into()).await
        }
        Command::ApiKeys(command) => {
            credentials(cli.config, CredentialKind::ApiKey, command.into()).await
        }
        Command::Users(command) => users(cli.config, command).await,
    }
}

/// The first line of standard input, without its line ending: a password.
fn password_from_stdin() -> Result<SecretString, ExitCode> {
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(_) => {
            let password = line.trim_end_matches(['\r', '\n']).to_owned();
            Ok(SecretString::from(password))
        }
        Err(error) => {
            eprintln!("lead-inbox: cannot read the password from standard input: {error}");
            Err(ExitCode::from(2))
        }
    }
}

async fn users(config: Option<PathBuf>, command: UsersCommand) -> ExitCode {
    let password = match &command {
        UsersCommand::Create { .. } | UsersCommand::ResetPassword { .. } => {
            match password_from_stdin() {
                Ok(password) => Some(password),
                Err(code) => return code,
            }
        }
        UsersCommand::List | UsersCommand::Disable { .. } => None,
    };
    let (config, storage) = match open_storage(config).await {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let access = storage.console_access(&config, std::sync::Arc::new(SystemClock));
    let describe = |user: &UserRecord| {
        format!(
            "{:<32} {:<6} {:<28} {}",
            user.username,
            user.role.code(),
            format_utc(&user.created_at),
            user.disabled_at
                .map(|at| format_utc(&at))
                .unwrap_or_else(|| "-".into())
        )
    };
    let header = format!(
        "{:<32} {:<6} {:<28} {}",
        "USERNAME", "ROLE", "CREATED", "DISABLED"
    );
    let password = || {
        password
            .clone()
            .unwrap_or_else(|| SecretString::from(String::new()))
    };
    let result = match &command {
        UsersCommand::Create { username, role, .. } => access
            .create_user(username, (*role).into(), password())
            .await
            .map(|user| {
                eprintln!(
                    "The user {} is created; they can sign in at /inbox/login.",
                    user.username
                );
                println!("{header}\n{}", describe(&user));
            }),
        UsersCommand::List => access.users().await.map_err(UserError::from).map(|users| {
            println!("{header}");
            for user in &users {
                println!("{}", describe(user));
            }
        }),
        UsersCommand::Disable { name } => access.disable_user(name).await.map(|user| {
            eprintln!(
                "The user {} is disabled; their sessions have ended.",
                user.username
            );
            println!("{header}\n{}", describe(&user));
        }),
        UsersCommand::ResetPassword { name, .. } => {
            access.reset_password(name, password()).await.map(|user| {
                eprintln!(
                    "The password of {} is changed; their sessions have ended.",
                    user.username
                );
            })
        }
    };
    storage.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(
            error @ (UserError::BadUsername(_)
            | UserError::ShortPassword
            | UserError::Taken(_)
            | UserError::Unknown(_)),
        ) => {
            eprintln!("lead-inbox: {error}");
            ExitCode::from(2)
        }
        Err(error @ (UserError::Hashing(_) | UserError::Storage(_))) => {
            eprintln!("lead-inbox: {}", report(&error));
            ExitCode::FAILURE
        }
    }
}

fn load(config: Option<PathBuf>) -> Result<Config, ExitCode> {
    Config::load(config.as_deref()).map_err(|error| {
        eprintln!("lead-inbox: {error}");
        ExitCode::from(2)
    })
}

/// The error and its causes, one per line.
fn report(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    text
}

async fn serve(config: Option<PathBuf>) -> ExitCode {
    let config = match load(config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("lead-inbox: {}", report(&error));
            return match error {
                crate::StartError::NoWebhookTokens => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            };
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lead-inbox: the server failed: {}", report(&error));
            ExitCode::FAILURE
        }
    }
}

/// Loads the configuration and opens its store: what every maintenance command starts
/// with. The error is printed; the exit code is returned.
async fn open_storage(config: Option<PathBuf>) -> Result<(Config, Storage), ExitCode> {
    let config = load(config)?;
    match Storage::open(&config.database_url, &config).await {
        Ok(storage) => Ok((config, storage)),
        Err(error) => {
            eprintln!("lead-inbox: {}", report(&error));
            Err(ExitCode::FAILURE)
        }
    }
}

/// A spinner on standard error that says what it is doing.
fn spinner(message: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

async fn erase(config: Option<PathBuf>, subject: &SubjectArgs) -> ExitCode {
    let subject = match subject.subject() {
        Ok(subject) => subject,
        Err(code) => return code,
    };
    let (config, storage) = match open_storage(config).await {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let bar = spinner("erasing and scrubbing the database files");
    let result = storage
        .rights(&config, std::sync::Arc::new(SystemClock))
        .erase(&subject, "cli")
        .await;
    bar.finish_and_clear();
    storage.close().await;
    match result {
        Ok(record) => {
            println!(
                "erased {} leads and {} quarantined payloads of that {}; audit entry {} (subject hash {})",
                record.leads,
                record.quarantined,
                record.subject_kind,
                record.id,
                record.subject_hash
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("lead-inbox: the erasure failed: {}", report(&error));
            eprintln!("run the same command again: it finishes what is left");
            ExitCode::FAILURE
        }
    }
}

async fn export_subject(
    config: Option<PathBuf>,
    subject: &SubjectArgs,
    output: Option<PathBuf>,
) -> ExitCode {
    let subject = match subject.subject() {
        Ok(subject) => subject,
        Err(code) => return code,
    };
    let (config, storage) = match open_storage(config).await {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let bar = spinner("collecting the data");
    let result = storage
        .rights(&config, std::sync::Arc::new(SystemClock))
        .export(&subject)
        .await;
    bar.finish_and_clear();
    storage.close().await;
    let data = match result {
        Ok(data) => data,
        Err(error) => {
            eprintln!("lead-inbox: the export failed: {}", report(&error));
            return ExitCode::FAILURE;
        }
    };
    let (leads, quarantined) = (data.leads.len(), data.quarantined.len());
    let document = lead_inbox_http::subject_export_json(&subject, data);
    match output {
        Some(path) => {
            if let Err(error) = std::fs::write(&path, document + "\n") {
                eprintln!("lead-inbox: cannot write {}: {error}", path.display());
                return ExitCode::FAILURE;
            }
            eprintln!(
                "wrote {leads} leads and {quarantined} quarantined payloads to {}",
                path.display()
            );
        }
        None => println!("{document}"),
    }
    ExitCode::SUCCESS
}

async fn purge(
    config: Option<PathBuf>,
    days: Option<u32>,
    quarantine_days: Option<u32>,
) -> ExitCode {
    let (config, storage) = match open_storage(config).await {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let configured = config.retention();
    let policy = RetentionPolicy {
        leads_days: days.or(configured.leads_days),
        quarantine_days: quarantine_days.or(configured.quarantine_days),
    };
    if policy.is_off() {
        storage.close().await;
        eprintln!(
            "lead-inbox: nothing to purge by: set LEAD_INBOX_RETENTION_DAYS or \
             LEAD_INBOX_QUARANTINE_RETENTION_DAYS, or pass --days or --quarantine-days"
        );
        return ExitCode::from(2);
    }
    let bar = spinner("purging");
    let result = storage
        .rights(&config, std::sync::Arc::new(SystemClock))
        .purge(policy, |so_far| {
            bar.set_message(format!(
                "purged {} leads and {} quarantined payloads so far",
                so_far.leads, so_far.quarantined
            ))
        })
        .await;
    bar.finish_and_clear();
    storage.close().await;
    match result {
        Ok(purged) => {
            println!(
                "purged {} leads and {} quarantined payloads",
                purged.leads, purged.quarantined
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("lead-inbox: the purge stopped: {}", report(&error));
            eprintln!("what was purged stays purged; run the same command again to finish");
            ExitCode::FAILURE
        }
    }
}

async fn replay_quarantine(config: Option<PathBuf>, ids: Vec<i64>, all: bool) -> ExitCode {
    let (config, storage) = match open_storage(config).await {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let clock: std::sync::Arc<dyn lead_inbox_application::Clock> = std::sync::Arc::new(SystemClock);
    // Replaying checks no webhook token: the payloads were authenticated on arrival.
    let tokens = std::sync::Arc::new(lead_inbox_auth_static::WebhookTokens::new(
        &config.webhook_tokens,
        None,
        clock.clone(),
    ));
    let intake = LeadIntake::new(
        storage.writer.clone(),
        storage.quarantine.clone(),
        tokens,
        clock,
    );
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} payloads {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = |total: u64, tally: &ReplayTally| {
        bar.set_length(total);
        bar.set_position(tally.done());
        bar.set_message(format!(
            "{} now leads, {} still refused",
            tally.stored, tally.still_refused
        ));
    };
    let result = if all {
        intake.replay_all(progress).await
    } else {
        let ids: Vec<QuarantineId> = ids.into_iter().map(QuarantineId).collect();
        intake.replay_each(&ids, progress).await
    };
    bar.finish_and_clear();
    storage.close().await;
    let (tally, failure) = match result {
        Ok(tally) => (tally, None),
        Err(stopped) => (stopped.so_far, Some(stopped.error)),
    };
    println!(
        "replayed: {} stored as leads (they left the quarantine), {} still refused (they stay), {} not found",
        tally.stored, tally.still_refused, tally.missing
    );
    match failure {
        Some(error) => {
            eprintln!("lead-inbox: the replay stopped: {}", report(&error));
            eprintln!("what was replayed stays; run the same command again to finish");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}

async fn migrate(config: Option<PathBuf>) -> ExitCode {
    match open_storage(config).await {
        Ok((_, storage)) => {
            storage.close().await;
            println!("migrations are up to date");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// What `tokens` and `api-keys` do, whichever the kind.
enum CredentialAction {
    Create {
        name: String,
        expires_at: Option<chrono::DateTime<chrono::FixedOffset>>,
        scopes: Vec<Scope>,
    },
    List,
    Revoke {
        id: i64,
    },
}

impl From<TokensCommand> for CredentialAction {
    fn from(command: TokensCommand) -> Self {
        match command {
            TokensCommand::Create { name, expires_at } => CredentialAction::Create {
                name,
                expires_at,
                scopes: Vec::new(),
            },
            TokensCommand::List => CredentialAction::List,
            TokensCommand::Revoke { id } => CredentialAction::Revoke { id },
        }
    }
}

impl From<ApiKeysCommand> for CredentialAction {
    fn from(command: ApiKeysCommand) -> Self {
        match command {
            ApiKeysCommand::Create {
                name,
                expires_at,
                scopes,
            } => CredentialAction::Create {
                name,
                expires_at,
                scopes: scopes.into_iter().map(Scope::from).collect(),
            },
            ApiKeysCommand::List => CredentialAction::List,
            ApiKeysCommand::Revoke { id } => CredentialAction::Revoke { id },
        }
    }
}

async fn credentials(
    config: Option<PathBuf>,
    kind: CredentialKind,
    action: CredentialAction,
) -> ExitCode {
    let storage = match open_storage(config).await {
        Ok((_, storage)) => storage,
        Err(code) => return code,
    };
    let credentials = CredentialManagement::new(
        storage.credentials.clone(),
        std::sync::Arc::new(SystemClock),
    );
    let now = credentials.now();
    let (what, hint) = match kind {
        CredentialKind::WebhookToken => ("token", "give it to CasaYes now"),
        CredentialKind::ApiKey => ("API key", "give it to the integrator now"),
    };
    let describe = |record: &CredentialRecord| {
        let status = if record.revoked_at.is_some() {
            "revoked"
        } else if record.is_valid_at(now) {
            "valid"
        } else {
            "expired"
        };
        let instant = |at: Option<chrono::DateTime<chrono::Utc>>| {
            at.map(|at| format_utc(&at)).unwrap_or_else(|| "-".into())
        };
        let scopes = if record.scopes.is_empty() {
            "-".to_owned()
        } else {
            scopes_to_text(&record.scopes)
        };
        format!(
            "{:<5} {:<8} {:<24} {:<16} {:<28} {:<28} {}",
            record.id,
            status,
            record.name,
            scopes,
            format_utc(&record.created_at),
            instant(record.expires_at),
            instant(record.revoked_at)
        )
    };
    let header = format!(
        "{:<5} {:<8} {:<24} {:<16} {:<28} {:<28} {}",
        "ID", "STATUS", "NAME", "SCOPES", "CREATED", "EXPIRES", "REVOKED"
    );
    let result = match action {
        CredentialAction::Create {
            name,
            expires_at,
            scopes,
        } => credentials
            .issue(
                kind,
                name,
                scopes,
                expires_at.map(|at| at.with_timezone(&chrono::Utc)),
            )
            .await
            .map(|issued| {
                println!("{}", issued.secret.expose_secret());
                eprintln!(
                    "The {what} {} is created. It is shown once: {hint}; only its hash is kept.",
                    issued.record.id
                );
                eprintln!("{header}\n{}", describe(&issued.record));
                ExitCode::SUCCESS
            }),
        CredentialAction::List => credentials.list(kind).await.map(|records| {
            println!("{header}");
            for record in &records {
                println!("{}", describe(record));
            }
            ExitCode::SUCCESS
        }),
        CredentialAction::Revoke { id } => {
            credentials
                .revoke(kind, id)
                .await
                .map(|record| match record {
                    Some(record) => {
                        println!("{header}\n{}", describe(&record));
                        ExitCode::SUCCESS
                    }
                    None => {
                        eprintln!("lead-inbox: no {what} has id {id}");
                        ExitCode::FAILURE
                    }
                })
        }
    };
    storage.close().await;
    result.unwrap_or_else(|error| {
        eprintln!("lead-inbox: {}", report(&error));
        ExitCode::FAILURE
    })
}

/// `text` safe to print on a terminal: control characters (escape sequences, carriage
/// returns, line breaks) and the bidirectional overrides that reorder what is shown
/// are written as `\u{..}` escapes, so that text someone else chose cannot rewrite
/// the screen or disguise itself.
pub fn terminal_safe(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    for c in text.chars() {
        let hostile = c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if hostile {
            safe.extend(c.escape_unicode());
        } else {
            safe.push(c);
        }
    }
    safe
}

/// One line of `destinations list`: every field safe for a terminal.
fn destination_line(destination: &Destination) -> String {
    let status = match destination.disabled {
        None => "enabled".to_owned(),
        Some(reason) => format!("disabled:{reason}"),
    };
    let events = destination
        .events
        .iter()
        .map(|kind| event_name(*kind))
        .collect::<Vec<_>>()
        .join(",");
    let mut target = lead_inbox_http::redact_destination_url(&destination.url);
    if let Some(subject) = &destination.subject {
        target.push_str(&format!(" {subject}"));
    }
    let types = destination
        .entity_types
        .as_ref()
        .map(|types| types.iter().cloned().collect::<Vec<_>>().join(","))
        .unwrap_or_else(|| "-".into());
    format!(
        "{:<5} {:<17} {:<8} {:<8} {:<26} {:<20} {} {}",
        destination.id.0,
        status,
        destination.kind.as_str(),
        destination.format.as_str(),
        events,
        terminal_safe(&types),
        terminal_safe(&target),
        terminal_safe(destination.description.as_deref().unwrap_or("")),
    )
}

const DESTINATION_HEADER: &str = "ID    STATUS            KIND     FORMAT   EVENTS                     ENTITY TYPES         URL DESCRIPTION";

/// Reads the CasaYes token from standard input: its first line, without the line end.
fn token_from_stdin() -> Result<lead_inbox_application::SecretString, ExitCode> {
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(_) if !line.trim().is_empty() => Ok(lead_inbox_application::SecretString::from(
            line.trim_end_matches(['\r', '\n']).to_owned(),
        )),
        Ok(_) => {
            eprintln!("lead-inbox: --casayes-token-stdin: standard input holds no token");
            Err(ExitCode::from(2))
        }
        Err(error) => {
            eprintln!("lead-inbox: --casayes-token-stdin: cannot read standard input: {error}");
            Err(ExitCode::from(2))
        }
    }
}

async fn destinations(config: Option<PathBuf>, command: DestinationsCommand) -> ExitCode {
    // Read before anything is opened, so that a missing token changes nothing.
    let token = match &command {
        DestinationsCommand::Add {
            casayes_token_stdin: true,
            ..
        } => match token_from_stdin() {
            Ok(token) => Some(token),
            Err(code) => return code,
        },
        _ => None,
    };
    let (config, storage) = match open_storage(config).await {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let clock: std::sync::Arc<dyn lead_inbox_application::Clock> = std::sync::Arc::new(SystemClock);
    let code = match storage.forwarding(&config, clock, EventSignal::new()) {
        Ok((manage, _)) => run_destinations(&manage, command, token).await,
        Err(error) => {
            eprintln!("lead-inbox: {}", report(&error));
            ExitCode::from(2)
        }
    };
    storage.close().await;
    code
}

/// A refused destination names the rule (exit 2); a storage failure is a runtime one.
fn destination_failure(error: &DestinationError) -> ExitCode {
    eprintln!(
        "lead-inbox: {} ({})",
        terminal_safe(&error.to_string()),
        error.rule()
    );
    match error {
        DestinationError::Storage(_) => ExitCode::FAILURE,
        _ => ExitCode::from(2),
    }
}

fn no_destination(id: i64) -> ExitCode {
    eprintln!("lead-inbox: no destination has id {id}");
    ExitCode::FAILURE
}

async fn run_destinations(
    manage: &Destinations,
    command: DestinationsCommand,
    casayes_token: Option<lead_inbox_application::SecretString>,
) -> ExitCode {
    match command {
        DestinationsCommand::Add {
            url,
            nats,
            subject,
            events,
            entity_types,
            format,
            description,
            max_in_flight,
            casayes_token_stdin: _,
        } => {
            let (kind, url) = match (url, nats) {
                (_, Some(nats)) => (DestinationKind::Nats, nats),
                (Some(url), None) => (DestinationKind::Webhook, url),
                (None, None) => unreachable!("clap requires --url or --nats"),
            };
            let request = DestinationRequest {
                kind: Some(kind),
                url,
                subject,
                events: (!events.is_empty()).then(|| events.into_iter().collect()),
                format,
                entity_types: (!entity_types.is_empty()).then(|| {
                    entity_types
                        .into_iter()
                        .map(|name| name.trim().to_owned())
                        .filter(|name| !name.is_empty())
                        .collect()
                }),
                description,
                max_in_flight,
                casayes_token,
            };
            match manage.create(request).await {
                Ok(made) => {
                    println!("{} {}", made.destination.id.0, made.secret.expose());
                    eprintln!(
                        "The destination {} is created; above are its id and its signing secret. \
                         The secret is shown once: give it to the receiver now, to verify signatures.",
                        made.destination.id.0
                    );
                    eprintln!(
                        "{DESTINATION_HEADER}\n{}",
                        destination_line(&made.destination)
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => destination_failure(&error),
            }
        }
        DestinationsCommand::List => match manage.list().await {
            Ok(list) => {
                println!("{DESTINATION_HEADER}");
                for destination in &list {
                    println!("{}", destination_line(destination));
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("lead-inbox: {}", report(&error));
                ExitCode::FAILURE
            }
        },
        DestinationsCommand::Disable { id } | DestinationsCommand::Enable { id } => {
            let enable = matches!(command, DestinationsCommand::Enable { .. });
            match manage.set_enabled(DestinationId(id), enable).await {
                Ok(Some(destination)) => {
                    println!("{DESTINATION_HEADER}\n{}", destination_line(&destination));
                    ExitCode::SUCCESS
                }
                Ok(None) => no_destination(id),
                Err(error) => destination_failure(&error),
            }
        }
        DestinationsCommand::Remove { id } => match manage.delete(DestinationId(id)).await {
            Ok(true) => {
                println!("destination {id} removed, with its deliveries");
                ExitCode::SUCCESS
            }
            Ok(false) => no_destination(id),
            Err(error) => {
                eprintln!("lead-inbox: {}", report(&error));
                ExitCode::FAILURE
            }
        },
        DestinationsCommand::RotateSecret { id } => {
            match manage.rotate_secret(DestinationId(id)).await {
                Ok(Some(rotated)) => {
                    println!("{}", rotated.secret.expose());
                    eprintln!(
                        "The destination {id} has a new signing secret, shown once; the previous \
                         one keeps signing beside it for 24 hours."
                    );
                    ExitCode::SUCCESS
                }
                Ok(None) => no_destination(id),
                Err(error) => {
                    eprintln!("lead-inbox: {}", report(&error));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn copy(config: Option<PathBuf>, from: &str, to: &str) -> ExitCode {
    let config = match load(config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if from.trim() == to.trim() {
        eprintln!("lead-inbox: --from and --to are the same store");
        return ExitCode::from(2);
    }
    let (source, target) =
        match tokio::try_join!(Storage::open(from, &config), Storage::open(to, &config)) {
            Ok(pair) => pair,
            Err(error) => {
                eprintln!("lead-inbox: {}", report(&error));
                return ExitCode::FAILURE;
            }
        };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} leads {per_sec} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let result = copy_store(&source.as_copy_side(), &target.as_copy_side(), &|report| {
        bar.set_length(report.leads_total);
        bar.set_position(
            report.leads_copied + report.leads_already_there + report.leads_erased_at_target,
        );
    })
    .await;
    bar.finish_and_clear();
    if let Err(error) = target.settle_after_bulk_load().await {
        eprintln!(
            "lead-inbox: settling the target after the copy (planner statistics, search index) failed ({error}); the database's background work and the server's search indexer will catch up"
        );
    }
    source.close().await;
    target.close().await;
    match result {
        Ok(report) => {
            println!(
                "copied {} leads ({} new, {} already there, {} erased at the target; {} with their work), {} erasure tombstones and {} quarantined payloads ({} new, {} already there)",
                report.leads_copied + report.leads_already_there + report.leads_erased_at_target,
                report.leads_copied,
                report.leads_already_there,
                report.leads_erased_at_target,
                report.worked_leads_copied,
                report.tombstones_copied,
                report.quarantined_copied + report.quarantined_already_there,
                report.quarantined_copied,
                report.quarantined_already_there,
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("lead-inbox: the copy stopped: {}", report(&error));
            eprintln!("what was copied stays; run the same command again to finish");
            ExitCode::FAILURE
        }
    }
}

/// The address `send-example` gives John Smith. The published example's
/// `SenderEmail` is the text `[email protected]`, what the page's e-mail hiding
/// left in place of the address: sent as it is, the lead would be stored with an
/// anomaly and John Smith would be a contact apart from his other leads. The verbatim
/// example stays a test of tolerance (`tests/tests/webhook.rs`).
pub const EXAMPLE_SENDER_EMAIL: &str = "john.smith@example.com";

/// The documentation's example with `reference` as its LeadReference (a fresh one of
/// the documented shape when `None`) and a plausible sender email.
pub fn example_payload(reference: Option<String>) -> serde_json::Value {
    let mut payload: serde_json::Value =
        serde_json::from_str(SPEC_EXAMPLE).unwrap_or_else(|_| unreachable!("the example is JSON"));
    let reference =
        reference.unwrap_or_else(|| format!("CY-Listing-A3bT7Y2xL6w-{}", uuid::Uuid::new_v4()));
    payload["LeadReference"] = serde_json::Value::String(reference);
    payload["SenderEmail"] = serde_json::Value::String(EXAMPLE_SENDER_EMAIL.to_owned());
    payload
}

async fn send_example(url: &str, token: &str, reference: Option<String>) -> ExitCode {
    let url = url.trim_end_matches('/');
    let url = if url.ends_with(WEBHOOK_PATH) {
        url.to_owned()
    } else {
        format!("{url}{WEBHOOK_PATH}")
    };
    let payload = example_payload(reference);
    let client = reqwest::Client::new();
    let response = client
        .post(&url)
        .header("token", token)
        .json(&payload)
        .send()
        .await;
    match response {
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            println!("POST {url}\n{status}\n{body}");
            if status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("lead-inbox: cannot post to {url}: {}", report(&error));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_sent_is_a_lead_without_anomalies() {
        let payload = example_payload(None);
        let bytes = serde_json::to_vec(&payload).expect("JSON");
        let lead = lead_inbox_domain::casayes::parse_payload(&bytes).expect("a lead");
        assert!(lead.anomalies.is_empty(), "{:?}", lead.anomalies);
        assert!(
            lead.reference
                .as_str()
                .starts_with("CY-Listing-A3bT7Y2xL6w-")
        );
        assert_eq!(
            lead.sender
                .email
                .as_ref()
                .and_then(|email| email.normalised()),
            Some(EXAMPLE_SENDER_EMAIL)
        );
    }

    #[test]
    fn hostile_text_is_escaped_for_the_terminal() {
        assert_eq!(terminal_safe("Our CRM"), "Our CRM");
        assert_eq!(
            terminal_safe("a\u{1b}[2Jb\r\nc\u{202e}d"),
            "a\\u{1b}[2Jb\\u{d}\\u{a}c\\u{202e}d"
        );
        assert_eq!(terminal_safe("João"), "João");
    }

    #[test]
    fn serve_help_lists_the_environment_variables() {
        let mut command = Cli::command_with_environment();
        let serve = command
            .find_subcommand_mut("serve")
            .expect("a serve command");
        let help = serve.render_help().to_string();
        for key in Config::keys() {
            let variable = crate::config::variable(key);
            assert!(
                help.contains(&format!("{variable}=")),
                "{variable} in {help}"
            );
        }
    }
}
