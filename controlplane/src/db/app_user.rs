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
    /// Sessions signed with another epoch are over.
    pub session_epoch: i32,
}

/// The user with this email, whatever its case.
pub async fn find_credentials(
    e: impl PgExecutor<'_>,
    email: &str,
) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as!(
        Credentials,
        "select id as user_id, tenant_id, password_hash, session_epoch
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
    pub session_epoch: i32,
}

pub async fn find_session_user(
    e: impl PgExecutor<'_>,
    id: Uuid,
) -> sqlx::Result<Option<SessionUser>> {
    sqlx::query_as!(
        SessionUser,
        "select u.id as user_id, u.tenant_id, u.email, t.name as tenant_name,
                t.status as tenant_status, u.role, u.is_platform_admin,
                u.session_epoch
           from app_user u
           join tenant t on t.id = u.tenant_id
          where u.id = $1",
        id
    )
    .fetch_optional(e)
    .await
}

/// A member of a tenant as the team page lists them.
#[derive(Debug)]
pub struct Member {
    pub id: Uuid,
    pub email: String,
    /// `owner` or `member`.
    pub role: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The tenant's people: owners first, then by when they joined.
pub async fn list_for_tenant(e: impl PgExecutor<'_>, tenant_id: Uuid) -> sqlx::Result<Vec<Member>> {
    sqlx::query_as!(
        Member,
        "select id, email, role, created_at
           from app_user
          where tenant_id = $1
          order by role = 'owner' desc, created_at, id",
        tenant_id
    )
    .fetch_all(e)
    .await
}

/// Locks the tenant's owners' rows (`for update`) and returns their ids: inside a
/// transaction, concurrent demotions and removals then take turns, so a check for "another
/// owner remains" cannot be raced.
pub async fn lock_owners(e: impl PgExecutor<'_>, tenant_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select id from app_user
          where tenant_id = $1 and role = 'owner'
          order by id
            for update",
        tenant_id
    )
    .fetch_all(e)
    .await
}

/// The role of the tenant's user, `None` if the tenant has no such user.
pub async fn find_role(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "select role from app_user where tenant_id = $1 and id = $2",
        tenant_id,
        id
    )
    .fetch_optional(e)
    .await
}

/// Sets the role of the tenant's user; `false` if the tenant has no such user.
pub async fn set_role(
    e: impl PgExecutor<'_>,
    tenant_id: Uuid,
    id: Uuid,
    role: &str,
) -> sqlx::Result<bool> {
    sqlx::query!(
        "update app_user set role = $3, updated_at = now() where tenant_id = $1 and id = $2",
        tenant_id,
        id,
        role
    )
    .execute(e)
    .await
    .map(|r| r.rows_affected() > 0)
}

/// Deletes the tenant's user; `false` if the tenant has no such user. Their sessions end
/// with them: every request re-reads the user.
pub async fn delete(e: impl PgExecutor<'_>, tenant_id: Uuid, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query!(
        "delete from app_user where tenant_id = $1 and id = $2",
        tenant_id,
        id
    )
    .execute(e)
    .await
    .map(|r| r.rows_affected() > 0)
}

/// Whether an account with this email exists in any tenant (emails are globally unique).
pub async fn email_taken(e: impl PgExecutor<'_>, email: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from app_user where lower(email) = lower($1)) as "taken!""#,
        email
    )
    .fetch_one(e)
    .await
}

/// Ends every session of the user (see `session_epoch` in migrations/0006).
pub async fn end_sessions(e: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update app_user
            set session_epoch = session_epoch + 1, updated_at = now()
          where id = $1",
        id
    )
    .execute(e)
    .await?;
    Ok(())
}
