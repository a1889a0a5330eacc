use std::process::ExitCode;

use lead_inbox_server::{cli, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse_args();
    telemetry::init();
    cli::run(cli).await
}
