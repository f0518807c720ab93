//! Outbound legs: `queued` → `initiated` → `ringing` → answered (TwiML starts with
//! `CallStatus=in-progress`) or busy / no-answer / failed / canceled.

use switchboard_flow::{ApiEnd, Direction, Initial, Input, Progress};
use switchboard_twiml::Method;

use crate::{Feed, Harness, assert_transcript};

fn outbound() -> Harness {
    let initial = Initial::Fetch {
        url: crate::VOICE_URL.to_owned(),
        method: Method::Post,
    };
    Harness::new(crate::setup(Direction::OutboundApi, initial))
}

fn progress(progress: Progress) -> Feed {
    Feed::In(Input::Progress(progress))
}

#[test]
fn answered_outbound_call_fetches_with_in_progress_and_never_sends_answer() {
    let mut harness = outbound();
    for (now_ms, feed) in [
        (10, progress(Progress::Initiated)),
        (20, progress(Progress::Ringing)),
        (20, progress(Progress::Ringing)),
        (3000, progress(Progress::Answered)),
        (3100, Feed::Doc("<Hangup/>")),
    ] {
        harness.feed(now_ms, feed);
    }
    assert_transcript(
        &harness.transcript(),
        "status queued
        status initiated
        status ringing
        status in-progress
        fetch POST https://app.example.com/voice Initial [in-progress]
        hangup twiml
        status completed",
    );
    assert_eq!(harness.call.call_duration_s(), Some(0));
}

#[test]
fn unanswered_outbound_calls_end_with_their_status_only() {
    let cases = [
        (Progress::Busy, "busy"),
        (Progress::NoAnswer, "no-answer"),
        (Progress::Failed, "failed"),
    ];
    for (outcome, status) in cases {
        let mut harness = outbound();
        harness.feed(10, progress(Progress::Ringing));
        harness.feed(20_000, progress(outcome));
        assert_transcript(
            &harness.transcript(),
            &format!("status queued\nstatus ringing\nstatus {status}"),
        );
    }
}

#[test]
fn canceling_a_queued_call() {
    let mut harness = outbound();
    harness.feed(5, Feed::In(Input::ApiEnd(ApiEnd::Canceled)));
    assert_transcript(
        &harness.transcript(),
        "status queued\nhangup api\nstatus canceled",
    );
}

#[test]
fn a_live_update_before_answer_replaces_the_first_document() {
    let mut harness = outbound();
    let update = Initial::Fetch {
        url: "https://other.example/first".to_owned(),
        method: Method::Get,
    };
    harness.feed(5, Feed::In(Input::LiveUpdate(update)));
    harness.feed(10, progress(Progress::Answered));
    assert!(
        harness
            .transcript()
            .ends_with("fetch GET https://other.example/first Initial [in-progress]")
    );
}

#[test]
fn status_callback_parameters_carry_the_call_duration_when_ended() {
    let mut harness = outbound();
    harness.feed(1000, progress(Progress::Answered));
    harness.feed(1000, Feed::Doc("<Say>Hi</Say>"));
    harness.feed(43_999, crate::played());
    let params = harness.call.status_callback_params();
    let value = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(value("CallStatus").as_deref(), Some("completed"));
    assert_eq!(value("CallDuration").as_deref(), Some("42"));
    assert_eq!(value("Direction").as_deref(), Some("outbound-api"));
}

fn detecting() -> Harness {
    let initial = Initial::Fetch {
        url: crate::VOICE_URL.to_owned(),
        method: Method::Post,
    };
    let mut setup = crate::setup(Direction::OutboundApi, initial);
    setup.machine_detection = true;
    Harness::new(setup)
}

fn detected(answered_by: &str, duration_ms: u32) -> Feed {
    Feed::In(Input::MachineDetected {
        answered_by: answered_by.to_owned(),
        duration_ms,
    })
}

/// Synchronous AMD: answered at once, the first fetch waits for the result and carries it, and
/// so does every request after it.
#[test]
fn machine_detection_holds_the_first_fetch_until_its_result() {
    let mut harness = detecting();
    harness.feed(1000, progress(Progress::Answered));
    assert!(harness.transcript().ends_with("status in-progress"));
    harness.feed(3000, detected("machine_start", 2000));
    harness.feed(3100, Feed::Doc("<Gather timeout=\"1\"/><Hangup/>"));
    harness.feed(4200, crate::timer());
    assert_transcript(
        &harness.transcript(),
        "status queued
        status in-progress
        fetch POST https://app.example.com/voice Initial [in-progress] AnsweredBy=machine_start MachineDetectionDuration=2000
        gather [Dtmf] timeout=1 num_digits=None finish=Some('#') barge_in=true
        gather-result digits=\"\" speech=None key=None
        hangup twiml
        status completed",
    );
    let params = harness.call.status_callback_params();
    assert!(params.contains(&("AnsweredBy".to_owned(), "machine_start".to_owned())));
    assert_eq!(harness.call.answered_by(), Some("machine_start"));
}

#[test]
fn a_call_ended_or_redirected_while_detecting() {
    let mut harness = detecting();
    harness.feed(1000, progress(Progress::Answered));
    harness.feed(1500, crate::hung_up());
    assert!(
        harness
            .transcript()
            .ends_with("hangup caller\nstatus completed")
    );
    // A live update while detecting replaces the document the result will start.
    let mut harness = detecting();
    harness.feed(1000, progress(Progress::Answered));
    let update = Initial::Fetch {
        url: "https://other.example/first".to_owned(),
        method: Method::Get,
    };
    harness.feed(1200, Feed::In(Input::LiveUpdate(update)));
    harness.feed(2000, detected("human", 1000));
    assert!(harness.transcript().ends_with(
        "fetch GET https://other.example/first Initial [in-progress] AnsweredBy=human MachineDetectionDuration=1000"
    ));
    // A second result changes nothing.
    harness.feed(2100, detected("fax", 1100));
    assert_eq!(harness.call.answered_by(), Some("human"));
}
