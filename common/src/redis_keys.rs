//! The only place Redis key names are built. Every key carries a deployment prefix
//! (`AIG_REDIS_PREFIX`, default `aig:`) so tests and deployments can share a server.

use crate::api_key::KeyHash;

/// Builds key names under one prefix.
#[derive(Clone, Debug)]
pub struct RedisKeys {
    prefix: String,
}

impl RedisKeys {
    pub const DEFAULT_PREFIX: &'static str = "aig:";

    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// String: the JSON [`crate::key_record::KeyRecord`] of the key with this hash.
    pub fn api_key(&self, hash: &KeyHash) -> String {
        format!("{}key:{}", self.prefix, hash.as_str())
    }

    /// Stream: one [`crate::usage::UsageEvent`] per request, for the control plane.
    pub fn usage_stream(&self) -> String {
        format!("{}usage:events", self.prefix)
    }
}

impl Default for RedisKeys {
    fn default() -> Self {
        Self::new(Self::DEFAULT_PREFIX)
    }
}
