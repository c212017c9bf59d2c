//! Voicemail: a tenant's boxes and the messages callers left in them.
//!
//! A box belongs to one agent, queue or flow of the tenant (at most one box
//! per owner) and has a tenant-unique name; flows name a box by its name or
//! id ([`Scoped::find_voicemail_box`]). A message's audio lives in the
//! voicemail store under the row's `storage_key`; deleting a box deletes its
//! messages and hands back their keys so the caller removes the files. The
//! rules on the values (lengths, ranges, that the owner and the greeting
//! exist) live in the API; this module stores them.

use crate::entities::{voicemail_box, voicemail_message};
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use chrono::{DateTime, Utc};
use omnivox_domain::{TenantId, UserId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

pub use voicemail_box::Model as VoicemailBoxRow;
pub use voicemail_message::Model as VoicemailMessageRow;

/// What [`StoreError::Conflict`] carries when the tenant already has a box
/// with this name.
pub const NAME_TAKEN: &str = "voicemail_boxes.name";
/// What [`StoreError::Conflict`] carries when the owner already has a box.
pub const OWNER_TAKEN: &str = "voicemail_boxes.owner";

/// A box's values (all of them: the caller checks them together).
#[derive(Clone, PartialEq, Eq)]
pub struct VoicemailBoxValues {
    pub name: String,
    /// `agent`, `queue` or `flow`.
    pub owner_kind: String,
    pub owner_id: Uuid,
    /// A prompt name of the tenant's library.
    pub greeting_prompt: Option<String>,
    pub max_message_seconds: i32,
    pub notify_url: Option<String>,
    /// Sealed; write-only; `Debug` leaves it out.
    pub notify_secret: Option<crate::seal::Sealed>,
}

impl std::fmt::Debug for VoicemailBoxValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoicemailBoxValues")
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
            .finish()
    }
}

impl From<&VoicemailBoxRow> for VoicemailBoxValues {
    fn from(r: &VoicemailBoxRow) -> Self {
        Self {
            name: r.name.clone(),
            owner_kind: r.owner_kind.clone(),
            owner_id: r.owner_id,
            greeting_prompt: r.greeting_prompt.clone(),
            max_message_seconds: r.max_message_seconds,
            notify_url: r.notify_url.clone(),
            notify_secret: r.notify_secret.clone(),
        }
    }
}

/// A message's notification states (`notify_state`).
pub const NOTIFY_NONE: &str = "none";
pub const NOTIFY_PENDING: &str = "pending";
pub const NOTIFY_DELIVERED: &str = "delivered";
pub const NOTIFY_FAILED: &str = "failed";

/// How a notification attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyOutcome {
    Delivered,
    /// Try again at `at`.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// Refused, or out of time: no more attempts.
    Failed {
        error: String,
    },
    /// Not attempted: the box no longer has a URL or secret.
    Dropped,
}

/// A pending notification whose time has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueNotification {
    pub tenant: TenantId,
    pub message: Uuid,
    /// Its due time as stored (what [`Scoped::claim_voicemail_notification`]
    /// checks it still is).
    pub due: DateTime<Utc>,
}

/// Up to `limit` pending notifications due by `now`, of all tenants, the
/// longest overdue first (for the worker that sends them).
pub async fn due_notifications(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<DueNotification>> {
    use voicemail_message::Column as M;
    let rows: Vec<(Uuid, Uuid, Option<DateTime<Utc>>)> = voicemail_message::Entity::find()
        .select_only()
        .columns([M::TenantId, M::Id, M::NotifyNextAt])
        .filter(M::NotifyNextAt.lte(now))
        .filter(M::NotifyState.eq(NOTIFY_PENDING))
        .order_by_asc(M::NotifyNextAt)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(tenant, message, due)| {
            due.map(|due| DueNotification {
                tenant: TenantId(tenant),
                message,
                due,
            })
        })
        .collect())
}

/// A recorded message to store.
#[derive(Clone, Debug)]
pub struct NewVoicemailMessage {
    /// The message's id, as in its storage key.
    pub id: Uuid,
    pub box_id: Uuid,
    pub call_id: Uuid,
    pub caller: String,
    pub called: String,
    pub duration_ms: i64,
    pub size_bytes: i64,
    /// sha256 of the stored file, lowercase hex.
    pub sha256: String,
    /// The key in the voicemail store (`<tenant>/<call>_<message>`).
    pub storage_key: String,
}

/// Which messages a list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageFilter {
    /// Only this box's messages.
    pub box_id: Option<Uuid>,
    /// Only heard (`true`) or new (`false`) messages.
    pub heard: Option<bool>,
}

