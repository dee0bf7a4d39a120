//! `aig-controlplane migrate`: create the database if needed and apply the embedded migrations.

use std::collections::HashSet;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migrate, MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Postgres};

use crate::error::Error;

/// The schema, compiled into the binary so a deployment needs no migrations folder.
static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// How long to wait for Postgres before giving up with a clear message instead of hanging.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Postgres's SQLSTATE for `create database` losing a race with another migrator.
const DUPLICATE_DATABASE: &str = "42P04";

/// Applies every pending migration to the database named by `database_url`, creating it first
/// if it does not exist, and prints one line per migration applied.
pub async fn run(database_url: &str) -> Result<(), Error> {
    let options = PgConnectOptions::from_str(database_url).map_err(Error::InvalidDatabaseUrl)?;
    let target = describe(&options);
    let database = options
        .get_database()
        .unwrap_or_else(|| options.get_username())
        .to_owned();

    let exists = bounded(&target, Postgres::database_exists(database_url))
        .await?
        .map_err(|source| Error::Connect {
            target: target.clone(),
            source,
        })?;
    if !exists {
        create_database(database_url, &database, &target).await?;
    }

    let mut conn: PgConnection = bounded(&target, options.connect())
        .await?
        .map_err(|source| Error::Connect {
            target: target.clone(),
            source,
        })?;
    let migrate_err = |source| Error::Migrate {
        target: target.clone(),
        source,
    };

    conn.ensure_migrations_table().await.map_err(migrate_err)?;
    let before = applied_versions(&mut conn).await.map_err(migrate_err)?;
    MIGRATOR.run_direct(&mut conn).await.map_err(migrate_err)?;
    let after = applied_versions(&mut conn).await.map_err(migrate_err)?;

    let mut count = 0;
    for migration in MIGRATOR.iter() {
        if after.contains(&migration.version) && !before.contains(&migration.version) {
            println!("applied {:04} {}", migration.version, migration.description);
            count += 1;
        }
    }
    println!(
        "{target}: {count} migration(s) applied, {} in total, schema up to date",
        after.len()
    );
    Ok(())
}

async fn create_database(database_url: &str, database: &str, target: &str) -> Result<(), Error> {
    match bounded(target, Postgres::create_database(database_url)).await? {
        Ok(()) => {
            println!("created database {database}");
            Ok(())
        }
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(DUPLICATE_DATABASE) => {
            Ok(())
        }
        Err(source) => Err(Error::CreateDatabase {
            database: database.to_owned(),
            target: target.to_owned(),
            source,
        }),
    }
}

async fn applied_versions(
    conn: &mut PgConnection,
) -> Result<HashSet<i64>, sqlx::migrate::MigrateError> {
    Ok(conn
        .list_applied_migrations()
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect())
}

/// Runs `fut` with the connect timeout, so an unreachable host fails instead of hanging.
async fn bounded<T>(target: &str, fut: impl Future<Output = T>) -> Result<T, Error> {
    tokio::time::timeout(CONNECT_TIMEOUT, fut)
        .await
        .map_err(|_| Error::ConnectTimeout {
            target: target.to_owned(),
            seconds: CONNECT_TIMEOUT.as_secs(),
        })
}

/// `user@host:port/database`, never the password, for messages.
fn describe(options: &PgConnectOptions) -> String {
    let host = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    format!(
        "{}@{}/{}",
        options.get_username(),
        host,
        options.get_database().unwrap_or(options.get_username())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describing_a_url_never_shows_its_password() {
        let options =
            PgConnectOptions::from_str("postgres://alice:s3cret@db.internal:6543/aig").unwrap();

        let described = describe(&options);

        assert_eq!(described, "alice@db.internal:6543/aig");
        assert!(!described.contains("s3cret"));
    }

    #[test]
    fn the_embedded_migrations_start_with_the_tenant_schema() {
        let first = MIGRATOR.iter().next().unwrap();

        assert_eq!(first.version, 1);
        assert!(first.sql.contains("create table tenant"));
    }
}
