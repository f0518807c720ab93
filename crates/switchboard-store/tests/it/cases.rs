//! Backend-independent store cases.

use std::sync::Arc;

use serde_json::json;
use switchboard_store::{Column, Filter, Kind, ListQuery, Order, Record, Store, StoreError};

pub fn number(sid: &str, account: &str, phone: &str) -> Record {
    let mut record = Record::new(
        Kind::PhoneNumber,
        sid.to_owned(),
        account.to_owned(),
        1_700_000_000_000,
        json!({"sid": sid, "phone_number": phone, "friendly_name": "it's \"quoted\"; DROP TABLE resources;--"}),
    );
    record.unique_key = Some(format!("number:{phone}"));
    record.phone_number = Some(phone.to_owned());
    record.friendly_name = Some(format!("name {phone}"));
    record
}

fn sid(n: usize) -> String {
    format!("PN{n:032x}")
}

pub async fn run_all(store: &dyn Store) {
    crud_round_trip(store).await;
    shared_reads_follow_writes(store).await;
    uniqueness(store).await;
    paging_in_both_orders(store).await;
    filters(store).await;
    parents(store).await;
    hostile_strings(store).await;
    outbox(store).await;
    shared_breakers(store).await;
    crate::scheduled::scheduled(store).await;
}

fn delivery(n: u32, account: &str, due_ms: i64) -> switchboard_store::Delivery {
    switchboard_store::Delivery {
        seq: 0,
        sid: format!("DL{n:032x}"),
        account_sid: account.to_owned(),
        resource_sid: Some(format!("CA{n:032x}")),
        kind: "call-status".to_owned(),
        url: "https://user:secret@example.com/status#ct=1000".to_owned(),
        origin: Some("https://example.com:443".to_owned()),
        method: "POST".to_owned(),
        params: r#"[["CallStatus","completed"],["Quote","it's \"x\""]]"#.to_owned(),
        channel: "voice".to_owned(),
        idempotency_token: format!("token-{n}"),
        status: "pending".to_owned(),
        attempts: 0,
        last_error_code: None,
        last_attempt_ms: None,
        next_attempt_ms: due_ms,
        deadline_ms: due_ms + 1_000,
        owner: Some("node-a".to_owned()),
        created_ms: due_ms,
    }
}

