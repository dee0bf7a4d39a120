//! `app_user`: the people who sign in to a tenant.

use sqlx::PgExecutor;
use uuid::Uuid;

/// The unique index that keeps emails unique whatever their case.
pub const EMAIL_UNIQUE: &str = "app_user_email_lower_key";

pub struct NewUser<'a> {
    pub tenant_id: Uuid,
    pub email: &'a str,
    /// argon2id PHC string.
    pub password_hash: &'a str,
    /// `owner` or `member`.
    pub role: &'a str,
    pub is_platform_admin: bool,
}

/// Inserts a user; a taken email violates [`EMAIL_UNIQUE`].
pub async fn insert(e: impl PgExecutor<'_>, user: &NewUser<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        "insert into app_user (tenant_id, email, password_hash, role, is_platform_admin)
         values ($1, $2, $3, $4, $5)
         returning id",
        user.tenant_id,
        user.email,
        user.password_hash,
        user.role,
        user.is_platform_admin
    )
    .fetch_one(e)
    .await
}

/// What signing in needs to know about a user.
#[derive(Debug)]
pub struct Credentials {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// The user with this email, whatever its case.
pub async fn find_credentials(
    e: impl PgExecutor<'_>,
    email: &str,
) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as!(
        Credentials,
        "select id as user_id, tenant_id, password_hash
           from app_user
          where lower(email) = lower($1)",
        email
    )
    .fetch_optional(e)
    .await
}

/// A signed-in user with its tenant's name and status.
#[derive(Debug)]
pub struct SessionUser {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub tenant_name: String,
    /// `active` or `suspended`.
    pub tenant_status: String,
    /// `owner` or `member`.
    pub role: String,
    pub is_platform_admin: bool,
}

pub async fn find_session_user(
    e: impl PgExecutor<'_>,
    id: Uuid,
) -> sqlx::Result<Option<SessionUser>> {
    sqlx::query_as!(
        SessionUser,
        "select u.id as user_id, u.tenant_id, u.email, t.name as tenant_name,
                t.status as tenant_status, u.role, u.is_platform_admin
           from app_user u
           join tenant t on t.id = u.tenant_id
          where u.id = $1",
        id
    )
    .fetch_optional(e)
    .await
}
