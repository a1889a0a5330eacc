//! Lead Inbox's composition root and command line. Only this crate reads
//! configuration; it builds the adapters and hands them to the use cases.

pub mod app;
#[cfg(feature = "benchmark-ceiling")]
pub mod ceiling;
pub mod cli;
pub mod config;
pub mod telemetry;
pub mod tls;

pub use app::{Application, StartError, Storage};
pub use config::Config;
