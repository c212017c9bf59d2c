use sea_orm::entity::prelude::*;

/// A caller who left an ACD queue to be called back and keeps their place
/// in it (`crate::queue_callbacks`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "queue_callbacks")]
pub struct Model {
    /// The caller's original call, which is also the ACD entry.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub queue_id: Uuid,
    /// The E.164 number to dial back.
    #[sea_orm(column_type = "Text")]
    pub number: String,
    /// The DID the caller called (the caller ID of the callback).
    #[sea_orm(column_type = "Text", nullable)]
    pub caller_id: Option<String>,
    /// The entry's priority in its queue (higher first).
    pub priority: i32,
    /// When the caller entered the queue: the place they keep.
    pub requested_at: DateTimeUtc,
    /// `waiting`, `done`, `failed` or `cancelled`
    /// (`crate::queue_callbacks::CallbackStatus`).
    pub status: String,
    /// Dial-back attempts made so far.
    pub attempts: i32,
    /// Why the last attempt failed or the callback was cancelled
    /// (`no_answer`, `busy`, ...).
    pub last_cause: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
