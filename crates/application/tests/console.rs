//! The console's people over the in-memory store: sessions' idle timeout, form
//! tokens, and the slowing of failed sign-ins.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use lead_inbox_application::{
    Clock, ConsoleAccess, ExposeSecret, Role, SecretString, SignInError, Throttle, UserError,
    console::SESSION_PREFIX,
};

/// A clock the test moves.
struct Moving(Mutex<DateTime<Utc>>);

impl Clock for Moving {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("not poisoned")
    }
}

impl Moving {
    fn advance(&self, minutes: i64) {
        *self.0.lock().expect("not poisoned") += chrono::Duration::minutes(minutes);
    }
}

fn access(clock: Arc<Moving>) -> ConsoleAccess {
    let store = Arc::new(lead_inbox_storage_memory::InMemoryConsoleStore::new());
    ConsoleAccess::new(store.clone(), store, clock, Duration::from_secs(30 * 60)).with_throttle(
        Throttle {
            free: 2,
            base: Duration::from_millis(200),
            max: Duration::from_millis(200),
            forget: Duration::from_secs(60),
        },
    )
}

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

const PASSWORD: &str = "a long enough password";

/// Signs `username` in with the right password.
async fn sign_in(access: &ConsoleAccess, username: &str) -> lead_inbox_application::NewSession {
    access
        .sign_in(username, secret(PASSWORD))
        .await
        .expect("signed in")
}

#[tokio::test]
async fn a_session_ends_after_the_idle_timeout_and_activity_extends_it() {
    let clock = Arc::new(Moving(Mutex::new(Utc::now())));
    let access = access(clock.clone());
    access
        .create_user("Ana", Role::Agent, secret(PASSWORD))
        .await
        .expect("created");
    let session = sign_in(&access, "ana").await;
    assert!(session.token.expose_secret().starts_with(SESSION_PREFIX));
    clock.advance(29);
    let signed = access.session(&session.token).await.expect("read");
    assert_eq!(
        signed.map(|s| s.user.username.to_string()),
        Some("ana".into()),
        "29 idle minutes: still open, and now touched"
    );
    clock.advance(29);
    assert!(
        access
            .session(&session.token)
            .await
            .expect("read")
            .is_some()
    );
    clock.advance(30);
    assert!(
        access
            .session(&session.token)
            .await
            .expect("read")
            .is_none(),
        "30 idle minutes: ended"
    );
    clock.advance(-30);
    assert!(
        access
            .session(&session.token)
            .await
            .expect("read")
            .is_none(),
        "and revoked for good"
    );
}

#[tokio::test]
async fn form_tokens_are_the_sessions_own() {
    let clock = Arc::new(Moving(Mutex::new(Utc::now())));
    let access = access(clock);
    access
        .create_user("ana", Role::Agent, secret(PASSWORD))
        .await
        .expect("created");
    let one = sign_in(&access, "ana").await.signed_in;
    let two = sign_in(&access, "ana").await.signed_in;
    assert_eq!(one.form_token().len(), 64);
    assert!(one.check_form(one.form_token()).is_ok());
    assert!(one.check_form(two.form_token()).is_err());
    assert!(one.check_form("").is_err());
    assert!(one.admin().is_err(), "an agent is no admin");
}

#[tokio::test]
async fn failures_slow_that_username_only_and_never_lock_it_out() {
    let clock = Arc::new(Moving(Mutex::new(Utc::now())));
    let access = access(clock);
    for name in ["ana", "rui"] {
        access
            .create_user(name, Role::Agent, secret(PASSWORD))
            .await
            .expect("created");
    }
    for _ in 0..3 {
        assert!(matches!(
            access.sign_in("ana", secret("wrong password!!")).await,
            Err(SignInError::Refused)
        ));
    }
    let started = std::time::Instant::now();
    access
        .sign_in("rui", secret(PASSWORD))
        .await
        .expect("another user is not slowed");
    let other = started.elapsed();
    let started = std::time::Instant::now();
    access
        .sign_in("ana", secret(PASSWORD))
        .await
        .expect("the right password still works: no lock-out");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "ana's sign-in waited"
    );
    assert!(other < Duration::from_millis(200) + started.elapsed());
    assert!(matches!(
        access.create_user("x", Role::Agent, secret("short")).await,
        Err(UserError::ShortPassword)
    ));
}
