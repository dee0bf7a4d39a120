//! How the pages write numbers, money and times: USD with cents and thousands separators,
//! counts with thousands separators, percentages, UTC dates. Integers in, strings out — no
//! floats touch money.

use aig_common::budget::MICROS_PER_CENT;
use chrono::{DateTime, NaiveDate, Utc};

/// `1234567` → `"1,234,567"`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Cents as USD: `123456` → `"$1,234.56"`, `-5` → `"-$0.05"`.
pub fn usd_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let whole = i64::try_from(abs / 100).unwrap_or(i64::MAX);
    format!("{sign}${}.{:02}", count(whole), abs % 100)
}

/// Micro-USD as USD with cents, rounded toward zero: `1_234_567_890` → `"$1,234.56"`. A
/// non-zero amount under a cent is written to the micro-dollar (`$0.000288`) rather than as
/// a misleading `$0.00`.
pub fn usd(micros: i64) -> String {
    if micros != 0 && micros.unsigned_abs() < MICROS_PER_CENT {
        return usd_fine(micros);
    }
    usd_cents(micros / MICROS_PER_CENT as i64)
}

/// Micro-USD with enough digits for a single request's cost: `$0.000123`. Amounts of a cent
/// or more are written as [`usd`].
pub fn usd_fine(micros: i64) -> String {
    if micros.unsigned_abs() >= MICROS_PER_CENT {
        return usd_cents(micros / MICROS_PER_CENT as i64);
    }
    let sign = if micros < 0 { "-" } else { "" };
    format!("{sign}$0.{:06}", micros.unsigned_abs())
}

/// `part` of `whole` as a percentage with one decimal (`"12.5%"`); `"–"` when `whole` is 0.
pub fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "–".to_owned();
    }
    // Tenths of a percent, rounded half up, in integers.
    let tenths = (i128::from(part) * 1000 + i128::from(whole) / 2) / i128::from(whole);
    format!("{}.{}%", tenths / 10, (tenths % 10).abs())
}

/// A moment as `2026-11-22 14:05 UTC`.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A moment to the second, for logs: `2026-11-22 14:05:09`.
pub fn when_precise(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A UTC day as `2026-11-22`.
pub fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Milliseconds as `850 ms` or `1.2 s`.
pub fn millis(ms: i64) -> String {
    if ms < 1000 {
        format!("{} ms", count(ms))
    } else {
        format!("{}.{} s", count(ms / 1000), (ms % 1000) / 100)
    }
}

/// What people type as an amount of dollars, as cents: `"25"`, `"25.5"`, `"$25.50"`,
/// `"1,000"`, `"-5.00"`, `"+3"`, `"-$0.01"`. At most two decimals and twelve whole digits;
/// anything else (`""`, `".5"`, `"1e3"`, `"1.234"`, `"--5"`) is `None`. Integers only.
pub fn parse_usd(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let (negative, rest) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    let cleaned: String = rest
        .strip_prefix('$')
        .unwrap_or(rest)
        .chars()
        .filter(|c| *c != ',')
        .collect();
    let (whole, frac) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 12 || frac.len() > 2 || !digits(whole) || !digits(frac) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    let cents = whole.checked_mul(100)?.checked_add(frac)?;
    Some(if negative { -cents } else { cents })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(-1234567), "-1,234,567");
    }

    #[test]
    fn money_is_written_in_dollars_and_cents() {
        assert_eq!(usd_cents(123456), "$1,234.56");
        assert_eq!(usd_cents(-5), "-$0.05");
        assert_eq!(usd(1_234_567_890), "$1,234.56");
        assert_eq!(usd(-12_345), "-$0.01");
        assert_eq!(usd(288), "$0.000288");
        assert_eq!(usd(0), "$0.00");
        assert_eq!(usd_fine(123), "$0.000123");
        assert_eq!(usd_fine(25_000), "$0.02");
    }

    #[test]
    fn typed_dollar_amounts_parse_to_cents() {
        assert_eq!(parse_usd("25"), Some(2500));
        assert_eq!(parse_usd(" $25.5 "), Some(2550));
        assert_eq!(parse_usd("1,000"), Some(100_000));
        assert_eq!(parse_usd("-5.00"), Some(-500));
        assert_eq!(parse_usd(" +3 "), Some(300));
        assert_eq!(parse_usd("-$0.01"), Some(-1));
        assert_eq!(parse_usd("0"), Some(0));
        for bad in [
            "",
            "abc",
            "1.234",
            "--5",
            ".5",
            "1e3",
            "-",
            "5.-1",
            "9999999999999",
        ] {
            assert_eq!(parse_usd(bad), None, "{bad}");
        }
    }

    #[test]
    fn percentages_round_to_one_decimal() {
        assert_eq!(percent(1, 8), "12.5%");
        assert_eq!(percent(2, 3), "66.7%");
        assert_eq!(percent(0, 0), "–");
        assert_eq!(percent(5, 5), "100.0%");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(millis(850), "850 ms");
        assert_eq!(millis(1250), "1.2 s");
    }
}
