//! Outbound real calls: `Calls.json` to a `sip:` URI (SIP progress in the status callbacks,
//! digest authentication) and `<Dial><Sip>` (RTP relayed between the legs, a busy callee).
//! sipp plays the callee; see `sip_calls.rs` for the shared helpers.

use std::time::{Duration, Instant};

use switchboard_test_support::app::App;
use switchboard_test_support::engine::Engine;
use switchboard_test_support::sipp::{self, Sipp, SippUas};

use crate::call;
use crate::sip_calls::{
    RtpCapture, SipTest, XML, assert_sipp_ok, ended_events, frame_levels, hits, scenario, sip_addr,
    stored_call,
};
use crate::voice::{param, provision};

#[tokio::test]
async fn an_outbound_api_call_to_a_sip_uri_reports_sip_progress_in_status_callbacks() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        ..
    }) = SipTest::start().await
    else {
        return;
    };
    app.route(
        "/outbound",
        200,
        XML,
        "<Response><Say>Hello from the engine.</Say><Hangup/></Response>",
    );
    app.route("/status", 200, XML, "");
    provision(&engine, "+15550300007", &app.url("/unused"), None).await;
    let callee = SippUas::start(&sipp_binary, None, &["-rtp_echo"]).await;
    let to = format!("sip:alice@{}", callee.addr());
    let status_url = app.url("/status");
    let created = call(
        &engine,
        "POST",
        &engine.account_url("Calls.json"),
        &[
            ("To", to.as_str()),
            ("From", "+15550300007"),
            ("Url", &app.url("/outbound")),
            ("StatusCallback", &status_url),
            (
                "StatusCallbackEvent",
                "initiated ringing answered completed",
            ),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_eq!(created.1["to"], to.as_str());
    let sid = created.1["sid"].as_str().expect("sid").to_owned();
    let outcome = callee.finish(Duration::from_secs(30)).await;
    assert_sipp_ok(&outcome, "sipp uas");
    let stored = stored_call(&engine, &sid).await;
    assert_eq!(stored["status"], "completed", "{stored}");
    assert_eq!(stored["direction"], "outbound-api");
    // The completed callback can trail the stored status by a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let statuses = loop {
        let statuses: Vec<String> = hits(&app, "/status")
            .iter()
            .filter_map(|params| param(params, "CallStatus").map(str::to_owned))
            .collect();
        if statuses.last().map(String::as_str) == Some("completed") || Instant::now() > deadline {
            break statuses;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        statuses,
        ["initiated", "ringing", "in-progress", "completed"],
        "status callbacks follow the SIP progress (180, 200, BYE)"
    );
    let fetched = hits(&app, "/outbound");
    assert_eq!(fetched.len(), 1);
    assert_eq!(param(&fetched[0], "To"), Some(to.as_str()));
    assert_eq!(param(&fetched[0], "CallStatus"), Some("in-progress"));
}

#[tokio::test]
async fn dial_sip_bridges_the_caller_to_a_sip_callee_with_rtp_relayed() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        ..
    }) = SipTest::start().await
    else {
        return;
    };
    let capture = RtpCapture::start().await;
    let callee = SippUas::start(
        &sipp_binary,
        Some(&scenario("uas_media")),
        &["-key", "rtp_port", &capture.port],
    )
    .await;
    app.route(
        "/voice",
        200,
        XML,
        &format!(
            r#"<Response><Dial action="/dialed"><Sip>sip:bob@{}</Sip></Dial></Response>"#,
            callee.addr()
        ),
    );
    app.route("/dialed", 200, XML, "<Response><Hangup/></Response>");
    provision(&engine, "+15550300008", &app.url("/voice"), None).await;
    let caller = Sipp::new(
        &sipp_binary,
        &scenario("caller_bye"),
        sip_addr(&engine),
        "+15550300008",
    )
    .run()
    .await;
    assert_sipp_ok(&caller, "caller");
    let callee = callee.finish(Duration::from_secs(20)).await;
    assert_sipp_ok(&callee, "callee");
    let dialed = hits(&app, "/dialed");
    assert_eq!(dialed.len(), 1, "{dialed:?}");
    assert_eq!(param(&dialed[0], "DialCallStatus"), Some("completed"));
    assert_eq!(param(&dialed[0], "SipResponseCode"), Some("200"));
    assert_eq!(param(&dialed[0], "DialBridged"), Some("true"));
    let child = param(&dialed[0], "DialCallSid")
        .expect("DialCallSid")
        .to_owned();
    let stored = stored_call(&engine, &child).await;
    assert_eq!(stored["direction"], "outbound-dial", "{stored}");
    assert_eq!(stored["status"], "completed", "{stored}");

    // The callee's RTP (PCMU) carries the caller's speech (sipp's A-law pcap), transcoded.
    let packets = capture.packets().await;
    let levels = frame_levels(&packets, 0, ulaw_decode);
    let loud = levels.iter().filter(|level| **level > 500.0).count();
    assert!(
        loud >= 50,
        "the callee hears the caller: {loud} loud frames of {}",
        levels.len()
    );
}

