//! A tenant's ACD settings, stored whole as JSON (the API owns their
//! shape and rules). No row: the defaults.

use crate::{Result, Scoped, now};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

/// The `acd_settings` table.
mod acd_setting {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "acd_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(column_type = "Text")]
        pub settings: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// The tenant's stored ACD settings (JSON), if it changed them.
    pub async fn acd_settings(&self) -> Result<Option<String>> {
        Ok(acd_setting::Entity::find_by_id(self.tenant.0)
            .one(self.conn)
            .await?
            .map(|r| r.settings))
    }

    /// Store the tenant's ACD settings (JSON), replacing any.
    pub async fn put_acd_settings(&self, settings: &str) -> Result<()> {
        use acd_setting::Column as A;
        acd_setting::Entity::insert(acd_setting::ActiveModel {
            tenant_id: Set(self.tenant.0),
            settings: Set(settings.to_owned()),
            updated_at: Set(now()),
        })
        .on_conflict(
            OnConflict::column(A::TenantId)
                .update_columns([A::Settings, A::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(self.conn)
        .await?;
        Ok(())
    }
}
