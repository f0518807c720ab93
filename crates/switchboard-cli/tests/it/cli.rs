//! The client subcommands against a running engine: `switchboard sms`, `switchboard call`.

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

/// `call --digits` is checked before a call is placed: a key the sandbox cannot press is a
/// usage error (exit 2), and no call reaches the engine.
#[tokio::test]
async fn call_refuses_bad_digits_before_placing_the_call() {
    let engine = start();
    let output = tokio::process::Command::new(binary())
        .args([
            "call",
            "--to",
            "+15550200001",
            "--digits",
            "12x",
            "--server",
            &engine.base_url,
        ])
        .env("SWITCHBOARD_ACCOUNT_SID", &engine.account_sid)
        .env("SWITCHBOARD_AUTH_TOKEN", &engine.auth_token)
        .output()
        .await
        .expect("running switchboard call");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("0-9, *, # and w"), "{stderr}");
    let calls = call(&engine, "GET", &engine.account_url("Calls.json"), &[]).await;
    assert_eq!(
        calls.1["calls"].as_array().map(Vec::len),
        Some(0),
        "{calls:?}"
    );
}

/// `serve` with SIP on names a text-to-speech program that is not installed, at start, instead
/// of leaving the first `<Say>` to find out.
#[test]
fn serve_warns_at_start_when_the_text_to_speech_program_is_missing() {
    use std::io::BufRead;
    let dir = switchboard_test_support::engine::scratch_dir("tts-missing");
    let database = format!("sqlite://{}", dir.join("switchboard.db").display());
    let rtp = switchboard_test_support::net::free_rtp_ports(4);
    let mut child = std::process::Command::new(binary())
        .args(["serve", "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0"])
        .args(["--rtp-ports", &rtp, "--database", &database])
        .args(["--tts-command", "no-such-tts-program --stdin"])
        .env_remove("SWITCHBOARD_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("switchboard serve");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut warning = None;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match received.recv_timeout(left) {
            Ok(line) if line.contains("no-such-tts-program") => {
                warning = Some(line);
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    child.kill().ok();
    child.wait().ok();
    let warning = warning.expect("a warning naming the program within 20 s");
    assert!(warning.starts_with("warning: "), "{warning}");
    assert!(warning.contains("--tts-command"), "{warning}");
}

/// Issue 19 item 5: a relative URL in inline TwiML is the same finding in `twiml check
/// --inline` as in the engine (code, level and message), and `--url` resolves it.
#[tokio::test]
async fn twiml_check_inline_reports_a_relative_url_as_the_engine_alerts_it() {
    let document =
        "<Response>\n  <Say>Moving on</Say>\n  <Redirect>next-step</Redirect>\n</Response>";
    let check = |extra: &[&str]| {
        let mut child = std::process::Command::new(binary())
            .args(["twiml", "check"])
            .args(extra)
            .arg("-")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run twiml check");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(document.as_bytes())
            .expect("write the document");
        let output = child.wait_with_output().expect("twiml check");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (status, printed) = check(&["--inline"]);
    assert_eq!(status, Some(1), "{printed}");
    let prefix = "<stdin>:3:13: error 11100: ";
    assert!(printed.starts_with(prefix), "{printed}");
    let message = printed
        .trim_end()
        .strip_prefix(prefix)
        .expect("prefix")
        .to_owned();
    assert_eq!(
        check(&["--url", "https://app.example/ivr.xml"]),
        (Some(0), String::new())
    );
    assert_eq!(check(&[]), (Some(0), String::new()));

    let engine = start();
    let numbers = engine.account_url("IncomingPhoneNumbers.json");
    let created = call(
        &engine,
        "POST",
        &numbers,
        &[("PhoneNumber", "+15550200009")],
    )
    .await;
    assert_eq!(created.0, 201);
    let (status, placed) = call(
        &engine,
        "POST",
        &engine.account_url("Calls.json"),
        &[
            ("To", "+15558670009"),
            ("From", "+15550200009"),
            ("Twiml", document),
        ],
    )
    .await;
    assert_eq!(status, 201, "{placed}");
    let sid = placed["sid"].as_str().expect("sid");
    let transcript = crate::voice::finished(&engine, sid).await;
    let alerts = crate::voice::events(&transcript, "alert");
    assert_eq!(alerts.len(), 1, "{transcript}");
    assert_eq!(
        (
            alerts[0]["error_code"].as_u64(),
            alerts[0]["level"].as_str()
        ),
        (Some(11100), Some("error"))
    );
    let alert_sid = alerts[0]["sid"].as_str().expect("alert sid");
    let (_, alert) = call(
        &engine,
        "GET",
        &format!("{}/v1/Alerts/{alert_sid}", engine.base_url),
        &[],
    )
    .await;
    let text = alert["alert_text"].as_str().expect("alert_text");
    let msg: String = reqwest::Url::parse(&format!("http://x/?{text}"))
        .expect("alert_text is a form")
        .query_pairs()
        .find(|(name, _)| name == "Msg")
        .map(|(_, value)| value.into_owned())
        .expect("Msg");
    assert_eq!(msg, message, "{alert}");
}
