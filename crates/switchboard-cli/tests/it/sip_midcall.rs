//! Mid-call SIP (issue 24 item 1) with sipp as the phone: hold and resume by re-INVITE and by
//! UPDATE (the engine's RTP stops while held and comes back), an offer with no common codec
//! (`488`, the call goes on), and RFC 4028 session timers: `422` below `Min-SE`, a 3-minute call
//! refreshed every 30 s by re-INVITE and UPDATE in turn, a session never refreshed ended by the
//! engine at 60 s of a 90 s interval, and the engine refreshing by UPDATE when it is the
//! refresher.

use std::time::{Duration, Instant};

use switchboard_test_support::app::App;
use switchboard_test_support::engine::Engine;
use switchboard_test_support::sipp::{self, Sipp};

use crate::binary;
use crate::sip_calls::{
    SipTest, XML, assert_sipp_ok, hits, receive_rtp_from, scenario, sip_addr, stored_call,
};
use crate::voice::{param, provision};

const HOLD_TWIML: &str =
    r#"<Response><Say>Please hold while we test.</Say><Pause length="300"/></Response>"#;

/// The gaps of over a second between consecutive packets, in arrival order.
fn silences(packets: &[(Instant, Vec<u8>)]) -> Vec<Duration> {
    packets
        .windows(2)
        .map(|pair| pair[1].0 - pair[0].0)
        .filter(|gap| *gap > Duration::from_secs(1))
        .collect()
}

#[tokio::test]
async fn hold_and_resume_by_reinvite_and_update_stop_and_restart_the_engines_rtp() {
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
    app.route("/voice", 200, XML, HOLD_TWIML);
    app.route("/status", 204, XML, "");
    let (status, number) = crate::call(
        &engine,
        "POST",
        &engine.account_url("IncomingPhoneNumbers.json"),
        &[
            ("PhoneNumber", "+15550480001"),
            ("VoiceUrl", &app.url("/voice")),
            ("StatusCallback", &app.url("/status")),
        ],
    )
    .await;
    assert_eq!(status, 201, "{number}");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind RTP");
    let port = socket.local_addr().expect("addr").port().to_string();
    // Quiet for 4 s ends the capture: longer than either hold.
    let capture = tokio::spawn(receive_rtp_from(socket, Duration::from_secs(4)));
    let outcome = Sipp::new(
        &sipp_binary,
        &scenario("reinvite_hold"),
        sip_addr(&engine),
        "+15550480001",
    )
    .key("rtp_port", &port)
    .run()
    .await;
    // The scenario itself checks the answers: `recvonly` to the sendonly re-INVITE, `sendrecv`
    // to the resume, `488` to the G.729-only offer, `inactive` to the UPDATE's inactive offer.
    assert_sipp_ok(&outcome, "hold and resume");
    let (packets, _) = capture.await.expect("capture");
    let gaps = silences(&packets);
    // Held 2 s by re-INVITE (sendonly), then 2 s by UPDATE (inactive): two silences, each
    // about as long as the hold, and RTP again after each (the resumes).
    assert_eq!(gaps.len(), 2, "two silences in the engine's RTP: {gaps:?}");
    for gap in &gaps {
        assert!(
            *gap >= Duration::from_millis(1500) && *gap <= Duration::from_millis(3500),
            "a silence as long as the hold: {gaps:?}"
        );
    }
    let last_gap_end = packets
        .windows(2)
        .filter(|pair| pair[1].0 - pair[0].0 > Duration::from_secs(1))
        .map(|pair| pair[1].0)
        .next_back()
        .expect("a gap");
    let after = packets.iter().filter(|(at, _)| *at >= last_gap_end).count();
    assert!(
        after > 40,
        "RTP resumed after the UPDATE resume: {after} packets"
    );

    let first = &hits(&app, "/voice")[0];
    let sid = param(first, "CallSid").expect("CallSid").to_owned();
    // Webhooks of a SIP call carry its Call-ID (sipp's are `<number>-<pid>@<ip>`).
    let call_id = param(first, "SipCallId").expect("SipCallId");
    assert!(call_id.contains("@127.0.0.1"), "{call_id}");
    let stored = stored_call(&engine, &sid).await;
    assert_eq!(stored["status"], "completed", "{stored}");
    // The completed status callback carries the leg's final SIP response: answered, 200.
    let delivered = crate::eventually(Duration::from_secs(10), async || {
        !hits(&app, "/status").is_empty()
    })
    .await;
    assert!(delivered, "the status callback arrived");
    let callback = &hits(&app, "/status")[0];
    assert_eq!(param(callback, "CallStatus"), Some("completed"));
    assert_eq!(param(callback, "SipResponseCode"), Some("200"));
    assert_eq!(param(callback, "SipCallId"), Some(call_id));
}

