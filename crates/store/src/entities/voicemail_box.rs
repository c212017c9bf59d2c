use sea_orm::entity::prelude::*;

/// A tenant's voicemail box: owned by one agent, queue or flow (at most one
/// box per owner), named uniquely within the tenant.
#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "voicemail_boxes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// 1-64 characters, unique within the tenant.
    pub name: String,
    /// `agent`, `queue` or `flow`.
    pub owner_kind: String,
    /// The owning user, queue or flow.
    pub owner_id: Uuid,
    /// A prompt name of the tenant's library played before the beep.
    #[sea_orm(column_type = "Text", nullable)]
    pub greeting_prompt: Option<String>,
    /// The longest message recorded, in seconds.
    pub max_message_seconds: i32,
    /// Where a new message's metadata is POSTed.
    #[sea_orm(column_type = "Text", nullable)]
    pub notify_url: Option<String>,
    /// The HMAC key of those notifications, sealed ([`crate::seal`]): write-only, never returned or
    /// logged (`Debug` leaves it out).
    #[sea_orm(column_type = "Text", nullable)]
    pub notify_secret: Option<crate::seal::Sealed>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoicemailBox")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("owner_kind", &self.owner_kind)
            .field("owner_id", &self.owner_id)
            .field("greeting_prompt", &self.greeting_prompt)
            .field("max_message_seconds", &self.max_message_seconds)
            .field("notify_url", &self.notify_url)
            .field(
                "notify_secret",
                &self.notify_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
