//! Media streams: `<Start><Stream>` goes on at once, `<Connect><Stream>` holds the call until
//! the stream ends, then its `action` or the next verb; 31941 for a two-way stream's track.

use switchboard_flow::Input;

use crate::{Feed, check, hung_up};

const START: &str = "status ringing
    fetch POST https://app.example.com/voice Initial [ringing]
    answer
    status in-progress";

fn ended() -> Feed {
    Feed::In(Input::StreamEnded)
}

#[test]
fn start_opens_a_one_way_stream_and_the_next_verb_runs_at_once() {
    check(
        r#"<Start><Stream url="wss://bot.example/s" name="s1" track="both_tracks" statusCallback="/cb">
             <Parameter name="a" value="1"/></Stream></Start>
           <Say>Hi</Say><Stop><Stream name="s1"/></Stop>"#,
        vec![(1000, crate::played())],
        &format!(
            "{START}
            start-stream wss://bot.example/s name=s1 track=both_tracks callback=https://app.example.com/cb POST [a=1]
            say twiml loop=1 voice=- lang=en-US: Hi
            stop-stream s1
            hangup twiml
            status completed"
        ),
    );
}

#[test]
fn connect_holds_the_call_until_the_stream_ends_then_the_next_verb_runs() {
    check(
        r#"<Connect><Stream url="wss://bot.example/c"/></Connect><Say>After</Say>"#,
        vec![(5000, ended())],
        &format!(
            "{START}
            connect-stream wss://bot.example/c name=- track=inbound_track callback=- POST []
            say twiml loop=1 voice=- lang=en-US: After"
        ),
    );
}

#[test]
fn connect_action_is_requested_when_the_stream_ends() {
    check(
        r#"<Connect action="/after" method="GET"><Stream url="wss://bot.example/c"/></Connect><Say>never</Say>"#,
        vec![(5000, ended())],
        &format!(
            "{START}
            connect-stream wss://bot.example/c name=- track=inbound_track callback=- POST []
            fetch GET https://app.example.com/after ConnectAction [in-progress]"
        ),
    );
}

#[test]
fn a_two_way_stream_of_another_track_is_31941_and_the_next_verb_runs() {
    check(
        r#"<Connect><Stream url="wss://bot.example/c" track="both_tracks"/></Connect><Say>After</Say>"#,
        vec![],
        &format!(
            "{START}
            alert 31941 Error: <Connect><Stream> carries only inbound_track, not both_tracks; the stream was not opened
            say twiml loop=1 voice=- lang=en-US: After"
        ),
    );
}

#[test]
fn the_caller_hanging_up_ends_a_connect() {
    check(
        r#"<Connect><Stream url="wss://bot.example/c"/></Connect><Say>never</Say>"#,
        vec![(3000, hung_up())],
        &format!(
            "{START}
            connect-stream wss://bot.example/c name=- track=inbound_track callback=- POST []
            hangup caller
            status completed"
        ),
    );
}

#[test]
fn a_failed_over_stream_that_gives_up_runs_the_fallback_with_the_stream_url() {
    check(
        r#"<Connect><Stream url="wss://bot.example/c"/></Connect><Say>never</Say>"#,
        vec![(
            9000,
            Feed::In(Input::StreamFailed {
                code: switchboard_core::error_code::STREAM_CONNECTION_REFUSED,
                message: "refused".to_owned(),
                url: "wss://bot.example/c".to_owned(),
            }),
        )],
        &format!(
            "{START}
            connect-stream wss://bot.example/c name=- track=inbound_track callback=- POST []
            execution-failed 31902 Some(\"wss://bot.example/c\"): refused"
        ),
    );
}
