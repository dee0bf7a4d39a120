//! `aig-controlplane` run as a process, as scripts and operators run it.
#![expect(
    clippy::expect_used,
    reason = "test helpers: a process that cannot run fails the test"
)]

use aig_controlplane::auth::password;
use secrecy::SecretString;
use sqlx::PgPool;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_aig-controlplane");

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `DATABASE_URL` pointed at the test's own database.
fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("sqlx::test needs DATABASE_URL");
    let mut url = url::Url::parse(&base).expect("DATABASE_URL parses");
    url.set_path(
        pool.connect_options()
            .get_database()
            .expect("a test database"),
    );
    url.to_string()
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("AIG_JWT_SECRET")
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("aig-controlplane runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[sqlx::test(migrations = "../migrations")]
async fn tenant_create_prints_the_tenant_and_its_key_and_publishes_them(pool: PgPool) {
    let prefix = format!("aigtest:{}:", uuid::Uuid::new_v4().simple());
    let db = database_url(&pool);
    let env = [
        ("DATABASE_URL", db.as_str()),
        ("AIG_REDIS_PREFIX", prefix.as_str()),
        ("AIG_TRIAL_CREDIT_CENTS", "500"),
    ];

    let out = run(
        &[
            "tenant",
            "create",
            "--org",
            "Acme Corp",
            "--email",
            "Owner@Acme.test",
            "--password",
            "correct horse",
            "--admin",
        ],
        &env,
    );

    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    let tenant_id: uuid::Uuid = lines[0]
        .strip_prefix("tenant: ")
        .expect("a tenant: line")
        .parse()
        .expect("a uuid");
    let key = lines[1].strip_prefix("key: ").expect("a key: line");
    let key = aig_common::api_key::ApiKey::parse(key).expect("an sk-aig- key");

    let (name, status): (String, String) =
        sqlx::query_as("select name, status from tenant where id = $1")
            .bind(tenant_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((name.as_str(), status.as_str()), ("Acme Corp", "active"));
    let (role, admin, hash): (String, bool, String) = sqlx::query_as(
        "select role, is_platform_admin, password_hash from app_user where tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(role, "owner");
    assert!(admin);
    assert!(password::verify(SecretString::from("correct horse"), hash)
        .await
        .unwrap());
    let (kind, amount): (String, i64) =
        sqlx::query_as("select kind, amount_micros from ledger_entry where tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((kind.as_str(), amount), ("trial_credit", 5_000_000));
    let stored: String = sqlx::query_scalar("select key_hash from api_key where tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, key.hash().as_str(), "only the hash is stored");

    let keys = aig_common::redis_keys::RedisKeys::new(prefix.clone());
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let record: String = redis::cmd("GET")
        .arg(keys.api_key(&key.hash()))
        .query_async(&mut redis)
        .await
        .unwrap();
    let record: aig_common::key_record::KeyRecord = serde_json::from_str(&record).unwrap();
    assert_eq!(record.tenant_id, tenant_id.to_string());
    assert!(!record.revoked);
    let balance: i64 = redis::cmd("HGET")
        .arg(keys.tenant(&tenant_id.to_string()))
        .arg("balance_micros")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(balance, 5_000_000);

    // The same email again, whatever its case, is refused and creates nothing.
    let again = run(
        &[
            "tenant",
            "create",
            "--org",
            "Other",
            "--email",
            "owner@acme.test",
        ],
        &env,
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(stdout(&again), "");
    let tenants: i64 = sqlx::query_scalar("select count(*) from tenant")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tenants, 1);

    let names: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(names)
        .query_async(&mut redis)
        .await
        .unwrap();
}

#[test]
fn serve_refuses_to_start_without_a_jwt_secret_unless_dev() {
    let out = run(&["serve"], &[]);

    assert!(!out.status.success());
    assert!(stderr(&out).contains("AIG_JWT_SECRET"), "{}", stderr(&out));
}

#[test]
fn a_bad_variable_stops_start_up_naming_it() {
    for (var, value) in [
        ("AIG_TRIAL_CREDIT_CENTS", "lots"),
        ("AIG_CONTROLPLANE_ADDR", "nowhere"),
        ("REDIS_URL", "http://x"),
    ] {
        let out = run(&["serve", "--dev"], &[(var, value)]);

        assert!(!out.status.success(), "{var}");
        assert!(stderr(&out).contains(var), "{var}: {}", stderr(&out));
    }
}
