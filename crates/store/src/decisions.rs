//! Stored dial decisions: what the compliance engine said, why, and under
//! which rule-set version.

use crate::entities::{dial_decision, tenant_compliance};
use crate::{Page, PageRequest, Result, Scoped};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

pub use dial_decision::Model as DialDecision;
pub use tenant_compliance::Model as TenantCompliance;

pub struct NewDecision<'a> {
    pub contact_id: Uuid,
    pub phone: &'a str,
    pub campaign_id: Option<Uuid>,
    /// `allow`, `deny` or `defer`.
    pub outcome: &'a str,
    pub defer_until: Option<DateTime<Utc>>,
    pub reasons: serde_json::Value,
    pub rule_set_version: &'a str,
    pub dry_run: bool,
    pub decided_at: DateTime<Utc>,
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    pub async fn record_decision(&self, d: NewDecision<'_>) -> Result<DialDecision> {
        Ok(dial_decision::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            contact_id: Set(d.contact_id),
            phone: Set(d.phone.to_owned()),
            campaign_id: Set(d.campaign_id),
            outcome: Set(d.outcome.to_owned()),
            defer_until: Set(d.defer_until),
            reasons: Set(d.reasons),
            rule_set_version: Set(d.rule_set_version.to_owned()),
            dry_run: Set(d.dry_run),
            decided_at: Set(d.decided_at),
        }
        .insert(self.conn)
        .await?)
    }

    /// A contact's decisions, newest first.
    pub async fn decisions_for(
        &self,
        contact: Uuid,
        page: &PageRequest,
    ) -> Result<Page<DialDecision>> {
        let mut q = dial_decision::Entity::find()
            .filter(dial_decision::Column::TenantId.eq(self.tenant.0))
            .filter(dial_decision::Column::ContactId.eq(contact))
            .order_by_desc(dial_decision::Column::Id);
        if let Some(after) = page.after {
            q = q.filter(dial_decision::Column::Id.lt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |d| d.id))
    }

    /// Times of dials acted on (allowed, not dry runs) to any of `phones`
    /// since `since`, across every campaign: the attempt history.
    pub async fn dials_since(
        &self,
        phones: &[String],
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>> {
        let rows: Vec<DateTime<Utc>> = dial_decision::Entity::find()
            .select_only()
            .column(dial_decision::Column::DecidedAt)
            .filter(dial_decision::Column::TenantId.eq(self.tenant.0))
            .filter(dial_decision::Column::Phone.is_in(phones.iter().cloned()))
            .filter(dial_decision::Column::Outcome.eq("allow"))
            .filter(dial_decision::Column::DryRun.eq(false))
            .filter(dial_decision::Column::DecidedAt.gte(since))
            .into_tuple()
            .all(self.conn)
            .await?;
        Ok(rows)
    }
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// The tenant's own calling rules (defaults when never set).
    pub async fn tenant_compliance(&self) -> Result<TenantCompliance> {
        Ok(tenant_compliance::Entity::find_by_id(self.tenant.0)
            .one(self.conn)
            .await?
            .unwrap_or(TenantCompliance {
                tenant_id: self.tenant.0,
                calling_hours: None,
                holidays: serde_json::json!([]),
                holiday_zone: "called_party".into(),
                updated_at: crate::now(),
            }))
    }

    pub async fn set_tenant_compliance(
        &self,
        calling_hours: Option<String>,
        holidays: serde_json::Value,
        holiday_zone: &str,
    ) -> Result<TenantCompliance> {
        use sea_orm::sea_query::OnConflict;
        let row = tenant_compliance::ActiveModel {
            tenant_id: Set(self.tenant.0),
            calling_hours: Set(calling_hours),
            holidays: Set(holidays),
            holiday_zone: Set(holiday_zone.to_owned()),
            updated_at: Set(crate::now()),
        };
        tenant_compliance::Entity::insert(row)
            .on_conflict(
                OnConflict::column(tenant_compliance::Column::TenantId)
                    .update_columns([
                        tenant_compliance::Column::CallingHours,
                        tenant_compliance::Column::Holidays,
                        tenant_compliance::Column::HolidayZone,
                        tenant_compliance::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(self.conn)
            .await?;
        self.tenant_compliance().await
    }
}
