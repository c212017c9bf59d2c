//! Failed sign-ins per source IP.

use crate::entities::ip_lockout;
use crate::{Result, now};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Set};

/// When the address is locked out, until when.
pub async fn locked_until(conn: &impl ConnectionTrait, ip: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(ip_lockout::Entity::find_by_id(ip.to_owned())
        .one(conn)
        .await?
        .and_then(|r| r.locked_until)
        .filter(|t| *t > now()))
}

/// Count a failure from `ip`: failures older than `window` start a new count;
/// reaching `threshold` locks the address for `lock_for`.
pub async fn record_failure(
    conn: &impl ConnectionTrait,
    ip: &str,
    threshold: i32,
    window: Duration,
    lock_for: Duration,
) -> Result<()> {
    let t = now();
    match ip_lockout::Entity::find_by_id(ip.to_owned())
        .one(conn)
        .await?
    {
        None => {
            ip_lockout::ActiveModel {
                ip: Set(ip.to_owned()),
                failures: Set(1),
                window_started_at: Set(t),
                locked_until: Set((threshold <= 1).then(|| t + lock_for)),
            }
            .insert(conn)
            .await?;
        }
        Some(row) => {
            let fresh = row.window_started_at + window < t;
            let failures = if fresh { 1 } else { row.failures + 1 };
            let mut m = row.into_active_model();
            if fresh {
                m.window_started_at = Set(t);
            }
            m.failures = Set(failures);
            if failures >= threshold {
                m.locked_until = Set(Some(t + lock_for));
            }
            m.update(conn).await?;
        }
    }
    Ok(())
}

/// Lift a lock on an address (an operator's unlock).
pub async fn clear(conn: &impl ConnectionTrait, ip: &str) -> Result<bool> {
    Ok(ip_lockout::Entity::delete_by_id(ip.to_owned())
        .exec(conn)
        .await?
        .rows_affected
        > 0)
}
