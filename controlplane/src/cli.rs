//! Command-line arguments and what each command does: `migrate`, `serve`, `tenant create`.

use crate::accounts::{self, NewTenant};
use crate::config::{Config, LogFormat};
use crate::error::Error;
use crate::state::AppState;
use crate::{migrate, serve, telemetry};
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

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
    /// Serve the management API, publish to Redis and ingest usage until a signal.
    Serve(ServeArgs),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
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

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Development mode: without AIG_JWT_SECRET, sign sessions with a well-known insecure key.
    #[arg(long)]
    pub dev: bool,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant with its owner, trial credit and first key; prints `tenant: <uuid>`
    /// and `key: sk-aig-…` on stdout (the key is shown this once).
    Create(TenantCreateArgs),
}

#[derive(Debug, Args)]
pub struct TenantCreateArgs {
    /// Organisation name.
    #[arg(long)]
    pub org: String,
    /// The owner's email (unique, whatever its case).
    #[arg(long)]
    pub email: String,
    /// The owner's password; without it the owner cannot sign in with a password.
    #[arg(long, hide_default_value = true)]
    pub password: Option<String>,
    /// Make the owner a platform administrator.
    #[arg(long)]
    pub admin: bool,
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Migrate(args) => {
            telemetry::init(LogFormat::Human);
            migrate::run(&args.database_url).await
        }
        Command::Serve(args) => {
            let config = Config::from_env()?;
            telemetry::init(config.log_format);
            serve::run(config, args.dev).await
        }
        Command::Tenant(TenantCommand::Create(args)) => {
            let config = Config::from_env()?;
            telemetry::init(config.log_format);
            create_tenant(config, args).await
        }
    }
}

async fn create_tenant(config: Config, args: TenantCreateArgs) -> Result<(), Error> {
    let state = AppState::connect(config).await?;
    let created = accounts::create_tenant(
        &state,
        NewTenant {
            org: args.org,
            email: args.email,
            password: args.password.map(SecretString::from),
            platform_admin: args.admin,
        },
    )
    .await?;
    if !created.published {
        eprintln!(
            "aig-controlplane: warning: the tenant is not yet published to Redis; a running \
             `aig-controlplane serve` publishes it within 30 s"
        );
    }
    println!("tenant: {}", created.tenant_id);
    println!("key: {}", created.key.expose());
    Ok(())
}