#[tokio::test]
async fn a_session_interval_under_min_se_is_refused_with_422() {
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
    app.route("/voice", 200, XML, HOLD_TWIML);
    provision(&engine, "+15550480002", &app.url("/voice"), None).await;
    let outcome = Sipp::new(
        &sipp_binary,
        &scenario("session_too_small"),
        sip_addr(&engine),
        "+15550480002",
    )
    .key("rtp_port", "9")
    .run()
    .await;
    assert_sipp_ok(&outcome, "422 with Min-SE");
    assert!(
        hits(&app, "/voice").is_empty(),
        "a refused INVITE runs no TwiML"
    );
}

/// Three phones at once against one engine (a 3-minute test: it does not take the binary's
/// sipp slot, so the quick SIP tests run beside it; its ports are taken free from the OS).
#[tokio::test]
async fn session_timers_keep_refreshed_calls_up_and_end_the_rest() {
    let Some(sipp_binary) = sipp::sipp() else {
        return;
    };
    let rtp = switchboard_test_support::net::free_udp_range(16);
    let range = format!("{}-{}", rtp.0, rtp.1);
    let engine = Engine::start_with_sip(binary(), &["--rtp-ports", &range]);
    let app = App::start().await;
    app.route("/voice", 200, XML, HOLD_TWIML);
    app.route("/status", 204, XML, "");
    for number in ["+15550480011", "+15550480012", "+15550480013"] {
        provision(&engine, number, &app.url("/voice"), None).await;
    }
    let run = |name: &str, number: &str, seconds: u64| {
        let mut sipp = Sipp::new(&sipp_binary, &scenario(name), sip_addr(&engine), number)
            .key("rtp_port", "9");
        sipp.timeout = Duration::from_secs(seconds);
        async move {
            let started = Instant::now();
            let outcome = sipp.run().await;
            (outcome, started.elapsed())
        }
    };
    let (refreshed, expired, engine_refreshes) = tokio::join!(
        run("session_refresh", "+15550480011", 200),
        run("session_expire", "+15550480012", 100),
        run("session_uas_refresh", "+15550480013", 100),
    );

    // Refreshed every 30 s by re-INVITE and UPDATE for 3 minutes: still up when the phone hung
    // up (its BYE got 200, which the scenario requires).
    assert_sipp_ok(&refreshed.0, "refreshed session");
    assert!(refreshed.1 >= Duration::from_secs(180), "{:?}", refreshed.1);

    // Never refreshed: the engine's BYE came a third of 90 s early, at about 60 s.
    assert_sipp_ok(&expired.0, "expired session");
    assert!(
        expired.1 >= Duration::from_secs(58) && expired.1 <= Duration::from_secs(70),
        "BYE at about 60 s: {:?}",
        expired.1
    );

    // The engine as refresher sent its UPDATE at half the interval.
    assert_sipp_ok(&engine_refreshes.0, "engine refreshes");
    assert!(
        engine_refreshes.1 >= Duration::from_secs(44),
        "UPDATE at about 45 s: {:?}",
        engine_refreshes.1
    );

    let calls = hits(&app, "/voice");
    let sid_of = |number: &str| {
        calls
            .iter()
            .find(|params| param(params, "To") == Some(number))
            .and_then(|params| param(params, "CallSid"))
            .expect("the call's first request")
            .to_owned()
    };
    for number in ["+15550480011", "+15550480012", "+15550480013"] {
        let stored = stored_call(&engine, &sid_of(number)).await;
        assert_eq!(stored["status"], "completed", "{number}: {stored}");
    }
    // Only the expired session is an alert, with the engine's code.
    let alerts = crate::call(
        &engine,
        "GET",
        &format!("{}/v1/Alerts?PageSize=50", engine.base_url),
        &[],
    )
    .await
    .1;
    let expired_sid = sid_of("+15550480012");
    let codes: Vec<(String, String)> = alerts["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|alert| {
            (
                alert["error_code"].as_str().unwrap_or_default().to_owned(),
                alert["resource_sid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(codes, vec![("99002".to_owned(), expired_sid)], "{alerts}");
}
