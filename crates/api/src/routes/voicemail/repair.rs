//! The start-up pass over the voicemail store: message files without a row.
//!
//! A message's file (`<tenant>/<call>_<message>.wav`) is written while the
//! caller speaks; its row is added once the message has ended. A crash
//! between the two (or between a message's or box's deletion and the
//! removal of its file) leaves a file nothing lists. The file's key names
//! the tenant, the call and the message, but not the box: the box was
//! chosen by the flow node or queue rule the call was in, which is not
//! stored, so the message cannot be filed honestly. At start-up, before
//! SIP accepts calls (so no message is being written), [`repair_orphans`]
//! therefore removes each such file, after auditing it as
//! `voicemail.orphan_removed` by the system with what is known of it (the
//! call, its caller and called numbers from the call's record, the
//! length, size and sha256). Only files of calls this database knows are
//! removed: a file whose tenant or call it has no record of (a database
//! restored from an older backup, another installation's files) is left
//! alone and logged, as is a file whose name is not a message key.

use crate::recordings::{RecordingsError, measure};
use omnivox_domain::{CallId, TenantId};
use omnivox_media::record::{LocalStore, RecordError, RecordingKey, RecordingStore};
use omnivox_sip::calls::model::parse_recording_key;
use omnivox_store::audit::{self, Actor, NewAuditEntry};
use omnivox_store::{Scoped, Store, StoreError, commit};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Files checked against the rows per query.
const CHUNK: usize = 500;

/// One message file without a row.
struct Orphan {
    key: RecordingKey,
    tenant: TenantId,
    call: Uuid,
    message: Uuid,
}

/// Removes every message file that has no row and belongs to a call this
/// database knows, auditing each (see the module docs); returns how many
/// were removed. Run before SIP starts.
pub async fn repair_orphans(store: &Store, local: &LocalStore) -> Result<u64, RecordingsError> {
    let keys = {
        let local = local.clone();
        tokio::task::spawn_blocking(move || local.list()).await??
    };
    let mut by_tenant: BTreeMap<TenantId, Vec<(RecordingKey, Uuid, Uuid)>> = BTreeMap::new();
    for key in keys {
        match parse_recording_key(&key) {
            Some((tenant, call, message)) => {
                by_tenant
                    .entry(tenant)
                    .or_default()
                    .push((key, call, message));
            }
            None => {
                tracing::warn!(file = %key.storage_key(), "voicemail file of unknown origin left alone");
            }
        }
    }
    let mut orphans = Vec::new();
    for (tenant, files) in by_tenant {
        let s = Scoped::new(store.reader(), tenant);
        for chunk in files.chunks(CHUNK) {
            let ids: Vec<Uuid> = chunk.iter().map(|(_, _, m)| *m).collect();
            let known = s.existing_voicemail_message_ids(&ids).await?;
            orphans.extend(chunk.iter().filter(|(_, _, m)| !known.contains(m)).map(
                |(key, call, message)| Orphan {
                    key: key.clone(),
                    tenant,
                    call: *call,
                    message: *message,
                },
            ));
        }
    }
    let mut removed = 0;
    for o in orphans {
        if remove_orphan(store, local, &o).await? {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Audits and removes one orphan; `false` when it is left alone.
async fn remove_orphan(
    store: &Store,
    local: &LocalStore,
    o: &Orphan,
) -> Result<bool, RecordingsError> {
    let file = o.key.storage_key();
    let call = match Scoped::new(store.reader(), o.tenant)
        .get_cdr(CallId(o.call))
        .await
    {
        Ok((call, _)) => call,
        // No such tenant or call here: not a file this database can judge.
        Err(StoreError::NotFound) => {
            tracing::warn!(file = %file,
                "voicemail file of a call this database does not know left alone");
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    let measured = {
        let (local, key) = (local.clone(), o.key.clone());
        tokio::task::spawn_blocking(move || {
            let (size, sha256) = measure(&local, &key)?;
            // The length as the header would say once complete (the file
            // goes anyway; a file that is no WAV has none).
            let duration = local.repair(&key).ok();
            Ok::<_, RecordError>((size, sha256, duration))
        })
        .await?
    };
    let (size, sha256, duration) = match measured {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(file = %file, error = %e, "voicemail file not readable: left alone");
            return Ok(false);
        }
    };
    let before = serde_json::json!({
        "call_id": o.call,
        "caller": call.from_number,
        "called": call.to_number,
        "duration_ms": duration.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        "size_bytes": size,
        "sha256": sha256,
        "storage_key": file,
    });
    // Audited first: a crash before the file goes audits it again at the
    // next start, never removes it unaudited.
    let tx = store.begin().await?;
    audit::record(
        &tx,
        NewAuditEntry {
            tenant: Some(o.tenant),
            actor: Actor::System,
            action: "voicemail.orphan_removed".to_owned(),
            target_type: "voicemail_message".to_owned(),
            target_id: Some(o.message.to_string()),
            before: Some(before),
            after: Some(serde_json::json!({
                "reason": "no message row: its box is not known",
            })),
            request_id: None,
            source_ip: None,
        },
    )
    .await?;
    commit(tx).await?;
    let deleted = {
        let (local, key) = (local.clone(), o.key.clone());
        tokio::task::spawn_blocking(move || local.delete(&key)).await?
    };
    match deleted {
        Ok(()) | Err(RecordError::NotFound) => {
            tracing::warn!(file = %file, call_id = %o.call, message_id = %o.message,
                "voicemail file without a message row removed");
            Ok(true)
        }
        Err(e) => {
            tracing::warn!(file = %file, error = %e, "voicemail file without a row not removed");
            Ok(false)
        }
    }
}
