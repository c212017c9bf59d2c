//! Voicemail boxes and messages: unique names and owners per tenant,
//! lookup by name or id, messages newest first with box and heard filters
//! and keyset pages, heard marks, a box's messages going with it, and every
//! row kept to its tenant. Run on SQLite and (with
//! OMNIVOX_TEST_BACKEND=postgres) on PostgreSQL by the same code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{conflict, store, tenant};
use omnivox_domain::{TenantId, UserId};
use omnivox_store::voicemail::{
    MessageFilter, NAME_TAKEN, NewVoicemailMessage, OWNER_TAKEN, VoicemailBoxValues,
    VoicemailMessageRow,
};
use omnivox_store::{PageRequest, Scoped, StoreError, commit};
use uuid::Uuid;

fn values(name: &str, kind: &str, owner: Uuid) -> VoicemailBoxValues {
    VoicemailBoxValues {
        name: name.into(),
        owner_kind: kind.into(),
        owner_id: owner,
        greeting_prompt: None,
        max_message_seconds: 120,
        notify_url: None,
        notify_secret: None,
    }
}

fn message(box_id: Uuid, tenant: TenantId, n: i64) -> NewVoicemailMessage {
    let (call, id) = (Uuid::now_v7(), Uuid::now_v7());
    NewVoicemailMessage {
        id,
        box_id,
        call_id: call,
        caller: format!("+1415555{n:04}"),
        called: "+18005550100".into(),
        duration_ms: 1000 + n,
        size_bytes: 44 + n,
        sha256: format!("{n:064x}"),
        storage_key: format!("{}/{call}_{id}", tenant.0),
    }
}

fn ids(rows: &[VoicemailMessageRow]) -> Vec<Uuid> {
    rows.iter().map(|r| r.id).collect()
}

/// Every message of a list, a page of `limit` at a time.
async fn walk(sc: &Scoped<'_, impl omnivox_store::ConnectionTrait>, f: MessageFilter) -> Vec<Uuid> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let p = sc.list_voicemail_messages(f, &page).await.unwrap();
        assert!(p.items.len() <= 2);
        out.extend(ids(&p.items));
        match p.next_cursor {
            Some(c) => page = PageRequest::parse(Some(&c), Some(2)).unwrap(),
            None => break,
        }
    }
    out
}

