//! The `sk-aig-` key format: generation, validation, SHA-256 hashing and a redacted `Debug`.

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};
use std::fmt;

/// Every AIgateway key starts with this.
pub const PREFIX: &str = "sk-aig-";
/// Random characters after the prefix.
const SECRET_LEN: usize = 40;
/// How much of a key is shown in dashboards and logs (`sk-aig-AbCd…`).
const DISPLAY_LEN: usize = PREFIX.len() + 4;

/// A plaintext API key. Only ever held briefly: stored as [`KeyHash`], never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let secret = Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN);
        Self(format!("{PREFIX}{secret}"))
    }

    /// Accepts a key that has the `sk-aig-` shape; anything else is not a key of ours.
    pub fn parse(raw: &str) -> Option<Self> {
        let secret = raw.strip_prefix(PREFIX)?;
        let well_formed = !secret.is_empty()
            && secret.len() <= 128
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        well_formed.then(|| Self(raw.to_owned()))
    }

    /// The plaintext, to show once at creation.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// A short, safe-to-show prefix such as `sk-aig-AbCd`.
    pub fn display_prefix(&self) -> String {
        self.0.chars().take(DISPLAY_LEN).collect()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…)", self.display_prefix())
    }
}

/// Lower-case hex SHA-256 of a key: what Postgres and Redis store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    /// A stored hash: exactly 64 lower-case hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let well_formed = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        well_formed.then(|| Self(hex.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a, b);
        assert!(ApiKey::parse(a.expose()).is_some());
        assert_eq!(a.expose().len(), PREFIX.len() + SECRET_LEN);
    }

    #[test]
    fn keys_without_the_prefix_or_with_odd_characters_are_rejected() {
        assert!(ApiKey::parse("sk-abc").is_none());
        assert!(ApiKey::parse("sk-aig-").is_none());
        assert!(ApiKey::parse("sk-aig-abc def").is_none());
    }

    #[test]
    fn the_hash_is_sha256_hex_of_the_whole_key() {
        let key = ApiKey::parse("sk-aig-test").unwrap();
        assert_eq!(
            key.hash().as_str(),
            "414163a73c9010eba531eed825a763778c7b128593f5210d236e1acefdfd5d12"
        );
    }

    #[test]
    fn stored_hashes_round_trip_and_malformed_ones_are_refused() {
        let hash = ApiKey::generate().hash();
        assert_eq!(KeyHash::from_hex(hash.as_str()), Some(hash));
        assert!(KeyHash::from_hex("ABC").is_none());
        assert!(KeyHash::from_hex(&"G".repeat(64)).is_none());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = ApiKey::generate();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.expose()[DISPLAY_LEN..]));
    }
}
