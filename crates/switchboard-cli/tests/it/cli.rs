//! The client subcommands against a running engine: `switchboard sms`.

use switchboard_test_support::app::App;

use crate::{binary, call, start};

#[tokio::test]
async fn sms_prints_the_webhook_and_the_reply() {
    let engine = start();
    let app = App::start().await;
    app.route(
        "/sms",
        200,
        "text/xml",
        "<Response><Message>pong</Message></Response>",
    );
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    let created = call(
        &engine,
        "POST",
        &numbers,
        &[
            ("PhoneNumber", "+15550200001"),
            ("SmsUrl", &app.url("/sms")),
        ],
    )
    .await;
    assert_eq!(created.0, 201);
    let run = |to: &str| {
        tokio::process::Command::new(binary())
            .args([
                "sms",
                "--to",
                to,
                "--body",
                "ping",
                "--server",
                &engine.base_url,
            ])
            .env("SWITCHBOARD_ACCOUNT_SID", &engine.account_sid)
            .env("SWITCHBOARD_AUTH_TOKEN", &engine.auth_token)
            .output()
    };
    let output = run("+15550200001").await.expect("running switchboard sms");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("webhook POST {}: 200", app.url("/sms"))),
        "{stdout}"
    );
    assert!(
        stdout.contains("reply +15550200001 -> +15005550006: pong"),
        "{stdout}"
    );
    assert_eq!(app.received().len(), 1);
    let refused = run("+15550209999").await.expect("running switchboard sms");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("20404"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
