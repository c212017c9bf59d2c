//! Dial decisions over HTTP: hours, DNC, consent, opt-outs, registries, history.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use omnivox_testkit::read;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn dial_decisions_follow_hours_dnc_opt_outs_and_are_explained() {
    let c = setup().await;
    let list = c.list("Decide").await;
    let up = c.upload(&list, MIXED.to_vec()).await;
    c.run(up.body["import"]["id"].as_str().unwrap(), json!({}))
        .await;
    let ann = c.contacts("phone=%2B14155550100").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let decide_path = c.path(&format!("/contacts/{ann}/decide"));
    let decide = |body: Value| c.app.post(&decide_path, &c.owner, body);

    // Tuesday 2 June 2026; San Francisco is UTC-7.
    let ok = decide(json!({ "at": "2026-06-02T15:00:00Z" })).await;
    assert_eq!(ok.body["outcome"], "allow", "08:00 local: {ok:?}");
    assert!(!ok.body["rule_set_version"].as_str().unwrap().is_empty());
    let early = decide(json!({ "at": "2026-06-02T14:59:00Z" })).await;
    assert_eq!(early.body["outcome"], "defer", "07:59 local: {early:?}");
    assert_eq!(early.body["defer_until"], "2026-06-02T15:00:00Z");
    assert_eq!(early.body["reasons"][0]["code"], "calling_window");
    let late = decide(json!({ "at": "2026-06-03T04:00:00Z" })).await;
    assert_eq!(late.body["outcome"], "defer", "21:00 local");
    assert_eq!(late.body["defer_until"], "2026-06-03T15:00:00Z");

    // A tenant's own stricter hours.
    let r = c
        .app
        .call(
            reqwest::Method::PUT,
            &c.path("/compliance"),
            Some(&c.owner),
            Some(json!({ "calling_hours": "mon-fri 10:00-18:00" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = decide(json!({ "at": "2026-06-02T16:30:00Z" })).await;
    assert_eq!(
        r.body["outcome"], "defer",
        "09:30 local is before the tenant's 10:00"
    );
    assert_eq!(r.body["defer_until"], "2026-06-02T17:00:00Z");
    let bad = c
        .app
        .call(
            reqwest::Method::PUT,
            &c.path("/compliance"),
            Some(&c.owner),
            Some(json!({ "calling_hours": "whenever" })),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // DNC by area-code wildcard.
    let at = json!({ "at": "2026-06-02T19:00:00Z" });
    assert_eq!(decide(at.clone()).await.body["outcome"], "allow");
    let e = c
        .app
        .post(
            &c.path("/dnc"),
            &c.owner,
            json!({ "pattern": "+1415*", "reason": "test" }),
        )
        .await;
    assert_eq!(e.status, StatusCode::CREATED, "{e:?}");
    let d = decide(at.clone()).await;
    assert_eq!(d.body["outcome"], "deny", "{d:?}");
    assert_eq!(d.body["reasons"][0]["code"], "dnc_internal");
    c.app
        .delete(
            &c.path(&format!("/dnc/{}", e.body["id"].as_str().unwrap())),
            &c.owner,
        )
        .await;
    assert_eq!(decide(at.clone()).await.body["outcome"], "allow");

    // Consent for automated dialing, then an opt-out that binds at once.
    let auto = json!({ "at": "2026-06-02T19:00:00Z", "campaign": { "automated": true } });
    assert_eq!(
        decide(auto.clone()).await.body["reasons"][0]["code"],
        "consent_missing"
    );
    let consent = c.app.post(&c.path(&format!("/contacts/{ann}/consent")), &c.owner,
        json!({ "channel": "voice", "kind": "consent", "method": "written", "evidence": "form-17" })).await;
    assert_eq!(consent.status, StatusCode::CREATED, "{consent:?}");
    assert_eq!(decide(auto.clone()).await.body["outcome"], "allow");
    let agent = c
        .app
        .member(&c.t, &c.owner, "agent@example.com", "agent")
        .await;
    let out = c
        .app
        .post(
            &c.path(&format!("/contacts/{ann}/consent")),
            &agent,
            json!({ "channel": "voice", "kind": "opt_out", "method": "agent_disposition" }),
        )
        .await;
    assert_eq!(
        out.status,
        StatusCode::CREATED,
        "agents record opt-outs: {out:?}"
    );
    let d = decide(auto).await;
    assert_eq!(
        (
            d.body["outcome"].as_str(),
            d.body["reasons"][0]["code"].as_str()
        ),
        (Some("deny"), Some("opted_out"))
    );
    let ledger = c
        .app
        .get(&c.path(&format!("/contacts/{ann}/consent")), &c.owner)
        .await;
    let kinds: Vec<&str> = ledger.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["consent", "opt_out"]);

    // Decisions acted on are stored and explain the history; dry runs are not.
    let bob = c.contacts("last_name=Smith%2C%20Jr.").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let act = c.app.post(&c.path(&format!("/contacts/{bob}/decide")), &c.owner,
        json!({ "at": "2026-06-02T20:05:00Z", "act": true, "campaign": { "max_attempts_per_day": 1 } })).await;
    assert_eq!(act.body["outcome"], "allow");
    let second = c
        .app
        .post(
            &c.path(&format!("/contacts/{bob}/decide")),
            &c.owner,
            json!({ "at": "2026-06-02T21:00:00Z", "campaign": { "max_attempts_per_day": 1 } }),
        )
        .await;
    assert_eq!(
        second.body["outcome"], "defer",
        "one attempt per day already used: {second:?}"
    );
    let stored = c
        .app
        .get(&c.path(&format!("/contacts/{bob}/decisions")), &c.owner)
        .await;
    let items = stored.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["decided_at"], "2026-06-02T20:05:00Z");
    assert_eq!(items[0]["outcome"], "allow");
}

#[tokio::test]
async fn national_registry_upload_applies_to_decisions() {
    let c = setup().await;
    let list = c.list("Registry").await;
    let up = c.upload(&list, MIXED.to_vec()).await;
    c.run(up.body["import"]["id"].as_str().unwrap(), json!({}))
        .await;
    let ann = c.contacts("phone=%2B14155550100").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = json!({ "at": "2026-06-02T19:00:00Z" });
    let url = c.app.url(&c.path("/dnc/registries?name=us_national_dnc"));
    let body = "phone_number\n2125550100\n4155550100\nnot a number\n";
    let r = read(
        c.app
            .client
            .post(&url)
            .bearer_auth(&c.owner)
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["entries"], 2);
    assert_eq!(r.body["rejected_lines"], 2);
    assert_eq!(r.body["stale"], false);
    let d = c
        .app
        .post(&c.path(&format!("/contacts/{ann}/decide")), &c.owner, at)
        .await;
    assert_eq!(d.body["reasons"][0]["code"], "dnc_national", "{d:?}");
}
