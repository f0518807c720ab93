//! The endpoint calls sipp: the built-in `uas` (Ringing, Answered, our BYE), and a UAS that
//! challenges with digest auth and verifies the retry with sipp's own digest code.

use std::time::Duration;

use switchboard_sip::{AudioCodec, LocalMedia, build_offer};
use switchboard_sip_ua::{OutgoingEvent, OutgoingInvite};

use crate::support::*;

fn offer() -> Vec<u8> {
    let local = LocalMedia {
        session_id: 7,
        session_version: 1,
        address_type: "IP4".to_owned(),
        address: "127.0.0.1".to_owned(),
        rtp_port: 40_002,
    };
    build_offer(&local, &[AudioCodec::Pcmu, AudioCodec::Pcma], Some(101)).to_bytes()
}

fn invite_to(port: &str, auth: Option<(&str, &str)>) -> OutgoingInvite {
    OutgoingInvite {
        target: format!("sip:callee@127.0.0.1:{port}"),
        from_user: "+15550001111".to_owned(),
        from_display: Some("Switchboard".to_owned()),
        sdp_offer: offer(),
        auth: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
        headers: vec![("X-Test".to_owned(), "1".to_owned())],
        ring_timeout: Duration::from_secs(10),
    }
}

/// Skips provisional events, returning the first other one.
async fn after_provisionals(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<OutgoingEvent>,
    saw_ringing: &mut bool,
) -> OutgoingEvent {
    loop {
        match next(events).await {
            OutgoingEvent::Trying => {}
            OutgoingEvent::Ringing { .. } => *saw_ringing = true,
            other => return other,
        }
    }
}

#[tokio::test]
async fn outbound_call_to_sipp_uas_is_answered_and_hung_up() {
    let Some(sipp) = sipp() else { return };
    let (endpoint, _calls) = endpoint("127.0.0.0/8", 4).await;
    let port = free_port().to_string();
    let run = spawn_sipp(
        &sipp,
        args(&["-sn", "uas", "-i", "127.0.0.1", "-p", &port, "-m", "1"]),
    );
    let mut call = endpoint
        .invite(invite_to(&port, None))
        .await
        .expect("invite starts");
    assert_eq!(endpoint.active_calls(), 1);
    let mut saw_ringing = false;
    match after_provisionals(&mut call.events, &mut saw_ringing).await {
        OutgoingEvent::Answered { sdp } => {
            let sdp = sdp.expect("sipp answers with SDP");
            assert_eq!(sdp.media[0].formats, vec!["0".to_owned()]);
        }
        other => panic!("expected Answered, got {other:?}"),
    }
    assert!(saw_ringing, "sipp's uas sends 180 first");
    call.handle.hangup();
    assert_eq!(next(&mut call.events).await, OutgoingEvent::Ended);
    expect_sipp_success(run).await;
    assert_eq!(endpoint.active_calls(), 0);
}

#[tokio::test]
async fn digest_challenge_is_answered_once_and_the_call_connects() {
    let Some(sipp) = sipp() else { return };
    let (endpoint, _calls) = endpoint("127.0.0.0/8", 4).await;
    let port = free_port().to_string();
    let scenario = scenario("uas_auth.xml");
    let command = args(&["-sf", &scenario, "-i", "127.0.0.1", "-p", &port, "-m", "1"]);
    let run = spawn_sipp(&sipp, command);
    let invite = invite_to(&port, Some(("alice", "s3cret")));
    let mut call = endpoint.invite(invite).await.expect("invite starts");
    let mut saw_ringing = false;
    match after_provisionals(&mut call.events, &mut saw_ringing).await {
        OutgoingEvent::Answered { .. } => {}
        other => panic!("expected Answered after the digest retry, got {other:?}"),
    }
    call.handle.hangup();
    assert_eq!(next(&mut call.events).await, OutgoingEvent::Ended);
    expect_sipp_success(run).await;
}

#[tokio::test]
async fn wrong_password_fails_with_the_servers_answer() {
    let Some(sipp) = sipp() else { return };
    let (endpoint, _calls) = endpoint("127.0.0.0/8", 4).await;
    let port = free_port().to_string();
    let scenario = scenario("uas_auth.xml");
    let command = args(&["-sf", &scenario, "-i", "127.0.0.1", "-p", &port, "-m", "1"]);
    let run = spawn_sipp(&sipp, command);
    let invite = invite_to(&port, Some(("alice", "wrong")));
    let mut call = endpoint.invite(invite).await.expect("invite starts");
    let mut saw_ringing = false;
    let event = after_provisionals(&mut call.events, &mut saw_ringing).await;
    assert_eq!(event, OutgoingEvent::Failed { status: 403 });
    expect_sipp_success(run).await;
}

#[tokio::test]
async fn ring_timeout_cancels_and_fails_with_408() {
    let Some(sipp) = sipp() else { return };
    let (endpoint, _calls) = endpoint("127.0.0.0/8", 4).await;
    let port = free_port().to_string();
    let scenario = scenario("uas_ring_forever.xml");
    let command = args(&["-sf", &scenario, "-i", "127.0.0.1", "-p", &port, "-m", "1"]);
    let run = spawn_sipp(&sipp, command);
    let mut invite = invite_to(&port, None);
    invite.ring_timeout = Duration::from_millis(1_500);
    let mut call = endpoint.invite(invite).await.expect("invite starts");
    let mut saw_ringing = false;
    let event = after_provisionals(&mut call.events, &mut saw_ringing).await;
    assert!(saw_ringing);
    assert_eq!(event, OutgoingEvent::Failed { status: 408 });
    expect_sipp_success(run).await;
    assert_eq!(endpoint.active_calls(), 0);
}

#[tokio::test]
async fn invalid_targets_are_refused_before_any_call() {
    let (endpoint, _calls) = endpoint("127.0.0.0/8", 0).await;
    for target in ["tel:+15550001111", "sips:x@127.0.0.1", "sip:"] {
        let mut invite = invite_to("5060", None);
        invite.target = target.to_owned();
        let refused = endpoint.invite(invite).await;
        assert!(
            matches!(
                refused,
                Err(switchboard_sip_ua::SipUaError::InvalidTarget(_))
            ),
            "{target}: {refused:?}"
        );
    }
    let full = endpoint.invite(invite_to("5060", None)).await;
    assert!(
        matches!(full, Err(switchboard_sip_ua::SipUaError::AtCapacity(0))),
        "{full:?}"
    );
}

#[tokio::test]
async fn tcp_connect_failure_fails_the_call_with_503() {
    let (endpoint, _calls) = endpoint("127.0.0.0/8", 4).await;
    // A port that was just bound and released: nothing listens there.
    let port = free_port();
    let mut invite = invite_to(&port.to_string(), None);
    invite.target = format!("sip:callee@127.0.0.1:{port};transport=tcp");
    let mut call = endpoint.invite(invite).await.expect("invite starts");
    assert_eq!(
        next(&mut call.events).await,
        OutgoingEvent::Failed { status: 503 }
    );
    assert_eq!(endpoint.active_calls(), 0);
}
