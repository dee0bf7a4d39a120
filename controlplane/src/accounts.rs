//! Account operations shared by the CLI, the sign-up and dashboard pages and the admin:
//! creating a tenant with its owner, trial credit and first key; keys; suspension; credits.
//! Each writes Postgres and publishes to Redis so the data plane sees the change within a
//! second.

use crate::auth::password;
use crate::db;
use crate::db::api_key::{ApiKeyRow, NewKey};
use crate::db::app_user::{NewUser, EMAIL_UNIQUE};
use crate::db::ledger_entry::{LedgerKind, NewEntry};
use crate::error::Error;
use crate::publish;
use crate::state::AppState;
use aig_common::api_key::ApiKey;
use aig_common::budget::{MICROS_PER_CENT, STATUS_ACTIVE, STATUS_SUSPENDED};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;
/// Name of the key created with a tenant.
pub const FIRST_KEY_NAME: &str = "Default key";

/// What a new tenant starts from.
#[derive(Debug)]
pub struct NewTenant {
    pub org: String,
    pub email: String,
    /// `None`: the owner gets an unusable password until one is set.
    pub password: Option<SecretString>,
    pub platform_admin: bool,
}

/// A created tenant. `key` is the only time the plaintext key exists: show it once.
#[derive(Debug)]
pub struct CreatedTenant {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub key: ApiKey,
    pub key_id: Uuid,
    /// `false` if the Redis publish failed; a running control plane retries within 30 s.
    pub published: bool,
}

fn check_org(org: &str) -> Result<String, Error> {
    let org = org.trim();
    if org.is_empty() || org.chars().count() > 200 {
        return Err(Error::invalid(
            "the organisation name must be 1-200 characters",
            Some("org"),
        ));
    }
    Ok(org.to_owned())
}

fn check_email(email: &str) -> Result<String, Error> {
    let email = email.trim();
    let well_formed = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
    if !well_formed {
        return Err(Error::invalid(
            format!("{email:?} is not an email address"),
            Some("email"),
        ));
    }
    Ok(email.to_owned())
}

/// Creates the tenant, its owner, the trial credit (`AIG_TRIAL_CREDIT_CENTS`) and a first
/// key in one transaction, then publishes the tenant to Redis. A publish failure does not
/// undo the creation: the control plane's watchdog publishes any tenant missing from Redis.
pub async fn create_tenant(state: &AppState, new: NewTenant) -> Result<CreatedTenant, Error> {
    let org = check_org(&new.org)?;
    let email = check_email(&new.email)?;
    let password_hash = match new.password {
        Some(p) if p.expose_secret().chars().count() < MIN_PASSWORD_LEN => {
            return Err(Error::invalid(
                format!("the password must be at least {MIN_PASSWORD_LEN} characters"),
                Some("password"),
            ))
        }
        Some(p) => password::hash(p).await?,
        None => password::unusable_hash().await?,
    };

    let key = ApiKey::generate();
    let mut tx = state.db().begin().await?;
    let tenant_id = db::tenant::insert(&mut *tx, &org).await?;
    let user_id = db::app_user::insert(
        &mut *tx,
        &NewUser {
            tenant_id,
            email: &email,
            password_hash: &password_hash,
            role: "owner",
            is_platform_admin: new.platform_admin,
        },
    )
    .await
    .map_err(|e| {
        Error::from(e).on_constraint(EMAIL_UNIQUE, || Error::Conflict {
            message: format!("an account with the email {email:?} already exists"),
            code: "email_taken",
        })
    })?;
    let trial_micros = state
        .config()
        .trial_credit_cents
        .saturating_mul(MICROS_PER_CENT);
    if trial_micros > 0 {
        db::ledger_entry::append(
            &mut *tx,
            &NewEntry {
                tenant_id,
                kind: LedgerKind::TrialCredit,
                amount_micros: i64::try_from(trial_micros).unwrap_or(i64::MAX),
                reason: Some("trial credit"),
                idempotency_key: &format!("trial:{tenant_id}"),
            },
        )
        .await?;
    }
    let key_row = db::api_key::insert(
        &mut *tx,
        &NewKey {
            tenant_id,
            name: FIRST_KEY_NAME,
            key_hash: key.hash().as_str(),
            display_prefix: &key.display_prefix(),
        },
    )
    .await?;
    tx.commit().await?;

    let published = match publish::tenant(state, tenant_id).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(tenant = %tenant_id, "tenant created but not yet published to Redis: {e}");
            false
        }
    };
    tracing::info!(tenant = %tenant_id, "tenant created");
    Ok(CreatedTenant {
        tenant_id,
        user_id,
        key,
        key_id: key_row.id,
        published,
    })
}

/// Creates a key for the tenant and publishes it; the plaintext is returned once.
pub async fn create_key(
    state: &AppState,
    tenant_id: Uuid,
    name: &str,
) -> Result<(ApiKey, ApiKeyRow), Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::invalid(
            "the key name must be 1-200 characters",
            Some("name"),
        ));
    }
    let key = ApiKey::generate();
    let mut tx = state.db().begin().await?;
    let row = db::api_key::insert(
        &mut *tx,
        &NewKey {
            tenant_id,
            name,
            key_hash: key.hash().as_str(),
            display_prefix: &key.display_prefix(),
        },
    )
    .await?;
    publish::key(state, &row).await?;
    tx.commit().await?;
    Ok((key, row))
}

