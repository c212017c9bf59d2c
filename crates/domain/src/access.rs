//! Roles and the permission matrix: the one place that says who may do what.
//!
//! Every tenant-scoped endpoint names the [`Permission`] it needs; a caller's
//! [`Role`] in that tenant grants a fixed set of permissions ([`Role::grants`]).
//! The README's permission matrix is generated from this table by
//! `omnivox permissions` so the two cannot drift.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A user's role within one tenant (or an API key's scope).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Supervisor,
    Agent,
    Analyst,
    Viewer,
}

/// Something a caller may do inside a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read the tenant's settings.
    TenantRead,
    /// Change the tenant's settings (name, time zone, business hours, 2FA rule).
    TenantUpdate,
    /// List the tenant's members and their roles.
    MemberRead,
    /// Add, remove, change the role of, and unlock members (not owners).
    MemberManage,
    /// Grant or take away the owner role.
    OwnerManage,
    /// List the tenant's API keys (never their secrets).
    ApiKeyRead,
    /// Create and revoke API keys.
    ApiKeyManage,
    /// Read the audit log.
    AuditRead,
    /// Read lists, contacts, custom fields and imports; export contacts.
    ContactRead,
    /// Create and change lists, contacts and custom fields; run imports.
    ContactManage,
    /// Read DNC entries, the consent ledger and dial decisions; ask for a
    /// dry-run decision.
    ComplianceRead,
    /// Add and remove DNC entries; load national registries.
    DncManage,
    /// Record consent and opt-outs for a contact.
    ConsentRecord,
    /// Read trunks (never their credentials), DIDs and their health.
    TelephonyRead,
    /// Create, change and delete trunks and DIDs; set the dialing policy.
    TelephonyManage,
    /// See live calls and read call records (CDRs); export them.
    CallRead,
    /// Originate, hang up, hold, transfer and send DTMF on calls. Agents
    /// hold it for their own calls only (checked per call).
    CallControl,
    /// Listen to, whisper to and barge into other people's live calls.
    CallMonitor,
    /// List call recordings, read their metadata and download their audio.
    RecordingRead,
    /// Delete recordings (retention is a tenant setting).
    RecordingManage,
    /// Read campaigns, their settings, hopper and live statistics.
    CampaignRead,
    /// Create, change, start, pause, stop and archive campaigns.
    CampaignManage,
    /// See agents, their states, state history, skills, reason and
    /// disposition codes.
    AgentRead,
    /// Set agents' skills, change any agent's state, define reason and
    /// disposition codes.
    AgentManage,
    /// Work as an agent: log in and out, change one's own state, set the
    /// disposition of one's own calls.
    AgentWork,
    /// See ACD queues, their settings and live statistics.
    QueueRead,
    /// Create, change and delete ACD queues.
    QueueManage,
    /// See voicemail boxes, and list, play and mark heard every box's
    /// messages. Agents without it reach only the messages of their own box
    /// (checked per message).
    VoicemailRead,
    /// Create, change and delete voicemail boxes; delete any box's messages.
    VoicemailManage,
}

