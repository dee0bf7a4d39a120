//! Command-line arguments: subcommands and the environment variables behind their options.

use clap::{Args, Parser, Subcommand};

/// AIgateway's control plane.
#[derive(Debug, Parser)]
#[command(name = "aig-controlplane", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database if it is missing and apply the pending migrations.
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Postgres to migrate; the database in the URL is created if it does not exist.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://localhost/aig",
        hide_env_values = true
    )]
    pub database_url: String,
}
