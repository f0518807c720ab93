//! Transaction tests on a virtual clock: every timer sequence is asserted exactly.

use super::client_invite::{InviteClientOutput, InviteClientState, InviteClientTransaction};
use super::server_invite::{InviteServerOutput, InviteServerState, InviteServerTransaction};
use super::server_non_invite::{
    NonInviteServerOutput, NonInviteServerState, NonInviteServerTransaction,
};
use super::*;
use crate::error::Limits;
use crate::message::Message;
use crate::parse::{Framing, parse_message};

fn request(method: &str, branch: &str) -> Request {
    let text = format!(
        "{method} sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch={branch}\r\n\
From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\nCall-ID: call-1\r\n\
CSeq: 1 {method}\r\nRoute: <sip:proxy.example.com;lr>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    match parse_message(text.as_bytes(), Framing::Datagram, &Limits::default()) {
        Ok(Message::Request(request)) => request,
        other => panic!("{other:?}"),
    }
}

fn invite() -> Request {
    request("INVITE", "z9hG4bK-inv")
}

/// Label of a server INVITE output.
fn label(output: InviteServerOutput) -> String {
    match output {
        InviteServerOutput::Send(r) => format!("send {}", r.status),
        InviteServerOutput::AckTimeout => "ack-timeout".into(),
        InviteServerOutput::NoAckFor2xx => "no-ack-for-2xx".into(),
        InviteServerOutput::Terminated => "terminated".into(),
    }
}

/// A TU action at a time.
type Event = (u64, Box<dyn FnMut(&mut InviteServerTransaction, u64)>);

/// Runs the timers up to `until`, feeding `events` (time, action) on the way.
fn run_server(
    transaction: &mut InviteServerTransaction,
    until: u64,
    mut events: Vec<Event>,
) -> Vec<(u64, String)> {
    let mut log = Vec::new();
    let mut now = 0;
    let drain = |t: &mut InviteServerTransaction, now: u64, log: &mut Vec<(u64, String)>| {
        while let Some(o) = t.poll_output() {
            log.push((now, label(o)));
        }
    };
    drain(transaction, now, &mut log);
    loop {
        let timer = transaction.poll_timeout().unwrap_or(u64::MAX);
        let event = events.first().map_or(u64::MAX, |e| e.0);
        now = timer.min(event);
        if now > until {
            return log;
        }
        if event <= timer {
            let (_, mut action) = events.remove(0);
            action(transaction, now);
        } else {
            transaction.handle_timeout(now);
        }
        drain(transaction, now, &mut log);
    }
}

fn entries(list: &[(u64, &str)]) -> Vec<(u64, String)> {
    list.iter().map(|(t, s)| (*t, (*s).to_owned())).collect()
}

#[test]
fn invite_server_retransmits_a_failure_until_timer_h() {
    let mut transaction =
        InviteServerTransaction::new(invite(), TransportKind::Unreliable, TimerConfig::default());
    let busy = invite().response(486, "t1");
    let log = run_server(
        &mut transaction,
        60_000,
        vec![(
            0,
            Box::new(move |t, now| assert!(t.respond(now, busy.clone()))),
        )],
    );
    let mut expected = vec![(0, "send 100"), (0, "send 486")];
    for at in [
        500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
    ] {
        expected.push((at, "send 486"));
    }
    expected.extend([(32_000, "ack-timeout"), (32_000, "terminated")]);
    assert_eq!(log, entries(&expected));
}

#[test]
fn invite_server_absorbs_the_ack_then_waits_timer_i() {
    let mut transaction =
        InviteServerTransaction::new(invite(), TransportKind::Unreliable, TimerConfig::default());
    let busy = invite().response(486, "t1");
    let ack = request("ACK", "z9hG4bK-inv");
    let (ack2, retransmitted) = (ack.clone(), invite());
    let log = run_server(
        &mut transaction,
        60_000,
        vec![
            (
                0,
                Box::new(move |t, now| assert!(t.respond(now, busy.clone()))),
            ),
            (700, Box::new(move |t, now| t.handle_request(now, &ack))),
            (800, Box::new(move |t, now| t.handle_request(now, &ack2))),
            (
                900,
                Box::new(move |t, now| t.handle_request(now, &retransmitted)),
            ),
        ],
    );
    assert_eq!(
        log,
        entries(&[
            (0, "send 100"),
            (0, "send 486"),
            (500, "send 486"),
            (5_700, "terminated")
        ])
    );
}

