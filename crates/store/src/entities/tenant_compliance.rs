use sea_orm::entity::prelude::*;

/// A tenant's own calling rules, stricter than the law's.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_compliance")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// A week-hours spec (`mon-fri 09:00-20:00; sat 10:00-14:00`), or none.
    pub calling_hours: Option<String>,
    /// Dates (`YYYY-MM-DD`) with no calls.
    pub holidays: Json,
    /// `called_party` or `tenant`: whose calendar the holidays are read in.
    pub holiday_zone: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
