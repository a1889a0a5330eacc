use std::process::ExitCode;

use clap::Parser;
use lead_inbox_server::{cli, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    telemetry::init();
    cli::run(cli).await
}
