//! Logs: `LEAD_INBOX_LOG` (a filter in `RUST_LOG` syntax, default `info`) and
//! `LEAD_INBOX_LOG_FORMAT` (`pretty`, the default, coloured on a terminal only, or
//! `json`). Logs carry no secret and
//! no lead content: the code logs ids, codes and counts only.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt};

/// The default filter: our own logs at `info`, the database drivers quieter (their
/// statements would carry lead contents at `debug`).
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn";

pub fn init() {
    let filter = std::env::var("LEAD_INBOX_LOG").unwrap_or_else(|_| DEFAULT_FILTER.to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|error| {
        eprintln!("LEAD_INBOX_LOG is not a valid filter ({error}); using {DEFAULT_FILTER}");
        EnvFilter::new(DEFAULT_FILTER)
    });
    let json = std::env::var("LEAD_INBOX_LOG_FORMAT")
        .is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    // Colours only on a terminal: in a file or a pipe, ANSI escapes are noise.
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if result.is_err() {
        // Already initialised (tests): keep the first subscriber.
    }
}
