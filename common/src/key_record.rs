//! The API key record the control plane publishes to Redis and the data plane reads.

use serde::{Deserialize, Serialize};

/// What the data plane needs to know about a key, stored as JSON under
/// [`crate::redis_keys::RedisKeys::api_key`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key's id (Postgres `api_key.id`).
    pub key_id: String,
    /// The tenant that owns the key.
    pub tenant_id: String,
    /// A revoked key is kept so the data plane can tell "revoked" from "unknown".
    #[serde(default)]
    pub revoked: bool,
}
