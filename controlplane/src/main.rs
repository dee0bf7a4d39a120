//! `aig-controlplane`: the control plane's command line (for now, `migrate`).

mod cli;
mod error;
mod migrate;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();

    let result = match cli.command {
        Command::Migrate(args) => migrate::run(&args.database_url).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("aig-controlplane: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr so stdout carries only what a command prints for scripts.
fn init_tracing() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
