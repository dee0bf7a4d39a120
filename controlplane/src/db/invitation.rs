//! `invitation`: one-time links that let a person join a tenant with a role; the token is
//! stored only as its SHA-256.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

pub struct NewInvitation<'a> {
    pub tenant_id: Uuid,
    pub email: &'a str,
    /// `owner` or `member`.
    pub role: &'a str,
    /// Lower-case hex SHA-256 of the token.
    pub token_hash: &'a str,
    pub invited_by: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// Inserts an invitation and returns its id.
pub async fn insert(e: impl PgExecutor<'_>, new: &NewInvitation<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into invitation (tenant_id, email, role, token_hash, invited_by, expires_at)
         values ($1, $2, $3, $4, $5, $6)
         returning id",
        new.tenant_id,
        new.email,
        new.role,
        new.token_hash,
        new.invited_by,
        new.expires_at
    )
    .fetch_one(e)
    .await
}

/// A pending invitation as the team page lists it.
#[derive(Debug)]
pub struct PendingInvitation {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    /// The inviter's email; `None` once they left the tenant.
    pub invited_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The tenant's invitations that can still be accepted, newest first.
pub async fn list_pending(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
) -> sqlx::Result<Vec<PendingInvitation>> {
    sqlx::query_as!(
        PendingInvitation,
        r#"select i.id, i.email, i.role, u.email as "invited_by?", i.created_at, i.expires_at
             from invitation i
             left join app_user u on u.id = i.invited_by
            where i.tenant_id = $1
              and i.used_at is null and i.revoked_at is null and i.expires_at > now()
            order by i.created_at desc, i.id"#,
        tenant_id
    )
    .fetch_all(e)
    .await
}

/// Revokes the tenant's pending invitation; `false` if the tenant has no such pending one.
pub async fn revoke(e: impl PgExecutor<'_>, tenant_id: Uuid, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query!(
        "update invitation set revoked_at = now(), updated_at = now()
          where tenant_id = $1 and id = $2 and used_at is null and revoked_at is null",
        tenant_id,
        id
    )
    .execute(e)
    .await
    .map(|r| r.rows_affected() > 0)
}

/// Revokes every pending invitation of the tenant for this email (whatever its case): a new
/// invitation replaces the earlier ones.
pub async fn revoke_pending_for_email(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    email: &str,
) -> sqlx::Result<u64> {
    sqlx::query!(
        "update invitation set revoked_at = now(), updated_at = now()
          where tenant_id = $1 and lower(email) = lower($2)
            and used_at is null and revoked_at is null",
        tenant_id,
        email
    )
    .execute(e)
    .await
    .map(|r| r.rows_affected())
}

/// An invitation found by its token, whatever its state.
#[derive(Debug)]
pub struct Invitation {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub email: String,
    pub role: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Invitation {
    /// Whether the link can still be used.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

pub async fn find_by_hash(
    e: impl PgExecutor<'_>,
    token_hash: &str,
) -> sqlx::Result<Option<Invitation>> {
    sqlx::query_as!(
        Invitation,
        "select i.id, i.tenant_id, t.name as tenant_name, i.email, i.role, i.expires_at,
                i.used_at, i.revoked_at
           from invitation i
           join tenant t on t.id = i.tenant_id
          where i.token_hash = $1",
        token_hash
    )
    .fetch_optional(e)
    .await
}

/// What accepting an invitation grants.
#[derive(Debug)]
pub struct Accepted {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub role: String,
}

/// Marks the open invitation with this token used and returns it; `None` if there is none
/// (unknown, used, revoked or expired). A single statement, so of two concurrent calls
/// exactly one gets the row: the other waits for its row lock and then finds it used.
pub async fn mark_used(e: impl PgExecutor<'_>, token_hash: &str) -> sqlx::Result<Option<Accepted>> {
    sqlx::query_as!(
        Accepted,
        "update invitation set used_at = now(), updated_at = now()
          where token_hash = $1
            and used_at is null and revoked_at is null and expires_at > now()
      returning id, tenant_id, email, role",
        token_hash
    )
    .fetch_optional(e)
    .await
}
