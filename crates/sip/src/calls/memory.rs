//! In-process implementations of the call seams, for tests and embedding
//! (the server wires the store-backed ones).

use super::model::{
    BoxFuture, CallDirectory, CallRecord, CallRecorder, CallSnapshot, DialRefusal, DidRoute,
    FinishedRecording, RecordingPolicy,
};
use crate::directory::DirectoryError;
use omnivox_domain::{TenantId, UserId};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

/// DIDs, agents' SIP user names and blocked prefixes held in memory.
#[derive(Debug, Default)]
pub struct MemoryCallDirectory {
    dids: RwLock<HashMap<String, DidRoute>>,
    agents: RwLock<HashMap<(TenantId, UserId), String>>,
    blocked: RwLock<Vec<String>>,
    policies: RwLock<HashMap<TenantId, RecordingPolicy>>,
}

impl MemoryCallDirectory {
    /// Empty: no DIDs, no agents, every number allowed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a DID.
    pub fn add_did(&self, route: DidRoute) {
        if let Ok(mut m) = self.dids.write() {
            m.insert(route.number.clone(), route);
        }
    }

    /// Names the SIP user of an agent.
    pub fn add_agent(&self, tenant: TenantId, agent: UserId, user: &str) {
        if let Ok(mut m) = self.agents.write() {
            m.insert((tenant, agent), user.to_string());
        }
    }

    /// Sets a tenant's recording policy (on demand until set).
    pub fn set_recording_policy(&self, tenant: TenantId, policy: RecordingPolicy) {
        if let Ok(mut m) = self.policies.write() {
            m.insert(tenant, policy);
        }
    }

    /// Refuses numbers starting with `prefix` for every tenant.
    pub fn block_prefix(&self, prefix: &str) {
        if let Ok(mut b) = self.blocked.write() {
            b.push(prefix.to_string());
        }
    }
}

fn poisoned() -> DirectoryError {
    DirectoryError("directory lock poisoned".into())
}

impl CallDirectory for MemoryCallDirectory {
    fn did_route<'a>(
        &'a self,
        number: &'a str,
    ) -> BoxFuture<'a, Result<Option<DidRoute>, DirectoryError>> {
        let r = self
            .dids
            .read()
            .map(|m| m.get(number).cloned())
            .map_err(|_| poisoned());
        Box::pin(async move { r })
    }

    fn check_dial<'a>(
        &'a self,
        _tenant: TenantId,
        number: &'a str,
    ) -> BoxFuture<'a, Result<Result<(), DialRefusal>, DirectoryError>> {
        let r = self
            .blocked
            .read()
            .map(
                |b| match b.iter().find(|p| number.starts_with(p.as_str())) {
                    Some(p) => Err(DialRefusal {
                        code: "blocked_prefix".into(),
                        message: format!("numbers starting with {p} are blocked"),
                    }),
                    None => Ok(()),
                },
            )
            .map_err(|_| poisoned());
        Box::pin(async move { r })
    }

    fn agent_user<'a>(
        &'a self,
        tenant: TenantId,
        agent: UserId,
    ) -> BoxFuture<'a, Result<Option<String>, DirectoryError>> {
        let r = self
            .agents
            .read()
            .map(|m| m.get(&(tenant, agent)).cloned())
            .map_err(|_| poisoned());
        Box::pin(async move { r })
    }

    fn recording_policy(
        &self,
        tenant: TenantId,
    ) -> BoxFuture<'_, Result<RecordingPolicy, DirectoryError>> {
        let r = self
            .policies
            .read()
            .map(|m| m.get(&tenant).copied().unwrap_or_default())
            .map_err(|_| poisoned());
        Box::pin(async move { r })
    }
}

/// Keeps call records in memory.
#[derive(Debug, Default)]
pub struct MemoryRecorder {
    started: Mutex<Vec<CallSnapshot>>,
    ended: Mutex<Vec<CallRecord>>,
    recordings: Mutex<Vec<FinishedRecording>>,
}

impl MemoryRecorder {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls that started.
    pub fn started_calls(&self) -> Vec<CallSnapshot> {
        self.started.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Calls that ended.
    pub fn records(&self) -> Vec<CallRecord> {
        self.ended.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Recordings that were finished.
    pub fn recordings(&self) -> Vec<FinishedRecording> {
        self.recordings
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }
}

impl CallRecorder for MemoryRecorder {
    fn started(&self, call: &CallSnapshot) {
        if let Ok(mut v) = self.started.lock() {
            v.push(call.clone());
        }
    }

    fn ended(&self, record: CallRecord) {
        if let Ok(mut v) = self.ended.lock() {
            v.push(record);
        }
    }

    fn recording_finished(&self, recording: FinishedRecording) {
        if let Ok(mut v) = self.recordings.lock() {
            v.push(recording);
        }
    }
}
