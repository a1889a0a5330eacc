//! The web console's people: users with a role, their passwords (argon2id), and their
//! server-side sessions (`lead-inbox users …`, `/inbox/login`).
//!
//! Only hashes are stored: a password as an argon2id PHC string, a session token as its
//! SHA-256. A session ends when it is revoked (sign-out, the user disabled or given a
//! new password) or after `idle` without a request.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::{Clock, SecretHash, StorageError, generate_secret};

/// What a console user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Reads and works leads.
    Agent,
    /// Also the quarantine, users, webhook tokens, API keys and a person's data.
    Admin,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Agent, Role::Admin];

    pub fn code(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }

    pub fn from_code(code: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|role| role.code() == code)
    }
}

/// A user's name: 1 to 64 of `a-z 0-9 . _ @ -`, kept lower-case, so that `Ana` and
/// `ana` are one user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a username is 1 to 64 characters of a-z, 0-9, '.', '_', '@' and '-' (for example ana.silva)"
)]
pub struct BadUsername;

impl Username {
    pub fn parse(text: &str) -> Result<Username, BadUsername> {
        let name = text.trim().to_ascii_lowercase();
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_@".contains(c);
        if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
            return Err(BadUsername);
        }
        Ok(Username(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A console user, without the password's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub username: Username,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// Set once the user is disabled: they can no longer sign in.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// An argon2id hash in PHC form (`$argon2id$v=19$…`), as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// A user to record.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub role: Role,
    pub password: PasswordHash,
    pub created_at: DateTime<Utc>,
}

/// Console users.
///
/// Contract, for every adapter:
/// - `create` stores a user and returns its record (ids increase), or `Ok(None)` when
///   the username is taken (nothing changes).
/// - `list` returns every user, disabled ones too, by username.
/// - `find` returns the user with that name and their password's hash; `get` the user
///   with that id; `Ok(None)` when there is none.
/// - `disable` marks the user disabled at `at` (disabling twice keeps the first time)
///   and returns them; `set_password` replaces the hash and returns the user. Both
///   return `Ok(None)` for an unknown name.
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create(&self, user: NewUser) -> Result<Option<UserRecord>, StorageError>;

    async fn list(&self) -> Result<Vec<UserRecord>, StorageError>;

    async fn find(
        &self,
        username: &Username,
    ) -> Result<Option<(UserRecord, PasswordHash)>, StorageError>;

    async fn get(&self, id: i64) -> Result<Option<UserRecord>, StorageError>;

    async fn disable(
        &self,
        username: &Username,
        at: DateTime<Utc>,
    ) -> Result<Option<UserRecord>, StorageError>;

    async fn set_password(
        &self,
        username: &Username,
        password: PasswordHash,
    ) -> Result<Option<UserRecord>, StorageError>;
}

/// A console session, as stored (its token only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: i64,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// Console sessions, kept server-side.
///
/// Contract, for every adapter:
/// - `create` stores a session of `user_id` whose token has `hash`, seen at `at`.
/// - `find` returns the session with that token hash unless it was revoked.
/// - `touch` sets its last-seen time to `at` (never earlier than it was).
/// - `revoke` revokes the session with that hash; `revoke_user` every session of a user,
///   returning how many were still open. A revoked session is never found again, by
///   any instance sharing the store.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create(
        &self,
        user_id: i64,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<SessionRecord, StorageError>;

    async fn find(&self, hash: &SecretHash) -> Result<Option<SessionRecord>, StorageError>;

    async fn touch(&self, id: i64, at: DateTime<Utc>) -> Result<(), StorageError>;

    async fn revoke(&self, hash: &SecretHash, at: DateTime<Utc>) -> Result<(), StorageError>;

    async fn revoke_user(&self, user_id: i64, at: DateTime<Utc>) -> Result<u64, StorageError>;
}

