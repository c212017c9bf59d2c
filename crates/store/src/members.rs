//! Tenant memberships: which users belong to a tenant and with what role.

use crate::entities::{membership, user};
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use omnivox_domain::{Role, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

/// A member as the API shows it: the user and their role in this tenant.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub user: user::Model,
    pub role: Role,
    pub joined_at: chrono::DateTime<chrono::Utc>,
}

fn parse_role(s: &str) -> Result<Role> {
    s.parse()
        .map_err(|e: omnivox_domain::access::UnknownRole| StoreError::Corrupt(e.to_string()))
}

/// The user's role in every tenant they belong to.
pub async fn roles_of_user(
    conn: &impl ConnectionTrait,
    user: UserId,
) -> Result<Vec<(omnivox_domain::TenantId, Role)>> {
    membership::Entity::find()
        .filter(membership::Column::UserId.eq(user.0))
        .order_by_asc(membership::Column::TenantId)
        .all(conn)
        .await?
        .into_iter()
        .map(|m| Ok((m.tenant_id.into(), parse_role(&m.role)?)))
        .collect()
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// The role of `user` in this tenant, if a member.
    pub async fn role_of(&self, user: UserId) -> Result<Option<Role>> {
        membership::Entity::find_by_id((self.tenant.0, user.0))
            .one(self.conn)
            .await?
            .map(|m| parse_role(&m.role))
            .transpose()
    }

    pub async fn get_member(&self, user: UserId) -> Result<Member> {
        let m = membership::Entity::find_by_id((self.tenant.0, user.0))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let u = crate::users::get(self.conn, user).await?;
        Ok(Member {
            user: u,
            role: parse_role(&m.role)?,
            joined_at: m.created_at,
        })
    }

    pub async fn list_members(
        &self,
        page: &PageRequest,
        role: Option<Role>,
    ) -> Result<Page<Member>> {
        let mut q = membership::Entity::find()
            .filter(membership::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(membership::Column::UserId);
        if let Some(after) = page.after {
            q = q.filter(membership::Column::UserId.gt(after));
        }
        if let Some(r) = role {
            q = q.filter(membership::Column::Role.eq(r.as_str()));
        }
        let rows = q
            .find_also_related_user()
            .limit(page.limit + 1)
            .all(self.conn)
            .await?;
        let mut members = Vec::with_capacity(rows.len());
        for (m, u) in rows {
            let user = u.ok_or_else(|| StoreError::Corrupt("membership without user".into()))?;
            members.push(Member {
                user,
                role: parse_role(&m.role)?,
                joined_at: m.created_at,
            });
        }
        Ok(Page::from_rows(members, page.limit, |m| m.user.id))
    }

    pub async fn add_member(&self, user: UserId, role: Role) -> Result<()> {
        membership::ActiveModel {
            tenant_id: Set(self.tenant.0),
            user_id: Set(user.0),
            role: Set(role.as_str().to_owned()),
            created_at: Set(now()),
        }
        .insert(self.conn)
        .await?;
        Ok(())
    }

    pub async fn set_role(&self, user: UserId, role: Role) -> Result<()> {
        let res = membership::Entity::update_many()
            .col_expr(membership::Column::Role, Expr::value(role.as_str()))
            .filter(membership::Column::TenantId.eq(self.tenant.0))
            .filter(membership::Column::UserId.eq(user.0))
            .exec(self.conn)
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn remove_member(&self, user: UserId) -> Result<()> {
        let res = membership::Entity::delete_many()
            .filter(membership::Column::TenantId.eq(self.tenant.0))
            .filter(membership::Column::UserId.eq(user.0))
            .exec(self.conn)
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn count_owners(&self) -> Result<u64> {
        Ok(membership::Entity::find()
            .filter(membership::Column::TenantId.eq(self.tenant.0))
            .filter(membership::Column::Role.eq(Role::Owner.as_str()))
            .count(self.conn)
            .await?)
    }
}

trait FindAlsoUser {
    fn find_also_related_user(self) -> sea_orm::SelectTwo<membership::Entity, user::Entity>;
}

impl FindAlsoUser for sea_orm::Select<membership::Entity> {
    fn find_also_related_user(self) -> sea_orm::SelectTwo<membership::Entity, user::Entity> {
        use sea_orm::EntityTrait as _;
        let rel: sea_orm::RelationDef = membership::Entity::belongs_to(user::Entity)
            .from(membership::Column::UserId)
            .to(user::Column::Id)
            .into();
        self.select_also(user::Entity)
            .join(sea_orm::JoinType::LeftJoin, rel)
    }
}
