use sea_orm::entity::prelude::*;

/// A message a caller left in a voicemail box (the audio is a WAV in the
/// voicemail store under `storage_key`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "voicemail_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub box_id: Uuid,
    pub call_id: Uuid,
    /// Who called (as the call showed it).
    #[sea_orm(column_type = "Text")]
    pub caller: String,
    /// The number called.
    #[sea_orm(column_type = "Text")]
    pub called: String,
    pub duration_ms: i64,
    pub size_bytes: i64,
    /// sha256 of the stored file, lowercase hex.
    #[sea_orm(column_type = "Text")]
    pub sha256: String,
    /// The key in the voicemail store (`<tenant>/<call>_<message>`).
    #[sea_orm(column_type = "Text")]
    pub storage_key: String,
    /// When it was first marked heard (null: new).
    pub heard_at: Option<DateTimeUtc>,
    /// Who marked it heard (null for an API key, or when new).
    pub heard_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    /// The notification to the box's URL: `none` (no URL when the message
    /// was left), `pending`, `delivered` or `failed`.
    pub notify_state: String,
    /// Notification attempts so far.
    pub notify_attempts: i32,
    /// When the next attempt is due (set only while pending).
    pub notify_next_at: Option<DateTimeUtc>,
    /// What the last failed attempt met (`HTTP 503`, a transport error).
    pub notify_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
