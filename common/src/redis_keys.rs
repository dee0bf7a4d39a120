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

    /// The Redis Cluster hash tag that keeps every key of one tenant in one slot, so each
    /// spend step (a Lua script over several of them) stays on one node.
    fn tenant_tag(&self, tenant_id: &str) -> String {
        format!("{}{{t:{tenant_id}}}", self.prefix)
    }

    /// Hash: [`crate::budget::tenant_fields`] — status and prepaid balance.
    pub fn tenant(&self, tenant_id: &str) -> String {
        format!("{}:tenant", self.tenant_tag(tenant_id))
    }

    /// Hash: tag (or `*`) → monthly cap in cents.
    pub fn budgets(&self, tenant_id: &str) -> String {
        format!("{}:budgets", self.tenant_tag(tenant_id))
    }

    /// Hash: tag (and `*` for the total) → micro-USD spent in `month` (`YYYY-MM`, UTC).
    pub fn spend(&self, tenant_id: &str, month: &str) -> String {
        format!("{}:spend:{month}", self.tenant_tag(tenant_id))
    }

    /// Hash: in-flight reservations (`r:<request id>`) and their sums (`*`, `tag:<tag>`).
    pub fn reservations(&self, tenant_id: &str) -> String {
        format!("{}:reserved", self.tenant_tag(tenant_id))
    }

    /// String with a short TTL: marks a request as settled, so a replayed settle is not
    /// counted twice.
    pub fn settled(&self, tenant_id: &str, request_id: &str) -> String {
        format!("{}:settled:{request_id}", self.tenant_tag(tenant_id))
    }

    /// Stream: one [`crate::usage::UsageEvent`] per request of the tenant, for the control
    /// plane. Per tenant so the spend step can append to it atomically in one slot.
    pub fn usage_stream(&self, tenant_id: &str) -> String {
        format!("{}:usage", self.tenant_tag(tenant_id))
    }

    /// Channel: tenant ids whose records changed (published by the control plane).
    pub fn tenant_changed_channel(&self) -> String {
        format!("{}tenant-changed", self.prefix)
    }

    /// Channel: hashes of keys whose records changed (published by the control plane).
    pub fn key_changed_channel(&self) -> String {
        format!("{}key-changed", self.prefix)
    }
}

impl Default for RedisKeys {
    fn default() -> Self {
        Self::new(Self::DEFAULT_PREFIX)
    }
}