#[tokio::test]
async fn boxes_have_unique_names_and_owners_and_are_found_by_name_or_id() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let b = tenant(&s, "globex").await;
    let sa = Scoped::new(s.writer(), a);
    let sb = Scoped::new(s.writer(), b);
    let (agent, queue) = (Uuid::now_v7(), Uuid::now_v7());

    let mut v = values("sales", "agent", agent);
    v.greeting_prompt = Some("greeting".into());
    v.notify_url = Some("https://crm.example.com/hook".into());
    v.notify_secret = Some(
        common::sealer()
            .seal(
                omnivox_store::seal::Field::NotifySecret,
                "0123456789abcdef-secret",
            )
            .unwrap(),
    );
    let sales = sa.create_voicemail_box(v.clone()).await.unwrap();
    assert_eq!(sales.tenant_id, a.0);
    assert_eq!(VoicemailBoxValues::from(&sales), v);
    assert_eq!(sales.created_at, sales.updated_at);
    // Debug output (logs) never carries the secret.
    assert!(
        !format!("{sales:?}").contains("0123456789abcdef"),
        "{sales:?}"
    );
    assert!(format!("{sales:?}").contains("[redacted]"));
    assert!(!format!("{v:?}").contains("0123456789abcdef"));

    // The same name, or a second box for the same owner, is a conflict that
    // says which.
    assert_eq!(
        conflict(
            sa.create_voicemail_box(values("sales", "queue", queue))
                .await
        ),
        NAME_TAKEN
    );
    assert_eq!(
        conflict(
            sa.create_voicemail_box(values("other", "agent", agent))
                .await
        ),
        OWNER_TAKEN
    );
    // The same owner id of another kind is another owner; another tenant
    // may use the same name.
    let support = sa
        .create_voicemail_box(values("support", "queue", agent))
        .await
        .unwrap();
    sb.create_voicemail_box(values("sales", "agent", agent))
        .await
        .unwrap();

    // Found by id, by exact name, by owner.
    let got = sa.get_voicemail_box(sales.id).await.unwrap();
    assert_eq!(got, sales);
    let by_id = sa.find_voicemail_box(&sales.id.to_string()).await.unwrap();
    assert_eq!(by_id.map(|b| b.id), Some(sales.id));
    let by_name = sa.find_voicemail_box("support").await.unwrap();
    assert_eq!(by_name.map(|b| b.id), Some(support.id));
    assert!(sa.find_voicemail_box("Support").await.unwrap().is_none());
    assert!(
        sa.find_voicemail_box(&Uuid::now_v7().to_string())
            .await
            .unwrap()
            .is_none()
    );
    let of = sa.voicemail_box_of("agent", agent).await.unwrap();
    assert_eq!(of.map(|b| b.id), Some(sales.id));
    let of = sa.voicemail_box_of("queue", agent).await.unwrap();
    assert_eq!(of.map(|b| b.id), Some(support.id));
    assert!(sa.voicemail_box_of("flow", agent).await.unwrap().is_none());

    // Update: before and after; keeping one's own name is no conflict,
    // taking another's is.
    let mut changed = VoicemailBoxValues::from(&sales);
    changed.max_message_seconds = 300;
    changed.notify_secret = None;
    let (before, after) = sa
        .update_voicemail_box(sales.id, changed.clone())
        .await
        .unwrap();
    assert_eq!(before, sales);
    assert_eq!(VoicemailBoxValues::from(&after), changed);
    assert!(after.updated_at >= before.updated_at);
    assert_eq!(after.created_at, sales.created_at);
    let mut rename = changed.clone();
    rename.name = "support".into();
    assert_eq!(
        conflict(sa.update_voicemail_box(sales.id, rename).await),
        NAME_TAKEN
    );
    let mut reown = changed.clone();
    reown.owner_kind = "queue".into();
    assert_eq!(
        conflict(sa.update_voicemail_box(sales.id, reown).await),
        OWNER_TAKEN
    );
    assert_eq!(sa.get_voicemail_box(sales.id).await.unwrap(), after);

    // Pages by id.
    let mut walked = Vec::new();
    let mut page = PageRequest::first(1);
    loop {
        let p = sa.list_voicemail_boxes(&page).await.unwrap();
        walked.extend(p.items.iter().map(|b| b.id));
        match p.next_cursor {
            Some(c) => page = PageRequest::parse(Some(&c), Some(1)).unwrap(),
            None => break,
        }
    }
    assert_eq!(walked, [sales.id, support.id]);
}

