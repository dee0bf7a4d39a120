//! Stripe webhook signatures: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=…]`, where each
//! `v1` is HMAC-SHA256 over `"{t}.{raw body}"` keyed with the endpoint's signing secret
//! (`STRIPE_WEBHOOK_SECRET`, the whole `whsec_…` string). Several `v1` entries appear while a
//! secret is being rolled; any one matching is enough.
//!
//! Checkout Sessions are created with `async-stripe` (SPEC §7; only its `checkout` API and
//! the rustls runtime), through the client in [`crate::state::AppState::stripe`] pointed at
//! `STRIPE_API_BASE`, from [`crate::routes::billing::checkout`]. Webhook verification stays
//! ours, here: constant-time HMAC comparison and a [`TOLERANCE_SECS`] timestamp tolerance.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a signature's timestamp may be from now: Stripe's libraries default to 300 s.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a delivery was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed (want t=…,v1=…)")]
    Malformed,
    #[error("the Stripe-Signature timestamp is outside the {TOLERANCE_SECS} s tolerance")]
    Stale,
    #[error("no Stripe-Signature v1 signature matches the body")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Stripe-Signature` header Stripe would send for `body` at `timestamp` (tests, the fake
/// Stripe).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let digest = mac(secret.as_bytes(), &t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(digest))
}

/// Checks `header` against `body` at time `now` (unix seconds); constant-time comparison.
pub fn verify(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", sig)) => signatures.push(sig),
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    let seconds: i64 = t.parse().map_err(|_| SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - seconds).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let matched = signatures.iter().any(|sig| {
        hex::decode(sig).is_ok_and(|bytes| {
            // `verify_slice` compares in constant time.
            mac(secret.as_bytes(), t, body).verify_slice(&bytes).is_ok()
        })
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_0123456789";
    const NOW: i64 = 1_700_000_000;

    #[test]
    fn a_signature_made_by_the_rule_verifies() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(SECRET, NOW, body);
        assert_eq!(verify(SECRET, Some(&header), body, NOW), Ok(()));
        assert_eq!(verify(SECRET, Some(&header), body, NOW + 300), Ok(()));
        // A rolled secret: the old one's signature comes first.
        let old = sign("whsec_old_secret_xyz", NOW, body);
        let v1 = header
            .split_once(",v1=")
            .map(|(_, s)| s)
            .unwrap_or_default();
        let both = format!("{old},v1={v1}");
        assert_eq!(verify(SECRET, Some(&both), body, NOW), Ok(()));
    }

    #[test]
    fn the_reference_digest_matches_an_independent_computation() {
        // HMAC-SHA256(key="key", "1.{}"), computed with `openssl dgst -sha256 -hmac key`.
        let header = sign("key", 1, b"{}");
        assert_eq!(
            header,
            "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }

    #[test]
    fn tampering_staleness_and_garbage_are_refused() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(SECRET, NOW, body);
        let verify_at = |h: Option<&str>, b: &[u8], now| verify(SECRET, h, b, now);
        assert_eq!(
            verify_at(Some(&header), br#"{"id":"evt_2"}"#, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_other_secret", Some(&header), body, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_at(Some(&header), body, NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_at(Some(&header), body, NOW - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify_at(None, body, NOW), Err(SignatureError::Missing));
        for bad in ["", "v1=abc", "t=x,v1=abc", &format!("t={NOW}")] {
            assert_eq!(
                verify_at(Some(bad), body, NOW),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        let not_hex = format!("t={NOW},v1=zz");
        assert_eq!(
            verify_at(Some(&not_hex), body, NOW),
            Err(SignatureError::Mismatch)
        );
    }
}
