//! The `x-aig-*` header names of the product contract (SPEC §4.1, §4.3).

// Request controls.
pub const FALLBACK: &str = "x-aig-fallback";
pub const TIMEOUT_MS: &str = "x-aig-timeout-ms";
pub const RETRY_BUDGET: &str = "x-aig-retry-budget";
pub const MAX_LATENCY_MS: &str = "x-aig-max-latency-ms";
pub const FALLBACK_ON: &str = "x-aig-fallback-on";
pub const TAG: &str = "x-aig-tag";

// Response headers.
pub const SERVED_BY: &str = "x-aig-served-by";
pub const CHAIN: &str = "x-aig-chain";
pub const FALLBACK_REASON: &str = "x-aig-fallback-reason";
pub const LATENCY_MS: &str = "x-aig-latency-ms";
pub const REQUEST_ID: &str = "x-aig-request-id";
pub const COST_MICROS: &str = "x-aig-cost-micros";
pub const BUDGET_REMAINING_CENTS: &str = "x-aig-budget-remaining-cents";
