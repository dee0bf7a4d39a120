//! The last spend counters seen per tenant, plus what was settled locally since: how caps
//! and balances are enforced while Redis is unreachable.

use super::{Admission, Settled};
use aig_common::budget::MICROS_PER_CENT;
use std::collections::HashMap;
use std::sync::Mutex;

/// An admission decision, from the reserve script's reply or from local knowledge.
#[derive(Clone, Debug, Default)]
pub struct Decision {
    /// `ok`, `tenant_suspended`, `insufficient_credits` or `budget_exceeded`.
    pub code: String,
    /// The tag (or `*`) whose cap was reached.
    pub capped_tag: String,
    pub admission: Admission,
    suspended: bool,
    balance: Option<i64>,
}

impl Decision {
    /// Parses `{code, capped_tag, status, balance, cap_all, cap_tag, spent_all, spent_tag}`.
    pub fn from_reply(reply: &[String]) -> Self {
        let field = |i: usize| reply.get(i).map(String::as_str).unwrap_or_default();
        let int = |i: usize| field(i).parse::<i64>().ok();
        let cap = |i: usize| field(i).parse::<u64>().ok();
        Decision {
            code: field(0).to_owned(),
            capped_tag: field(1).to_owned(),
            suspended: field(2) == aig_common::budget::STATUS_SUSPENDED,
            balance: int(3),
            admission: Admission {
                cap_all: cap(4),
                cap_tag: cap(5),
                spent_all: int(6).unwrap_or(0),
                spent_tag: int(7).unwrap_or(0),
            },
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Known {
    suspended: bool,
    balance: Option<i64>,
    cap_all: Option<u64>,
    spent_all: i64,
    /// Per tag: its cap and its spend.
    tags: HashMap<String, (Option<u64>, i64)>,
}

/// Per-tenant knowledge, updated by every reserve reply and every local settlement.
#[derive(Default)]
pub struct LastKnown {
    tenants: Mutex<HashMap<String, Known>>,
}

impl LastKnown {
    pub fn remember(&self, tenant: &str, tag: &str, d: &Decision) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let known = tenants.entry(tenant.to_owned()).or_default();
        known.suspended = d.suspended;
        known.balance = d.balance;
        known.cap_all = d.admission.cap_all;
        known.spent_all = d.admission.spent_all;
        if !tag.is_empty() {
            known
                .tags
                .insert(tag.to_owned(), (d.admission.cap_tag, d.admission.spent_tag));
        }
    }

    /// Takes in the counters a settle step returned. Spend only grows within a month, so
    /// a reply that overtook a later one cannot lower it.
    pub fn settled(&self, tenant: &str, tag: &str, after: &Settled) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let known = tenants.entry(tenant.to_owned()).or_default();
        known.spent_all = known.spent_all.max(after.spent_all);
        known.balance = after.balance;
        if !tag.is_empty() {
            let entry = known.tags.entry(tag.to_owned()).or_default();
            entry.1 = entry.1.max(after.spent_tag);
        }
    }

    pub fn spent_locally(&self, tenant: &str, tag: &str, cost: u64) {
        let cost = i64::try_from(cost).unwrap_or(i64::MAX);
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let known = tenants.entry(tenant.to_owned()).or_default();
        known.spent_all = known.spent_all.saturating_add(cost);
        known.balance = known.balance.map(|b| b.saturating_sub(cost));
        if !tag.is_empty() {
            let entry = known.tags.entry(tag.to_owned()).or_default();
            entry.1 = entry.1.saturating_add(cost);
        }
    }

    /// Decides without Redis. A tenant never seen is admitted: refusing every request of
    /// every tenant during an outage would turn a Redis blip into a full outage.
    pub fn decide(&self, tenant: &str, tag: &str) -> Decision {
        let tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let Some(known) = tenants.get(tenant) else {
            return Decision {
                code: "ok".into(),
                ..Default::default()
            };
        };
        let (cap_tag, spent_tag) = known.tags.get(tag).copied().unwrap_or((None, 0));
        let over = |cap: Option<u64>, spent: i64| {
            cap.is_some_and(|c| {
                spent >= i64::try_from(c.saturating_mul(MICROS_PER_CENT)).unwrap_or(i64::MAX)
            })
        };
        let (code, capped) = if known.suspended {
            ("tenant_suspended", "")
        } else if known.balance.is_some_and(|b| b <= 0) {
            ("insufficient_credits", "")
        } else if over(known.cap_all, known.spent_all) {
            ("budget_exceeded", "*")
        } else if !tag.is_empty() && over(cap_tag, spent_tag) {
            ("budget_exceeded", tag)
        } else {
            ("ok", "")
        };
        Decision {
            code: code.into(),
            capped_tag: capped.into(),
            suspended: known.suspended,
            balance: known.balance,
            admission: Admission {
                cap_all: known.cap_all,
                cap_tag,
                spent_all: known.spent_all,
                spent_tag,
            },
        }
    }
}
