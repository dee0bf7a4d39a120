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

    /// Every provider-health key shares the hash tag `{health}`, so the monitor's Lua steps
    /// (a mark and its history entry) stay in one Redis Cluster slot.
    fn health(&self) -> String {
        format!("{}{{health}}", self.prefix)
    }

    /// Hash, TTL a few ticks: attempts (`n:<subject>`) and failures (`f:<subject>`) counted
    /// in the health window that starts at `start_ms` (epoch ms; subjects are `provider` and
    /// `provider/model`).
    pub fn health_window(&self, start_ms: u64) -> String {
        format!("{}:window:{start_ms}", self.health())
    }

    /// Sorted set, TTL a few ticks: subject → the longest run of consecutive timeouts/5xx one
    /// instance saw during the window that starts at `start_ms`.
    pub fn health_streaks(&self, start_ms: u64) -> String {
        format!("{}:streaks:{start_ms}", self.health())
    }

    /// Hash: `tick:<subject>` (marked by the monitor's evaluation) and `retry:<subject>`
    /// (marked by a 429's `Retry-After`) → epoch ms until which the subject is degraded.
    pub fn health_marks(&self) -> String {
        format!("{}:marks", self.health())
    }

    /// String with a TTL (`SET NX PX`, renewed by its holder): the instance id of the health
    /// monitor's leader.
    pub fn health_leader(&self) -> String {
        format!("{}:leader", self.health())
    }

    /// String with a TTL: the start (epoch ms) of the last window claimed for evaluation, so
    /// each window is evaluated once even across a change of leader.
    pub fn health_evaluated(&self) -> String {
        format!("{}:evaluated", self.health())
    }

    /// Sorted set scored by epoch ms: the provider's [`crate::health::HealthEvent`]s (JSON),
    /// trimmed to the last 24 hours.
    pub fn health_history(&self, provider: &str) -> String {
        format!("{}:history:{provider}", self.health())
    }

    /// Counter with a TTL (the window): the control plane's login attempts for one `subject`
    /// (`email:<sha256 of the lower-cased email>` or `ip:<address>`).
    pub fn login_attempts(&self, subject: &str) -> String {
        format!("{}login:{subject}", self.prefix)
    }
}

impl Default for RedisKeys {
    fn default() -> Self {
        Self::new(Self::DEFAULT_PREFIX)
    }
}
