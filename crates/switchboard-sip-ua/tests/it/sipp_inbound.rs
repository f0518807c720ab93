//! sipp calls the endpoint: answered then hung up by the caller (UDP and TCP), rejected with
//! 486, and cancelled while ringing.

use switchboard_sip_ua::CallEvent;

use crate::support::*;

/// Runs sipp's built-in `uac` against a TU that rings and answers; checks Acked then Bye.
async fn answered_call(transport: &[&str]) {
    let Some(sipp) = sipp() else { return };
    let (endpoint, mut calls) = endpoint("127.0.0.0/8", 4).await;
    let target = endpoint.local_addr().to_string();
    let port = free_port().to_string();
    let mut command = args(&[
        "-sn",
        "uac",
        &target,
        "-s",
        "+15551234567",
        "-i",
        "127.0.0.1",
    ]);
    command.extend(args(&["-p", &port, "-m", "1", "-d", "200"]));
    command.extend(args(transport));
    let run = spawn_sipp(&sipp, command);
    let mut call = next_call(&mut calls).await;
    assert_eq!(call.to_user, "+15551234567");
    assert_eq!(call.from_user, "sipp");
    assert!(
        call.headers
            .iter()
            .any(|(name, value)| name == "Subject" && value == "Performance Test")
    );
    let offer = call.offer.clone().expect("sipp offers SDP");
    call.handle.ringing();
    call.handle.answer(answer_sdp(&offer));
    assert_eq!(next(&mut call.events).await, CallEvent::Acked);
    assert_eq!(next(&mut call.events).await, CallEvent::Bye);
    expect_sipp_success(run).await;
    assert_eq!(endpoint.active_calls(), 0);
    endpoint.shutdown().await;
}

#[tokio::test]
async fn sipp_uac_call_is_answered_acked_and_hung_up() {
    answered_call(&[]).await;
}

#[tokio::test]
async fn sipp_uac_call_over_tcp() {
    answered_call(&["-t", "t1"]).await;
}

#[tokio::test]
async fn tu_rejects_with_486() {
    let Some(sipp) = sipp() else { return };
    let (endpoint, mut calls) = endpoint("127.0.0.0/8", 4).await;
    let target = endpoint.local_addr().to_string();
    let port = free_port().to_string();
    let scenario = scenario("uac_busy.xml");
    let command = args(&[
        "-sf",
        &scenario,
        &target,
        "-s",
        "busy",
        "-i",
        "127.0.0.1",
        "-p",
        &port,
        "-m",
        "1",
    ]);
    let run = spawn_sipp(&sipp, command);
    let call = next_call(&mut calls).await;
    assert_eq!(call.to_user, "busy");
    call.handle.reject(486);
    expect_sipp_success(run).await;
    assert_eq!(endpoint.active_calls(), 0);
}

#[tokio::test]
async fn cancel_while_ringing_gets_487_and_a_cancelled_event() {
    let Some(sipp) = sipp() else { return };
    let (endpoint, mut calls) = endpoint("127.0.0.0/8", 4).await;
    let target = endpoint.local_addr().to_string();
    let port = free_port().to_string();
    let scenario = scenario("uac_cancel.xml");
    let command = args(&[
        "-sf",
        &scenario,
        &target,
        "-s",
        "cancelme",
        "-i",
        "127.0.0.1",
        "-p",
        &port,
        "-m",
        "1",
    ]);
    let run = spawn_sipp(&sipp, command);
    let mut call = next_call(&mut calls).await;
    call.handle.ringing();
    assert_eq!(next(&mut call.events).await, CallEvent::Cancelled);
    expect_sipp_success(run).await;
    // A late answer from the TU is ignored: the call is gone.
    call.handle.answer(answer_sdp(&call.offer.expect("offer")));
    assert_eq!(endpoint.active_calls(), 0);
}
