//! The tenant's live event stream, over Server-Sent Events or a WebSocket,
//! resumable from a cursor (`Last-Event-ID` or `?after=`).

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use omnivox_domain::Permission;
use omnivox_events::{Event, EventFilter, EventId, Lagged, Subscription};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Comma-separated kinds; a kind ending in `.` is a prefix
    /// (`registration.` matches `registration.registered`). Empty: all.
    pub kinds: Option<String>,
    /// Resume after this event id (the `id` of the last event received).
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
    let sub = state.events.subscribe(event_filter(&ctx, q, &headers)?);
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

/// The subscription a request asks for: the caller's tenant, the `kinds`
/// patterns, and the resume cursor (`?after=`, else `Last-Event-ID`).
fn event_filter(ctx: &TenantCtx, q: EventQuery, headers: &HeaderMap) -> ApiResult<EventFilter> {
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
    Ok(EventFilter::tenant(ctx.tenant)
        .kinds(kinds)
        .after(q.after.or(last_id).map(EventId)))
}

/// The server pings this often; any frame from the client counts as alive.
const WS_PING_EVERY: Duration = Duration::from_secs(15);
/// A client silent this long (no pong, no frame) is dropped.
const WS_IDLE_LIMIT: Duration = Duration::from_secs(45);
/// A frame the client does not take within this time ends the connection.
const WS_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a close handshake may take before the socket is just dropped.
const WS_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Clients only ever send control frames; anything larger is refused.
const WS_MAX_INCOMING: usize = 4096;
/// Close code: the client fell behind the live stream; reconnect with
/// `?after=<resume_after>` from the `lagged` message (or its last event id).
pub const WS_CLOSE_LAGGED: u16 = 4001;

/// Live events of the tenant over a WebSocket.
///
/// The filter and resume cursor are those of the SSE stream. Every event is
/// one JSON text frame: the event (as in SSE `data`) plus `"type": "event"`;
/// its `id` is the cursor. A client that falls behind gets `{"type":
/// "lagged", "reason": "behind", "resume_after": ...}` and close code 4001,
/// and reconnects with `?after=<resume_after>`. A resume cursor older than
/// the retained events gets `{"type": "lagged", "reason": "gap", ...}` first
/// and the stream goes on (reload state). The server pings every 15 s and
/// closes with 1001 on shutdown. Browsers authenticate with the session
/// cookie (the upgrade must then come from Omnivox's own origin), other
/// clients with a bearer token.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/events/ws", tag = "events",
    params(("tenant_id" = Uuid, Path), EventQuery),
    responses(
        (status = 101, description = "Switching Protocols: one JSON text frame per event \
            (`{\"type\":\"event\",\"id\",\"tenant\",\"kind\",\"subject\",\"at\",\"data\"}`)"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 426, description = "Not a WebSocket upgrade request", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn websocket(
    State(state): State<AppState>,
    ctx: TenantCtx,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    ctx.require(Permission::MemberRead)?;
    check_origin(&state, &headers)?;
    let filter = event_filter(&ctx, q, &headers)?;
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(rejection) => return Ok(upgrade_required(&rejection)),
    };
    // Subscribed before the 101 goes out: whatever is published once the
    // client sees the handshake complete is delivered.
    let sub = state.events.subscribe(filter);
    let stop = state.shutdown.clone();
    let tenant = ctx.tenant;
    Ok(upgrade
        .max_message_size(WS_MAX_INCOMING)
        .max_frame_size(WS_MAX_INCOMING)
        .on_failed_upgrade(move |e| {
            tracing::debug!(tenant_id = %tenant, error = %e, "event WebSocket upgrade failed");
        })
        .on_upgrade(move |socket| pump(socket, sub, stop)))
}

/// 426 with the usual error envelope (axum's own rejection is plain text).
fn upgrade_required(rejection: &WebSocketUpgradeRejection) -> Response {
    let body = json!({ "error": {
        "code": "websocket_upgrade_required",
        "message": format!("this endpoint speaks WebSocket only: {}", rejection.body_text()),
        "details": null,
    }});
    let mut resp = (StatusCode::UPGRADE_REQUIRED, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    resp
}

/// WebSockets are outside CORS and browsers send cookies on a cross-site
/// handshake, so an upgrade authenticated by the session cookie (no
/// `Authorization` header) must come from Omnivox's own origin: the host it
/// was sent to, or `http.public_url`. Non-browser clients send no `Origin`.
fn check_origin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Ok(());
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    fn authority(url: &str) -> Option<&str> {
        let (_, rest) = url.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        Some(&rest[..end]).filter(|a| !a.is_empty())
    }
    let same = |a: &str, b: Option<&str>| b.is_some_and(|b| a.eq_ignore_ascii_case(b));
    let allowed = origin.to_str().ok().and_then(authority).is_some_and(|o| {
        same(o, headers.get(header::HOST).and_then(|h| h.to_str().ok()))
            || same(o, authority(&state.config.http.public_url))
    });
    if allowed {
        Ok(())
    } else {
        Err(ApiError::ForbiddenCode {
            code: "origin_mismatch",
            message: "a cookie-authenticated WebSocket must be opened from Omnivox's own origin"
                .into(),
        })
    }
}

/// What to do with one item of the subscription.
#[derive(Debug, PartialEq)]
enum Outgoing {
    /// Send this text frame and go on.
    Frame(String),
    /// Send this text frame, then close with this code and reason.
    FrameThenClose(String, u16, String),
}

/// An event as a WebSocket frame: its fields plus `"type": "event"`.
#[derive(serde::Serialize)]
struct EventFrame<'a> {
    #[serde(rename = "type")]
    frame: &'static str,
    #[serde(flatten)]
    event: &'a Event,
}