#[tokio::test]
async fn an_outbound_call_answers_a_digest_challenge_with_sip_auth_credentials() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        ..
    }) = SipTest::start().await
    else {
        return;
    };
    app.route(
        "/outbound",
        200,
        XML,
        "<Response><Say>Authenticated.</Say><Hangup/></Response>",
    );
    provision(&engine, "+15550300010", &app.url("/unused"), None).await;
    for (password, status) in [("s3cret", "completed"), ("wrong", "failed")] {
        let callee = SippUas::start(&sipp_binary, Some(&scenario("uas_auth")), &[]).await;
        let to = format!("sip:alice@{}", callee.addr());
        let created = call(
            &engine,
            "POST",
            &engine.account_url("Calls.json"),
            &[
                ("To", to.as_str()),
                ("From", "+15550300010"),
                ("Url", &app.url("/outbound")),
                ("SipAuthUsername", "alice"),
                ("SipAuthPassword", password),
            ],
        )
        .await;
        assert_eq!(created.0, 201, "{created:?}");
        let sid = created.1["sid"].as_str().expect("sid").to_owned();
        let outcome = callee.finish(Duration::from_secs(30)).await;
        assert_sipp_ok(&outcome, "sipp uas with digest auth");
        let stored = stored_call(&engine, &sid).await;
        assert_eq!(
            stored["status"], status,
            "password {password:?}: sipp's verifyauth decides: {stored}"
        );
    }
}

#[tokio::test]
async fn dial_sip_to_a_busy_callee_reports_busy_to_the_action() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        ..
    }) = SipTest::start().await
    else {
        return;
    };
    let callee = SippUas::start(&sipp_binary, Some(&scenario("uas_busy")), &[]).await;
    app.route(
        "/voice",
        200,
        XML,
        &format!(
            r#"<Response><Dial action="/dialed"><Sip>sip:bob@{}</Sip></Dial></Response>"#,
            callee.addr()
        ),
    );
    app.route(
        "/dialed",
        200,
        XML,
        "<Response><Say>They are busy.</Say><Hangup/></Response>",
    );
    provision(&engine, "+15550300011", &app.url("/voice"), None).await;
    let media = RtpCapture::start().await;
    let caller = Sipp::new(
        &sipp_binary,
        &scenario("listen"),
        sip_addr(&engine),
        "+15550300011",
    )
    .key("rtp_port", &media.port)
    .run()
    .await;
    assert_sipp_ok(&caller, "caller");
    assert_sipp_ok(&callee.finish(Duration::from_secs(20)).await, "busy callee");
    let dialed = hits(&app, "/dialed");
    assert_eq!(dialed.len(), 1, "{dialed:?}");
    assert_eq!(param(&dialed[0], "DialCallStatus"), Some("busy"));
    assert_eq!(param(&dialed[0], "SipResponseCode"), Some("486"));
    let child = param(&dialed[0], "DialCallSid")
        .expect("DialCallSid")
        .to_owned();
    assert_eq!(stored_call(&engine, &child).await["status"], "busy");
    drop(media);
}

