//! Who is calling: `sk-aig-` keys for the management API; for people, argon2id passwords, a
//! signed session cookie, CSRF tokens on every form and rate-limited login attempts.

pub mod api_key;
pub mod cookie;
pub mod csrf;
pub mod login_limit;
pub mod password;
pub mod session;
