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
