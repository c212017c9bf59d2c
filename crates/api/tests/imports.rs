//! Import jobs under stress: bad files, bad mappings, cancellation, restarts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn bad_files_and_mappings_are_refused_and_nothing_is_half_imported() {
    let c = setup().await;
    let list = c.list("Bad").await;

    let mut binary = vec![0u8; 4096];
    binary[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
    let r = c.upload(&list, binary).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "not_text"),
        "{r:?}"
    );

    let wide: String = (0..10_000)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",")
        + "\n";
    let r = c.upload(&list, wide.into_bytes()).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "too_many_columns"),
        "{r:?}"
    );

    let endless = vec![b'a'; 3 * 1024 * 1024];
    let r = c.upload(&list, endless).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    assert!(
        ["line_too_long", "record_too_long"].contains(&r.code()),
        "{r:?}"
    );

    let json_body = c
        .app
        .post(
            &c.path(&format!("/lists/{list}/imports")),
            &c.owner,
            json!({ "rows": [] }),
        )
        .await;
    assert_eq!(json_body.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // None of those left an import behind.
    let imports = c.app.get(&c.path("/imports"), &c.owner).await;
    assert!(
        imports.body["items"].as_array().unwrap().is_empty(),
        "{imports:?}"
    );

    let up = c.upload(&list, MIXED.to_vec()).await;
    let id = up.body["import"]["id"].as_str().unwrap().to_owned();
    let start_path = c.path(&format!("/imports/{id}/start"));
    let start = |mapping: Value| {
        c.app
            .post(&start_path, &c.owner, json!({ "mapping": mapping }))
    };
    let r = start(json!(["first_name", "shoe_size", "phone"])).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_mapping"),
        "{r:?}"
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shoe_size"),
        "{r:?}"
    );
    let r = start(json!(["first_name", "last_name", "email"])).await;
    assert_eq!(r.code(), "invalid_mapping", "no phone column");
    let still = c
        .app
        .get(&c.path(&format!("/imports/{id}")), &c.owner)
        .await;
    assert_eq!(still.body["status"], "uploaded");
    assert!(c.contacts(&format!("list_id={list}")).await.is_empty());

    // Cancel before start: it never runs.
    let r = c
        .app
        .post(
            &c.path(&format!("/imports/{id}/cancel")),
            &c.owner,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(
        stored_uploads(&c.app),
        0,
        "refused and cancelled uploads leave no file"
    );
    let r = start(json!(null)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn an_import_interrupted_by_a_restart_resumes_without_loss_or_duplicates() {
    let app = omnivox_testkit::spawn_app_with(|c| c.imports.batch_rows = 5).await;
    let (t, owner) = app.owner().await;
    let c = Ctx { app, t, owner };
    let list = c.list("Big").await;
    let total = 20_000;
    let path = c
        .upload_and_start(&list, numbered_rows(total), json!({ "dedup": "file" }))
        .await;
    let before = wait_for(&c.app, &path, &c.owner, "progress", |j| {
        j["rows_read"].as_i64() >= Some(50)
    })
    .await;
    assert_eq!(before["status"], "running");

    let Ctx { app, t, .. } = c;
    // Tiny batches make sure the restart lands mid-import; the resumed run
    // uses ordinary ones so thousands of one-row commits on a busy
    // PostgreSQL do not decide the test.
    let app = app.restart_with(|c| c.imports.batch_rows = 1_000).await;
    let owner = app.token("owner@example.com").await;
    let c = Ctx { app, t, owner };
    let interrupted = c.app.get(&path, &c.owner).await.body;
    let at = interrupted["rows_read"].as_i64().unwrap() as usize;
    assert!(at < total, "the restart happened mid-import (at {at})");
    assert_eq!(at % 5, 0, "only whole batches were committed");
    let done = wait_for(&c.app, &path, &c.owner, "completion", |j| {
        j["status"] == "completed"
    })
    .await;
    assert_eq!(done["rows_read"].as_i64(), Some(total as i64));
    assert_eq!(done["rows_accepted"].as_i64(), Some(total as i64), "{done}");
    assert_eq!(done["rows_duplicate"], 0);
    for i in [0, at.saturating_sub(1), at, at + 1, total - 1] {
        let phone = format!("%2B1415{:07}", 2_000_000 + i);
        assert_eq!(
            c.contacts(&format!("phone={phone}")).await.len(),
            1,
            "row {i}"
        );
    }
}

#[tokio::test]
async fn cancelling_a_running_import_keeps_whole_batches_only() {
    let app = omnivox_testkit::spawn_app_with(|c| c.imports.batch_rows = 5).await;
    let (t, owner) = app.owner().await;
    let c = Ctx { app, t, owner };
    let list = c.list("Cancel").await;
    let path = c
        .upload_and_start(&list, numbered_rows(20_000), json!({}))
        .await;
    wait_for(&c.app, &path, &c.owner, "progress", |j| {
        j["rows_read"].as_i64() >= Some(20)
    })
    .await;
    let r = c
        .app
        .post(&format!("{path}/cancel"), &c.owner, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let done = wait_for(&c.app, &path, &c.owner, "cancellation", |j| {
        j["status"] == "cancelled"
    })
    .await;
    let accepted = done["rows_accepted"].as_i64().unwrap();
    assert!(accepted < 20_000 && accepted % 5 == 0, "{done}");
    let mut seen = 0;
    let mut cursor = String::new();
    loop {
        let page = c
            .app
            .get(
                &c.path(&format!(
                    "/contacts?list_id={list}&limit=200&cursor={cursor}"
                )),
                &c.owner,
            )
            .await;
        seen += page.body["items"].as_array().unwrap().len() as i64;
        match page.body["next_cursor"].as_str() {
            Some(n) => cursor = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        seen, accepted,
        "stored contacts match the committed progress"
    );
    let again = c
        .app
        .post(&format!("{path}/cancel"), &c.owner, json!({}))
        .await;
    assert_eq!(again.code(), "import_finished");
}

#[tokio::test]
async fn a_batch_also_closes_at_its_byte_budget() {
    // 50,000 rows a batch would commit this whole file at once; 1 KiB of
    // text (about 50 of these rows) closes each batch long before.
    let app = omnivox_testkit::spawn_app_with(|c| {
        c.imports.batch_rows = 50_000;
        c.imports.batch_bytes = 1024;
    })
    .await;
    let (t, owner) = app.owner().await;
    let c = Ctx { app, t, owner };
    let list = c.list("Bytes").await;
    let total = 40_000;
    let path = c
        .upload_and_start(&list, numbered_rows(total), json!({ "dedup": "file" }))
        .await;
    let first = wait_for(&c.app, &path, &c.owner, "progress", |j| {
        j["rows_read"].as_i64() > Some(0)
    })
    .await;
    let committed = first["rows_read"].as_i64().unwrap();
    assert!(
        committed < total as i64 / 10,
        "the first commit is a small batch, not the file: {first}"
    );
    let done = wait_for(&c.app, &path, &c.owner, "completion", |j| {
        j["status"] == "completed"
    })
    .await;
    assert_eq!(done["rows_accepted"].as_i64(), Some(total as i64), "{done}");
}

#[tokio::test]
async fn file_dedup_spans_batches() {
    let app = omnivox_testkit::spawn_app_with(|c| c.imports.batch_rows = 3).await;
    let (t, owner) = app.owner().await;
    let c = Ctx { app, t, owner };
    let list = c.list("Dups").await;
    // Rows 2..=11 are ten numbers; rows 12..=21 repeat them (other batches).
    let mut csv = String::from("First Name,Phone\n");
    for round in 0..2 {
        for i in 0..10 {
            csv.push_str(&format!("R{round}N{i},+1415{:07}\n", 3_000_000 + i));
        }
    }
    let up = c.upload(&list, csv.into_bytes()).await;
    let id = up.body["import"]["id"].as_str().unwrap().to_owned();
    let done = c.run(&id, json!({ "dedup": "file" })).await;
    assert_eq!(done["rows_accepted"], 10, "{done}");
    assert_eq!(
        stored_uploads(&c.app),
        0,
        "a finished import's upload is removed"
    );
    assert_eq!(done["rows_duplicate"], 10, "{done}");
    let errors = c
        .app
        .get(&c.path(&format!("/imports/{id}/errors?limit=50")), &c.owner)
        .await;
    let dup = &errors.body["items"][0];
    assert_eq!(
        (dup["code"].as_str(), dup["row"].as_i64()),
        (Some("duplicate"), Some(12))
    );
}
