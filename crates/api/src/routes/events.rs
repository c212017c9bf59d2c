//! The tenant's live event stream over Server-Sent Events, resumable from a
//! cursor (`Last-Event-ID` or `?after=`).

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use omnivox_domain::Permission;
use omnivox_events::{EventFilter, EventId};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use uuid::Uuid;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Comma-separated kinds; a kind ending in `.` is a prefix
    /// (`registration.` matches `registration.registered`). Empty: all.
    pub kinds: Option<String>,
    /// Resume after this event id (the SSE `id` of the last one received).
    pub after: Option<Uuid>,
}

/// Live events of the tenant as `text/event-stream`: each SSE event has the
/// event id as `id`, the kind as `event` and the event as JSON `data`. A
/// `lagged` event says events were missed (reconnect with the last id).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/events", tag = "events",
    params(("tenant_id" = Uuid, Path), EventQuery),
    responses((status = 200, content_type = "text/event-stream", body = String),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    ctx: TenantCtx,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    ctx.require(Permission::MemberRead)?;
    let last_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.parse::<Uuid>())
        .transpose()
        .map_err(|_| ApiError::bad_request("invalid_cursor", "Last-Event-ID is not an event id"))?;
    let kinds: Vec<String> = q
        .kinds
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    let filter = EventFilter::tenant(ctx.tenant)
        .kinds(kinds)
        .after(q.after.or(last_id).map(EventId));
    let sub = state.events.subscribe(filter);
    let stop = state.shutdown.clone();
    let stream = futures_util::stream::unfold((sub, stop), |(mut sub, stop)| async move {
        let next = tokio::select! {
            _ = stop.cancelled() => None,
            next = sub.next() => next,
        };
        let item = match next? {
            Ok(ev) => match serde_json::to_string(&*ev) {
                Ok(data) => SseEvent::default()
                    .id(ev.id.to_string())
                    .event(ev.kind.clone())
                    .data(data),
                Err(e) => SseEvent::default().event("error").data(e.to_string()),
            },
            Err(lagged) => SseEvent::default().event("lagged").data(lagged.to_string()),
        };
        Some((Ok(item), (sub, stop)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
