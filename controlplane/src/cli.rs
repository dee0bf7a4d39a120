//! Command-line arguments and what each command does: `migrate`, `serve`, `tenant create`,
//! `credit adjust`.

use crate::accounts::{self, NewTenant};
use crate::config::{Config, LogFormat};
use crate::error::Error;
use crate::state::AppState;
use crate::{db, migrate, serve, telemetry, view};
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
    /// Correct tenants' credit.
    #[command(subcommand)]
    Credit(CreditCommand),
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

#[derive(Debug, Subcommand)]
pub enum CreditCommand {
    /// Credit (positive) or debit (negative) a tenant with a reason, as an `adjustment` ledger
    /// entry that moves its balance at once; prints `entry: <uuid>` (or
    /// `entry: already applied` when the idempotency key was used before) and
    /// `balance: $X.YZ`.
    Adjust(CreditAdjustArgs),
}

#[derive(Debug, Args)]
pub struct CreditAdjustArgs {
    /// The tenant's id.
    #[arg(long)]
    pub tenant: uuid::Uuid,
    /// Signed amount in US cents: 500 credits $5.00, -500 debits it.
    #[arg(long, allow_negative_numbers = true)]
    pub cents: i64,
    /// Why (kept on the ledger entry, shown to the tenant); required.
    #[arg(long)]
    pub reason: String,
    /// Makes a retried command apply once: the same key never adjusts twice.
    #[arg(long)]
    pub key: Option<String>,
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
        Command::Credit(CreditCommand::Adjust(args)) => {
            let config = Config::from_env()?;
            telemetry::init(config.log_format);
            adjust_credit(config, args).await
        }
    }
}

async fn adjust_credit(config: Config, args: CreditAdjustArgs) -> Result<(), Error> {
    let state = AppState::connect(config).await?;
    let key = accounts::adjustment_key(args.key.as_deref())?;
    let entry =
        accounts::adjust_credit_keyed(&state, args.tenant, args.cents, &args.reason, &key).await?;
    let balance = db::ledger_entry::balance(state.db(), args.tenant).await?;
    match entry {
        Some(id) => println!("entry: {id}"),
        None => println!("entry: already applied"),
    }
    println!("balance: {}", view::usd(balance));
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_adjust_takes_a_signed_amount_a_reason_and_an_optional_key() {
        let tenant = "0190c0de-0000-7000-8000-000000000001";
        let cli = Cli::try_parse_from([
            "aig-controlplane",
            "credit",
            "adjust",
            "--tenant",
            tenant,
            "--cents",
            "-250",
            "--reason",
            "refund of a duplicate charge",
            "--key",
            "ticket-42",
        ])
        .unwrap();
        let Command::Credit(CreditCommand::Adjust(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.tenant.to_string(), tenant);
        assert_eq!(args.cents, -250);
        assert_eq!(args.reason, "refund of a duplicate charge");
        assert_eq!(args.key.as_deref(), Some("ticket-42"));

        let no_reason = Cli::try_parse_from([
            "aig-controlplane",
            "credit",
            "adjust",
            "--tenant",
            tenant,
            "--cents",
            "100",
        ]);
        assert!(no_reason.is_err(), "--reason is required");
        let bad_tenant = Cli::try_parse_from([
            "aig-controlplane",
            "credit",
            "adjust",
            "--tenant",
            "acme",
            "--cents",
            "100",
            "--reason",
            "x",
        ]);
        assert!(bad_tenant.is_err());
    }
}
