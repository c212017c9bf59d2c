//! sea-orm entities: one model for SQLite and PostgreSQL.
//!
//! These are the store's row types; the rest of Omnivox sees them through the
//! repository functions.

pub mod agent_profile;
pub mod agent_reason_code;
pub mod agent_state_history;
pub mod api_key;
pub mod audit_log;
pub mod call_leg;
pub mod call_record;
pub mod campaign;
pub mod campaign_attempt;
pub mod campaign_lead;
pub mod campaign_list;
pub mod consent_event;
pub mod contact;
pub mod contact_list;
pub mod contact_phone;
pub mod custom_field;
pub mod dial_decision;
pub mod dial_lock;
pub mod dial_policy;
pub mod did;
pub mod disposition_code;
pub mod dnc_entry;
pub mod dnc_registry;
pub mod flow;
pub mod flow_run;
pub mod flow_version;
pub mod idempotency_key;
pub mod import_error;
pub mod import_job;
pub mod ip_lockout;
pub mod membership;
pub mod prompt;
pub mod recording;
pub mod recording_setting;
pub mod recovery_code;
pub mod refresh_token;
pub mod session;
pub mod sip_account;
pub mod system_setting;
pub mod tenant;
pub mod tenant_compliance;
pub mod trunk;
pub mod user;