fn apply(m: &mut voicemail_box::ActiveModel, v: VoicemailBoxValues) {
    m.name = Set(v.name);
    m.owner_kind = Set(v.owner_kind);
    m.owner_id = Set(v.owner_id);
    m.greeting_prompt = Set(v.greeting_prompt);
    m.max_message_seconds = Set(v.max_message_seconds);
    m.notify_url = Set(v.notify_url);
    m.notify_secret = Set(v.notify_secret);
}

/// A unique index refused a box write: say which one (the database's
/// wording differs between SQLite and PostgreSQL, both name the columns or
/// the index).
fn box_conflict(e: StoreError) -> StoreError {
    match e {
        StoreError::Conflict(what) if what.contains("owner") => {
            StoreError::Conflict(OWNER_TAKEN.to_owned())
        }
        StoreError::Conflict(what) if what.contains("name") => {
            StoreError::Conflict(NAME_TAKEN.to_owned())
        }
        e => e,
    }
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// Whether a box other than `except` already has this name or owner:
    /// the conflict, named as [`NAME_TAKEN`] or [`OWNER_TAKEN`].
    async fn box_taken(&self, v: &VoicemailBoxValues, except: Option<Uuid>) -> Result<()> {
        use voicemail_box::Column as B;
        let others = |q: sea_orm::Select<voicemail_box::Entity>| match except {
            Some(id) => q.filter(B::Id.ne(id)),
            None => q,
        };
        let by_name = others(
            voicemail_box::Entity::find()
                .filter(B::TenantId.eq(self.tenant.0))
                .filter(B::Name.eq(v.name.as_str())),
        )
        .one(self.conn)
        .await?;
        if by_name.is_some() {
            return Err(StoreError::Conflict(NAME_TAKEN.to_owned()));
        }
        let by_owner = others(
            voicemail_box::Entity::find()
                .filter(B::TenantId.eq(self.tenant.0))
                .filter(B::OwnerKind.eq(v.owner_kind.as_str()))
                .filter(B::OwnerId.eq(v.owner_id)),
        )
        .one(self.conn)
        .await?;
        if by_owner.is_some() {
            return Err(StoreError::Conflict(OWNER_TAKEN.to_owned()));
        }
        Ok(())
    }

    /// Add a box. A name the tenant already uses is
    /// `StoreError::Conflict(NAME_TAKEN)`; an owner that already has a box
    /// is `StoreError::Conflict(OWNER_TAKEN)`.
    pub async fn create_voicemail_box(&self, v: VoicemailBoxValues) -> Result<VoicemailBoxRow> {
        self.box_taken(&v, None).await?;
        let t = now();
        let mut m = voicemail_box::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            created_at: Set(t),
            updated_at: Set(t),
            ..Default::default()
        };
        apply(&mut m, v);
        m.insert(self.conn)
            .await
            .map_err(|e| box_conflict(e.into()))
    }

    /// The tenant's boxes by id (creation order), paged.
    pub async fn list_voicemail_boxes(&self, page: &PageRequest) -> Result<Page<VoicemailBoxRow>> {
        let mut q = voicemail_box::Entity::find()
            .filter(voicemail_box::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(voicemail_box::Column::Id);
        if let Some(after) = page.after {
            q = q.filter(voicemail_box::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id))
    }

    /// One of the tenant's boxes; another tenant's is `StoreError::NotFound`.
    pub async fn get_voicemail_box(&self, id: Uuid) -> Result<VoicemailBoxRow> {
        voicemail_box::Entity::find()
            .filter(voicemail_box::Column::TenantId.eq(self.tenant.0))
            .filter(voicemail_box::Column::Id.eq(id))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The box a flow names: by id when `name_or_id` is a UUID of one of the
    /// tenant's boxes, otherwise by exact name.
    pub async fn find_voicemail_box(&self, name_or_id: &str) -> Result<Option<VoicemailBoxRow>> {
        if let Ok(id) = Uuid::parse_str(name_or_id) {
            match self.get_voicemail_box(id).await {
                Ok(b) => return Ok(Some(b)),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(voicemail_box::Entity::find()
            .filter(voicemail_box::Column::TenantId.eq(self.tenant.0))
            .filter(voicemail_box::Column::Name.eq(name_or_id))
            .one(self.conn)
            .await?)
    }

    /// The box of an owner (`agent` and a user id, `queue` and a queue id,
    /// `flow` and a flow id), if it has one.
    pub async fn voicemail_box_of(
        &self,
        owner_kind: &str,
        owner_id: Uuid,
    ) -> Result<Option<VoicemailBoxRow>> {
        Ok(voicemail_box::Entity::find()
            .filter(voicemail_box::Column::TenantId.eq(self.tenant.0))
            .filter(voicemail_box::Column::OwnerKind.eq(owner_kind))
            .filter(voicemail_box::Column::OwnerId.eq(owner_id))
            .one(self.conn)
            .await?)
    }

    /// Replace a box's values; returns it before and after. Conflicts as
    /// for [`Self::create_voicemail_box`].
    pub async fn update_voicemail_box(
        &self,
        id: Uuid,
        v: VoicemailBoxValues,
    ) -> Result<(VoicemailBoxRow, VoicemailBoxRow)> {
        let before = self.get_voicemail_box(id).await?;
        self.box_taken(&v, Some(id)).await?;
        let mut m: voicemail_box::ActiveModel = before.clone().into();
        apply(&mut m, v);
        m.updated_at = Set(now());
        let after = m
            .update(self.conn)
            .await
            .map_err(|e| box_conflict(e.into()))?;
        Ok((before, after))
    }

    /// Store a recorded message in one of the tenant's boxes; a box the
    /// tenant does not have (deleted, or another tenant's) is
    /// `StoreError::NotFound`.
    /// Store a message. When its box has a URL to notify (and a secret to
    /// sign with), the notification is pending from now in the same row, so
    /// it is sent even if the process stops before it could be
    /// ([`due_notifications`]).
    pub async fn add_voicemail_message(
        &self,
        m: NewVoicemailMessage,
    ) -> Result<VoicemailMessageRow> {
        let mailbox = self.get_voicemail_box(m.box_id).await?;
        let notify = mailbox.notify_url.is_some() && mailbox.notify_secret.is_some();
        let created_at = now();
        Ok(voicemail_message::ActiveModel {
            id: Set(m.id),
            tenant_id: Set(self.tenant.0),
            box_id: Set(m.box_id),
            call_id: Set(m.call_id),
            caller: Set(m.caller),
            called: Set(m.called),
            duration_ms: Set(m.duration_ms),
            size_bytes: Set(m.size_bytes),
            sha256: Set(m.sha256),
            storage_key: Set(m.storage_key),
            heard_at: Set(None),
            heard_by: Set(None),
            created_at: Set(created_at),
            notify_state: Set(if notify { NOTIFY_PENDING } else { NOTIFY_NONE }.to_owned()),
            notify_attempts: Set(0),
            notify_next_at: Set(notify.then_some(created_at)),
            notify_error: Set(None),
        }
        .insert(self.conn)
        .await?)
    }

    /// Take a due notification for one attempt: moves its due time from
    /// `due` to `lease_until`, so no other node (or a later pass) takes it
    /// meanwhile. `false`: someone else took it first, or it is no longer
    /// pending.
    pub async fn claim_voicemail_notification(
        &self,
        id: Uuid,
        due: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        use voicemail_message::Column as M;
        let r = voicemail_message::Entity::update_many()
            .col_expr(M::NotifyNextAt, Expr::value(lease_until))
            .filter(M::TenantId.eq(self.tenant.0))
            .filter(M::Id.eq(id))
            .filter(M::NotifyState.eq(NOTIFY_PENDING))
            .filter(M::NotifyNextAt.eq(due))
            .exec(self.conn)
            .await?;
        Ok(r.rows_affected == 1)
    }

    /// Record an attempt's outcome: a retry keeps it pending until its
    /// time; delivered and failed end it; dropped (no attempt made) ends it
    /// as `none` without counting an attempt.
    pub async fn record_voicemail_notification(
        &self,
        id: Uuid,
        outcome: NotifyOutcome,
    ) -> Result<()> {
        use voicemail_message::Column as M;
        let attempted = !matches!(outcome, NotifyOutcome::Dropped);
        let (state, next_at, error) = match outcome {
            NotifyOutcome::Delivered => (NOTIFY_DELIVERED, None, None),
            NotifyOutcome::Retry { at, error } => (NOTIFY_PENDING, Some(at), Some(error)),
            NotifyOutcome::Failed { error } => (NOTIFY_FAILED, None, Some(error)),
            NotifyOutcome::Dropped => (NOTIFY_NONE, None, None),
        };
        let mut q = voicemail_message::Entity::update_many()
            .col_expr(M::NotifyState, Expr::value(state))
            .col_expr(M::NotifyNextAt, Expr::value(next_at))
            .col_expr(M::NotifyError, Expr::value(error));
        if attempted {
            q = q.col_expr(M::NotifyAttempts, Expr::col(M::NotifyAttempts).add(1));
        }
        q.filter(M::TenantId.eq(self.tenant.0))
            .filter(M::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    /// The tenant's messages, newest first, filtered by box and heard. The
    /// cursor is the last message of the previous page: one that is not a
    /// message of this tenant (deleted since) is `StoreError::NotFound`.
    pub async fn list_voicemail_messages(
        &self,
        filter: MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<VoicemailMessageRow>> {
        use voicemail_message::Column as M;
        let mut q = voicemail_message::Entity::find()
            .filter(M::TenantId.eq(self.tenant.0))
            .order_by_desc(M::CreatedAt)
            .order_by_desc(M::Id);
        if let Some(b) = filter.box_id {
            q = q.filter(M::BoxId.eq(b));
        }
        match filter.heard {
            Some(true) => q = q.filter(M::HeardAt.is_not_null()),
            Some(false) => q = q.filter(M::HeardAt.is_null()),
            None => {}
        }
        if let Some(after) = page.after {
            let (at, id): (DateTime<Utc>, Uuid) = voicemail_message::Entity::find()
                .filter(M::TenantId.eq(self.tenant.0))
                .filter(M::Id.eq(after))
                .select_only()
                .column(M::CreatedAt)
                .column(M::Id)
                .into_tuple()
                .one(self.conn)
                .await?
                .ok_or(StoreError::NotFound)?;
            // Keyset on (created_at, id), both descending: messages left at
            // the same instant keep a stable order.
            q = q.filter(
                Condition::any()
                    .add(M::CreatedAt.lt(at))
                    .add(Condition::all().add(M::CreatedAt.eq(at)).add(M::Id.lt(id))),
            );
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id))
    }

    /// Which of `ids` are messages of this tenant: the start-up repair pass
    /// checks the voicemail store's files against it, a chunk at a time.
    pub async fn existing_voicemail_message_ids(
        &self,
        ids: &[Uuid],
    ) -> Result<std::collections::HashSet<Uuid>> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let rows: Vec<Uuid> = voicemail_message::Entity::find()
            .filter(voicemail_message::Column::TenantId.eq(self.tenant.0))
            .filter(voicemail_message::Column::Id.is_in(ids.iter().copied()))
            .select_only()
            .column(voicemail_message::Column::Id)
            .into_tuple()
            .all(self.conn)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// One of the tenant's messages.
    pub async fn get_voicemail_message(&self, id: Uuid) -> Result<VoicemailMessageRow> {
        voicemail_message::Entity::find()
            .filter(voicemail_message::Column::TenantId.eq(self.tenant.0))
            .filter(voicemail_message::Column::Id.eq(id))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Mark a message heard (by `by`, at the first time it is marked: marking
    /// a heard message again changes nothing) or new again (clears both);
    /// returns it before and after.
    pub async fn set_voicemail_heard(
        &self,
        id: Uuid,
        heard: bool,
        by: Option<UserId>,
    ) -> Result<(VoicemailMessageRow, VoicemailMessageRow)> {
        use voicemail_message::Column as M;
        let before = self.get_voicemail_message(id).await?;
        let (at, who) = match (heard, before.heard_at) {
            (true, Some(_)) => return Ok((before.clone(), before)),
            (true, None) => (Some(now()), by.map(|u| u.0)),
            (false, _) => (None, None),
        };
        voicemail_message::Entity::update_many()
            .col_expr(M::HeardAt, Expr::value(at))
            .col_expr(M::HeardBy, Expr::value(who))
            .filter(M::TenantId.eq(self.tenant.0))
            .filter(M::Id.eq(id))
            .exec(self.conn)
            .await?;
        let after = self.get_voicemail_message(id).await?;
        Ok((before, after))
    }

    /// Remove a message's row; returns it (the caller removes its file).
    pub async fn delete_voicemail_message(&self, id: Uuid) -> Result<VoicemailMessageRow> {
        let row = self.get_voicemail_message(id).await?;
        voicemail_message::Entity::delete_many()
            .filter(voicemail_message::Column::TenantId.eq(self.tenant.0))
            .filter(voicemail_message::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(row)
    }
}

impl<C: ConnectionTrait + TransactionTrait> Scoped<'_, C> {
    /// Remove a box and its messages in one transaction (a savepoint when
    /// `C` is already a transaction); returns the box and the storage keys
    /// of the messages removed, for the caller to delete their files.
    pub async fn delete_voicemail_box(&self, id: Uuid) -> Result<(VoicemailBoxRow, Vec<String>)> {
        use voicemail_message::Column as M;
        let tx = self.conn.begin().await?;
        let s = Scoped::new(&tx, self.tenant);
        let row = s.get_voicemail_box(id).await?;
        let keys: Vec<String> = voicemail_message::Entity::find()
            .filter(M::TenantId.eq(self.tenant.0))
            .filter(M::BoxId.eq(id))
            .select_only()
            .column(M::StorageKey)
            .into_tuple()
            .all(&tx)
            .await?;
        voicemail_message::Entity::delete_many()
            .filter(M::TenantId.eq(self.tenant.0))
            .filter(M::BoxId.eq(id))
            .exec(&tx)
            .await?;
        voicemail_box::Entity::delete_many()
            .filter(voicemail_box::Column::TenantId.eq(self.tenant.0))
            .filter(voicemail_box::Column::Id.eq(id))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok((row, keys))
    }
}
