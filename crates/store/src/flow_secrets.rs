//! Flow webhook signing secrets: a tenant's named HMAC keys.
//!
//! A flow's webhook node names its secret (`"secret": "crm"`); the live
//! interpreter gets the tenant's secrets by name from
//! [`Scoped::flow_secrets`]. A secret is set or replaced by name and is
//! write-only everywhere else: [`FlowSecretRow`]'s `Debug` leaves the value
//! out, and the API never returns it. The rule on names
//! ([`valid_name`]) is here so the API and the flow checks agree; the
//! value's rules live in the API.

use crate::entities::flow_secret;
use crate::seal::{Field, Sealed, Sealer};
use crate::{Result, Scoped, StoreError, now};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TryInsertResult,
};
use std::collections::{BTreeMap, BTreeSet};

pub use flow_secret::Model as FlowSecretRow;

/// The longest secret name, in characters.
pub const NAME_MAX: usize = 64;

/// Whether `name` may name a flow secret: 1 to [`NAME_MAX`] characters of
/// `A-Z`, `a-z`, `0-9`, `_`, `.` and `-`.
pub fn valid_name(name: &str) -> bool {
    (1..=NAME_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// How many times [`Scoped::put_flow_secret`] tries when a concurrent
/// writer keeps creating and deleting the same name under it.
const PUT_ATTEMPTS: usize = 3;

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// Set the secret `name` to `secret`: creates it (`true`) or replaces
    /// the value of the one the tenant has (`false`, `created_at` kept).
    /// Returns the row as stored. Safe against a concurrent put of the same
    /// name (one creates, the other replaces) without aborting an enclosing
    /// PostgreSQL transaction.
    pub async fn put_flow_secret(
        &self,
        name: &str,
        secret: &Sealed,
    ) -> Result<(FlowSecretRow, bool)> {
        use flow_secret::Column as S;
        for _ in 0..PUT_ATTEMPTS {
            let t = now();
            let row = FlowSecretRow {
                tenant_id: self.tenant.0,
                name: name.to_owned(),
                secret: secret.clone(),
                created_at: t,
                updated_at: t,
            };
            let inserted = flow_secret::Entity::insert(flow_secret::ActiveModel {
                tenant_id: Set(row.tenant_id),
                name: Set(row.name.clone()),
                secret: Set(row.secret.clone()),
                created_at: Set(t),
                updated_at: Set(t),
            })
            .on_conflict_do_nothing_on([S::TenantId, S::Name])
            .exec_without_returning(self.conn)
            .await?;
            if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
                return Ok((row, true));
            }
            let replaced = flow_secret::Entity::update_many()
                .col_expr(S::Secret, Expr::value(secret.clone()))
                .col_expr(S::UpdatedAt, Expr::value(t))
                .filter(S::TenantId.eq(self.tenant.0))
                .filter(S::Name.eq(name))
                .exec(self.conn)
                .await?;
            if replaced.rows_affected > 0 {
                let row = self.flow_secret_row(name).await?;
                return Ok((row, false));
            }
            // Deleted between the two statements: try again.
        }
        Err(StoreError::Conflict("flow_secrets.name".to_owned()))
    }

    /// The tenant's secret `name`; none is `StoreError::NotFound`.
    async fn flow_secret_row(&self, name: &str) -> Result<FlowSecretRow> {
        flow_secret::Entity::find_by_id((self.tenant.0, name.to_owned()))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The tenant's secrets by name (a tenant has at most a few hundred, so
    /// there are no pages).
    pub async fn list_flow_secrets(&self) -> Result<Vec<FlowSecretRow>> {
        Ok(flow_secret::Entity::find()
            .filter(flow_secret::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(flow_secret::Column::Name)
            .all(self.conn)
            .await?)
    }

    /// Remove the secret `name`; returns it. A name the tenant does not
    /// have is `StoreError::NotFound`.
    pub async fn delete_flow_secret(&self, name: &str) -> Result<FlowSecretRow> {
        use flow_secret::Column as S;
        let row = self.flow_secret_row(name).await?;
        let gone = flow_secret::Entity::delete_many()
            .filter(S::TenantId.eq(self.tenant.0))
            .filter(S::Name.eq(name))
            .exec(self.conn)
            .await?;
        if gone.rows_affected == 0 {
            // Deleted by someone else in between.
            return Err(StoreError::NotFound);
        }
        Ok(row)
    }

    /// The tenant's secrets as the flow interpreter takes them: name to the
    /// key's bytes (the UTF-8 of the value, opened with `sealer`).
    pub async fn flow_secrets(&self, sealer: &Sealer) -> Result<BTreeMap<String, Vec<u8>>> {
        use flow_secret::Column as S;
        let pairs: Vec<(String, Sealed)> = flow_secret::Entity::find()
            .filter(S::TenantId.eq(self.tenant.0))
            .select_only()
            .column(S::Name)
            .column(S::Secret)
            .into_tuple()
            .all(self.conn)
            .await?;
        pairs
            .into_iter()
            .map(|(name, secret)| {
                let key = sealer.open(Field::FlowSecret, &secret)?;
                Ok((name, key.into_bytes()))
            })
            .collect()
    }

    /// The names of the tenant's secrets.
    pub async fn flow_secret_names(&self) -> Result<BTreeSet<String>> {
        use flow_secret::Column as S;
        let names: Vec<String> = flow_secret::Entity::find()
            .filter(S::TenantId.eq(self.tenant.0))
            .select_only()
            .column(S::Name)
            .into_tuple()
            .all(self.conn)
            .await?;
        Ok(names.into_iter().collect())
    }
}
