//! Budgets and tenant records as both planes store them in Redis: field names, the `*` tag,
//! and the UTC calendar month spend is counted in.

/// The tag whose cap covers all of a tenant's traffic.
pub const ALL_TAGS: &str = "*";

/// Fields of the tenant hash ([`crate::redis_keys::RedisKeys::tenant`]).
pub mod tenant_fields {
    /// `active` or `suspended`.
    pub const STATUS: &str = "status";
    /// Prepaid balance in micro-USD (integer, may go negative by in-flight overshoot).
    /// Absent: the tenant is not on prepaid credit and no balance is enforced.
    pub const BALANCE_MICROS: &str = "balance_micros";
}

pub const STATUS_ACTIVE: &str = "active";
pub const STATUS_SUSPENDED: &str = "suspended";

/// Micro-USD per cent.
pub const MICROS_PER_CENT: u64 = 10_000;

/// `YYYY-MM` of a Unix time in milliseconds, in UTC.
pub fn utc_month(unix_ms: u64) -> String {
    let (year, month, _) = civil_from_days(i64::try_from(unix_ms / 86_400_000).unwrap_or(0));
    format!("{year:04}-{month:02}")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A tag as written in `x-aig-tag` or a budget: 1–64 of `[A-Za-z0-9._:-]`, or `*` for
/// budgets.
pub fn is_valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 64
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(utc_month(0), "1970-01");
        // 2026-11-30T23:59:59.999Z and 2026-12-01T00:00:00Z
        assert_eq!(utc_month(1_796_083_199_999), "2026-11");
        assert_eq!(utc_month(1_796_083_200_000), "2026-12");
        // 2024-02-29T12:00:00Z (leap day)
        assert_eq!(utc_month(1_709_208_000_000), "2024-02");
    }

    #[test]
    fn tags_follow_the_header_rule() {
        assert!(is_valid_tag("summarize.fallback"));
        assert!(is_valid_tag("a:b-c_d"));
        assert!(!is_valid_tag("has space"));
        assert!(!is_valid_tag(&"x".repeat(65)));
        assert!(!is_valid_tag(""));
    }
}