#[test]
fn invite_server_resends_the_latest_provisional_and_refuses_a_second_final() {
    let mut transaction =
        InviteServerTransaction::new(invite(), TransportKind::Unreliable, TimerConfig::default());
    let (ringing, retransmitted) = (invite().response(180, "t1"), invite());
    let log = run_server(
        &mut transaction,
        1_000,
        vec![
            (
                10,
                Box::new(move |t, now| assert!(t.respond(now, ringing.clone()))),
            ),
            (
                400,
                Box::new(move |t, now| t.handle_request(now, &retransmitted)),
            ),
        ],
    );
    assert_eq!(
        log,
        entries(&[(0, "send 100"), (10, "send 180"), (400, "send 180")])
    );
    assert!(transaction.respond(1_000, invite().response(603, "t1")));
    assert!(!transaction.respond(1_000, invite().response(200, "t1")));
}

#[test]
fn invite_server_retransmits_2xx_until_the_call_layer_reports_the_ack() {
    let mut transaction =
        InviteServerTransaction::new(invite(), TransportKind::Unreliable, TimerConfig::default());
    let (ok, retransmitted) = (invite().response(200, "t1"), invite());
    let log = run_server(
        &mut transaction,
        60_000,
        vec![
            (
                0,
                Box::new(move |t, now| assert!(t.respond(now, ok.clone()))),
            ),
            (4_000, Box::new(|t, _| t.handle_2xx_ack())),
            (
                5_000,
                Box::new(move |t, now| t.handle_request(now, &retransmitted)),
            ),
        ],
    );
    let expected = [
        (0, "send 100"),
        (0, "send 200"),
        (500, "send 200"),
        (1_500, "send 200"),
        (3_500, "send 200"),
        (32_000, "terminated"),
    ];
    assert_eq!(log, entries(&expected));
}

#[test]
fn invite_server_reports_a_2xx_never_acknowledged() {
    let mut transaction =
        InviteServerTransaction::new(invite(), TransportKind::Reliable, TimerConfig::default());
    let ok = invite().response(200, "t1");
    let log = run_server(
        &mut transaction,
        60_000,
        vec![(
            0,
            Box::new(move |t, now| assert!(t.respond(now, ok.clone()))),
        )],
    );
    let expected = [
        (0, "send 100"),
        (0, "send 200"),
        (32_000, "no-ack-for-2xx"),
        (32_000, "terminated"),
    ];
    assert_eq!(log, entries(&expected));
}

#[test]
fn invite_server_on_a_reliable_transport_ends_on_the_ack() {
    let mut transaction =
        InviteServerTransaction::new(invite(), TransportKind::Reliable, TimerConfig::default());
    let (busy, ack) = (invite().response(486, "t1"), request("ACK", "z9hG4bK-inv"));
    let log = run_server(
        &mut transaction,
        60_000,
        vec![
            (
                0,
                Box::new(move |t, now| assert!(t.respond(now, busy.clone()))),
            ),
            (300, Box::new(move |t, now| t.handle_request(now, &ack))),
        ],
    );
    assert_eq!(
        log,
        entries(&[(0, "send 100"), (0, "send 486"), (300, "terminated")])
    );
    assert_eq!(transaction.state(), InviteServerState::Terminated);
}

#[test]
fn non_invite_server_cases() {
    // (transport, expected (time, output) log) for: retransmission at 10 (absorbed), 200 at 20,
    // retransmission at 30 (answered again), then Timer J.
    let cases = [
        (
            TransportKind::Unreliable,
            vec![(20, "send 200"), (30, "send 200"), (32_020, "terminated")],
        ),
        (
            TransportKind::Reliable,
            vec![(20, "send 200"), (20, "terminated")],
        ),
    ];
    for (transport, expected) in cases {
        let bye = request("BYE", "z9hG4bK-bye");
        let mut transaction =
            NonInviteServerTransaction::new(bye.clone(), transport, TimerConfig::default());
        let mut log = Vec::new();
        let mut record = |t: &mut NonInviteServerTransaction, now: u64| {
            while let Some(output) = t.poll_output() {
                log.push((
                    now,
                    match output {
                        NonInviteServerOutput::Send(r) => format!("send {}", r.status),
                        NonInviteServerOutput::Terminated => "terminated".to_owned(),
                    },
                ));
            }
        };
        transaction.handle_request(10, &bye);
        record(&mut transaction, 10);
        assert!(transaction.respond(20, bye.response(200, "t")));
        assert!(!transaction.respond(20, bye.response(500, "t")));
        record(&mut transaction, 20);
        transaction.handle_request(30, &bye);
        record(&mut transaction, 30);
        if let Some(at) = transaction.poll_timeout() {
            transaction.handle_timeout(at - 1);
            record(&mut transaction, at - 1);
            transaction.handle_timeout(at);
            record(&mut transaction, at);
        }
        assert_eq!(log, entries(&expected), "{transport:?}");
        assert_eq!(transaction.state(), NonInviteServerState::Terminated);
    }
}

