//! `<Dial><Conference>`, `<Dial><Queue>`, `<Enqueue>` and `<Leave>`: the hold loop of a
//! `waitUrl`, and how each ends.

use switchboard_flow::{DialCallStatus, Input};

use crate::{Feed, check, dial_ended, hung_up, played, timer};

const START: &str = "status ringing
    fetch POST https://app.example.com/voice Initial [ringing]
    answer
    status in-progress";

fn waiting(wait: bool) -> Feed {
    Feed::In(Input::Waiting(wait))
}

fn queue_ended(result: &str, seconds: u32) -> Feed {
    Feed::In(Input::QueueEnded {
        result: result.to_owned(),
        queue_sid: "QU00000000000000000000000000000001".to_owned(),
        queue_time_s: seconds,
    })
}

#[test]
fn a_conference_participant_holds_with_a_looping_wait_url_until_the_conference_starts() {
    check(
        r#"<Dial action="/after"><Conference waitUrl="/wait" participantLabel="amy" startConferenceOnEnter="false">room</Conference></Dial><Say>never</Say>"#,
        vec![
            (10, waiting(true)),
            (20, Feed::Doc("<Say>Please hold.</Say>")),
            (3000, played()),
            (3100, Feed::Doc("<Play>https://music.example/a.mp3</Play><Gather/>")),
            (3500, played()),
            (4000, timer()),
            (4100, Feed::Doc("<Pause length=\"5\"/>")),
            (5000, waiting(false)),
            (9000, dial_ended(DialCallStatus::Answered, 4, true)),
        ],
        &format!(
            "{START}
            join-conference room wait=https://app.example.com/wait start=false end=false muted=false label=amy
            fetch POST https://app.example.com/wait WaitUrl [in-progress]
            say twiml loop=1 voice=- lang=en-US: Please hold.
            fetch POST https://app.example.com/wait WaitUrl [in-progress]
            play https://music.example/a.mp3 loop=1
            alert 13238 Warning: <Gather> cannot run in a waitUrl document (only Say, Play, Pause and Redirect); it was skipped
            fetch POST https://app.example.com/wait WaitUrl [in-progress]
            pause 5
            dial-result answered 4s bridged=true
            fetch POST https://app.example.com/after DialAction [in-progress] DialCallStatus=answered DialCallSid=CAcccccccccccccccccccccccccccccccc DialCallDuration=4 DialBridged=true"
        ),
    );
}

#[test]
fn a_participant_who_hangs_up_while_holding_leaves_and_the_action_is_requested() {
    check(
        r#"<Dial action="/after"><Conference waitUrl="/wait">room</Conference></Dial>"#,
        vec![
            (10, waiting(true)),
            (20, Feed::Doc("<Say>Please hold.</Say>")),
            (500, hung_up()),
            (600, dial_ended(DialCallStatus::Answered, 0, true)),
        ],
        &format!(
            "{START}
            join-conference room wait=https://app.example.com/wait start=true end=false muted=false label=-
            fetch POST https://app.example.com/wait WaitUrl [in-progress]
            say twiml loop=1 voice=- lang=en-US: Please hold.
            stop-media
            end-dial
            dial-result answered 0s bridged=true
            fetch POST https://app.example.com/after DialAction [completed] reply-ignored DialCallStatus=answered DialCallSid=CAcccccccccccccccccccccccccccccccc DialCallDuration=0 DialBridged=true
            hangup caller
            status completed"
        ),
    );
}

#[test]
fn enqueue_holds_then_requests_the_action_with_the_queue_result() {
    check(
        r#"<Enqueue action="/queued" waitUrl="/hold">support</Enqueue><Say>after</Say>"#,
        vec![
            (10, waiting(true)),
            (20, Feed::Doc("<Say>You are next.</Say><Leave/>")),
            (2000, played()),
            (2010, queue_ended("leave", 2)),
        ],
        &format!(
            "{START}
            enqueue support wait=https://app.example.com/hold
            fetch POST https://app.example.com/hold WaitUrl [in-progress]
            say twiml loop=1 voice=- lang=en-US: You are next.
            leave-queue
            enqueue-result leave 2s
            fetch POST https://app.example.com/queued EnqueueAction [in-progress] QueueResult=leave QueueSid=QU00000000000000000000000000000001 QueueTime=2"
        ),
    );
}

#[test]
fn a_queued_caller_who_hangs_up_gets_hangup_and_a_full_queue_moves_on() {
    check(
        r#"<Enqueue action="/queued" waitUrl="/hold">support</Enqueue>"#,
        vec![
            (10, waiting(true)),
            (20, Feed::Doc("<Pause length=\"30\"/>")),
            (7000, hung_up()),
            (7010, queue_ended("leave", 7)),
        ],
        &format!(
            "{START}
            enqueue support wait=https://app.example.com/hold
            fetch POST https://app.example.com/hold WaitUrl [in-progress]
            pause 30
            leave-queue
            enqueue-result hangup 7s
            fetch POST https://app.example.com/queued EnqueueAction [completed] reply-ignored QueueResult=hangup QueueSid=QU00000000000000000000000000000001 QueueTime=7
            hangup caller
            status completed"
        ),
    );
    check(
        r#"<Enqueue workflowSid="WW00000000000000000000000000000001">support</Enqueue><Say>Sorry, the line is full.</Say>"#,
        vec![(10, queue_ended("queue-full", 0)), (3000, played())],
        "status ringing
            fetch POST https://app.example.com/voice Initial [ringing]
            alert 99001 Warning: <Enqueue workflowSid> (TaskRouter) is not supported by this engine and was ignored
            answer
            status in-progress
            enqueue support wait=-
            enqueue-result queue-full 0s
            say twiml loop=1 voice=- lang=en-US: Sorry, the line is full.
            hangup twiml
            status completed",
    );
}

#[test]
fn a_bridged_queue_caller_reports_bridged_and_dial_queue_dequeues() {
    check(
        r#"<Enqueue action="/queued">support</Enqueue>"#,
        vec![
            (10, waiting(true)),
            (2000, waiting(false)),
            (9000, queue_ended("bridged", 2)),
        ],
        &format!(
            "{START}
            enqueue support wait=-
            enqueue-result bridged 2s
            fetch POST https://app.example.com/queued EnqueueAction [in-progress] QueueResult=bridged QueueSid=QU00000000000000000000000000000001 QueueTime=2"
        ),
    );
    check(
        r#"<Dial timeout="15"><Queue url="/whisper">support</Queue></Dial><Say>done</Say>"#,
        vec![(5000, dial_ended(DialCallStatus::Completed, 4, true))],
        &format!(
            "{START}
            dequeue support url=https://app.example.com/whisper timeout=15
            dial-result completed 4s bridged=true
            say twiml loop=1 voice=- lang=en-US: done"
        ),
    );
}
