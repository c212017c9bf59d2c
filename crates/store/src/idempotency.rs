//! Idempotency keys for POST requests.

use crate::entities::idempotency_key;
use crate::{Result, StoreError, now};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

/// What claiming a key found.
#[derive(Debug, PartialEq)]
pub enum Claim {
    /// The key is new and now ours: run the request, then [`complete`].
    Claimed,
    /// The same key with the same request completed before.
    Replay { status: u16, body: String },
    /// The same key is still being processed by another request.
    InProgress,
    /// The same key came with a different request.
    Mismatch,
}

pub async fn claim(
    conn: &impl ConnectionTrait,
    scope: &str,
    key: &str,
    request_hash: &str,
) -> Result<Claim> {
    let inserted = idempotency_key::ActiveModel {
        scope: Set(scope.to_owned()),
        key: Set(key.to_owned()),
        request_hash: Set(request_hash.to_owned()),
        status_code: Set(None),
        response_body: Set(None),
        created_at: Set(now()),
    }
    .insert(conn)
    .await;
    match inserted.map_err(StoreError::from) {
        Ok(_) => Ok(Claim::Claimed),
        Err(StoreError::Conflict(_)) => {
            let row = idempotency_key::Entity::find_by_id((scope.to_owned(), key.to_owned()))
                .one(conn)
                .await?
                .ok_or(StoreError::NotFound)?;
            if row.request_hash != request_hash {
                return Ok(Claim::Mismatch);
            }
            match (row.status_code, row.response_body) {
                (Some(s), Some(body)) => Ok(Claim::Replay {
                    status: u16::try_from(s).unwrap_or(500),
                    body,
                }),
                _ => Ok(Claim::InProgress),
            }
        }
        Err(e) => Err(e),
    }
}

/// Store the response of a claimed key.
pub async fn complete(
    conn: &impl ConnectionTrait,
    scope: &str,
    key: &str,
    status: u16,
    body: &str,
) -> Result<()> {
    idempotency_key::Entity::update_many()
        .col_expr(
            idempotency_key::Column::StatusCode,
            Expr::value(i32::from(status)),
        )
        .col_expr(idempotency_key::Column::ResponseBody, Expr::value(body))
        .filter(idempotency_key::Column::Scope.eq(scope))
        .filter(idempotency_key::Column::Key.eq(key))
        .exec(conn)
        .await?;
    Ok(())
}

/// Forget a claimed key (the request failed on the server; a retry may run).
pub async fn release(conn: &impl ConnectionTrait, scope: &str, key: &str) -> Result<()> {
    idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::Scope.eq(scope))
        .filter(idempotency_key::Column::Key.eq(key))
        .exec(conn)
        .await?;
    Ok(())
}

/// Drop keys older than `before`.
pub async fn purge_before(
    conn: &impl ConnectionTrait,
    before: chrono::DateTime<chrono::Utc>,
) -> Result<u64> {
    Ok(idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::CreatedAt.lt(before))
        .exec(conn)
        .await?
        .rows_affected)
}
