//! A 201 means committed: rows acknowledged before a SIGKILL are there after restart, on SQLite
//! and on Postgres.

use switchboard_test_support::engine::{Engine, scratch_dir};
use switchboard_test_support::postgres::{TestDatabase, server_url};

use crate::{binary, call};

async fn create_then_kill(engine: &mut Engine) {
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    let mut acknowledged = Vec::new();
    for n in 0..40 {
        let form = [
            ("PhoneNumber", format!("+1628555{n:04}")),
            ("VoiceUrl", "https://app.example/v".into()),
        ];
        let response = engine
            .request(reqwest::Method::POST, &numbers)
            .form(&form)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.expect("json");
        acknowledged.push(body["sid"].as_str().expect("sid").to_owned());
    }
    engine.kill_hard();
    engine.restart();
    for sid in &acknowledged {
        let fetched = call(
            engine,
            "GET",
            &engine.account_url(&format!("IncomingPhoneNumbers/{sid}.json")),
            &[],
        )
        .await;
        assert_eq!(
            fetched.0, 200,
            "{sid} was acknowledged with 201 but is gone after SIGKILL"
        );
    }
    let numbers = engine.account_url("IncomingPhoneNumbers.json?PageSize=1000");
    let list = call(engine, "GET", &numbers, &[]).await.1;
    assert_eq!(
        list["incoming_phone_numbers"].as_array().unwrap().len(),
        acknowledged.len()
    );
}

#[tokio::test]
async fn acknowledged_creates_survive_sigkill_on_sqlite() {
    let mut engine = crate::start();
    create_then_kill(&mut engine).await;
}

#[tokio::test]
async fn acknowledged_creates_survive_sigkill_on_postgres() {
    let Some(server) = server_url("engine on postgres") else {
        return;
    };
    let database = TestDatabase::create(&server).await.expect("test database");
    {
        let mut engine = Engine::start_on(
            binary(),
            scratch_dir("pg"),
            database.url.clone(),
            Vec::new(),
        );
        create_then_kill(&mut engine).await;
        assert!(engine.terminate(), "graceful shutdown exits 0");
    }
    database.drop_database().await.expect("drop test database");
}