fn outgoing(item: Result<&Event, Lagged>) -> Outgoing {
    match item {
        Ok(event) => {
            let frame = EventFrame {
                frame: "event",
                event,
            };
            Outgoing::Frame(serde_json::to_string(&frame).unwrap_or_else(|_| {
                json!({ "type": "error", "message": "event not serializable" }).to_string()
            }))
        }
        Err(
            lagged @ Lagged::Behind {
                missed,
                resume_after,
            },
        ) => Outgoing::FrameThenClose(
            json!({
                "type": "lagged",
                "reason": "behind",
                "missed": missed,
                "resume_after": resume_after,
                "message": lagged.to_string(),
            })
            .to_string(),
            WS_CLOSE_LAGGED,
            format!("lagged; resume with after={resume_after}"),
        ),
        Err(
            gap @ Lagged::Gap {
                after,
                oldest_retained,
            },
        ) => Outgoing::Frame(
            json!({
                "type": "lagged",
                "reason": "gap",
                "after": after,
                "oldest_retained": oldest_retained,
                "message": gap.to_string(),
            })
            .to_string(),
        ),
    }
}

/// Forward the subscription to the socket until the client leaves, falls
/// behind, stops answering, or the server shuts down.
async fn pump(mut socket: WebSocket, mut sub: Subscription, stop: CancellationToken) {
    let mut ping = tokio::time::interval_at(Instant::now() + WS_PING_EVERY, WS_PING_EVERY);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => {
                close(socket, close_code::AWAY, "server shutting down").await;
                return;
            }
            incoming = socket.recv() => match incoming {
                // The close reply goes out as the socket is read on.
                Some(Ok(Message::Close(_))) => {
                    drain(socket).await;
                    return;
                }
                Some(Err(_)) | None => return,
                // Pings are answered by the socket itself; text from the
                // client means nothing here and is ignored.
                Some(Ok(_)) => last_heard = Instant::now(),
            },
            next = sub.next() => {
                let Some(item) = next else {
                    close(socket, close_code::AWAY, "event stream ended").await;
                    return;
                };
                match outgoing(item.as_deref().map_err(|l| *l)) {
                    Outgoing::Frame(text) => {
                        if !send(&mut socket, Message::Text(text.into())).await {
                            return;
                        }
                    }
                    Outgoing::FrameThenClose(text, code, reason) => {
                        if send(&mut socket, Message::Text(text.into())).await {
                            close(socket, code, &reason).await;
                        }
                        return;
                    }
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= WS_IDLE_LIMIT {
                    tracing::debug!(tenant_id = %sub.tenant(), "event WebSocket silent; dropped");
                    return;
                }
                if !send(&mut socket, Message::Ping(Default::default())).await {
                    return;
                }
            }
        }
    }
}

/// Send one frame; false when the connection is gone or stuck.
async fn send(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(
        tokio::time::timeout(WS_SEND_TIMEOUT, socket.send(msg)).await,
        Ok(Ok(()))
    )
}

/// Send a close frame and wait (briefly) for the client's close reply.
async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if send(&mut socket, Message::Close(Some(frame))).await {
        drain(socket).await;
    }
}

/// Read until the close handshake is done (or briefly, at most).
async fn drain(mut socket: WebSocket) {
    let _ = tokio::time::timeout(WS_CLOSE_TIMEOUT, async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use omnivox_domain::TenantId;

    fn event(kind: &str) -> Event {
        Event {
            id: EventId::new(),
            tenant: TenantId::new(),
            kind: kind.into(),
            subject: Some("alice".into()),
            at: chrono::Utc::now(),
            data: serde_json::value::to_raw_value(&json!({ "username": "alice" })).unwrap(),
        }
    }

    #[test]
    fn an_event_is_its_json_plus_a_type() {
        let ev = event("registration.registered");
        let Outgoing::Frame(text) = outgoing(Ok(&ev)) else {
            panic!("events do not close the socket");
        };
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "event");
        assert_eq!(v["id"], ev.id.to_string());
        v.as_object_mut().unwrap().remove("type");
        assert_eq!(
            v,
            serde_json::to_value(&ev).unwrap(),
            "same shape as SSE data"
        );
    }

    #[test]
    fn falling_behind_says_where_to_resume_and_closes() {
        let resume_after = EventId::new();
        let out = outgoing(Err(Lagged::Behind {
            missed: 7,
            resume_after,
        }));
        let Outgoing::FrameThenClose(text, code, reason) = out else {
            panic!("a lagged client is closed: {out:?}");
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "lagged");
        assert_eq!(v["reason"], "behind");
        assert_eq!(v["missed"], 7);
        assert_eq!(v["resume_after"], resume_after.to_string());
        assert_eq!(code, WS_CLOSE_LAGGED);
        assert!(reason.contains(&resume_after.to_string()), "{reason}");
        assert!(reason.len() <= 123, "close reasons fit a control frame");
    }

    #[test]
    fn a_gap_is_reported_and_the_stream_goes_on() {
        let after = EventId::new();
        let out = outgoing(Err(Lagged::Gap {
            after,
            oldest_retained: None,
        }));
        let Outgoing::Frame(text) = out else {
            panic!("a gap does not close: {out:?}");
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (v["type"].as_str(), v["reason"].as_str()),
            (Some("lagged"), Some("gap"))
        );
        assert_eq!(v["after"], after.to_string());
        assert!(v["oldest_retained"].is_null());
    }
}