fn client_label(output: InviteClientOutput) -> String {
    match output {
        InviteClientOutput::Send(r) => {
            format!("send {} {}", r.method, r.headers.get("CSeq").unwrap_or(""))
        }
        InviteClientOutput::Response(r) => format!("got {}", r.status),
        InviteClientOutput::Timeout => "timeout".into(),
        InviteClientOutput::Terminated => "terminated".into(),
    }
}

fn run_client(
    transaction: &mut InviteClientTransaction,
    responses: Vec<(u64, Response)>,
    until: u64,
) -> Vec<(u64, String)> {
    let mut responses = std::collections::VecDeque::from(responses);
    let mut log = Vec::new();
    let mut now = 0;
    loop {
        while let Some(output) = transaction.poll_output() {
            log.push((now, client_label(output)));
        }
        let timer = transaction.poll_timeout().unwrap_or(u64::MAX);
        let next = responses.front().map_or(u64::MAX, |r| r.0);
        now = timer.min(next);
        if now > until {
            return log;
        }
        match responses.pop_front() {
            Some((at, response)) if at <= timer => transaction.handle_response(at, response),
            other => {
                if let Some(other) = other {
                    responses.push_front(other);
                }
                transaction.handle_timeout(now);
            }
        }
    }
}

#[test]
fn invite_client_retransmits_on_timer_a_until_timer_b() {
    let mut transaction = InviteClientTransaction::new(
        0,
        invite(),
        TransportKind::Unreliable,
        TimerConfig::default(),
    );
    let log = run_client(&mut transaction, vec![], 60_000);
    let mut expected: Vec<(u64, &str)> = [0, 500, 1_500, 3_500, 7_500, 15_500, 31_500]
        .iter()
        .map(|&t| (t, "send INVITE 1 INVITE"))
        .collect();
    expected.extend([(32_000, "timeout"), (32_000, "terminated")]);
    assert_eq!(log, entries(&expected));
}

#[test]
fn invite_client_acknowledges_a_failure_and_absorbs_its_retransmissions() {
    let mut transaction = InviteClientTransaction::new(
        0,
        invite(),
        TransportKind::Unreliable,
        TimerConfig::default(),
    );
    let mut busy = invite().response(486, "callee");
    busy.headers
        .set("Via", "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-inv");
    let ringing = invite().response(180, "callee");
    let responses = vec![(100, ringing), (2_000, busy.clone()), (2_500, busy)];
    let log = run_client(&mut transaction, responses, 60_000);
    let expected = [
        (0, "send INVITE 1 INVITE"),
        (100, "got 180"),
        (2_000, "send ACK 1 ACK"),
        (2_000, "got 486"),
        (2_500, "send ACK 1 ACK"),
        (34_000, "terminated"),
    ];
    assert_eq!(log, entries(&expected));
}

#[test]
fn invite_client_passes_2xx_retransmissions_up_until_timer_m() {
    let mut transaction =
        InviteClientTransaction::new(0, invite(), TransportKind::Reliable, TimerConfig::default());
    assert!(!transaction.can_cancel());
    let ok = invite().response(200, "callee");
    let log = run_client(&mut transaction, vec![(50, ok.clone()), (550, ok)], 60_000);
    assert_eq!(
        log,
        entries(&[
            (0, "send INVITE 1 INVITE"),
            (50, "got 200"),
            (550, "got 200"),
            (32_050, "terminated")
        ])
    );
    assert_eq!(transaction.state(), InviteClientState::Terminated);
}

#[test]
fn ack_and_cancel_are_built_from_the_invite() {
    let invite = invite();
    let busy = invite.response(486, "callee-tag");
    let ack = ack_for_non_2xx(&invite, &busy);
    assert_eq!(ack.uri, invite.uri);
    assert_eq!(ack.headers.get("CSeq"), Some("1 ACK"));
    assert_eq!(
        ack.headers
            .to()
            .and_then(|t| t.tag().map(str::to_owned))
            .as_deref(),
        Some("callee-tag")
    );
    assert_eq!(ack.headers.get("Route"), Some("<sip:proxy.example.com;lr>"));
    assert_eq!(
        TransactionKey::for_server(&request("ACK", "z9hG4bK-inv")),
        TransactionKey::for_server(&invite)
    );
    let cancel = cancel_for(&invite);
    assert_eq!(cancel.headers.get("CSeq"), Some("1 CANCEL"));
    assert_eq!(
        TransactionKey::cancel_target(&cancel),
        TransactionKey::for_server(&invite)
    );
    assert_ne!(
        TransactionKey::for_server(&cancel),
        TransactionKey::for_server(&invite)
    );
    assert_eq!(
        TransactionKey::for_client_response(&busy),
        TransactionKey::for_client_request(&invite)
    );
}
