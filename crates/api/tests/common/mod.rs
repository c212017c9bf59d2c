//! Shared helpers for the contact, import and decision tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod campaign;

use omnivox_testkit::{Resp, TestApp, read, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const MIXED: &[u8] = include_bytes!("../../../contacts/tests/fixtures/mixed_us.csv");
pub const LATIN1: &[u8] = include_bytes!("../../../contacts/tests/fixtures/latin1_windows1252.csv");

pub struct Ctx {
    pub app: TestApp,
    pub t: String,
    pub owner: String,
}

pub async fn setup() -> Ctx {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let base = format!("/api/v1/tenants/{t}/custom-fields");
    for f in [
        json!({ "key": "signup_date", "label": "Signup Date", "kind": "date" }),
        json!({ "key": "tier", "label": "Tier", "kind": "choice", "choices": ["Gold", "Silver", "Bronze"] }),
        json!({ "key": "vip", "label": "VIP", "kind": "boolean" }),
    ] {
        let r = app.post(&base, &owner, f).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    Ctx { app, t, owner }
}

impl Ctx {
    pub fn path(&self, p: &str) -> String {
        format!("/api/v1/tenants/{}{p}", self.t)
    }

    pub async fn list(&self, name: &str) -> String {
        let r = self
            .app
            .post(
                &self.path("/lists"),
                &self.owner,
                json!({ "name": name, "default_region": "US" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r.body["id"].as_str().unwrap().to_owned()
    }

    pub async fn upload(&self, list: &str, body: Vec<u8>) -> Resp {
        read(
            self.app
                .client
                .post(
                    self.app
                        .url(&self.path(&format!("/lists/{list}/imports?file_name=leads.csv"))),
                )
                .bearer_auth(&self.owner)
                .header("content-type", "text/csv")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Start an uploaded import; returns its path.
    pub async fn start(&self, import: &str, start: Value) -> String {
        let path = self.path(&format!("/imports/{import}"));
        let r = self
            .app
            .post(&format!("{path}/start"), &self.owner, start)
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        path
    }

    /// Upload `csv` to `list` and start importing it; returns the import's
    /// path.
    pub async fn upload_and_start(&self, list: &str, csv: Vec<u8>, start: Value) -> String {
        let up = self.upload(list, csv).await;
        self.start(up.body["import"]["id"].as_str().unwrap(), start)
            .await
    }

    /// Start an uploaded import and wait (with a deadline) for it to end.
    pub async fn run(&self, import: &str, start: Value) -> Value {
        self.start(import, start).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let j = self
                .app
                .get(&self.path(&format!("/imports/{import}")), &self.owner)
                .await
                .body;
            if ["completed", "failed", "cancelled"].contains(&j["status"].as_str().unwrap()) {
                return j;
            }
            assert!(
                Instant::now() < deadline,
                "import still {} after 60 s",
                j["status"]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn contacts(&self, query: &str) -> Vec<Value> {
        let r = self
            .app
            .get(&self.path(&format!("/contacts?{query}")), &self.owner)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        r.body["items"].as_array().unwrap().clone()
    }
}

pub fn numbered_rows(n: usize) -> Vec<u8> {
    let mut csv = String::from("First Name,Phone\n");
    for i in 0..n {
        csv.push_str(&format!("Lead{i},+1415{:07}\n", 2_000_000 + i));
    }
    csv.into_bytes()
}

pub async fn wait_for(
    app: &TestApp,
    path: &str,
    token: &str,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = app.get(path, token).await.body;
        if ok(&j) {
            return j;
        }
        assert!(Instant::now() < deadline, "waited 60 s for {what}: {j}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Upload files still on disk under the app's data dir.
pub fn stored_uploads(app: &TestApp) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() {
                            walk(&p)
                        } else {
                            usize::from(p.extension().is_some_and(|x| x == "upload"))
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&app.config.storage.data_dir)
}

/// A 1-second prompt (a 440 Hz tone) named `name` in the tenant's library.
pub async fn prompt(c: &Ctx, name: &str) {
    let r = read(
        c.app
            .client
            .post(c.app.url(&c.path(&format!("/prompts?name={name}"))))
            .bearer_auth(&c.owner)
            .header("content-type", "audio/wav")
            .body(omnivox_testkit::sine_wav(8_000, 1, 440.0, 1.0))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
}

/// Publish `flow`'s draft and route the DID `number` to it.
pub async fn publish_on_did(c: &Ctx, flow: &str, number: &str) {
    let r = c
        .app
        .post(
            &c.path(&format!("/flows/{flow}/publish")),
            &c.owner,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = c
        .app
        .post(
            &c.path("/dids"),
            &c.owner,
            json!({"number": number, "target_kind": "flow", "target_flow_id": flow}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
}

/// The `(field, code)` of every field error of a 400 `validation_failed`,
/// sorted (each error once per time it was reported).
pub fn field_errors(r: &Resp) -> Vec<(String, String)> {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    assert_eq!(r.code(), "validation_failed", "{r:?}");
    let mut out: Vec<(String, String)> = r.body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_owned(),
                f["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// `(field, code)` pairs as [`field_errors`] gives them, to compare with.
pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    out.sort();
    out
}

/// What an endpoint received: the timestamp and signature headers and
/// the body.
pub type Signed = (String, String, String);

/// An HTTP endpoint on 127.0.0.1 that keeps every request it gets and
/// answers the n-th (from 0) with `answer(n)`: its URL and what it
/// receives.
pub async fn signed_endpoint<F, Fut>(
    answer: F,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<Signed>)
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = (StatusCode, String)> + Send + 'static,
{
    use axum::http::HeaderMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let count = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let (tx, count, answer) = (tx.clone(), count.clone(), answer.clone());
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let _ = tx.send((h("x-omnivox-timestamp"), h("x-omnivox-signature"), body));
                answer(count.fetch_add(1, Ordering::SeqCst)).await
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

/// The next request `received` within `secs`, checked to be signed with
/// `secret`: its body as JSON.
pub async fn next_signed(
    received: &mut tokio::sync::mpsc::UnboundedReceiver<Signed>,
    secret: &str,
    secs: u64,
) -> Value {
    let (ts, signature, body) = tokio::time::timeout(Duration::from_secs(secs), received.recv())
        .await
        .expect("the request in time")
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    omnivox_flows::webhook::verify(secret.as_bytes(), &ts, &body, &signature, now, 300)
        .expect("a valid signature");
    serde_json::from_str(&body).unwrap()
}