#[tokio::test]
async fn messages_list_newest_first_filter_page_and_mark_heard() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let sa = Scoped::new(s.writer(), a);
    let one = sa
        .create_voicemail_box(values("one", "agent", Uuid::now_v7()))
        .await
        .unwrap();
    let two = sa
        .create_voicemail_box(values("two", "queue", Uuid::now_v7()))
        .await
        .unwrap();
    let mut rows = Vec::new();
    for n in 0..5 {
        let b = if n % 2 == 0 { one.id } else { two.id };
        rows.push(sa.add_voicemail_message(message(b, a, n)).await.unwrap());
    }
    let m = &rows[0];
    assert_eq!(m.tenant_id, a.0);
    assert_eq!((m.box_id, m.duration_ms, m.size_bytes), (one.id, 1000, 44));
    assert_eq!(m.caller, "+14155550000");
    assert_eq!((m.heard_at, m.heard_by), (None, None));
    assert_eq!(sa.get_voicemail_message(m.id).await.unwrap(), *m);

    // Newest first: latest created_at, ties by id.
    let mut newest: Vec<&VoicemailMessageRow> = rows.iter().collect();
    newest.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
    let newest: Vec<Uuid> = newest.iter().map(|r| r.id).collect();
    let all = sa
        .list_voicemail_messages(MessageFilter::default(), &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(ids(&all.items), newest);
    assert_eq!(all.next_cursor, None);
    assert_eq!(walk(&sa, MessageFilter::default()).await, newest);

    // Box filter.
    let in_one = MessageFilter {
        box_id: Some(one.id),
        heard: None,
    };
    let expect_one: Vec<Uuid> = newest
        .iter()
        .copied()
        .filter(|id| rows.iter().any(|r| r.id == *id && r.box_id == one.id))
        .collect();
    assert_eq!(expect_one.len(), 3);
    assert_eq!(walk(&sa, in_one).await, expect_one);

    // Mark heard: by whom and when; again keeps the first; unheard clears.
    let user = UserId(Uuid::now_v7());
    let (before, heard) = sa
        .set_voicemail_heard(rows[2].id, true, Some(user))
        .await
        .unwrap();
    assert_eq!(before, rows[2]);
    assert_eq!(heard.heard_by, Some(user.0));
    let heard_at = heard.heard_at.expect("heard_at set");
    let (_, again) = sa
        .set_voicemail_heard(rows[2].id, true, Some(UserId(Uuid::now_v7())))
        .await
        .unwrap();
    assert_eq!(again, heard);
    assert_eq!(again.heard_at, Some(heard_at));
    let (_, by_key) = sa
        .set_voicemail_heard(rows[4].id, true, None)
        .await
        .unwrap();
    assert!(by_key.heard_at.is_some());
    assert_eq!(by_key.heard_by, None);

    // Heard filter, alone and with the box filter.
    let only_heard = walk(
        &sa,
        MessageFilter {
            box_id: None,
            heard: Some(true),
        },
    )
    .await;
    let expect: Vec<Uuid> = newest
        .iter()
        .copied()
        .filter(|id| *id == rows[2].id || *id == rows[4].id)
        .collect();
    assert_eq!(only_heard, expect);
    let new_in_one = walk(
        &sa,
        MessageFilter {
            box_id: Some(one.id),
            heard: Some(false),
        },
    )
    .await;
    assert_eq!(new_in_one, [rows[0].id]);

    let (was, unheard) = sa
        .set_voicemail_heard(rows[2].id, false, Some(user))
        .await
        .unwrap();
    assert_eq!(was, heard);
    assert_eq!((unheard.heard_at, unheard.heard_by), (None, None));
    let new_in_one = walk(
        &sa,
        MessageFilter {
            box_id: Some(one.id),
            heard: Some(false),
        },
    )
    .await;
    assert_eq!(new_in_one.len(), 2);

    // Deleting a message returns it; it is gone from lists and gets.
    let gone = sa.delete_voicemail_message(rows[1].id).await.unwrap();
    assert_eq!(gone, rows[1]);
    assert!(matches!(
        sa.get_voicemail_message(rows[1].id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sa.delete_voicemail_message(rows[1].id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(walk(&sa, MessageFilter::default()).await.len(), 4);
    // A cursor naming a message that is gone is refused, not a first page.
    let stale = PageRequest {
        after: Some(rows[1].id),
        limit: 10,
    };
    assert!(matches!(
        sa.list_voicemail_messages(MessageFilter::default(), &stale)
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn deleting_a_box_takes_its_messages_and_returns_their_keys() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let sa = Scoped::new(s.writer(), a);
    let one = sa
        .create_voicemail_box(values("one", "agent", Uuid::now_v7()))
        .await
        .unwrap();
    let two = sa
        .create_voicemail_box(values("two", "flow", Uuid::now_v7()))
        .await
        .unwrap();
    let mut keys = Vec::new();
    for n in 0..3 {
        keys.push(
            sa.add_voicemail_message(message(one.id, a, n))
                .await
                .unwrap()
                .storage_key,
        );
    }
    let kept = sa
        .add_voicemail_message(message(two.id, a, 9))
        .await
        .unwrap();

    let (row, mut removed) = sa.delete_voicemail_box(one.id).await.unwrap();
    assert_eq!(row, one);
    removed.sort();
    keys.sort();
    assert_eq!(removed, keys);
    assert!(matches!(
        sa.get_voicemail_box(one.id).await,
        Err(StoreError::NotFound)
    ));
    let left = sa
        .list_voicemail_messages(MessageFilter::default(), &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(ids(&left.items), [kept.id]);
    assert!(matches!(
        sa.delete_voicemail_box(one.id).await,
        Err(StoreError::NotFound)
    ));
    // A message for a box that is gone is refused.
    assert!(matches!(
        sa.add_voicemail_message(message(one.id, a, 1)).await,
        Err(StoreError::NotFound)
    ));

    // Inside a caller's transaction (a savepoint): nothing is visible
    // until it commits, all of it after.
    let tx = s.begin().await.unwrap();
    let (row, removed) = Scoped::new(&tx, a)
        .delete_voicemail_box(two.id)
        .await
        .unwrap();
    assert_eq!((row.id, removed), (two.id, vec![kept.storage_key.clone()]));
    commit(tx).await.unwrap();
    assert!(matches!(
        sa.get_voicemail_message(kept.id).await,
        Err(StoreError::NotFound)
    ));
    // A rolled-back delete leaves the box and its messages.
    let three = sa
        .create_voicemail_box(values("three", "flow", Uuid::now_v7()))
        .await
        .unwrap();
    let m3 = sa
        .add_voicemail_message(message(three.id, a, 3))
        .await
        .unwrap();
    let tx = s.begin().await.unwrap();
    Scoped::new(&tx, a)
        .delete_voicemail_box(three.id)
        .await
        .unwrap();
    drop(tx);
    assert_eq!(sa.get_voicemail_message(m3.id).await.unwrap(), m3);

    // The foreign key cascades too: a box row removed by other means takes
    // its messages with it.
    use sea_orm::EntityTrait;
    omnivox_store::entities::voicemail_box::Entity::delete_by_id(three.id)
        .exec(s.writer())
        .await
        .unwrap();
    assert!(matches!(
        sa.get_voicemail_message(m3.id).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn another_tenant_cannot_see_or_touch_boxes_or_messages() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let b = tenant(&s, "globex").await;
    let sa = Scoped::new(s.writer(), a);
    let sb = Scoped::new(s.writer(), b);
    let owner = Uuid::now_v7();
    let boxed = sa
        .create_voicemail_box(values("sales", "agent", owner))
        .await
        .unwrap();
    let msg = sa
        .add_voicemail_message(message(boxed.id, a, 1))
        .await
        .unwrap();

    // Boxes: not listed, not found by id, name or owner, not changed or
    // deleted.
    assert!(
        sb.list_voicemail_boxes(&PageRequest::first(50))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        sb.get_voicemail_box(boxed.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        sb.find_voicemail_box(&boxed.id.to_string())
            .await
            .unwrap()
            .is_none()
    );
    assert!(sb.find_voicemail_box("sales").await.unwrap().is_none());
    assert!(sb.voicemail_box_of("agent", owner).await.unwrap().is_none());
    assert!(matches!(
        sb.update_voicemail_box(boxed.id, values("mine", "agent", owner))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sb.delete_voicemail_box(boxed.id).await,
        Err(StoreError::NotFound)
    ));

    // Messages: not listed (even filtering on A's box), not read, marked,
    // deleted or added to A's box; no paging from one of A's.
    let in_a = MessageFilter {
        box_id: Some(boxed.id),
        heard: None,
    };
    assert!(
        sb.list_voicemail_messages(in_a, &PageRequest::first(50))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let from_a = PageRequest {
        after: Some(msg.id),
        limit: 10,
    };
    assert!(matches!(
        sb.list_voicemail_messages(MessageFilter::default(), &from_a)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sb.get_voicemail_message(msg.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sb.set_voicemail_heard(msg.id, true, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sb.delete_voicemail_message(msg.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sb.add_voicemail_message(message(boxed.id, b, 2)).await,
        Err(StoreError::NotFound)
    ));

    // A's rows are as they were.
    assert_eq!(sa.get_voicemail_box(boxed.id).await.unwrap(), boxed);
    assert_eq!(sa.get_voicemail_message(msg.id).await.unwrap(), msg);
}

/// The store checks names and owners before writing; a write racing past
/// that check meets the unique indexes, whose reports the store tells apart
/// by "owner" and "name". Both databases word them so.
#[tokio::test]
async fn unique_index_reports_name_the_column() {
    use omnivox_store::entities::voicemail_box;
    use sea_orm::{ActiveModelTrait, Set};
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let owner = Uuid::now_v7();
    let row = |name: &str, owner: Uuid| voicemail_box::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(a.0),
        name: Set(name.into()),
        owner_kind: Set("agent".into()),
        owner_id: Set(owner),
        greeting_prompt: Set(None),
        max_message_seconds: Set(120),
        notify_url: Set(None),
        notify_secret: Set(None),
        created_at: Set(omnivox_store::now()),
        updated_at: Set(omnivox_store::now()),
    };
    row("sales", owner).insert(s.writer()).await.unwrap();
    let same_name = conflict(
        row("sales", Uuid::now_v7())
            .insert(s.writer())
            .await
            .map_err(StoreError::from),
    );
    assert!(
        same_name.contains("name") && !same_name.contains("owner"),
        "{same_name}"
    );
    let same_owner = conflict(
        row("other", owner)
            .insert(s.writer())
            .await
            .map_err(StoreError::from),
    );
    assert!(same_owner.contains("owner"), "{same_owner}");
}
