//! IVR flows over HTTP: drafts saved with their problems shown, bad JSON
//! refused with a clear message, publish refusing cycles without input and
//! missing prompts by node id (and record nodes with no voicemail box to
//! record into), versions, diff, rollback, simulation through
//! the interpreter (scripted digits, a webhook answering garbage), tenant
//! isolation, roles and audit rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnivox_testkit::{Resp, TestApp, read, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn upload_prompt(app: &TestApp, t: &str, token: &str, name: &str) {
    let r = read(
        app.client
            .post(app.url(&format!("/api/v1/tenants/{t}/prompts?name={name}")))
            .bearer_auth(token)
            .header("content-type", "audio/wav")
            .body(omnivox_testkit::sine_wav(8_000, 1, 440.0, 0.5))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Resp {
    app.call(Method::PUT, path, Some(token), Some(body)).await
}

async fn create(app: &TestApp, t: &str, token: &str, name: &str, definition: Value) -> Resp {
    app.post(
        &format!("/api/v1/tenants/{t}/flows"),
        token,
        json!({ "name": name, "description": "main line", "definition": definition }),
    )
    .await
}

/// (node, problem kind) of each problem in a list.
fn kinds(problems: &Value) -> Vec<(String, String)> {
    problems
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["node"].as_str().unwrap().to_owned(),
                p["problem"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Add a queue by name: publish resolves route targets against the
/// tenant's queues.
async fn queue(app: &TestApp, t: &str, token: &str, name: &str) {
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/queues"),
            token,
            json!({ "name": name }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
}

async fn audit_actions(app: &TestApp, t: &str, token: &str) -> Vec<String> {
    let audit = app.get(&format!("/api/v1/tenants/{t}/audit"), token).await;
    assert_eq!(audit.status, StatusCode::OK, "{audit:?}");
    audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}

/// A menu whose option 2 enters a loop of `set` nodes no caller input can
/// break, and whose prompt the tenant has not uploaded yet.
fn looping_menu() -> Value {
    json!({
        "start": "menu",
        "nodes": [
            {"id": "menu", "type": "menu", "prompt": "greeting",
             "options": {"1": "sales", "2": "loop_a"}},
            {"id": "sales", "type": "route", "target": {"type": "queue", "queue": "sales"}},
            {"id": "loop_a", "type": "set", "variable": "x", "value": "1", "next": "loop_b"},
            {"id": "loop_b", "type": "set", "variable": "y", "value": "2", "next": "loop_a"}
        ]
    })
}

#[tokio::test]
async fn drafts_show_problems_and_bad_definitions_are_refused() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let definition = json!({
        "start": "welcome",
        "nodes": [
            {"id": "welcome", "type": "play", "prompt": "welcome", "next": "menu"},
            {"id": "menu", "type": "menu", "prompt": "main-menu",
             "options": {"1": "sales", "2": "nowhere"}},
            {"id": "sales", "type": "route", "target": {"type": "queue", "queue": "sales"}}
        ]
    });
    let r = create(&app, &t, &owner, "main", definition.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["published_version"], Value::Null);
    assert_eq!(r.body["draft"]["start"], "welcome");
    assert_eq!(r.body["draft"]["nodes"][1]["options"]["2"], "nowhere");
    // Defaults the flows crate fills in are part of the stored JSON.
    assert_eq!(r.body["draft"]["nodes"][1]["retries"], 0);
    let problems = kinds(&r.body["problems"]);
    for expected in [
        ("welcome", "missing_prompt"),
        ("menu", "missing_prompt"),
        ("menu", "dangling_edge"),
    ] {
        assert!(
            problems.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {problems:?}"
        );
    }
    let dangling = r.body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["problem"] == "dangling_edge")
        .unwrap();
    assert_eq!(dangling["target"], "nowhere");
    assert!(dangling["message"].as_str().unwrap().contains("nowhere"));

    // Reading it back shows the same draft and problems.
    let got = app
        .get(&format!("/api/v1/tenants/{t}/flows/{id}"), &owner)
        .await;
    assert_eq!(got.status, StatusCode::OK, "{got:?}");
    assert_eq!(got.body["draft"], r.body["draft"]);
    assert_eq!(kinds(&got.body["problems"]), problems);

    // A typo in a node is refused with the node and the field named.
    let typo = json!({
        "start": "welcome",
        "nodes": [{"id": "welcome", "type": "play", "promt": "welcome", "next": "welcome"}]
    });
    let bad = create(&app, &t, &owner, "typo", typo).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
    assert_eq!(bad.code(), "invalid_flow");
    let msg = bad.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("welcome") && msg.contains("unknown field") && msg.contains("promt"),
        "{msg}"
    );
    // An unknown node type and a graph that is not an object.
    let bad = create(
        &app,
        &t,
        &owner,
        "x",
        json!({"start": "a", "nodes": [{"id": "a", "type": "teleport"}]}),
    )
    .await;
    assert_eq!(bad.code(), "invalid_flow", "{bad:?}");
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("teleport")
    );
    let bad = create(&app, &t, &owner, "x", json!("start here")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
    assert_eq!(bad.code(), "invalid_flow");
    // Malformed JSON and unknown request fields.
    let raw = read(
        app.client
            .post(app.url(&format!("/api/v1/tenants/{t}/flows")))
            .bearer_auth(&owner)
            .header("content-type", "application/json")
            .body(r#"{"name": "x", "definition": {"start": "a", "nodes": [}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(raw.status, StatusCode::BAD_REQUEST, "{raw:?}");
    assert_eq!(raw.code(), "malformed_json");
    let extra = app
        .post(
            &format!("/api/v1/tenants/{t}/flows"),
            &owner,
            json!({"name": "x", "definition": definition, "color": "red"}),
        )
        .await;
    assert_eq!(extra.code(), "unknown_field", "{extra:?}");
    // A bad draft replacement leaves the draft as it was.
    let bad = put(
        &app,
        &format!("/api/v1/tenants/{t}/flows/{id}/draft"),
        &owner,
        json!({"definition": {"start": "a"}}),
    )
    .await;
    assert_eq!(bad.code(), "invalid_flow", "{bad:?}");
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nodes")
    );
    let got = app
        .get(&format!("/api/v1/tenants/{t}/flows/{id}"), &owner)
        .await;
    assert_eq!(got.body["draft"], r.body["draft"]);

    // Names are unique per tenant; nothing else was created.
    let again = create(&app, &t, &owner, "main", definition).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");
    assert_eq!(again.code(), "flow_name_taken");
    let list = app.get(&format!("/api/v1/tenants/{t}/flows"), &owner).await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list:?}");
    assert_eq!(items[0]["has_draft"], true);
}

#[tokio::test]
async fn publish_validates_then_versions_diff_and_rollback() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    queue(&app, &t, &owner, "sales").await;
    queue(&app, &t, &owner, "support").await;
    let r = create(&app, &t, &owner, "support", looping_menu()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_owned();
    let base = format!("/api/v1/tenants/{t}/flows/{id}");

    // Refused with every problem and its node id; nothing is published.
    let p = app
        .post(&format!("{base}/publish"), &owner, json!({}))
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{p:?}");
    assert_eq!(p.code(), "flow_invalid");
    let problems = &p.body["error"]["details"]["problems"];
    let found = kinds(problems);
    assert!(
        found.contains(&("menu".into(), "missing_prompt".into())),
        "{found:?}"
    );
    let lp = problems
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["problem"] == "inputless_loop")
        .unwrap_or_else(|| panic!("no loop problem in {problems}"));
    assert!(["loop_a", "loop_b"].contains(&lp["node"].as_str().unwrap()));
    let cycle: Vec<&str> = lp["cycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        cycle.contains(&"loop_a") && cycle.contains(&"loop_b"),
        "{cycle:?}"
    );
    let versions = app.get(&format!("{base}/versions"), &owner).await;
    assert_eq!(versions.body["items"], json!([]), "{versions:?}");

    // Break the loop: the missing prompt alone still blocks.
    let mut v1 = looping_menu();
    v1["nodes"][3] = json!({"id": "loop_b", "type": "hangup"});
    let d = put(
        &app,
        &format!("{base}/draft"),
        &owner,
        json!({"definition": v1}),
    )
    .await;
    assert_eq!(d.status, StatusCode::OK, "{d:?}");
    assert_eq!(
        kinds(&d.body["problems"]),
        [("menu".into(), "missing_prompt".into())]
    );
    let p = app
        .post(&format!("{base}/publish"), &owner, json!({}))
        .await;
    assert_eq!(p.code(), "flow_invalid", "{p:?}");
    assert_eq!(
        kinds(&p.body["error"]["details"]["problems"]),
        [("menu".to_string(), "missing_prompt".to_string())]
    );

    // With the prompt uploaded it publishes as version 1, consuming the draft.
    upload_prompt(&app, &t, &owner, "greeting").await;
    let p = app
        .post(&format!("{base}/publish"), &owner, json!({}))
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{p:?}");
    assert_eq!(p.body["version"], 1);
    assert_eq!(p.body["published"], true);
    assert_eq!(p.body["definition"]["nodes"][3]["type"], "hangup");
    let got = app.get(&base, &owner).await;
    assert_eq!(got.body["published_version"], 1, "{got:?}");
    assert_eq!(got.body["draft"], Value::Null);
    let again = app
        .post(&format!("{base}/publish"), &owner, json!({}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");
    assert_eq!(again.code(), "no_draft");

    // Edit: a new option 3 and a longer menu timeout -> version 2.
    let mut v2 = v1.clone();
    v2["nodes"][0]["options"]["3"] = json!("support");
    v2["nodes"][0]["timeout_ms"] = json!(8000);
    v2["nodes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "support", "type": "route",
            "target": {"type": "queue", "queue": "support"}}));
    let d = put(
        &app,
        &format!("{base}/draft"),
        &owner,
        json!({"definition": v2}),
    )
    .await;
    assert_eq!(d.body["problems"], json!([]), "{d:?}");
    // The diff against the draft is available before publishing.
    let dd = app
        .get(&format!("{base}/diff?from=1&to=draft"), &owner)
        .await;
    assert_eq!(dd.status, StatusCode::OK, "{dd:?}");
    assert_eq!(dd.body["to"], "draft");
    assert_eq!(dd.body["added"], json!(["support"]));
    let p = app
        .post(&format!("{base}/publish"), &owner, json!({}))
        .await;
    assert_eq!(p.body["version"], 2, "{p:?}");

    let diff = app.get(&format!("{base}/diff?from=1&to=2"), &owner).await;
    assert_eq!(diff.status, StatusCode::OK, "{diff:?}");
    assert_eq!(diff.body["from"], 1);
    assert_eq!(diff.body["to"], 2);
    assert_eq!(diff.body["added"], json!(["support"]));
    assert_eq!(diff.body["removed"], json!([]));
    assert_eq!(
        diff.body["edges"],
        json!([{"node": "menu", "edge": "option:3", "before": null, "after": "support"}])
    );
    assert_eq!(diff.body["changed"][0]["node"], "menu");
    assert_eq!(diff.body["changed"][0]["fields"], json!(["timeout_ms"]));
    let same = app.get(&format!("{base}/diff?from=2&to=2"), &owner).await;
    assert_eq!(same.body["changed"], json!([]), "{same:?}");
    let bad = app.get(&format!("{base}/diff?from=one&to=2"), &owner).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
    let missing = app.get(&format!("{base}/diff?from=1&to=9"), &owner).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{missing:?}");
    let no_draft = app
        .get(&format!("{base}/diff?from=1&to=draft"), &owner)
        .await;
    assert_eq!(no_draft.code(), "no_draft", "{no_draft:?}");

    let versions = app.get(&format!("{base}/versions"), &owner).await;
    let items = versions.body["items"].as_array().unwrap();
    let numbers: Vec<i64> = items
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1], "{versions:?}");
    assert_eq!(items[0]["published"], true);
    let one = app.get(&format!("{base}/versions/1"), &owner).await;
    assert_eq!(one.status, StatusCode::OK, "{one:?}");
    assert_eq!(one.body["published"], false);
    assert_eq!(
        one.body["definition"]["nodes"][0]["options"],
        json!({"1": "sales", "2": "loop_a"})
    );

    // Roll back to 1; 1 again is refused, an unknown version is 404.
    let rb = app
        .post(&format!("{base}/rollback"), &owner, json!({"version": 1}))
        .await;
    assert_eq!(rb.status, StatusCode::OK, "{rb:?}");
    assert_eq!(rb.body["published_version"], 1);
    let rb = app
        .post(&format!("{base}/rollback"), &owner, json!({"version": 1}))
        .await;
    assert_eq!(rb.code(), "already_published", "{rb:?}");
    let rb = app
        .post(&format!("{base}/rollback"), &owner, json!({"version": 7}))
        .await;
    assert_eq!(rb.status, StatusCode::NOT_FOUND, "{rb:?}");
    let one = app.get(&format!("{base}/versions/1"), &owner).await;
    assert_eq!(one.body["published"], true);
    assert_eq!(app.get(&base, &owner).await.body["published_version"], 1);

    let actions = audit_actions(&app, &t, &owner).await;
    for a in [
        "flow.created",
        "flow.draft_saved",
        "flow.published",
        "flow.rolled_back",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    assert_eq!(
        actions.iter().filter(|x| *x == "flow.published").count(),
        2,
        "refused publishes leave no audit row: {actions:?}"
    );

    let del = app.delete(&base, &owner).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{del:?}");
    assert_eq!(app.get(&base, &owner).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("{base}/versions/1"), &owner).await.status,
        StatusCode::NOT_FOUND
    );
    let actions = audit_actions(&app, &t, &owner).await;
    assert!(actions.iter().any(|x| x == "flow.deleted"), "{actions:?}");
}

