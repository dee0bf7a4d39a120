//! argon2id password hashing, off the async runtime (`spawn_blocking`): hashing is slow on
//! purpose.

use crate::error::Error;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distr::{Alphanumeric, SampleString};
use secrecy::{ExposeSecret, SecretString};

/// An argon2id PHC string of `password` (default parameters, random salt).
pub async fn hash(password: SecretString) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|e| Error::Internal(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("password hashing task failed: {e}")))?
}

/// A valid hash of a random password nobody knows: an account that cannot sign in with a
/// password until one is set.
pub async fn unusable_hash() -> Result<String, Error> {
    let random = Alphanumeric.sample_string(&mut rand::rng(), 48);
    hash(SecretString::from(random)).await
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never matches.
pub async fn verify(password: SecretString, hash: String) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .map_err(|e| Error::Internal(format!("password verification task failed: {e}")))
}

/// Whether `password` matches `hash`; with no hash (an unknown email) it is checked against
/// a dummy hash with the same parameters, so the answer takes as long either way.
pub async fn verify_or_dummy(password: SecretString, hash: Option<String>) -> Result<bool, Error> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    match hash {
        Some(hash) => verify(password, hash).await,
        None => {
            let dummy = DUMMY.get_or_try_init(unusable_hash).await?.clone();
            verify(password, dummy).await?;
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hashed = hash(SecretString::from("correct horse")).await.unwrap();

        assert!(hashed.starts_with("$argon2id$"));
        assert!(verify(SecretString::from("correct horse"), hashed.clone())
            .await
            .unwrap());
        assert!(!verify(SecretString::from("wrong"), hashed).await.unwrap());
    }

    #[tokio::test]
    async fn an_unusable_hash_is_still_a_well_formed_argon2id_hash() {
        let hashed = unusable_hash().await.unwrap();
        assert!(PasswordHash::new(&hashed).is_ok());
        assert!(!verify(SecretString::from(""), hashed).await.unwrap());
    }
}
