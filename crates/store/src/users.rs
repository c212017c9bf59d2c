//! Users are installation-wide (one person may belong to several tenants);
//! what a user may see of a tenant goes through memberships.

use crate::entities::{recovery_code, user};
use crate::{Result, StoreError, now};
use chrono::{DateTime, Utc};
use omnivox_domain::UserId;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};

pub use user::Model as User;

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub async fn create(
    conn: &impl ConnectionTrait,
    email: &str,
    display_name: &str,
    password_hash: &str,
    is_superadmin: bool,
) -> Result<User> {
    let t = now();
    Ok(user::ActiveModel {
        id: Set(UserId::new().0),
        email: Set(normalize_email(email)),
        display_name: Set(display_name.to_owned()),
        password_hash: Set(password_hash.to_owned()),
        is_superadmin: Set(is_superadmin),
        totp_secret: Set(None),
        totp_enabled: Set(false),
        failed_logins: Set(0),
        locked_until: Set(None),
        created_at: Set(t),
        updated_at: Set(t),
    }
    .insert(conn)
    .await?)
}

pub async fn get(conn: &impl ConnectionTrait, id: UserId) -> Result<User> {
    user::Entity::find_by_id(id.0)
        .one(conn)
        .await?
        .ok_or(StoreError::NotFound)
}

pub async fn find_by_email(conn: &impl ConnectionTrait, email: &str) -> Result<Option<User>> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(normalize_email(email)))
        .one(conn)
        .await?)
}

pub async fn count(conn: &impl ConnectionTrait) -> Result<u64> {
    Ok(user::Entity::find().count(conn).await?)
}

async fn update_where_id(
    conn: &impl ConnectionTrait,
    id: UserId,
    sets: Vec<(user::Column, sea_orm::sea_query::SimpleExpr)>,
) -> Result<()> {
    let mut q = user::Entity::update_many().filter(user::Column::Id.eq(id.0));
    for (col, v) in sets {
        q = q.col_expr(col, v);
    }
    q = q.col_expr(user::Column::UpdatedAt, Expr::value(now()));
    let res = q.exec(conn).await?;
    if res.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn set_password(conn: &impl ConnectionTrait, id: UserId, hash: &str) -> Result<()> {
    update_where_id(
        conn,
        id,
        vec![(user::Column::PasswordHash, Expr::value(hash.to_owned()))],
    )
    .await
}

/// Count a failed sign-in; lock the account for `lock_for` once `threshold`
/// failures in a row are reached. Returns the failure count.
pub async fn record_failed_login(
    conn: &impl ConnectionTrait,
    id: UserId,
    threshold: i32,
    lock_until: DateTime<Utc>,
) -> Result<i32> {
    let u = get(conn, id).await?;
    let failures = u.failed_logins + 1;
    let locked = (failures >= threshold).then_some(lock_until);
    update_where_id(
        conn,
        id,
        vec![
            (user::Column::FailedLogins, Expr::value(failures)),
            (user::Column::LockedUntil, Expr::value(locked)),
        ],
    )
    .await?;
    Ok(failures)
}

/// Clear failures and any lock (successful sign-in, or an admin's unlock).
pub async fn clear_lock(conn: &impl ConnectionTrait, id: UserId) -> Result<()> {
    update_where_id(
        conn,
        id,
        vec![
            (user::Column::FailedLogins, Expr::value(0)),
            (
                user::Column::LockedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            ),
        ],
    )
    .await
}

/// Store a not-yet-verified TOTP secret (enrollment step one).
pub async fn set_pending_totp(
    conn: &impl ConnectionTrait,
    id: UserId,
    secret: &crate::seal::Sealed,
) -> Result<()> {
    update_where_id(
        conn,
        id,
        vec![
            (user::Column::TotpSecret, Expr::value(secret.clone())),
            (user::Column::TotpEnabled, Expr::value(false)),
        ],
    )
    .await
}

/// Turn TOTP on and replace the recovery codes with `code_hashes`.
pub async fn enable_totp(
    conn: &impl ConnectionTrait,
    id: UserId,
    code_hashes: &[String],
) -> Result<()> {
    update_where_id(
        conn,
        id,
        vec![(user::Column::TotpEnabled, Expr::value(true))],
    )
    .await?;
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(id.0))
        .exec(conn)
        .await?;
    let rows = code_hashes.iter().map(|h| recovery_code::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(id.0),
        code_hash: Set(h.clone()),
        used_at: Set(None),
    });
    recovery_code::Entity::insert_many(rows).exec(conn).await?;
    Ok(())
}

pub async fn disable_totp(conn: &impl ConnectionTrait, id: UserId) -> Result<()> {
    update_where_id(
        conn,
        id,
        vec![
            (
                user::Column::TotpSecret,
                Expr::value(Option::<String>::None),
            ),
            (user::Column::TotpEnabled, Expr::value(false)),
        ],
    )
    .await?;
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(id.0))
        .exec(conn)
        .await?;
    Ok(())
}

/// Spend a recovery code: true when `code_hash` was an unused code of the
/// user's, which is now used.
pub async fn use_recovery_code(
    conn: &impl ConnectionTrait,
    id: UserId,
    code_hash: &str,
) -> Result<bool> {
    let res = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::UsedAt, Expr::value(now()))
        .filter(recovery_code::Column::UserId.eq(id.0))
        .filter(recovery_code::Column::CodeHash.eq(code_hash))
        .filter(recovery_code::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}