/// Welcome, then a menu (1: a CRM lookup webhook, 2: sales) with one
/// retry; the webhook has no error branch, so a bad answer takes the
/// flow's fallback route.
fn menu_with_lookup() -> Value {
    json!({
        "start": "welcome",
        "fallback": {"type": "queue", "queue": "overflow"},
        "nodes": [
            {"id": "welcome", "type": "play", "prompt": "welcome", "next": "menu"},
            {"id": "menu", "type": "menu", "prompt": "main-menu", "retries": 1,
             "options": {"1": "lookup", "2": "sales"}, "invalid": "sales"},
            {"id": "lookup", "type": "webhook", "url": "https://crm.example/lookup",
             "secret": "crm", "next": "sales", "choices": ["vip"]},
            {"id": "vip", "type": "route", "target": {"type": "queue", "queue": "vip"}},
            {"id": "sales", "type": "route", "target": {"type": "queue", "queue": "sales"}}
        ]
    })
}

#[tokio::test]
async fn simulation_runs_scripted_digits_and_webhook_fixtures() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let r = create(&app, &t, &owner, "ivr", menu_with_lookup()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_owned();
    let base = format!("/api/v1/tenants/{t}/flows/{id}");
    let script = json!({
        "inputs": [{"digits": "9"}, {"digits": "1"}],
        "webhooks": {"lookup": [{"reply": {"status": 200, "body": "<html>oops</html>"}}]}
    });
    let call = json!({"caller": "+15551230001", "called": "+15557650002", "script": script});

    // Nothing published yet: the draft can be simulated by name.
    let s = app
        .post(&format!("{base}/simulate"), &owner, call.clone())
        .await;
    assert_eq!(s.status, StatusCode::CONFLICT, "{s:?}");
    assert_eq!(s.code(), "not_published");
    let mut draft_call = call.clone();
    draft_call["version"] = json!("draft");
    let s = app
        .post(&format!("{base}/simulate"), &owner, draft_call)
        .await;
    assert_eq!(s.status, StatusCode::OK, "{s:?}");

    upload_prompt(&app, &t, &owner, "welcome").await;
    upload_prompt(&app, &t, &owner, "main-menu").await;
    for name in ["overflow", "vip", "sales"] {
        queue(&app, &t, &owner, name).await;
    }
    // The webhook's signing secret must exist before the flow publishes.
    let p = app
        .post(&format!("{base}/publish"), &owner, json!({}))
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{p:?}");
    assert!(p.body.to_string().contains("unknown_secret"), "{p:?}");
    let r = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/tenants/{t}/flow-secrets/crm"),
            Some(&owner),
            Some(json!({"secret": "a-crm-signing-secret"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let p = app
        .post(&format!("{base}/publish"), &owner, json!({}))
        .await;
    assert_eq!(p.body["version"], 1, "{p:?}");

    // "9" is invalid, the retry takes "1", the webhook answers garbage and,
    // without an error branch, the call goes to the flow's fallback queue.
    let s = app
        .post(&format!("{base}/simulate"), &owner, call.clone())
        .await;
    assert_eq!(s.status, StatusCode::OK, "{s:?}");
    let trace = &s.body;
    assert_eq!(
        trace["nodes"],
        json!(["welcome", "menu", "lookup"]),
        "{trace}"
    );
    let prompts: Vec<&str> = trace["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(prompts.first(), Some(&"welcome"), "{prompts:?}");
    assert_eq!(
        prompts.iter().filter(|p| **p == "main-menu").count(),
        2,
        "the menu prompt plays again after the invalid key: {prompts:?}"
    );
    assert_eq!(
        trace["outcome"],
        json!({"route": {"type": "queue", "queue": "overflow"}})
    );
    assert_eq!(
        trace["fallback_reason"],
        "webhook failed and no error branch"
    );
    let errors: Vec<&Value> = trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "error")
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e["node"] == "lookup"
                && e["message"].as_str().unwrap().contains("not valid JSON")),
        "{errors:?}"
    );

    // A well-formed answer choosing `vip` and setting a variable routes there.
    let mut good = call.clone();
    good["script"]["webhooks"]["lookup"] = json!([{"reply": {"body":
        {"variables": {"tier": "gold"}, "next": "vip"}}}]);
    good["variables"] = json!({"lang": "en"});
    good["at"] = json!("2026-11-23T15:00:00Z");
    let s = app.post(&format!("{base}/simulate"), &owner, good).await;
    assert_eq!(s.status, StatusCode::OK, "{s:?}");
    assert_eq!(
        s.body["outcome"],
        json!({"route": {"type": "queue", "queue": "vip"}})
    );
    assert_eq!(s.body["variables"]["tier"], "gold");
    assert_eq!(s.body["variables"]["lang"], "en");
    assert_eq!(s.body["fallback_reason"], Value::Null);

    // Pressing 2 goes straight to sales; the webhook is never reached.
    let mut two = call.clone();
    two["script"]["inputs"] = json!([{"digits": "2"}]);
    let s = app.post(&format!("{base}/simulate"), &owner, two).await;
    assert_eq!(
        s.body["nodes"],
        json!(["welcome", "menu", "sales"]),
        "{s:?}"
    );
    assert_eq!(
        s.body["outcome"],
        json!({"route": {"type": "queue", "queue": "sales"}})
    );

    // Bad simulation requests.
    let mut bad = call.clone();
    bad["version"] = json!("latest");
    let s = app.post(&format!("{base}/simulate"), &owner, bad).await;
    assert_eq!(s.status, StatusCode::BAD_REQUEST, "{s:?}");
    let mut bad = call.clone();
    bad["version"] = json!(5);
    let s = app.post(&format!("{base}/simulate"), &owner, bad).await;
    assert_eq!(s.status, StatusCode::NOT_FOUND, "{s:?}");
    let mut bad = call;
    bad["script"]["inputs"] = json!([{"dtmf": "1"}]);
    let s = app.post(&format!("{base}/simulate"), &owner, bad).await;
    assert_eq!(s.status, StatusCode::BAD_REQUEST, "{s:?}");
}

#[tokio::test]
async fn flows_are_tenant_scoped_and_role_checked() {
    let app = spawn_app().await;
    let (a, owner_a, b, owner_b) = app.two_tenants().await;
    let r = create(&app, &a, &owner_a, "main", looping_menu()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_owned();

    // Tenant B cannot reach A's flow through its own tenant path.
    for path in [
        format!("/api/v1/tenants/{b}/flows/{id}"),
        format!("/api/v1/tenants/{b}/flows/{id}/versions"),
        format!("/api/v1/tenants/{b}/flows/{id}/diff?from=1&to=draft"),
    ] {
        let r = app.get(&path, &owner_b).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {r:?}");
    }
    let r = app
        .post(
            &format!("/api/v1/tenants/{b}/flows/{id}/publish"),
            &owner_b,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    let r = put(
        &app,
        &format!("/api/v1/tenants/{b}/flows/{id}/draft"),
        &owner_b,
        json!({"definition": looping_menu()}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    let r = app
        .delete(&format!("/api/v1/tenants/{b}/flows/{id}"), &owner_b)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    let list = app
        .get(&format!("/api/v1/tenants/{b}/flows"), &owner_b)
        .await;
    assert_eq!(list.body["items"], json!([]), "{list:?}");
    // Nor through A's path.
    let r = app
        .get(&format!("/api/v1/tenants/{a}/flows/{id}"), &owner_b)
        .await;
    assert!(
        matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{r:?}"
    );
    // B may use the same name.
    let r = create(&app, &b, &owner_b, "main", looping_menu()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");

    // An agent can neither read nor change flows.
    let agent = app.member(&a, &owner_a, "agent@example.com", "agent").await;
    let r = app.get(&format!("/api/v1/tenants/{a}/flows"), &agent).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = app
        .get(&format!("/api/v1/tenants/{a}/flows/{id}"), &agent)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = create(&app, &a, &agent, "mine", looping_menu()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    // A supervisor reads and simulates but does not change.
    let sup = app
        .member(&a, &owner_a, "sup@example.com", "supervisor")
        .await;
    let r = app
        .get(&format!("/api/v1/tenants/{a}/flows/{id}"), &sup)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = app
        .post(
            &format!("/api/v1/tenants/{a}/flows/{id}/simulate"),
            &sup,
            json!({"version": "draft", "caller": "+15551230001", "called": "+15557650002",
                   "script": {"inputs": [{"digits": "1"}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        r.body["outcome"],
        json!({"route": {"type": "queue", "queue": "sales"}})
    );
    let r = app
        .post(
            &format!("/api/v1/tenants/{a}/flows/{id}/publish"),
            &sup,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = app
        .delete(&format!("/api/v1/tenants/{a}/flows/{id}"), &sup)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{a}/flows/{id}"), &owner_a)
            .await
            .status,
        StatusCode::OK
    );
}

/// A `record` node keeps its message in the voicemail box it names or,
/// naming none, in the box the flow owns: publishing refuses a box that
/// does not exist (`unknown_mailbox`) and a flow without its own box
/// (`no_mailbox`), each with the node's id.
#[tokio::test]
async fn record_nodes_need_a_box_to_record_into() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let definition = json!({
        "start": "own",
        "nodes": [
            {"id": "own", "type": "record", "variable": "msg", "max_seconds": 30,
             "next": "named"},
            {"id": "named", "type": "record", "variable": "more", "max_seconds": 30,
             "mailbox": "front desk", "next": "bye"},
            {"id": "bye", "type": "hangup"}
        ]
    });
    let r = create(&app, &t, &owner, "messages", definition.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_owned();
    let base = format!("/api/v1/tenants/{t}/flows/{id}");
    let expected = [
        ("own".to_string(), "no_mailbox".to_string()),
        ("named".to_string(), "unknown_mailbox".to_string()),
    ];
    assert_eq!(kinds(&r.body["problems"]), expected, "{r:?}");
    let p = app
        .post(&format!("{base}/publish"), &owner, json!({}))
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{p:?}");
    assert_eq!(p.code(), "flow_invalid");
    let problems = &p.body["error"]["details"]["problems"];
    assert_eq!(kinds(problems), expected, "{p:?}");
    assert_eq!(problems[0]["field"], "mailbox", "{p:?}");
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .contains("node `own`"),
        "{p:?}"
    );
    assert_eq!(problems[1]["target"], "front desk", "{p:?}");

    // A box owned by another flow is not this flow's own box.
    let r = create(
        &app,
        &t,
        &owner,
        "other",
        json!({"start": "h", "nodes": [
        {"id": "h", "type": "hangup"}]}),
    )
    .await;
    let other = r.body["id"].as_str().unwrap().to_owned();
    let boxes = format!("/api/v1/tenants/{t}/voicemail/boxes");
    let r = app
        .post(
            &boxes,
            &owner,
            json!({"name": "front desk", "owner": {"kind": "flow", "id": other}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let front_desk = r.body["id"].as_str().unwrap().to_owned();
    let r = app.get(&base, &owner).await;
    assert_eq!(
        kinds(&r.body["problems"]),
        [("own".to_string(), "no_mailbox".to_string())],
        "{r:?}"
    );

    // With a box of its own the flow publishes; a box named by id does too.
    let r = app
        .post(
            &boxes,
            &owner,
            json!({"name": "messages", "owner": {"kind": "flow", "id": id}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let mut by_id = definition;
    by_id["nodes"][1]["mailbox"] = json!(front_desk);
    let d = put(
        &app,
        &format!("{base}/draft"),
        &owner,
        json!({"definition": by_id}),
    )
    .await;
    assert_eq!(d.status, StatusCode::OK, "{d:?}");
    assert_eq!(d.body["problems"], json!([]), "{d:?}");
    let p = app
        .post(&format!("{base}/publish"), &owner, json!({}))
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{p:?}");
    assert_eq!(p.body["definition"]["nodes"][1]["mailbox"], front_desk);
    assert!(p.body["definition"]["nodes"][0].get("mailbox").is_none());

    // An empty `mailbox` is the validator's: named, not looked up.
    let mut empty = p.body["definition"].clone();
    empty["nodes"][1]["mailbox"] = json!("");
    let d = put(
        &app,
        &format!("{base}/draft"),
        &owner,
        json!({"definition": empty}),
    )
    .await;
    assert_eq!(
        kinds(&d.body["problems"]),
        [("named".to_string(), "bad_config".to_string())],
        "{d:?}"
    );
    assert_eq!(d.body["problems"][0]["field"], "mailbox", "{d:?}");
}
