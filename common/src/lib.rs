//! What both AIgateway planes must agree on byte for byte, and nothing else.

pub mod api_key;
pub mod budget;
pub mod catalog;
pub mod chain;
pub mod health;
pub mod key_record;
pub mod money;
pub mod provider;
pub mod redis_conn;
pub mod redis_keys;
pub mod usage;
