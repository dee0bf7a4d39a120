//! `aig-dev-seed`: publishes a demo tenant's API key to Redis for the dev stack and the SDK
//! tests, until the control plane issues keys. Prints `tenant:` and `key:` lines.

use aig_common::redis_keys::RedisKeys;
use clap::Parser;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Publish a demo tenant's sk-aig- key to Redis")]
struct Args {
    /// Redis to write to.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Key prefix the data plane uses (AIG_REDIS_PREFIX).
    #[arg(long, env = "AIG_REDIS_PREFIX", default_value = RedisKeys::DEFAULT_PREFIX)]
    prefix: String,
    /// Organisation name, for the record.
    #[arg(long, default_value = "Demo")]
    org: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let client = match redis::Client::open(args.redis_url.as_str()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aig-dev-seed: REDIS_URL {:?}: {e}", args.redis_url);
            return ExitCode::from(2);
        }
    };
    let mut redis = match client.get_connection_manager().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("aig-dev-seed: cannot connect to Redis: {e}");
            return ExitCode::FAILURE;
        }
    };
    let keys = RedisKeys::new(args.prefix);
    let tenant_id = uuid::Uuid::new_v4().to_string();
    match aig_tests::seed::publish_new_key(&mut redis, &keys, &tenant_id, None).await {
        Ok(key) => {
            eprintln!(
                "aig-dev-seed: published a key for organisation {:?}",
                args.org
            );
            println!("tenant: {tenant_id}");
            println!("key: {}", key.expose());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("aig-dev-seed: cannot write to Redis: {e}");
            ExitCode::FAILURE
        }
    }
}
