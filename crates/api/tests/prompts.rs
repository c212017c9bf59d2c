//! The prompt library over HTTP: WAV uploads of any shape converted to
//! 8 kHz mono, bad audio refused with its reason and nothing kept, names
//! unique per tenant, tenant isolation, roles, audited deletion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnivox_media::prompt::Prompt;
use omnivox_testkit::{Resp, TestApp, read, sine_wav, spawn_app};
use reqwest::StatusCode;

async fn upload(app: &TestApp, t: &str, token: &str, name: &str, ct: &str, body: Vec<u8>) -> Resp {
    read(
        app.client
            .post(app.url(&format!("/api/v1/tenants/{t}/prompts?name={name}")))
            .bearer_auth(token)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn stored_prompts(app: &TestApp) -> usize {
    let dir = app.config.storage.data_dir.join("prompts");
    std::fs::read_dir(&dir)
        .map(|tenants| {
            tenants
                .flatten()
                .map(|t| std::fs::read_dir(t.path()).map(|f| f.count()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn upload_converts_to_8khz_mono_and_downloads() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let r = upload(
        &app,
        &t,
        &owner,
        "hold-music",
        "audio/wav",
        sine_wav(44_100, 2, 440.0, 1.5),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["name"], "hold-music");
    assert_eq!(r.body["duration_ms"], 1500);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let size = r.body["size_bytes"].as_i64().unwrap();
    assert_eq!(size, 44 + 12_000 * 2, "8 kHz mono 16-bit");

    let audio = app
        .client
        .get(app.url(&format!("/api/v1/tenants/{t}/prompts/{id}/audio")))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), StatusCode::OK);
    assert_eq!(audio.headers()["content-type"], "audio/wav");
    let bytes = audio.bytes().await.unwrap();
    assert_eq!(bytes.len() as i64, size);
    let prompt = Prompt::from_stored_wav(&bytes).unwrap();
    assert_eq!(prompt.len(), 12_000);
    // The tone survives conversion: count rising zero crossings over the
    // middle second.
    let s = &prompt.samples()[2_000..10_000];
    let crossings = s.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
    assert!((435..=445).contains(&crossings), "{crossings} Hz");

    let list = app
        .get(&format!("/api/v1/tenants/{t}/prompts"), &owner)
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "{list:?}");
    assert_eq!(stored_prompts(&app), 1);

    // Same name again: refused, nothing new kept.
    let again = upload(
        &app,
        &t,
        &owner,
        "hold-music",
        "audio/wav",
        sine_wav(8_000, 1, 440.0, 0.5),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");
    assert_eq!(again.code(), "prompt_name_taken");
    assert_eq!(stored_prompts(&app), 1);

    let del = app
        .delete(&format!("/api/v1/tenants/{t}/prompts/{id}"), &owner)
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{del:?}");
    assert_eq!(stored_prompts(&app), 0);
    let gone = app
        .get(&format!("/api/v1/tenants/{t}/prompts/{id}"), &owner)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let audit = app.get(&format!("/api/v1/tenants/{t}/audit"), &owner).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"prompt.created") && actions.contains(&"prompt.deleted"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn bad_audio_is_refused_with_its_reason_and_nothing_is_kept() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let good = sine_wav(16_000, 1, 1000.0, 0.5);
    let cut = good[..good.len() / 2].to_vec();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "text",
            b"this is not audio at all, just text".to_vec(),
            "not_wav",
        ),
        ("png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(), "not_wav"),
        ("empty", Vec::new(), "not_wav"),
        ("header-only", sine_wav(8_000, 1, 440.0, 0.0), "empty_audio"),
        ("cut", cut, "truncated_wav"),
    ];
    for (name, body, code) in cases {
        let r = upload(&app, &t, &owner, name, "audio/wav", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {r:?}");
        assert_eq!(r.code(), code, "{name}: {r:?}");
    }
    // Not a WAV content type, a bad name.
    let r = upload(&app, &t, &owner, "x", "application/json", good.clone()).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{r:?}");
    let r = upload(&app, &t, &owner, "..%2F..%2Fetc", "audio/wav", good).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    assert_eq!(stored_prompts(&app), 0);
    let list = app
        .get(&format!("/api/v1/tenants/{t}/prompts"), &owner)
        .await;
    assert!(list.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn prompts_are_tenant_scoped_and_need_telephony_permissions() {
    let app = spawn_app().await;
    let (a, owner_a, b, owner_b) = app.two_tenants().await;
    let r = upload(
        &app,
        &a,
        &owner_a,
        "greeting",
        "audio/x-wav",
        sine_wav(8_000, 1, 440.0, 1.0),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_owned();
    // Tenant B sees nothing of it, by its own path or A's.
    for path in [
        format!("/api/v1/tenants/{b}/prompts/{id}"),
        format!("/api/v1/tenants/{b}/prompts/{id}/audio"),
    ] {
        assert_eq!(
            app.get(&path, &owner_b).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // Nor through A's path: not a member of A (which is not disclosed).
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{a}/prompts/{id}"), &owner_b)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/api/v1/tenants/{b}/prompts/{id}"), &owner_b)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // B may use the same name.
    let r = upload(
        &app,
        &b,
        &owner_b,
        "greeting",
        "audio/wav",
        sine_wav(8_000, 1, 440.0, 1.0),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    // An agent can neither list nor upload.
    let agent = app.member(&a, &owner_a, "agent@example.com", "agent").await;
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{a}/prompts"), &agent)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = upload(
        &app,
        &a,
        &agent,
        "mine",
        "audio/wav",
        sine_wav(8_000, 1, 440.0, 1.0),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    // A supervisor can read but not delete.
    let sup = app
        .member(&a, &owner_a, "sup@example.com", "supervisor")
        .await;
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{a}/prompts/{id}"), &sup)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.delete(&format!("/api/v1/tenants/{a}/prompts/{id}"), &sup)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}
