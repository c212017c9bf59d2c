//! Stored WAV files over HTTP, shared by call recordings and voicemail
//! messages: one `Range` per request (206 with `Content-Range`, 416 with
//! `Content-Range: bytes */<size>` when it starts past the end), streamed
//! in chunks from a blocking thread so a file is never read whole.

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorDetail};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omnivox_media::record::{
    LocalStore, RecordError, RecordingKey, RecordingReader, RecordingStore,
};
use std::io::Read;
use std::ops::Range;

/// Bytes per chunk of a streamed download.
const CHUNK: usize = 64 * 1024;

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    /// No range (or one we ignore, as RFC 9110 §14.2 allows: several
    /// ranges, another unit, bad syntax): the whole file.
    Whole,
    /// One satisfiable range (end exclusive).
    Part(Range<u64>),
    /// 416.
    Unsatisfiable,
}

fn parse_range(value: Option<&str>, len: u64) -> RangeAsk {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (a.is_empty(), b.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match parse(b) {
            Some(0) => RangeAsk::Unsatisfiable,
            Some(_) if len == 0 => RangeAsk::Unsatisfiable,
            Some(n) => RangeAsk::Part(len.saturating_sub(n)..len),
            None => RangeAsk::Whole,
        },
        // bytes=N-: from N to the end.
        (false, true) => match parse(a) {
            Some(start) if start < len => RangeAsk::Part(start..len),
            Some(_) => RangeAsk::Unsatisfiable,
            None => RangeAsk::Whole,
        },
        (false, false) => match (parse(a), parse(b)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= len {
                    RangeAsk::Unsatisfiable
                } else {
                    RangeAsk::Part(start..end.saturating_add(1).min(len))
                }
            }
            _ => RangeAsk::Whole,
        },
        (true, true) => RangeAsk::Whole,
    }
}

/// A storage error as a 500 (`what` names the file's owner, e.g.
/// "recording"): a row whose file is missing is a server fault.
pub(crate) fn store_err(what: &str, e: RecordError) -> ApiError {
    match e {
        RecordError::NotFound => ApiError::internal(format!("the {what}'s file is missing")),
        e => ApiError::internal(e.to_string()),
    }
}

/// A stored WAV opened for one request: the bytes the `Range` header asks
/// for, or a range that cannot be served.
pub(crate) enum OpenedWav {
    /// The whole file (200) or one range of it (206).
    Bytes {
        reader: RecordingReader,
        partial: bool,
    },
    /// The range starts past the end of a file of `len` bytes (416).
    Unsatisfiable { len: u64 },
}

impl OpenedWav {
    /// Whether the response starts at the file's first byte (a listen from
    /// the beginning, not a seek).
    pub(crate) fn starts_at_first_byte(&self) -> bool {
        match self {
            OpenedWav::Bytes { reader, .. } => reader.range.start == 0,
            OpenedWav::Unsatisfiable { .. } => false,
        }
    }

    /// The response: the bytes as `audio/wav` with `Accept-Ranges`, or the
    /// 416 error naming `what` ("the recording has N bytes").
    pub(crate) fn into_response(self, what: &str) -> ApiResult<Response> {
        let (reader, partial) = match self {
            OpenedWav::Bytes { reader, partial } => (reader, partial),
            OpenedWav::Unsatisfiable { len } => {
                let body = ErrorBody {
                    error: ErrorDetail {
                        code: "range_not_satisfiable".into(),
                        message: format!("the {what} has {len} bytes"),
                        details: None,
                    },
                };
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{len}"))],
                    Json(body),
                )
                    .into_response());
            }
        };
        let (range, total) = (reader.range.clone(), reader.total_len);
        let mut resp = Response::builder()
            .header(header::CONTENT_TYPE, "audio/wav")
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::CONTENT_LENGTH, range.end - range.start);
        if partial {
            resp = resp.status(StatusCode::PARTIAL_CONTENT).header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{total}", range.start, range.end - 1),
            );
        }
        resp.body(stream_body(reader.reader))
            .map_err(ApiError::internal)
    }
}

/// Opens `key` in `local` for the request's `Range` header (`what` names
/// the file's owner in errors).
pub(crate) async fn open_wav(
    local: &LocalStore,
    key: RecordingKey,
    headers: &HeaderMap,
    what: &str,
) -> ApiResult<OpenedWav> {
    let range_header = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let local = local.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let whole = local.open(&key, None)?;
        let len = whole.total_len;
        match parse_range(range_header.as_deref(), len) {
            RangeAsk::Whole => Ok(OpenedWav::Bytes {
                reader: whole,
                partial: false,
            }),
            RangeAsk::Part(r) => {
                drop(whole);
                Ok(OpenedWav::Bytes {
                    reader: local.open(&key, Some(r))?,
                    partial: true,
                })
            }
            RangeAsk::Unsatisfiable => Ok(OpenedWav::Unsatisfiable { len }),
        }
    })
    .await
    .map_err(ApiError::internal)?;
    match opened {
        Ok(o) => Ok(o),
        Err(RecordError::RangeNotSatisfiable { len, .. }) => Ok(OpenedWav::Unsatisfiable { len }),
        Err(e) => Err(store_err(what, e)),
    }
}

/// Streams a blocking reader in chunks from a blocking thread (a
/// recording can be hundreds of megabytes: it is never read whole).
fn stream_body(mut reader: Box<dyn Read + Send>) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buf = vec![0u8; CHUNK];
            match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeAsk::*;
        let r = |h: &str| parse_range(Some(h), 1000);
        assert_eq!(parse_range(None, 1000), Whole);
        assert_eq!(r("bytes=0-99"), Part(0..100));
        assert_eq!(r("bytes=100-"), Part(100..1000));
        assert_eq!(r("bytes=-50"), Part(950..1000));
        assert_eq!(r("bytes=-5000"), Part(0..1000));
        assert_eq!(r("bytes=990-2000"), Part(990..1000));
        assert_eq!(r("bytes=1000-"), Unsatisfiable);
        assert_eq!(r("bytes=1000-1001"), Unsatisfiable);
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(r("bytes=5-1"), Whole);
        assert_eq!(r("bytes=0-1,5-6"), Whole);
        assert_eq!(r("items=0-1"), Whole);
        assert_eq!(r("bytes=x-1"), Whole);
    }
}
