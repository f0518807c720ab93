//! `console-seed DB COUNT`: fills a stopped engine's SQLite database with COUNT copies of its
//! newest stored call (new SIDs, spread over the last COUNT seconds, statuses varied), so the
//! console's pages can be measured against a large account (`bench/console.sh`). The copied
//! row is one the engine itself wrote, so the documents have the real shape.

use sqlx::Row;
use sqlx::sqlite::SqliteConnectOptions;

const STATUSES: [&str; 4] = ["completed", "completed", "busy", "failed"];

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(db), Some(count)) = (args.next(), args.next()) else {
        eprintln!("usage: console-seed DB COUNT");
        std::process::exit(2);
    };
    let count: u64 = count.parse()?;
    let options = SqliteConnectOptions::new().filename(&db);
    let pool = sqlx::SqlitePool::connect_with(options).await?;
    let row = sqlx::query(
        "SELECT account_sid, phone_number, from_number, doc FROM resources \
         WHERE kind = 'call' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await?;
    let account: String = row.get(0);
    let to: Option<String> = row.get(1);
    let from: Option<String> = row.get(2);
    let doc: String = row.get(3);
    let template: serde_json::Value = serde_json::from_str(&doc)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let mut transaction = pool.begin().await?;
    for index in 0..count {
        let sid = format!("CA{:032x}", rand_u128(index));
        let created = now - ((count - index) as i64) * 1000;
        let status = STATUSES[(index % 4) as usize];
        let mut doc = template.clone();
        doc["sid"] = sid.clone().into();
        doc["status"] = status.into();
        doc["date_created"] = created.into();
        doc["start_time"] = created.into();
        sqlx::query(
            "INSERT INTO resources (sid, kind, account_sid, created_ms, phone_number, \
             from_number, status, date_key, doc) VALUES (?, 'call', ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&sid)
        .bind(&account)
        .bind(created)
        .bind(&to)
        .bind(&from)
        .bind(status)
        .bind(created)
        .bind(doc.to_string())
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await?;
    println!("seeded {count} calls for {account}");
    Ok(())
}

/// A SID body that differs per index and per run (no random crate in this one).
fn rand_u128(index: u64) -> u128 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut x =
        nanos ^ (u128::from(index) << 64) ^ u128::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // splitmix-style scrambling, enough for distinct SIDs.
    x ^= x >> 31;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9_94d0_49bb_1331_11eb);
    x ^= x >> 29;
    x
}