/// Why a user could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(transparent)]
    BadUsername(#[from] BadUsername),
    #[error("a password has at least {MIN_PASSWORD_CHARS} characters")]
    ShortPassword,
    #[error("a user named {0} exists already")]
    Taken(Username),
    #[error("no user is named {0}")]
    Unknown(Username),
    #[error("cannot hash the password")]
    Hashing(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a sign-in failed. `Refused` never says whether the name or the password was
/// wrong.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the username or the password is wrong")]
    Refused,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// What a session token starts with, so that a leaked one says what it is.
pub const SESSION_PREFIX: &str = "lis_";

/// A signed-in user: what every console page is served to.
#[derive(Clone)]
pub struct SignedIn {
    pub user: UserRecord,
    pub session_id: i64,
    /// The form token of this session (see [`SignedIn::check_form`]).
    csrf: String,
}

impl fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedIn")
            .field("user", &self.user)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// Proof that a form came with its session's token: what every change needs. Only
/// [`SignedIn::check_form`] makes one, so no handler can change anything before the
/// check.
#[derive(Debug, Clone)]
pub struct CheckedForm<'a> {
    pub by: &'a SignedIn,
}

/// Proof that the signed-in user is an admin.
#[derive(Debug, Clone, Copy)]
pub struct AdminOnly<'a> {
    pub by: &'a SignedIn,
}

/// The form token was missing or not this session's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the form's token is missing or not this session's")]
pub struct BadFormToken;

/// The signed-in user is no admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this needs the admin role")]
pub struct NotAdmin;

impl SignedIn {
    /// The token each form carries: the SHA-256 of the session's token, with a label.
    /// Another site cannot read it; a request without it changes nothing.
    pub fn form_token(&self) -> &str {
        &self.csrf
    }

    /// Checks a form's token against this session's, in constant time.
    pub fn check_form(&self, submitted: &str) -> Result<CheckedForm<'_>, BadFormToken> {
        use subtle::ConstantTimeEq;
        let equal: bool = self.csrf.as_bytes().ct_eq(submitted.as_bytes()).into();
        if equal && !submitted.is_empty() {
            Ok(CheckedForm { by: self })
        } else {
            Err(BadFormToken)
        }
    }

    pub fn admin(&self) -> Result<AdminOnly<'_>, NotAdmin> {
        match self.user.role {
            Role::Admin => Ok(AdminOnly { by: self }),
            Role::Agent => Err(NotAdmin),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }
}

fn form_token_of(token: &SecretString) -> String {
    let digest = Sha256::new()
        .chain_update(b"lead-inbox console form token\0")
        .chain_update(token.expose_secret().as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new session: its token, for the cookie only, and who it is.
pub struct NewSession {
    pub token: SecretString,
    pub signed_in: SignedIn,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("signed_in", &self.signed_in)
            .finish_non_exhaustive()
    }
}

/// Failed sign-ins of one username: how many in a row, and the last one's time.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: DateTime<Utc>,
}

/// How failed sign-ins are slowed, per username: the first [`Throttle::free`] answer at
/// once, each further one waits twice as long as the one before, from `base` up to
/// `max`; a sign-in that succeeds, or `forget` without a failure, starts over. Other
/// usernames (and the API) never wait for one that is attacked.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    pub free: u32,
    pub base: Duration,
    pub max: Duration,
    pub forget: Duration,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            free: 3,
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
            forget: Duration::from_secs(15 * 60),
        }
    }
}

impl Throttle {
    /// How long a sign-in waits after `failures` failures in a row.
    pub fn delay(&self, failures: u32) -> Duration {
        if failures < self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free).min(16);
        (self.base * 2u32.pow(doublings)).min(self.max)
    }
}

/// The use cases of the console's people: users (`lead-inbox users …`, the admin
/// page), sign-in with sessions, and sign-out.
#[derive(Clone)]
pub struct ConsoleAccess {
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    idle: Duration,
    throttle: Throttle,
    failures: Arc<Mutex<HashMap<Username, Failures>>>,
}

impl fmt::Debug for ConsoleAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleAccess")
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

/// The most usernames whose failures are remembered; past it the oldest are forgotten,
/// so that guessing many names cannot grow memory without bound.
const REMEMBERED_USERNAMES: usize = 10_000;

