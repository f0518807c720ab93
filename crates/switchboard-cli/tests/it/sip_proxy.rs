//! Real calls behind a real SIP proxy: sipp calls kamailio, kamailio record-routes the INVITE
//! and relays it to the engine, and everything in the dialog after that (ACK, the engine's BYE,
//! the caller's BYE) must go through the proxy by its route set.
//!
//! The proxy logs every in-dialog request with its source and Route header. That log, not
//! sipp's success alone, is what proves the route set was followed: an engine that ignored
//! Record-Route would send its BYE straight to sipp's Contact, sipp would still accept it, and
//! kamailio would never see it.

use std::net::SocketAddr;

use switchboard_test_support::kamailio::{self, Kamailio};
use switchboard_test_support::sipp::Sipp;

use crate::sip_calls::{SipTest, XML, assert_sipp_ok, hits, scenario, sip_addr, stored_call};
use crate::voice::{param, provision};

/// The in-dialog `method` requests kamailio saw coming from `source` (any source if `None`).
fn routed(proxy: &Kamailio, method: &str, source: Option<SocketAddr>) -> Vec<String> {
    let prefix = match source {
        Some(source) => format!("{method} from {source} "),
        None => format!("{method} from "),
    };
    proxy
        .in_dialog_requests()
        .into_iter()
        .filter(|line| line.starts_with(&prefix))
        .collect()
}

/// The start of the Route header kamailio's record_route() makes the dialog carry back to it
/// (kamailio appends `;ftag=…` after `;lr`).
fn route_to(proxy: &Kamailio) -> String {
    format!("route=<sip:{};lr", proxy.addr)
}

#[tokio::test]
async fn behind_kamailio_a_key_press_reaches_gather_and_the_engines_bye_follows_the_route_set() {
    let Some(kamailio_binary) = kamailio::kamailio() else {
        return;
    };
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
    let proxy = Kamailio::start(&kamailio_binary, sip_addr(&engine));
    app.route(
        "/voice",
        200,
        XML,
        r#"<Response><Gather numDigits="1" action="/choice" timeout="10"><Say>Press one.</Say></Gather></Response>"#,
    );
    app.route(
        "/choice",
        200,
        XML,
        "<Response><Say>You pressed one.</Say><Hangup/></Response>",
    );
    provision(&engine, "+15550300101", &app.url("/voice"), None).await;
    let outcome = Sipp::new(
        &sipp_binary,
        &scenario("proxy_dtmf"),
        proxy.addr,
        "+15550300101",
    )
    .run()
    .await;
    assert_sipp_ok(&outcome, "call through kamailio");

    let choice = hits(&app, "/choice");
    assert_eq!(choice.len(), 1, "the Gather action ran once: {choice:?}");
    assert_eq!(param(&choice[0], "Digits"), Some("1"));
    let byes = routed(&proxy, "BYE", Some(sip_addr(&engine)));
    assert_eq!(
        byes.len(),
        1,
        "the engine's BYE went to kamailio, its first route:\n{}",
        proxy.log()
    );
    assert!(
        byes[0].contains(&route_to(&proxy)),
        "the BYE carried a Route header to kamailio: {}",
        byes[0]
    );
    assert_eq!(
        routed(&proxy, "ACK", None).len(),
        1,
        "sipp's ACK was routed too:\n{}",
        proxy.log()
    );
    let sid = param(&choice[0], "CallSid").expect("CallSid").to_owned();
    assert_eq!(stored_call(&engine, &sid).await["status"], "completed");
}

#[tokio::test]
async fn behind_kamailio_the_callers_bye_through_the_proxy_completes_the_call() {
    let Some(kamailio_binary) = kamailio::kamailio() else {
        return;
    };
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
    let proxy = Kamailio::start(&kamailio_binary, sip_addr(&engine));
    app.route(
        "/voice",
        200,
        XML,
        r#"<Response><Say>Hold on.</Say><Pause length="20"/></Response>"#,
    );
    provision(&engine, "+15550300102", &app.url("/voice"), None).await;
    let outcome = Sipp::new(
        &sipp_binary,
        &scenario("proxy_caller_bye"),
        proxy.addr,
        "+15550300102",
    )
    .run()
    .await;
    assert_sipp_ok(&outcome, "caller hangs up through kamailio");

    let voice = hits(&app, "/voice");
    assert_eq!(voice.len(), 1, "{voice:?}");
    let byes = routed(&proxy, "BYE", None);
    assert_eq!(byes.len(), 1, "one BYE, the caller's:\n{}", proxy.log());
    assert!(
        byes[0].contains(&route_to(&proxy)) && !byes[0].contains(&sip_addr(&engine).to_string()),
        "the caller's BYE came from sipp with a Route header to kamailio: {}",
        byes[0]
    );
    let sid = param(&voice[0], "CallSid").expect("CallSid").to_owned();
    let stored = stored_call(&engine, &sid).await;
    assert_eq!(stored["status"], "completed", "{stored}");
}
