//! Backend-independent cases of the scheduled messages' table: a due row is claimed by one
//! node only, a cancel loses to a claim, and a stopped node's rows go back.

use switchboard_store::{ScheduledSend, Store};

fn row(n: u32, send_at_ms: i64) -> ScheduledSend {
    ScheduledSend {
        sid: format!("SM{n:032x}"),
        account_sid: "AC1".to_owned(),
        send_at_ms,
        owner: None,
    }
}

pub async fn scheduled(store: &dyn Store) {
    assert_eq!(store.next_scheduled_ms().await.unwrap(), None);
    for n in 0..40 {
        store
            .insert_scheduled(&row(n, 1_000 + i64::from(n)))
            .await
            .unwrap();
    }
    store.insert_scheduled(&row(99, 50_000)).await.unwrap();
    assert_eq!(store.next_scheduled_ms().await.unwrap(), Some(1_000));
    assert!(
        store
            .claim_scheduled("node-a", 999, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due"
    );
    // Two claimers at once: every due row exactly once, the earliest first.
    let (a, b) = tokio::join!(
        store.claim_scheduled("node-a", 2_000, 25),
        store.claim_scheduled("node-b", 2_000, 25)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut claimed: Vec<&str> = a.iter().chain(&b).map(|row| row.sid.as_str()).collect();
    assert_eq!(claimed.len(), 40, "{} and {}", a.len(), b.len());
    claimed.sort_unstable();
    claimed.dedup();
    assert_eq!(claimed.len(), 40, "a row claimed twice");
    assert!(
        a.windows(2)
            .all(|pair| pair[0].send_at_ms <= pair[1].send_at_ms)
    );
    assert!(a.iter().all(|row| row.owner.as_deref() == Some("node-a")));
    // A cancel (unowned only) loses to a claim; the holder removes its own row.
    let held = &a[0].sid;
    assert!(!store.remove_scheduled(held, None).await.unwrap());
    assert!(!store.remove_scheduled(held, Some("node-b")).await.unwrap());
    assert!(store.remove_scheduled(held, Some("node-a")).await.unwrap());
    assert!(
        !store.remove_scheduled(held, Some("node-a")).await.unwrap(),
        "gone"
    );
    assert!(
        store.remove_scheduled(&row(99, 0).sid, None).await.unwrap(),
        "canceled"
    );
    // node-a stops: its rows go back and another node claims them.
    let released = store.release_scheduled(Some("node-a")).await.unwrap();
    assert_eq!(released, a.len() as u64 - 1);
    let again = store.claim_scheduled("node-c", 2_000, 100).await.unwrap();
    assert_eq!(again.len(), a.len() - 1);
    assert_eq!(
        store.release_scheduled(None).await.unwrap(),
        39,
        "every held row"
    );
    for pending in store.claim_scheduled("node-c", 2_000, 100).await.unwrap() {
        assert!(
            store
                .remove_scheduled(&pending.sid, Some("node-c"))
                .await
                .unwrap()
        );
    }
    assert_eq!(store.next_scheduled_ms().await.unwrap(), None);
}