impl Permission {
    pub const ALL: [Permission; 29] = [
        Permission::TenantRead,
        Permission::TenantUpdate,
        Permission::MemberRead,
        Permission::MemberManage,
        Permission::OwnerManage,
        Permission::ApiKeyRead,
        Permission::ApiKeyManage,
        Permission::AuditRead,
        Permission::ContactRead,
        Permission::ContactManage,
        Permission::ComplianceRead,
        Permission::DncManage,
        Permission::ConsentRecord,
        Permission::TelephonyRead,
        Permission::TelephonyManage,
        Permission::CallRead,
        Permission::CallControl,
        Permission::CallMonitor,
        Permission::RecordingRead,
        Permission::RecordingManage,
        Permission::CampaignRead,
        Permission::CampaignManage,
        Permission::AgentRead,
        Permission::AgentManage,
        Permission::AgentWork,
        Permission::QueueRead,
        Permission::QueueManage,
        Permission::VoicemailRead,
        Permission::VoicemailManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::TenantRead => "tenant_read",
            Permission::TenantUpdate => "tenant_update",
            Permission::MemberRead => "member_read",
            Permission::MemberManage => "member_manage",
            Permission::OwnerManage => "owner_manage",
            Permission::ApiKeyRead => "api_key_read",
            Permission::ApiKeyManage => "api_key_manage",
            Permission::AuditRead => "audit_read",
            Permission::ContactRead => "contact_read",
            Permission::ContactManage => "contact_manage",
            Permission::ComplianceRead => "compliance_read",
            Permission::DncManage => "dnc_manage",
            Permission::ConsentRecord => "consent_record",
            Permission::TelephonyRead => "telephony_read",
            Permission::TelephonyManage => "telephony_manage",
            Permission::CallRead => "call_read",
            Permission::CallControl => "call_control",
            Permission::CallMonitor => "call_monitor",
            Permission::RecordingRead => "recording_read",
            Permission::RecordingManage => "recording_manage",
            Permission::CampaignRead => "campaign_read",
            Permission::CampaignManage => "campaign_manage",
            Permission::AgentRead => "agent_read",
            Permission::AgentManage => "agent_manage",
            Permission::AgentWork => "agent_work",
            Permission::QueueRead => "queue_read",
            Permission::QueueManage => "queue_manage",
            Permission::VoicemailRead => "voicemail_read",
            Permission::VoicemailManage => "voicemail_manage",
        }
    }
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Owner,
        Role::Admin,
        Role::Supervisor,
        Role::Agent,
        Role::Analyst,
        Role::Viewer,
    ];

    /// The permission matrix.
    pub fn grants(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner => true,
            Role::Admin => !matches!(permission, OwnerManage),
            Role::Supervisor => matches!(
                permission,
                TenantRead
                    | MemberRead
                    | ContactRead
                    | ContactManage
                    | ComplianceRead
                    | DncManage
                    | ConsentRecord
                    | TelephonyRead
                    | CallRead
                    | CallControl
                    | CallMonitor
                    | RecordingRead
                    | CampaignRead
                    | CampaignManage
                    | AgentRead
                    | AgentManage
                    | AgentWork
                    | QueueRead
                    | QueueManage
                    | VoicemailRead
                    | VoicemailManage
            ),
            // Agents record an opt-out heard on a call; the customer card
            // reaches them through the call, not through list browsing.
            // Call control is limited to the agent's own calls by the route.
            Role::Agent => matches!(
                permission,
                TenantRead | ConsentRecord | CallControl | AgentWork
            ),
            Role::Analyst => matches!(
                permission,
                TenantRead
                    | ContactRead
                    | ComplianceRead
                    | CallRead
                    | CampaignRead
                    | AgentRead
                    | QueueRead
            ),
            Role::Viewer => matches!(permission, TenantRead),
        }
    }

    /// A role may hand out (to a member or an API key) only roles whose
    /// permissions it holds itself.
    pub fn can_assign(self, other: Role) -> bool {
        Permission::ALL
            .iter()
            .all(|p| !other.grants(*p) || self.grants(*p))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role `{0}` (expected owner, admin, supervisor, agent, analyst or viewer)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// The matrix as a Markdown table (rows: permissions, columns: roles).
pub fn permission_matrix_markdown() -> String {
    let mut out = String::from("| permission |");
    for r in Role::ALL {
        out.push_str(&format!(" {r} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(Role::ALL.len()));
    out.push('\n');
    for p in Permission::ALL {
        out.push_str(&format!("| `{}` |", p.as_str()));
        for r in Role::ALL {
            out.push_str(if r.grants(p) { " yes |" } else { " - |" });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_has_everything_and_viewer_only_reads_the_tenant() {
        for p in Permission::ALL {
            assert!(Role::Owner.grants(p));
            assert_eq!(Role::Viewer.grants(p), p == Permission::TenantRead);
        }
    }

    #[test]
    fn admin_cannot_manage_owners_or_assign_owner() {
        assert!(!Role::Admin.grants(Permission::OwnerManage));
        assert!(Role::Admin.grants(Permission::MemberManage));
        assert!(!Role::Admin.can_assign(Role::Owner));
        assert!(Role::Admin.can_assign(Role::Admin));
        assert!(Role::Admin.can_assign(Role::Agent));
        assert!(Role::Owner.can_assign(Role::Owner));
        assert!(!Role::Supervisor.can_assign(Role::Admin));
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownRole("root".to_owned())));
    }

    #[test]
    fn voicemail_is_for_owners_admins_and_supervisors() {
        for r in Role::ALL {
            let expected = matches!(r, Role::Owner | Role::Admin | Role::Supervisor);
            assert_eq!(r.grants(Permission::VoicemailRead), expected, "{r}");
            assert_eq!(r.grants(Permission::VoicemailManage), expected, "{r}");
        }
        assert_eq!(Permission::VoicemailRead.as_str(), "voicemail_read");
        assert_eq!(Permission::VoicemailManage.as_str(), "voicemail_manage");
        // Every permission is in ALL exactly once.
        let mut names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Permission::ALL.len());
    }

    #[test]
    fn matrix_lists_every_permission_once() {
        let md = permission_matrix_markdown();
        for p in Permission::ALL {
            assert_eq!(md.matches(&format!("`{}`", p.as_str())).count(), 1);
        }
    }
}

#[cfg(test)]
mod readme {
    #[test]
    fn readme_shows_the_current_matrix() {
        let readme = include_str!("../../../README.md");
        assert!(
            readme.contains(&super::permission_matrix_markdown()),
            "README's permission matrix is stale: paste `omnivox permissions` into it"
        );
    }
}