impl ConsoleAccess {
    pub fn new(
        users: Arc<dyn UserStore>,
        sessions: Arc<dyn SessionStore>,
        clock: Arc<dyn Clock>,
        idle: Duration,
    ) -> Self {
        ConsoleAccess {
            users,
            sessions,
            clock,
            idle,
            throttle: Throttle::default(),
            failures: Arc::default(),
        }
    }

    /// The same, with another way of slowing failed sign-ins (for tests).
    pub fn with_throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    /// How long a session lasts without a request.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Creates a user with `role` and `password` (hashed with argon2id).
    pub async fn create_user(
        &self,
        username: &str,
        role: Role,
        password: SecretString,
    ) -> Result<UserRecord, UserError> {
        let username = Username::parse(username)?;
        let password = hash_password(password).await?;
        self.users
            .create(NewUser {
                username: username.clone(),
                role,
                password,
                created_at: self.clock.now(),
            })
            .await?
            .ok_or(UserError::Taken(username))
    }

    /// Every user, disabled ones too, by username.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StorageError> {
        self.users.list().await
    }

    /// Disables a user and ends their sessions.
    pub async fn disable_user(&self, username: &str) -> Result<UserRecord, UserError> {
        let username = Username::parse(username)?;
        let now = self.clock.now();
        let user = self
            .users
            .disable(&username, now)
            .await?
            .ok_or(UserError::Unknown(username))?;
        self.sessions.revoke_user(user.id, now).await?;
        Ok(user)
    }

    /// Gives a user a new password and ends their sessions.
    pub async fn reset_password(
        &self,
        username: &str,
        password: SecretString,
    ) -> Result<UserRecord, UserError> {
        let username = Username::parse(username)?;
        let password = hash_password(password).await?;
        let user = self
            .users
            .set_password(&username, password)
            .await?
            .ok_or(UserError::Unknown(username))?;
        self.sessions.revoke_user(user.id, self.clock.now()).await?;
        Ok(user)
    }

    /// Signs a user in: a new session when the name and password match an enabled
    /// user. Repeated failures for one name wait longer each time (see [`Throttle`]).
    pub async fn sign_in(
        &self,
        username: &str,
        password: SecretString,
    ) -> Result<NewSession, SignInError> {
        let username = Username::parse(username).ok();
        if let Some(name) = &username {
            let wait = self.wait_for(name);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let found = match &username {
            Some(name) => self.users.find(name).await?,
            None => None,
        };
        let (user, hash) = match found {
            Some((user, hash)) if user.disabled_at.is_none() => (user, Some(hash)),
            _ => {
                // The same work as for a real user, so that the time taken does not
                // tell which names exist.
                let _ = verify_password(password, None).await;
                if let Some(name) = username {
                    self.failed(name);
                }
                return Err(SignInError::Refused);
            }
        };
        if !verify_password(password, hash).await {
            self.failed(user.username);
            return Err(SignInError::Refused);
        }
        self.succeeded(&user.username);
        let token = generate_secret(SESSION_PREFIX)?;
        let session = self
            .sessions
            .create(user.id, &SecretHash::of(&token), self.clock.now())
            .await?;
        let csrf = form_token_of(&token);
        Ok(NewSession {
            token,
            signed_in: SignedIn {
                user,
                session_id: session.id,
                csrf,
            },
        })
    }

    /// Who holds `token`: `None` when it is no session, a revoked one, one idle for
    /// longer than the timeout (revoked now), or a disabled user's. Each use counts as
    /// activity.
    pub async fn session(&self, token: &SecretString) -> Result<Option<SignedIn>, StorageError> {
        if !token.expose_secret().starts_with(SESSION_PREFIX) {
            return Ok(None);
        }
        let hash = SecretHash::of(token);
        let Some(session) = self.sessions.find(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let idle = chrono::Duration::from_std(self.idle).unwrap_or(chrono::Duration::MAX);
        if now - session.last_seen_at >= idle {
            self.sessions.revoke(&hash, now).await?;
            return Ok(None);
        }
        let Some(user) = self.users.get(session.user_id).await? else {
            return Ok(None);
        };
        if user.disabled_at.is_some() {
            return Ok(None);
        }
        // One write a second at most per session, not one per request.
        if now - session.last_seen_at >= chrono::Duration::seconds(1) {
            self.sessions.touch(session.id, now).await?;
        }
        Ok(Some(SignedIn {
            user,
            session_id: session.id,
            csrf: form_token_of(token),
        }))
    }

    /// Ends the session of `token` (signing out); nothing when there is none.
    pub async fn sign_out(&self, token: &SecretString) -> Result<(), StorageError> {
        self.sessions
            .revoke(&SecretHash::of(token), self.clock.now())
            .await
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<Username, Failures>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wait_for(&self, username: &Username) -> Duration {
        let now = self.clock.now();
        let forget = chrono::Duration::from_std(self.throttle.forget).unwrap_or_default();
        match self.failures().get(username) {
            Some(failures) if now - failures.last < forget => self.throttle.delay(failures.count),
            _ => Duration::ZERO,
        }
    }

    fn failed(&self, username: Username) {
        let now = self.clock.now();
        let forget = chrono::Duration::from_std(self.throttle.forget).unwrap_or_default();
        let mut failures = self.failures();
        if failures.len() >= REMEMBERED_USERNAMES {
            failures.retain(|_, f| now - f.last < forget);
        }
        if failures.len() >= REMEMBERED_USERNAMES {
            return;
        }
        let entry = failures.entry(username).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now - entry.last >= forget {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = now;
    }

    fn succeeded(&self, username: &Username) {
        self.failures().remove(username);
    }
}

/// Hashes a password with argon2id (the crate's default parameters: 19 MiB, 2 passes,
/// as OWASP recommends), on a blocking thread: it takes tens of milliseconds.
async fn hash_password(password: SecretString) -> Result<PasswordHash, UserError> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserError::ShortPassword);
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|error| UserError::Hashing(error.to_string()))?;
    tokio::task::spawn_blocking(move || {
        use argon2::{PasswordHasher, password_hash::SaltString};
        let salt = SaltString::encode_b64(&salt).map_err(|e| UserError::Hashing(e.to_string()))?;
        argon2::Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|hash| PasswordHash(hash.to_string()))
            .map_err(|e| UserError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| UserError::Hashing(e.to_string()))?
}

/// A hash of no password, verified against when there is no user, so that an unknown
/// name costs the same time as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        use argon2::{PasswordHasher, password_hash::SaltString};
        let salt = SaltString::encode_b64(b"lead-inbox-decoy").expect("16 bytes encode");
        argon2::Argon2::default()
            .hash_password(b"no user has this password", &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

/// Whether `password` matches `hash` (the decoy when `None`: always false).
async fn verify_password(password: SecretString, hash: Option<PasswordHash>) -> bool {
    tokio::task::spawn_blocking(move || {
        use argon2::PasswordVerifier;
        let real = hash.is_some();
        let text = hash.map(|h| h.0).unwrap_or_else(|| decoy_hash().to_owned());
        let Ok(parsed) = argon2::password_hash::PasswordHash::new(&text) else {
            return false;
        };
        let matches = argon2::Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        real && matches
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lower_case_and_plain() {
        assert_eq!(
            Username::parse(" Ana.Silva ").unwrap().as_str(),
            "ana.silva"
        );
        assert!(Username::parse("").is_err());
        assert!(Username::parse("ana silva").is_err());
        assert!(Username::parse("<script>").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn failures_wait_longer_each_time_up_to_the_maximum() {
        let throttle = Throttle::default();
        assert_eq!(throttle.delay(0), Duration::ZERO);
        assert_eq!(throttle.delay(2), Duration::ZERO);
        assert_eq!(throttle.delay(3), Duration::from_millis(500));
        assert_eq!(throttle.delay(4), Duration::from_secs(1));
        assert_eq!(throttle.delay(100), Duration::from_secs(30));
    }

    #[test]
    fn roles_round_trip_through_codes() {
        for role in Role::ALL {
            assert_eq!(Role::from_code(role.code()), Some(role));
        }
        assert_eq!(Role::from_code("root"), None);
    }
}
