//! Outbound HTTP from live calls: a flow's webhook node and voicemail
//! notifications share one client that never follows redirects (a signed
//! request goes where its node says, nowhere else).
//!
//! A webhook node's request comes from the interpreter already signed
//! with the tenant's secret (`omnivox_flows::webhook`); it is sent as is,
//! with the node's timeout covering the whole exchange, and the answer
//! goes back to the interpreter: the status and body, a timeout, or a
//! transport failure. An answer larger than [`MAX_REPLY_BYTES`] is a
//! failure, never read into memory whole.

use omnivox_flows::{Input, WebhookFailure, WebhookRequest, WebhookResponse};
use std::sync::LazyLock;
use std::time::Duration;

/// The most of a webhook's answer that is read.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// One HTTP client for every request from a call.
static HTTP: LazyLock<Result<reqwest::Client, String>> = LazyLock::new(|| {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())
});

/// The shared client, or why there is none.
pub(super) fn client() -> Result<&'static reqwest::Client, String> {
    HTTP.as_ref().map_err(Clone::clone)
}

/// Sends a webhook node's request; with `wait` the answer is the input,
/// without it the request goes on its own and the input is `Sent`.
pub(super) async fn send(request: &WebhookRequest, wait: bool) -> Input {
    let builder = match build(request) {
        Ok(b) => b,
        Err(why) => return Input::WebhookFailed(WebhookFailure::Transport(why)),
    };
    if !wait {
        let url = request.url.clone();
        tokio::spawn(async move {
            if let Err(e) = builder.send().await {
                tracing::info!(host = host_of(&url), error = %e.without_url(),
                    "fire-and-forget webhook failed");
            }
        });
        return Input::Sent;
    }
    match exchange(builder).await {
        Ok(reply) => Input::WebhookResponse(reply),
        Err(failure) => {
            tracing::info!(host = host_of(&request.url), ?failure, "webhook failed");
            Input::WebhookFailed(failure)
        }
    }
}

fn build(request: &WebhookRequest) -> Result<reqwest::RequestBuilder, String> {
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", request.method))?;
    let mut builder = client()?
        .request(method, &request.url)
        .timeout(Duration::from_millis(u64::from(request.timeout_ms)))
        .body(request.body.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    Ok(builder)
}

async fn exchange(builder: reqwest::RequestBuilder) -> Result<WebhookResponse, WebhookFailure> {
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            WebhookFailure::Timeout
        } else {
            WebhookFailure::Transport(e.without_url().to_string())
        }
    };
    let mut response = builder.send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Err(WebhookFailure::Transport(format!(
                "the answer is over {MAX_REPLY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(WebhookResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The host of `url`, for logs (a URL's path or query may carry tokens).
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}
