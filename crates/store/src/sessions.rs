//! Login sessions and their rotating refresh tokens.

use crate::entities::{refresh_token, session};
use crate::{Result, StoreError, now};
use chrono::{DateTime, Utc};
use omnivox_domain::{SessionId, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

pub use session::Model as Session;

pub struct NewSession<'a> {
    pub user: UserId,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub refresh_hash: &'a str,
}

pub async fn create(conn: &impl ConnectionTrait, new: NewSession<'_>) -> Result<Session> {
    let t = now();
    let s = session::ActiveModel {
        id: Set(SessionId::new().0),
        user_id: Set(new.user.0),
        created_at: Set(t),
        expires_at: Set(new.expires_at),
        last_seen_at: Set(t),
        revoked_at: Set(None),
        revoke_reason: Set(None),
        user_agent: Set(new.user_agent.map(|s| s.chars().take(255).collect())),
        ip: Set(new.ip.map(str::to_owned)),
    }
    .insert(conn)
    .await?;
    add_refresh_token(conn, SessionId(s.id), new.refresh_hash).await?;
    Ok(s)
}

async fn add_refresh_token(conn: &impl ConnectionTrait, s: SessionId, hash: &str) -> Result<()> {
    refresh_token::ActiveModel {
        token_hash: Set(hash.to_owned()),
        session_id: Set(s.0),
        created_at: Set(now()),
        used_at: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &impl ConnectionTrait, id: SessionId) -> Result<Session> {
    session::Entity::find_by_id(id.0)
        .one(conn)
        .await?
        .ok_or(StoreError::NotFound)
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    /// The token was current: it is now spent and `new_hash` replaces it.
    Rotated(Session),
    /// The token had already been rotated: the whole session is now revoked.
    Reused(SessionId),
    /// Unknown token, or its session is revoked or expired.
    Invalid,
}

/// Rotate a refresh token. Spending the old token is a conditional update,
/// so two concurrent uses of one token cannot both succeed.
pub async fn rotate(
    conn: &impl ConnectionTrait,
    old_hash: &str,
    new_hash: &str,
) -> Result<Rotation> {
    let Some(tok) = refresh_token::Entity::find_by_id(old_hash.to_owned())
        .one(conn)
        .await?
    else {
        return Ok(Rotation::Invalid);
    };
    let sid = SessionId(tok.session_id);
    let session = get(conn, sid).await?;
    if session.revoked_at.is_some() || session.expires_at <= now() {
        return Ok(Rotation::Invalid);
    }
    let spent = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now()))
        .filter(refresh_token::Column::TokenHash.eq(old_hash))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    if spent.rows_affected == 0 {
        revoke(conn, sid, "refresh_token_reused").await?;
        return Ok(Rotation::Reused(sid));
    }
    add_refresh_token(conn, sid, new_hash).await?;
    session::Entity::update_many()
        .col_expr(session::Column::LastSeenAt, Expr::value(now()))
        .filter(session::Column::Id.eq(sid.0))
        .exec(conn)
        .await?;
    Ok(Rotation::Rotated(session))
}

/// Revoke a session; returns false when it was already revoked or unknown.
pub async fn revoke(conn: &impl ConnectionTrait, id: SessionId, reason: &str) -> Result<bool> {
    let res = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now()))
        .col_expr(session::Column::RevokeReason, Expr::value(reason))
        .filter(session::Column::Id.eq(id.0))
        .filter(session::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Revoke every live session of a user (password change, admin action).
pub async fn revoke_all_for_user(
    conn: &impl ConnectionTrait,
    user: UserId,
    reason: &str,
) -> Result<u64> {
    let res = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now()))
        .col_expr(session::Column::RevokeReason, Expr::value(reason))
        .filter(session::Column::UserId.eq(user.0))
        .filter(session::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
}

/// The user's sessions that are neither revoked nor expired, newest first.
pub async fn list_active(conn: &impl ConnectionTrait, user: UserId) -> Result<Vec<Session>> {
    Ok(session::Entity::find()
        .filter(session::Column::UserId.eq(user.0))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now()))
        .order_by_desc(session::Column::Id)
        .all(conn)
        .await?)
}
