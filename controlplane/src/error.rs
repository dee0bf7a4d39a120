//! The control plane's error type.

/// Everything that can stop a control plane command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("DATABASE_URL is not a usable Postgres URL: {0}")]
    InvalidDatabaseUrl(#[source] sqlx::Error),

    #[error("could not connect to Postgres at {target} (DATABASE_URL): {source}")]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("timed out after {seconds}s connecting to Postgres at {target} (DATABASE_URL)")]
    ConnectTimeout { target: String, seconds: u64 },

    #[error("could not create database {database} on {target}: {source}")]
    CreateDatabase {
        database: String,
        target: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("migration failed on {target}: {source}")]
    Migrate {
        target: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}
