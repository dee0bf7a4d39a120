//! Login attempts counted in Redis per email and per client address over a fixed window;
//! beyond the limit the login page answers 429 without checking the password. A successful
//! login clears the email's counter (its owner proved the password) but never the address's.

use crate::error::Error;
use crate::state::AppState;
use sha2::{Digest, Sha256};

/// Attempts allowed per email in one window.
pub const PER_EMAIL: u64 = 10;
/// Attempts allowed per client address in one window.
pub const PER_IP: u64 = 50;
/// The window, in seconds (15 minutes).
pub const WINDOW_SECS: i64 = 15 * 60;

fn email_subject(email: &str) -> String {
    // Hashed: Redis key names are not the place for people's addresses.
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    format!("email:{}", hex::encode(digest))
}

/// Counts one attempt for `email` and `ip`; `false` if either is over its limit.
pub async fn attempt(state: &AppState, email: &str, ip: &str) -> Result<bool, Error> {
    let keys = state.redis_keys();
    let email_key = keys.login_attempts(&email_subject(email));
    let ip_key = keys.login_attempts(&format!("ip:{ip}"));
    // INCR, and start the window on the first attempt (NX keeps a running window's end).
    // One pipeline per counter: on a Redis Cluster the two lie in different slots.
    let count = |key: String| {
        let mut redis = state.redis();
        async move {
            let (n, _): (u64, i64) = redis::pipe()
                .incr(&key, 1)
                .cmd("EXPIRE")
                .arg(&key)
                .arg(WINDOW_SECS)
                .arg("NX")
                .query_async(&mut redis)
                .await?;
            Ok::<u64, redis::RedisError>(n)
        }
    };
    let (by_email, by_ip) = futures_util::try_join!(count(email_key), count(ip_key))?;
    Ok(by_email <= PER_EMAIL && by_ip <= PER_IP)
}

/// After a successful login: the email's failures are forgiven.
pub async fn succeeded(state: &AppState, email: &str) -> Result<(), Error> {
    let key = state.redis_keys().login_attempts(&email_subject(email));
    let mut redis = state.redis();
    redis::cmd("DEL")
        .arg(key)
        .query_async::<i64>(&mut redis)
        .await?;
    Ok(())
}
