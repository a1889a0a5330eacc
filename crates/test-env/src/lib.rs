//! The one gate for tests that need an outside service named by an environment
//! variable (`LEAD_INBOX_TEST_POSTGRES_URL`, `LEAD_INBOX_TEST_MYSQL_URL`, and any
//! added later, such as NATS or a browser).
//!
//! Locally, a test whose variable is unset is skipped, with a line saying so. In CI
//! (the `CI` variable is set, as CI services and `.ci/run` do), an unset variable fails
//! the test instead: a CI script that lost a variable would otherwise pass whole suites
//! with nothing run.
//!
//! A small crate of its own so that every crate's tests can use it: the end-to-end
//! tests (`lead-inbox-tests`) and the storage adapter's unit tests alike.

/// The variable that says the tests run in CI, where nothing may be skipped.
pub const CI_ENV: &str = "CI";

/// The value of `var` for the test `what`: `Some` when it is set (and not blank);
/// `None` when it is not and the test may be skipped (a `SKIPPED` line is written to
/// stderr). Panics when it is not set but [`CI_ENV`] is.
pub fn required_in_ci(var: &str, what: &str) -> Option<String> {
    gate(
        var,
        what,
        std::env::var(var).ok(),
        std::env::var_os(CI_ENV).is_some_and(|ci| !ci.is_empty()),
    )
}

fn gate(var: &str, what: &str, value: Option<String>, in_ci: bool) -> Option<String> {
    match value {
        Some(value) if !value.trim().is_empty() => Some(value),
        _ if in_ci => panic!(
            "{var} is not set, and {CI_ENV} is: {what} must run in CI, not be skipped \
             (set {var}, as .ci/run does)"
        ),
        _ => {
            // Written to the process's stderr directly, past the test harness's
            // capture, so that a skip is visible in a plain `cargo test` run.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED {what}: set {var} to run it");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_variable_is_used() {
        assert_eq!(
            gate("V", "t", Some("postgres://x".into()), true).as_deref(),
            Some("postgres://x")
        );
        assert_eq!(
            gate("V", "t", Some("postgres://x".into()), false).as_deref(),
            Some("postgres://x")
        );
    }

    #[test]
    fn an_unset_or_blank_variable_skips_outside_ci() {
        assert_eq!(gate("V", "t", None, false), None);
        assert_eq!(gate("V", "t", Some("  ".into()), false), None);
    }

    #[test]
    #[should_panic(expected = "V is not set, and CI is: t must run in CI")]
    fn an_unset_variable_fails_in_ci() {
        gate("V", "t", None, true);
    }

    #[test]
    #[should_panic(expected = "V is not set, and CI is")]
    fn a_blank_variable_fails_in_ci() {
        gate("V", "t", Some(String::new()), true);
    }
}
