//! The one migration set, run on SQLite and PostgreSQL alike.

use sea_orm_migration::prelude::*;

mod common;
mod m20261121_000001_foundation;
mod m20261121_000002_contacts;
mod m20261121_000003_sip;
mod m20261121_000004_telephony;
mod m20261121_000005_contact_indexes;
mod m20261121_000006_call_quality;
mod m20261121_000007_prompts;
mod m20261121_000008_flows;
mod m20261121_000009_recordings;
mod m20261121_000010_campaigns;
mod m20261121_000011_agents;
mod m20261121_000012_queues;
mod m20261121_000013_attempt_phone;
mod m20261121_000014_did_targets;
mod m20261121_000015_flow_runs;
mod m20261121_000016_voicemail;
mod m20261121_000017_flow_secrets;
mod m20261121_000018_queue_callbacks;
mod m20261121_000019_queue_handle_time;
mod m20261121_000020_acd_settings;
mod m20261121_000021_personal_callbacks;
mod m20261121_000022_queue_recording;
mod m20261121_000023_voicemail_notify;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_foundation::Migration),
            Box::new(m20261121_000002_contacts::Migration),
            Box::new(m20261121_000003_sip::Migration),
            Box::new(m20261121_000004_telephony::Migration),
            Box::new(m20261121_000005_contact_indexes::Migration),
            Box::new(m20261121_000006_call_quality::Migration),
            Box::new(m20261121_000007_prompts::Migration),
            Box::new(m20261121_000008_flows::Migration),
            Box::new(m20261121_000009_recordings::Migration),
            Box::new(m20261121_000010_campaigns::Migration),
            Box::new(m20261121_000011_agents::Migration),
            Box::new(m20261121_000012_queues::Migration),
            Box::new(m20261121_000013_attempt_phone::Migration),
            Box::new(m20261121_000014_did_targets::Migration),
            Box::new(m20261121_000015_flow_runs::Migration),
            Box::new(m20261121_000016_voicemail::Migration),
            Box::new(m20261121_000017_flow_secrets::Migration),
            Box::new(m20261121_000018_queue_callbacks::Migration),
            Box::new(m20261121_000019_queue_handle_time::Migration),
            Box::new(m20261121_000020_acd_settings::Migration),
            Box::new(m20261121_000021_personal_callbacks::Migration),
            Box::new(m20261121_000022_queue_recording::Migration),
            Box::new(m20261121_000023_voicemail_notify::Migration),
        ]
    }
}