/// The outbox: rows read back as written; only unowned due pending rows are claimed, each by
/// one claimer; a node's rows are released; a replay queues only what is over.
async fn outbox(store: &dyn Store) {
    use switchboard_store::{DeliveryQuery, DeliveryUpdate, Order};
    let account = "ACoutbox";
    let mut first = delivery(1, account, 1_000);
    first.seq = store.insert_delivery(&first).await.unwrap();
    assert_eq!(
        store.get_delivery(&first.sid).await.unwrap(),
        Some(first.clone())
    );
    assert!(store.get_delivery("DLnone").await.unwrap().is_none());
    // Owned by node-a (its first attempt): nobody claims it.
    assert!(
        store
            .claim_deliveries("node-b", 5_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let retry = DeliveryUpdate {
        sid: first.sid.clone(),
        status: "pending".to_owned(),
        attempts: 1,
        last_error_code: Some(11205),
        last_attempt_ms: Some(1_000),
        next_attempt_ms: 2_000,
        deadline_ms: first.deadline_ms,
        owner: None,
        origin: first.origin.clone(),
    };
    assert!(store.update_delivery(&retry).await.unwrap());
    assert!(
        store
            .claim_deliveries("node-b", 1_999, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due"
    );
    // Many due rows, two claimers at once: every row claimed exactly once.
    for n in 2..42 {
        let mut row = delivery(n, account, 1_500);
        row.owner = None;
        store.insert_delivery(&row).await.unwrap();
    }
    let (b, c) = tokio::join!(
        store.claim_deliveries("node-b", 2_000, 30),
        store.claim_deliveries("node-c", 2_000, 30)
    );
    let (b, c) = (b.unwrap(), c.unwrap());
    let mut claimed: Vec<&str> = b.iter().chain(&c).map(|row| row.sid.as_str()).collect();
    assert_eq!(claimed.len(), 41, "{} and {}", b.len(), c.len());
    claimed.sort_unstable();
    claimed.dedup();
    assert_eq!(claimed.len(), 41, "a row claimed twice");
    assert!(b.iter().all(|row| row.owner.as_deref() == Some("node-b")));
    // node-b dies: its rows go back; node-c's stay.
    assert_eq!(
        store.release_deliveries(Some("node-b")).await.unwrap(),
        b.len() as u64
    );
    let again = store.claim_deliveries("node-d", 2_000, 100).await.unwrap();
    assert_eq!(again.len(), b.len());
    assert_eq!(
        store.release_deliveries(None).await.unwrap(),
        41,
        "every owned row"
    );
    // Delivered: not claimable, replayable once (a pending row is not replayed).
    let done = DeliveryUpdate {
        status: "delivered".to_owned(),
        attempts: 2,
        owner: None,
        ..retry.clone()
    };
    assert!(store.update_delivery(&done).await.unwrap());
    assert!(
        store
            .replay_delivery(&first.sid, 9_000, 19_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .replay_delivery(&first.sid, 9_000, 19_000)
            .await
            .unwrap(),
        "pending"
    );
    let replayed = store.get_delivery(&first.sid).await.unwrap().unwrap();
    assert_eq!(
        (
            replayed.status.as_str(),
            replayed.next_attempt_ms,
            replayed.deadline_ms,
            replayed.attempts
        ),
        ("pending", 9_000, 19_000, 2)
    );
    // The origin answered again: its waiting deliveries are due now, owned ones left alone.
    let mut later = delivery(50, account, 1_000);
    later.owner = None;
    later.next_attempt_ms = 60_000;
    store.insert_delivery(&later).await.unwrap();
    let mut elsewhere = delivery(51, account, 1_000);
    elsewhere.owner = None;
    elsewhere.next_attempt_ms = 60_000;
    elsewhere.origin = Some("https://other.example:443".to_owned());
    store.insert_delivery(&elsewhere).await.unwrap();
    assert_eq!(
        store
            .hasten_deliveries("https://example.com:443", 10_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .get_delivery(&later.sid)
            .await
            .unwrap()
            .unwrap()
            .next_attempt_ms,
        10_000
    );
    assert_eq!(
        store
            .get_delivery(&elsewhere.sid)
            .await
            .unwrap()
            .unwrap()
            .next_attempt_ms,
        60_000
    );
    for sid in [&later.sid, &elsewhere.sid] {
        let gone = DeliveryUpdate {
            sid: sid.clone(),
            status: "failed".to_owned(),
            ..retry.clone()
        };
        store.update_delivery(&gone).await.unwrap();
    }
    // Listing: newest first, by status, in keyset pages both ways.
    let page = |status: Option<&str>, order, after_seq, limit| DeliveryQuery {
        account_sid: account.to_owned(),
        status: status.map(str::to_owned),
        order,
        after_seq,
        offset: 0,
        limit,
    };
    // The two failed rows above are the newest; the pages below start under them.
    let all: Vec<_> = store
        .list_deliveries(&page(None, Order::Descending, None, 100))
        .await
        .unwrap()
        .into_iter()
        .skip(2)
        .collect();
    assert_eq!(all.len(), 41);
    assert!(all.windows(2).all(|pair| pair[0].seq > pair[1].seq));
    assert_eq!(all.last().unwrap().sid, first.sid);
    let next = store
        .list_deliveries(&page(None, Order::Descending, Some(all[9].seq), 5))
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|row| &row.sid).collect::<Vec<_>>(),
        all[10..15].iter().map(|row| &row.sid).collect::<Vec<_>>()
    );
    let back = store
        .list_deliveries(&page(None, Order::Ascending, Some(all[10].seq), 2))
        .await
        .unwrap();
    assert_eq!(back[0].sid, all[9].sid);
    let delivered = store
        .list_deliveries(&page(Some("delivered"), Order::Descending, None, 100))
        .await
        .unwrap();
    assert!(delivered.is_empty(), "replayed: pending again");
    let other = DeliveryQuery {
        account_sid: "ACother".to_owned(),
        ..page(None, Order::Descending, None, 100)
    };
    assert!(store.list_deliveries(&other).await.unwrap().is_empty());
}

/// Shared breakers: the last change per origin, with what is left of an opening's cooloff by
/// the database's clock, read by the time it was written.
async fn shared_breakers(store: &dyn Store) {
    let (rows, now) = store.breakers_since(0).await.unwrap();
    assert!(rows.is_empty());
    assert!(
        now > 1_700_000_000_000,
        "the database's clock in epoch milliseconds: {now}"
    );
    store
        .store_breaker("http://a.example:80", Some((30_000, 11205)), "node-a")
        .await
        .unwrap();
    store
        .store_breaker("http://b.example:80", Some((30_000, 11200)), "node-a")
        .await
        .unwrap();
    store
        .store_breaker("http://b.example:80", None, "node-b")
        .await
        .unwrap();
    let (rows, later) = store.breakers_since(now - 1_000).await.unwrap();
    assert!(later >= now);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let a = rows
        .iter()
        .find(|row| row.origin == "http://a.example:80")
        .unwrap();
    assert!(
        a.open && a.last_error_code == Some(11205) && a.updated_by == "node-a",
        "{a:?}"
    );
    assert!((25_000..=30_000).contains(&a.remaining_ms), "{a:?}");
    let b = rows
        .iter()
        .find(|row| row.origin == "http://b.example:80")
        .unwrap();
    assert!(
        !b.open && b.updated_by == "node-b",
        "the last change wins: {b:?}"
    );
    let (none, _) = store.breakers_since(later + 60_000).await.unwrap();
    assert!(none.is_empty(), "nothing changed since");
}

async fn crud_round_trip(store: &dyn Store) {
    let mut record = number(&sid(1), "ACcrud", "+15551000001");
    let seq = store.insert(&record).await.unwrap();
    let got = store
        .get(Kind::PhoneNumber, &record.sid)
        .await
        .unwrap()
        .unwrap();
    assert!(got.seq > 0);
    assert_eq!(seq, got.seq, "insert returns the seq the row was given");
    record.seq = got.seq;
    assert_eq!(
        got, record,
        "a stored record reads back identically, SQL metacharacters included"
    );
    assert!(
        store
            .get(Kind::Application, &record.sid)
            .await
            .unwrap()
            .is_none(),
        "kind is part of the key"
    );

    record.doc["voice_url"] = json!("https://example.com/voice?a=1&b='2'");
    record.friendly_name = Some("renamed".into());
    assert!(store.update(&record).await.unwrap());
    assert_eq!(
        store
            .get(Kind::PhoneNumber, &record.sid)
            .await
            .unwrap()
            .unwrap(),
        record
    );

    assert!(store.delete(Kind::PhoneNumber, &record.sid).await.unwrap());
    assert!(!store.delete(Kind::PhoneNumber, &record.sid).await.unwrap());
    assert!(
        store
            .get(Kind::PhoneNumber, &record.sid)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !store.update(&record).await.unwrap(),
        "updating a deleted row reports it missing"
    );
}

/// Reads by SID are served from the backend's read cache: repeated reads share one row, and
/// no read returns a row an acknowledged write replaced or deleted.
async fn shared_reads_follow_writes(store: &dyn Store) {
    let mut record = number(&sid(2), "ACshared", "+15551000002");
    record.seq = store.insert(&record).await.unwrap();
    let first = store
        .get_shared(Kind::PhoneNumber, &record.sid)
        .await
        .unwrap()
        .unwrap();
    let second = store
        .get_shared(Kind::PhoneNumber, &record.sid)
        .await
        .unwrap()
        .unwrap();
    assert!(Arc::ptr_eq(&first, &second), "a hit shares the cached row");
    assert_eq!(*first, record);

    for round in 0..3 {
        record.friendly_name = Some(format!("round {round}"));
        record.doc["friendly_name"] = json!(format!("round {round}"));
        assert!(store.update(&record).await.unwrap());
        let read = store
            .get_shared(Kind::PhoneNumber, &record.sid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            *read, record,
            "round {round}: the updated row, not the cached one"
        );
        assert_eq!(
            store.get(Kind::PhoneNumber, &record.sid).await.unwrap(),
            Some(record.clone())
        );
    }
    assert_eq!(first.friendly_name.as_deref(), Some("name +15551000002"));

    assert!(store.delete(Kind::PhoneNumber, &record.sid).await.unwrap());
    assert!(
        store
            .get_shared(Kind::PhoneNumber, &record.sid)
            .await
            .unwrap()
            .is_none(),
        "a deleted row is not served from memory"
    );
    // The number is free again, and the new row is what reads return.
    let mut again = number(&sid(3), "ACshared", "+15551000002");
    again.seq = store.insert(&again).await.unwrap();
    assert_eq!(
        store.get(Kind::PhoneNumber, &again.sid).await.unwrap(),
        Some(again)
    );
}

async fn uniqueness(store: &dyn Store) {
    store
        .insert(&number(&sid(10), "ACuniq", "+15552000001"))
        .await
        .unwrap();
    let taken = store
        .insert(&number(&sid(11), "ACother", "+15552000001"))
        .await
        .unwrap_err();
    assert!(
        matches!(taken, StoreError::Conflict(ref key) if key == "number:+15552000001"),
        "{taken}"
    );
    let same_sid = store
        .insert(&number(&sid(10), "ACuniq", "+15552000002"))
        .await
        .unwrap_err();
    assert!(matches!(same_sid, StoreError::Conflict(_)), "{same_sid}");
    // Deleting frees the number for someone else.
    store.delete(Kind::PhoneNumber, &sid(10)).await.unwrap();
    store
        .insert(&number(&sid(11), "ACother", "+15552000001"))
        .await
        .unwrap();
}

async fn paging_in_both_orders(store: &dyn Store) {
    let account = "ACpaging";
    for n in 0..7 {
        store
            .insert(&number(&sid(100 + n), account, &format!("+1555300000{n}")))
            .await
            .unwrap();
    }
    store
        .insert(&number(&sid(200), "ACsomeoneelse", "+15553999999"))
        .await
        .unwrap();
    for order in [Order::Ascending, Order::Descending] {
        let mut query = ListQuery::new(Kind::PhoneNumber, account);
        query.order = order;
        query.limit = 3;
        let mut seen = Vec::new();
        loop {
            let page = store.list(&query).await.unwrap();
            seen.extend(page.iter().map(|record| record.sid.clone()));
            match page.last() {
                Some(last) if page.len() == 3 => query.after_seq = Some(last.seq),
                _ => break,
            }
        }
        let mut expected: Vec<String> = (0..7).map(|n| sid(100 + n)).collect();
        if order == Order::Descending {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{order:?}");
    }
    let mut offset = ListQuery::new(Kind::PhoneNumber, account);
    offset.offset = 5;
    offset.limit = 10;
    let tail: Vec<String> = store
        .list(&offset)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.sid)
        .collect();
    assert_eq!(tail, vec![sid(105), sid(106)]);
}

async fn filters(store: &dyn Store) {
    let account = "ACfilters";
    let mut first = number(&sid(300), account, "+14155550100");
    first.date_key = Some(1_000);
    first.status = Some("in-use".into());
    let mut second = number(&sid(301), account, "+14155551234");
    second.date_key = Some(2_000);
    second.friendly_name = Some("100%_literal".into());
    store.insert(&first).await.unwrap();
    store.insert(&second).await.unwrap();
    let run = |filters: Vec<Filter>| {
        let mut query = ListQuery::new(Kind::PhoneNumber, account);
        query.filters = filters;
        async move {
            store
                .list(&query)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.sid)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        run(vec![Filter::Like(Column::PhoneNumber, "%555_1%".into())]).await,
        vec![sid(300), sid(301)]
    );
    assert_eq!(
        run(vec![Filter::Like(Column::PhoneNumber, "%1234".into())]).await,
        vec![sid(301)]
    );
    assert_eq!(
        run(vec![Filter::Equals(Column::Status, "in-use".into())]).await,
        vec![sid(300)]
    );
    assert_eq!(
        run(vec![Filter::Between(Column::DateKey, Some(1_500), None)]).await,
        vec![sid(301)]
    );
    assert_eq!(
        run(vec![Filter::Between(Column::DateKey, None, Some(2_000))]).await,
        vec![sid(300)]
    );
    let escaped = Filter::Like(Column::FriendlyName, "100\\%\\_literal".into());
    assert_eq!(
        run(vec![escaped]).await,
        vec![sid(301)],
        "escaped wildcards match literally"
    );
    let unescaped = Filter::Like(Column::FriendlyName, "name _1415555%".into());
    assert_eq!(run(vec![unescaped]).await, vec![sid(300)]);
}

async fn parents(store: &dyn Store) {
    let account = "ACparents";
    for (n, parent) in [(400, "CA1"), (401, "CA2"), (402, "CA1")] {
        let mut record = Record::new(
            Kind::Recording,
            format!("RE{n:032x}"),
            account.into(),
            0,
            json!({}),
        );
        record.parent_sid = Some(parent.into());
        store.insert(&record).await.unwrap();
    }
    let mut query = ListQuery::new(Kind::Recording, account);
    query.parent_sid = Some("CA1".into());
    let sids: Vec<String> = store
        .list(&query)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.sid)
        .collect();
    assert_eq!(
        sids,
        vec![format!("RE{:032x}", 400), format!("RE{:032x}", 402)]
    );

    // Engine-wide scans: any owner, rows without a parent.
    let mut orphan = Record::new(
        Kind::Recording,
        format!("RE{:032x}", 403),
        "ACelsewhere".into(),
        0,
        json!({}),
    );
    orphan.status = Some("absent-parent".into());
    store.insert(&orphan).await.unwrap();
    let mut query = ListQuery::new(Kind::Recording, "");
    query.account_sid = None;
    query.filters.push(Filter::Absent(Column::ParentSid));
    let sids: Vec<String> = store
        .list(&query)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.sid)
        .collect();
    assert_eq!(sids, vec![format!("RE{:032x}", 403)]);
    query.filters = vec![Filter::Equals(Column::Sid, format!("RE{:032x}", 401))];
    assert_eq!(store.list(&query).await.unwrap().len(), 1);
}

/// Strings a hostile client sends. Rust strings are UTF-8, so lone surrogates cannot reach the
/// store (the API refuses invalid UTF-8); the odd but valid code points around them can.
fn accepted_hostile_strings() -> Vec<(&'static str, String)> {
    vec![
        (
            "quotes",
            r#"it's "quoted"; DROP TABLE resources;--"#.to_owned(),
        ),
        ("backslashes", r#"C:\path\to\%s \\ \' \" \"#.to_owned()),
        ("like wildcards", "100% of_the_time %_\\%".to_owned()),
        (
            "emoji",
            "\u{1f600}\u{1f469}\u{200d}\u{1f469}\u{200d}\u{1f467} \u{1f1fa}\u{1f1f8}".to_owned(),
        ),
        (
            "rtl marks",
            "\u{200f}\u{202e}txet desrever\u{202c}\u{200e} \u{5e9}\u{5dc}\u{5d5}\u{5dd}".to_owned(),
        ),
        (
            "odd code points",
            "\u{feff}\u{fffd}\u{ffff}\u{fffe}\u{10ffff}\u{e000}e\u{301}".to_owned(),
        ),
        (
            "controls",
            "\u{1}\u{7}\u{8}\t\r\n\u{1b}[31m\u{7f}\u{85}\u{2028}".to_owned(),
        ),
        ("json lookalike", r#"{"a":"\u0000"}"#.to_owned()),
        ("very long", "\u{e9}x\u{1f600}".repeat(100_000)),
        ("empty", String::new()),
    ]
}

/// Every accepted string round-trips byte-identical through a column, a document value and a
/// document key, read back from the database (a list, not the read cache) and found by an
/// exact filter; a NUL is refused with `Unstorable` wherever it is, and reads with one find
/// nothing, on every backend alike.
async fn hostile_strings(store: &dyn Store) {
    let account = "AChostile";
    for (n, (label, text)) in accepted_hostile_strings().into_iter().enumerate() {
        let sid = format!("AP{:032x}", 500 + n);
        let mut record = Record::new(
            Kind::Application,
            sid.clone(),
            account.into(),
            0,
            json!({"friendly_name": text, "nested": [{text.clone(): text}]}),
        );
        record.friendly_name = Some(text.clone());
        record.seq = store
            .insert(&record)
            .await
            .unwrap_or_else(|error| panic!("{label}: {error}"));
        let mut query = ListQuery::new(Kind::Application, account);
        query.filters = vec![Filter::Equals(Column::FriendlyName, text.clone())];
        let found = store.list(&query).await.unwrap();
        assert_eq!(
            found,
            vec![record.clone()],
            "{label}: found by an exact filter, identical"
        );
        let escaped: String = text
            .chars()
            .flat_map(|c| match c {
                '\\' | '%' | '_' => vec!['\\', c],
                other => vec![other],
            })
            .collect();
        let too_long = escaped.len() > switchboard_store::LIKE_PATTERN_MAX_BYTES;
        query.filters = vec![Filter::Like(Column::FriendlyName, escaped)];
        match store.list(&query).await {
            Ok(found) => {
                assert!(!too_long, "{label}: a long pattern was run");
                assert_eq!(found, vec![record.clone()], "{label}: LIKE, escaped");
            }
            Err(StoreError::FilterTooLong) => assert!(too_long, "{label}: refused"),
            Err(other) => panic!("{label}: LIKE answered {other}"),
        }
        store.delete(Kind::Application, &sid).await.unwrap();
    }

    let clean = || {
        let mut record = Record::new(
            Kind::Application,
            format!("AP{:032x}", 600),
            account.into(),
            0,
            json!({"a": "b"}),
        );
        record.friendly_name = Some("clean".into());
        record
    };
    let mut refused = Vec::new();
    let mut in_column = clean();
    in_column.friendly_name = Some("a\0b".into());
    refused.push(("friendly_name", in_column));
    let mut in_value = clean();
    in_value.doc = json!({"body": ["ok", "\0"]});
    refused.push(("doc.body[1]", in_value));
    let mut in_key = clean();
    in_key.doc = json!({"k\0": 1});
    refused.push(("doc.k\\0", in_key));
    let mut in_status = clean();
    in_status.status = Some("\0".into());
    refused.push(("status", in_status));
    for (place, record) in refused {
        match store.insert(&record).await {
            Err(StoreError::Unstorable { place: got, .. }) => assert_eq!(got, place),
            other => panic!("{place}: insert answered {other:?}"),
        }
    }
    // Incompressible text longer than a PostgreSQL B-tree row, in an indexed column: refused on
    // both backends (SQLite would store it, PostgreSQL would fail in the driver).
    let mut long_indexed = clean();
    long_indexed.phone_number = Some(
        (0..3_000u32)
            .map(|i| {
                char::from_u32(0x4e00 + (i.wrapping_mul(2_654_435_761) >> 18) % 20_000)
                    .unwrap_or('x')
            })
            .collect(),
    );
    match store.insert(&long_indexed).await {
        Err(StoreError::Unstorable { place, .. }) => assert_eq!(place, "phone_number"),
        other => panic!("long indexed text: insert answered {other:?}"),
    }
    let stored = clean();
    store.insert(&stored).await.unwrap();
    let mut nul_update = stored.clone();
    nul_update.friendly_name = Some("\0".into());
    assert!(matches!(
        store.update(&nul_update).await,
        Err(StoreError::Unstorable { .. })
    ));
    let read = store
        .get(Kind::Application, &stored.sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read.friendly_name.as_deref(),
        Some("clean"),
        "a refused update changes nothing"
    );

    assert_eq!(store.get(Kind::Application, "AP\0").await.unwrap(), None);
    assert!(!store.delete(Kind::Application, "AP\0").await.unwrap());
    let mut query = ListQuery::new(Kind::Application, account);
    query.filters = vec![Filter::Equals(Column::FriendlyName, "\0".into())];
    assert!(store.list(&query).await.unwrap().is_empty());
    query.filters = vec![Filter::Like(Column::FriendlyName, "%\0%".into())];
    assert!(store.list(&query).await.unwrap().is_empty());
    assert!(
        store
            .list(&ListQuery::new(Kind::Application, "AC\0"))
            .await
            .unwrap()
            .is_empty()
    );
}