/// Revokes one of the tenant's keys; every data plane refuses it within a second.
pub async fn revoke_key(
    state: &AppState,
    tenant_id: Uuid,
    key_id: Uuid,
) -> Result<ApiKeyRow, Error> {
    let mut tx = state.db().begin().await?;
    let row = db::api_key::revoke(&mut *tx, tenant_id, key_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("no key {key_id}"), "key_not_found"))?;
    publish::key(state, &row).await?;
    tx.commit().await?;
    Ok(row)
}

/// Suspends (every data plane answers 403 within a second) or reinstates the tenant.
pub async fn set_suspended(
    state: &AppState,
    tenant_id: Uuid,
    suspended: bool,
) -> Result<(), Error> {
    let mut tx = state.db().begin().await?;
    db::tenant::set_status(&mut *tx, tenant_id, suspended)
        .await?
        .ok_or_else(|| Error::not_found(format!("no tenant {tenant_id}"), "tenant_not_found"))?;
    let status = if suspended {
        STATUS_SUSPENDED
    } else {
        STATUS_ACTIVE
    };
    publish::tenant_status(state, tenant_id, status).await?;
    tx.commit().await?;
    Ok(())
}

/// Appends a credit or debit (top-up, adjustment) to the ledger and moves the published
/// balance by the same amount, once per `idempotency_key`. Returns whether it was new.
pub async fn post_ledger_entry(state: &AppState, entry: &NewEntry<'_>) -> Result<bool, Error> {
    append_ledger_entry(state, entry)
        .await
        .map(|id| id.is_some())
}

/// [`post_ledger_entry`], returning the new entry's id (`None`: the key was already used).
pub async fn append_ledger_entry(
    state: &AppState,
    entry: &NewEntry<'_>,
) -> Result<Option<Uuid>, Error> {
    let mut tx = state.db().begin().await?;
    db::tenant::lock_balance(&mut *tx, entry.tenant_id).await?;
    let Some(id) = db::ledger_entry::append(&mut *tx, entry).await? else {
        return Ok(None);
    };
    publish::balance_delta(state, entry.tenant_id, entry.amount_micros).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Largest single adjustment either way: USD 1,000,000.
pub const MAX_ADJUSTMENT_CENTS: i64 = 100_000_000;
/// Longest adjustment reason.
pub const MAX_REASON_CHARS: usize = 500;

/// The ledger idempotency key of an operator's adjustment: namespaced so that a chosen key can
/// never collide with a top-up's session id or a usage debit; a fresh one when none is given.
pub fn adjustment_key(idempotency_key: Option<&str>) -> Result<String, Error> {
    match idempotency_key.map(str::trim) {
        None => Ok(format!("adjustment:{}", Uuid::new_v4())),
        Some(key) if key.is_empty() || key.chars().count() > 200 => Err(Error::invalid(
            "the idempotency key must be 1-200 characters",
            Some("key"),
        )),
        Some(key) => Ok(format!("adjustment:{key}")),
    }
}

/// An operator's credit (`cents` > 0) or debit (`cents` < 0) with a required reason, as an
/// `adjustment` ledger entry that also moves the published balance. Once per idempotency key
/// (a fresh key when `None`); returns whether it was new. Unknown tenant: `tenant_not_found`.
pub async fn adjust_credit(
    state: &AppState,
    tenant_id: Uuid,
    cents: i64,
    reason: &str,
    idempotency_key: Option<&str>,
) -> Result<bool, Error> {
    let key = adjustment_key(idempotency_key)?;
    adjust_credit_keyed(state, tenant_id, cents, reason, &key)
        .await
        .map(|id| id.is_some())
}

/// [`adjust_credit`] with the full ledger key (see [`adjustment_key`]), returning the new
/// entry's id (`None`: already applied).
pub async fn adjust_credit_keyed(
    state: &AppState,
    tenant_id: Uuid,
    cents: i64,
    reason: &str,
    ledger_key: &str,
) -> Result<Option<Uuid>, Error> {
    if cents == 0 || cents.abs() > MAX_ADJUSTMENT_CENTS {
        return Err(Error::invalid(
            format!(
                "the adjustment must be a non-zero number of cents within ±{MAX_ADJUSTMENT_CENTS}"
            ),
            Some("cents"),
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(Error::invalid(
            format!("a reason of 1-{MAX_REASON_CHARS} characters is required"),
            Some("reason"),
        ));
    }
    if db::tenant::find(state.db(), tenant_id).await?.is_none() {
        return Err(Error::not_found(
            format!("no tenant {tenant_id}"),
            "tenant_not_found",
        ));
    }
    let id = append_ledger_entry(
        state,
        &NewEntry {
            tenant_id,
            kind: LedgerKind::Adjustment,
            amount_micros: cents * MICROS_PER_CENT as i64,
            reason: Some(reason),
            idempotency_key: ledger_key,
        },
    )
    .await?;
    match id {
        Some(id) => tracing::info!(tenant = %tenant_id, entry = %id, cents, "credit adjusted"),
        None => tracing::info!(tenant = %tenant_id, "credit adjustment already applied"),
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_org_names_are_checked() {
        assert_eq!(check_email(" a@b.co ").unwrap(), "a@b.co");
        for bad in ["", "a", "a@b", "@b.co", "a b@c.co", "a@b@c.co"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_org("  ").is_err());
        assert_eq!(check_org(" Acme ").unwrap(), "Acme");
    }
}
