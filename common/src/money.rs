//! Integer money: micro-USD for costs, cents for caps and top-ups, and token prices. No floats.

use serde::{Deserialize, Deserializer};
use std::fmt;

/// Millionths of a US dollar; what a request is charged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MicroUsd(pub u64);

impl MicroUsd {
    /// Rounded up: a request that cost anything is charged at least one micro-USD.
    pub fn to_cents_ceil(self) -> u64 {
        self.0.div_ceil(10_000)
    }
}

impl fmt::Display for MicroUsd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A token price in USD per million tokens, held exactly as nano-USD per token
/// (USD/Mtok × 1000), so "$2.50 / 1M" is 2500 and "$0.075 / 1M" is 75.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenPrice {
    nano_usd_per_token: u64,
}

impl TokenPrice {
    pub const fn from_nano_usd_per_token(nano_usd_per_token: u64) -> Self {
        Self { nano_usd_per_token }
    }

    pub fn nano_usd_per_token(self) -> u64 {
        self.nano_usd_per_token
    }

    /// Parses a decimal USD-per-million-tokens string with at most three decimals.
    pub fn parse_usd_per_mtok(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (whole, frac) = match raw.split_once('.') {
            Some((whole, frac)) => (whole, Some(frac)),
            None => (raw, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let frac_ok = frac.is_none_or(|f| digits(f) && f.len() <= 3);
        if !digits(whole) || !frac_ok {
            return Err(format!(
                "price {raw:?} is not a decimal USD amount with at most 3 decimals"
            ));
        }
        let whole: u64 = whole
            .parse()
            .map_err(|_| format!("price {raw:?} is too large"))?;
        let frac_nanos: u64 = format!("{:0<3}", frac.unwrap_or("")).parse().unwrap_or(0);
        whole
            .checked_mul(1000)
            .and_then(|w| w.checked_add(frac_nanos))
            .map(Self::from_nano_usd_per_token)
            .ok_or_else(|| format!("price {raw:?} is too large"))
    }

    /// The cost of `tokens` tokens, in nano-USD.
    pub fn nanos_for(self, tokens: u64) -> u128 {
        u128::from(self.nano_usd_per_token) * u128::from(tokens)
    }
}

impl<'de> Deserialize<'de> for TokenPrice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse_usd_per_mtok(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for TokenPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nano_usd_per_token;
        write!(f, "{}.{:03}", n / 1000, n % 1000)
    }
}

/// Converts a nano-USD total to micro-USD, rounding any fraction up.
pub fn nanos_to_micros_ceil(nanos: u128) -> MicroUsd {
    MicroUsd(u64::try_from(nanos.div_ceil(1000)).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_parse_exactly_from_decimal_strings() {
        assert_eq!(
            TokenPrice::parse_usd_per_mtok("2.50")
                .unwrap()
                .nano_usd_per_token(),
            2500
        );
        assert_eq!(
            TokenPrice::parse_usd_per_mtok("0.075")
                .unwrap()
                .nano_usd_per_token(),
            75
        );
        assert_eq!(
            TokenPrice::parse_usd_per_mtok("15")
                .unwrap()
                .nano_usd_per_token(),
            15000
        );
        assert_eq!(
            TokenPrice::parse_usd_per_mtok("0.075").unwrap().to_string(),
            "0.075"
        );
    }

    #[test]
    fn malformed_prices_are_rejected() {
        for bad in ["", "abc", "1.2345", "-1", "1.", ".5", "1e3"] {
            assert!(TokenPrice::parse_usd_per_mtok(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn costs_round_up_to_whole_micro_usd() {
        let price = TokenPrice::parse_usd_per_mtok("2.50").unwrap();
        assert_eq!(nanos_to_micros_ceil(price.nanos_for(1)), MicroUsd(3));
        assert_eq!(nanos_to_micros_ceil(price.nanos_for(1000)), MicroUsd(2500));
        assert_eq!(nanos_to_micros_ceil(0), MicroUsd(0));
        assert_eq!(MicroUsd(10_001).to_cents_ceil(), 2);
    }
}