#[tokio::test]
async fn dial_sip_to_a_callee_whose_sdp_address_does_not_parse_acks_byes_and_fails() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        ..
    }) = SipTest::start().await
    else {
        return;
    };
    // The callee's scenario passes only if the engine ACKs its 200 and then sends BYE.
    let callee = SippUas::start(&sipp_binary, Some(&scenario("uas_bad_sdp")), &[]).await;
    app.route(
        "/voice",
        200,
        XML,
        &format!(
            r#"<Response><Dial action="/dialed"><Sip>sip:bob@{}</Sip></Dial></Response>"#,
            callee.addr()
        ),
    );
    app.route(
        "/dialed",
        200,
        XML,
        "<Response><Say>That failed.</Say><Hangup/></Response>",
    );
    provision(&engine, "+15550300013", &app.url("/voice"), None).await;
    let media = RtpCapture::start().await;
    let caller = Sipp::new(
        &sipp_binary,
        &scenario("listen"),
        sip_addr(&engine),
        "+15550300013",
    )
    .key("rtp_port", &media.port)
    .run()
    .await;
    assert_sipp_ok(&caller, "caller");
    assert_sipp_ok(
        &callee.finish(Duration::from_secs(20)).await,
        "callee with a bad SDP address",
    );
    let dialed = hits(&app, "/dialed");
    assert_eq!(dialed.len(), 1, "{dialed:?}");
    assert_eq!(param(&dialed[0], "DialCallStatus"), Some("failed"));
    let child = param(&dialed[0], "DialCallSid")
        .expect("DialCallSid")
        .to_owned();
    assert_eq!(stored_call(&engine, &child).await["status"], "failed");
    drop(media);
}

#[tokio::test]
async fn calls_to_numbers_go_through_the_sip_gateway_when_one_is_set() {
    let Some(sipp_binary) = sipp::sipp() else {
        return;
    };
    let _slot = sipp::lock().await;
    let trunk = SippUas::start(&sipp_binary, Some(&scenario("uas_gateway")), &[]).await;
    let gateway = format!("sip:{}", trunk.addr());
    let rtp_ports = switchboard_test_support::net::free_rtp_ports(64);
    let engine = Engine::start_with_sip(
        crate::binary(),
        &["--rtp-ports", &rtp_ports, "--sip-gateway", &gateway],
    );
    let app = App::start().await;
    app.route(
        "/outbound",
        200,
        XML,
        "<Response><Say>Through the trunk.</Say><Hangup/></Response>",
    );
    provision(&engine, "+15550300012", &app.url("/unused"), None).await;
    let created = call(
        &engine,
        "POST",
        &engine.account_url("Calls.json"),
        &[
            ("To", "+15551230000"),
            ("From", "+15550300012"),
            ("Url", &app.url("/outbound")),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    let sid = created.1["sid"].as_str().expect("sid").to_owned();
    let outcome = trunk.finish(Duration::from_secs(30)).await;
    assert_sipp_ok(&outcome, "the trunk saw INVITE sip:+15551230000@its host");
    let stored = stored_call(&engine, &sid).await;
    assert_eq!(stored["status"], "completed", "{stored}");
    assert_eq!(stored["to"], "+15551230000");
}

#[tokio::test]
async fn send_digits_reach_a_sip_callee_as_rfc4733_events_once_it_answers() {
    let Some(SipTest {
        sipp_binary,
        engine,
        app,
        _slot,
        ..
    }) = SipTest::start().await
    else {
        return;
    };
    let capture = RtpCapture::start().await;
    let callee = SippUas::start(
        &sipp_binary,
        Some(&scenario("uas_media")),
        &["-key", "rtp_port", &capture.port],
    )
    .await;
    app.route(
        "/outbound",
        200,
        XML,
        r#"<Response><Pause length="1"/><Hangup/></Response>"#,
    );
    provision(&engine, "+15550300013", &app.url("/unused"), None).await;
    let to = format!("sip:bob@{}", callee.addr());
    let created = call(
        &engine,
        "POST",
        &engine.account_url("Calls.json"),
        &[
            ("To", to.as_str()),
            ("From", "+15550300013"),
            ("Url", &app.url("/outbound")),
            ("SendDigits", "9w#"),
        ],
    )
    .await;
    assert_eq!(created.0, 201, "{created:?}");
    assert_sipp_ok(&callee.finish(Duration::from_secs(20)).await, "callee");
    let packets = capture.packets().await;
    // Ended events on the negotiated telephone-event type (101), one per key, in order.
    let events = ended_events(&packets, 101);
    assert_eq!(events, [9, 11], "SendDigits 9w# as events 9 and 11 (#)");
}

fn ulaw_decode(code: u8) -> i32 {
    let code = !code;
    let exponent = (code >> 4) & 0x07;
    let mantissa = i32::from(code & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if code & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    }
}
