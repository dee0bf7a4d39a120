//! `aig-controlplane`: parse the command line and run it (`migrate`, `serve`,
//! `tenant create`); stdout carries only what a command prints for scripts.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = aig_controlplane::cli::Cli::parse();
    match aig_controlplane::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("aig-controlplane: error: {err}");
            ExitCode::FAILURE
        }
    }
}
